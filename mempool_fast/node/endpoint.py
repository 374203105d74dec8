"""A node's request endpoint: a ZeroMQ ROUTER whose requests run on a fair worker pool.

One I/O thread owns the socket: it reads requests and sends replies; the handler runs on at
most `workers` pool threads, fairly across clients (`mempool_fast.fair_pool`), so one client's
huge request never holds the others up for long, and a client with too many requests waiting
gets a "busy" error instead of growing a queue. ``ZMQ_MAXMSGSIZE`` makes libzmq drop a client
that sends a frame over the limit before it is buffered. A DEALER's one-frame request and a
REQ socket's envelope are both served; any other shape gets an error reply, never silence.

Access control: an ``ipc://`` endpoint's socket file is made owner-only (0600); a ``tcp://``
endpoint may require CurveZMQ with a list of allowed client keys (pyzmq's ThreadAuthenticator).
"""

from __future__ import annotations

import collections
import logging
import os
import threading
from dataclasses import dataclass
from typing import Callable

import zmq
import zmq.auth.thread
import zmq.utils.z85

from ..fair_pool import FairPool
from .. import rpc

__all__ = ["RequestEndpoint", "CurveServer"]

log = logging.getLogger(__name__)

#: How long one poll of the I/O thread waits (it checks its stop flag between polls).
_POLL_MS = 200
#: Requests a socket buffers per client before ZeroMQ pushes back.
_RCVHWM = 64


@dataclass(frozen=True)
class CurveServer:
    """CurveZMQ for a tcp:// endpoint: the server's z85 key pair and the allowed clients'
    z85 public keys."""

    public_key: bytes
    secret_key: bytes
    allowed: frozenset[bytes]


class _Allowed:
    """The ThreadAuthenticator's credentials provider: only the listed keys."""

    def __init__(self, allowed: frozenset[bytes]) -> None:
        self._allowed = allowed

    def callback(self, domain: str, key: bytes) -> bool:
        return key in self._allowed


class RequestEndpoint:
    """Serves `handler(request bytes) -> reply bytes` on `address` (see the module doc)."""

    def __init__(self, ctx: zmq.SyncContext, address: str, handler: Callable[[bytes], bytes], *,
                 workers: int, max_request_bytes: int, name: str,
                 curve: CurveServer | None = None) -> None:
        self._ctx = ctx
        self.address = address
        self._handler = handler
        self._max_request_bytes = max_request_bytes
        self._name = name
        self._curve = curve
        self._pool = FairPool(self._serve, slots=workers, share=max(1, workers - 1),
                              name=f"{name}-worker")
        self._replies: collections.deque[list[bytes]] = collections.deque()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._auth: zmq.auth.thread.ThreadAuthenticator | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        #: Counts: requests served, refused as busy, malformed envelopes.
        self.counts: collections.Counter[str] = collections.Counter()

    def start(self) -> None:
        """Bind and serve; raises (zmq.ZMQError, OSError) when the address cannot be bound."""
        if self._curve is not None:
            self._auth = zmq.auth.thread.ThreadAuthenticator(self._ctx, log=log)
            self._auth.start()
            self._auth.configure_curve_callback(domain="*",
                                                credentials_provider=_Allowed(self._curve.allowed))
        self._pool.start()
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            self.stop()
            raise self._error

    def alive(self) -> bool:
        """Whether the I/O thread still serves (False after stop() or if it died)."""
        return self._thread.is_alive()

    def stop(self) -> None:
        """Stop serving, wait for the threads, close the socket. Idempotent."""
        self._stop.set()
        self._wake()
        if self._thread.is_alive():
            self._thread.join()
        self._pool.stop()
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1

    # -- the I/O thread --
    def _bind(self) -> zmq.SyncSocket:
        sock = self._ctx.socket(zmq.ROUTER)
        sock.linger = 0
        sock.maxmsgsize = self._max_request_bytes
        sock.rcvhwm = _RCVHWM
        if self._curve is not None:
            sock.curve_server = True
            sock.curve_publickey = self._curve.public_key
            sock.curve_secretkey = self._curve.secret_key
        try:
            sock.bind(self.address)
            if self.address.startswith("ipc://"):
                os.chmod(self.address[len("ipc://"):], 0o600)
        except BaseException:
            sock.close(0)
            raise
        return sock

    def _run(self) -> None:
        try:
            sock = self._bind()
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(self._wake_r, zmq.POLLIN)
        try:
            while not self._stop.is_set():
                ready = dict(poller.poll(_POLL_MS))
                if self._wake_r in ready:
                    self._drain_wake()
                while self._replies:
                    sock.send_multipart(self._replies.popleft())
                if sock in ready:
                    self._read(sock)
        finally:
            sock.close(0)

    def _read(self, sock: zmq.SyncSocket) -> None:
        while True:
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            envelope, body = _split(frames)
            if body is None:
                self.counts["malformed_envelopes"] += 1
                sock.send_multipart(envelope + [rpc.error_response(
                    0, 0, "a request is one frame (from a DEALER) or a REQ envelope")])
                continue
            if not self._pool.submit(frames[0], (envelope, body)):
                self.counts["busy"] += 1
                op, rid = rpc.request_head(body)
                sock.send_multipart(envelope + [rpc.error_response(
                    op, rid, "busy: too many requests of this client are waiting")])

    def _serve(self, client: bytes, job: tuple[list[bytes], bytes]) -> None:
        envelope, body = job
        reply = self._handler(body)
        self.counts["served"] += 1
        self._replies.append(envelope + [reply])
        self._wake()

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"\0")
        except (BlockingIOError, OSError):
            pass  # a wake-up is pending already, or the pipe is closed

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass


def _split(frames: list[bytes]) -> tuple[list[bytes], bytes | None]:
    """(envelope, request) of a ROUTER message: [id, request] from a DEALER, [id, b"",
    request] from a REQ; request None for any other shape."""
    if len(frames) == 2:
        return frames[:1], frames[1]
    if len(frames) == 3 and frames[1] == b"":
        return frames[:2], frames[2]
    if len(frames) >= 2 and frames[1] == b"":
        return frames[:2], None
    return frames[:1], None


def curve_server(seed: bytes, allowed_ed25519: tuple[bytes, ...]) -> CurveServer:
    """The CurveServer of a node (its Ed25519 seed) admitting the given Ed25519 public keys."""
    from ..network.zmq import curve_keypair_from_seed, curve_public_from_ed25519

    public, secret = curve_keypair_from_seed(seed)
    return CurveServer(public, secret,
                       frozenset(curve_public_from_ed25519(k) for k in allowed_ed25519))
