"""`mempool-fast cluster`: a local N-node network under load, and what the mempool did with it.

Steps: generate node keys and TOML configs in a temporary directory; fund the accounts in every
node's SQLite store; start every node as its own process on loopback; wait until every node has a
live link to every other; then run three loops until every accepted transaction is committed:

- the *load generator* submits pre-signed transactions, sequence-major so most arrive ready, each
  to a random node (paced to ``--rate`` transactions/s if given);
- the *observer* polls every node's STATUS for the accepted transactions it has not seen there
  yet: a transaction *reached every node* the first time all of them hold it (pending or
  committed); submission -> every node is the latency reported;
- the *proposer* pulls a block from node 0 every ``--block-ms``, keeps the transactions that reached
  every node and follow the account's committed sequence number, applies them to every node's
  account store (sequence number + 1, balance - max_gas x gas price), and commits them on every
  node.

It prints a summary (a table, or one JSON object with ``--json``) and exits 1 if a transaction a
node accepted never reached every node, 130 on Ctrl-C/SIGTERM (after stopping every process).
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import functools
import json
import logging
import os
import queue
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nacl.signing

from .client import NodeClient, RpcTimeout
from .rpc import Op, TxnState
from .transaction import SignedTransaction
from .types import MempoolAddTransactionStatusCode as Code

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

__all__ = ["ClusterOptions", "NodeSpec", "NodeProcess", "write_cluster", "free_port",
           "run_cluster", "add_arguments", "run_from_args", "sign_transactions"]

log = logging.getLogger(__name__)

_PENDING_STATES = frozenset({TxnState.NOT_READY, TxnState.READY, TxnState.NON_QUALIFIED,
                             TxnState.COMMITTED})


@dataclass
class ClusterOptions:
    """Every knob of a cluster run (the CLI flags of `mempool-fast cluster`)."""

    nodes: int = 4
    accounts: int = 1_000
    txns: int = 20_000
    #: Submission rate, transactions/s (None: as fast as the nodes answer).
    rate: float | None = None
    json: bool = False
    #: Proposer period and most transactions pulled per block.
    block_ms: int = 100
    block_size: int = 5_000
    #: Most transactions in one submit request (a chunk is split over random nodes).
    chunk: int = 400
    #: Observer's STATUS polling period.
    poll_ms: int = 20
    #: Node mempool tick (shared_mempool_tick_interval_ms), and extra [mempool] settings.
    tick_ms: int = 50
    mempool: dict = field(default_factory=dict)
    #: Deadlines: nodes up and linked; every accepted transaction committed after the load.
    startup_timeout_s: float = 30.0
    drain_timeout_s: float = 30.0
    #: Gas of each transaction and funding of each account.
    max_gas: int = 1_000
    gas_price: int = 1
    balance: int = 10**12
    seed: int | None = None
    #: Keep the working directory (configs, stores, node logs) and print where it is.
    keep: bool = False
    workdir: Path | None = None


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


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))


def write_cluster(workdir: Path, count: int, *, mempool: dict | None = None,
                  transport: dict | None = None, seeds: list[bytes] | None = None,
                  validator_set: int | None = None) -> list[NodeSpec]:
    """Keys, stores paths and TOML configs of `count` loopback nodes in `workdir`.

    Each node lists the first `validator_set` nodes (default: all) as its peers, so tests can make
    a node that is not in the others' validator set.
    """
    from .node import write_key_file

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
    """Poll every node's stats until each has `expect` (default: all others) live peers."""
    expect = len(specs) - 1 if expect is None else expect
    deadline = time.monotonic() + timeout
    clients = [NodeClient(s.client, timeout=1.0) for s in specs]
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
                    clients[i] = NodeClient(specs[i].client, timeout=1.0)
                    continue
                alive = sum(1 for p in stats["peers"].values() if p["alive"])
                if alive >= expect and len(stats["links_alive"]) >= expect:
                    pending.discard(i)
            if pending and time.monotonic() > deadline:
                raise TimeoutError("nodes not connected in time: "
                                   + ", ".join(specs[i].name for i in sorted(pending)))
            if pending:
                time.sleep(0.05)  # polling pace, not a wait for a condition
    finally:
        for c in clients:
            c.close()


