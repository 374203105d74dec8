"""The status API (docs/design.md §5): transaction_status by hash and by pointer,
account_status and inspect, on every core, with every path driven to every state and reason.

The shared mempools are not started (no threads): consensus and GC are called by hand, peers'
batches go through `process_broadcast`, and time is a FakeClock, so nothing sleeps.
"""

from __future__ import annotations

import hashlib
import json
import threading
import tracemalloc

import pytest

from conftest import wait_until
from mempool_fast import (AccountStatus, DropReason, MempoolConfig, TransactionState,
                          TransactionStatus)
from mempool_fast import MempoolAddTransactionStatusCode as Code
from mempool_fast.network.inprocess import InProcessNetwork
from mempool_fast.shared import SharedMempool
from mempool_fast.shared.protocol import BroadcastRequest
from mempool_fast.shared.status_history import StatusHistory
from mempool_fast.storage import InMemoryAccountStore
from mempool_fast.types import RemovalReason

FOREVER_MS = 10**9
BALANCE = 10**12
S = TransactionState


def config(**fields) -> MempoolConfig:
    base = dict(shared_mempool_tick_interval_ms=FOREVER_MS,
                system_transaction_gc_interval_ms=FOREVER_MS)
    base.update(fields)
    return MempoolConfig(**base)


def sha3(txn) -> bytes:
    return hashlib.sha3_256(txn.to_bytes()).digest()


class Pools:
    """Shared mempools (not started) on one hub, one account store and one clock."""

    def __init__(self, core_cls, clock, accounts):
        self.core_cls, self.clock, self.accounts = core_cls, clock, accounts
        self.hub = InProcessNetwork()
        self.store = InMemoryAccountStore()
        for i in range(8):
            self.store.set_account(accounts.address(i), 0, BALANCE)
        self.made: list[SharedMempool] = []

    def __call__(self, name="a", **fields) -> SharedMempool:
        cfg = config(**fields)
        pool = SharedMempool(cfg, self.hub.endpoint(name), self.store,
                             mempool=self.core_cls(cfg, clock=self.clock), clock=self.clock)
        self.made.append(pool)
        return pool


@pytest.fixture
def pools(core_cls, clock, accounts):
    p = Pools(core_cls, clock, accounts)
    yield p
    for pool in p.made:
        pool.stop()


def submit_ok(pool, txns):
    statuses = pool.submit_transactions(txns)
    assert [s.code for s in statuses] == [Code.VALID] * len(txns), statuses


def status(pool, txn) -> TransactionStatus:
    """The status by hash, checked equal to the status by pointer when the pointer's latest
    transaction is this one."""
    by_hash = pool.transaction_status(sha3(txn))
    assert by_hash.hash == sha3(txn) and by_hash.pointer == txn.pointer
    return by_hash


def peer_batch(pool, txns, start=0):
    """Deliver `txns` as one batch from peer "p" (NON_QUALIFIED)."""
    msg = BroadcastRequest(start, start + len(txns), tuple(t.to_bytes() for t in txns))
    pool.process_broadcast("p", msg)


# ---------------------------------------------------------------- pending: READY and PARKED
def test_pending_ready_and_parked_local(pools, accounts):
    pool = pools()
    t0, t1, t2, t4 = (accounts.txn(0, s) for s in (0, 1, 2, 4))
    submit_ok(pool, [t0, t2, t4])
    s0 = status(pool, t0)
    assert (s0.state, s0.reason, s0.at) == (S.READY, None, None)
    assert "offered to consensus" in s0.detail and "timeline id 1" in s0.detail
    s2 = pool.transaction_status(t2.pointer)
    assert s2.state is S.PARKED and s2.hash == sha3(t2)
    assert s2.detail == "waiting for sequence number 1 of this account"
    assert pool.account_status(accounts.address(0)) == AccountStatus(
        accounts.address(0), 0, (0,), (2, 4), 1)
    submit_ok(pool, [t1])  # the gap fills: 1 and 2 ready, 4 waits for 3
    assert [status(pool, t).state for t in (t1, t2, t4)] == [S.READY, S.READY, S.PARKED]
    assert status(pool, t4).detail == "waiting for sequence number 3 of this account"
    assert pool.account_status(accounts.address(0)) == AccountStatus(
        accounts.address(0), 0, (0, 1, 2), (4,), 3)


