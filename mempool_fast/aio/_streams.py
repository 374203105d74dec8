"""Async iterators over a shared mempool's notifications and transaction events.

A stream (`NotificationStream`, `EventStream`) is fed by one *feeder* thread of its own, which
exists only while the stream is open. The feeder opens the source (`subscribe()` or `watch()`),
waits on it with the source's own blocking `get`, and hands each item to the event loop with
`loop.call_soon_threadsafe` into an `asyncio.Queue`; the loop side only awaits that queue.

Why a feeder thread per open stream rather than polling from the facade's executor: a poll
(`watch.get(timeout)` in the executor) occupies one of the executor's few workers for as long
as the stream waits, so a handful of idle iterators would starve `submit_transactions` and
`get_block`; a feeder waits in a thread of its own, so a stream costs no worker and an item
reaches the loop as soon as it exists (no poll latency). The thread is not held forever: closing
the stream (`aclose()`, `close()`, leaving `async with`, cancelling a task that awaits the next
item, or dropping the last reference to it, e.g. `break` out of `async for x in
amp.events()`: a finalizer runs then) sets the feeder's
stop flag; the feeder notices within `poll_interval` (at once for notifications: a wake-up is
put on the subscription's queue), closes the source in its own thread (unsubscribe, or
`watch.close()`, which takes the core lock: never done on the loop) and ends.

Bounds: at most `buffer` items wait on the loop side; the feeder takes no more from the source
until the consumer catches up, so a slow consumer leaves events in the watch's own bounded queue
(`watch_queue_size`, oldest dropped and counted in `lost`) as a synchronous watcher would.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import weakref
from types import TracebackType
from collections.abc import Callable
from typing import Any, Generic, Protocol, Self, TypeVar

from ..shared import SharedMempool, SharedMempoolNotification
from ..shared.watch import TransactionWatch
from ..status import TransactionEvent

__all__ = ["Stream", "NotificationStream", "EventStream"]

log = logging.getLogger(__name__)

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class _End:
    """Marks the end of a stream on the loop side (the feeder stopped)."""


class _Wake:
    """Put on a subscription's queue to wake its feeder at once."""


_END = _End()
_WAKE = _Wake()


class _Source(Protocol[T_co]):
    """What a feeder reads, in its own thread."""

    @property
    def ended(self) -> bool:
        """True once the source will give nothing more."""

    def get(self, timeout: float) -> T_co | None:
        """The next item, or None after `timeout` seconds (or at once when ended)."""

    def wake(self) -> None:
        """Make a blocked `get` return soon (non-blocking, any thread; may do nothing)."""

    def close(self) -> None:
        """Release the source (blocking is allowed: it runs in the feeder thread)."""


class _NotificationSource:
    def __init__(self, shared: SharedMempool) -> None:
        self._shared = shared
        self._queue: queue.SimpleQueue[Any] = shared.subscribe()

    @property
    def ended(self) -> bool:
        return False

    def get(self, timeout: float) -> SharedMempoolNotification | None:
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        return item if isinstance(item, SharedMempoolNotification) else None

    def wake(self) -> None:
        self._queue.put(_WAKE)  # SimpleQueue.put never blocks

    def close(self) -> None:
        self._shared.unsubscribe(self._queue)


class _WatchSource:
    def __init__(self, watch: TransactionWatch) -> None:
        self.watch = watch

    @property
    def ended(self) -> bool:
        return bool(self.watch.closed) and self.watch.pending() == 0

    def get(self, timeout: float) -> TransactionEvent | None:
        return self.watch.get(timeout)

    def wake(self) -> None:
        """Nothing wakes a watch but closing it, which takes the core lock: the feeder's
        `poll_interval` bounds how long it takes to notice the stop instead."""

    def close(self) -> None:
        self.watch.close()


class _Feeder(Generic[T]):
    """One stream's thread and the loop-side queue it fills. It holds no reference to the
    stream, so dropping the stream lets its finalizer stop the feeder."""

    def __init__(self, loop: asyncio.AbstractEventLoop, open_source: Callable[[], _Source[T]],
                 *, buffer: int, poll_interval: float, name: str,
                 on_finished: Callable[[_Feeder[Any]], None]) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[T | _End] = asyncio.Queue()
        self.opened = asyncio.Event()
        self.finished = asyncio.Event()
        self.open_error: BaseException | None = None
        self.source: _Source[T] | None = None
        self.credits = threading.Semaphore(buffer)
        self._stop = threading.Event()
        self._open_source = open_source
        self._poll = poll_interval
        self._on_finished = on_finished
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    # -- any thread --
    def signal_stop(self) -> None:
        """Ask the feeder to close its source and end (non-blocking, any thread)."""
        self._stop.set()
        source = self.source
        if source is not None:
            try:
                source.wake()
            except Exception:  # a wake-up is an optimisation: the poll notices the stop anyway
                log.debug("waking a stream's source failed", exc_info=True)

    # -- the feeder thread --
    def _post(self, callback: Callable[..., object], *args: Any) -> bool:
        try:
            self.loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            return False
        return True

    def _run(self) -> None:
        source: _Source[T] | None = None
        try:
            if self._stop.is_set():  # closed before the thread ran
                return
            try:
                source = self._open_source()
            except BaseException as exc:  # handed to whoever awaits open()
                self._post(self._set_opened, exc)
                return
            self.source = source
            self._post(self._set_opened, None)
            stop, credits, poll = self._stop, self.credits, self._poll
            while not stop.is_set():
                if not credits.acquire(timeout=poll):
                    continue  # the loop side holds `buffer` items: wait for the consumer
                item = source.get(poll)
                if item is None:
                    credits.release()
                    if source.ended:
                        break
                    continue
                if stop.is_set() or not self._post(self.queue.put_nowait, item):
                    break
        except Exception:
            log.exception("a mempool stream's feeder failed; the stream ends")
        finally:
            if source is not None:
                try:
                    source.close()
                except Exception:
                    log.exception("closing a mempool stream's source failed")
            self._post(self._set_finished)

    # -- the loop thread (callbacks posted by the feeder) --
    def _set_opened(self, error: BaseException | None) -> None:
        self.open_error = error
        self.opened.set()
        if error is not None:
            self._set_finished()

    def _set_finished(self) -> None:
        if self.finished.is_set():
            return
        self.opened.set()
        self.finished.set()
        self.queue.put_nowait(_END)
        self._on_finished(self)


