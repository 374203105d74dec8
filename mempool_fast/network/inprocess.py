"""An in-process network: a hub of endpoints for tests and simulations.

`InProcessNetwork()` is the hub; `hub.endpoint(peer_id)` gives a node its `Network` handle;
`hub.connect(a, b)` / `hub.disconnect(a, b)` deliver NEW_PEER / LOST_PEER to both ends (a
partition is a disconnect). Messages are opaque bytes, the same encoded messages the real
transport carries. Each endpoint's inbox holds at most `queue_size` messages: a node that stops
reading makes its senders wait, up to `send_timeout` seconds, after which `send` returns False.
Peer events never wait and keep their place in the stream.

Faults (`Faults(seed, ...)`) are decided per directed link by a random generator seeded from
(seed, sender, receiver), so a given sequence of sends on a link always meets the same faults.
A delayed message is held back and released after a number of later sends on the same link (a
virtual timer counted in messages), or by `hub.flush()`; a reordered message is held until the
next message on its link has passed it.
"""

from __future__ import annotations

import collections
import logging
import random
import threading
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from .base import EventKind, Network, NetworkEvent

__all__ = ["InProcessNetwork", "InProcessEndpoint", "Faults"]

log = logging.getLogger(__name__)

#: Default bound of an endpoint's inbox, messages.
DEFAULT_QUEUE_SIZE = 1024
#: Default time a sender waits for room in a full inbox, seconds.
DEFAULT_SEND_TIMEOUT = 0.5


@dataclass(frozen=True)
class Faults:
    """Seeded fault injection. Probabilities are per message; `delay_max_messages` bounds how
    many later sends on the link a delayed message waits for; `drop_if(src, dst, data)` drops
    chosen messages deterministically (e.g. every ack of one link)."""

    seed: int = 0
    drop: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    delay: float = 0.0
    delay_max_messages: int = 8
    drop_if: Callable[[str, str, bytes], bool] | None = None

    def __post_init__(self) -> None:
        for name in ("drop", "duplicate", "reorder", "delay"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"Faults.{name} must be a probability in [0, 1], got {value}")
        if self.delay_max_messages < 1:
            raise ValueError("Faults.delay_max_messages must be at least 1")


class _Inbox:
    """A FIFO of events bounded in messages; peer events are never refused."""

    def __init__(self, capacity: int) -> None:
        self._events: collections.deque[NetworkEvent] = collections.deque()
        self._cond = threading.Condition()
        self._capacity = capacity
        self._messages = 0
        self.closed = False

    def put_message(self, event: NetworkEvent, timeout: float) -> bool:
        with self._cond:
            if not self._cond.wait_for(
                    lambda: self.closed or self._messages < self._capacity, timeout):
                return False
            if self.closed:
                return False
            self._events.append(event)
            self._messages += 1
            self._cond.notify_all()
            return True

    def put_control(self, event: NetworkEvent) -> None:
        with self._cond:
            if not self.closed:
                self._events.append(event)
                self._cond.notify_all()

    def get(self, timeout: float | None) -> NetworkEvent | None:
        with self._cond:
            if not self._cond.wait_for(lambda: self.closed or self._events, timeout):
                return None
            if self.closed:
                return None
            event = self._events.popleft()
            if event.kind is EventKind.MESSAGE:
                self._messages -= 1
            self._cond.notify_all()
            return event

    def pending_messages(self) -> int:
        with self._cond:
            return self._messages

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._events.clear()
            self._messages = 0
            self._cond.notify_all()


class _Link:
    """One direction of a connection: its fault generator and held-back messages."""

    def __init__(self, seed: int, src: str, dst: str) -> None:
        key = zlib.crc32(f"{src}\x00{dst}".encode())
        self.rng = random.Random(seed * 1_000_003 + key)
        self.lock = threading.Lock()
        #: [remaining sends (int), data (bytes)] pairs, mutable (the count goes down in place)
        self.held: list[list[Any]] = []


class InProcessEndpoint(Network):
    """A node's handle on an `InProcessNetwork`."""

    def __init__(self, hub: "InProcessNetwork", peer_id: str, queue_size: int) -> None:
        self.peer_id = peer_id
        self._hub = hub
        self._inbox = _Inbox(queue_size)

    def send(self, peer_id: str, data: bytes) -> bool:
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"data must be bytes, not {type(data).__name__}")
        return self._hub._send(self.peer_id, peer_id, bytes(data))

    def recv(self, timeout: float | None = None) -> NetworkEvent | None:
        return self._inbox.get(timeout)

    def close(self) -> None:
        if not self._inbox.closed:
            self._hub._close_endpoint(self)

    @property
    def closed(self) -> bool:
        return self._inbox.closed

    def pending_messages(self) -> int:
        """Messages waiting in this endpoint's inbox (for tests of back-pressure)."""
        return self._inbox.pending_messages()