def test_pending_ready_and_parked_from_a_peer(pools, accounts):
    # NON_QUALIFIED transactions never enter the timeline: READY vs PARKED is positional
    pool = pools()
    t0, t1, t3 = (accounts.txn(1, s) for s in (0, 1, 3))
    peer_batch(pool, [t0, t3])
    assert pool.timeline_states([t0.pointer, t3.pointer])[0][0].name == "NON_QUALIFIED"
    s0, s3 = status(pool, t0), status(pool, t3)
    assert s0.state is S.READY and "received from a peer" in s0.detail
    assert s3.state is S.PARKED and s3.detail == "waiting for sequence number 1 of this account"
    peer_batch(pool, [t1], start=2)
    assert status(pool, t1).state is S.READY
    assert status(pool, t3).state is S.PARKED  # 2 is still missing
    assert pool.account_status(accounts.address(1)) == AccountStatus(
        accounts.address(1), 0, (0, 1), (3,), 2)


def test_account_status_of_an_account_with_nothing_here(pools, accounts):
    pool = pools()
    pools.store.set_account(accounts.address(5), 9, BALANCE)
    assert pool.account_status(accounts.address(5)) == AccountStatus(
        accounts.address(5), 9, (), (), None)  # not cached: the store's number
    assert pool.account_status(b"\x01" * 32) == AccountStatus(b"\x01" * 32, 0, (), (), None)
    with pytest.raises(ValueError):
        pool.account_status(b"short")


def test_account_status_scan_covers_capacity_per_user_past_current(pools, accounts):
    pool = pools(capacity_per_user=3, core_step_size=2)  # a scan in two lock holds
    submit_ok(pool, [accounts.txn(0, 0), accounts.txn(0, 2)])
    view = pool.account_status(accounts.address(0))
    assert (view.ready, view.parked, view.blocked_on) == ((0,), (2,), 1)


# ---------------------------------------------------------------- every way out of the pool
def test_committed_by_hash_and_pointer(pools, accounts, clock):
    pool = pools()
    txns = [accounts.txn(0, s) for s in range(3)]
    submit_ok(pool, txns)
    clock.advance(5)
    pool.commit_transactions([txns[1].pointer], clock())  # 0 and 1 leave committed
    for txn in txns[:2]:
        s = status(pool, txn)
        assert (s.state, s.reason, s.at, s.detail) == (S.COMMITTED, None, clock(), "committed")
        assert pool.transaction_status(txn.pointer) == s
    assert status(pool, txns[2]).state is S.READY
    assert pool.account_status(accounts.address(0)) == AccountStatus(
        accounts.address(0), 2, (2,), (), None)


def test_rejected(pools, accounts):
    pool = pools()
    txns = [accounts.txn(0, s) for s in range(3)]
    submit_ok(pool, txns)
    pool.commit_transactions([], 0, rejected=[txns[1].pointer])  # the whole account goes
    for txn in txns:
        s = status(pool, txn)
        assert (s.state, s.reason) == (S.DROPPED, DropReason.REJECTED)
        assert s.detail.startswith("rejected:")


def test_client_expiration(pools, accounts, clock):
    pool = pools()
    soon = accounts.txn(0, 0, expiration=int(clock()) + 10)
    later = accounts.txn(0, 1)
    submit_ok(pool, [soon, later])
    assert pool.commit_transactions([], clock() + 20) == 1
    s = status(pool, soon)
    assert (s.state, s.reason) == (S.DROPPED, DropReason.EXPIRED)
    assert s.detail.startswith("expired: its expiration time")
    assert status(pool, later).state is S.PARKED  # its predecessor is gone
    assert status(pool, later).detail == "waiting for sequence number 0 of this account"


def test_system_ttl(pools, accounts, clock):
    pool = pools(system_transaction_timeout_secs=30)
    old = accounts.txn(0, 0)
    submit_ok(pool, [old])
    clock.advance(20)
    young = accounts.txn(0, 1)
    submit_ok(pool, [young])
    clock.advance(11)
    assert pool.gc() == 1
    s = status(pool, old)
    assert (s.state, s.reason, s.at) == (S.DROPPED, DropReason.SYSTEM_TTL, clock())
    assert s.detail == "expired: waited here longer than the system TTL of 30 s"
    assert status(pool, young).state is S.PARKED