class Stream(Generic[T]):
    """An async iterator over a shared mempool's items (see the module docstring).

    `async with stream:` (or `await stream.open()`) returns once the source is open: every
    item after that is delivered. Plain `async for` opens it on the first step. `get(timeout)`
    waits at most `timeout` seconds (None when nothing came, or the stream ended). Cancelling a
    task while it awaits the next item closes the stream, as it would an async generator.
    Create and use it in the event loop of the facade that made it.
    """

    def __init__(self, register: Callable[[_Feeder[Any]], None],
                 unregister: Callable[[_Feeder[Any]], None],
                 open_source: Callable[[], _Source[T]], *, buffer: int, poll_interval: float,
                 name: str) -> None:
        self._register = register
        self._unregister = unregister
        self._open_source = open_source
        self._buffer = buffer
        self._poll = poll_interval
        self._name = name
        self._feeder: _Feeder[T] | None = None
        self._closed = False
        self._done = False

    @property
    def closed(self) -> bool:
        """True once the stream was closed (or ended): it yields nothing more."""
        return self._closed or self._done

    async def open(self) -> Self:
        """Open the source (once); return the stream. Raises what opening raised (e.g. a
        `TypeError` for a bad watch key), or `RuntimeError` if closed."""
        if self._closed:
            raise RuntimeError("this stream is closed")
        feeder = self._feeder
        if feeder is None:
            loop = asyncio.get_running_loop()
            feeder = _Feeder(loop, self._open_source, buffer=self._buffer,
                             poll_interval=self._poll, name=self._name,
                             on_finished=self._unregister)
            self._register(feeder)  # RuntimeError once the facade is closed
            self._feeder = feeder
            weakref.finalize(self, feeder.signal_stop)
            feeder.thread.start()
        try:
            await feeder.opened.wait()
        except asyncio.CancelledError:
            self.close()
            raise
        if feeder.open_error is not None:
            self._done = True
            raise feeder.open_error
        return self

    def close(self) -> None:
        """Stop the stream now, without waiting (its thread ends within `poll_interval`);
        a task waiting for the next item gets StopAsyncIteration. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._done = True
        feeder = self._feeder
        if feeder is not None:
            feeder.signal_stop()
            feeder.queue.put_nowait(_END)  # wake this loop's waiters

    async def aclose(self) -> None:
        """Close the stream and wait until its thread has released the source."""
        self.close()
        feeder = self._feeder
        if feeder is not None:
            await feeder.finished.wait()

    async def get(self, timeout: float | None = None) -> T | None:
        """The next item, waiting at most `timeout` seconds (None: as long as it takes);
        None on timeout or when the stream has ended. Cancelling it closes nothing."""
        if self._done:
            return None
        feeder = self._feeder
        if feeder is None or not feeder.opened.is_set():
            await self.open()
            feeder = self._feeder
            assert feeder is not None
        try:
            item = await asyncio.wait_for(feeder.queue.get(), timeout)
        except TimeoutError:
            return None
        return self._take(feeder, item)

    def _take(self, feeder: _Feeder[T], item: T | _End) -> T | None:
        if isinstance(item, _End):
            self._done = True
            feeder.queue.put_nowait(_END)  # for any other waiter
            return None
        feeder.credits.release()
        return item

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        if self._done:
            raise StopAsyncIteration
        feeder = self._feeder
        if feeder is None or not feeder.opened.is_set():
            await self.open()
            feeder = self._feeder
            assert feeder is not None
        try:
            item = await feeder.queue.get()
        except asyncio.CancelledError:
            self.close()
            raise
        taken = self._take(feeder, item)
        if taken is None:
            raise StopAsyncIteration
        return taken

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()


class NotificationStream(Stream[SharedMempoolNotification]):
    """`SharedMempoolNotification`s, as `subscribe()` delivers them (SYNC every tick)."""


class EventStream(Stream[TransactionEvent]):
    """`TransactionEvent`s of a `watch()`."""

    @property
    def lost(self) -> int:
        """Events the watch dropped because its queue was full (the consumer lagged)."""
        feeder = self._feeder
        source = feeder.source if feeder is not None else None
        return source.watch.lost if isinstance(source, _WatchSource) else 0


def notification_source(shared: SharedMempool) -> Callable[[], _Source[SharedMempoolNotification]]:
    return lambda: _NotificationSource(shared)


def watch_source(shared: SharedMempool, keys: list[Any] | None,
                 accounts: list[bytes] | None) -> Callable[[], _Source[TransactionEvent]]:
    return lambda: _WatchSource(shared.watch(keys, accounts=accounts))
