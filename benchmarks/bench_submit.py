"""The client submit path against the validator alone, on the same batches, in one run.

    python benchmarks/bench_submit.py                       # batches 100 and 2000, a table
    python benchmarks/bench_submit.py --json                # the same figures as JSON
    python benchmarks/bench_submit.py --batches 100 --rounds 60 --dir /var/tmp

Rows (µs per transaction, median over rounds; ratio = the rate of the row over the rate of its
validator row and +µs/txn = the row's time minus the validator row's, each the median of the
per-round figures, so machine drift hits both sides alike):

  validate           `Ed25519Validator.validate(batch)` alone (verified cache off:
                     `verified_cache_size=0`), one call at a time
  validate x4        the same from 4 threads at once (4 batches per round)
  submit memory      `SharedMempool.submit_transactions(batch)`, InMemoryAccountStore, no journal
  submit sqlite+jnl nosync   SqliteAccountStore and a TransactionJournal with
                     `journal_fsync="never"`: everything but the fdatasync
  submit sqlite+jnl  the same with `journal_fsync="always"` (what a node runs)
  submit sqlite+jnl x4   the same from 4 client threads at once (a node's endpoint serves 4
                     requests at once); its ratio is against `validate x4`

Every transaction is fresh (signed before anything is timed, never seen by the validator or the
pool), from a distinct account per batch at the account's next sequence number, so each is
VALID and becomes ready. The shared mempools are not started (no threads of their own); all
rows use one validator (and its verify thread pool) and the same MempoolConfig (the defaults,
cache off, a larger `capacity_per_user`). In each round every row runs once, in an order that
rotates from round to round. The store and journals live in `--dir` (default: a temporary
directory under the current directory, so on the disk a node would use, not a tmpfs); the
filesystem is printed. "fsyncs/batch" is `journal.stats().fsyncs` over the timed rounds per
submitted batch: under 1 with 4 submitters means concurrent submits shared fdatasyncs. The
median ms of a bare 25 kB append + fdatasync in `--dir` is printed before, between and after
the batch sizes (what one fsync per batch costs on this disk at the time).

On shared vCPUs the machine's speed changes in phases (the validator's own µs/txn can double
from one phase to the next): compare the ratio and +µs/txn columns, which are per-round, and
repeat the run; absolute µs/txn from different runs are not comparable.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time

import nacl.signing

from mempool_fast import IMPLEMENTATION, MempoolConfig, SignedTransaction, account_address
from mempool_fast.journal import TransactionJournal
from mempool_fast.network.inprocess import InProcessNetwork
from mempool_fast.shared import SharedMempool
from mempool_fast.storage import InMemoryAccountStore, SqliteAccountStore
from mempool_fast.transaction import TRANSACTION_IMPLEMENTATION
from mempool_fast.validation import IMPLEMENTATION as VALIDATOR_IMPLEMENTATION
from mempool_fast.validation import Ed25519Validator

CLIENTS = 4
PAYLOAD = bytes(100)
EXPIRATION = 4_000_000_000
BALANCE = 10 ** 15
WARMUP = 2

#: (key, label, threads, reference row for the ratio)
ROWS = (
    ("validate", "validate", 1, None),
    ("validate_x4", f"validate x{CLIENTS}", CLIENTS, None),
    ("submit_memory", "submit memory", 1, "validate"),
    ("submit_sqlite_journal_nosync", "submit sqlite+jnl nosync", 1, "validate"),
    ("submit_sqlite_journal", "submit sqlite+jnl", 1, "validate"),
    ("submit_sqlite_journal_x4", f"submit sqlite+jnl x{CLIENTS}", CLIENTS, "validate_x4"),
)


def machine(workdir: str) -> dict:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": model, "cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "core": IMPLEMENTATION,
            "transaction": TRANSACTION_IMPLEMENTATION, "validator": VALIDATOR_IMPLEMENTATION,
            "dir": workdir, "filesystem": filesystem(workdir)}


def fdatasync_probe(workdir: str, writes: int = 30, size: int = 25_000) -> float:
    """Median ms of an fdatasync after appending `size` bytes (a batch of 100 is ~27 kB), on
    the disk the journals use: what one fsync per batch costs on this machine right now."""
    path = os.path.join(workdir, "probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    times = []
    try:
        for _ in range(writes):
            os.write(fd, bytes(size))
            t0 = time.perf_counter()
            os.fdatasync(fd)
            times.append(time.perf_counter() - t0)
    finally:
        os.close(fd)
        os.unlink(path)
    return statistics.median(times) * 1e3


def filesystem(path: str) -> str:
    """The type of the filesystem holding `path` (from /proc/mounts; '?' elsewhere)."""
    path = os.path.realpath(path)
    best, kind = "", "?"
    try:
        with open("/proc/mounts", encoding="utf-8") as fh:
            for line in fh:
                fields = line.split()
                if len(fields) >= 3:
                    mount = fields[1]
                    inside = path == mount or path.startswith(mount.rstrip("/") + "/")
                    if inside and len(mount) > len(best):
                        best, kind = mount, fields[2]
    except OSError:
        pass
    return kind


class Accounts:
    """Signing keys, one account per slot; `batch(slots)` signs each slot's next transaction."""

    def __init__(self, n: int) -> None:
        self.keys = [nacl.signing.SigningKey.generate() for _ in range(n)]
        self.addresses = [account_address(bytes(k.verify_key)) for k in self.keys]

    def signed(self, first: int, count: int, seq: int) -> list:
        keys = self.keys
        return [SignedTransaction.create(keys[i], seq, payload=PAYLOAD, max_gas_amount=1_000,
                                         gas_unit_price=1, expiration_time=EXPIRATION)
                for i in range(first, first + count)]


