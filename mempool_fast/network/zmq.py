"""ZeroMQ transport between validators: CurveZMQ on every link, only the validator set admitted.

Shape (one node):

- a ROUTER bound on ``listen_address`` receives from every peer (CURVE server; a ZAP handler
  admits only the configured validators' curve keys and names the peer in the ZAP User-Id, so a
  message is attributed to the authenticated key, never to a claimed id);
- one DEALER per configured peer sends to that peer's ROUTER (CURVE client pinned to the peer's
  server key); its socket monitor turns handshake-succeeded / disconnected into NEW_PEER /
  LOST_PEER; ZeroMQ heartbeats catch half-open links and reconnects automatically;
- one I/O thread owns every socket (and the ZAP handler). Other threads hand it outbound messages
  through a queue plus a pipe wake-up; inbound events go to a bounded buffer. When the buffer is
  full the I/O thread stops reading the ROUTER, so ZeroMQ's high-water marks and TCP push back on
  the senders.

Curve keys are derived from each node's Ed25519 key (``curve_keypair_from_seed``,
``curve_public_from_ed25519``), so a validator is named by one Ed25519 public key everywhere.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Callable, Mapping

import nacl.bindings
import nacl.signing
import zmq
import zmq.utils.z85
from zmq.utils.monitor import parse_monitor_message

from ..config import MempoolConfig
from .base import EventKind, Network, NetworkEvent

__all__ = ["ZmqNetwork", "ZmqSettings", "PeerAddress", "curve_keypair_from_seed",
           "curve_public_from_ed25519"]

log = logging.getLogger(__name__)

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
ZAP_DOMAIN = b"mempool_fast"
_MONITOR_EVENTS = (zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED
                   | zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                   | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_MONITOR_STOPPED)


def curve_keypair_from_seed(seed: bytes) -> tuple[bytes, bytes]:
    """(public, secret) Curve25519 keys, z85-encoded for ZeroMQ, derived from an Ed25519 seed."""
    signing = nacl.signing.SigningKey(bytes(seed))
    ed_secret = bytes(signing) + bytes(signing.verify_key)  # libsodium's 64-byte secret key
    secret = nacl.bindings.crypto_sign_ed25519_sk_to_curve25519(ed_secret)
    public = nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(bytes(signing.verify_key))
    return zmq.utils.z85.encode(public), zmq.utils.z85.encode(secret)


def curve_public_from_ed25519(ed25519_public_key: bytes) -> bytes:
    """The z85 Curve25519 public key matching a peer's 32-byte Ed25519 public key."""
    if len(ed25519_public_key) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return zmq.utils.z85.encode(
        nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(bytes(ed25519_public_key)))


@dataclass(frozen=True)
class PeerAddress:
    """Where a validator listens and the z85 curve public key it must prove."""

    address: str
    curve_public_key: bytes


@dataclass(frozen=True)
class ZmqSettings:
    """Transport tunables that are ZeroMQ-specific (the mempool-wide ones are MempoolConfig's)."""

    #: Heartbeat ping interval; a link silent for `heartbeat_timeout_ms` is dropped.
    heartbeat_ivl_ms: int = 1_000
    heartbeat_timeout_ms: int = 3_000
    #: Reconnect interval (first try) and its exponential back-off cap.
    reconnect_ivl_ms: int = 100
    reconnect_ivl_max_ms: int = 2_000
    #: ZeroMQ high-water marks (messages) on each socket.
    sndhwm: int = 1_000
    rcvhwm: int = 1_000
    #: Inbound events buffered for `recv`; when full the ROUTER is no longer read.
    inbound_queue_size: int = 1_000
    #: Outbound messages queued per peer in the transport before `send` waits.
    outbound_queue_size: int = 1_000
    #: How long `send` waits for room in a full per-peer queue before returning False.
    send_timeout_s: float = 0.5
    #: ZeroMQ MAXMSGSIZE = this factor x max_message_bytes: a message between the two limits is
    #: dropped and counted by the transport; a larger one makes ZeroMQ drop the link.
    hard_size_factor: int = 2
    #: Longest single poll, so a stop request is seen even if the wake-up is lost.
    poll_ms: int = 1_000


