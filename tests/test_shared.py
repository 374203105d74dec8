"""SharedMempool over the in-process network, on every core.

The Libra shared-mempool tests are ported by driving outbound rounds by hand with
`sync_with_peers()` (the tick is effectively infinite) while the inbound threads run; effects of
those threads are awaited by polling with a deadline. The time-dependent parts (ack timeout,
backoff) use an injected FakeClock.
"""

from __future__ import annotations

import random
import threading
import time

import pytest

from conftest import wait_until
from mempool_fast import MempoolConfig, MempoolAddTransactionStatusCode as Code
from mempool_fast.shared.protocol import MSG_ACK, MSG_HELLO, VERSION, BroadcastRequest, encode
from mempool_fast.network.base import EventKind
from mempool_fast.network.inprocess import Faults, InProcessNetwork
from mempool_fast.shared import PeerSyncState, SharedMempool, SharedMempoolNotification as N
from mempool_fast.storage import InMemoryAccountStore
from mempool_fast.validation import Ed25519Validator

FOREVER_MS = 10**9
BALANCE = 10**12


def manual_config(**fields) -> MempoolConfig:
    """Rounds driven by hand: outbound and GC never tick on their own."""
    base = dict(shared_mempool_tick_interval_ms=FOREVER_MS,
                system_transaction_gc_interval_ms=FOREVER_MS,
                shared_mempool_batch_size=1,
                shared_mempool_max_concurrent_inbound_syncs=4,
                shared_mempool_poll_interval_ms=20)
    base.update(fields)
    return MempoolConfig(**base)


class Cluster:
    """Named SharedMempool nodes on one InProcessNetwork, one account store, one clock."""

    def __init__(self, core_cls, clock, accounts, names=("a", "b"), *, config=None,
                 configs=None, hub=None, validators=None, connect=True, funded=range(8)):
        self.hub = hub if hub is not None else InProcessNetwork()
        self.store = InMemoryAccountStore()
        for index in funded:
            self.store.set_account(accounts.address(index), 0, BALANCE)
        self.nodes: dict[str, SharedMempool] = {}
        for name in names:
            cfg = (configs or {}).get(name) or config or manual_config()
            self.nodes[name] = SharedMempool(
                cfg, self.hub.endpoint(name), self.store,
                validator=(validators or {}).get(name),
                mempool=core_cls(cfg, clock=clock), clock=clock)
        for node in self.nodes.values():
            node.start()
        if connect:
            self.hub.connect_all(names)
            for name in names:
                self.wait_peers(name, set(names) - {name})

    def __getitem__(self, name) -> SharedMempool:
        return self.nodes[name]

    def wait_peers(self, name, expected, alive=True):
        assert wait_until(lambda: all(
            p in self[name].peers() and self[name].peers()[p].is_alive == alive
            for p in expected)), self[name].peers()

    def stop(self):
        for node in self.nodes.values():
            node.stop()


@pytest.fixture
def cluster(core_cls, clock, accounts):
    made = []

    def make(*args, **kwargs):
        c = Cluster(core_cls, clock, accounts, *args, **kwargs)
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()


def holds(node, txn) -> bool:
    return node.mempool.get(txn.sender, txn.sequence_number) == txn


def received(node) -> int:
    return node.counters().get("received_batches", 0)


def acked(node, peer) -> bool:
    return node.in_flight(peer) == []


def submit_ok(node, txns):
    statuses = node.submit_transactions(txns)
    assert [s.code for s in statuses] == [Code.VALID] * len(txns), statuses


# ------------------------------------------------------------------------ Libra's tests, ported
def test_basic_flow_in_timeline_order(cluster, accounts):
    c = cluster()
    txns = [accounts.txn(0, seq) for seq in range(3)]
    submit_ok(c["a"], txns)
    for seq in range(3):
        c["a"].sync_with_peers()
        assert wait_until(lambda: holds(c["b"], txns[seq]))
        assert [holds(c["b"], t) for t in txns] == [i <= seq for i in range(3)]
        assert wait_until(lambda: acked(c["a"], "b"))
    assert c["a"].peers() == {"b": PeerSyncState(3, True)}
    assert c["b"].peers() == {"a": PeerSyncState(0, True)}


