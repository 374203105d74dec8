"""Benchmark fixtures: realistic pools of N pending transactions, on every available core.

A *workload* (the transactions of a pool of N, their arrival times, timeline states and the GC
cut-offs that expire ~10% of them) is generated once per size per session. A *bench pool* is a
core filled with a workload; benchmarks that change it mark the accounts they touched and call
`restore()`, which rebuilds exactly those accounts, so every round measures the same work.
"""

from __future__ import annotations

import bisect
import gc
import random
from dataclasses import dataclass, field

import pytest

from mempool_fast import MempoolConfig, SignedTransaction, TimelineState, _impl
from mempool_fast.types import U64_MAX

#: The core of every implementation the build has (benchmarks run on whatever is built).
CORES = {name: i.core for name, i in _impl.matrix().items()}

#: Clock value (seconds) when the first transaction of a workload arrives.
T0 = 1_700_000_000.0
#: Arrivals spread over this many seconds (a pool filled over an hour).
ARRIVAL_SPAN_SECS = 3_600.0
#: The pool's clock between benchmarks: after every arrival, before any system TTL.
NOW = T0 + ARRIVAL_SPAN_SECS + 1.0
#: Client expiration time = arrival + a TTL drawn from this range (seconds).
CLIENT_TTL_RANGE = (60, 3_600)
PAYLOAD_BYTES = 100
#: The core never checks signatures.
DUMMY_SIGNATURE = bytes(64)
#: Transactions per account are drawn from 1..this.
MAX_TXNS_PER_ACCOUNT = 7
#: Share of accounts with a missing sequence number (their later transactions are parked).
GAP_ACCOUNT_SHARE = 0.05
#: Share of accounts submitted locally (NOT_READY, enter the timeline); the rest come from peers.
LOCAL_ACCOUNT_SHARE = 0.5
#: Share of the pool each GC benchmark removes.
GC_SHARE = 0.10
#: Fresh accounts (not in the pool) whose transactions the add benchmarks insert.
FRESH_ACCOUNTS = 2_000
BALANCE = 1 << 62
SEED = 20191203


def _gas_price(rng: random.Random) -> int:
    """Skewed price spread: most near the median (~20), a long tail of generous payers."""
    return min(int(rng.lognormvariate(3.0, 1.0)) + 1, 10_000)


def _txn(rng: random.Random, sender: bytes, public_key: bytes, seq: int,
         expiration_time: int) -> SignedTransaction:
    return SignedTransaction(
        sender=sender, sequence_number=seq, payload=rng.randbytes(PAYLOAD_BYTES),
        max_gas_amount=rng.choice((1_000, 10_000, 100_000)), gas_unit_price=_gas_price(rng),
        expiration_time=expiration_time, public_key=public_key, signature=DUMMY_SIGNATURE)


@dataclass
class Workload:
    """The transactions of a pool of `size`, in insertion order, with what rebuilding needs."""

    size: int
    txns: list  # SignedTransaction, insertion (= arrival) order
    arrival: list  # seconds after T0, increasing
    states: list  # TimelineState per transaction (per account)
    by_sender: dict  # sender -> indexes into txns, in sequence-number order
    fresh_ready: list  # seq-0 transactions of accounts not in the pool
    fresh_parked: list  # seq-1 transactions of accounts not in the pool (seq 0 missing)
    system_gc_now: float  # clock at which the first ~10% (by arrival) are past their system TTL
    system_gc_removed: int
    system_gc_senders: frozenset
    expiration_gc_block_time: int  # transactions expiring strictly before this go
    expiration_gc_removed: int
    expiration_gc_senders: frozenset
    config: MempoolConfig = field(repr=False, default=None)


def make_workload(size: int, seed: int = SEED) -> Workload:
    """Generate `size` pending transactions: many accounts, a few transactions each."""
    rng = random.Random(seed * 1_000_003 + size)
    rows = []  # (arrival, txn, state)
    while len(rows) < size:
        count = min(rng.randint(1, MAX_TXNS_PER_ACCOUNT), size - len(rows))
        sender, public_key = rng.randbytes(32), rng.randbytes(32)
        state = (TimelineState.NOT_READY if rng.random() < LOCAL_ACCOUNT_SHARE
                 else TimelineState.NON_QUALIFIED)
        seqs = list(range(count))
        if count >= 2 and rng.random() < GAP_ACCOUNT_SHARE:
            seqs = [0] + [s + 1 for s in seqs[1:]]
        arrival = rng.uniform(0.0, ARRIVAL_SPAN_SECS * 0.9)
        for seq in seqs:
            expiration = int(T0 + arrival) + rng.randint(*CLIENT_TTL_RANGE)
            rows.append((arrival, _txn(rng, sender, public_key, seq, expiration), state))
            arrival += rng.uniform(0.0, ARRIVAL_SPAN_SECS * 0.1 / MAX_TXNS_PER_ACCOUNT)
    rows.sort(key=lambda row: row[0])
    arrival = [row[0] for row in rows]
    txns = [row[1] for row in rows]
    states = [row[2] for row in rows]
    by_sender: dict[bytes, list[int]] = {}
    for i, txn in enumerate(txns):
        by_sender.setdefault(txn.sender, []).append(i)

    # headroom: the seq-number cache (LRU bounded by capacity) must never evict pool accounts
    config = MempoolConfig(capacity=2 * size + 2 * FRESH_ACCOUNTS)
    ttl = config.system_transaction_timeout_secs
    cut = int(size * GC_SHARE)
    # the same float expressions as the pool's expiry, clock() + ttl with clock() = T0 + arrival
    system_gc_now = (T0 + arrival[cut]) + ttl
    system_removed = bisect.bisect_left([(T0 + a) + ttl for a in arrival], system_gc_now)
    expirations = sorted(t.expiration_time for t in txns)
    block_time = expirations[cut]
    exp_removed = bisect.bisect_left(expirations, block_time)

    fresh_ready, fresh_parked = [], []
    for _ in range(FRESH_ACCOUNTS):
        sender, public_key = rng.randbytes(32), rng.randbytes(32)
        expiration = int(NOW) + CLIENT_TTL_RANGE[1]
        fresh_ready.append(_txn(rng, sender, public_key, 0, expiration))
        fresh_parked.append(_txn(rng, sender, public_key, 1, expiration))

    return Workload(
        size=size, txns=txns, arrival=arrival, states=states, by_sender=by_sender,
        fresh_ready=fresh_ready, fresh_parked=fresh_parked,
        system_gc_now=system_gc_now, system_gc_removed=system_removed,
        system_gc_senders=frozenset(t.sender for t in txns[:system_removed]),
        expiration_gc_block_time=block_time, expiration_gc_removed=exp_removed,
        expiration_gc_senders=frozenset(t.sender for t in txns if t.expiration_time < block_time),
        config=config,
    )


