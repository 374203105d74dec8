"""ZeroMQ transport between validators: CurveZMQ on every link, only the validator set admitted.

Shape (one node):

- a ROUTER bound on ``listen_address`` receives from every peer (CURVE server; a ZAP handler
  admits only the configured validators' curve keys and names the peer in the ZAP User-Id, so a
  message is attributed to the authenticated key, never to a claimed id);
- one DEALER per configured peer sends to that peer's ROUTER (CURVE client pinned to the peer's
  server key); its socket monitor turns handshake-succeeded / disconnected into NEW_PEER /
  LOST_PEER; ZeroMQ heartbeats catch half-open links and reconnects automatically;
- a second socket monitor, on the ROUTER, counts every inbound link by how it ended (accepted,
  handshake succeeded / failed and why, disconnected), so hostile or broken connections that
  never reach the ZAP handler still show in ``stats()``; refused handshakes are logged at most
  once per address per ``refused_log_interval_s``;
- one I/O thread owns every socket (and the ZAP handler). Other threads hand it outbound messages
  through a queue plus a pipe wake-up; inbound events go to a bounded buffer. When the buffer is
  full the I/O thread stops reading the ROUTER, so ZeroMQ's high-water marks and TCP push back on
  the senders.

Curve keys are derived from each node's Ed25519 key (``curve_keypair_from_seed``,
``curve_public_from_ed25519``), so a validator is named by one Ed25519 public key everywhere.
"""

from __future__ import annotations

import collections
import functools
import logging
import operator
import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Callable, Mapping

import nacl.bindings
import nacl.signing
import zmq
import zmq.utils.z85
from zmq.utils.monitor import parse_monitor_message

from ..config import MempoolConfig, check_settings, setting
from ..errors import ConfigError
from .base import EventKind, Network, NetworkEvent

__all__ = ["ZmqNetwork", "ZmqSettings", "PeerAddress", "curve_keypair_from_seed",
           "curve_public_from_ed25519"]

log = logging.getLogger(__name__)

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
ZAP_DOMAIN = b"mempool_fast"
_MONITOR_EVENTS = (zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED
                   | zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                   | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_MONITOR_STOPPED)
#: ROUTER (inbound) monitor events -> the counter each one increments (see ZmqNetwork).
_ROUTER_COUNTERS = {
    zmq.EVENT_ACCEPTED: "inbound_accepted",
    zmq.EVENT_ACCEPT_FAILED: "inbound_accept_failed",
    zmq.EVENT_HANDSHAKE_SUCCEEDED: "inbound_handshake_succeeded",
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "inbound_handshake_failed_protocol",
    zmq.EVENT_HANDSHAKE_FAILED_AUTH: "inbound_handshake_failed_auth",
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "inbound_handshake_failed_no_detail",
    zmq.EVENT_DISCONNECTED: "inbound_disconnected",
}
_ROUTER_MONITOR_EVENTS = functools.reduce(operator.or_, _ROUTER_COUNTERS,
                                          zmq.EVENT_MONITOR_STOPPED)
#: Distinct addresses whose refusals are rate-limited separately; past it, one shared entry.
_MAX_REFUSAL_ADDRESSES = 1024
_OTHER_ADDRESSES = "other addresses"

_MAX_MS = 10 ** 9            # about 11.6 days: past it an interval is a typo
_MAX_HEARTBEAT_MS = 6_553_500  # ZMQ_HEARTBEAT_TTL (set to the timeout) is 16-bit deciseconds
_MAX_INT = (1 << 31) - 1     # ZeroMQ int socket options
_TCP_ENDPOINT = re.compile(r"tcp://(\[[^\[\]\s/]+\]|[A-Za-z0-9_.-]+):(\d{1,5})")
_IPC_PATH_MAX = 107          # sockaddr_un.sun_path, less its terminating NUL


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


def _config_error(message: str, field: str) -> ConfigError:
    error = ConfigError(message)
    error.field = field
    return error


def _is_ipv6_endpoint(address: str) -> bool:
    """A tcp:// endpoint whose host is a bracketed IPv6 literal (needs ZMQ_IPV6 on the socket)."""
    return address.startswith("tcp://[")


