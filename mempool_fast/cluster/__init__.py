"""`mempool-fast cluster`: a local N-node network under load, and what the mempool did with it.

This module owns the run's options (and the command-line flags made from them) and the
orchestration; the parts are in `nodes` (node files and processes), `load` (the load generator),
`observer` (the observer and the proposer), `run_stats` (the shared counters) and `report`.

Steps: generate node keys and TOML configs in a temporary directory (every node of the run's
transaction format, ``--format native`` by default or ``--format ethereum`` with
``--chain-id``, default 1337); sign the load (Ed25519 native transactions, or Ethereum legacy
EIP-155 and EIP-1559 ones signed with the ``ethereum`` extra's libraries) and fund its accounts
in every node's SQLite store (Ethereum: 20-byte addresses, 1000 ether each, above 2**64 wei); start every node as its own process on loopback; wait until every node has a
live link to every other; then run three loops until every accepted transaction is committed:

- the *load generator* submits pre-signed transactions, sequence-major so most arrive ready, each
  to a random node (paced to ``--rate`` transactions/s if given);
- the *observer* polls every node's STATUS for the accepted transactions it has not seen there
  yet: a transaction *reached every node* the first time all of them hold it (pending or
  committed); submission -> every node is the latency reported;
- the *proposer* pulls a block from node 0 every ``--block-ms``, keeps the transactions that reached
  every node and follow the account's committed sequence number, applies them to every node's
  account store (sequence number + 1, balance - the format's max cost), and commits them on every
  node.

Once everything is committed, the observer audits every node: TXN_STATUS by hash of every
accepted transaction must say COMMITTED. It prints a summary (a table, or one JSON object with
``--json``) and exits 1 if a transaction a node accepted never reached every node or the audit
found one not committed somewhere, 130 on Ctrl-C/SIGTERM (after stopping every process),
2 if the run could not be set up.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

import nacl.signing

from ..config import TRANSACTION_FORMATS
from .load import LoadGenerator
from .nodes import (
    NodeProcess,
    NodeSpec,
    free_port,
    sign_ethereum_transactions,
    sign_transactions,
    wait_connected,
    write_cluster,
)
from .observer import Observer, Proposer
from .run_stats import RunStats

if TYPE_CHECKING:
    from rich.console import Console

    from ..formats import TransactionFormat

__all__ = ["ClusterOptions", "NodeProcess", "NodeSpec", "add_arguments", "free_port", "run_cluster",
           "run_from_args", "sign_transactions", "sign_ethereum_transactions", "write_cluster",
           "DEFAULT_CHAIN_ID"]

#: Exit codes of `mempool-fast cluster`.
EXIT_OK, EXIT_FAILED, EXIT_SETUP_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
#: Lifetime of the pre-signed transactions (they must not expire during the run).
TXN_LIFETIME_S = 3600
#: Bytes of an Ed25519 seed (each account's key is made from one drawn from the run's seed).
KEY_SEED_BYTES = 32
#: How often the main thread redraws the progress view and checks the drain deadline.
PROGRESS_PERIOD_S = 0.25
#: The smallest cluster: two nodes (there must be a peer to reach), one account, one transaction.
MIN_NODES, MIN_ACCOUNTS, MIN_TXNS = 2, 1, 1
#: Chain id of an Ethereum cluster unless --chain-id says otherwise (the usual local dev chain).
DEFAULT_CHAIN_ID = 1337
#: Funding of each account: native units, and wei for Ethereum (1000 ether: above 2**64, so
#: the run shows the stores' big balances at work).
NATIVE_BALANCE = 10**12
ETHEREUM_BALANCE_WEI = 1000 * 10**18


def _flag(help: str, *, name: str | None = None, choices: tuple[str, ...] | None = None
          ) -> dict[str, dict[str, Any]]:
    """Field metadata that makes a `ClusterOptions` field a flag of `mempool-fast cluster`:
    ``--<field-name>`` (or `name`), typed from the annotation (a bool is a switch), defaulting to
    the field's default, limited to `choices` if given. `help` may use ``%(default)s``."""
    return {"cli": {"help": help, "name": name, "choices": choices}}


