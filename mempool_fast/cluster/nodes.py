"""The nodes of a local cluster: their generated files (keys, TOML configs, store paths), their
processes, the wait until they are all linked, and the pre-signed load they are sent (native
transactions signed with Ed25519, or Ethereum transactions signed with the `ethereum` extra's
libraries through `formats.ethereum_signing`, never eth-account)."""

from __future__ import annotations

import ctypes
import functools
import json
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import nacl.signing

from ..client import NodeClient, RpcTimeout
from ..transaction import SignedTransaction

if TYPE_CHECKING:
    from ..formats.ethereum import EthereumTransaction
    from ..formats.ethereum_signing import EthereumKey

__all__ = ["NodeProcess", "NodeSpec", "free_port", "sign_transactions",
           "sign_ethereum_transactions", "wait_connected", "write_cluster"]

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

#: Timeout of each STATS request while waiting for the nodes to link (a node still starting
#: may not answer; the request is retried on a fresh client).
CONNECT_RPC_TIMEOUT_S = 1.0
#: Pace of that polling (not a wait for a condition).
CONNECT_POLL_S = 0.05


@dataclass
class NodeSpec:
    """One generated node: its name, files and addresses."""

    name: str
    config: Path
    key_file: Path
    store: Path
    listen: str
    client: str
    log: Path
    public_key: bytes
    #: The consensus endpoint (get_block, commit): an owner-only ipc socket in the workdir.
    consensus: str = ""


#: Where the kernel picks outbound connections' local ports (Linux's default when unreadable).
EPHEMERAL_RANGE_FILE = "/proc/sys/net/ipv4/ip_local_port_range"
DEFAULT_EPHEMERAL_RANGE = (32768, 60999)
#: Listening ports are drawn from [LOWEST_LISTEN_PORT, first ephemeral port).
LOWEST_LISTEN_PORT = 20000
FREE_PORT_ATTEMPTS = 200


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = (int(x) for x in Path(EPHEMERAL_RANGE_FILE).read_text().split())
        return low, high
    except (OSError, ValueError):
        return DEFAULT_EPHEMERAL_RANGE


def free_port() -> int:
    """A TCP port free on loopback right now, outside the kernel's ephemeral range: a node
    restarted on it must not find it taken by a peer's reconnecting socket, whose local port
    comes from that range."""
    low = _ephemeral_range()[0]
    rng = random.SystemRandom()
    if low - LOWEST_LISTEN_PORT > FREE_PORT_ATTEMPTS:
        for _ in range(FREE_PORT_ATTEMPTS):
            port = rng.randrange(LOWEST_LISTEN_PORT, low)
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    with socket.socket() as s:  # no room below the range: any free port
        s.bind(("127.0.0.1", 0))
        found: int = s.getsockname()[1]  # an AF_INET address: (host, port)
        return found


def _toml_value(value: object) -> str:
    """`value` as a TOML literal (booleans, numbers; anything else as a string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))


def write_cluster(workdir: Path, count: int, *, mempool: Mapping[str, object] | None = None,
                  transport: Mapping[str, object] | None = None, seeds: list[bytes] | None = None,
                  validator_set: int | None = None) -> list[NodeSpec]:
    """Keys, stores paths and TOML configs of `count` loopback nodes in `workdir`.

    Each node lists the first `validator_set` nodes (default: all) as its peers, so tests can make
    a node that is not in the others' validator set.
    """
    from ..node import write_key_file

    workdir.mkdir(parents=True, exist_ok=True)
    specs = []
    for i in range(count):
        name = f"node{i}"
        key_file = workdir / f"{name}.key"
        key = write_key_file(key_file, seeds[i] if seeds else None)
        specs.append(NodeSpec(name, workdir / f"{name}.toml", key_file,
                              workdir / f"{name}.sqlite", f"tcp://127.0.0.1:{free_port()}",
                              f"tcp://127.0.0.1:{free_port()}", workdir / f"{name}.log",
                              bytes(key.verify_key),
                              f"ipc://{(workdir / f'{name}-consensus.sock').resolve()}"))
    members = specs[:validator_set if validator_set is not None else count]
    for spec in specs:
        lines = ["[node]", f"name = {_toml_value(spec.name)}",
                 f"key_file = {_toml_value(spec.key_file.name)}", 'curve_key = "ed25519"',
                 f"listen = {_toml_value(spec.listen)}", f"client = {_toml_value(spec.client)}",
                 f"consensus = {_toml_value(spec.consensus)}",
                 f"store = {_toml_value(spec.store.name)}", "metrics_port = 0", ""]
        for peer in members:
            lines += ["[[peers]]", f"name = {_toml_value(peer.name)}",
                      f"address = {_toml_value(peer.listen)}",
                      f"public_key = {_toml_value(peer.public_key.hex())}", ""]
        for section, table in (("mempool", mempool or {}), ("transport", transport or {})):
            lines.append(f"[{section}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
            lines.append("")
        spec.config.write_text("\n".join(lines))
    return specs


def _die_with_parent(parent: int) -> None:
    """In the child before exec (Linux): the kernel sends SIGTERM to the node when the
    thread that started it dies, so a SIGKILLed orchestrator leaves no node behind."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the request took effect
            os.kill(os.getpid(), signal.SIGTERM)


