"""Invariants of every core after random operation sequences (hypothesis), and core agreement."""

from __future__ import annotations

import nacl.signing
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from mempool_fast import MempoolConfig, SignedTransaction, TimelineState
from mempool_fast import pure
from mempool_fast.types import MempoolAddTransactionStatusCode as Code

try:
    from mempool_fast._core import CoreMempool as _CythonCore
except ImportError:
    _CythonCore = None

N_ACCOUNTS = 4
N_SEQ = 8
EXPIRATIONS = (4_000_000_000, 150)  # far future, and one gc_by_expiration_time can reach
PAYLOADS = (b"", b"x")
UNCHANGED_ON = {Code.INSUFFICIENT_BALANCE, Code.INVALID_SEQ_NUMBER, Code.INVALID_UPDATE,
                Code.MEMPOOL_IS_FULL}
SETTINGS = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

_KEYS = [nacl.signing.SigningKey(bytes([i + 1]) * 32) for i in range(N_ACCOUNTS)]
ADDRESSES = [SignedTransaction.create(k, 0, expiration_time=1).sender for k in _KEYS]
_TXNS: dict = {}


@pytest.fixture
def core_cls(impl_any):
    """The core's unit tests run on every implementation, mixed pairs included."""
    return impl_any.core


def txn(acct: int, seq: int, price: int, variant: int) -> SignedTransaction:
    """A signed transaction from a small universe (cached: signing is the slow part)."""
    key = (acct, seq, price, variant)
    t = _TXNS.get(key)
    if t is None:
        t = _TXNS[key] = SignedTransaction.create(
            _KEYS[acct], seq, payload=PAYLOADS[variant % 2], gas_unit_price=price,
            max_gas_amount=1_000, expiration_time=EXPIRATIONS[variant // 2])
    return t


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


accts = st.integers(0, N_ACCOUNTS - 1)
seqs = st.integers(0, N_SEQ - 1)
adds = st.tuples(st.just("add"), accts, seqs, st.integers(0, 3), st.integers(0, 3),
                 st.sampled_from([0, 0, 0, 0, 1, 2, 3]), st.sampled_from([10**9, 10**9, 12]),
                 st.booleans(), st.integers(0, 5))
ops = st.one_of(
    adds, adds, adds, adds,
    st.tuples(st.just("commit"), accts, seqs),
    st.tuples(st.just("reject"), accts, seqs),
    st.tuples(st.just("ttl"), st.sampled_from([0, 1, 7, 30])),
    st.tuples(st.just("expire"), st.sampled_from([100, 150, 151, 10**10])),
    st.tuples(st.just("block"), st.integers(0, 12), st.sets(st.tuples(accts, seqs), max_size=6)),
)
configs = st.builds(lambda cap, per_user: MempoolConfig(capacity=cap, capacity_per_user=per_user,
                                                        system_transaction_timeout_secs=20),
                    st.integers(1, 10), st.integers(1, 4))


def contents(core) -> dict:
    """Every transaction of the universe the core holds, by pointer."""
    held = {}
    for a, address in enumerate(ADDRESSES):
        for s in range(N_SEQ):
            t = core.get(address, s)
            assert ((address, s) in core) == (t is not None)
            if t is not None:
                held[(a, s)] = t
    return held


def walk_timeline(core) -> list:
    """Read the timeline one transaction at a time: (id, txn) pairs."""
    out, cursor = [], 0
    while True:
        batch, last = core.read_timeline(cursor, 1)
        if not batch:
            assert last == cursor
            return out
        assert last > cursor, "timeline ids must strictly increase"
        out.append((last, batch[0]))
        cursor = last


def check_invariants(core, config) -> None:
    core._check()
    held = contents(core)
    n = len(core)
    assert n == len(held), "len must equal the sum over accounts"
    assert n <= config.capacity
    assert n == core.priority_index_size() + core.parking_lot_size()
    if config.capacity >= N_ACCOUNTS:  # else the LRU may forget a current with txns held
        check_readiness(core, held)
    for a in range(N_ACCOUNTS):
        assert sum(1 for (x, _) in held if x == a) <= config.capacity_per_user
    assert core.health_check() == (n < config.capacity or core.parking_lot_size() > 0)
    timeline = walk_timeline(core)
    assert len(timeline) <= core.priority_index_size()
    for tid, t in timeline:
        assert core.get(*t.pointer) == t
        assert core.timeline_state(*t.pointer) == (TimelineState.READY, tid)
    block = core.get_block(10**6)
    assert len(block) <= core.priority_index_size()
    assert len({t.pointer for t in block}) == len(block)
    for t in block:
        assert core.get(*t.pointer) == t
    last_seq = {}
    for t in block:
        assert t.sequence_number > last_seq.get(t.sender, -1), "account order broken"
        last_seq[t.sender] = t.sequence_number
    # a transaction consensus can take that is READY must be in the timeline
    in_timeline = {t.pointer for _, t in timeline}
    assert all(t.pointer in in_timeline for t in block
               if core.timeline_state(*t.pointer)[0] == TimelineState.READY)


def check_readiness(core, held) -> None:
    """Ready == the run of sequence numbers from the account's current one (docs/design.md §4).

    Accounts whose cached sequence number was evicted from the LRU, or that still hold
    transactions below it (dropped only by their next admitted add), are left out.
    """
    expected_ready, exact = 0, True
    for a, address in enumerate(ADDRESSES):
        mine = sorted(s for (x, s) in held if x == a)
        if not mine:
            continue
        current = core.sequence_number(address)
        if current is None or mine[0] < current:
            exact = False
            continue
        run = set()
        while current + len(run) in mine:
            run.add(current + len(run))
        expected_ready += len(run)
        for s in mine:
            state, tid = core.timeline_state(address, s)
            if state == TimelineState.READY:
                assert s in run, f"parked transaction {a}/{s} still in the timeline"
            elif state == TimelineState.NOT_READY:
                assert s not in run, f"ready local transaction {a}/{s} missing from the timeline"
    if exact:
        assert core.priority_index_size() == expected_ready


def apply(core, clock, op):
    """Run one operation, check its local postconditions, return what it observably did."""
    kind = op[0]
    before = contents(core)
    if kind == "add":
        _, a, s, price, variant, db, balance, non_q, gas = op
        t = txn(a, s, price, variant)
        state = TimelineState.NON_QUALIFIED if non_q else TimelineState.NOT_READY
        code = core.add_txn(t, gas, db, balance, state).code
        after = contents(core)
        if code == Code.VALID:
            assert after.get((a, s)) == t or before.get((a, s)) == t
        if code in UNCHANGED_ON:
            assert after == before, f"{code.name} changed the pool"
        return code
    if kind == "commit":
        _, a, s = op
        core.remove_transaction(ADDRESSES[a], s, False)
        after = contents(core)
        assert not any(x == a and y <= s for (x, y) in after)
        assert {k: v for k, v in after.items() if k[0] != a} == \
            {k: v for k, v in before.items() if k[0] != a}
        return None
    if kind == "reject":
        _, a, s = op
        core.remove_transaction(ADDRESSES[a], s, True)
        after = contents(core)
        mine = {k for k in after if k[0] == a}
        assert after == before or not mine
        assert {k: v for k, v in after.items() if k[0] != a} == \
            {k: v for k, v in before.items() if k[0] != a}
        return None
    if kind == "ttl":
        clock.now += op[1]
        removed = core.gc_by_system_ttl()
        assert removed == len(before) - len(core)
        return removed
    if kind == "expire":
        removed = core.gc_by_expiration_time(op[1])
        assert removed == len(before) - len(core)
        assert all(t.expiration_time >= op[1] for t in contents(core).values())
        return removed
    _, n, seen_idx = op
    seen = {(ADDRESSES[a], s) for a, s in seen_idx}
    frozen = set(seen)
    block = core.get_block(n, seen)
    assert seen == frozen
    assert len(block) <= max(n, 1)
    assert not any(t.pointer in seen for t in block)
    assert contents(core) == before
    return [t.pointer for t in block]


def run(core_cls, config, op_list):
    clock = Clock()
    core = core_cls(config, clock=clock)
    trace = []
    for op in op_list:
        trace.append(apply(core, clock, op))
        check_invariants(core, config)
        trace.append((len(core), core.parking_lot_size(), core.read_timeline(0, 10**6)))
    return trace


@SETTINGS
@given(config=configs, op_list=st.lists(ops, min_size=20, max_size=60))
def test_invariants_hold_after_random_operations(core_cls, config, op_list):
    run(core_cls, config, op_list)


@SETTINGS
@given(op_list=st.lists(adds, min_size=10, max_size=40))
def test_invariants_under_pressure(core_cls, op_list):
    """A tiny pool where eviction and the per-account cap fire constantly."""
    run(core_cls, MempoolConfig(capacity=4, capacity_per_user=2,
                                system_transaction_timeout_secs=20), op_list)


@pytest.mark.skipif(_CythonCore is None, reason="only one core available")
@settings(max_examples=200, deadline=None)
@given(config=configs, op_list=st.lists(ops, min_size=20, max_size=60))
def test_cores_agree(config, op_list):
    """The Cython core behaves exactly like the reference pure-Python core."""
    assert run(_CythonCore, config, op_list) == run(pure.CoreMempool, config, op_list)