def test_evicted(pools, accounts):
    pool = pools(capacity=2)
    parked = accounts.txn(1, 5)
    submit_ok(pool, [accounts.txn(0, 0), parked])
    submit_ok(pool, [accounts.txn(2, 0)])  # ready: evicts the parked one
    s = status(pool, parked)
    assert (s.state, s.reason) == (S.DROPPED, DropReason.EVICTED)
    assert s.detail == "evicted: mempool full, a ready transaction needed room"


def test_replaced_names_the_new_hash(pools, accounts):
    pool = pools()
    old = accounts.txn(0, 0, gas_price=1)
    new = accounts.txn(0, 0, gas_price=2)
    submit_ok(pool, [old])
    submit_ok(pool, [new])
    s = status(pool, old)
    assert (s.state, s.reason) == (S.DROPPED, DropReason.REPLACED)
    assert sha3(new).hex() in s.detail
    # the pointer names what holds it now
    assert pool.transaction_status(old.pointer).hash == sha3(new)
    assert pool.transaction_status(old.pointer).state is S.READY


def test_replaced_twice_in_one_batch(pools, accounts):
    pool = pools()
    a, b, c = (accounts.txn(0, 0, gas_price=p) for p in (1, 2, 3))
    submit_ok(pool, [a])
    submit_ok(pool, [b, c])
    assert sha3(b).hex() in status(pool, a).detail
    assert sha3(c).hex() in status(pool, b).detail


def test_stale_when_the_account_state_moved(pools, accounts):
    pool = pools()
    txns = [accounts.txn(0, s) for s in range(3)]
    submit_ok(pool, txns)
    # another node's block committed 0..2 (other transactions at those numbers): the store
    # moved to 3 and this node, never told, drops its own at the next admission
    pools.store.set_account(accounts.address(0), 3, BALANCE)
    submit_ok(pool, [accounts.txn(0, 3)])
    for txn in txns:
        s = status(pool, txn)
        assert (s.state, s.reason) == (S.DROPPED, DropReason.STALE)
        assert "moved past it" in s.detail
    assert pool.account_status(accounts.address(0)).sequence_number == 3


def test_stale_after_another_nodes_commit(pools, accounts, clock):
    # two nodes hold the same transactions; consensus commits on a only (b was not told):
    # the shared store moves, and b's next admission for the account drops them as stale
    a, b = pools("a"), pools("b")
    txns = [accounts.txn(0, s) for s in range(2)]
    submit_ok(a, txns)
    peer_batch(b, txns)
    a.commit_transactions([txns[1].pointer], clock())
    pools.store.set_account(accounts.address(0), 2, BALANCE)
    assert [status(a, t).state for t in txns] == [S.COMMITTED] * 2
    assert [status(b, t).state for t in txns] == [S.READY] * 2
    peer_batch(b, [accounts.txn(0, 2)], start=2)
    assert [status(b, t).reason for t in txns] == [DropReason.STALE] * 2


# ---------------------------------------------------------------- keys, pointers, history
def test_unknown_and_bad_keys(pools, accounts):
    pool = pools()
    h = pool.transaction_status(b"\x07" * 32)
    assert (h.state, h.hash, h.pointer, h.at) == (S.UNKNOWN, b"\x07" * 32, None, None)
    p = pool.transaction_status(accounts.txn(0, 0).pointer)
    assert (p.state, p.hash, p.pointer) == (S.UNKNOWN, None, accounts.txn(0, 0).pointer)
    assert "never seen here" in p.detail
    for bad in (b"\x07" * 31, (b"\x01" * 31, 0), (b"\x01" * 32, -1), 5, "x" * 32):
        with pytest.raises((TypeError, ValueError)):
            pool.transaction_status(bad)
    assert pool.transaction_statuses([]) == []