def test_interruption_in_sync_keeps_the_cursor(cluster, accounts):
    c = cluster(("a", "b", "c"))
    t0, t1 = accounts.txn(0, 0), accounts.txn(0, 1)
    submit_ok(c["a"], [t0])
    c["a"].sync_with_peers()
    assert wait_until(lambda: holds(c["b"], t0) and holds(c["c"], t0))
    assert wait_until(lambda: acked(c["a"], "b") and acked(c["a"], "c"))

    c.hub.disconnect("a", "b")
    c.wait_peers("a", {"b"}, alive=False)
    assert c["a"].peers()["b"] == PeerSyncState(1, False)
    submit_ok(c["a"], [t1])
    c["a"].sync_with_peers()
    assert wait_until(lambda: holds(c["c"], t1))
    assert not holds(c["b"], t1)
    assert c["a"].peers()["b"].timeline_id == 1  # a dead peer is not served

    c.hub.connect("a", "b")
    c.wait_peers("a", {"b"})
    c["a"].sync_with_peers()
    assert wait_until(lambda: holds(c["b"], t1))
    assert wait_until(lambda: acked(c["a"], "b"))
    assert received(c["b"]) == 2  # t0 once, then t1: nothing from before the interruption
    assert c["a"].peers()["b"] == PeerSyncState(2, True)


def test_ready_transactions_unblocked_by_a_gap_fill(cluster, accounts):
    c = cluster(config=manual_config(shared_mempool_batch_size=10))
    t0, t1, t2 = (accounts.txn(1, seq) for seq in range(3))
    submit_ok(c["a"], [t0, t2])
    c["a"].sync_with_peers()
    assert wait_until(lambda: holds(c["b"], t0))
    assert wait_until(lambda: acked(c["a"], "b"))
    assert not holds(c["b"], t2)  # parked at a: not in the timeline yet
    submit_ok(c["a"], [t1])
    c["a"].sync_with_peers()
    assert wait_until(lambda: holds(c["b"], t1) and holds(c["b"], t2))
    assert received(c["b"]) == 2


def test_no_rebroadcast_of_a_peers_transactions(cluster, accounts):
    c = cluster()
    t0 = accounts.txn(2, 0)
    submit_ok(c["a"], [t0])
    c["a"].sync_with_peers()
    assert wait_until(lambda: holds(c["b"], t0))
    c["b"].sync_with_peers()
    assert c["b"].mempool.read_timeline(0, 10) == ([], 0)  # NON_QUALIFIED: not broadcastable
    assert c["b"].counters().get("sent_batches", 0) == 0
    assert c["b"].mempool.get_block(10, frozenset()) == [t0]  # still offered to consensus


def test_dependencies_across_two_nodes(cluster, accounts):
    c = cluster()
    t0, t1 = accounts.txn(3, 0), accounts.txn(3, 1)
    submit_ok(c["a"], [t0])
    submit_ok(c["b"], [t1])
    c["b"].sync_with_peers()
    assert c["b"].counters().get("sent_batches", 0) == 0  # t1 waits for t0
    c["a"].sync_with_peers()
    assert wait_until(lambda: holds(c["b"], t0))
    c["b"].sync_with_peers()  # t0 arrived: t1 became ready at b and is broadcast
    assert wait_until(lambda: holds(c["a"], t1))
    for name in "ab":
        assert [t.sequence_number for t in c[name].get_block(10)] == [0, 1]


def test_updated_transaction_is_broadcast_again(cluster, accounts):
    c = cluster()
    cheap, dear = accounts.txn(4, 0, gas_price=1), accounts.txn(4, 0, gas_price=5)
    submit_ok(c["a"], [cheap])
    c["a"].sync_with_peers()
    assert wait_until(lambda: holds(c["b"], cheap))
    submit_ok(c["a"], [dear])
    c["a"].sync_with_peers()
    assert wait_until(lambda: holds(c["b"], dear))
    assert c["a"].peers()["b"].timeline_id == 2


def test_commit_and_reject_notifications(cluster, accounts):
    c = cluster(connect=False, names=("a",))
    node = c["a"]
    events = node.subscribe()
    t0, t1 = accounts.txn(5, 0), accounts.txn(5, 1)
    u0 = accounts.txn(6, 0)
    now = int(node._clock())  # the fake clock: an expiration already past is refused
    short = accounts.txn(7, 0, expiration=now + 1_000)
    submit_ok(node, [t0, t1, u0, short])
    assert node.get_block(10, exclude=[short.pointer]) and short.pointer in node.mempool
    assert node.commit_transactions([t0.pointer], block_time=now + 999) == 0
    assert events.get(timeout=1) is N.COMMIT
    assert t0.pointer not in node.mempool and t1.pointer in node.mempool
    node.commit_transactions([], block_time=now + 2_000, rejected=[u0.pointer])
    assert events.get(timeout=1) is N.REJECT
    assert u0.pointer not in node.mempool
    assert short.pointer not in node.mempool  # expired by block time
    assert events.empty()
    with pytest.raises(ValueError):
        node.commit_transactions([(b"short", 1)], block_time=0)
    with pytest.raises(TypeError):
        node.commit_transactions([t1.pointer, 7], block_time=0)
    assert t1.pointer in node.mempool  # a bad call changed nothing


