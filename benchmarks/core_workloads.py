"""Both cores side by side on the *unfriendly* workloads that benchmarks/bench_core.py (in-order
arrival, a few transactions per account) does not exercise.

For each size N the script builds the same pool in the pure core (`mempool_fast.pure`) and in the
Cython core (`mempool_fast._core`): the same `SignedTransaction` objects, added in the same order
with the same injected clock values (one `Clock` per pool, fed identical values). It then times
every workload on both cores, run after run (the cores alternate which goes first), and checks
that both return identical results: the same transaction objects (`is`) in the same order, the
same status codes and counts, and the same pool state afterwards (sizes, the whole priority
order, the whole timeline). Timed sections run under `gc.disable()` after a `gc.collect()`, timed
with `time.perf_counter`; everything that prepares or restores a pool is outside them.

Workloads (µs per operation; "the shuffled pool" is N transactions, 10 per account, N/10
accounts, gas prices uniform 1..99 drawn per transaction, db sequence 0, huge balance):

  add_shuffled            add_txn building the shuffled pool from empty, arrival in a random
                          order (many transactions parked first, promoted later); µs per add
  add_in_order            the same transactions, sequence-major order (every account's seq 0,
                          then seq 1, ...): the friendly case, for contrast; µs per add
  get_block_no_seen       get_block(1000, set()) on the shuffled pool (baseline for the next ones)
  get_block_growing_seen  min(20, N/2000) calls of get_block(1000, seen), `seen` growing by each
                          returned block (consensus excluding what it already proposed); µs/call
  get_block_stale_seen    get_block(1000, seen), `seen` = 50k pointers not in the pool: the
                          committed pointers of the `commit` workload (below their accounts'
                          current sequence number) plus unknown accounts; on the pool the commit
                          workload leaves (N - min(10k, N/10) transactions); µs per call
                          (the notes give the same pool's figure with an empty `seen`)
  get_block_in_flight     get_block(1000, seen), `seen` = the first min(10k, N/2) pointers
                          get_block would return (proposed, not committed); µs per call
  get_block_deep          N/100 accounts x 100 transactions (independent prices, in-order
                          arrival), get_block(1000, set()); µs per call
  get_block_wide          N accounts x 1 transaction, the same call, for contrast; µs per call
  read_timeline           read_timeline(cursor, 100) walking the whole timeline; µs per call
  commit                  remove_transaction(sender, 0, False): each of min(10k, N/10) accounts'
                          lowest pending transaction, on a freshly built shuffled pool; µs/call
  gc_system_ttl           gc_by_system_ttl with the clock past the system expiry of exactly the
                          first 10% of arrivals (fresh shuffled pool); µs per removed transaction,
                          and the wall time of the one call in ms (the core lock's hold time)
  gc_expiration           gc_by_expiration_time at the block time that expires ~10% of client
                          expiration times (fresh shuffled pool); the same two figures
  rejected_add            add_txn of the committed transactions again with db sequence = seq + 1
                          (INVALID_SEQ_NUMBER), on the pool the commit workload leaves; µs/call
  duplicate_add           add_txn of min(10k, N) pending transactions again, byte-identical
                          (VALID, nothing changes), on the shuffled pool; µs per call

Each figure is the median over `--repeat` runs (the range is min..max); the ratio is pure ÷
Cython, the median of the per-run ratios. The add figures include the harness loop (setting the
clock, appending the status), a fraction of a µs measured and printed at the top. At 100k the pure
core builds a pool in a few seconds; every pool is built once per size and reused by the
read-only workloads, and the mutating ones get a fresh build per run (untimed).

    python benchmarks/core_workloads.py --sizes 10000 --repeat 1            # quick check
    python benchmarks/core_workloads.py --sizes 10000,100000 --repeat 3 --json /tmp/wl.json
    python benchmarks/core_workloads.py --sizes 100000 --workloads get_block_deep,get_block_wide

Exit status 1 if the cores disagreed anywhere (the table marks the workload), 2 if the Cython core
is not built (`python setup.py build_ext --inplace`).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import math
import os
import platform
import random
import statistics
import sys
import time

from mempool_fast import MempoolAddTransactionStatusCode as Code
from mempool_fast import MempoolConfig, SignedTransaction, TimelineState
from mempool_fast.pure import CoreMempool as PureCore

NOT_READY = TimelineState.NOT_READY
#: The balance of every account: the balance check always passes.
BALANCE = 1 << 62
#: gas_amount of every add_txn (= each transaction's max_gas_amount).
GAS = 10_000
#: Clock of the first arrival, and the spacing of arrivals (seconds).
T0 = 1_700_000_000.0
DT = 0.001
TTL_SECS = 86_400
#: Client expiration times are drawn uniformly from [EXP0, EXP0 + EXP_SPAN).
EXP0 = int(T0) + 1_000_000
EXP_SPAN = 1_000_000
PER_ACCOUNT = 10
DEEP_PER_ACCOUNT = 100
BLOCK = 1_000
#: get_block calls per run of the get_block workloads with a fixed `seen`.
BLOCK_CALLS = 20
GROWING_CALLS = 20
STALE_SEEN = 50_000
IN_FLIGHT = 10_000
COMMITS = 10_000
TIMELINE_BATCH = 100
DUPLICATES = 10_000
GC_SHARE = 0.10
SEED = 20_191_203
#: Address index ranges of the pools' accounts (senders are SHA3-256 of the index).
UNKNOWN_BASE, DEEP_BASE, WIDE_BASE = 1 << 40, 2 << 40, 3 << 40

CORE_NAMES = ("pure", "cython")


def address(index: int) -> bytes:
    return hashlib.sha3_256(index.to_bytes(8, "little")).digest()


def make_txn(sender: bytes, seq: int, price: int, expiration: int) -> SignedTransaction:
    return SignedTransaction(sender=sender, sequence_number=seq, payload=bytes(100),
                             max_gas_amount=GAS, gas_unit_price=price,
                             expiration_time=expiration, public_key=bytes(32),
                             signature=bytes(64))


class Clock:
    """The injected clock: `clock()` returns `now`, set by hand."""

    __slots__ = ("now",)

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Mismatch(Exception):
    """The cores disagreed."""


def same(a, b, where: str = "") -> None:
    """Raise Mismatch unless `a` and `b` are the same objects (transactions: identity) in the same
    structure (lists, tuples; numbers and enums by value)."""
    if isinstance(a, (list, tuple)):
        if not isinstance(b, (list, tuple)) or len(a) != len(b):
            raise Mismatch(f"{where}: length {len(a)} vs "
                           f"{len(b) if isinstance(b, (list, tuple)) else type(b).__name__}")
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{where}[{i}]")
    elif isinstance(a, (int, float, str)):
        if a != b:
            raise Mismatch(f"{where}: {a!r} vs {b!r}")
    elif a is not b:
        raise Mismatch(f"{where}: {a!r} is not {b!r}")


def summary(pool) -> tuple:
    return (len(pool), pool.parking_lot_size(), pool.priority_index_size(),
            pool.timeline_size(), pool.last_timeline_id(), pool.account_count())


def check_same_state(pools: dict, where: str) -> None:
    """Both pools hold the same: sizes, the whole priority order, the whole timeline."""
    views = {}
    for name, pool in pools.items():
        views[name] = (summary(pool), pool.get_block(len(pool) + 1, set()),
                       pool.read_timeline(0, pool.timeline_size() + 1))
    same(views["pure"], views["cython"], f"{where} state")


class Timer:
    """A timed section: collect, then disable the cyclic GC until the end of the block."""

    def __enter__(self):
        gc.collect()
        gc.disable()
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        gc.enable()
        return False


# ---------------------------------------------------------------------------------- pools
class SizeContext:
    """The transactions of one size N and the pools built from them, per core."""

    def __init__(self, n: int, cores: dict) -> None:
        self.n = n
        self.cores = cores
        rng = random.Random(SEED * 1_000_003 + n)
        self.accounts = max(1, n // PER_ACCOUNT)
        self.senders = [address(i) for i in range(self.accounts)]
        # sequence-major: every account's seq 0, then seq 1, ...
        self.in_order = [make_txn(self.senders[a], s, rng.randint(1, 99),
                                  EXP0 + rng.randrange(EXP_SPAN))
                         for s in range(PER_ACCOUNT) for a in range(self.accounts)]
        self.shuffled = list(self.in_order)
        rng.shuffle(self.shuffled)
        self.size = len(self.in_order)
        self.times = [T0 + k * DT for k in range(max(self.size, n))]
        self.config = MempoolConfig(capacity=2 * n + 2 * STALE_SEEN + 1_000,
                                    capacity_per_user=1_000,
                                    system_transaction_timeout_secs=TTL_SECS)
        self.rng = rng
        self._pools: dict = {}
        self._extra: dict = {}
        self._deep = self._wide = None

    def now_after(self, count: int) -> float:
        """The clock after `count` arrivals, before any system TTL."""
        return T0 + count * DT + 1.0

    def build(self, core: str, txns: list) -> tuple:
        """A fresh pool of `txns` (arrival k at clock times[k]); returns (pool, clock, seconds
        of the add_txn loop, statuses)."""
        clock = Clock(T0)
        pool = self.cores[core](self.config, clock=clock)
        add = pool.add_txn
        statuses = []
        append = statuses.append
        with Timer() as timer:
            for txn, now in zip(txns, self.times):
                clock.now = now
                append(add(txn, GAS, 0, BALANCE, NOT_READY))
        clock.now = self.now_after(len(txns))
        bad = [s for s in statuses if s.code != Code.VALID]
        if bad:
            raise RuntimeError(f"{core}: {len(bad)} of {len(txns)} adds rejected, e.g. {bad[0]!r}")
        return pool, clock, timer.seconds, statuses

    def build_pair(self, txns: list, where: str) -> dict:
        pools = {core: self.build(core, txns)[:2] for core in CORE_NAMES}
        check_same_state({c: p for c, (p, _) in pools.items()}, where)
        return pools

    def shared(self, kind: str) -> dict:
        """{core: (pool, clock)} of a pool kept for the read-only workloads."""
        if kind not in self._pools:
            if kind == "shuffled":
                self._pools[kind] = self.build_pair(self.shuffled, "shuffled pool")
            elif kind == "committed":
                pools = self.build_pair(self.shuffled, "shuffled pool")
                for pool, _ in pools.values():
                    self.commit_all(pool)
                check_same_state({c: p for c, (p, _) in pools.items()}, "committed pool")
                self._pools[kind] = pools
            elif kind == "deep":
                self._pools[kind] = self.build_pair(self.deep_txns(), "deep pool")
            elif kind == "wide":
                self._pools[kind] = self.build_pair(self.wide_txns(), "wide pool")
            else:
                raise KeyError(kind)
        return self._pools[kind]

    def keep(self, kind: str, pools: dict) -> None:
        """Keep pools a workload built (e.g. the last add_shuffled run) for later reuse."""
        self._pools.setdefault(kind, pools)

    def drop(self, kind: str) -> None:
        self._pools.pop(kind, None)

    # the commit workload and the pool it leaves
    def commit_pointers(self) -> list:
        return [(sender, 0) for sender in self.senders[:min(COMMITS, self.accounts)]]

    def commit_all(self, pool) -> None:
        remove = pool.remove_transaction
        for sender, seq in self.commit_pointers():
            remove(sender, seq, False)

    def committed_txns(self) -> list:
        """The transactions the commit workload commits (seq 0 of the first accounts)."""
        return self.in_order[:min(COMMITS, self.accounts)]

    def deep_txns(self) -> list:
        if self._deep is None:
            rng = random.Random(SEED + 1 + self.n)
            accounts = max(1, self.n // DEEP_PER_ACCOUNT)
            senders = [address(DEEP_BASE + i) for i in range(accounts)]
            self._deep = [make_txn(senders[a], s, rng.randint(1, 99),
                                   EXP0 + rng.randrange(EXP_SPAN))
                          for s in range(DEEP_PER_ACCOUNT) for a in range(accounts)]
        return self._deep

    def wide_txns(self) -> list:
        if self._wide is None:
            rng = random.Random(SEED + 2 + self.n)
            self._wide = [make_txn(address(WIDE_BASE + i), 0, rng.randint(1, 99),
                                   EXP0 + rng.randrange(EXP_SPAN)) for i in range(self.n)]
        return self._wide


# ---------------------------------------------------------------------------------- runs
class Result:
    """One workload at one size: per-run µs per op of each core, extras, agreement."""

    def __init__(self, workload: str, size: int, unit: str) -> None:
        self.workload = workload
        self.size = size
        self.unit = unit
        self.us = {core: [] for core in CORE_NAMES}
        self.extra: dict = {}
        self.extra_runs: dict = {}  # name -> {core: [per run]}
        self.identical = True
        self.error = ""

    def add_run(self, core: str, seconds: float, ops: int, **extra) -> None:
        self.us[core].append(seconds / max(ops, 1) * 1e6)
        for key, value in extra.items():
            self.extra_runs.setdefault(key, {c: [] for c in CORE_NAMES})[core].append(value)

    def ratios(self) -> list:
        return [p / c if c > 0 else float("inf")
                for p, c in zip(self.us["pure"], self.us["cython"])]

    def median(self, core: str) -> float:
        return statistics.median(self.us[core]) if self.us[core] else float("nan")

    def to_json(self) -> dict:
        ratios = self.ratios()
        return {
            "workload": self.workload, "size": self.size, "unit": self.unit,
            "pure_us": self.us["pure"], "cython_us": self.us["cython"],
            "pure_us_median": self.median("pure"), "cython_us_median": self.median("cython"),
            "ratio": ratios, "ratio_median": statistics.median(ratios) if ratios else None,
            "extra": self.extra, "extra_runs": self.extra_runs,
            "identical": self.identical, "error": self.error,
        }


def core_order(run: int):
    """Alternate which core runs first, so drifting machine load hits both alike."""
    return CORE_NAMES if run % 2 == 0 else CORE_NAMES[::-1]


def runs_of(ctx: SizeContext, result: Result, repeat: int, one_run) -> None:
    """`one_run(core, run) -> (seconds, ops, output, extra)` per core per run; the outputs of
    the two cores must agree."""
    for run in range(repeat):
        outputs = {}
        for core in core_order(run):
            seconds, ops, output, extra = one_run(core, run)
            result.add_run(core, seconds, ops, **extra)
            outputs[core] = output
        same(outputs["pure"], outputs["cython"], f"{result.workload} run {run}")


def timed_calls(fn, calls: int) -> tuple:
    """`calls` calls of fn() (no arguments); (seconds, outputs)."""
    out = []
    append = out.append
    with Timer() as timer:
        for _ in range(calls):
            append(fn())
    return timer.seconds, out


# ---------------------------------------------------------------------------------- workloads
def w_add(ctx: SizeContext, result: Result, repeat: int, txns: list, kind: str) -> None:
    built = {}

    def one_run(core, run):
        pool, clock, seconds, statuses = ctx.build(core, txns)
        built[core] = (pool, clock)
        return seconds, len(txns), [s.code for s in statuses] + [summary(pool)], {}

    runs_of(ctx, result, repeat, one_run)
    check_same_state({c: p for c, (p, _) in built.items()}, f"{result.workload} pool")
    if kind == "shuffled":
        ctx.keep("shuffled", built)
    result.extra["transactions"] = len(txns)


def parked_on_arrival(txns: list) -> int:
    """How many of `txns`, added in this order from empty (db sequence 0), arrive before one of
    their predecessors (so go to the parking lot first)."""
    arrived: dict = {}
    parked = 0
    for txn in txns:
        have = arrived.setdefault(txn.sender, set())
        have.add(txn.sequence_number)
        if any(s not in have for s in range(txn.sequence_number)):
            parked += 1
    return parked


def w_add_shuffled(ctx, result, repeat):
    w_add(ctx, result, repeat, ctx.shuffled, "shuffled")
    result.extra.update(arrival="random shuffle", parked_on_arrival=parked_on_arrival(ctx.shuffled))


def w_add_in_order(ctx, result, repeat):
    w_add(ctx, result, repeat, ctx.in_order, "in_order")
    result.extra["arrival"] = "sequence-major"


def get_block_runs(ctx, result, repeat, kind: str, seen, calls: int) -> None:
    pools = ctx.shared(kind)
    before = {c: summary(p) for c, (p, _) in pools.items()}

    def one_run(core, run):
        get_block = pools[core][0].get_block
        seconds, out = timed_calls(lambda: get_block(BLOCK, seen), calls)
        return seconds, calls, out, {"block_len": len(out[0])}

    runs_of(ctx, result, repeat, one_run)
    for core, (pool, _) in pools.items():
        if summary(pool) != before[core]:
            raise Mismatch(f"{result.workload}: get_block changed the {core} pool")
    result.extra.update(pool_len=before["pure"][0], seen=len(seen), calls=calls)


def w_get_block_no_seen(ctx, result, repeat):
    get_block_runs(ctx, result, repeat, "shuffled", set(), BLOCK_CALLS)


def w_get_block_growing_seen(ctx, result, repeat):
    pools = ctx.shared("shuffled")
    calls = min(GROWING_CALLS, max(1, ctx.n // (2 * BLOCK)))

    def one_run(core, run):
        get_block = pools[core][0].get_block
        seen: set = set()
        blocks = []
        total = 0.0
        gc.collect()
        gc.disable()
        try:
            for _ in range(calls):
                start = time.perf_counter()
                block = get_block(BLOCK, seen)
                total += time.perf_counter() - start
                blocks.append(block)
                seen.update(t.pointer for t in block)  # consensus's side, untimed
        finally:
            gc.enable()
        return total, calls, blocks, {"seen_at_last_call": len(seen) - len(blocks[-1])}

    runs_of(ctx, result, repeat, one_run)
    result.extra.update(pool_len=len(pools["pure"][0]), calls=calls,
                        seen_at_last_call=result.extra_runs["seen_at_last_call"]["pure"][0])


def w_get_block_stale_seen(ctx, result, repeat):
    committed = [t.pointer for t in ctx.committed_txns()]
    unknown = STALE_SEEN - len(committed)
    seen = set(committed)
    seen.update((address(UNKNOWN_BASE + i // PER_ACCOUNT), i % PER_ACCOUNT)
                for i in range(unknown))
    pools = ctx.shared("committed")
    for core, (pool, _) in pools.items():
        if any(p in pool for p in seen):
            raise RuntimeError(f"stale seen set meets the {core} pool")
    get_block_runs(ctx, result, repeat, "committed", seen, BLOCK_CALLS)
    # the same pool with nothing seen: what the stale pointers add on top
    for core, (pool, _) in pools.items():
        for _ in range(repeat):
            seconds, _ = timed_calls(lambda p=pool: p.get_block(BLOCK, set()), BLOCK_CALLS)
            result.extra_runs.setdefault("baseline_us", {c: [] for c in CORE_NAMES})[core].append(
                seconds / BLOCK_CALLS * 1e6)
    result.extra.update(seen_committed=len(committed), seen_unknown_accounts=unknown)


def w_get_block_in_flight(ctx, result, repeat):
    pools = ctx.shared("shuffled")
    count = min(IN_FLIGHT, ctx.n // 2)
    blocks = {c: p.get_block(count, set()) for c, (p, _) in pools.items()}
    same(blocks["pure"], blocks["cython"], "in-flight prefix")
    get_block_runs(ctx, result, repeat, "shuffled", {t.pointer for t in blocks["pure"]},
                   BLOCK_CALLS)


def w_get_block_deep(ctx, result, repeat):
    get_block_runs(ctx, result, repeat, "deep", set(), BLOCK_CALLS)
    result.extra.update(accounts=max(1, ctx.n // DEEP_PER_ACCOUNT), per_account=DEEP_PER_ACCOUNT)
    ctx.drop("deep")


def w_get_block_wide(ctx, result, repeat):
    get_block_runs(ctx, result, repeat, "wide", set(), BLOCK_CALLS)
    result.extra.update(accounts=ctx.n, per_account=1)
    ctx.drop("wide")


def w_read_timeline(ctx, result, repeat):
    pools = ctx.shared("shuffled")
    length = pools["pure"][0].timeline_size()
    calls = length // TIMELINE_BATCH + 1  # the last call finds nothing more

    def one_run(core, run):
        read = pools[core][0].read_timeline
        out = []
        append = out.append
        cursor = 0
        with Timer() as timer:
            for _ in range(calls):
                batch, cursor = read(cursor, TIMELINE_BATCH)
                append(batch)
        if out[-1] or sum(map(len, out)) != length:
            raise RuntimeError(f"{core}: the timeline walk read {sum(map(len, out))} of {length}")
        return timer.seconds, calls, out + [cursor], {}

    runs_of(ctx, result, repeat, one_run)
    result.extra.update(timeline=length, calls=calls)


def w_commit(ctx, result, repeat):
    pointers = ctx.commit_pointers()
    built = {}

    def one_run(core, run):
        pool, clock, _, _ = ctx.build(core, ctx.shuffled)  # untimed: a fresh pool
        remove = pool.remove_transaction
        with Timer() as timer:
            for sender, seq in pointers:
                remove(sender, seq, False)
        built[core] = (pool, clock)
        return timer.seconds, len(pointers), summary(pool), {}

    runs_of(ctx, result, repeat, one_run)
    check_same_state({c: p for c, (p, _) in built.items()}, "after commit")
    ctx.keep("committed", built)
    result.extra.update(calls=len(pointers), pool_len_after=len(built["pure"][0]))


def gc_runs(ctx, result, repeat, run_gc, expected: int) -> None:
    after = {}

    def one_run(core, run):
        pool, clock, _, _ = ctx.build(core, ctx.shuffled)  # untimed: a fresh pool
        with Timer() as timer:
            removed = run_gc(pool, clock)
        clock.now = ctx.now_after(ctx.size)
        after[core] = pool
        return timer.seconds, removed, removed, {"call_ms": timer.seconds * 1e3}

    runs_of(ctx, result, repeat, one_run)
    check_same_state(after, f"after {result.workload}")
    removed = len(ctx.shuffled) - len(after["pure"])
    if removed != expected:
        raise RuntimeError(f"{result.workload}: removed {removed}, expected {expected}")
    result.extra.update(removed=removed, parked_after=after["pure"].parking_lot_size())


def w_gc_system_ttl(ctx, result, repeat):
    cut = int(ctx.size * GC_SHARE)
    now = ctx.times[cut] + TTL_SECS  # arrival k expires at times[k] + TTL (float + int)
    expected = sum(1 for k in range(ctx.size) if ctx.times[k] + TTL_SECS < now)

    def run_gc(pool, clock):
        clock.now = now
        return pool.gc_by_system_ttl()

    gc_runs(ctx, result, repeat, run_gc, expected)


def w_gc_expiration(ctx, result, repeat):
    expirations = sorted(t.expiration_time for t in ctx.shuffled)
    block_time = expirations[int(ctx.size * GC_SHARE)]
    expected = sum(1 for e in expirations if e < block_time)
    gc_runs(ctx, result, repeat, lambda pool, clock: pool.gc_by_expiration_time(block_time),
            expected)


def w_rejected_add(ctx, result, repeat):
    pools = ctx.shared("committed")
    txns = ctx.committed_txns()
    before = {c: summary(p) for c, (p, _) in pools.items()}

    def one_run(core, run):
        add = pools[core][0].add_txn
        with Timer() as timer:
            statuses = [add(t, GAS, t.sequence_number + 1, BALANCE, NOT_READY) for t in txns]
        codes = [s.code for s in statuses]
        if codes.count(Code.INVALID_SEQ_NUMBER) != len(txns):
            raise RuntimeError(f"{core}: not every add rejected as INVALID_SEQ_NUMBER")
        return timer.seconds, len(txns), codes, {}

    runs_of(ctx, result, repeat, one_run)
    for core, (pool, _) in pools.items():
        if summary(pool) != before[core]:
            raise Mismatch(f"rejected_add changed the {core} pool")
    result.extra.update(calls=len(txns), pool_len=before["pure"][0])


def w_duplicate_add(ctx, result, repeat):
    pools = ctx.shared("shuffled")
    txns = random.Random(SEED + 3).sample(ctx.shuffled, min(DUPLICATES, ctx.size))
    before = {c: summary(p) for c, (p, _) in pools.items()}

    def one_run(core, run):
        add = pools[core][0].add_txn
        with Timer() as timer:
            statuses = [add(t, GAS, 0, BALANCE, NOT_READY) for t in txns]
        codes = [s.code for s in statuses]
        if codes.count(Code.VALID) != len(txns):
            raise RuntimeError(f"{core}: a duplicate was not VALID")
        return timer.seconds, len(txns), codes, {}

    runs_of(ctx, result, repeat, one_run)
    for core, (pool, _) in pools.items():
        if summary(pool) != before[core]:
            raise Mismatch(f"duplicate_add changed the {core} pool")
    result.extra.update(calls=len(txns), pool_len=before["pure"][0])


#: name -> (function, unit), in run order: read-only workloads share the pools add_shuffled
#: left; the mutating ones build their own.
WORKLOADS = {
    "add_shuffled": (w_add_shuffled, "add"),
    "add_in_order": (w_add_in_order, "add"),
    "get_block_no_seen": (w_get_block_no_seen, "call"),
    "get_block_growing_seen": (w_get_block_growing_seen, "call"),
    "get_block_in_flight": (w_get_block_in_flight, "call"),
    "read_timeline": (w_read_timeline, "call"),
    "duplicate_add": (w_duplicate_add, "call"),
    "gc_system_ttl": (w_gc_system_ttl, "removed txn"),
    "gc_expiration": (w_gc_expiration, "removed txn"),
    "commit": (w_commit, "call"),
    "get_block_stale_seen": (w_get_block_stale_seen, "call"),
    "rejected_add": (w_rejected_add, "call"),
    "get_block_deep": (w_get_block_deep, "call"),
    "get_block_wide": (w_get_block_wide, "call"),
}


# ---------------------------------------------------------------------------------- output
def machine() -> dict:
    model = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    import mempool_fast._core as core_module
    so = core_module.__file__
    return {"cpu": model, "cpus": os.cpu_count(), "cpus_usable": usable,
            "python": platform.python_version(), "implementation": platform.python_implementation(),
            "platform": platform.platform(), "cython_core": so,
            "cython_core_mtime": time.strftime("%Y-%m-%d %H:%M:%S",
                                               time.localtime(os.path.getmtime(so))),
            "transaction_class": f"{SignedTransaction.__module__}.{SignedTransaction.__name__}"}


def harness_overhead_us(n: int = 200_000) -> float:
    """µs per iteration of the add loop's harness (clock store, call, append) with a no-op add."""
    clock = Clock(T0)
    times = [T0 + k * DT for k in range(n)]
    txns = [None] * n

    def add(txn, gas, db, balance, state):
        return None

    out = []
    append = out.append
    with Timer() as timer:
        for txn, now in zip(txns, times):
            clock.now = now
            append(add(txn, GAS, 0, BALANCE, NOT_READY))
    return timer.seconds / n * 1e6