def test_many_keys_in_one_call(pools, accounts, clock):
    pool = pools()
    txns = [accounts.txn(0, s) for s in range(3)]
    submit_ok(pool, txns[:2])
    pool.commit_transactions([txns[0].pointer], clock())
    got = pool.transaction_statuses([sha3(txns[0]), txns[1].pointer, sha3(txns[2])])
    assert [s.state for s in got] == [S.COMMITTED, S.READY, S.UNKNOWN]


def test_pointer_keeps_the_latest_fate(pools, accounts, clock):
    pool = pools()
    first = accounts.txn(0, 0, payload=b"first")
    second = accounts.txn(0, 0, payload=b"second")
    submit_ok(pool, [first])
    pool.commit_transactions([], clock(), rejected=[first.pointer])
    submit_ok(pool, [second])
    assert pool.transaction_status(first.pointer).state is S.READY  # pending wins
    pool.commit_transactions([second.pointer], clock())
    latest = pool.transaction_status(first.pointer)
    assert (latest.state, latest.hash) == (S.COMMITTED, sha3(second))
    assert status(pool, first).reason is DropReason.REJECTED  # its hash keeps its own fate


def test_resubmitted_after_a_drop_is_pending_again_by_hash(pools, accounts, clock):
    pool = pools()
    txn = accounts.txn(0, 0)
    submit_ok(pool, [txn])
    pool.commit_transactions([], clock(), rejected=[txn.pointer])
    assert status(pool, txn).state is S.DROPPED
    submit_ok(pool, [txn])
    assert status(pool, txn).state is S.READY
    pool.commit_transactions([txn.pointer], clock())
    assert status(pool, txn).state is S.COMMITTED  # the latest removal
    assert pool.inspect()["history"]["by_state"] == {"committed": 1, "dropped": 1}


def test_history_forgets_the_oldest_first(pools, accounts, clock):
    pool = pools(status_history_size=3)
    txns = [accounts.txn(0, s) for s in range(5)]
    submit_ok(pool, txns)
    for txn in txns:  # removed in order 0..4
        pool.commit_transactions([txn.pointer], clock())
    states = [status(pool, t).state if i >= 2 else pool.transaction_status(sha3(t)).state
              for i, t in enumerate(txns)]
    assert states == [S.UNKNOWN, S.UNKNOWN, S.COMMITTED, S.COMMITTED, S.COMMITTED]
    assert pool.transaction_status(txns[0].pointer).state is S.UNKNOWN
    assert "keeps the last 3" in pool.transaction_status(txns[0].pointer).detail
    assert pool.inspect()["history"] == {"capacity": 3, "size": 3,
                                         "by_state": {"committed": 3, "dropped": 0},
                                         "by_reason": {}}


def test_history_off(pools, accounts, clock):
    pool = pools(status_history_size=0)
    txn = accounts.txn(0, 0)
    submit_ok(pool, [txn])
    assert status(pool, txn).state is S.READY
    pool.commit_transactions([txn.pointer], clock())
    s = pool.transaction_status(sha3(txn))
    assert s.state is S.UNKNOWN and "status_history_size = 0" in s.detail
    assert pool.inspect()["history"]["size"] == 0


def test_config_checks_the_new_fields():
    assert MempoolConfig().status_history_size == 100_000
    assert MempoolConfig().watch_queue_size == 10_000
    for bad in (dict(status_history_size=-1), dict(watch_queue_size=0),
                dict(status_history_size=1.5)):
        with pytest.raises(ValueError):
            MempoolConfig(**bad)


def test_removals_are_recorded_in_core_order_whatever_the_listener_order(pools, accounts,
                                                                          clock):
    # thread A replaces P and is held just before its (unlocked) listeners run; thread B then
    # commits P. Delivered in thread order, "replaced" would be P's latest fate; recorded in
    # the core's order it is "committed".
    pool = pools()
    old, new = accounts.txn(0, 0, gas_price=1), accounts.txn(0, 0, gas_price=2)
    submit_ok(pool, [old])
    release, held = threading.Event(), threading.Event()

    def hold_the_replacer(removals):
        if threading.current_thread().name == "replacer":
            held.set()
            release.wait(10)

    pool._core._listeners.insert(0, hold_the_replacer)  # ahead of the status drain
    replacer = threading.Thread(target=pool.submit_transactions, args=([new],),
                                name="replacer")
    replacer.start()
    assert held.wait(10)
    pool.commit_transactions([new.pointer], clock())
    release.set()
    replacer.join()
    latest = pool.transaction_status(old.pointer)
    assert (latest.state, latest.hash) == (S.COMMITTED, sha3(new))
    assert status(pool, old).reason is DropReason.REPLACED