def test_gc_and_commit_take_the_core_lock_in_steps(cluster, accounts, clock):
    """A sweep larger than core_step_size removes everything, one lock hold per step."""
    cfg = manual_config(core_step_size=3, system_transaction_timeout_secs=100)
    c = cluster(connect=False, names=("a",), config=cfg)
    node = c["a"]
    steps: list[int] = []
    node._core.add_listener(lambda removed: steps.append(len(removed)))
    now = int(node._clock())
    old = [accounts.txn(0, seq) for seq in range(7)]
    submit_ok(node, old)
    clock.advance(60)
    committed = [accounts.txn(1, seq) for seq in range(5)]
    expiring = [accounts.txn(2, seq, expiration=now + 500) for seq in range(4)]
    submit_ok(node, committed + expiring)
    clock.advance(50)  # `old` is past its system TTL, the others are not
    assert node.gc() == 7
    assert steps == [3, 3, 1]
    steps.clear()
    assert node.commit_transactions([t.pointer for t in committed], block_time=now + 600) == 4
    assert steps == [3, 2, 3, 1]
    assert len(node.mempool) == 0


# ------------------------------------------------------------------------ acknowledged broadcast
def test_rebroadcast_when_the_receiver_is_full(cluster, accounts, clock):
    cfg = manual_config()
    c = cluster(configs={"b": manual_config(capacity=1)})
    local, remote = accounts.txn(0, 0), accounts.txn(1, 0)
    submit_ok(c["b"], [local])  # b is now full with nothing it could evict
    submit_ok(c["a"], [remote])
    c["a"].sync_with_peers()
    assert wait_until(lambda: c["a"].counters().get("acks_received", 0) == 1)
    assert c["a"].metrics.value("mempool_acks_received_total", retry="True", backoff="True") == 1
    assert c["a"].in_flight("b") == [(0, 1)]
    assert not holds(c["b"], remote)

    c["a"].sync_with_peers()  # in backoff: no resend yet
    clock.advance(cfg.shared_mempool_backoff_interval_ms / 1000 / 2)
    c["a"].sync_with_peers()
    assert c["a"].counters().get("resent_batches", 0) == 0

    c["b"].commit_transactions([local.pointer], block_time=0)
    clock.advance(cfg.shared_mempool_backoff_interval_ms / 1000)
    c["a"].sync_with_peers()
    assert c["a"].counters()["resent_batches"] == 1
    assert wait_until(lambda: holds(c["b"], remote))
    assert wait_until(lambda: acked(c["a"], "b"))
    assert c["a"].metrics.value("mempool_resent_batches_total", reason="retry") == 1


def _drop_acks_from(sender, switch):
    return Faults(drop_if=lambda src, dst, data: (
        src == sender and switch.is_set() and data[:2] == bytes([VERSION, MSG_ACK])))


def test_rebroadcast_after_a_missing_ack(cluster, accounts, clock):
    dropping = threading.Event()
    dropping.set()
    c = cluster(hub=InProcessNetwork(faults=_drop_acks_from("b", dropping)))
    t0 = accounts.txn(0, 0)
    submit_ok(c["a"], [t0])
    c["a"].sync_with_peers()
    assert wait_until(lambda: holds(c["b"], t0))
    c["a"].sync_with_peers()
    assert received(c["b"]) == 1 and c["a"].in_flight("b") == [(0, 1)]  # not yet timed out

    clock.advance(c["a"].config.shared_mempool_ack_timeout_ms / 1000)
    c["a"].sync_with_peers()
    assert wait_until(lambda: received(c["b"]) == 2)
    dropping.clear()
    clock.advance(c["a"].config.shared_mempool_ack_timeout_ms / 1000)
    c["a"].sync_with_peers()
    assert wait_until(lambda: acked(c["a"], "b"))
    assert received(c["b"]) == 3
    assert c["a"].metrics.value("mempool_resent_batches_total", reason="timeout") == 2


