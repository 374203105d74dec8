"""Watches (docs/design.md §5): the events of watched transactions and accounts on every core,
every path that changes a transaction's state, a lossy slow watcher, and no cost without one.

As in test_status.py the shared mempools are not started unless a test says so, time is a
FakeClock, and nothing sleeps: a started node is awaited with `watch.get(timeout)`.
"""

from __future__ import annotations

import threading

import pytest

from mempool_fast import DropReason, TransactionEvent, TransactionEventKind, TransactionState
from mempool_fast import MempoolAddTransactionStatusCode as Code
from mempool_fast.shared import SharedMempool
from test_status import BALANCE, Pools, config, peer_batch, sha3, submit_ok

K = TransactionEventKind
S = TransactionState


@pytest.fixture
def pools(core_cls, clock, accounts):
    p = Pools(core_cls, clock, accounts)
    yield p
    for pool in p.made:
        pool.stop()


def drained(watch) -> list[TransactionEvent]:
    out = []
    while (event := watch.get(0)) is not None:
        out.append(event)
    return out


def brief(events) -> list[tuple]:
    """(kind, seq, state, reason) of each event."""
    return [(e.kind, e.pointer[1], e.state, e.reason) for e in events]


# ---------------------------------------------------------------- a transaction's life
def test_account_watch_follows_admission_promotion_pull_and_commit(pools, accounts, clock):
    pool = pools()
    watch = pool.watch(accounts=[accounts.address(0)])
    t0, t1, t2 = (accounts.txn(0, s) for s in range(3))
    submit_ok(pool, [t0, t2, accounts.txn(1, 0)])  # account 1 is not watched
    submit_ok(pool, [t1])  # fills the gap: 2 becomes ready
    pool.get_block(10)
    clock.advance(3)
    pool.commit_transactions([t1.pointer], clock())
    events = drained(watch)
    assert brief(events) == [
        (K.ADMITTED, 0, S.READY, None), (K.ADMITTED, 2, S.PARKED, None),
        (K.ADMITTED, 1, S.READY, None), (K.READY, 2, S.READY, None),
        (K.PULLED, 0, S.READY, None), (K.PULLED, 1, S.READY, None),
        (K.PULLED, 2, S.READY, None),
        (K.COMMITTED, 0, S.COMMITTED, None), (K.COMMITTED, 1, S.COMMITTED, None)]
    assert events[0].hash == sha3(t0) and events[0].pointer == t0.pointer
    assert events[-1].at == clock() and events[0].at == clock() - 3
    assert watch.lost == 0


def test_key_watch_by_hash_and_pointer_opened_before_submission(pools, accounts, clock):
    pool = pools()
    by_hash, by_pointer, other = accounts.txn(0, 0), accounts.txn(1, 0), accounts.txn(2, 0)
    with pool.watch([sha3(by_hash), by_pointer.pointer]) as watch:
        submit_ok(pool, [by_hash, by_pointer, other])
        pool.commit_transactions([by_hash.pointer, other.pointer], clock())
        assert [(e.kind, e.hash) for e in drained(watch)] == [
            (K.ADMITTED, sha3(by_hash)), (K.ADMITTED, sha3(by_pointer)),
            (K.COMMITTED, sha3(by_hash))]
    assert watch.closed and not pool._watches.active


def test_watch_opened_later_learns_the_current_state(pools, accounts):
    pool = pools()
    t0, t1 = accounts.txn(0, 0), accounts.txn(0, 1)
    submit_ok(pool, [t1])  # parked
    watch = pool.watch([sha3(t1)])
    assert drained(watch) == []  # opening reports nothing
    submit_ok(pool, [t0])
    assert brief(drained(watch)) == [(K.READY, 1, S.READY, None)]


def test_peer_transactions_and_broadcast_events(pools, accounts):
    a, b = pools("a"), pools("b")
    pools.hub.connect("a", "b")
    a.pump()
    b.pump()
    on_a, on_b = a.watch(), b.watch()
    txns = [accounts.txn(0, 0), accounts.txn(0, 1)]
    submit_ok(a, txns)
    a.sync_with_peers()
    b.pump()  # b admits them as NON_QUALIFIED
    events_a = drained(on_a)
    assert brief(events_a) == [(K.ADMITTED, 0, S.READY, None), (K.ADMITTED, 1, S.READY, None),
                               (K.BROADCAST, 0, S.READY, None), (K.BROADCAST, 1, S.READY, None)]
    assert [e.peer for e in events_a] == [None, None, "b", "b"]
    assert brief(drained(on_b)) == [(K.ADMITTED, 0, S.READY, None),
                                    (K.ADMITTED, 1, S.READY, None)]