class InProcessNetwork:
    """A hub connecting in-process endpoints, with optional seeded fault injection."""

    def __init__(self, *, queue_size: int = DEFAULT_QUEUE_SIZE,
                 send_timeout: float = DEFAULT_SEND_TIMEOUT, faults: Faults | None = None) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        if send_timeout < 0:
            raise ValueError("send_timeout must not be negative")
        self._queue_size = queue_size
        self._send_timeout = send_timeout
        self._faults = faults
        self._lock = threading.Lock()
        self._endpoints: dict[str, InProcessEndpoint] = {}
        self._links: dict[tuple[str, str], _Link] = {}
        self._stats: collections.Counter[str] = collections.Counter()

    # -- topology --
    def endpoint(self, peer_id: str) -> InProcessEndpoint:
        """A new endpoint for `peer_id` (ValueError if one is open under that id)."""
        if not isinstance(peer_id, str) or not peer_id:
            raise ValueError("peer_id must be a non-empty string")
        with self._lock:
            existing = self._endpoints.get(peer_id)
            if existing is not None and not existing.closed:
                raise ValueError(f"peer {peer_id!r} already has an open endpoint")
            ep = self._endpoints[peer_id] = InProcessEndpoint(self, peer_id, self._queue_size)
            return ep

    def connect(self, a: str, b: str) -> None:
        """Link `a` and `b` both ways; each end gets NEW_PEER for the other. No-op if linked."""
        if a == b:
            raise ValueError("cannot connect a peer to itself")
        with self._lock:
            ea, eb = self._open(a), self._open(b)
            if (a, b) in self._links:
                return
            seed = self._faults.seed if self._faults else 0
            self._links[(a, b)] = _Link(seed, a, b)
            self._links[(b, a)] = _Link(seed, b, a)
            ea._inbox.put_control(NetworkEvent(EventKind.NEW_PEER, b))
            eb._inbox.put_control(NetworkEvent(EventKind.NEW_PEER, a))

    def disconnect(self, a: str, b: str) -> None:
        """Cut the link; each open end gets LOST_PEER; held-back messages are lost."""
        with self._lock:
            if self._links.pop((a, b), None) is None:
                return
            self._links.pop((b, a), None)
            for me, other in ((a, b), (b, a)):
                ep = self._endpoints.get(me)
                if ep is not None:
                    ep._inbox.put_control(NetworkEvent(EventKind.LOST_PEER, other))

    def connect_all(self, peer_ids: Iterable[str]) -> None:
        """A full mesh of `peer_ids`."""
        ids = list(peer_ids)
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                self.connect(a, b)

    def connected(self, a: str, b: str) -> bool:
        with self._lock:
            return (a, b) in self._links

    def flush(self) -> int:
        """Deliver every held-back (delayed or reordered) message now; return how many."""
        with self._lock:
            links = list(self._links.items())
        delivered = 0
        for (src, dst), link in links:
            with link.lock:
                held, link.held = link.held, []
            for _, data in held:
                delivered += self._deliver(src, dst, data)
        return delivered

    def set_faults(self, faults: Faults | None) -> None:
        """Change fault injection for later sends (None: a perfect network from now on)."""
        with self._lock:
            self._faults = faults

    @property
    def stats(self) -> dict[str, int]:
        """Counts of sent, delivered, dropped, duplicated, held (= delayed + reordered),
        refused and unroutable messages."""
        with self._lock:
            return dict(self._stats)

    # -- internals --
    def _open(self, peer_id: str) -> InProcessEndpoint:
        ep = self._endpoints.get(peer_id)
        if ep is None or ep.closed:
            raise ValueError(f"no open endpoint for peer {peer_id!r}")
        return ep

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._stats[key] += n

    def _close_endpoint(self, ep: InProcessEndpoint) -> None:
        with self._lock:
            others = [b for (a, b) in self._links if a == ep.peer_id]
        for other in others:
            self.disconnect(ep.peer_id, other)
        ep._inbox.close()

    def _send(self, src: str, dst: str, data: bytes) -> bool:
        with self._lock:
            link = self._links.get((src, dst))
        if link is None:
            self._count("unroutable")
            return False
        self._count("sent")
        faults = self._faults
        now: list[bytes] = []
        with link.lock:
            for entry in link.held:
                entry[0] -= 1
            due = [entry[1] for entry in link.held if entry[0] <= 0]
            link.held = [entry for entry in link.held if entry[0] > 0]
            if faults is None:
                now.append(data)
            elif faults.drop_if is not None and faults.drop_if(src, dst, data):
                self._count("dropped")
            elif link.rng.random() < faults.drop:
                self._count("dropped")
            else:
                copies = 2 if link.rng.random() < faults.duplicate else 1
                if copies == 2:
                    self._count("duplicated")
                for _ in range(copies):
                    roll = link.rng.random()
                    if roll < faults.reorder:
                        link.held.append([1, data])
                        self._count("held")
                        self._count("reordered")
                    elif roll < faults.reorder + faults.delay:
                        link.held.append([link.rng.randint(1, faults.delay_max_messages), data])
                        self._count("held")
                        self._count("delayed")
                    else:
                        now.append(data)
        ok = True
        for i, message in enumerate(now):
            delivered = self._deliver(src, dst, message)
            if i == 0:
                ok = delivered
        for message in due:
            self._deliver(src, dst, message)
        return ok

    def _deliver(self, src: str, dst: str, data: bytes) -> bool:
        with self._lock:
            ep = self._endpoints.get(dst)
            linked = (src, dst) in self._links
        if ep is None or not linked:
            self._count("unroutable")
            return False
        if ep._inbox.put_message(NetworkEvent(EventKind.MESSAGE, src, data), self._send_timeout):
            self._count("delivered")
            return True
        self._count("refused")
        log.debug("in-process send %s -> %s refused: inbox full or closed", src, dst)
        return False