def test_resend_rereads_the_range_and_skips_committed(cluster, accounts, clock):
    dropping = threading.Event()
    dropping.set()
    c = cluster(hub=InProcessNetwork(faults=_drop_acks_from("b", dropping)))
    t0 = accounts.txn(0, 0)
    submit_ok(c["a"], [t0])
    c["a"].sync_with_peers()
    assert wait_until(lambda: received(c["b"]) == 1)
    c["a"].commit_transactions([t0.pointer], block_time=0)
    clock.advance(c["a"].config.shared_mempool_ack_timeout_ms / 1000)
    c["a"].sync_with_peers()
    assert c["a"].in_flight("b") == []  # empty range: dropped as acknowledged
    assert c["a"].counters().get("resent_batches", 0) == 0


def test_in_flight_limit_per_peer(cluster, accounts, clock):
    dropping = threading.Event()
    dropping.set()
    cfg = manual_config(max_broadcasts_per_peer=2, shared_mempool_max_batches_per_round=3)
    c = cluster(config=cfg, hub=InProcessNetwork(faults=_drop_acks_from("b", dropping)))
    txns = [accounts.txn(0, seq) for seq in range(5)]
    submit_ok(c["a"], txns)
    for _ in range(4):
        c["a"].sync_with_peers()
    assert c["a"].counters()["sent_batches"] == 2
    assert c["a"].in_flight("b") == [(0, 1), (1, 2)]
    assert c["a"].peers()["b"].timeline_id == 2
    assert wait_until(lambda: received(c["b"]) == 2)

    dropping.clear()
    clock.advance(cfg.shared_mempool_ack_timeout_ms / 1000)
    for _ in range(5):  # resends the two, then new batches as acks free room
        c["a"].sync_with_peers()
        assert len(c["a"].in_flight("b")) <= 2
        assert wait_until(lambda: acked(c["a"], "b"))
    assert all(holds(c["b"], t) for t in txns)
    assert c["a"].counters()["sent_batches"] == 5


# ------------------------------------------------------------------------ threads and faults
def _mesh(cluster, accounts, names, hub, n_accounts=8, per_account=6, seed=5):
    cfg = MempoolConfig(shared_mempool_tick_interval_ms=5, shared_mempool_ack_timeout_ms=100,
                        shared_mempool_batch_size=4, shared_mempool_poll_interval_ms=20,
                        shared_mempool_max_concurrent_inbound_syncs=4,
                        system_transaction_gc_interval_ms=FOREVER_MS)
    rng = random.Random(seed)
    c = cluster(names, config=cfg, hub=hub)
    accepted = []
    for seq in range(per_account):
        for index in range(n_accounts):
            txn = accounts.txn(index, seq)
            node = c[rng.choice(names)]
            status = node.submit_transactions([txn])[0]
            if status.code == Code.VALID:
                accepted.append(txn)
    return c, accepted


@pytest.fixture
def real_clock_cluster(core_cls, accounts):
    made = []

    def make(names, **kwargs):
        c = Cluster(core_cls, time.time, accounts, names, **kwargs)
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()


def test_four_nodes_in_a_full_mesh_converge(real_clock_cluster, accounts):
    names = ("n0", "n1", "n2", "n3")
    c, accepted = _mesh(real_clock_cluster, accounts, names, InProcessNetwork())
    assert len(accepted) == 48
    assert wait_until(lambda: all(all(holds(c[n], t) for t in accepted) for n in names),
                      timeout=30)
    for name in names:
        assert len(c[name].mempool) == 48


def test_faulty_network_still_converges_and_loses_nothing(real_clock_cluster, accounts):
    names = ("n0", "n1", "n2", "n3")
    faults = Faults(seed=42, drop=0.2, duplicate=0.2, reorder=0.2, delay=0.1)
    hub = InProcessNetwork(faults=faults)
    c, accepted = _mesh(real_clock_cluster, accounts, names, hub)
    assert len(accepted) == 48
    assert wait_until(lambda: all(all(holds(c[n], t) for t in accepted) for n in names),
                      timeout=60)
    stats = hub.stats
    assert stats["dropped"] > 0 and stats["duplicated"] > 0 and stats["held"] > 0
    assert sum(n.counters().get("resent_batches", 0) for n in c.nodes.values()) > 0