class ClientThreads:
    """`threads` persistent threads; `run(fn, args_per_thread)` runs fn(args) in each at once
    and returns the wall time from the first one's start to the last one's end (each thread
    reads the clock itself: a thread released first may finish before the caller runs)."""

    def __init__(self, threads: int) -> None:
        self._start = threading.Barrier(threads + 1)
        self._end = threading.Barrier(threads + 1)
        self._work: list = [None] * threads
        self._spans: list = [None] * threads
        self._errors: list = []
        self._threads = [threading.Thread(target=self._loop, args=(i,), daemon=True)
                         for i in range(threads)]
        for thread in self._threads:
            thread.start()

    def _loop(self, i: int) -> None:
        clock = time.perf_counter
        while True:
            self._start.wait()
            work = self._work[i]
            if work is None:
                return
            fn, arg = work
            t0 = clock()
            try:
                fn(arg)
            except BaseException as exc:  # reported by run()
                self._errors.append(exc)
            self._spans[i] = (t0, clock())
            self._end.wait()

    def run(self, fn, args: list) -> float:
        self._work = [(fn, arg) for arg in args]
        self._start.wait()
        self._end.wait()
        if self._errors:
            raise self._errors[0]
        return max(end for _, end in self._spans) - min(start for start, _ in self._spans)

    def close(self) -> None:
        self._work = [None] * len(self._threads)
        self._start.wait()
        for thread in self._threads:
            thread.join()


def check_valid(statuses, expected: int) -> None:
    bad = [s for s in statuses if s.code.name != "VALID"]
    if bad or len(statuses) != expected:
        raise RuntimeError(f"{len(bad)} of {len(statuses)} not VALID, e.g. {bad[:1]}")