@dataclass
class ClusterOptions:
    """Every knob of a cluster run; the fields with a `_flag` are the CLI flags of
    `mempool-fast cluster` (in this order)."""

    nodes: int = field(default=4, metadata=_flag("validators (default %(default)s)"))
    accounts: int = field(default=1_000, metadata=_flag("funded accounts (default %(default)s)"))
    txns: int = field(default=20_000,
                      metadata=_flag("transactions to submit (default %(default)s)"))
    #: Submission rate, transactions/s (None: as fast as the nodes answer).
    rate: float | None = field(default=None, metadata=_flag(
        "submission rate, tx/s (default: as fast as the nodes take them)"))
    json: bool = field(default=False, metadata=_flag("print the summary as JSON"))
    #: Node mempool tick (shared_mempool_tick_interval_ms), and extra [mempool] settings.
    tick_ms: int = field(default=50,
                         metadata=_flag("shared_mempool_tick_interval_ms of every node"))
    mempool: dict[str, Any] = field(default_factory=dict)
    #: Proposer period and most transactions pulled per block.
    block_ms: int = field(default=100, metadata=_flag("proposer period"))
    block_size: int = field(default=5_000, metadata=_flag("most transactions per block"))
    #: Most transactions in one submit request (a chunk is split over random nodes).
    chunk: int = field(default=400, metadata=_flag("most transactions per submit request"))
    #: Observer's STATUS polling period.
    poll_ms: int = 20
    seed: int | None = field(default=None, metadata=_flag("seed of accounts and routing"))
    #: Deadlines: nodes up and linked; every accepted transaction committed after the load.
    startup_timeout_s: float = 30.0
    drain_timeout_s: float = field(default=30.0, metadata=_flag(
        "seconds to wait for dissemination and commits after the load", name="--drain-timeout"))
    #: Where the configs, stores and node logs go (then kept), or keep the temporary directory
    #: and print where it is.
    workdir: Path | None = field(default=None, metadata=_flag(
        "use (and keep) this directory instead of a temporary one"))
    keep: bool = field(default=False, metadata=_flag("keep the temporary directory"))
    #: The transaction format of every node and of the load.
    format: str = field(default="native", metadata=_flag(
        "transaction format of the nodes and the load: native (Ed25519) or ethereum (legacy "
        "EIP-155 and EIP-1559, secp256k1; needs pip install 'mempool_fast[ethereum]') "
        "(default %(default)s)", choices=TRANSACTION_FORMATS))
    chain_id: int = field(default=DEFAULT_CHAIN_ID, metadata=_flag(
        "chain id of an ethereum cluster: its nodes' [mempool].chain_id and its transactions' "
        "EIP-155 chain id (default %(default)s)"))
    #: Gas of each transaction (an Ethereum transfer always uses 21000) and funding of each
    #: account (None: NATIVE_BALANCE or ETHEREUM_BALANCE_WEI, by format).
    max_gas: int = 1_000
    gas_price: int = 1
    balance: int | None = None

    @property
    def account_balance(self) -> int:
        """What each account is funded with."""
        if self.balance is not None:
            return self.balance
        return ETHEREUM_BALANCE_WEI if self.format == "ethereum" else NATIVE_BALANCE


def _cli_fields() -> list[tuple[dataclasses.Field[Any], str, type]]:
    """(field, flag, value type) of every `ClusterOptions` field that is a flag."""
    hints = typing.get_type_hints(ClusterOptions)
    out: list[tuple[dataclasses.Field[Any], str, type]] = []
    for f in dataclasses.fields(ClusterOptions):
        cli = f.metadata.get("cli")
        if cli is None:
            continue
        hint = hints[f.name]
        if isinstance(hint, types.UnionType):  # X | None: an optional X
            hint = next(t for t in typing.get_args(hint) if t is not type(None))
        out.append((f, cli["name"] or "--" + f.name.replace("_", "-"), hint))
    return out


