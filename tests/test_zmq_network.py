"""The ZeroMQ transport on loopback, with raw bytes: admission, liveness, limits, back-pressure."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import zmq

from mempool_fast import MempoolConfig
from mempool_fast.network.base import EventKind, NetworkEvent
from mempool_fast.network.zmq import (
    PeerAddress, ZmqNetwork, ZmqSettings, curve_keypair_from_seed, curve_public_from_ed25519,
)

DEADLINE = 10.0
FAST = ZmqSettings(heartbeat_ivl_ms=200, heartbeat_timeout_ms=600, reconnect_ivl_ms=50,
                   reconnect_ivl_max_ms=200, poll_ms=200)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(i: int) -> bytes:
    return bytes([i + 1]) * 32


def wait_for(predicate, what: str, deadline: float = DEADLINE):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def next_event(net: ZmqNetwork, kind: EventKind, deadline: float = DEADLINE) -> NetworkEvent:
    """The next event of `kind` (others skipped), within a deadline."""
    end = time.monotonic() + deadline
    while (left := end - time.monotonic()) > 0:
        event = net.recv(left)
        if event is not None and event.kind is kind:
            return event
    raise AssertionError(f"no {kind} event on {net.peer_id}")


class Cluster:
    """Nodes n0..n{k-1} on free loopback ports; `start(name)` (re)creates one."""

    def __init__(self, count: int, config: MempoolConfig | None = None, **kw) -> None:
        self.config = config or MempoolConfig()
        self.kw = kw
        self.ports = {f"n{i}": free_port() for i in range(count)}
        self.seeds = {f"n{i}": seed(i) for i in range(count)}
        self.peers = {n: PeerAddress(self.address(n), curve_keypair_from_seed(self.seeds[n])[0])
                      for n in self.ports}
        self.nets: dict[str, ZmqNetwork] = {}

    def address(self, name: str) -> str:
        return f"tcp://127.0.0.1:{self.ports[name]}"

    def start(self, name: str) -> ZmqNetwork:
        net = ZmqNetwork(name, self.seeds[name], self.address(name), self.peers, self.config,
                         settings=FAST, **self.kw)
        self.nets[name] = net
        return net

    def close(self) -> None:
        for net in self.nets.values():
            net.close()


@pytest.fixture
def make_cluster():
    made = []

    def make(count: int, **kw) -> Cluster:
        cluster = Cluster(count, **kw)
        made.append(cluster)
        for name in cluster.ports:
            cluster.start(name)
        return cluster

    yield make
    for cluster in made:
        cluster.close()


def test_curve_keys_derive_from_ed25519():
    import nacl.signing
    pub, sec = curve_keypair_from_seed(seed(3))
    assert len(pub) == 40 and len(sec) == 40
    ed_pub = bytes(nacl.signing.SigningKey(seed(3)).verify_key)
    assert curve_public_from_ed25519(ed_pub) == pub
    assert zmq.curve_public(sec) == pub


def test_peers_connect_and_messages_carry_authenticated_name(make_cluster):
    c = make_cluster(3)
    for name, net in c.nets.items():
        seen = {next_event(net, EventKind.NEW_PEER).peer_id for _ in range(2)}
        assert seen == set(c.ports) - {name}
    assert c.nets["n1"].send("n0", b"hello")
    assert c.nets["n2"].send("n0", b"world")
    got = {(e.peer_id, e.data) for e in (next_event(c.nets["n0"], EventKind.MESSAGE)
                                         for _ in range(2))}
    assert got == {("n1", b"hello"), ("n2", b"world")}
    assert not c.nets["n0"].send("nobody", b"x")


def test_messages_arrive_in_order(make_cluster):
    c = make_cluster(2)
    next_event(c.nets["n1"], EventKind.NEW_PEER)
    next_event(c.nets["n0"], EventKind.NEW_PEER)
    for i in range(500):
        assert c.nets["n1"].send("n0", i.to_bytes(4, "little"))
    got = [int.from_bytes(next_event(c.nets["n0"], EventKind.MESSAGE).data, "little")
           for _ in range(500)]
    assert got == list(range(500))


def test_key_outside_the_validator_set_is_rejected_and_counted(make_cluster):
    c = make_cluster(2)
    next_event(c.nets["n0"], EventKind.NEW_PEER)
    # An intruder that knows n0's address and server key but holds its own key.
    intruder = ZmqNetwork("n0", seed(99), f"tcp://127.0.0.1:{free_port()}",
                          {"n1": c.peers["n1"]}, settings=FAST)
    # ... and one that claims to be n0 on a raw socket.
    ctx = zmq.Context()
    raw = ctx.socket(zmq.DEALER)
    try:
        pub, sec = curve_keypair_from_seed(seed(98))
        raw.curve_publickey, raw.curve_secretkey = pub, sec
        raw.curve_serverkey = c.peers["n1"].curve_public_key
        raw.linger = 0
        raw.connect(c.address("n1"))
        raw.send(b"injected")  # queued until the handshake, which never succeeds
        wait_for(lambda: c.nets["n1"].stats().get("auth_rejected", 0) >= 2, "two rejections")
        assert not intruder.send("n1", b"injected")
        assert intruder.peers_alive() == set()
        assert intruder.stats().get("handshake_failed", 0) >= 1
        assert c.nets["n1"].send("n0", b"ping")  # n1 itself is fine
        assert next_event(c.nets["n0"], EventKind.MESSAGE).data == b"ping"
        events = list(iter(lambda: c.nets["n1"].recv(0.2), None))
        assert all(e.kind is not EventKind.MESSAGE for e in events)
        assert "recv_messages" not in c.nets["n1"].stats()
    finally:
        raw.close(0)
        ctx.term()
        intruder.close()


def test_oversized_and_garbage_frames_are_dropped_and_counted(make_cluster):
    config = MempoolConfig(max_message_bytes=1_000)
    c = make_cluster(2, config=config)
    net = c.nets["n0"]
    next_event(net, EventKind.NEW_PEER)
    ctx = zmq.Context()
    raw = ctx.socket(zmq.DEALER)  # speaks as n1: the right key, wrong framing and sizes
    try:
        pub, sec = curve_keypair_from_seed(c.seeds["n1"])
        raw.curve_publickey, raw.curve_secretkey = pub, sec
        raw.curve_serverkey = c.peers["n0"].curve_public_key
        raw.linger = 0
        raw.connect(c.address("n0"))
        raw.send(b"x" * 1_500)                       # over the limit, under ZeroMQ's hard cap
        raw.send_multipart([b"two", b"frames"])      # not one frame
        raw.send(b"fine")
        assert next_event(net, EventKind.MESSAGE) == NetworkEvent(EventKind.MESSAGE, "n1",
                                                                  b"fine")
        stats = net.stats()
        assert stats["recv_oversized"] == 1 and stats["recv_malformed_frames"] == 1
        raw.send(b"y" * 5_000)                       # over the hard cap: ZeroMQ drops the link
        assert c.nets["n1"].send("n0", b"still working")
        assert next_event(net, EventKind.MESSAGE).data == b"still working"
        assert not c.nets["n1"].send("n0", b"z" * 1_001)
        assert c.nets["n1"].stats()["send_oversized"] == 1
    finally:
        raw.close(0)
        ctx.term()


def test_per_peer_rate_limit_with_injected_clock(make_cluster, clock):
    config = MempoolConfig(peer_rate_limit_per_sec=10, peer_rate_burst=5)
    c = make_cluster(2, config=config, clock=clock)
    next_event(c.nets["n1"], EventKind.NEW_PEER)
    for i in range(8):
        assert c.nets["n1"].send("n0", bytes([i]))
    got = [next_event(c.nets["n0"], EventKind.MESSAGE).data for _ in range(5)]
    assert got == [bytes([i]) for i in range(5)]
    wait_for(lambda: c.nets["n0"].stats().get("recv_rate_limited", 0) == 3, "3 drops")
    clock.advance(0.25)  # two and a half tokens back
    for i in range(3):
        c.nets["n1"].send("n0", bytes([10 + i]))
    assert [next_event(c.nets["n0"], EventKind.MESSAGE).data for _ in range(2)] == [b"\x0a",
                                                                                     b"\x0b"]
    wait_for(lambda: c.nets["n0"].stats().get("recv_rate_limited", 0) == 4, "4 drops")


def test_a_consumer_that_stops_reading_pushes_back_on_the_sender():
    settings = ZmqSettings(sndhwm=10, rcvhwm=10, inbound_queue_size=10, outbound_queue_size=10,
                           send_timeout_s=0.05, poll_ms=200)
    c = Cluster(2)
    try:
        for name in c.ports:
            c.nets[name] = ZmqNetwork(name, c.seeds[name], c.address(name), c.peers, c.config,
                                      settings=settings)
        next_event(c.nets["n1"], EventKind.NEW_PEER)
        payload = b"p" * 100_000  # big enough to fill the kernel's loopback buffers quickly
        sent = 0
        for _ in range(2_000):
            if not c.nets["n1"].send("n0", payload):
                break
            sent += 1
        assert sent < 2_000, "the sender never felt back-pressure"
        assert c.nets["n1"].stats()["send_queue_full"] >= 1
        # Reading again drains everything that was accepted, in order and complete.
        received = 0
        while received < sent:
            event = next_event(c.nets["n0"], EventKind.MESSAGE)
            assert event.data == payload
            received += 1
        assert received == sent
    finally:
        c.close()


def test_lost_peer_then_reconnect(make_cluster):
    c = make_cluster(2)
    next_event(c.nets["n0"], EventKind.NEW_PEER)
    c.nets["n1"].close()
    assert next_event(c.nets["n0"], EventKind.LOST_PEER).peer_id == "n1"
    assert not c.nets["n0"].send("n1", b"nobody home")
    restarted = c.start("n1")
    assert next_event(c.nets["n0"], EventKind.NEW_PEER).peer_id == "n1"
    next_event(restarted, EventKind.NEW_PEER)
    assert c.nets["n0"].send("n1", b"welcome back")
    assert next_event(restarted, EventKind.MESSAGE).data == b"welcome back"


def test_close_stops_the_io_thread_and_unblocks_recv(make_cluster):
    c = make_cluster(1)
    net = c.nets["n0"]
    result = []
    reader = threading.Thread(target=lambda: result.append(net.recv(None)))
    reader.start()
    net.close()
    reader.join(DEADLINE)
    assert not reader.is_alive() and result == [None]
    assert not any(t.name.startswith("zmq-io-n0") for t in threading.enumerate())
    net.close()  # idempotent
    assert not net.send("n0", b"x")


def test_unbindable_address_raises_cleanly():
    c = Cluster(1)
    first = c.start("n0")
    try:
        with pytest.raises(zmq.ZMQError):
            ZmqNetwork("n0", c.seeds["n0"], c.address("n0"), c.peers, settings=FAST)
    finally:
        first.close()