class SlowValidator:
    """The real validator behind a gate; records how many batches it held at once."""

    def __init__(self, config, gate: threading.Event):
        self.inner = Ed25519Validator(config)
        self.gate = gate
        self.lock = threading.Lock()
        self.running = 0
        self.max_running = 0

    def validate(self, txns):
        with self.lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        try:
            self.gate.wait()
            return self.inner.validate(txns)
        finally:
            with self.lock:
                self.running -= 1

    def close(self):
        self.inner.close()


def test_slow_validator_bounds_inbound_concurrency_and_pushes_back(cluster, accounts, clock):
    gate = threading.Event()
    sender_cfg = manual_config(shared_mempool_max_batches_per_round=12,
                               max_broadcasts_per_peer=20)
    receiver_cfg = manual_config(shared_mempool_max_concurrent_inbound_syncs=2)
    slow = SlowValidator(receiver_cfg, gate)
    hub = InProcessNetwork(queue_size=2, send_timeout=0.02)
    c = cluster(configs={"a": sender_cfg, "b": receiver_cfg}, hub=hub,
                validators={"b": slow})
    try:
        txns = [accounts.txn(0, seq) for seq in range(12)]
        submit_ok(c["a"], txns)
        c["a"].sync_with_peers()
        assert wait_until(lambda: slow.running == 2)
        assert c["b"].network.pending_messages() <= 2
        assert c["a"].counters().get("failed_sends", 0) > 0  # back-pressure reached a
        assert slow.max_running == 2
    finally:
        gate.set()
    for _ in range(20):
        if all(holds(c["b"], t) for t in txns):
            break
        clock.advance(sender_cfg.shared_mempool_ack_timeout_ms / 1000)
        c["a"].sync_with_peers()
        wait_until(lambda: c["a"].in_flight("b") == [], timeout=2)
    assert all(holds(c["b"], t) for t in txns)
    assert slow.max_running == 2
    assert c["b"].max_inbound_in_flight == 2
    slow.close()


def test_malformed_messages_are_counted_and_harmless(cluster, accounts):
    c = cluster()
    raw = c.hub.endpoint("x")
    c.hub.connect("x", "b")
    c.wait_peers("b", {"x"})
    good = [accounts.txn(0, 0), accounts.txn(1, 0)]
    for data in (b"", b"\x09\x01garbage", b"\x01\x01" + b"\xff" * 20):
        assert raw.send("b", data)
    mixed = BroadcastRequest(0, 3, (good[0].to_bytes(), b"\x00" * 50, good[1].to_bytes()))
    assert raw.send("b", encode(mixed))
    assert wait_until(lambda: c["b"].malformed_messages == 3
                      and c["b"].malformed_transactions == 1)
    assert wait_until(lambda: all(holds(c["b"], t) for t in good))
    ack = None  # the first message is b's HELLO (its incarnation), then the ack
    while ack is None or ack.kind is not EventKind.MESSAGE or ack.data[1] == MSG_HELLO:
        ack = raw.recv(timeout=5)
    assert ack.data[:2] == bytes([VERSION, MSG_ACK])
    assert c["b"].metrics.value("mempool_malformed_messages_total") == 3
    t = accounts.txn(2, 0)  # b still works
    submit_ok(c["a"], [t])
    c["a"].sync_with_peers()
    assert wait_until(lambda: holds(c["b"], t))


def test_stop_leaves_no_thread_and_is_quick(core_cls, clock, accounts):
    before = set(threading.enumerate())
    cfg = MempoolConfig(shared_mempool_tick_interval_ms=5, system_transaction_gc_interval_ms=5,
                        shared_mempool_poll_interval_ms=50)
    c = Cluster(core_cls, clock, accounts, ("a", "b"), config=cfg)
    submit_ok(c["a"], [accounts.txn(0, 0)])
    assert wait_until(lambda: holds(c["b"], accounts.txn(0, 0)))
    assert len(set(threading.enumerate()) - before) >= 6
    started = time.monotonic()
    c.stop()
    assert time.monotonic() - started < 1.0
    assert set(threading.enumerate()) - before == set()
    c["a"].stop()  # idempotent