def run_batch(batch: int, rounds: int, workdir: str) -> dict:
    """Every row at one batch size; returns {row: {...figures...}}."""
    total_rounds = WARMUP + rounds
    config = MempoolConfig(verified_cache_size=0, journal_fsync="always",
                           capacity_per_user=max(100, total_rounds + 1),
                           journal_compact_min_bytes=1 << 40)
    # Slots: the single-thread rows use accounts [0, batch), the x4 rows [t*batch, (t+1)*batch)
    # per client thread (the validator rows reuse the same accounts; they keep no state).
    accounts = Accounts(CLIENTS * batch)
    rows_txns: dict[str, list] = {}
    for key, _, threads, _ in ROWS:
        # round r: seq r of each account, one list per thread
        rows_txns[key] = [[accounts.signed(t * batch, batch, r) for t in range(threads)]
                          for r in range(total_rounds)]
    validator = Ed25519Validator(config)
    state = [(a, 0, BALANCE) for a in accounts.addresses]
    hub = InProcessNetwork()
    memory_node = SharedMempool(config, hub.endpoint("memory"), InMemoryAccountStore(state),
                                validator=validator)
    store = SqliteAccountStore(os.path.join(workdir, f"accounts-{batch}.db"))
    store.set_accounts(state)
    nosync = config.replace(journal_fsync="never")
    journals = {key: TransactionJournal.from_config(os.path.join(workdir, f"{key}-{batch}.jnl"),
                                                    nosync if key.endswith("nosync") else config)
                for key in ("submit_sqlite_journal_nosync", "submit_sqlite_journal",
                            "submit_sqlite_journal_x4")}
    nodes = {key: SharedMempool(config, hub.endpoint(key), store, validator=validator,
                                journal=journals[key]) for key in journals}
    nodes["submit_memory"] = memory_node
    clients = ClientThreads(CLIENTS)

    def submit_fn(node):
        def submit(txns):
            check_valid(node.submit_transactions(txns), len(txns))
        return submit

    def validate(txns):
        results = validator.validate(txns)
        if any(r is not None for r in results):
            raise RuntimeError("the validator refused a fresh transaction")

    fns = {"validate": validate, "validate_x4": validate}
    for key, node in nodes.items():
        fns[key] = submit_fn(node)
    times: dict[str, list[float]] = {key: [] for key, *_ in ROWS}
    fsyncs_before = {}
    journals_policy = {key: j.fsync_policy for key, j in journals.items()}
    gc.collect()
    gc.freeze()
    try:
        for r in range(total_rounds):
            if r == WARMUP:
                fsyncs_before = {key: j.stats().fsyncs for key, j in journals.items()}
            order = ROWS[r % len(ROWS):] + ROWS[:r % len(ROWS)]
            for key, _, threads, _ in order:
                txns = rows_txns[key][r]
                if threads == 1:
                    t0 = time.perf_counter()
                    fns[key](txns[0])
                    elapsed = time.perf_counter() - t0
                else:
                    elapsed = clients.run(fns[key], txns)
                rows_txns[key][r] = None  # let them go (the pools keep their own)
                if r >= WARMUP:
                    times[key].append(elapsed / (threads * batch))
        fsyncs = {key: j.stats().fsyncs - fsyncs_before[key] for key, j in journals.items()}
    finally:
        clients.close()
        gc.unfreeze()
        for journal in journals.values():
            journal.close()
        store.close()
        validator.close()
    out = {}
    for key, label, threads, ref in ROWS:
        row = {"label": label, "threads": threads, "batch": batch, "rounds": rounds,
               "us_per_txn": statistics.median(times[key]) * 1e6,
               "us_per_txn_min": min(times[key]) * 1e6}
        if ref is not None:
            row["ratio"] = statistics.median(a / b for a, b in zip(times[ref], times[key]))
            row["reference"] = ref
            row["overhead_us_per_txn"] = statistics.median(
                b - a for a, b in zip(times[ref], times[key])) * 1e6
        if key in fsyncs and journals_policy[key] == "always":
            row["fsyncs_per_batch"] = fsyncs[key] / (rounds * threads)
        out[key] = row
    return out


def print_table(info: dict, results: dict) -> None:
    print(f"machine: {info['cpu']}, {info['cpus']} CPUs, Python {info['python']}, "
          f"{info['platform']}")
    print(f"core {info['core']}, transaction {info['transaction']}, validator "
          f"{info['validator']}; store and journals in {info['dir']} ({info['filesystem']})")
    print("fdatasync of 25 kB appended there, median ms (before, between and after the "
          f"batch sizes): {info['fdatasync_ms']}")
    head = f"{'row':<24} {'batch':>6} {'µs/txn':>8} {'min':>8} {'ratio':>6} " \
           f"{'+µs/txn':>8} {'fsyncs/batch':>13}"
    print(head)
    print("-" * len(head))
    for batch, rows in results.items():
        for row in rows.values():
            ratio = f"{row['ratio']:.3f}" if "ratio" in row else ""
            extra = f"{row['overhead_us_per_txn']:.2f}" if "overhead_us_per_txn" in row else ""
            fs = f"{row['fsyncs_per_batch']:.3f}" if "fsyncs_per_batch" in row else ""
            print(f"{row['label']:<24} {batch:>6} {row['us_per_txn']:>8.2f} "
                  f"{row['us_per_txn_min']:>8.2f} {ratio:>6} {extra:>8} {fs:>13}")
    print("ratio: the row's rate over its validator row's (validate, or validate x4 for x4), "
          "median of per-round ratios; +µs/txn: median of per-round (row - validator) µs/txn")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", default="100,2000",
                        help="comma-separated batch sizes (default 100,2000)")
    parser.add_argument("--rounds", type=int, default=0,
                        help="timed rounds per batch size (default max(7, 6000 // batch))")
    parser.add_argument("--dir", default=None,
                        help="where the store and journals go (default: a temporary directory "
                             "under the current directory, removed afterwards)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",") if b]
    workdir = tempfile.mkdtemp(prefix="bench_submit-", dir=args.dir or os.getcwd())
    try:
        info = machine(workdir)
        results = {}
        probes = [fdatasync_probe(workdir)]
        for batch in batches:
            rounds = args.rounds or max(7, 6000 // batch)
            results[batch] = run_batch(batch, rounds, workdir)
            probes.append(fdatasync_probe(workdir))
        info["fdatasync_ms"] = [round(p, 3) for p in probes]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        json.dump({"machine": info, "results": {str(b): r for b, r in results.items()}},
                  sys.stdout, indent=2)
        print()
    else:
        print_table(info, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
