"""The transport's inbound path: the ROUTER reader (attribution, size and per-peer rate limits)
and the bounded buffer of events `recv` takes from, whose fullness stops the reading.
"""

from __future__ import annotations

import collections
import threading
from typing import Callable, Collection, cast

import zmq

from .base import EventKind, NetworkEvent

__all__ = ["InboundBuffer", "RouterReader", "TokenBucket"]

#: A well-formed message off the ROUTER: the sender's routing id, then the one message frame.
_ROUTER_FRAMES = 2


class InboundBuffer:
    """Events for `recv`, at most `capacity` of them before the I/O thread stops reading.

    Owns the events, the closed flag and the throttled flag, under one condition (a leaf
    lock). The I/O thread `push`es and asks `want_read` each turn; the reader `pop`s, and when
    a pop makes room while reading was stopped it calls `on_room` (outside the lock) so the I/O
    thread resumes. Past `close`, `pop` returns None.
    """

    def __init__(self, capacity: int, on_room: Callable[[], None]) -> None:
        self._capacity = capacity
        self._on_room = on_room
        self._readable = threading.Condition(threading.Lock())  # events or closed
        self._events: collections.deque[NetworkEvent] = collections.deque()
        self._closed = False
        self._throttled = False

    def push(self, event: NetworkEvent) -> None:
        with self._readable:
            self._events.append(event)
            self._readable.notify()

    def pop(self, timeout: float | None) -> NetworkEvent | None:
        """The next event, waiting at most `timeout` seconds (None: forever); None on timeout
        or once closed."""
        with self._readable:
            if not self._events and not self._closed:
                self._readable.wait_for(lambda: self._events or self._closed, timeout)
            if self._closed or not self._events:
                return None
            event = self._events.popleft()
            resume = self._throttled and len(self._events) < self._capacity
        if resume:
            self._on_room()
        return event

    def room(self) -> int:
        """How many more events fit."""
        with self._readable:
            return self._capacity - len(self._events)

    def want_read(self) -> bool:
        """Whether there is room for more (the I/O thread's turn: not then, it is throttled)."""
        with self._readable:
            want = len(self._events) < self._capacity
            self._throttled = not want
            return want

    def close(self) -> None:
        """Wake every waiting `pop`; from now on it returns None. Idempotent."""
        with self._readable:
            self._closed = True
            self._readable.notify_all()


class TokenBucket:
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


class RouterReader:
    """Reads the ROUTER into `inbound` for the I/O thread (its token buckets have no lock).

    A message is attributed to the peer its ZAP User-Id names (set by the ZAP handler from the
    authenticated key, never a claimed id). Dropped and counted through `count`: anything but
    one frame (``recv_malformed_frames``), no known peer behind it (``recv_unattributed``), over
    `max_message_bytes` (``recv_oversized``), over `rate` per second with bursts of `burst`
    (``recv_rate_limited``; `rate` 0: no limit; `burst` at least 1; on `clock`). The rest:
    ``recv_messages``.
    """

    def __init__(self, peers: Collection[str], max_message_bytes: int, rate: float,
                 burst: float, clock: Callable[[], float], count: Callable[[str], None],
                 inbound: InboundBuffer) -> None:
        self._peers = peers
        self._limit = max_message_bytes
        self._rate, self._burst = rate, max(1, burst)
        self._clock = clock
        self._count = count
        self._inbound = inbound
        self._buckets: dict[str, TokenBucket] = {}

    def read(self, router: zmq.SyncSocket) -> None:
        """Take what the ROUTER holds, without blocking, until `inbound` is full."""
        room = self._inbound.room()
        while room > 0:
            try:
                frames = router.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            if len(frames) != _ROUTER_FRAMES:
                self._count("recv_malformed_frames")
                continue
            frame = frames[1]
            name: str | None
            try:
                # a metadata property (asked for by its name) is a str: only options are ints
                name = cast(str, frame.get("User-Id"))
            except zmq.ZMQError:
                name = None
            if not name or name not in self._peers:
                self._count("recv_unattributed")
                continue
            if frame.buffer.nbytes > self._limit:
                self._count("recv_oversized")
                continue
            if self._rate > 0 and not self._take_token(name):
                self._count("recv_rate_limited")
                continue
            self._count("recv_messages")
            self._inbound.push(NetworkEvent(EventKind.MESSAGE, name, frame.bytes))
            room -= 1

    def _take_token(self, name: str) -> bool:
        now = self._clock()
        bucket = self._buckets.get(name)
        if bucket is None:
            bucket = self._buckets[name] = TokenBucket(self._rate, self._burst, now)
        return bucket.take(now)