def test_broadcast_event_from_a_running_node(core_cls, clock, accounts):
    # started nodes: the outbound thread sends; the event is awaited, not slept for
    pools = Pools(core_cls, clock, accounts)
    cfg = dict(shared_mempool_tick_interval_ms=10, shared_mempool_poll_interval_ms=10)
    a, b = pools("a", **cfg), pools("b", **cfg)
    try:
        a.start()
        b.start()
        watch_b = b.watch(accounts=[accounts.address(3)])
        watch_a = a.watch(accounts=[accounts.address(3)])
        pools.hub.connect("a", "b")
        txn = accounts.txn(3, 0)
        submit_ok(a, [txn])
        kinds = []
        while K.BROADCAST not in kinds:
            event = watch_a.get(timeout=10)
            assert event is not None, kinds
            kinds.append(event.kind)
        assert event.peer == "b"
        event = watch_b.get(timeout=10)
        assert event is not None and (event.kind, event.hash) == (K.ADMITTED, sha3(txn))
    finally:
        for pool in pools.made:
            pool.stop()


# ---------------------------------------------------------------- every way out
def test_drop_events_with_their_reasons(pools, accounts, clock):
    pool = pools(capacity=4, system_transaction_timeout_secs=100)
    watch = pool.watch()
    # rejected
    rejected = accounts.txn(0, 0)
    submit_ok(pool, [rejected])
    pool.commit_transactions([], clock(), rejected=[rejected.pointer])
    # client expiration, which parks the successor
    soon, after = accounts.txn(1, 0, expiration=int(clock()) + 10), accounts.txn(1, 1)
    submit_ok(pool, [soon, after])
    pool.commit_transactions([], clock() + 20)
    events = drained(watch)
    assert brief(events) == [
        (K.ADMITTED, 0, S.READY, None), (K.DROPPED, 0, S.DROPPED, DropReason.REJECTED),
        (K.ADMITTED, 0, S.READY, None), (K.ADMITTED, 1, S.READY, None),
        (K.DROPPED, 0, S.DROPPED, DropReason.EXPIRED), (K.PARKED, 1, S.PARKED, None)]
    # system TTL of the parked one
    clock.advance(101)
    assert pool.gc() == 1
    assert brief(drained(watch)) == [(K.DROPPED, 1, S.DROPPED, DropReason.SYSTEM_TTL)]


def test_eviction_event(pools, accounts):
    pool = pools(capacity=2)
    watch = pool.watch(accounts=[accounts.address(1)])
    submit_ok(pool, [accounts.txn(0, 0), accounts.txn(1, 5)])
    submit_ok(pool, [accounts.txn(2, 0)])
    assert brief(drained(watch)) == [(K.ADMITTED, 5, S.PARKED, None),
                                     (K.DROPPED, 5, S.DROPPED, DropReason.EVICTED)]


@pytest.mark.parametrize("opened", ["before", "after"])
def test_replacement_events(pools, accounts, opened):
    pool = pools()
    old, new = accounts.txn(0, 0, gas_price=1), accounts.txn(0, 0, gas_price=2)
    if opened == "before":
        watch = pool.watch(accounts=[accounts.address(0)])
        submit_ok(pool, [old])
    else:
        submit_ok(pool, [old])
        watch = pool.watch()  # everything: learns transactions as they are admitted
    submit_ok(pool, [new])
    events = drained(watch)[-2:]
    dropped = next(e for e in events if e.kind is K.DROPPED)
    assert (dropped.hash, dropped.reason) == (sha3(old), DropReason.REPLACED)
    assert dropped.detail == f"replaced by {sha3(new).hex()}"
    assert [(e.kind, e.hash) for e in events if e.kind is K.ADMITTED] == [
        (K.ADMITTED, sha3(new))]


def test_stale_events_when_the_account_state_moved(pools, accounts):
    pool = pools()
    watch = pool.watch(accounts=[accounts.address(0)])
    submit_ok(pool, [accounts.txn(0, 0), accounts.txn(0, 1)])
    pools.store.set_account(accounts.address(0), 2, BALANCE)
    submit_ok(pool, [accounts.txn(0, 2)])
    assert brief(drained(watch))[2:] == [
        (K.ADMITTED, 2, S.READY, None),
        (K.DROPPED, 0, S.DROPPED, DropReason.STALE), (K.DROPPED, 1, S.DROPPED, DropReason.STALE)]


