"""AsyncNetwork: plug an asyncio transport into a shared mempool without writing thread bridges.

A node whose peer links are asyncio (streams, websockets, QUIC...) subclasses `AsyncNetwork`
and implements one coroutine, `async def send(peer_id, data)`; its reading side pushes what it
receives with `deliver(event)` (non-blocking) or `await deliver_wait(event)` (waits for room:
back-pressure reaches the transport). `AsyncNetwork.network` is the synchronous
`mempool_fast.network.base.Network` the `SharedMempool` threads use (pass it, or the
`AsyncNetwork` itself to `AsyncSharedMempool`). The contract of base.py, honoured by the
adapter:

- `recv(timeout)`: one reader thread takes events in order from a thread-safe queue of at most
  `queue_size` MESSAGE events; NEW_PEER / LOST_PEER are never refused and keep their place.
  None on timeout or once closed. A full queue is back-pressure: `deliver` answers False and
  `deliver_wait` waits, so the transport stops reading its sockets while the mempool is busy.
- `send(peer_id, data) -> bool` from any mempool thread: the embedder's coroutine is scheduled
  on the loop with `asyncio.run_coroutine_threadsafe` and waited for at most `send_timeout`
  seconds *in the calling thread* (never on the loop). True when it returned anything but
  False; False (never an exception) when it returned False, raised, timed out (it is then
  cancelled), or the network is closed or its loop gone. Every failure is counted (`stats()`)
  and logged (a warning for a peer's first failure after a success, then debug). Called on
  the loop's own thread (waiting there would deadlock) it schedules the coroutine and answers
  True: queued, as the contract's "queue data for peer_id" allows.
- `close()`: stop delivering; a blocked `recv` returns None; `send` answers False. Idempotent.
  The mempool never closes its network: the embedder does, after stopping the mempool.

Locks: the queue's condition is a leaf (held for O(1) by `deliver`, `recv` and `close`; the
loop never waits on it for longer than a deque operation); the counters' lock is a leaf.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from ..network.base import EventKind, Network, NetworkEvent

__all__ = ["AsyncNetwork", "AsyncNetworkAdapter"]

log = logging.getLogger(__name__)

#: Default bound of the inbound queue, MESSAGE events.
DEFAULT_QUEUE_SIZE = 1024
#: Default time a mempool thread waits for the embedder's `send`, seconds.
DEFAULT_SEND_TIMEOUT = 0.5


class _EventQueue:
    """A FIFO of network events bounded in MESSAGE events, with loop-side room waiters."""

    def __init__(self, capacity: int) -> None:
        self._events: collections.deque[NetworkEvent] = collections.deque()
        self._cond = threading.Condition(threading.Lock())
        self._capacity = capacity
        self._messages = 0
        self._room_waiters: list[Callable[[], None]] = []
        self.closed = False

    def put(self, event: NetworkEvent) -> bool | None:
        """True: queued; False: full (a MESSAGE); None: closed."""
        with self._cond:
            if self.closed:
                return None
            if event.kind is EventKind.MESSAGE:
                if self._messages >= self._capacity:
                    return False
                self._messages += 1
            self._events.append(event)
            self._cond.notify()
            return True

    def get(self, timeout: float | None) -> NetworkEvent | None:
        wake: list[Callable[[], None]] = []
        with self._cond:
            if not self._cond.wait_for(lambda: self.closed or self._events, timeout):
                return None
            if self.closed:
                return None
            event = self._events.popleft()
            if event.kind is EventKind.MESSAGE:
                self._messages -= 1
                wake, self._room_waiters = self._room_waiters, []
        for waker in wake:  # outside the lock: each posts to the loop
            waker()
        return event

    def wait_for_room(self, waker: Callable[[], None]) -> bool:
        """Register `waker` to be called when a MESSAGE leaves; False (not registered) if
        there is room already or the queue is closed: try again at once."""
        with self._cond:
            if self.closed or self._messages < self._capacity:
                return False
            self._room_waiters.append(waker)
            return True

    def forget_waiter(self, waker: Callable[[], None]) -> None:
        with self._cond:
            try:
                self._room_waiters.remove(waker)
            except ValueError:
                pass

    def pending(self) -> tuple[int, int]:
        """(events waiting, of which MESSAGE events)."""
        with self._cond:
            return len(self._events), self._messages

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._events.clear()
            self._messages = 0
            wake, self._room_waiters = self._room_waiters, []
            self._cond.notify_all()
        for waker in wake:
            waker()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class AsyncNetwork(abc.ABC):
    """The base of an asyncio transport (see the module docstring).

    Subclasses implement `send`; everything else is here. Build it in the event loop that
    runs the transport (or pass `loop`); `peer_id` is this node's own id.
    """

    def __init__(self, peer_id: str, *, queue_size: int = DEFAULT_QUEUE_SIZE,
                 send_timeout: float = DEFAULT_SEND_TIMEOUT,
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        if not isinstance(peer_id, str) or not peer_id:
            raise ValueError("peer_id must be a non-empty string")
        if not isinstance(queue_size, int) or queue_size < 1:
            raise ValueError("queue_size must be a positive int")
        if not send_timeout > 0:
            raise ValueError("send_timeout must be positive")
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                raise RuntimeError("AsyncNetwork needs its event loop: build it in a coroutine "
                                   "or pass loop=") from None
        #: This node's own peer id.
        self.peer_id = peer_id
        #: How long a mempool thread waits for `send`, seconds.
        self.send_timeout = float(send_timeout)
        self._loop = loop
        self._queue = _EventQueue(queue_size)
        self._counts_lock = threading.Lock()
        self._counts: collections.Counter[str] = collections.Counter()
        self._failing: set[str] = set()  # peers whose last send failed (log once per run)
        self._local_sends: set[asyncio.Task[bool]] = set()
        self._adapter = AsyncNetworkAdapter(self)

    # ------------------------------------------------------------------ the embedder's side
    @abc.abstractmethod
    async def send(self, peer_id: str, data: bytes) -> bool | None:
        """Send `data` (one encoded peer message) to `peer_id`, in the loop. Return False if
        it cannot be delivered (unknown or down peer, full link); anything else means sent.
        Raising counts as a failure too (logged, never passed to the mempool)."""

    def deliver(self, event: NetworkEvent) -> bool:
        """Hand a received event to the mempool without waiting (call it from the loop, or any
        thread). False when the inbound queue already holds `queue_size` messages (a MESSAGE
        is refused, counted in `refused`; peer events are never refused) or it is closed."""
        if not isinstance(event, NetworkEvent):
            raise TypeError(f"expected a NetworkEvent, not {type(event).__name__}")
        accepted = self._queue.put(event)
        self._count("delivered" if accepted else "refused")
        return bool(accepted)

    async def deliver_wait(self, event: NetworkEvent, timeout: float | None = None) -> bool:
        """Hand a received event to the mempool, waiting (without blocking the loop) up to
        `timeout` seconds (None: as long as it takes) for room in the inbound queue; False on
        timeout (counted in `refused`) or when closed. Cancelling it delivers nothing."""
        if not isinstance(event, NetworkEvent):
            raise TypeError(f"expected a NetworkEvent, not {type(event).__name__}")
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            accepted = self._queue.put(event)
            if accepted is not False:
                self._count("delivered" if accepted else "refused")
                return bool(accepted)
            room: asyncio.Future[None] = loop.create_future()

            def waker(room: asyncio.Future[None] = room) -> None:
                try:
                    loop.call_soon_threadsafe(_resolve, room)
                except RuntimeError:  # the loop is closed
                    pass

            if not self._queue.wait_for_room(waker):
                continue  # room appeared meanwhile (or closed): try again
            try:
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError
                await asyncio.wait_for(room, remaining)
            except TimeoutError:
                self._count("refused")
                return False
            finally:
                self._queue.forget_waiter(waker)

    @property
    def network(self) -> AsyncNetworkAdapter:
        """The synchronous `Network` for `SharedMempool` (its threads call it)."""
        return self._adapter

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    @property
    def closed(self) -> bool:
        return self._queue.closed

    def close(self) -> None:
        """Stop delivering (a blocked `recv` returns None, queued events are dropped, waiting
        `deliver_wait`s answer False) and answer False to every later `send`. Idempotent."""
        self._queue.close()

    def pending(self) -> int:
        """Events waiting for the mempool's reader."""
        return self._queue.pending()[0]

    def stats(self) -> dict[str, int]:
        """Counts: `sent`, `send_refused` (send returned False), `send_errors` (it raised),
        `send_timeouts`, `send_closed` (closed network or loop), `delivered`, `refused`."""
        keys = ("sent", "send_refused", "send_errors", "send_timeouts", "send_closed",
                "delivered", "refused")
        with self._counts_lock:
            return {key: self._counts[key] for key in keys}

    @property
    def send_failures(self) -> int:
        """Every send that answered False, whatever the cause."""
        s = self.stats()
        return s["send_refused"] + s["send_errors"] + s["send_timeouts"] + s["send_closed"]

    # ------------------------------------------------------------------ the adapter's side
    def _count(self, key: str) -> None:
        with self._counts_lock:
            self._counts[key] += 1

    def _failed(self, peer_id: str, key: str, what: str, exc: BaseException | None = None
                ) -> bool:
        self._count(key)
        with self._counts_lock:
            first = peer_id not in self._failing
            self._failing.add(peer_id)
        level = logging.WARNING if first else logging.DEBUG
        log.log(level, "%s: send to %s failed: %s", self.peer_id, peer_id, what,
                exc_info=exc is not None and first)
        return False

    def _succeeded(self, peer_id: str) -> bool:
        self._count("sent")
        if self._failing:
            with self._counts_lock:
                self._failing.discard(peer_id)
        return True

    async def _guarded_send(self, peer_id: str, data: bytes) -> bool:
        try:
            result = await self.send(peer_id, data)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return self._failed(peer_id, "send_errors", f"{type(exc).__name__}: {exc}", exc)
        if result is False:
            return self._failed(peer_id, "send_refused", "the transport refused it")
        return self._succeeded(peer_id)

    def _send_from_thread(self, peer_id: str, data: bytes) -> bool:
        if self._queue.closed or self._loop.is_closed():
            return self._failed(peer_id, "send_closed", "the network is closed")
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:  # waiting here would block the loop the send needs
            task = self._loop.create_task(self._guarded_send(peer_id, data))
            self._local_sends.add(task)
            task.add_done_callback(self._local_sends.discard)
            return True
        coro: Coroutine[Any, Any, bool] = self._guarded_send(peer_id, data)
        try:
            future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        except RuntimeError:  # the loop closed meanwhile
            coro.close()
            return self._failed(peer_id, "send_closed", "the event loop is closed")
        try:
            return future.result(timeout=self.send_timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            return self._failed(peer_id, "send_timeouts",
                                f"no answer within {self.send_timeout:g} s")
        except concurrent.futures.CancelledError:  # the loop cancelled it (shutting down)
            return self._failed(peer_id, "send_closed", "cancelled by the event loop")
        except Exception as exc:  # _guarded_send catches the embedder's errors: a bug here
            return self._failed(peer_id, "send_errors", f"{type(exc).__name__}: {exc}", exc)


class AsyncNetworkAdapter(Network):
    """The synchronous `Network` face of an `AsyncNetwork` (for the mempool's threads)."""

    def __init__(self, owner: AsyncNetwork) -> None:
        self.peer_id = owner.peer_id
        self._owner = owner

    @property
    def owner(self) -> AsyncNetwork:
        return self._owner

    def send(self, peer_id: str, data: bytes) -> bool:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes, not {type(data).__name__}")
        return self._owner._send_from_thread(peer_id, bytes(data))

    def recv(self, timeout: float | None = None) -> NetworkEvent | None:
        return self._owner._queue.get(timeout)

    def close(self) -> None:
        self._owner.close()