def fmt_us(value: float) -> str:
    if math.isnan(value):
        return "—"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.1f}"
    if value >= 10:
        return f"{value:.2f}"
    return f"{value:.3f}"


def fmt_range(values: list, fmt=fmt_us) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return fmt(values[0])
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}–{fmt(max(values))})"


def fmt_ratio(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def notes(result: Result) -> str:
    e = result.extra
    parts = []
    if "call_ms" in result.extra_runs:
        ms = result.extra_runs["call_ms"]
        parts.append(f"removed {e['removed']}; call ms pure {fmt_range(ms['pure'])} / "
                     f"cython {fmt_range(ms['cython'])}")
    for key in ("pool_len", "seen", "seen_at_last_call", "calls", "timeline", "accounts"):
        if key in e:
            parts.append(f"{key}={e[key]}")
    if "seen_committed" in e:
        base = result.extra_runs["baseline_us"]
        parts.append(f"committed={e['seen_committed']} unknown={e['seen_unknown_accounts']}; "
                     f"same pool, empty seen: pure {fmt_range(base['pure'])} / "
                     f"cython {fmt_range(base['cython'])} µs")
    if "parked_on_arrival" in e:
        parts.append(f"parked on arrival {e['parked_on_arrival']}")
    if not result.identical:
        parts.append(f"MISMATCH: {result.error}")
    elif result.error:
        parts.append(f"ERROR: {result.error}")
    return "; ".join(parts)


def line(result: Result) -> str:
    return (f"{result.workload:<23} N={result.size:<7} "
            f"pure {fmt_range(result.us['pure']):>12} µs/{result.unit}  "
            f"cython {fmt_range(result.us['cython']):>10} µs/{result.unit}  "
            f"ratio {fmt_range(result.ratios(), fmt_ratio)}  {notes(result)}")


def table(results: list) -> str:
    head = ("workload", "N", "unit", "pure µs/op", "Cython µs/op", "pure÷Cython", "notes")
    rows = [head]
    for r in results:
        rows.append((r.workload, f"{r.size:,}", r.unit, fmt_range(r.us["pure"]),
                     fmt_range(r.us["cython"]), fmt_range(r.ratios(), fmt_ratio), notes(r)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head) - 1)]
    out = []
    for i, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:-1], widths[1:])]
        out.append("  ".join(cells + [row[-1]]))
        if i == 0:
            out.append("  ".join("-" * w for w in widths) + "  -----")
    return "\n".join(out)


