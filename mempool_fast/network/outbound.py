"""The transport's outbound side: per-peer bounded queues from `send` (any thread) to each
peer's DEALER (the I/O thread), and which peers' links are up (a send needs one).
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Callable, Iterable

import zmq

__all__ = ["OutboundQueues"]


class OutboundQueues:
    """Messages on their way to each peer, at most `capacity` a peer, and the links that are up.

    Owns, under one condition (a leaf lock): the outbox (messages `offer`ed by any thread, not
    yet taken by the I/O thread), each peer's pending count (offered, not yet handed to
    ZeroMQ), the set of peers whose outbound link is up, and the closed flag. The per-peer
    queues between `take` and `flush` belong to the I/O thread alone.

    Counts through `count(name, n=1)`, never under the lock: ``send_peer_down`` (closed, or
    the link is not up), ``send_queue_full`` (no room within `send_timeout_s`, on the monotonic
    clock), ``send_dropped_peer_lost`` (what a lost link still had queued; the acknowledged
    broadcast resends what matters), ``sent_messages`` (handed to ZeroMQ).
    """

    def __init__(self, peers: Iterable[str], capacity: int, send_timeout_s: float,
                 count: Callable[..., None]) -> None:
        self._capacity = capacity
        self._timeout = send_timeout_s
        self._count = count
        self._space = threading.Condition(threading.Lock())  # room in per-peer queues
        self._outbox: collections.deque[tuple[str, bytes]] = collections.deque()
        self._pending = {name: 0 for name in peers}  # queued, not yet handed to zmq
        self._alive: set[str] = set()
        self._closed = False
        self._queues: dict[str, collections.deque[bytes]] = {
            name: collections.deque() for name in self._pending}  # I/O thread's

    # -- any thread ----------------------------------------------------------------------------
    def offer(self, peer_id: str, data: bytes) -> bool:
        """Queue `data` for `peer_id`, waiting for room up to the send timeout; False (and
        counted) if the link is down, the queues are closed, or no room came in time."""
        with self._space:
            refused = self._wait_for_room(peer_id)
            if refused is None:
                self._pending[peer_id] += 1
                self._outbox.append((peer_id, bytes(data)))
                return True
        self._count(refused)
        return False

    def alive(self) -> set[str]:
        """Names of the peers whose outbound link is up."""
        with self._space:
            return set(self._alive)

    def close(self) -> bool:
        """Refuse every later offer, forget which links are up and wake waiting senders;
        whether the queues were still open."""
        with self._space:
            was_open = not self._closed
            self._closed = True
            self._alive.clear()
            self._space.notify_all()
        return was_open

    def _wait_for_room(self, peer_id: str) -> str | None:
        """(Under the lock.) None once `peer_id`'s queue has room, else the counter saying why
        the message is refused."""
        deadline = None
        while True:
            if self._closed or peer_id not in self._alive:
                return "send_peer_down"
            if self._pending[peer_id] < self._capacity:
                return None
            now = time.monotonic()
            if deadline is None:
                deadline = now + self._timeout
            if now >= deadline:
                return "send_queue_full"
            self._space.wait(deadline - now)

    # -- the I/O thread ------------------------------------------------------------------------
    def link_up(self, name: str) -> bool:
        """`name`'s link came up; whether it was down."""
        with self._space:
            fresh = name not in self._alive
            self._alive.add(name)
        return fresh

    def link_down(self, name: str) -> bool:
        """`name`'s link went down: drop (and count) what was queued for it; whether it was up."""
        with self._space:
            was = name in self._alive
            self._alive.discard(name)
            dropped = self._pending[name]  # counts both the outbox and the peer's queue
            self._outbox = collections.deque(m for m in self._outbox if m[0] != name)
            self._pending[name] = 0
            self._space.notify_all()
        self._queues[name].clear()
        self._count("send_dropped_peer_lost", dropped)
        return was

    def take(self) -> None:
        """Move the outbox into the per-peer queues."""
        with self._space:
            outbox, self._outbox = self._outbox, collections.deque()
        for name, data in outbox:
            self._queues[name].append(data)

    def flush(self, name: str, dealer: zmq.SyncSocket) -> bool:
        """Hand `name`'s queue to its DEALER as far as it takes without blocking; whether some
        is still queued (the DEALER is at its high-water mark)."""
        q = self._queues[name]
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
                self._space.notify_all()
            self._count("sent_messages", sent)
        return bool(q)