# ---------------------------------------------------------------- inspect
def test_inspect(pools, accounts, clock):
    a, b = pools("a"), pools("b")
    pools.hub.connect("a", "b")
    a.pump()
    b.pump()
    txns = [accounts.txn(0, s) for s in range(3)] + [accounts.txn(1, 2)]
    submit_ok(a, txns)
    a.commit_transactions([], clock(), rejected=[accounts.txn(2, 0).pointer])
    a.sync_with_peers()  # one unacknowledged batch to b (b is not pumped)
    a.commit_transactions([txns[0].pointer], clock())
    report = a.inspect()
    json.dumps(report)
    assert report["pending"] == {"ready": 2, "parked": 1, "total": 3}
    assert report["history"]["by_state"] == {"committed": 1, "dropped": 0}
    assert report["peers"]["b"]["timeline_id"] == 3
    assert report["peers"]["b"]["unacknowledged"] == [[0, 3]]
    assert report["core"]["mempool_size"] == 3 and report["core"]["last_timeline_id"] == 3
    assert report["core"]["account_count"] == 2
    assert report["watches"] == {"open": 0, "lost": 0, "tracked": 0}
    a.submit_transactions([accounts.txn(0, 1, gas_price=5)])  # replaces
    a.commit_transactions([], clock(), rejected=[txns[3].pointer])
    assert a.inspect()["history"]["by_reason"] == {"rejected": 1, "replaced": 1}


# ---------------------------------------------------------------- the history alone
def test_history_entry_memory(accounts):
    """About 300 bytes an entry (the figure in docs/design.md §5): hash, record, pointer key
    and two dict slots, all untracked bytes objects; measured full, and after forgetting twice
    the window (generations are dropped whole: no dict keeps deleted slots)."""
    size = 16_000
    history = StatusHistory(size)
    txns = [accounts.txn(i % 8, i) for i in range(3 * size)]
    for t in txns:
        t.to_bytes()
        t.hash  # computed before: the transaction's own cache is not the history's memory
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    per_entry = []
    for start in range(0, len(txns), 1000):
        history.record([(t, RemovalReason.COMMITTED) for t in txns[start:start + 1000]],
                       1.0, None)
        if start + 1000 in (size, 3 * size):
            per_entry.append((tracemalloc.get_traced_memory()[0] - before) / len(history))
    tracemalloc.stop()
    print(f"\nstatus history: {per_entry[0]:.0f} bytes per entry full, "
          f"{per_entry[1]:.0f} after forgetting {2 * size}")
    assert size * 7 // 8 <= len(history) <= size
    assert max(per_entry) < 360, per_entry


def test_history_window_and_counts(accounts):
    history = StatusHistory(16)  # generations of 2
    txns = [accounts.txn(0, s) for s in range(20)]
    for i, t in enumerate(txns):
        history.record([(t, RemovalReason.EVICTED if i % 2 else RemovalReason.COMMITTED)],
                       float(i), None)
    assert len(history) == 16  # 20 recorded: the 2 oldest generations went whole
    assert [history.by_hash(sha3(t)) is None for t in txns] == [True] * 4 + [False] * 16
    assert history.by_hash(sha3(txns[19])).at == 19.0
    assert history.counts() == {"capacity": 16, "size": 16,
                                "by_state": {"committed": 8, "dropped": 8},
                                "by_reason": {"evicted": 8}}
    history.record([(accounts.txn(1, 0), RemovalReason.STALE)], 20.0, None)
    assert len(history) == 15 and history.by_hash(sha3(txns[5])) is None
    again = txns[10]  # removed again (readmitted in between): the latest removal wins
    history.record([(again, RemovalReason.REJECTED)], 30.0, None)
    assert history.by_hash(sha3(again)).reason is DropReason.REJECTED
    assert history.by_pointer(*again.pointer).at == 30.0
    assert StatusHistory(0).by_hash(sha3(again)) is None
