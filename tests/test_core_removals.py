"""The removal feed: every transaction a core removes is reported once, with why (both cores)."""

from __future__ import annotations

import gc

import pytest

from mempool_fast import RemovalReason as R, TimelineState
from mempool_fast.types import MempoolAddTransactionStatusCode as Code

NOT_READY = TimelineState.NOT_READY
RICH = 10**18


@pytest.fixture
def core_cls(impl_any):
    """The core's unit tests run on every implementation, mixed pairs included."""
    return impl_any.core


@pytest.fixture
def core(core_cls, clock):
    from mempool_fast import MempoolConfig
    return core_cls(MempoolConfig(capacity=6, capacity_per_user=4,
                                  system_transaction_timeout_secs=100),
                    clock=clock, removal_feed=True)


def add(core, txn, db=0):
    return core.add_txn(txn, 1, db, RICH, NOT_READY).code


def reported(core):
    return [(t.pointer, r) for t, r in core.drain_removed()]


def test_commit_reports_the_committed_and_everything_below_it(core, accounts):
    txns = [accounts.txn(0, s) for s in range(3)]
    for t in txns:
        assert add(core, t) == Code.VALID
    assert reported(core) == []
    core.remove_transaction(txns[1].sender, 1, False)
    assert reported(core) == [(txns[0].pointer, R.COMMITTED), (txns[1].pointer, R.COMMITTED)]
    assert reported(core) == []  # each removal is reported once
    core._check()


def test_reject_reports_every_transaction_of_the_account(core, accounts):
    txns = [accounts.txn(0, s) for s in range(3)]
    for t in txns:
        add(core, t)
    core.remove_transaction(txns[0].sender, 1, True)
    assert reported(core) == [(t.pointer, R.REJECTED) for t in txns]


def test_gc_reports_system_ttl_and_client_expiration(core, accounts, clock):
    early = accounts.txn(0, 0, expiration=1_000)
    add(core, early)
    clock.advance(50)
    late = accounts.txn(1, 0)
    add(core, late)
    assert core.gc_by_expiration_time(2_000) == 1
    assert reported(core) == [(early.pointer, R.EXPIRED)]
    clock.advance(60)  # `late` is 60 s old, below the 100 s TTL; add one that expires first
    assert core.gc_by_system_ttl() == 0
    clock.advance(50)
    assert core.gc_by_system_ttl() == 1
    assert reported(core) == [(late.pointer, R.SYSTEM_TTL)]


def test_eviction_replacement_and_stale_cleaning_are_reported(core, accounts):
    for i in range(5):
        add(core, accounts.txn(i, 0))
    parked = accounts.txn(9, 2)
    assert add(core, parked) == Code.VALID  # seq 2 without 0 and 1: parked
    assert add(core, accounts.txn(6, 0)) == Code.VALID  # full: the parked one is evicted
    assert reported(core) == [(parked.pointer, R.EVICTED)]

    old = core.get(*accounts.txn(0, 0).pointer)
    dearer = accounts.txn(0, 0, gas_price=5)
    assert add(core, dearer) == Code.VALID
    (txn, reason), = core.drain_removed()
    assert txn is old and reason is R.REPLACED
    assert core.get(*dearer.pointer) == dearer

    core.remove_transaction(accounts.address(2), 0, False)  # room for one more
    assert reported(core) == [(accounts.txn(2, 0).pointer, R.COMMITTED)]
    # account state says seq 0 of account 1 is committed: an add cleans it as stale
    assert add(core, accounts.txn(1, 1), db=1) == Code.VALID
    assert reported(core) == [(accounts.txn(1, 0).pointer, R.STALE)]
    core._check()


def test_the_feed_reports_the_objects_the_core_held(core, accounts):
    txn = accounts.txn(0, 0)
    add(core, txn)
    core.remove_transaction(txn.sender, 0, False)
    (removed, reason), = core.drain_removed()
    assert removed is txn and reason is R.COMMITTED


def test_feed_off_keeps_nothing(core_cls, clock, accounts):
    core = core_cls(clock=clock)
    assert core.removal_feed is False
    txn = accounts.txn(0, 0)
    add(core, txn)
    core.remove_transaction(txn.sender, 0, False)
    assert core.drain_removed() == []
    core.removal_feed = True
    core.add_txn(accounts.txn(0, 1), 1, 0, RICH, NOT_READY)
    core.remove_transaction(txn.sender, 1, False)
    core.removal_feed = False  # turning it off drops what was recorded
    assert core.drain_removed() == []


def test_undrained_removals_are_released_with_the_core(core_cls, clock, accounts):
    import sys
    txn = accounts.txn(0, 0)
    base = sys.getrefcount(txn)
    core = core_cls(clock=clock, removal_feed=True)
    add(core, txn)
    core.remove_transaction(txn.sender, 0, False)
    assert sys.getrefcount(txn) == base + 1  # held by the undrained feed
    del core
    gc.collect()
    assert sys.getrefcount(txn) == base


def test_feed_matches_the_pool_across_a_random_run(core, accounts):
    """Every transaction that left the pool is in the feed, and nothing still held is."""
    import random
    rng = random.Random(4)
    for step in range(400):
        before = {t.pointer: t for t in _contents(core, accounts)}
        op = rng.random()
        a, s = rng.randrange(8), rng.randrange(5)
        if op < 0.6:
            core.add_txn(accounts.txn(a, s, gas_price=rng.randrange(3)), 1, rng.randrange(2),
                         RICH, NOT_READY)
        elif op < 0.8:
            core.remove_transaction(accounts.address(a), s, rng.random() < 0.3)
        else:
            core.gc_by_expiration_time(rng.choice((0, 4_000_000_001)))
        after = {t.pointer: t for t in _contents(core, accounts)}
        removed = core.drain_removed()
        gone = {id(t) for p, t in before.items() if after.get(p) is not t}
        assert gone <= {id(t) for t, _ in removed}, step
        assert all(after.get(t.pointer) is not t for t, _ in removed), step
    gc.collect()


def _contents(core, accounts):
    return [t for a in range(8) for s in range(5)
            if (t := core.get(accounts.address(a), s)) is not None]


def test_an_account_out_of_the_cache_with_two_heads_stays_consistent(make_core, accounts):
    """Found by the differential state machine: an account whose sequence number the LRU cache
    drops holds two ready entries without predecessors (both heads); when one stops being a
    head the other must remain its recorded head."""
    core = make_core(capacity=3, capacity_per_user=2)
    rich = 10**6
    steps = [(0, 0, 0), (0, 6, 0), (0, 0, 6), (2, 0, 0), (1, 0, 0), (3, 0, 0), (0, 0, 6)]
    for index, seq, db in steps:
        core.add_txn(accounts.txn(index, seq, gas_price=0), 0, db, rich, NOT_READY)
        core._check()
    assert len(core) == 3