def sign_transactions(keys: list[nacl.signing.SigningKey], total: int, *, max_gas: int,
                      gas_price: int, expiration: int) -> list[SignedTransaction]:
    """`total` transactions, sequence-major over `keys` (every account's seq 0, then seq 1...)."""
    out = []
    n = len(keys)
    for i in range(total):
        out.append(SignedTransaction.create(keys[i % n], i // n, max_gas_amount=max_gas,
                                            gas_unit_price=gas_price,
                                            expiration_time=expiration))
    return out


class _Run:
    """The shared state of one cluster run's threads (each thread owns its own clients)."""

    def __init__(self, opts: ClusterOptions, specs: list[NodeSpec], txns) -> None:
        self.opts = opts
        self.specs = specs
        self.txns = txns
        self.stop = threading.Event()
        self.load_done = threading.Event()
        self.lock = threading.Lock()
        self.accepted_q: queue.SimpleQueue = queue.SimpleQueue()
        self.submitted = 0
        self.statuses: collections.Counter = collections.Counter()
        self.accepted = 0
        self.reached_all = 0
        self.committed = 0
        self.latencies: list[float] = []
        self.first_submit: float | None = None
        self.last_submit: float | None = None
        self.last_reached: float | None = None
        self.last_commit: float | None = None
        self.sizes: dict[str, dict] = {}
        self.max_sizes: dict[str, int] = collections.defaultdict(int)
        self.errors: list[str] = []
        self.unreached: set = set()

    # -- load generator --
    def load(self) -> None:
        try:
            self._load()
        except Exception as exc:  # noqa: BLE001 - reported in the summary
            log.exception("load generator failed")
            self.errors.append(f"load generator: {exc!r}")
        finally:
            self.load_done.set()

    def _load(self) -> None:
        opts = self.opts
        rng = random.Random(opts.seed)
        clients = [NodeClient(s.client) for s in self.specs]
        chunk = opts.chunk
        if opts.rate:
            chunk = max(1, min(opts.chunk, int(opts.rate / 100)))  # ~100 requests/s
        start = time.monotonic()
        try:
            for base in range(0, len(self.txns), chunk):
                if self.stop.is_set():
                    return
                part = self.txns[base:base + chunk]
                if opts.rate:
                    due = start + base / opts.rate
                    if self.stop.wait(max(0.0, due - time.monotonic())):
                        return
                groups: dict[int, list] = collections.defaultdict(list)
                for txn in part:
                    groups[rng.randrange(len(clients))].append(txn)
                sent_at = time.monotonic()
                rids = {i: clients[i].send(Op.SUBMIT, g) for i, g in groups.items()}
                with self.lock:
                    self.first_submit = self.first_submit or sent_at
                    self.submitted += len(part)
                for i, rid in rids.items():
                    resp = clients[i].wait(rid)
                    if not resp.ok:
                        raise RuntimeError(f"{self.specs[i].name} refused a submission: "
                                           f"{resp.body}")
                    accepted = []
                    with self.lock:
                        for txn, status in zip(groups[i], resp.body):
                            self.statuses[status.code.name] += 1
                            if status.code == Code.VALID:
                                accepted.append(txn)
                        self.accepted += len(accepted)
                    self.accepted_q.put((sent_at, accepted))
                with self.lock:
                    self.last_submit = time.monotonic()
        finally:
            for c in clients:
                c.close()

    # -- observer + proposer --
    def observe(self) -> None:
        try:
            self._observe()
        except Exception as exc:  # noqa: BLE001 - reported in the summary
            log.exception("observer failed")
            self.errors.append(f"observer: {exc!r}")

    def _observe(self) -> None:
        from .storage import SqliteAccountStore

        opts = self.opts
        n = len(self.specs)
        full = (1 << n) - 1
        clients = [NodeClient(s.client) for s in self.specs]
        consensus = [NodeClient(s.consensus) for s in self.specs]
        stores = [SqliteAccountStore(s.store) for s in self.specs]
        info: dict[tuple[bytes, int], list] = {}  # pointer -> [sent_at, mask, txn]
        unseen: list[dict] = [{} for _ in range(n)]  # per node: pointer -> None (ordered)
        ready: dict[tuple[bytes, int], SignedTransaction] = {}
        ledger: dict[bytes, tuple[int, int]] = {}  # sender -> (next seq, balance)
        max_query = max(1, opts.block_size)
        next_block = time.monotonic()
        next_stats = 0.0
        try:
            while not self.stop.is_set():
                while True:
                    try:
                        sent_at, accepted = self.accepted_q.get_nowait()
                    except queue.Empty:
                        break
                    for txn in accepted:
                        ptr = txn.pointer
                        info[ptr] = [sent_at, 0, txn]
                        for u in unseen:
                            u[ptr] = None
                # STATUS of what each node has not shown us yet, pipelined over the nodes
                asked = {}
                for i, u in enumerate(unseen):
                    if u:
                        ptrs = list(u)[:max_query]
                        asked[i] = (ptrs, clients[i].send(Op.STATUS, ptrs))
                reached_now = []
                for i, (ptrs, rid) in asked.items():
                    resp = clients[i].wait(rid)
                    if not resp.ok:
                        raise RuntimeError(f"{self.specs[i].name}: STATUS failed: {resp.body}")
                    now = time.monotonic()
                    bit = 1 << i
                    for ptr, state in zip(ptrs, resp.body):
                        if state in _PENDING_STATES:
                            del unseen[i][ptr]
                            entry = info[ptr]
                            entry[1] |= bit
                            if entry[1] == full:
                                reached_now.append(now - entry[0])
                                ready[ptr] = entry[2]
                if reached_now:
                    with self.lock:
                        self.reached_all += len(reached_now)
                        self.latencies.extend(reached_now)
                        self.last_reached = time.monotonic()
                now = time.monotonic()
                if now >= next_block and ready:
                    next_block = now + opts.block_ms / 1000
                    self._propose(consensus, stores, ready, ledger, info)
                if now >= next_stats:
                    next_stats = now + 0.5
                    self._poll_stats(clients)
                if self.load_done.is_set() and not info:
                    with self.lock:
                        if self.accepted_q.empty():
                            return
                self.stop.wait(opts.poll_ms / 1000)
        finally:
            with self.lock:
                self.unreached = {p for p, e in info.items() if e[1] != full}
            try:
                self._poll_stats(clients)  # final sizes, after the last commit
            except RpcTimeout:
                log.warning("a node did not answer the final stats request")
            for c in clients + consensus:
                c.close()
            for s in stores:
                s.close()

    def _propose(self, clients, stores, ready, ledger, info) -> None:
        opts = self.opts
        block = clients[0].get_block(opts.block_size)
        chosen = []
        for txn in block:
            ptr = txn.pointer
            if ptr not in ready:
                continue
            seq, balance = ledger.get(txn.sender, (0, opts.balance))
            if txn.sequence_number != seq:
                continue
            ledger[txn.sender] = (seq + 1,
                                  balance - txn.max_gas_amount * txn.gas_unit_price)
            chosen.append(ptr)
        if not chosen:
            return
        rows = [(sender, *ledger[sender]) for sender in {p[0] for p in chosen}]
        for store in stores:
            store.set_accounts(rows)
        block_time = time.time()
        rids = [(c, c.send(Op.COMMIT, (block_time, chosen, []))) for c in clients]
        for c, rid in rids:
            resp = c.wait(rid)
            if not resp.ok:
                raise RuntimeError(f"COMMIT failed on {c.endpoint}: {resp.body}")
        for ptr in chosen:
            del ready[ptr]
            del info[ptr]
        with self.lock:
            self.committed += len(chosen)
            self.last_commit = time.monotonic()

    def _poll_stats(self, clients) -> None:
        rids = [(spec, c, c.send(Op.STATS)) for spec, c in zip(self.specs, clients)]
        for spec, c, rid in rids:
            resp = c.wait(rid)
            if resp.ok:
                with self.lock:
                    self.sizes[spec.name] = resp.body
                    self.max_sizes[spec.name] = max(self.max_sizes[spec.name],
                                                    resp.body["mempool_size"])

    # -- reporting --
    def snapshot(self) -> dict:
        with self.lock:
            return {"submitted": self.submitted, "accepted": self.accepted,
                    "reached_all": self.reached_all, "committed": self.committed,
                    "sizes": {k: v["mempool_size"] for k, v in self.sizes.items()}}

    def summary(self, elapsed: dict) -> dict:
        opts = self.opts
        with self.lock:
            lat = sorted(self.latencies)
            start = self.first_submit or 0.0

            def span(end):
                return (end - start) if end and self.first_submit else 0.0

            def rate(count, end):
                s = span(end)
                return count / s if s > 0 else 0.0

            def pct(p):
                return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else None

            p99 = pct(0.99)
            return {
                "nodes": opts.nodes, "accounts": opts.accounts, "txns": opts.txns,
                "rate": opts.rate, "tick_ms": opts.tick_ms,
                "submitted": self.submitted,
                "accepted": self.accepted,
                "statuses": dict(sorted(self.statuses.items())),
                "reached_all": self.reached_all,
                "not_reached": len(self.unreached),
                "committed": self.committed,
                "submit_tps": rate(self.submitted, self.last_submit),
                "reached_all_tps": rate(self.reached_all, self.last_reached),
                "commit_tps": rate(self.committed, self.last_commit),
                "latency_ms": {"p50": pct(0.50), "p99": p99, "max": lat[-1] * 1000 if lat else None,
                               "samples": len(lat)},
                "p99_ticks": (p99 / opts.tick_ms) if p99 is not None else None,
                "nodes_final": {name: {k: s.get(k) for k in ("mempool_size", "parking_lot_size")}
                                | {"max_mempool_size": self.max_sizes[name],
                                   "auth_rejected": s["transport"].get("auth_rejected", 0)}
                                for name, s in sorted(self.sizes.items())},
                "timings_s": elapsed,
                "errors": list(self.errors),
                "ok": not self.errors and not self.unreached and self.reached_all == self.accepted,
            }