def _dest(flag: str) -> str:
    """The attribute argparse stores `flag` under (its own rule)."""
    return flag.lstrip("-").replace("-", "_")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of `mempool-fast cluster`, one for each `ClusterOptions` field with a `_flag`."""
    for f, flag, kind in _cli_fields():
        help_text = f.metadata["cli"]["help"]
        if kind is bool:
            parser.add_argument(flag, action="store_true", help=help_text)
        elif f.metadata["cli"]["choices"]:
            parser.add_argument(flag, type=kind, default=f.default, help=help_text,
                                choices=f.metadata["cli"]["choices"])
        else:
            parser.add_argument(flag, type=kind, default=f.default, help=help_text)


def run_from_args(args: argparse.Namespace) -> int:
    """Run `mempool-fast cluster` with the parsed flags; returns the exit code."""
    opts = ClusterOptions(**{f.name: getattr(args, _dest(flag)) for f, flag, _ in _cli_fields()})
    try:
        code, _ = run_cluster(opts)
    except (ValueError, RuntimeError, TimeoutError, ImportError) as exc:
        # ImportError: --format ethereum without the extra (the message names the pip command)
        print(f"mempool-fast cluster: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_SETUP_ERROR
    return code


def run_cluster(opts: ClusterOptions, *, out: TextIO | None = None
                ) -> tuple[int, dict[str, Any] | None]:
    """Run the whole job; returns (exit code, summary). Always stops every process it started."""
    from rich.console import Console

    started = time.monotonic()
    out = out or sys.stdout
    status = Console(stderr=True)
    if opts.nodes < MIN_NODES or opts.accounts < MIN_ACCOUNTS or opts.txns < MIN_TXNS:
        raise ValueError(f"a cluster needs at least {MIN_NODES} nodes, {MIN_ACCOUNTS} account "
                         f"and {MIN_TXNS} transaction")
    node_mempool = _node_mempool(opts)  # checked before anything is written or started
    client_format = _client_format(opts)
    workdir = Path(opts.workdir) if opts.workdir else Path(tempfile.mkdtemp(prefix="mempool-fast-"))
    procs: list[NodeProcess] = []
    threads: list[threading.Thread] = []
    stop = threading.Event()
    stats = RunStats()
    timings: dict[str, float] = {}
    interrupted = False
    try:
        with _sigterm_raises_keyboard_interrupt():
            try:
                specs, txns = _prepare(opts, node_mempool, client_format, workdir, status,
                                       timings)
                _start_nodes(specs, procs, opts.startup_timeout_s, timings)
                _apply_load(opts, client_format, specs, txns, stats, stop, threads, status,
                            timings)
            finally:
                stop.set()
                for t in threads:
                    t.join()
                codes = [p.stop() for p in procs]
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if opts.keep or opts.workdir:
            status.print(f"cluster files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if interrupted:
        status.print("interrupted: every node stopped")
        return EXIT_INTERRUPTED, None
    summary = stats.summary(opts, timings, elapsed_s=time.monotonic() - started)
    summary["node_exit_codes"] = codes
    if opts.json:
        out.write(json.dumps(summary) + "\n")
        out.flush()
    else:
        from .report import print_summary
        print_summary(summary, Console(file=out))
    return (EXIT_OK if summary["ok"] else EXIT_FAILED), summary


@contextlib.contextmanager
def _sigterm_raises_keyboard_interrupt() -> Iterator[None]:
    """SIGTERM stops the run as Ctrl-C does (only in the main thread, where Python runs signal
    handlers); the previous handler is back on exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(*_: object) -> NoReturn:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _node_mempool(opts: ClusterOptions) -> dict[str, Any]:
    """The [mempool] table of every node: the tick, the format (and an Ethereum cluster's
    chain id), then `opts.mempool`; checked as a node will check it (ValueError naming the bad
    setting)."""
    from ..config import MempoolConfig

    mempool: dict[str, Any] = {"shared_mempool_tick_interval_ms": opts.tick_ms}
    if opts.format != "native":
        mempool["transaction_format"] = opts.format
    if opts.format == "ethereum":
        mempool["chain_id"] = opts.chain_id
    mempool.update(opts.mempool)
    MempoolConfig(**mempool)  # a ConfigError (a ValueError) names the field
    return mempool


def _client_format(opts: ClusterOptions) -> TransactionFormat[Any] | None:
    """The format the run's clients speak (None: native); an Ethereum run needs the extra
    (ImportError naming the pip command)."""
    if opts.format == "ethereum":
        from ..formats.ethereum import EthereumFormat
        return EthereumFormat(opts.chain_id)
    return None


