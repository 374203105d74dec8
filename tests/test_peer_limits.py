"""Per-peer limits: a peer flooding messages is throttled without starving the others.

Two layers. The ZeroMQ transport's per-peer token bucket (`peer_rate_limit_per_sec`,
`peer_rate_burst`) drops and counts a flooder's excess before it reaches the inbound pool. In
the SharedMempool inbound pool, one peer runs at most `shared_mempool_max_inbound_syncs_per_peer`
batches at once and queues as many more (round-robin with the other peers, the rest dropped
unacknowledged), so a flooder whose batches are slow cannot take every slot while an honest
peer's batch waits; with every slot busy the reader still stops reading (back-pressure).
"""

from __future__ import annotations

import threading

import pytest

from conftest import wait_until
from mempool_fast import MempoolConfig
from mempool_fast.shared.protocol import Ack, Hello, decode, encode_broadcast
from mempool_fast.network.base import EventKind
from mempool_fast.network.inprocess import InProcessNetwork
from mempool_fast.shared import SharedMempool
from mempool_fast.storage import InMemoryAccountStore
from test_zmq_network import make_cluster, next_event  # noqa: F401  (make_cluster: fixture)


def test_flooder_is_throttled_and_the_honest_peer_gets_through(make_cluster, clock):
    config = MempoolConfig(peer_rate_limit_per_sec=10, peer_rate_burst=5)
    c = make_cluster(3, config=config, clock=clock)  # the clock stands still: no refill
    for name in ("n1", "n2"):  # their links to n0 are up (NEW_PEER may name the other peer)
        assert wait_until(lambda: "n0" in c.nets[name].peers_alive())
    for i in range(200):
        c.nets["n1"].send("n0", b"flood %d" % i)
    for i in range(5):
        assert c.nets["n2"].send("n0", b"honest %d" % i)
    got: dict[str, list] = {"n1": [], "n2": []}
    while len(got["n2"]) < 5:
        event = next_event(c.nets["n0"], EventKind.MESSAGE)
        got[event.peer_id].append(event.data)
    assert got["n2"] == [b"honest %d" % i for i in range(5)]
    assert wait_until(lambda: c.nets["n0"].stats().get("recv_rate_limited", 0) == 195)
    while (event := c.nets["n0"].recv(0.2)) is not None:
        if event.kind is EventKind.MESSAGE:
            got[event.peer_id].append(event.data)
    assert got["n1"] == [b"flood %d" % i for i in range(5)]  # the burst, nothing more


def test_shared_mempool_keeps_admitting_an_honest_peer_during_a_flood(make_cluster, accounts):
    config = MempoolConfig(peer_rate_limit_per_sec=50, peer_rate_burst=10,
                           shared_mempool_tick_interval_ms=20,
                           shared_mempool_max_concurrent_inbound_syncs=2)
    c = make_cluster(3, config=config)
    store = InMemoryAccountStore()
    for i in range(2):
        store.set_account(accounts.address(i), 0, 10**12)
    receiver = SharedMempool(config, c.nets["n0"], store)
    honest = SharedMempool(config, c.nets["n2"], store)
    stop = threading.Event()
    junk = encode_broadcast(1, 2, [accounts.txn(40, 0)])  # well-formed, unknown account

    def flood() -> None:
        while not stop.is_set():
            c.nets["n1"].send("n0", junk)

    flooder = threading.Thread(target=flood, name="flooder")
    with receiver, honest:
        flooder.start()
        try:
            assert wait_until(lambda: c.nets["n0"].stats().get("recv_rate_limited", 0) > 100)
            txns = [accounts.txn(0, 0), accounts.txn(1, 0)]
            honest.submit_transactions(txns)
            assert wait_until(lambda: all(t.pointer in receiver.mempool for t in txns)), \
                receiver.counters()
        finally:
            stop.set()
            flooder.join()
    assert receiver.mempool.get(*accounts.txn(40, 0).pointer) is None


FLOODER_ACCOUNT, HONEST_ACCOUNT = 50, 51


class GatedValidator:
    """The real validator; batches holding the flooder's account wait for `gate`, so the
    flooder's batches occupy their inbound slots until the test releases them."""

    def __init__(self, config, gate: threading.Event, slow_sender: bytes) -> None:
        from mempool_fast.validation import Ed25519Validator
        self.inner = Ed25519Validator(config)
        self.gate = gate
        self.slow_sender = slow_sender

    def validate(self, txns):
        if any(t.sender == self.slow_sender for t in txns):
            self.gate.wait(30)
        return self.inner.validate(txns)

    def close(self) -> None:
        self.inner.close()


def _acks(endpoint) -> list:
    out = []
    while (event := endpoint.recv(0)) is not None:
        if event.kind is EventKind.MESSAGE:
            message = decode(event.data)
            if isinstance(message, Hello):  # the receiver greets each new link
                continue
            assert isinstance(message, Ack)
            out.append(message.batch_id)
    return out