def _render_progress(run: _Run, total: int):
    from rich.table import Table

    snap = run.snapshot()
    table = Table(title="mempool-fast cluster", expand=False)
    for col in ("submitted", "accepted", "reached every node", "committed"):
        table.add_column(col, justify="right")
    table.add_row(f"{snap['submitted']}/{total}", str(snap["accepted"]),
                  str(snap["reached_all"]), str(snap["committed"]))
    sizes = Table(title="mempool size per node", expand=False)
    for name in sorted(snap["sizes"]):
        sizes.add_column(name, justify="right")
    sizes.add_row(*(str(snap["sizes"][n]) for n in sorted(snap["sizes"])))
    from rich.console import Group
    return Group(table, sizes)


def _print_summary(summary: dict, console) -> None:
    from rich.table import Table

    table = Table(title="cluster summary", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    lat = summary["latency_ms"]

    def ms(v):
        return "-" if v is None else f"{v:.1f} ms"

    rows = [("nodes", summary["nodes"]), ("submitted", summary["submitted"]),
            *((f"  {code}", n) for code, n in summary["statuses"].items()),
            ("accepted", summary["accepted"]), ("reached every node", summary["reached_all"]),
            ("never reached every node", summary["not_reached"]),
            ("committed", summary["committed"]),
            ("submit throughput", f"{summary['submit_tps']:.0f} tx/s"),
            ("reached-every-node throughput", f"{summary['reached_all_tps']:.0f} tx/s"),
            ("commit throughput", f"{summary['commit_tps']:.0f} tx/s"),
            ("latency submit -> every node p50", ms(lat["p50"])),
            ("latency submit -> every node p99", ms(lat["p99"])),
            ("p99 in ticks", "-" if summary["p99_ticks"] is None
             else f"{summary['p99_ticks']:.1f} x {summary['tick_ms']} ms")]
    for name, s in summary["nodes_final"].items():
        rows.append((f"{name} mempool (final / max) / parked",
                     f"{s['mempool_size']} / {s['max_mempool_size']} / {s['parking_lot_size']}"))
    for key, value in rows:
        table.add_row(str(key), str(value))
    console.print(table)
    for err in summary["errors"]:
        console.print(f"[red]error:[/red] {err}")
    console.print("[green]OK[/green]: every accepted transaction reached every node"
                  if summary["ok"] else "[red]FAILED[/red]: some accepted transactions never "
                  "reached every node")


def run_cluster(opts: ClusterOptions, *, out=None) -> tuple[int, dict | None]:
    """Run the whole job; returns (exit code, summary). Always stops every process it started."""
    from rich.console import Console
    from rich.live import Live

    from .storage import SqliteAccountStore

    out = out or sys.stdout
    console = Console(file=out)
    status_console = Console(stderr=True)
    if opts.nodes < 2 or opts.accounts < 1 or opts.txns < 1:
        raise ValueError("a cluster needs at least 2 nodes, 1 account and 1 transaction")
    tmp = Path(opts.workdir) if opts.workdir else Path(tempfile.mkdtemp(prefix="mempool-fast-"))
    procs: list[NodeProcess] = []
    threads: list[threading.Thread] = []
    run: _Run | None = None
    elapsed: dict[str, float] = {}
    interrupted = False

    def on_term(*_):
        raise KeyboardInterrupt

    previous_term = signal.signal(signal.SIGTERM, on_term) \
        if threading.current_thread() is threading.main_thread() else None
    try:
        t0 = time.monotonic()
        mempool = {"shared_mempool_tick_interval_ms": opts.tick_ms, **opts.mempool}
        specs = write_cluster(tmp, opts.nodes, mempool=mempool)
        rng = random.Random(opts.seed)
        keys = [nacl.signing.SigningKey(rng.randbytes(32)) for _ in range(opts.accounts)]
        expiration = int(time.time()) + 3600
        txns = sign_transactions(keys, opts.txns, max_gas=opts.max_gas,
                                 gas_price=opts.gas_price, expiration=expiration)
        elapsed["presign"] = time.monotonic() - t0
        funding = [(t.sender, 0, opts.balance) for t in txns[:opts.accounts]]
        for spec in specs:
            with SqliteAccountStore(spec.store) as store:
                store.set_accounts(funding)
        t1 = time.monotonic()
        procs = [NodeProcess(spec) for spec in specs]
        wait_connected(specs, procs, opts.startup_timeout_s)
        elapsed["startup"] = time.monotonic() - t1
        run = _Run(opts, specs, txns)
        threads = [threading.Thread(target=run.load, name="cluster-load", daemon=True),
                   threading.Thread(target=run.observe, name="cluster-observer", daemon=True)]
        t2 = time.monotonic()
        for t in threads:
            t.start()
        observer = threads[1]

        def wait_done(step):
            deadline = None
            while observer.is_alive():
                if run.load_done.is_set() and deadline is None:
                    deadline = time.monotonic() + opts.drain_timeout_s
                if deadline is not None and time.monotonic() > deadline:
                    run.stop.set()
                observer.join(0.25)
                step()

        if opts.json:
            wait_done(lambda: None)
        else:
            with Live(_render_progress(run, len(txns)), console=status_console,
                      refresh_per_second=4, transient=True) as live:
                wait_done(lambda: live.update(_render_progress(run, len(txns))))
        elapsed["load"] = time.monotonic() - t2
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if run is not None:
            run.stop.set()
        for t in threads:
            t.join()
        codes = [p.stop() for p in procs]
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)
        if opts.keep or opts.workdir:
            status_console.print(f"cluster files kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if interrupted:
        status_console.print("interrupted: every node stopped")
        return 130, None
    summary = run.summary(elapsed)
    summary["node_exit_codes"] = codes
    if opts.json:
        out.write(json.dumps(summary) + "\n")
        out.flush()
    else:
        _print_summary(summary, console)
    return (0 if summary["ok"] else 1), summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of `mempool-fast cluster`."""
    d = ClusterOptions()
    parser.add_argument("--nodes", type=int, default=d.nodes, help="validators (default 4)")
    parser.add_argument("--accounts", type=int, default=d.accounts, help="funded accounts")
    parser.add_argument("--txns", type=int, default=d.txns, help="transactions to submit")
    parser.add_argument("--rate", type=float, default=None,
                        help="submission rate, tx/s (default: as fast as the nodes take them)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--tick-ms", type=int, default=d.tick_ms,
                        help="shared_mempool_tick_interval_ms of every node")
    parser.add_argument("--block-ms", type=int, default=d.block_ms, help="proposer period")
    parser.add_argument("--block-size", type=int, default=d.block_size,
                        help="most transactions per block")
    parser.add_argument("--chunk", type=int, default=d.chunk,
                        help="most transactions per submit request")
    parser.add_argument("--seed", type=int, default=None, help="seed of accounts and routing")
    parser.add_argument("--drain-timeout", type=float, default=d.drain_timeout_s,
                        help="seconds to wait for dissemination and commits after the load")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="use (and keep) this directory instead of a temporary one")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")


def run_from_args(args: argparse.Namespace) -> int:
    opts = ClusterOptions(nodes=args.nodes, accounts=args.accounts, txns=args.txns,
                          rate=args.rate, json=args.json, tick_ms=args.tick_ms,
                          block_ms=args.block_ms, block_size=args.block_size, chunk=args.chunk,
                          seed=args.seed, drain_timeout_s=args.drain_timeout,
                          workdir=args.workdir, keep=args.keep)
    try:
        code, _ = run_cluster(opts)
    except (ValueError, RuntimeError, TimeoutError) as exc:
        print(f"mempool-fast cluster: {exc}", file=sys.stderr)
        return 2
    return code