@dataclass(frozen=True)
class PeerAddress:
    """Where a validator listens and the z85 curve public key it must prove.

    `address` is a ZeroMQ endpoint a DEALER can connect to: ``tcp://HOST:PORT`` (HOST a name,
    an IPv4 address or a bracketed IPv6 address; PORT 1..65535) or ``ipc://PATH``;
    `curve_public_key` is 40 z85 characters (bytes) that decode to a 32-byte key. Anything else
    raises ConfigError (`.field` names the bad field) where the PeerAddress is made.
    """

    address: str
    curve_public_key: bytes

    def __post_init__(self) -> None:
        address = self.address
        if not isinstance(address, str):
            raise _config_error(f"PeerAddress.address must be a str, got {address!r}", "address")
        if address.startswith("ipc://"):
            path = address[len("ipc://"):]
            if not path or "\0" in path or len(path.encode(errors="surrogateescape")) > \
                    _IPC_PATH_MAX:
                raise _config_error(
                    f"PeerAddress.address {address!r} is not a usable ipc:// endpoint (the path "
                    f"must be 1..{_IPC_PATH_MAX} bytes)", "address")
        else:
            match = _TCP_ENDPOINT.fullmatch(address)
            if match is None or not 1 <= int(match.group(2)) <= 65535:
                raise _config_error(
                    f"PeerAddress.address {address!r} is not a ZeroMQ endpoint this transport "
                    "can connect to (tcp://HOST:PORT with PORT 1..65535, or ipc://PATH)",
                    "address")
        key = self.curve_public_key
        try:
            ok = isinstance(key, bytes) and len(zmq.utils.z85.decode(key)) == 32
        except Exception:  # noqa: BLE001 - z85 raises KeyError/ValueError/struct.error
            ok = False
        if not ok:
            raise _config_error(
                f"PeerAddress.curve_public_key must be a z85-encoded 32-byte key (40 bytes), "
                f"got {key!r}", "curve_public_key")


@dataclass(frozen=True)
class ZmqSettings:
    """Transport tunables that are ZeroMQ-specific (the mempool-wide ones are MempoolConfig's).

    Every field is checked where the settings are made (kind and range, see `setting`, plus
    heartbeat_timeout_ms > heartbeat_ivl_ms and reconnect_ivl_max_ms >= reconnect_ivl_ms);
    a bad value raises ConfigError naming the field (`.field`).
    """

    #: Heartbeat ping interval; a link silent for `heartbeat_timeout_ms` is dropped.
    heartbeat_ivl_ms: int = setting(1_000, lo=1, hi=_MAX_HEARTBEAT_MS)
    heartbeat_timeout_ms: int = setting(3_000, lo=1, hi=_MAX_HEARTBEAT_MS)
    #: Reconnect interval (first try) and its exponential back-off cap.
    reconnect_ivl_ms: int = setting(100, lo=1, hi=_MAX_MS)
    reconnect_ivl_max_ms: int = setting(2_000, lo=1, hi=_MAX_MS)
    #: ZeroMQ high-water marks (messages) on each socket.
    sndhwm: int = setting(1_000, lo=1, hi=_MAX_INT)
    rcvhwm: int = setting(1_000, lo=1, hi=_MAX_INT)
    #: Inbound events buffered for `recv`; when full the ROUTER is no longer read.
    inbound_queue_size: int = setting(1_000, lo=1, hi=1 << 30)
    #: Outbound messages queued per peer in the transport before `send` waits.
    outbound_queue_size: int = setting(1_000, lo=1, hi=1 << 30)
    #: How long `send` waits for room in a full per-peer queue before returning False
    #: (0: never wait).
    send_timeout_s: float = setting(0.5, lo=0, hi=86_400, kind=float)
    #: ZeroMQ MAXMSGSIZE = this factor x max_message_bytes: a message between the two limits is
    #: dropped and counted by the transport; a larger one makes ZeroMQ drop the link.
    hard_size_factor: int = setting(2, lo=1, hi=1 << 10)
    #: Longest single poll, so a stop request is seen even if the wake-up is lost.
    poll_ms: int = setting(1_000, lo=1, hi=60_000)
    #: At most one WARNING per remote address per this many seconds for refused handshakes
    #: (the next one says how many were suppressed); 0 logs every refusal. The counters count
    #: every refusal regardless.
    refused_log_interval_s: float = setting(10.0, lo=0, hi=86_400, kind=float)

    def __post_init__(self) -> None:
        check_settings(self)
        if self.heartbeat_timeout_ms <= self.heartbeat_ivl_ms:
            raise _config_error(
                f"ZmqSettings.heartbeat_timeout_ms must be more than heartbeat_ivl_ms "
                f"({self.heartbeat_ivl_ms}), got {self.heartbeat_timeout_ms!r}",
                "heartbeat_timeout_ms")
        if self.reconnect_ivl_max_ms < self.reconnect_ivl_ms:
            raise _config_error(
                f"ZmqSettings.reconnect_ivl_max_ms must be at least reconnect_ivl_ms "
                f"({self.reconnect_ivl_ms}), got {self.reconnect_ivl_max_ms!r}",
                "reconnect_ivl_max_ms")