def _sign_load(opts: ClusterOptions, rng: random.Random) -> list[Any]:
    """The run's transactions, in the run's format, from `opts.accounts` keys drawn from
    `rng` (the same --seed signs the same load)."""
    if opts.format == "ethereum":
        from ..formats.ethereum_signing import TRANSFER_GAS, EthereumKey
        eth_keys = [EthereumKey.generate(rng) for _ in range(opts.accounts)]
        return sign_ethereum_transactions(eth_keys, opts.txns, chain_id=opts.chain_id,
                                          gas=TRANSFER_GAS, gas_price=opts.gas_price)
    keys = [nacl.signing.SigningKey(rng.randbytes(KEY_SEED_BYTES)) for _ in range(opts.accounts)]
    return sign_transactions(keys, opts.txns, max_gas=opts.max_gas, gas_price=opts.gas_price,
                             expiration=int(time.time()) + TXN_LIFETIME_S)


def _prepare(opts: ClusterOptions, mempool: dict[str, Any], client_format: TransactionFormat[Any] | None,
             workdir: Path, status: Console, timings: dict[str, float]
             ) -> tuple[list[NodeSpec], list[Any]]:
    """The node files and the signed load (timed as "presign"), then the funded stores."""
    from ..rpc import NATIVE, check_sender_length
    from ..storage import SqliteAccountStore

    t0 = time.monotonic()
    status.print(f"signing {opts.txns} {opts.format} transactions…")
    specs = write_cluster(workdir, opts.nodes, mempool=mempool)
    txns = _sign_load(opts, random.Random(opts.seed))
    timings["presign"] = time.monotonic() - t0
    status.print(f"starting {opts.nodes} nodes…")
    # sequence-major: the first `accounts` transactions are every account's first
    funding = [(t.sender, 0, opts.account_balance) for t in txns[:opts.accounts]]
    length = check_sender_length(client_format or NATIVE)
    for spec in specs:
        with SqliteAccountStore(spec.store, address_length=length) as store:
            store.set_accounts(funding)
    return specs, txns


def _start_nodes(specs: list[NodeSpec], procs: list[NodeProcess], startup_timeout_s: float,
                 timings: dict[str, float]) -> None:
    """Start every node (into `procs`, so that they are stopped whatever happens) and wait
    until they are all linked (timed as "startup")."""
    t1 = time.monotonic()
    for spec in specs:
        procs.append(NodeProcess(spec))
    wait_connected(specs, procs, startup_timeout_s)
    timings["startup"] = time.monotonic() - t1


def _apply_load(opts: ClusterOptions, client_format: TransactionFormat[Any] | None, specs: list[NodeSpec],
                txns: list[Any], stats: RunStats, stop: threading.Event,
                threads: list[threading.Thread], status: Console,
                timings: dict[str, float]) -> None:
    """Run the load generator and the observer (into `threads`, so that they are joined whatever
    happens) until the observer ends, with the live progress view unless `opts.json` (timed as
    "load")."""
    from ..formats import NativeFormat
    from .report import live_progress

    cost = NativeFormat.max_cost if client_format is None else client_format.max_cost
    load = LoadGenerator(specs, txns, stats, stop, chunk=opts.chunk, rate=opts.rate,
                         seed=opts.seed, transaction_format=client_format)
    proposer = Proposer(specs, stats, block_ms=opts.block_ms, block_size=opts.block_size,
                        balance=opts.account_balance, cost=cost,
                        transaction_format=client_format)
    observer = Observer(specs, stats, stop, accepted=load.accepted, load_done=load.done,
                        proposer=proposer, poll_ms=opts.poll_ms, max_query=opts.block_size,
                        transaction_format=client_format)
    t2 = time.monotonic()
    for target, name in ((load.run, "cluster-load"), (observer.run, "cluster-observer")):
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        threads.append(thread)
    with live_progress(stats, len(txns), status, show=not opts.json) as redraw:
        _wait_for_observer(threads[-1], load.done, stop, opts.drain_timeout_s, redraw)
    timings["load"] = time.monotonic() - t2


def _wait_for_observer(observer: threading.Thread, load_done: threading.Event,
                       stop: threading.Event, drain_timeout_s: float,
                       redraw: Callable[[], None]) -> None:
    """Until the observer ends (every accepted transaction committed), redrawing the progress
    view; `drain_timeout_s` after the load is done, `stop` ends it anyway."""
    deadline = None
    while observer.is_alive():
        if load_done.is_set() and deadline is None:
            deadline = time.monotonic() + drain_timeout_s
        if deadline is not None and time.monotonic() > deadline:
            stop.set()
        observer.join(PROGRESS_PERIOD_S)
        redraw()
