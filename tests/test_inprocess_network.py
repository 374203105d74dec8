"""InProcessNetwork: peer events, ordered bounded delivery, back-pressure, seeded faults."""

from __future__ import annotations

import threading

import pytest

from conftest import wait_until
from mempool_fast.network.base import EventKind, Network
from mempool_fast.network.inprocess import Faults, InProcessNetwork


def drain(endpoint, kind=EventKind.MESSAGE):
    """Every event of `kind` waiting at `endpoint`, without blocking."""
    out = []
    while True:
        event = endpoint.recv(timeout=0)
        if event is None:
            return out
        if event.kind is kind:
            out.append(event.data)


def test_connect_disconnect_deliver_peer_events_to_both_ends():
    hub = InProcessNetwork()
    a, b = hub.endpoint("a"), hub.endpoint("b")
    assert isinstance(a, Network) and a.peer_id == "a"
    hub.connect("a", "b")
    ea, eb = a.recv(0), b.recv(0)
    assert (ea.kind, ea.peer_id) == (EventKind.NEW_PEER, "b")
    assert (eb.kind, eb.peer_id) == (EventKind.NEW_PEER, "a")
    hub.connect("a", "b")  # already linked: nothing new
    assert a.recv(0) is None
    hub.disconnect("b", "a")
    assert (a.recv(0).kind, b.recv(0).kind) == (EventKind.LOST_PEER, EventKind.LOST_PEER)
    assert not hub.connected("a", "b")
    assert a.send("b", b"x") is False


def test_messages_arrive_in_order_with_the_sender_id():
    hub = InProcessNetwork()
    a, b = hub.endpoint("a"), hub.endpoint("b")
    hub.connect("a", "b")
    drain(b, EventKind.NEW_PEER)
    for i in range(50):
        assert a.send("b", bytes([i]))
    events = [b.recv(0) for _ in range(50)]
    assert [e.data for e in events] == [bytes([i]) for i in range(50)]
    assert {e.peer_id for e in events} == {"a"}
    assert b.recv(0) is None


def test_bad_arguments_are_refused():
    hub = InProcessNetwork()
    a = hub.endpoint("a")
    hub.endpoint("b")
    with pytest.raises(ValueError):
        hub.endpoint("a")
    with pytest.raises(ValueError):
        hub.connect("a", "a")
    with pytest.raises(ValueError):
        hub.connect("a", "nobody")
    with pytest.raises(TypeError):
        a.send("b", "text")
    assert a.send("nobody", b"x") is False
    with pytest.raises(ValueError):
        Faults(drop=1.5)
    with pytest.raises(ValueError):
        InProcessNetwork(queue_size=0)


def test_full_inbox_makes_the_sender_wait_then_fail():
    hub = InProcessNetwork(queue_size=2, send_timeout=0.05)
    a, b = hub.endpoint("a"), hub.endpoint("b")
    hub.connect("a", "b")
    assert a.send("b", b"1") and a.send("b", b"2")
    assert a.send("b", b"3") is False  # the reader is not reading
    assert b.pending_messages() == 2
    hub.disconnect("a", "b")
    hub.connect("a", "b")  # peer events are never refused, even with a full inbox
    kinds = []
    while (event := b.recv(0)) is not None:
        kinds.append(event.kind)
    assert kinds == [EventKind.NEW_PEER, EventKind.MESSAGE, EventKind.MESSAGE,
                     EventKind.LOST_PEER, EventKind.NEW_PEER]
    assert hub.stats["refused"] == 1


def test_a_blocked_sender_resumes_when_the_receiver_reads():
    hub = InProcessNetwork(queue_size=1, send_timeout=10.0)
    a, b = hub.endpoint("a"), hub.endpoint("b")
    hub.connect("a", "b")
    drain(b, EventKind.NEW_PEER)
    assert a.send("b", b"first")
    result = []
    sender = threading.Thread(target=lambda: result.append(a.send("b", b"second")))
    sender.start()
    assert wait_until(lambda: hub.stats.get("sent", 0) == 2)
    assert result == []  # still waiting for room
    assert b.recv(1.0).data == b"first"
    sender.join(5.0)
    assert result == [True]
    assert b.recv(1.0).data == b"second"


def test_close_unblocks_recv_and_tells_the_peers():
    hub = InProcessNetwork()
    a, b = hub.endpoint("a"), hub.endpoint("b")
    hub.connect("a", "b")
    drain(a, EventKind.NEW_PEER)
    drain(b, EventKind.NEW_PEER)
    got = []
    reader = threading.Thread(target=lambda: got.append(b.recv(None)))
    reader.start()
    b.close()
    reader.join(5.0)
    assert got == [None]
    event = a.recv(0)
    assert (event.kind, event.peer_id) == (EventKind.LOST_PEER, "b")
    assert a.send("b", b"x") is False
    hub.endpoint("b")  # a closed endpoint's id can be reused


def _run_faulty(faults, count=200):
    hub = InProcessNetwork(faults=faults)
    a, b = hub.endpoint("a"), hub.endpoint("b")
    hub.connect("a", "b")
    drain(b, EventKind.NEW_PEER)
    for i in range(count):
        a.send("b", i.to_bytes(2, "little"))
    before_flush = drain(b)
    hub.flush()
    return before_flush, before_flush + drain(b), hub.stats


def test_faults_are_deterministic_by_seed():
    faults = Faults(seed=11, drop=0.1, duplicate=0.1, reorder=0.1, delay=0.1)
    first, second = _run_faulty(faults), _run_faulty(faults)
    assert first[1] == second[1]
    other = _run_faulty(Faults(seed=12, drop=0.1, duplicate=0.1, reorder=0.1, delay=0.1))
    assert other[1] != first[1]


def test_each_fault_kind_does_what_it_says():
    sent = [i.to_bytes(2, "little") for i in range(200)]
    _, all_dropped, stats = _run_faulty(Faults(seed=1, drop=1.0))
    assert all_dropped == [] and stats["dropped"] == 200
    _, doubled, _ = _run_faulty(Faults(seed=1, duplicate=1.0))
    assert doubled == [m for m in sent for _ in (0, 1)]
    early, reordered, stats = _run_faulty(Faults(seed=3, reorder=0.3))
    assert sorted(reordered) == sent and reordered != sent
    assert stats["held"] > 0
    assert stats["reordered"] == stats["held"] and "delayed" not in stats
    early, delayed, stats = _run_faulty(Faults(seed=3, delay=0.3, delay_max_messages=20))
    assert sorted(delayed) == sent and delayed != sent
    assert len(early) < len(sent)  # some were still held until flush()
    assert stats["delayed"] == stats["held"] >= len(sent) - len(early)  # some released early


def test_drop_if_drops_exactly_the_chosen_messages():
    faults = Faults(drop_if=lambda src, dst, data: data.startswith(b"ack"))
    hub = InProcessNetwork(faults=faults)
    a, b = hub.endpoint("a"), hub.endpoint("b")
    hub.connect("a", "b")
    drain(b, EventKind.NEW_PEER)
    for data in (b"ack1", b"msg1", b"ack2", b"msg2"):
        assert a.send("b", data)  # a dropped message looks sent, as on a real network
    assert drain(b) == [b"msg1", b"msg2"]