class NodeProcess:
    """A `mempool-fast node` child process; `stop()` (SIGTERM, then SIGKILL) always reaps it.

    On Linux the node gets SIGTERM if the thread that created this object ends (PR_SET_PDEATHSIG),
    so create it from a thread that outlives the node (the orchestrator's main thread).
    """

    #: Seconds a node gets to stop after SIGTERM before it is killed.
    STOP_GRACE_S = 10.0

    def __init__(self, spec: NodeSpec, *, log_level: str = "INFO") -> None:
        self.spec = spec
        self._log = open(spec.log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mempool_fast.cli", "--log-level", log_level, "node",
             "--config", str(spec.config)],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=functools.partial(_die_with_parent, os.getpid()))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no clean shutdown (crash tests)."""
        if self.alive():
            self.proc.kill()
        self.proc.wait()

    def stop(self) -> int:
        """SIGTERM and wait; SIGKILL after STOP_GRACE_S. Returns the exit code."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(self.STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0f s; killing it", self.spec.name,
                            self.STOP_GRACE_S)
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def wait_connected(specs: list[NodeSpec], procs: list[NodeProcess], timeout: float,
                   expect: int | None = None) -> None:
    """Poll every node's stats until each has `expect` (default: all others) live peers
    (STATS only: no sender or transaction travels, so a native client serves every format)."""
    expect = len(specs) - 1 if expect is None else expect
    deadline = time.monotonic() + timeout
    clients = [NodeClient(s.client, timeout=CONNECT_RPC_TIMEOUT_S) for s in specs]
    try:
        pending = set(range(len(specs)))
        while pending:
            for i in list(pending):
                if not procs[i].alive():
                    raise RuntimeError(f"{specs[i].name} exited with {procs[i].proc.returncode}"
                                       f" (see {specs[i].log})")
                try:
                    stats = clients[i].stats()
                except RpcTimeout:
                    clients[i].close()
                    clients[i] = NodeClient(specs[i].client, timeout=CONNECT_RPC_TIMEOUT_S)
                    continue
                alive = sum(1 for p in stats["peers"].values() if p["alive"])
                if alive >= expect and len(stats["links_alive"]) >= expect:
                    pending.discard(i)
            if pending and time.monotonic() > deadline:
                raise TimeoutError("nodes not connected in time: "
                                   + ", ".join(specs[i].name for i in sorted(pending)))
            if pending:
                time.sleep(CONNECT_POLL_S)
    finally:
        for c in clients:
            c.close()


def sign_transactions(keys: list[nacl.signing.SigningKey], total: int, *, max_gas: int,
                      gas_price: int, expiration: int) -> list[SignedTransaction]:
    """`total` transactions, sequence-major over `keys` (every account's seq 0, then seq 1...),
    so that most of them are ready (next in their account's sequence) when a node gets them."""
    out = []
    n = len(keys)
    for i in range(total):
        out.append(SignedTransaction.create(keys[i % n], i // n, max_gas_amount=max_gas,
                                            gas_unit_price=gas_price,
                                            expiration_time=expiration))
    return out


#: Wei each Ethereum load transaction sends (to the next account), so that it moves value.
ETHEREUM_TRANSFER_WEI = 1


def sign_ethereum_transactions(keys: Sequence[EthereumKey], total: int, *, chain_id: int,
                               gas: int, gas_price: int, first_seq: Sequence[int] | None = None
                               ) -> list[EthereumTransaction]:
    """`total` Ethereum transactions, sequence-major over `keys` as `sign_transactions` (account
    i's nonces from `first_seq[i]`, default 0), each sending ETHEREUM_TRANSFER_WEI to the next
    account: legacy EIP-155 ones (``gasPrice`` `gas_price`) from the even accounts, EIP-1559
    ones (tip and fee cap `gas_price`) from the odd ones, so a run carries both kinds. Decoded
    and verified (``EthereumFormat(chain_id)``: each sender recovered once, here), so that the
    load generator and the observer read their senders, pointers and hashes for free."""
    from ..formats.ethereum import EthereumFormat

    fmt = EthereumFormat(chain_id)
    out = []
    n = len(keys)
    for i in range(total):
        account = i % n
        nonce = i // n + (first_seq[account] if first_seq is not None else 0)
        key, to = keys[account], keys[(account + 1) % n].address
        if account % 2 == 0:
            raw = key.sign_legacy(chain_id=chain_id, nonce=nonce, gas_price=gas_price, gas=gas,
                                  to=to, value=ETHEREUM_TRANSFER_WEI)
        else:
            raw = key.sign_eip1559(chain_id=chain_id, nonce=nonce,
                                   max_priority_fee_per_gas=gas_price,
                                   max_fee_per_gas=gas_price, gas=gas, to=to,
                                   value=ETHEREUM_TRANSFER_WEI)
        out.append(fmt.decode(raw))
    # recover every sender now (kept on each transaction), not in the observer during the load
    refused = [status for status in fmt.verify(out) if status is not None]
    if refused:
        raise RuntimeError(f"a signed load transaction does not verify: {refused[0]}")
    return out