def test_a_commit_of_a_transaction_never_here_promotes_the_parked(pools, accounts, clock):
    pool = pools()
    watch = pool.watch(accounts=[accounts.address(0)])
    submit_ok(pool, [accounts.txn(0, 1), accounts.txn(0, 2)])
    pool.commit_transactions([accounts.txn(0, 0).pointer], clock())  # another's seq 0
    assert brief(drained(watch)) == [
        (K.ADMITTED, 1, S.PARKED, None), (K.ADMITTED, 2, S.PARKED, None),
        (K.READY, 1, S.READY, None), (K.READY, 2, S.READY, None)]


def test_peer_gap_fill_promotes(pools, accounts):
    pool = pools()
    watch = pool.watch([accounts.txn(4, 1).pointer])
    peer_batch(pool, [accounts.txn(4, 1)])
    peer_batch(pool, [accounts.txn(4, 0)], start=1)
    assert brief(drained(watch)) == [(K.ADMITTED, 1, S.PARKED, None),
                                     (K.READY, 1, S.READY, None)]


def test_identical_resubmission_reports_nothing_new(pools, accounts):
    pool = pools()
    watch = pool.watch()
    txn = accounts.txn(0, 0)
    submit_ok(pool, [txn])
    submit_ok(pool, [txn])
    assert brief(drained(watch)) == [(K.ADMITTED, 0, S.READY, None)]


# ---------------------------------------------------------------- slow watchers, no watchers
def test_a_slow_watcher_loses_the_oldest_events_and_counts_them(pools, accounts):
    pool = pools(watch_queue_size=4)
    slow, other = pool.watch(), pool.watch()
    txns = [accounts.txn(i % 8, i // 8) for i in range(10)]
    for txn in txns:
        assert pool.submit_transactions([txn])[0].code == Code.VALID
        other.get(0)  # this one keeps up
    assert slow.lost == 6 and other.lost == 0
    assert [e.hash for e in drained(slow)] == [sha3(t) for t in txns[-4:]]
    assert pool.inspect()["watches"]["lost"] == 6
    slow.close()
    assert pool.inspect()["watches"] == {"open": 1, "lost": 6,
                                         "tracked": len(txns)}


def test_without_watchers_nothing_is_tracked(pools, accounts, clock):
    pool = pools()
    hub = pool._watches
    assert not hub.active
    submit_ok(pool, [accounts.txn(0, 0)])
    assert not hub._known and not len(pool._intake)
    watch = pool.watch()
    submit_ok(pool, [accounts.txn(0, 1)])
    assert len(hub._known) == 1
    watch.close()
    watch.close()  # idempotent
    assert not hub.active and not hub._known
    pool.commit_transactions([accounts.txn(0, 1).pointer], clock())
    assert watch.get(0) is not None  # what was queued before closing can still be read
    assert watch.get(0) is None


def test_iteration_ends_when_the_watch_closes(pools, accounts):
    pool = pools()
    watch = pool.watch()
    seen: list = []
    reader = threading.Thread(target=lambda: seen.extend(watch))
    reader.start()
    submit_ok(pool, [accounts.txn(0, 0)])
    assert watch.get(0) is None or True  # the reader may have it already
    watch.close()
    reader.join(10)
    assert not reader.is_alive()
    assert watch.get(timeout=0.01) is None


def test_bad_watch_arguments(pools, accounts):
    pool = pools()
    with pytest.raises(TypeError):
        pool.watch(sha3(accounts.txn(0, 0)))  # one key, not a list of them
    with pytest.raises(TypeError):
        pool.watch(accounts.txn(0, 0).pointer)
    with pytest.raises(ValueError):
        pool.watch([b"short"])
    with pytest.raises(ValueError):
        pool.watch(accounts=[b"short"])
    assert not pool._watches.active


def test_watch_config_is_checked():
    with pytest.raises(ValueError):
        config(watch_queue_size=0)
    assert isinstance(config(), object) and SharedMempool


def test_an_account_at_the_last_sequence_number(pools, accounts):
    # U64_MAX: the walks after it must not ask the core for 2**64
    pool = pools()
    last = (1 << 64) - 1
    pools.store.set_account(accounts.address(6), last, BALANCE)
    watch = pool.watch(accounts=[accounts.address(6)])
    submit_ok(pool, [accounts.txn(6, last)])
    assert brief(drained(watch)) == [(K.ADMITTED, last, S.READY, None)]
    assert pool.account_status(accounts.address(6)).ready == (last,)
    assert pool.transaction_status(accounts.txn(6, last).pointer).state is S.READY