@pytest.mark.parametrize("share, honest_served", [(2, True), (4, False)])
def test_inbound_pool_serves_an_honest_peer_while_a_flooder_is_slow(accounts, share,
                                                                      honest_served):
    """share 2 of 4 slots: the honest batch runs at once beside the blocked flood, which is
    capped, queued and then dropped. share 4 (no per-peer limit): the flood holds every slot
    and the reader stops reading, so the honest batch waits in the network queue."""
    config = MempoolConfig(shared_mempool_max_concurrent_inbound_syncs=4,
                           shared_mempool_max_inbound_syncs_per_peer=share,
                           shared_mempool_tick_interval_ms=10**9,
                           shared_mempool_poll_interval_ms=20)
    hub = InProcessNetwork(queue_size=64, send_timeout=0)
    store = InMemoryAccountStore()
    for i in (FLOODER_ACCOUNT, HONEST_ACCOUNT):
        store.set_account(accounts.address(i), 0, 10**12)
    gate = threading.Event()
    validator = GatedValidator(config, gate, accounts.address(FLOODER_ACCOUNT))
    receiver = SharedMempool(config, hub.endpoint("r"), store, validator=validator)
    flooder, honest = hub.endpoint("flooder"), hub.endpoint("honest")
    flood = [accounts.txn(FLOODER_ACCOUNT, seq) for seq in range(20)]
    honest_txn = accounts.txn(HONEST_ACCOUNT, 0)
    try:
        with receiver:
            hub.connect("r", "flooder")
            hub.connect("r", "honest")
            for seq, txn in enumerate(flood):
                assert flooder.send("r", encode_broadcast(seq, seq + 1, [txn]))
            slots = config.shared_mempool_max_concurrent_inbound_syncs
            assert wait_until(lambda: receiver.inbound_queue().get("flooder", (0, 0))[0]
                              == min(share, slots))
            assert honest.send("r", encode_broadcast(0, 1, [honest_txn]))
            if honest_served:
                assert wait_until(lambda: honest_txn.pointer in receiver.mempool)
                assert wait_until(lambda: _acks(honest) == [(0, 1)])
                # the flood: `share` running, `share` waiting, the rest dropped unacknowledged
                assert wait_until(lambda: receiver.counters().get(
                    "inbound_dropped_peer_share", 0) == len(flood) - 2 * share)
                assert receiver.inbound_queue()["flooder"] == (share, share)
            else:
                assert wait_until(lambda: receiver.network.pending_messages() >= 1)
                assert honest_txn.pointer not in receiver.mempool  # reader stopped: back-pressure
                assert receiver.inbound_queue() == {"flooder": (slots, 0)}
            assert receiver.max_inbound_in_flight <= slots
            assert receiver.counters()["max_inbound_per_peer"] == min(share, slots)
            gate.set()
            assert wait_until(lambda: honest_txn.pointer in receiver.mempool)
            admitted = len(flood) if not honest_served else 2 * share
            assert wait_until(lambda: sum(t.pointer in receiver.mempool for t in flood)
                              == admitted)
            assert wait_until(lambda: receiver.inbound_queue() == {})
            assert len(_acks(flooder)) == admitted
    finally:
        gate.set()
        validator.close()
    assert receiver.max_inbound_in_flight <= config.shared_mempool_max_concurrent_inbound_syncs


def test_a_lost_peer_s_waiting_batches_are_discarded(accounts):
    config = MempoolConfig(shared_mempool_max_concurrent_inbound_syncs=2,
                           shared_mempool_max_inbound_syncs_per_peer=1,
                           shared_mempool_tick_interval_ms=10**9,
                           shared_mempool_poll_interval_ms=20)
    hub = InProcessNetwork(send_timeout=0)
    store = InMemoryAccountStore()
    store.set_account(accounts.address(FLOODER_ACCOUNT), 0, 10**12)
    gate = threading.Event()
    validator = GatedValidator(config, gate, accounts.address(FLOODER_ACCOUNT))
    receiver = SharedMempool(config, hub.endpoint("r"), store, validator=validator)
    peer = hub.endpoint("p")
    txns = [accounts.txn(FLOODER_ACCOUNT, seq) for seq in range(2)]
    try:
        with receiver:
            hub.connect("r", "p")
            for seq, txn in enumerate(txns):
                assert peer.send("r", encode_broadcast(seq, seq + 1, [txn]))
            assert wait_until(lambda: receiver.inbound_queue() == {"p": (1, 1)})
            hub.disconnect("r", "p")
            assert wait_until(lambda: receiver.inbound_queue() == {"p": (1, 0)})
            gate.set()
            assert wait_until(lambda: receiver.inbound_queue() == {})
            assert wait_until(lambda: txns[0].pointer in receiver.mempool)
            assert txns[1].pointer not in receiver.mempool  # never ran; the sender resends
    finally:
        gate.set()
        validator.close()