class _RefusalLog:
    """Rate limit of the refused-handshake WARNING: per address, at most one per `interval`.

    `refused(address, now)` returns how many refusals from `address` went unlogged since its
    last warning when one is due now, else None (and counts this one as suppressed).
    `sweep(now)` returns (address, suppressed) for every address whose interval ran out with
    refusals still unreported (each such report counts as that address's warning), and forgets
    the addresses quiet for a whole interval. Past `limit` addresses, new ones share one entry.
    """

    __slots__ = ("entries", "interval", "limit", "next_sweep")

    def __init__(self, interval: float, limit: int = _MAX_REFUSAL_ADDRESSES) -> None:
        self.interval, self.limit = interval, limit
        self.entries: dict[str, list] = {}  # address -> [time of last warning, suppressed]
        self.next_sweep = float("inf")

    def refused(self, address: str, now: float) -> int | None:
        if address not in self.entries and len(self.entries) >= self.limit:
            address = _OTHER_ADDRESSES
        entry = self.entries.get(address)
        if entry is not None and now - entry[0] < self.interval:
            entry[1] += 1
            return None
        suppressed = entry[1] if entry is not None else 0
        self.entries[address] = [now, 0]
        self.next_sweep = min(self.next_sweep, now + self.interval)
        return suppressed

    def sweep(self, now: float) -> list[tuple[str, int]]:
        if now < self.next_sweep:
            return []
        due = []
        for address, entry in list(self.entries.items()):
            if now - entry[0] < self.interval:
                continue
            if entry[1]:
                due.append((address, entry[1]))
                entry[0], entry[1] = now, 0
            else:
                del self.entries[address]
        self.next_sweep = min((e[0] + self.interval for e in self.entries.values()),
                              default=float("inf"))
        return due


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

    Inbound links (the ROUTER's socket monitor; one link can bump several counters):

    - ``inbound_accepted``: a TCP/IPC connection was accepted (every kind below starts so);
    - ``inbound_accept_failed``: accept() itself failed (e.g. out of file descriptors);
    - ``inbound_handshake_succeeded``: a validator's CURVE handshake completed;
    - ``inbound_handshake_failed_protocol``: the peer spoke ZMTP but not our CURVE handshake, e.g.
      a NULL/PLAIN client (mechanism mismatch) or a CURVE client with the wrong server key;
    - ``inbound_handshake_failed_auth``: CURVE handshake refused by the ZAP handler (the same
      refusals as ``auth_rejected``);
    - ``inbound_handshake_failed_no_detail``: the connection ended mid-handshake for another
      reason, e.g. a TCP client that connects and closes, or a handshake timeout;
    - ``inbound_disconnected``: an accepted link closed, whatever the cause: after each failed
      handshake above, raw TCP bytes that are not a ZMTP greeting (no handshake event at all:
      only accepted + disconnected), a validator's frame over ``maxmsgsize`` (ZeroMQ drops its
      established link; its DEALER then reconnects), a heartbeat timeout, a peer leaving.

    ZAP decisions: ``auth_accepted`` / ``auth_rejected``. A refusal logs a WARNING at most once
    per remote address per ``settings.refused_log_interval_s`` (on `clock`), saying how many
    were suppressed since the previous one. Outbound (DEALER) handshake failures:
    ``handshake_failed``.
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
        self._refusals = _RefusalLog(self.settings.refused_log_interval_s)
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
        """Start the I/O thread; raises if the listen address cannot be bound (or a socket
        cannot be set up)."""
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

    def running(self) -> bool:
        """Whether the I/O thread still runs (False before start, after close, or if it died)."""
        return self._thread.is_alive()

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
            if _is_ipv6_endpoint(self._listen_address):
                router.ipv6 = True
            router_monitor = router.get_monitor_socket(_ROUTER_MONITOR_EVENTS)
            sockets.append(router_monitor)
            router.bind(self._listen_address)
            self.bound_address = router.getsockopt_string(zmq.LAST_ENDPOINT)
            dealers: dict[str, zmq.Socket] = {}
            monitors: dict[zmq.Socket, str] = {}
            for name, peer in self._peers.items():
                dealer = self._ctx.socket(zmq.DEALER)
                sockets.append(dealer)
                self._configure(dealer)
                dealer.immediate = 1
                if _is_ipv6_endpoint(peer.address):
                    dealer.ipv6 = True
                dealer.curve_serverkey = peer.curve_public_key
                dealer.curve_publickey = self._public
                dealer.curve_secretkey = self._secret
                monitor = dealer.get_monitor_socket(_MONITOR_EVENTS)
                sockets.append(monitor)
                monitors[monitor] = name
                dealer.connect(peer.address)
                dealers[name] = dealer
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            for s in reversed(sockets):
                s.close(linger=0)
            self._ctx.term()
            self._bound.set()
            return
        self._bound.set()
        try:
            self._loop(zap, router, router_monitor, dealers, monitors)
        except Exception:  # pragma: no cover - a bug; logged, and recv() then returns None
            log.exception("%s: ZeroMQ I/O thread failed", self.peer_id)
        finally:
            for sock in [router, *dealers.values()]:
                sock.disable_monitor()
            for sock in [router_monitor, *monitors, *dealers.values(), router, zap]:
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

    def _loop(self, zap, router, router_monitor, dealers, monitors) -> None:
        poller = zmq.Poller()
        poller.register(self._wake_r, zmq.POLLIN)
        poller.register(zap, zmq.POLLIN)
        poller.register(router_monitor, zmq.POLLIN)
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
            if router_monitor in ready:
                self._on_router_monitor(router_monitor)
            self._report_suppressed_refusals()
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
                self._log_refusal(address.decode(errors="replace") or "(unknown address)",
                                  mechanism.decode(errors="replace"))
                reply = [version, request_id, b"400", b"not a validator", b"", b""]
            else:
                self._count("auth_accepted")
                reply = [version, request_id, b"200", b"OK", name.encode(), b""]
            zap.send_multipart(envelope + reply)

    def _log_refusal(self, address: str, mechanism: str) -> None:
        suppressed = self._refusals.refused(address, self._clock())
        if suppressed is None:
            return
        interval = self.settings.refused_log_interval_s
        log.warning("%s: rejected %s connection from %s (key not in the validator set)%s",
                    self.peer_id, mechanism, address,
                    f"; {suppressed} more rejected from this address since the last warning"
                    if suppressed else
                    f"; further rejections from this address are logged at most every "
                    f"{interval:g}s" if interval > 0 else "")

    def _report_suppressed_refusals(self) -> None:
        for address, suppressed in self._refusals.sweep(self._clock()):
            log.warning("%s: rejected %d more %s from %s (key not in the validator set) since "
                        "the last warning", self.peer_id, suppressed,
                        "connection" if suppressed == 1 else "connections", address)

    def _on_router_monitor(self, mon) -> None:
        """Count inbound link events by kind (see the class docstring)."""
        while True:
            try:
                message = parse_monitor_message(mon.recv_multipart(zmq.NOBLOCK))
            except zmq.Again:
                return
            event = message["event"]
            name = _ROUTER_COUNTERS.get(event)
            if name is None:
                continue  # EVENT_MONITOR_STOPPED
            self._count(name)
            if event in (zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, zmq.EVENT_ACCEPT_FAILED):
                log.debug("%s: %s (ZeroMQ code %#x)", self.peer_id, name, message["value"])

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