# ------------------------------------------------------------------------ client, peers, metrics
def test_client_path_statuses_in_input_order(cluster, accounts):
    c = cluster(names=("a",), connect=False)
    node = c["a"]
    good = accounts.txn(0, 0)
    stranger = accounts.txn(50, 0)  # not funded
    forged = accounts.txn(1, 0)
    forged = type(forged)(sender=forged.sender, sequence_number=0, payload=b"x",
                          max_gas_amount=forged.max_gas_amount,
                          gas_unit_price=forged.gas_unit_price,
                          expiration_time=forged.expiration_time,
                          public_key=forged.public_key, signature=forged.signature)
    stale = accounts.txn(2, 0)
    c.store.set_account(accounts.address(2), 5, BALANCE)
    statuses = node.submit_transactions([good, stranger, forged, stale, good])
    assert [s.code for s in statuses] == [Code.VALID, Code.UNKNOWN_ACCOUNT,
                                         Code.INVALID_SIGNATURE, Code.INVALID_SEQ_NUMBER,
                                         Code.VALID]
    assert len(node.mempool) == 1
    with pytest.raises(TypeError):
        node.submit_transactions([accounts.txn(3, 0), "junk"])
    assert len(node.mempool) == 1  # nothing admitted from a bad call
    assert node.submit_transactions([]) == []
    assert node.metrics.value("mempool_add_status_total", origin="client", code="VALID") == 2
    assert node.metrics.value("mempool_index_size", index="transactions") == 1


def test_peers_snapshot_and_new_peer_served_next_round(cluster, accounts):
    c = cluster(names=("a", "b"), connect=False)
    events = c["a"].subscribe()
    submit_ok(c["a"], [accounts.txn(0, 0)])
    c.hub.connect("a", "b")
    c.wait_peers("a", {"b"})
    assert events.get(timeout=1) is N.PEER_STATE_CHANGE
    snapshot = c["a"].peers()
    snapshot["b"] = PeerSyncState(99, False)
    assert c["a"].peers() == {"b": PeerSyncState(0, True)}  # a copy
    c["a"].sync_with_peers()
    assert events.get(timeout=1) is N.SYNC
    assert c["a"].peers()["b"].timeline_id == 1
    assert wait_until(lambda: holds(c["b"], accounts.txn(0, 0)))
    assert events.get(timeout=5) is N.ACK


def test_default_validator_and_core(accounts):
    from mempool_fast import CoreMempool
    hub = InProcessNetwork()
    store = InMemoryAccountStore([(accounts.address(0), 0, BALANCE)])
    with SharedMempool(manual_config(), hub.endpoint("solo"), store) as node:
        assert isinstance(node.validator, Ed25519Validator)
        assert isinstance(node.mempool, CoreMempool)
        submit_ok(node, [accounts.txn(0, 0)])
    with pytest.raises(TypeError):
        SharedMempool(manual_config(), object(), store)
    with pytest.raises(ValueError):
        SharedMempool(manual_config(shared_mempool_poll_interval_ms=0), hub.endpoint("x"), store)


def test_stage_latencies_are_recorded(cluster, accounts, clock):
    c = cluster()
    t0 = accounts.txn(0, 0)
    submit_ok(c["a"], [t0])
    clock.advance(0.3)
    c["a"].sync_with_peers()
    clock.advance(0.2)
    assert c["a"].get_block(1) == [t0]
    clock.advance(0.5)
    c["a"].commit_transactions([t0.pointer], block_time=0)
    value = c["a"].metrics.value
    assert value("mempool_stage_latency_seconds_sum", stage="submitted_to_broadcast") == \
        pytest.approx(0.3)
    assert value("mempool_stage_latency_seconds_sum", stage="submitted_to_pulled") == \
        pytest.approx(0.5)
    assert value("mempool_stage_latency_seconds_sum", stage="submitted_to_committed") == \
        pytest.approx(1.0)
    assert b"mempool_broadcast_batches_total 1.0" in c["a"].metrics.exposition()


def test_an_already_expired_transaction_is_refused_on_both_paths(cluster, accounts, clock):
    c = cluster()
    now = int(clock())
    stale = accounts.txn(0, 0, expiration=now - 1)
    fresh = accounts.txn(1, 0, expiration=now + 1)
    statuses = c["a"].submit_transactions([stale, fresh])
    assert [s.code for s in statuses] == [Code.TRANSACTION_EXPIRED, Code.VALID]
    assert "already past" in statuses[0].message
    assert stale.pointer not in c["a"].mempool
    ack = c["b"].process_broadcast("a", BroadcastRequest(0, 2, (stale.to_bytes(),
                                                               fresh.to_bytes())))
    assert not ack.retry
    assert stale.pointer not in c["b"].mempool and holds(c["b"], fresh)
    assert c["b"].metrics.value("mempool_add_status_total", origin="peer",
                                code="TRANSACTION_EXPIRED") == 1