class _TokenBucket:
    """Per-peer message rate limit: `rate` per second, `burst` at most."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst, self.tokens, self.stamp = rate, burst, burst, now

    def take(self, now: float) -> bool:
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class ZmqNetwork(Network):
    """A node's handle on the validator network over ZeroMQ + CurveZMQ (see module docstring).

    `peers` maps peer name -> PeerAddress (this node's own name, if present, is ignored);
    `seed` is this node's 32-byte Ed25519 seed, from which its curve keys derive.
    `counters` (read with `stats()`) counts sent/received messages and every drop by reason.
    """

    def __init__(self, peer_id: str, seed: bytes, listen_address: str,
                 peers: Mapping[str, PeerAddress], config: MempoolConfig | None = None, *,
                 settings: ZmqSettings | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 start: bool = True) -> None:
        self.peer_id = peer_id
        self.config = config or MempoolConfig()
        self.settings = settings or ZmqSettings()
        self._clock = clock
        self._public, self._secret = curve_keypair_from_seed(seed)
        self._peers = {name: p for name, p in peers.items() if name != peer_id}
        #: authorised curve key (raw 32 bytes) -> peer name: the ZAP allow-list.
        self._allowed = {zmq.utils.z85.decode(p.curve_public_key): name
                         for name, p in self._peers.items()}
        self._lock = threading.Lock()
        self._space = threading.Condition(self._lock)   # room in per-peer outbound queues
        self._readable = threading.Condition(threading.Lock())  # inbound buffer not empty
        self._inbound: collections.deque[NetworkEvent] = collections.deque()
        self._outbox: collections.deque[tuple[str, bytes]] = collections.deque()
        self._pending = {name: 0 for name in self._peers}  # queued, not yet handed to zmq
        self._alive: set[str] = set()
        self._closed = False
        self._stop = False
        self._throttled = False
        self._counters = collections.Counter()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._ctx = zmq.Context()
        self._bound = threading.Event()
        self._error: BaseException | None = None
        self._listen_address = listen_address
        self.bound_address: str | None = None
        self._thread = threading.Thread(target=self._run, name=f"zmq-io-{peer_id}", daemon=True)
        if start:
            self.start()

    # -- public API --------------------------------------------------------------------------
    @property
    def curve_public_key(self) -> bytes:
        """This node's z85 curve public key."""
        return self._public

    def start(self) -> None:
        """Start the I/O thread; raises if the listen address cannot be bound."""
        self._thread.start()
        self._bound.wait()
        if self._error is not None:
            self._thread.join()
            self._release()
            raise self._error

    def send(self, peer_id: str, data: bytes) -> bool:
        if len(data) > self.config.max_message_bytes:
            self._count("send_oversized")
            return False
        deadline = None
        with self._space:
            while True:
                if self._closed or peer_id not in self._alive:
                    self._count_locked("send_peer_down")
                    return False
                if self._pending[peer_id] < self.settings.outbound_queue_size:
                    break
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self.settings.send_timeout_s
                if now >= deadline:
                    self._count_locked("send_queue_full")
                    return False
                self._space.wait(deadline - now)
            self._pending[peer_id] += 1
            self._outbox.append((peer_id, bytes(data)))
        self._wake()
        return True

    def recv(self, timeout: float | None = None) -> NetworkEvent | None:
        with self._readable:
            if not self._inbound and not self._closed:
                self._readable.wait_for(lambda: self._inbound or self._closed, timeout)
            if self._closed or not self._inbound:
                return None
            event = self._inbound.popleft()
            resume = self._throttled and len(self._inbound) < self.settings.inbound_queue_size
        if resume:
            self._wake()
        return event

    def close(self) -> None:
        with self._space:
            if self._closed:
                return
            self._closed = True
            self._stop = True
            self._space.notify_all()
        with self._readable:
            self._readable.notify_all()
        self._wake()
        if self._thread.is_alive():
            self._thread.join()
        self._release()

    def peers_alive(self) -> set[str]:
        """Names of the peers whose outbound link is up and authenticated."""
        with self._lock:
            return set(self._alive)

    def stats(self) -> dict[str, int]:
        """A snapshot of the transport's counters (sent, received, drops by reason...)."""
        with self._lock:
            return dict(self._counters)

    def __enter__(self) -> "ZmqNetwork":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- helpers shared by both sides ----------------------------------------------------------
    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counters[name] += n

    def _count_locked(self, name: str, n: int = 1) -> None:
        self._counters[name] += n

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"\0")
        except (BlockingIOError, OSError):
            pass  # pipe full (a wake-up is already pending) or closed

    def _release(self) -> None:
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._wake_r = self._wake_w = -1

    def _push(self, event: NetworkEvent) -> None:
        with self._readable:
            self._inbound.append(event)
            self._readable.notify()

    # -- the I/O thread ------------------------------------------------------------------------
    def _run(self) -> None:
        sockets = []
        try:
            zap = self._ctx.socket(zmq.ROUTER)
            sockets.append(zap)
            zap.linger = 0
            zap.bind(ZAP_ENDPOINT)
            router = self._ctx.socket(zmq.ROUTER)
            sockets.append(router)
            self._configure(router)
            router.curve_server = True
            router.curve_publickey = self._public
            router.curve_secretkey = self._secret
            router.zap_domain = ZAP_DOMAIN
            router.maxmsgsize = self.config.max_message_bytes * self.settings.hard_size_factor
            router.bind(self._listen_address)
            self.bound_address = router.getsockopt_string(zmq.LAST_ENDPOINT)
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            for s in sockets:
                s.close(linger=0)
            self._ctx.term()
            self._bound.set()
            return
        self._bound.set()
        dealers: dict[str, zmq.Socket] = {}
        monitors: dict[zmq.Socket, str] = {}
        for name, peer in self._peers.items():
            dealer = self._ctx.socket(zmq.DEALER)
            self._configure(dealer)
            dealer.immediate = 1
            dealer.curve_serverkey = peer.curve_public_key
            dealer.curve_publickey = self._public
            dealer.curve_secretkey = self._secret
            monitors[dealer.get_monitor_socket(_MONITOR_EVENTS)] = name
            dealer.connect(peer.address)
            dealers[name] = dealer
        try:
            self._loop(zap, router, dealers, monitors)
        except Exception:  # pragma: no cover - a bug; logged, and recv() then returns None
            log.exception("%s: ZeroMQ I/O thread failed", self.peer_id)
        finally:
            for dealer in dealers.values():
                dealer.disable_monitor()
            for sock in [*monitors, *dealers.values(), router, zap]:
                sock.close(linger=0)
            self._ctx.term()
            with self._space:
                self._closed = True
                self._alive.clear()
                self._space.notify_all()
            with self._readable:
                self._readable.notify_all()

    def _configure(self, sock: zmq.Socket) -> None:
        s = self.settings
        sock.linger = 0
        sock.sndhwm = s.sndhwm
        sock.rcvhwm = s.rcvhwm
        sock.heartbeat_ivl = s.heartbeat_ivl_ms
        sock.heartbeat_timeout = s.heartbeat_timeout_ms
        sock.heartbeat_ttl = s.heartbeat_timeout_ms
        sock.reconnect_ivl = s.reconnect_ivl_ms
        sock.reconnect_ivl_max = s.reconnect_ivl_max_ms

    def _loop(self, zap, router, dealers, monitors) -> None:
        poller = zmq.Poller()
        poller.register(self._wake_r, zmq.POLLIN)
        poller.register(zap, zmq.POLLIN)
        for mon in monitors:
            poller.register(mon, zmq.POLLIN)
        queues = {name: collections.deque() for name in dealers}
        blocked: set[str] = set()  # peers whose DEALER hit its HWM: poll them for POLLOUT
        reading = False
        buckets: dict[str, _TokenBucket] = {}
        while not self._stop:
            with self._readable:
                want_read = len(self._inbound) < self.settings.inbound_queue_size
                self._throttled = not want_read
            if want_read != reading:
                if want_read:
                    poller.register(router, zmq.POLLIN)
                else:
                    poller.unregister(router)
                reading = want_read
            ready = dict(poller.poll(self.settings.poll_ms))
            if self._wake_r in ready:
                try:
                    while os.read(self._wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
            if zap in ready:
                self._serve_zap(zap)
            for mon, name in monitors.items():
                if mon in ready:
                    self._on_monitor(mon, name, queues)
            if reading and router in ready:
                self._read_router(router, buckets)
            self._take_outbox(queues)
            for name, q in queues.items():
                if q:
                    self._flush(name, dealers[name], q)
                sock = dealers[name]
                if q and name not in blocked:
                    blocked.add(name)
                    poller.register(sock, zmq.POLLOUT)
                elif not q and name in blocked:
                    blocked.discard(name)
                    poller.unregister(sock)

    def _serve_zap(self, zap) -> None:
        """Answer ZAP requests (RFC 27): admit a CURVE client only if its key is a validator's."""
        while True:
            try:
                frames = zap.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                sep = frames.index(b"")
            except ValueError:
                continue
            envelope, request = frames[:sep + 1], frames[sep + 1:]
            if len(request) < 6:
                continue
            version, request_id, _domain, address, _identity, mechanism = request[:6]
            key = request[6] if len(request) > 6 else b""
            name = self._allowed.get(key) if mechanism == b"CURVE" else None
            if name is None:
                self._count("auth_rejected")
                log.warning("%s: rejected %s connection from %s (key not in the validator set)",
                            self.peer_id, mechanism.decode(errors="replace"),
                            address.decode(errors="replace"))
                reply = [version, request_id, b"400", b"not a validator", b"", b""]
            else:
                self._count("auth_accepted")
                reply = [version, request_id, b"200", b"OK", name.encode(), b""]
            zap.send_multipart(envelope + reply)

    def _on_monitor(self, mon, name: str, queues) -> None:
        while True:
            try:
                event = parse_monitor_message(mon.recv_multipart(zmq.NOBLOCK))["event"]
            except zmq.Again:
                return
            if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                with self._space:
                    fresh = name not in self._alive
                    self._alive.add(name)
                if fresh:
                    log.info("%s: peer %s up", self.peer_id, name)
                    self._push(NetworkEvent(EventKind.NEW_PEER, name))
            elif event == zmq.EVENT_DISCONNECTED:
                with self._space:
                    was = name in self._alive
                    self._alive.discard(name)
                    dropped = self._pending[name]  # counts both the outbox and queues[name]
                    # queued for a dead link: the acknowledged broadcast resends what matters
                    self._outbox = collections.deque(m for m in self._outbox if m[0] != name)
                    self._pending[name] = 0
                    self._counters["send_dropped_peer_lost"] += dropped
                    self._space.notify_all()
                queues[name].clear()
                if was:
                    log.info("%s: peer %s down", self.peer_id, name)
                    self._push(NetworkEvent(EventKind.LOST_PEER, name))
            elif event in (zmq.EVENT_HANDSHAKE_FAILED_AUTH, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
                           zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL):
                self._count("handshake_failed")

    def _read_router(self, router, buckets) -> None:
        limit = self.config.max_message_bytes
        rate = self.config.peer_rate_limit_per_sec
        room = self.settings.inbound_queue_size
        with self._readable:
            room -= len(self._inbound)
        while room > 0:
            try:
                frames = router.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            if len(frames) != 2:
                self._count("recv_malformed_frames")
                continue
            frame = frames[1]
            try:
                name = frame.get("User-Id")
            except zmq.ZMQError:
                name = None
            if not name or name not in self._peers:
                self._count("recv_unattributed")
                continue
            if frame.buffer.nbytes > limit:
                self._count("recv_oversized")
                continue
            if rate > 0:
                now = self._clock()
                bucket = buckets.get(name)
                if bucket is None:
                    bucket = buckets[name] = _TokenBucket(rate, max(1, self.config.peer_rate_burst),
                                                          now)
                if not bucket.take(now):
                    self._count("recv_rate_limited")
                    continue
            self._count("recv_messages")
            self._push(NetworkEvent(EventKind.MESSAGE, name, frame.bytes))
            room -= 1

    def _take_outbox(self, queues) -> None:
        with self._lock:
            outbox, self._outbox = self._outbox, collections.deque()
        for name, data in outbox:
            queues[name].append(data)

    def _flush(self, name: str, dealer, q: collections.deque) -> None:
        sent = 0
        while q:
            try:
                dealer.send(q[0], zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            q.popleft()
            sent += 1
        if sent:
            with self._space:
                self._pending[name] -= sent
                self._counters["sent_messages"] += sent
                self._space.notify_all()