def parse_sizes(text: str) -> list:
    sizes = []
    for part in text.split(","):
        part = part.strip().lower().replace("_", "")
        mult = 1
        if part.endswith("k"):
            part, mult = part[:-1], 1_000
        elif part.endswith("m"):
            part, mult = part[:-1], 1_000_000
        size = int(part) * mult
        if size < 2 * PER_ACCOUNT:
            raise argparse.ArgumentTypeError(f"size {size} too small")
        sizes.append(size)
    return sizes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=parse_sizes, default=[10_000, 100_000],
                        help="pool sizes N, comma-separated (default 10000,100000)")
    parser.add_argument("--workloads", default="",
                        help="comma-separated subset of: " + ", ".join(WORKLOADS))
    parser.add_argument("--repeat", type=int, default=3, help="runs per workload (median)")
    parser.add_argument("--json", metavar="FILE", help="write every figure to FILE")
    args = parser.parse_args(argv)
    names = [w.strip() for w in args.workloads.split(",") if w.strip()] or list(WORKLOADS)
    unknown = [w for w in names if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; "
                     f"choose from {', '.join(WORKLOADS)}")
    names = [w for w in WORKLOADS if w in names]  # run order
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    try:
        from mempool_fast._core import CoreMempool as CythonCore
    except ImportError as exc:
        print(f"the Cython core is not built ({exc}): python setup.py build_ext --inplace",
              file=sys.stderr)
        return 2
    cores = {"pure": PureCore, "cython": CythonCore}

    info = machine()
    overhead = harness_overhead_us()
    print(f"machine: {info['cpu']}, {info['cpus']} CPUs ({info['cpus_usable']} usable), "
          f"{info['implementation']} {info['python']}, {info['platform']}")
    print(f"cython core: {info['cython_core']} (built {info['cython_core_mtime']}); "
          f"transactions: {info['transaction_class']}")
    print(f"harness: add loop overhead <= {overhead:.3f} µs/add (included in the add figures); "
          f"repeat {args.repeat}; sizes {', '.join(map(str, args.sizes))}")
    print(flush=True)

    results = []
    failed = False
    started = time.perf_counter()
    for n in args.sizes:
        t = time.perf_counter()
        ctx = SizeContext(n, cores)
        print(f"-- N={n}: {ctx.size} transactions, {ctx.accounts} accounts "
              f"(made in {time.perf_counter() - t:.1f} s)", flush=True)
        for name in names:
            func, unit = WORKLOADS[name]
            result = Result(name, n, unit)
            t = time.perf_counter()
            try:
                func(ctx, result, args.repeat)
            except Mismatch as exc:
                result.identical = False
                result.error = str(exc)[:300]
                failed = True
            except Exception as exc:  # noqa: BLE001 -- report it, go on with the others
                result.error = f"{type(exc).__name__}: {exc}"[:300]
                failed = True
            results.append(result)
            print(f"{line(result)}  [{time.perf_counter() - t:.1f} s]", flush=True)
        del ctx
        gc.collect()
    print(f"\ntotal {time.perf_counter() - started:.0f} s\n")
    print(table(results))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"machine": info, "harness_overhead_us_per_add": overhead,
                       "args": {"sizes": args.sizes, "workloads": names, "repeat": args.repeat},
                       "constants": {"block": BLOCK, "stale_seen": STALE_SEEN,
                                     "in_flight": IN_FLIGHT, "commits": COMMITS,
                                     "timeline_batch": TIMELINE_BATCH, "gc_share": GC_SHARE,
                                     "per_account": PER_ACCOUNT,
                                     "deep_per_account": DEEP_PER_ACCOUNT},
                       "results": [r.to_json() for r in results]}, fh, indent=1)
        print(f"\nwrote {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