class BenchClock:
    """The injected clock of a bench pool: `clock()` returns `now`, set by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class BenchPool:
    """A core filled with a workload, and the means to undo what a benchmark did to it."""

    #: Every account's balance: the balance check always passes.
    balance = BALANCE

    def __init__(self, core_name: str, workload: Workload) -> None:
        self.core_name = core_name
        self.workload = workload
        self.clock = BenchClock(T0)
        self.pool = CORES[core_name](workload.config, clock=self.clock)
        self._dirty: set[bytes] = set()
        for i in range(workload.size):
            self._add(i)
        self.clock.now = NOW
        if len(self.pool) != workload.size:
            raise RuntimeError(f"{core_name} pool holds {len(self.pool)}, not {workload.size}")

    def _add(self, i: int) -> None:
        w = self.workload
        txn = w.txns[i]
        self.clock.now = T0 + w.arrival[i]
        status = self.pool.add_txn(txn, txn.max_gas_amount, 0, BALANCE, w.states[i])
        if status.code:
            raise RuntimeError(f"workload transaction {i} rejected: {status!r}")

    def add_fresh(self, txns, state=TimelineState.NOT_READY) -> list:
        """Insert transactions of fresh accounts (restore() takes them out again)."""
        add = self.pool.add_txn
        self._dirty.update(t.sender for t in txns)
        return [add(t, t.max_gas_amount, 0, BALANCE, state) for t in txns]

    def mark_dirty(self, senders) -> None:
        """Accounts a benchmark changed: restore() rebuilds them."""
        self._dirty.update(senders)

    def restore(self) -> None:
        """Reject every dirty account, re-add its workload transactions at their arrival times."""
        if not self._dirty:
            return
        remove = self.pool.remove_transaction
        by_sender = self.workload.by_sender
        indexes = []
        for sender in self._dirty:
            remove(sender, U64_MAX, True)
            indexes.extend(by_sender.get(sender, ()))
        self._dirty.clear()
        indexes.sort()
        for i in indexes:
            self._add(i)
        self.clock.now = NOW
        if len(self.pool) != self.workload.size:
            raise RuntimeError(f"restore left {len(self.pool)} transactions, "
                               f"not {self.workload.size}")


class WorkloadCache:
    """Workloads by size, generated on first use and kept for the session."""

    def __init__(self) -> None:
        self._by_size: dict[int, Workload] = {}

    def get(self, size: int) -> Workload:
        workload = self._by_size.get(size)
        if workload is None:
            workload = self._by_size[size] = make_workload(size)
        return workload


SIZES = [
    pytest.param(10_000, id="10k"),
    pytest.param(100_000, id="100k"),
    pytest.param(1_000_000, id="1M", marks=pytest.mark.slow),
]


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "slow: 1M-transaction benchmarks (deselect: -m 'not slow')")


class SizePools:
    """The bench pools of one size, one per core, built on first use and kept while the size
    is current, so both cores' rounds of an operation run back to back (same machine load)."""

    def __init__(self, workload: Workload) -> None:
        self.workload = workload
        self._by_core: dict[str, BenchPool] = {}

    def get(self, core_name: str) -> BenchPool:
        bench = self._by_core.get(core_name)
        if bench is None:
            bench = self._by_core[core_name] = BenchPool(core_name, self.workload)
            # long-lived pool objects leave the cyclic GC: full collections over millions of
            # them would otherwise land in random rounds
            gc.collect()
            gc.freeze()
        return bench


@pytest.fixture(scope="session")
def workload_cache() -> WorkloadCache:
    return WorkloadCache()


@pytest.fixture(scope="session", params=SIZES)
def size(request) -> int:
    """Pending transactions in the pool."""
    return request.param


@pytest.fixture(scope="session")
def size_pools(size, workload_cache):
    """Both cores' pools of the current size; dropped when the size changes."""
    pools = SizePools(workload_cache.get(size))
    yield pools
    gc.unfreeze()


@pytest.fixture(params=sorted(CORES))
def core_name(request) -> str:
    """Each available core: "python" (pure) and, once built, "cython"."""
    return request.param


@pytest.fixture
def bench_pool(size_pools, core_name) -> BenchPool:
    """A pool of `size` pending transactions on `core_name`, as every benchmark leaves it."""
    return size_pools.get(core_name)
