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

This module owns `ZmqNetwork`: the public API, the I/O thread and its loop, the wake-up pipe
and the counters. The parts it delegates to live beside it: `zmq_settings` (`ZmqSettings`,
`PeerAddress` and their checks), `curve_keys` (key derivation), `zmq_sockets` (opening and
closing the sockets), `zap` (the ZAP handler: allow-list, rate-limited refusal warnings),
`link_monitor` (monitor events -> NEW_PEER / LOST_PEER and the inbound link counters),
`inbound` (the ROUTER reader with its size and per-peer rate limits; the bounded inbound
buffer) and `outbound` (per-peer outbound queues; which links are up). Every public name is
importable from here, and every part logs on this module's logger.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from typing import Callable, Mapping, cast

import zmq

from ..config import MempoolConfig
from .base import Network, NetworkEvent
from .curve_keys import curve_keypair_from_seed, curve_public_from_ed25519
from .inbound import InboundBuffer, RouterReader
from .link_monitor import LinkMonitor
from .outbound import OutboundQueues
from .zap import ZapHandler
from .zmq_settings import PeerAddress, ZmqSettings
from .zmq_sockets import TransportSockets

__all__ = ["ZmqNetwork", "ZmqSettings", "PeerAddress", "curve_keypair_from_seed",
           "curve_public_from_ed25519"]

log = logging.getLogger(__name__)

#: Bytes drained from the wake-up pipe per read (each wake-up writes one).
_WAKE_READ_BYTES = 4096


