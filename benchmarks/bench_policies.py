"""What the MempoolConfig policies (docs/design.md §4 "Policies") cost the core operations:
each policy on, and all of them on, against the default config, on both cores, in one run.

    python benchmarks/bench_policies.py                          # 10k pending, 15 rounds
    python benchmarks/bench_policies.py --sizes 10000,100000 --rounds 21 --json /tmp/pol.json
    python benchmarks/bench_policies.py --baseline /tmp/base     # + the default config of an
                                                                 #   older tree ("off": free?)

Rows (MempoolConfig over benchmarks/conftest.py's workload config):

  default       every policy at its default (Libra's rules)
  control       the default config again, in a pool of its own: what two identical pools
                differ by (memory layout, hash order), the noise floor of every other ratio
  eager         eager expiry on (threshold 10^9 ms: the check and the age index run, but the
                backlog never qualifies, so GC removes what `default` removes)
  lowest_price  eviction_policy "lowest_price", local transactions protected (the tails index;
                the pool is never full, so nothing is evicted: the same work as `default`)
  buckets       Aptos's ten broadcast buckets (0, 150, ..., 1,000,000): the outbound read is
                `read_timeline_buckets(cursors, 100)` instead of `read_timeline(cursor, 100)`
  all           all of the above, replacement_price_bump_percent=10 and a get_block max_bytes
                that never binds (1 GiB)

Operations, as benchmarks/bench_core.py measures them (the pools are those of
benchmarks/conftest.py, restored after every call that changes them): add_txn of 100 fresh
ready or parked transactions, get_block(1000), the outbound read of 100 transactions from a
cursor a quarter into the timeline, the commit of a 1000-transaction block, gc_by_system_ttl and
gc_by_expiration_time of 10% of the pool.

Interleaved: every round runs each operation `--reps` times (the fastest counts: the first
warms the row's pool after the other rows ran) on every row's pool, the rows in an order that
rotates, the cores back to back, so machine drift hits every row alike; two warm-up rounds are
not counted. The figure is the median over rounds of each round's ratio row ÷ default (of the
same core, size and round).
Exit status 1 if any ratio of `all` exceeds 1 + `--limit` (10 %) by more than the `control`
row's distance from 1 on the same operation (a ratio inside the noise floor is no cost).

With `--baseline DIR` (a source tree of an older revision, its extensions built: e.g.
`git archive REV | tar -x -C DIR && (cd DIR && python setup.py build_ext --inplace)`), every
round also runs the default config of this tree and of DIR in two subprocesses (in a rotating
order), each timing every operation `--baseline-reps` times (the fastest counts): the median
ratio this ÷ DIR says what the policies cost when off (they should cost nothing).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent

#: Transactions per block (get_block and commit) and per timeline read, as bench_core.
BLOCK = 1_000
TIMELINE_BATCH = 100
ADD_BATCH = 100
#: Outbound reads per timing (one is too short to time alone); the figure is per read.
READS_PER_CALL = 100
#: Untimed rounds first (caches, allocators, the interpreter's specialisation).
WARMUP_ROUNDS = 2
#: Aptos's default broadcast buckets (gas-price lower bounds).
APTOS_BUCKETS = (0, 150, 300, 500, 1_000, 3_000, 5_000, 10_000, 100_000, 1_000_000)
#: An eager-expiry threshold no wait in the workload reaches (the check runs, never sheds).
NEVER_MS = 10 ** 9
#: get_block's byte budget in the `all` row: never binding.
ONE_GIB = 1 << 30
OPERATIONS = ("add_ready", "add_parked", "get_block", "outbound_read", "commit_block",
              "gc_system_ttl", "gc_expiration")
ROWS = {
    "default": {},
    "control": {},
    "eager": dict(eager_expire_threshold_ms=NEVER_MS, eager_expire_time_ms=6_000),
    "lowest_price": dict(eviction_policy="lowest_price"),
    "buckets": dict(broadcast_buckets=APTOS_BUCKETS),
    "all": dict(eager_expire_threshold_ms=NEVER_MS, eager_expire_time_ms=6_000,
                eviction_policy="lowest_price", broadcast_buckets=APTOS_BUCKETS,
                replacement_price_bump_percent=10),
}


class Runner:
    """One bench pool (a core filled with the workload, under one row's config) and its
    operations, each a callable timing one call (setup and restore untimed)."""

    def __init__(self, bench: Any, fields: dict[str, Any], max_bytes: int | None) -> None:
        self.bench = bench
        self.pool = bench.pool
        self.buckets = len(fields.get("broadcast_buckets", (0,)))
        self.max_bytes = max_bytes
        size = bench.workload.size
        self._fresh = {"add_ready": bench.workload.fresh_ready,
                       "add_parked": bench.workload.fresh_parked}
        self._next = {"add_ready": 0, "add_parked": 0}
        self._quarter = size // 4

    def run(self, op: str) -> float:
        return getattr(self, "_" + op)()

    def _adds(self, op: str) -> float:
        fresh = self._fresh[op]
        start = self._next[op]
        self._next[op] = (start + ADD_BATCH) % (len(fresh) - ADD_BATCH + 1)
        batch = fresh[start:start + ADD_BATCH]
        self.bench.mark_dirty(t.sender for t in batch)
        add, balance, state = self.pool.add_txn, self.bench.balance, _NOT_READY
        t0 = time.perf_counter()
        for t in batch:
            add(t, t.max_gas_amount, 0, balance, state)
        elapsed = time.perf_counter() - t0
        self.bench.restore()
        return elapsed

    def _add_ready(self) -> float:
        return self._adds("add_ready")

    def _add_parked(self) -> float:
        return self._adds("add_parked")

    def _get_block(self) -> float:
        pool, seen = self.pool, set()
        t0 = time.perf_counter()
        if self.max_bytes is None:
            pool.get_block(BLOCK, seen)
        else:
            pool.get_block(BLOCK, seen, self.max_bytes)
        return time.perf_counter() - t0

    def _outbound_read(self) -> float:
        # the cursor a quarter into the timeline as it is now (restores re-add transactions
        # at its end): a peer that far behind
        pool = self.pool
        if self.buckets == 1:
            _, cursor = pool.read_timeline(0, self._quarter)
        else:
            _, cursor = pool.read_timeline_buckets((0,) * self.buckets, self._quarter)
        t0 = time.perf_counter()
        if self.buckets == 1:
            for _ in range(READS_PER_CALL):
                pool.read_timeline(cursor, TIMELINE_BATCH)
        else:
            for _ in range(READS_PER_CALL):
                pool.read_timeline_buckets(cursor, TIMELINE_BATCH)
        return (time.perf_counter() - t0) / READS_PER_CALL

    def _commit_block(self) -> float:
        pointers = [t.pointer for t in self.pool.get_block(BLOCK, set())]
        self.bench.mark_dirty(sender for sender, _ in pointers)
        remove = self.pool.remove_transaction
        t0 = time.perf_counter()
        for sender, seq in pointers:
            remove(sender, seq, False)
        elapsed = time.perf_counter() - t0
        self.bench.restore()
        return elapsed

    def _gc_system_ttl(self) -> float:
        w = self.bench.workload
        self.bench.mark_dirty(w.system_gc_senders)
        self.bench.clock.now = w.system_gc_now
        t0 = time.perf_counter()
        removed = self.pool.gc_by_system_ttl()
        elapsed = time.perf_counter() - t0
        assert removed == w.system_gc_removed, (removed, w.system_gc_removed)
        self.bench.restore()
        return elapsed

    def _gc_expiration(self) -> float:
        w = self.bench.workload
        self.bench.mark_dirty(w.expiration_gc_senders)
        t0 = time.perf_counter()
        removed = self.pool.gc_by_expiration_time(w.expiration_gc_block_time)
        elapsed = time.perf_counter() - t0
        assert removed == w.expiration_gc_removed, (removed, w.expiration_gc_removed)
        self.bench.restore()
        return elapsed


_NOT_READY: Any = None


def _setup_imports(tree: str | None) -> Any:
    """Import the package (from `tree` when given) and benchmarks/conftest.py; return conftest."""
    global _NOT_READY
    if tree is not None:
        sys.path.insert(0, tree)
    sys.path.insert(1 if tree is not None else 0, str(HERE))
    import conftest  # noqa: E402  (benchmarks/conftest.py: the workload and the bench pools)
    from mempool_fast import TimelineState

    _NOT_READY = TimelineState.NOT_READY
    return conftest


def _pool(conftest: Any, workload: Any, core: str, fields: dict[str, Any]) -> Any:
    config = workload.config.replace(**fields) if fields else workload.config
    return conftest.BenchPool(core, replace(workload, config=config))


def _median_ratio(row: list[float], base: list[float]) -> float:
    return statistics.median(a / b for a, b in zip(row, base))


# ------------------------------------------------------------------ the baseline's worker
def worker(tree: str | None, sizes: list[int], reps: int, only: list[str] | None) -> None:
    """Time every operation `reps` times on the default config (of `tree` when given); print
    {size: {core: {op: median seconds}}} as JSON."""
    conftest = _setup_imports(tree)
    out: dict[str, Any] = {}
    for size in sizes:
        workload = conftest.make_workload(size)
        out[str(size)] = {}
        for core in sorted(conftest.CORES):
            if only is not None and core not in only:
                continue
            runner = Runner(_pool(conftest, workload, core, {}), {}, None)
            gc.collect()
            gc.freeze()
            for _ in range(WARMUP_ROUNDS):
                for op in OPERATIONS:
                    runner.run(op)
            out[str(size)][core] = {op: min(runner.run(op) for _ in range(reps))
                                    for op in OPERATIONS}
            gc.unfreeze()
    print(json.dumps(out))


def _baseline_round(tree: str, sizes: list[int], reps: int,
                    only: list[str] | None) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--sizes",
           ",".join(map(str, sizes)), "--baseline-reps", str(reps)]
    if only is not None:
        cmd += ["--cores", ",".join(only)]
    if tree != "-":
        cmd += ["--tree", tree]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    cwd = tree if tree != "-" else str(HERE.parent)
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env, cwd=cwd)
    return json.loads(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ the run
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--reps", type=int, default=3,
                        help="calls per operation, row and round; the fastest counts (the "
                             "first warms the row's pool after the other rows ran)")
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--cores", help="a comma-separated subset of the built cores")
    parser.add_argument("--limit", type=float, default=0.10)
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--baseline", help="a source tree of an older revision, built")
    parser.add_argument("--baseline-reps", type=int, default=5)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tree", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    only = args.cores.split(",") if args.cores else None
    if args.worker:
        worker(args.tree, sizes, args.baseline_reps, only)
        return 0
    rows = args.rows.split(",")
    if "default" not in rows:
        rows.insert(0, "default")
    conftest = _setup_imports(None)
    from mempool_fast import IMPLEMENTATION  # noqa: F401  (the build in use)

    cores = [c for c in sorted(conftest.CORES) if only is None or c in only]
    times: dict[tuple[int, str, str, str], list[float]] = {}
    for size in sizes:
        workload = conftest.make_workload(size)
        runners: dict[tuple[str, str], Runner] = {}
        for row in rows:
            fields = ROWS[row]
            for core in cores:
                runners[(row, core)] = Runner(_pool(conftest, workload, core, fields), fields,
                                              ONE_GIB if row == "all" else None)
        gc.collect()
        gc.freeze()
        for r in range(WARMUP_ROUNDS + args.rounds):
            order = rows[r % len(rows):] + rows[:r % len(rows)]
            for op in OPERATIONS:
                for core in cores:
                    for row in order:
                        runner = runners[(row, core)]
                        best = min(runner.run(op) for _ in range(args.reps))
                        if r >= WARMUP_ROUNDS:
                            times.setdefault((size, core, op, row), []).append(best)
        gc.unfreeze()
        del runners
        gc.collect()

    baseline: dict[str, list[dict[str, Any]]] = {"this": [], "base": []}
    if args.baseline:
        for r in range(args.rounds):
            pair = [("this", "-"), ("base", args.baseline)]
            for name, tree in (pair if r % 2 == 0 else pair[::-1]):
                baseline[name].append(_baseline_round(tree, sizes, args.baseline_reps, only))

    worst = 0.0  # of `all`, less the control's excess on the same operation
    figures: dict[str, Any] = {}
    print(f"policies: median µs per call and median ratio to `default` over {args.rounds} "
          f"interleaved rounds")
    header = f"{'operation':<14} {'size':>7} {'core':<7} {'default µs':>11}" + "".join(
        f" {row:>13}" for row in rows if row != "default")
    print(header)
    for size in sizes:
        for op in OPERATIONS:
            for core in cores:
                base = times[(size, core, op, "default")]
                line = f"{op:<14} {size:>7} {core:<7} {statistics.median(base) * 1e6:>11.2f}"
                for row in rows:
                    if row == "default":
                        continue
                    ratio = _median_ratio(times[(size, core, op, row)], base)
                    figures[f"{op}/{size}/{core}/{row}"] = ratio
                    if row == "all":
                        noise = abs(_median_ratio(times[(size, core, op, "control")], base) - 1) \
                            if "control" in rows else 0.0
                        worst = max(worst, ratio - noise)
                    line += f" {ratio:>12.3f}×"
                print(line)
    if args.baseline:
        print(f"\nthe default config, this tree ÷ {args.baseline} (policies off), "
              f"median over {args.rounds} rounds:")
        for size in sizes:
            for op in OPERATIONS:
                for core in cores:
                    this = [b[str(size)][core][op] for b in baseline["this"]]
                    old = [b[str(size)][core][op] for b in baseline["base"]]
                    if core not in baseline["base"][0][str(size)]:
                        continue
                    ratio = _median_ratio(this, old)
                    figures[f"{op}/{size}/{core}/off_vs_baseline"] = ratio
                    print(f"{op:<14} {size:>7} {core:<7} {statistics.median(old) * 1e6:>11.2f}"
                          f" µs -> {statistics.median(this) * 1e6:>11.2f} µs {ratio:>8.3f}×")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1, sort_keys=True))
    if "all" in rows:
        print(f"\nworst `all` ÷ `default`, less the control's distance from 1: {worst:.3f}× "
              f"(limit {1 + args.limit:.2f}×)")
        if worst > 1 + args.limit:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
