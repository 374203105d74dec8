"""Core mempool benchmarks: every operation at 10k, 100k (and, slow, 1M) pending
transactions, on the pure and the Cython core in one run.

Each benchmark records extra_info {operation, size, core, calls_per_round, op_index} so
benchmarks/table.py can pair the cores per (operation, size). Operations that change the pool
restore it in their setup (outside the timing), so every round does the same work.

Run (the file must be named explicitly; see benchmarks/README.md):
    python -m pytest benchmarks/bench_core.py --benchmark-enable -m "not slow" \
        --benchmark-json=/tmp/core.json -q && python benchmarks/table.py /tmp/core.json
"""

from __future__ import annotations

import itertools

from mempool_fast import MempoolAddTransactionStatusCode as Code
from mempool_fast import TimelineState

NOT_READY = TimelineState.NOT_READY

#: Transactions per block (get_block and commit).
BLOCK = 1_000
#: Pointers in the "large seen set" (the best-priority ones, as in-flight blocks would hold).
SEEN = 5_000
#: Transactions per timeline read.
TIMELINE_BATCH = 100
#: add_txn calls per round (one call is too short to time on its own).
ADD_BATCH = 100

#: (key, label) in table order.
OPERATIONS = [
    ("add_ready", "add_txn (ready)"),
    ("add_parked", "add_txn (parked)"),
    ("get_block", f"get_block({BLOCK})"),
    ("get_block_seen", f"get_block({BLOCK}), {SEEN // 1000}k seen"),
    ("read_timeline", f"read_timeline(cursor, {TIMELINE_BATCH})"),
    ("commit_block", f"commit block of {BLOCK}"),
    ("gc_system_ttl", "gc_by_system_ttl (10%)"),
    ("gc_expiration", "gc_by_expiration_time (10%)"),
]
_LABELS = dict(OPERATIONS)
_INDEX = {key: i for i, (key, _) in enumerate(OPERATIONS)}

#: Measured rounds per operation at 10k / 100k / 1M.
ROUNDS = {
    "add_ready": (200, 200, 100),
    "add_parked": (200, 200, 100),
    "get_block": (50, 30, 15),
    "get_block_seen": (50, 30, 15),
    "read_timeline": (1_000, 1_000, 500),
    "commit_block": (30, 20, 10),
    "gc_system_ttl": (15, 7, 5),
    "gc_expiration": (15, 7, 5),
}
_SIZE_INDEX = {10_000: 0, 100_000: 1, 1_000_000: 2}


def _run(benchmark, bench, op: str, target, *, setup=None, calls: int = 1, warmup: int = 1,
         items: int | None = None, check_last=None):
    """Time `target` with pedantic rounds, label it for the table, and restore the pool after
    (`check_last()` first inspects the pool as the last round left it). `items`: transactions
    one call handles, when it grows with the pool (GC), so the table can compare cost per item."""
    size = bench.workload.size
    benchmark.group = f"{_LABELS[op]} @ {size}"
    benchmark.extra_info.update(operation=_LABELS[op], op_index=_INDEX[op], size=size,
                                core=bench.core_name, calls_per_round=calls)
    if items is not None:
        benchmark.extra_info["items_per_call"] = items
    rounds = ROUNDS[op][_SIZE_INDEX.get(size, 2)]
    try:
        result = benchmark.pedantic(target, setup=setup, rounds=rounds, warmup_rounds=warmup)
        if check_last is not None:
            check_last()
        return result
    finally:
        bench.restore()


def _add_benchmark(benchmark, bench, op: str, fresh: list):
    """ADD_BATCH add_txn calls of fresh accounts per round; the setup rejects the last batch."""
    pool = bench.pool
    batches = itertools.cycle(range(0, len(fresh) - ADD_BATCH + 1, ADD_BATCH))
    balance = bench.balance

    def setup():
        bench.restore()
        start = next(batches)
        batch = fresh[start:start + ADD_BATCH]
        bench.mark_dirty(t.sender for t in batch)
        return (batch,), {}

    def add_all(batch):
        add = pool.add_txn
        return [add(t, t.max_gas_amount, 0, balance, NOT_READY) for t in batch]

    statuses = _run(benchmark, bench, op, add_all, setup=setup, calls=ADD_BATCH, warmup=5)
    assert [s.code for s in statuses] == [Code.VALID] * ADD_BATCH
    return statuses