class ZmqNetwork(Network):
    """A node's handle on the validator network over ZeroMQ + CurveZMQ (see module docstring).

    `peers` maps peer name -> PeerAddress (this node's own name, if present, is ignored);
    `seed` is this node's 32-byte Ed25519 seed, from which its curve keys derive.
    `counters` (read with `stats()`) counts sent/received messages and every drop by reason.

    Counters: ``send_oversized`` (over ``max_message_bytes``, refused by `send`); the outbound
    ones (``send_peer_down``, ``send_queue_full``, ``send_dropped_peer_lost``,
    ``sent_messages``, see `OutboundQueues`); the ROUTER reader's (``recv_messages`` and the
    ``recv_*`` drops, see `RouterReader`); inbound links by how they went (``inbound_*``, from
    the ROUTER's socket monitor, see `LinkMonitor`); ZAP decisions, ``auth_accepted`` /
    ``auth_rejected``. A refusal logs a WARNING at most once per remote address per
    ``settings.refused_log_interval_s`` (on `clock`), saying how many were suppressed since the
    previous one (see `ZapHandler`). Outbound (DEALER) handshake failures: ``handshake_failed``.

    Threads and locks: `start` runs the I/O thread, `close` stops it (a flag plus a wake-up) and
    joins it. Three leaf locks, never nested: the counters' (here), the outbound queues' and the
    inbound buffer's (each its own owner's).
    """

    def __init__(self, peer_id: str, seed: bytes, listen_address: str,
                 peers: Mapping[str, PeerAddress], config: MempoolConfig | None = None, *,
                 settings: ZmqSettings | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 start: bool = True) -> None:
        self.peer_id = peer_id
        self.config = config or MempoolConfig()
        self.settings = settings or ZmqSettings()
        self._public, self._secret = curve_keypair_from_seed(seed)
        self._peers = {name: p for name, p in peers.items() if name != peer_id}
        self._counts_lock = threading.Lock()  # a leaf: guards only the counters
        self._counters: collections.Counter[str] = collections.Counter()
        self._stop = False
        self._inbound = InboundBuffer(self.settings.inbound_queue_size, on_room=self._wake)
        self._outbound = OutboundQueues(self._peers, self.settings.outbound_queue_size,
                                        self.settings.send_timeout_s, self._count)
        self._zap = ZapHandler(peer_id, self._peers, self.settings.refused_log_interval_s,
                               clock, self._count)
        self._links = LinkMonitor(peer_id, self._count, self._outbound.link_up,
                                  self._outbound.link_down, self._inbound.push)
        self._reader = RouterReader(self._peers, self.config.max_message_bytes,
                                    self.config.peer_rate_limit_per_sec,
                                    self.config.peer_rate_burst, clock, self._count,
                                    self._inbound)
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
        if not self._outbound.offer(peer_id, data):
            return False
        self._wake()
        return True

    def recv(self, timeout: float | None = None) -> NetworkEvent | None:
        return self._inbound.pop(timeout)

    def close(self) -> None:
        if not self._outbound.close():
            return
        self._stop = True
        self._inbound.close()
        self._wake()
        if self._thread.is_alive():
            self._thread.join()
        self._release()

    def running(self) -> bool:
        """Whether the I/O thread still runs (False before start, after close, or if it died)."""
        return self._thread.is_alive()

    def peers_alive(self) -> set[str]:
        """Names of the peers whose outbound link is up and authenticated."""
        return self._outbound.alive()

    def stats(self) -> dict[str, int]:
        """A snapshot of the transport's counters (sent, received, drops by reason...)."""
        with self._counts_lock:
            return dict(self._counters)

    def __enter__(self) -> "ZmqNetwork":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers shared by both sides ----------------------------------------------------------
    def _count(self, name: str, n: int = 1) -> None:
        with self._counts_lock:
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

    # -- the I/O thread ------------------------------------------------------------------------
    def _run(self) -> None:
        sockets = TransportSockets(self._ctx, self.settings, self._public, self._secret)
        try:
            self.bound_address = sockets.open(
                self._listen_address,
                self.config.max_message_bytes * self.settings.hard_size_factor, self._peers)
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            self._ctx.term()
            self._bound.set()
            return
        self._bound.set()
        try:
            self._loop(sockets)
        except Exception:  # pragma: no cover - a bug; logged, and recv() then returns None
            log.exception("%s: ZeroMQ I/O thread failed", self.peer_id)
        finally:
            sockets.close()
            self._ctx.term()
            self._outbound.close()
            self._inbound.close()

    def _loop(self, sockets: TransportSockets) -> None:
        # run after a successful `sockets.open`, which set zap, router and router_monitor
        zap, router, router_monitor = cast(
            "tuple[zmq.SyncSocket, zmq.SyncSocket, zmq.SyncSocket]",
            (sockets.zap, sockets.router, sockets.router_monitor))
        dealers, monitors = sockets.dealers, sockets.monitors
        poller = zmq.Poller()
        poller.register(self._wake_r, zmq.POLLIN)
        poller.register(zap, zmq.POLLIN)
        poller.register(router_monitor, zmq.POLLIN)
        for mon in monitors:
            poller.register(mon, zmq.POLLIN)
        blocked: set[str] = set()  # peers whose DEALER hit its HWM: poll them for POLLOUT
        reading = False
        while not self._stop:
            want_read = self._inbound.want_read()
            if want_read != reading:
                if want_read:
                    poller.register(router, zmq.POLLIN)
                else:
                    poller.unregister(router)
                reading = want_read
            ready = dict(poller.poll(self.settings.poll_ms))
            if self._wake_r in ready:
                try:
                    while os.read(self._wake_r, _WAKE_READ_BYTES):
                        pass
                except BlockingIOError:
                    pass
            if zap in ready:
                self._zap.serve(zap)
            if router_monitor in ready:
                self._links.on_router_events(router_monitor)
            self._zap.report_suppressed()
            for mon, name in monitors.items():
                if mon in ready:
                    self._links.on_dealer_events(mon, name)
            if reading and router in ready:
                self._reader.read(router)
            self._outbound.take()
            for name, dealer in dealers.items():
                queued = self._outbound.flush(name, dealer)
                if queued and name not in blocked:
                    blocked.add(name)
                    poller.register(dealer, zmq.POLLOUT)
                elif not queued and name in blocked:
                    blocked.discard(name)
                    poller.unregister(dealer)