def _check_one_add(bench, txn, parked_delta: int) -> None:
    """The pool is back to its size, and one more add of `txn` parks it or not as expected."""
    pool = bench.pool
    assert len(pool) == bench.workload.size
    parked = pool.parking_lot_size()
    [status] = bench.add_fresh([txn])
    assert status.code == Code.VALID
    assert len(pool) == bench.workload.size + 1
    assert pool.parking_lot_size() == parked + parked_delta
    bench.restore()


def test_add_txn_ready(benchmark, bench_pool):
    """A fresh account's sequence number 0: ready at once (priority index + timeline)."""
    fresh = bench_pool.workload.fresh_ready
    _add_benchmark(benchmark, bench_pool, "add_ready", fresh)
    _check_one_add(bench_pool, fresh[0], parked_delta=0)


def test_add_txn_parked(benchmark, bench_pool):
    """A fresh account's sequence number 1 with 0 missing: into the parking lot."""
    fresh = bench_pool.workload.fresh_parked
    _add_benchmark(benchmark, bench_pool, "add_parked", fresh)
    _check_one_add(bench_pool, fresh[0], parked_delta=1)


def test_get_block(benchmark, bench_pool):
    """get_block(1000) with nothing seen."""
    pool = bench_pool.pool
    block = _run(benchmark, bench_pool, "get_block", lambda: pool.get_block(BLOCK, set()))
    assert len(block) == BLOCK


def test_get_block_large_seen(benchmark, bench_pool):
    """get_block(1000) skipping the SEEN best-priority pointers (blocks already in flight)."""
    pool = bench_pool.pool
    seen = {t.pointer for t in pool.get_block(SEEN, set())}
    assert len(seen) == SEEN
    block = _run(benchmark, bench_pool, "get_block_seen", lambda: pool.get_block(BLOCK, seen))
    assert len(block) == BLOCK and not {t.pointer for t in block} & seen


def test_read_timeline(benchmark, bench_pool):
    """read_timeline from a cursor in the middle of the timeline, 100 transactions."""
    pool = bench_pool.pool
    _, cursor = pool.read_timeline(0, bench_pool.workload.size // 4)
    batch, last = _run(benchmark, bench_pool, "read_timeline",
                       lambda: pool.read_timeline(cursor, TIMELINE_BATCH), warmup=20)
    assert len(batch) == TIMELINE_BATCH and last > cursor


def test_commit_block(benchmark, bench_pool):
    """remove_transaction(committed) for each transaction of a 1000-transaction block."""
    pool = bench_pool.pool

    def setup():
        bench_pool.restore()
        pointers = [t.pointer for t in pool.get_block(BLOCK, set())]
        bench_pool.mark_dirty(sender for sender, _ in pointers)
        return (pointers,), {}

    def commit(pointers):
        remove = pool.remove_transaction
        for sender, seq in pointers:
            remove(sender, seq, False)

    size = bench_pool.workload.size

    def check_last():
        assert len(pool) == size - BLOCK

    _run(benchmark, bench_pool, "commit_block", commit, setup=setup, check_last=check_last)
    assert len(pool) == size


def test_gc_by_system_ttl(benchmark, bench_pool):
    """gc_by_system_ttl with the clock set so the oldest 10% are past their system TTL."""
    pool = bench_pool.pool
    w = bench_pool.workload

    def setup():
        bench_pool.restore()
        bench_pool.mark_dirty(w.system_gc_senders)
        bench_pool.clock.now = w.system_gc_now

    removed = _run(benchmark, bench_pool, "gc_system_ttl", pool.gc_by_system_ttl, setup=setup,
                   items=w.system_gc_removed)
    assert removed == w.system_gc_removed
    assert abs(removed - w.size * 0.1) <= w.size * 0.01


def test_gc_by_expiration_time(benchmark, bench_pool):
    """gc_by_expiration_time at the block time that expires ~10% of client expiration times."""
    pool = bench_pool.pool
    w = bench_pool.workload

    def setup():
        bench_pool.restore()
        bench_pool.mark_dirty(w.expiration_gc_senders)
        return (w.expiration_gc_block_time,), {}

    removed = _run(benchmark, bench_pool, "gc_expiration", pool.gc_by_expiration_time,
                   setup=setup, items=w.expiration_gc_removed)
    assert removed == w.expiration_gc_removed
    assert abs(removed - w.size * 0.1) <= w.size * 0.01
