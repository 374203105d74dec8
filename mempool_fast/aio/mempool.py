"""AsyncSharedMempool: the shared mempool's API as coroutines, never blocking the event loop.

Every call that may block (the core lock, validation, an account-store read, a journal fsync,
a thread join) runs in a `ThreadPoolExecutor` of `workers` threads that the facade owns (not
the loop's default executor, which other code shares and may size differently): a slow
storage or validator therefore delays the callers waiting for a worker, never the loop. The
arguments are copied into lists or frozensets on the loop first, so the caller may reuse them.

Cancellation: a cancelled call that had not yet started in the executor never runs; one that
had started runs to completion in its worker (a mempool call cannot be interrupted half-way,
and each leaves the pool consistent: the core takes its lock per step) and its result is
dropped. So a cancelled `submit_transactions` may still have admitted its transactions, and a
cancelled `commit_transactions` may have committed: `transaction_status` tells.

Streams (`notifications()`, `events()`): see `mempool_fast.aio._streams` for the feeder
design; each holds a thread only while it is open, and `aclose()` of the facade closes them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import threading
import time
from types import TracebackType
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, Protocol, Self, TypeVar, cast, overload

from ..config import MempoolConfig
from ..network.base import Network
from ..shared import SharedMempool
from ..status import AccountStatus, TransactionStatus
from ..storage import AccountStateReader
from ..types import MempoolAddTransactionStatus
from ._streams import EventStream, NotificationStream, _Feeder, notification_source, watch_source
from .network import AsyncNetwork

__all__ = ["AsyncSharedMempool", "TransactionLike", "Pointer", "TransactionKey"]

P = ParamSpec("P")
R = TypeVar("R")

#: (sender, sequence_number)
Pointer = tuple[bytes, int]
#: A transaction's 32-byte hash or its pointer (the status API's keys).
TransactionKey = bytes | tuple[bytes, int]

#: Default size of the facade's executor, threads.
DEFAULT_WORKERS = 4
#: Default time a stream's feeder waits on its source before looking for a stop, seconds.
DEFAULT_POLL_INTERVAL = 0.05
#: Default bound of the items a stream holds on the loop side.
DEFAULT_STREAM_BUFFER = 1024


class TransactionLike(Protocol):
    """What the facade's annotations need of a transaction: both `SignedTransaction` classes
    (Cython and `PySignedTransaction`) have it."""

    @property
    def sender(self) -> bytes: ...

    @property
    def sequence_number(self) -> int: ...

    @property
    def gas_unit_price(self) -> int: ...

    @property
    def max_gas_amount(self) -> int: ...

    @property
    def expiration_time(self) -> int: ...

    @property
    def pointer(self) -> tuple[bytes, int]: ...

    @property
    def hash(self) -> bytes: ...

    def to_bytes(self) -> bytes: ...


def _as_list(what: str, value: Iterable[Any] | None) -> list[Any] | None:
    """`value` as a list, refusing one key where a list of them is wanted (as `watch`)."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview, str)) or (
            isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], int)):
        raise TypeError(f"{what} is a list (of hashes or pointers, or of addresses), "
                        f"not one {type(value).__name__}")
    return list(value)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class AsyncSharedMempool:
    """An async facade over one `SharedMempool` (see the module docstring).

    `AsyncSharedMempool(shared)` wraps an existing one; `AsyncSharedMempool(config, network,
    storage, **kwargs)` builds one from `SharedMempool`'s own arguments (`network` may be an
    `AsyncNetwork`: its `.network` is used) and owns it. `async with` starts the mempool and
    closes the facade; `aclose()` closes the streams, stops the mempool if the facade built it
    or started it, then shuts the executor down (waiting for running calls, in a helper thread:
    the loop keeps running). A wrapped mempool the caller started stays running.
    """

    @overload
    def __init__(self, shared: SharedMempool, /, *, workers: int = DEFAULT_WORKERS,
                 poll_interval: float = DEFAULT_POLL_INTERVAL,
                 stream_buffer: int = DEFAULT_STREAM_BUFFER) -> None: ...

    @overload
    def __init__(self, config: MempoolConfig, network: Network | AsyncNetwork,
                 storage: AccountStateReader, /, *, transaction_format: Any = None,
                 validator: Any = None, mempool: Any = None,
                 journal: Any = None, clock: Callable[[], float] = time.time,
                 incarnation: int | None = None, workers: int = DEFAULT_WORKERS,
                 poll_interval: float = DEFAULT_POLL_INTERVAL,
                 stream_buffer: int = DEFAULT_STREAM_BUFFER) -> None: ...

    def __init__(self, shared: SharedMempool | MempoolConfig,
                 network: Network | AsyncNetwork | None = None,
                 storage: AccountStateReader | None = None, /, *,
                 transaction_format: Any = None, validator: Any = None,
                 mempool: Any = None, journal: Any = None,
                 clock: Callable[[], float] = time.time, incarnation: int | None = None,
                 workers: int = DEFAULT_WORKERS, poll_interval: float = DEFAULT_POLL_INTERVAL,
                 stream_buffer: int = DEFAULT_STREAM_BUFFER) -> None:
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValueError("workers must be a positive int")
        if not poll_interval > 0:
            raise ValueError("poll_interval must be positive")
        if not isinstance(stream_buffer, int) or stream_buffer < 1:
            raise ValueError("stream_buffer must be a positive int")
        if isinstance(shared, SharedMempool):
            if network is not None or storage is not None:
                raise TypeError("pass either a SharedMempool or SharedMempool's arguments")
            self._shared = shared
            self._owns = False
        else:
            if network is None or storage is None:
                raise TypeError("AsyncSharedMempool(config, network, storage, ...) needs all "
                                "three, or one SharedMempool")
            if isinstance(network, AsyncNetwork):
                network = network.network
            self._shared = SharedMempool(shared, network, storage,
                                         transaction_format=transaction_format,
                                         validator=validator, mempool=mempool, journal=journal,
                                         clock=clock, incarnation=incarnation)
            self._owns = True
        self._name = str(getattr(self._shared.network, "peer_id", "node"))
        self._workers = workers
        self._poll = float(poll_interval)
        self._stream_buffer = stream_buffer
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix=f"smp-aio-{self._name}")
        self._feeders: set[_Feeder[Any]] = set()
        self._start_requested = False
        self._starting: concurrent.futures.Future[SharedMempool] | None = None
        self._closed = False
        self._closing: asyncio.Future[None] | None = None

    # ------------------------------------------------------------------ plumbing
    @property
    def shared(self) -> SharedMempool:
        """The wrapped SharedMempool (its methods block: call them through `call`)."""
        return self._shared

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def workers(self) -> int:
        """The executor's size."""
        return self._workers

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this AsyncSharedMempool is closed")

    async def call(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """`fn(*args, **kwargs)` in the facade's executor (for any blocking call, e.g.
        `await amp.call(amp.shared.peers)`); see the module docstring on cancellation."""
        self._check_open()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> Self:
        """Start the mempool's threads (once; RuntimeError if it was started already)."""
        self._check_open()
        if self._start_requested:
            raise RuntimeError("this AsyncSharedMempool was started already")
        self._start_requested = True
        # kept: a start whose caller was cancelled may still run, and close waits for it
        self._starting = self._executor.submit(self._shared.start)
        await asyncio.wrap_future(self._starting)
        return self

    async def aclose(self) -> None:
        """Close every stream, stop the mempool (if the facade built or started it), shut the
        executor down. Idempotent; safe to cancel (the closing goes on)."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close())
        await asyncio.shield(self._closing)

    async def stop(self) -> None:
        """The same as `aclose()` (the facade cannot be started again)."""
        await self.aclose()

    async def _close(self) -> None:
        self._closed = True
        loop = asyncio.get_running_loop()
        feeders = list(self._feeders)
        for feeder in feeders:
            feeder.signal_stop()
        for feeder in feeders:
            if feeder.loop is loop:
                await feeder.finished.wait()
        try:
            # stop what the facade built, or what it started (its start ran without error,
            # even if its caller was cancelled): a wrapped mempool whose start failed (e.g.
            # the caller had started it) stays the caller's, running
            stop = self._owns
            starting = self._starting
            if starting is not None:
                if not starting.done():
                    await asyncio.wait([asyncio.wrap_future(starting)])
                stop = stop or (not starting.cancelled() and starting.exception() is None)
            if stop:
                await loop.run_in_executor(self._executor, self._shared.stop)
        finally:
            done: asyncio.Future[None] = loop.create_future()
            executor = self._executor

            def shutdown() -> None:
                executor.shutdown(wait=True)
                try:
                    loop.call_soon_threadsafe(_resolve, done)
                except RuntimeError:
                    pass

            threading.Thread(target=shutdown, name=f"smp-aio-close-{self._name}",
                             daemon=True).start()
            await done

    async def __aenter__(self) -> Self:
        try:
            return await self.start()
        except BaseException:
            await self.aclose()
            raise

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ client path
    async def submit_transactions(self, txns: Iterable[TransactionLike]
                                  ) -> list[MempoolAddTransactionStatus]:
        """`SharedMempool.submit_transactions`: one status per input, in input order."""
        return await self.call(self._shared.submit_transactions, list(txns))

    # ------------------------------------------------------------------ consensus path
    async def get_block(self, batch_size: int, exclude: Iterable[Pointer] = ()
                        ) -> list[TransactionLike]:
        """`SharedMempool.get_block`: up to `batch_size` ready transactions by priority."""
        block = await self.call(self._shared.get_block, batch_size, frozenset(exclude))
        # each a SignedTransaction, which is a TransactionLike (a list's item type is invariant)
        return cast("list[TransactionLike]", block)

    async def commit_transactions(self, committed: Iterable[Pointer], block_time: float,
                                  rejected: Iterable[Pointer] = ()) -> int:
        """`SharedMempool.commit_transactions`: commit, reject, GC by expiration at
        `block_time`; how many expired transactions were removed."""
        return await self.call(self._shared.commit_transactions, list(committed), block_time,
                               list(rejected))

    # ------------------------------------------------------------------ status API
    async def transaction_status(self, key: TransactionKey) -> TransactionStatus:
        """`SharedMempool.transaction_status` (a 32-byte hash or a pointer)."""
        return await self.call(self._shared.transaction_status, key)

    async def transaction_statuses(self, keys: Iterable[TransactionKey]
                                   ) -> list[TransactionStatus]:
        """`SharedMempool.transaction_statuses`: many keys, one lock hold."""
        return await self.call(self._shared.transaction_statuses, list(keys))

    async def account_status(self, sender: bytes) -> AccountStatus:
        """`SharedMempool.account_status`."""
        return await self.call(self._shared.account_status, sender)

    async def inspect(self) -> dict[str, Any]:
        """`SharedMempool.inspect()`: JSON-serialisable."""
        return await self.call(self._shared.inspect)

    # ------------------------------------------------------------------ streams
    def _register(self, feeder: _Feeder[Any]) -> None:
        self._check_open()
        self._feeders.add(feeder)

    def _unregister(self, feeder: _Feeder[Any]) -> None:
        self._feeders.discard(feeder)

    def notifications(self) -> NotificationStream:
        """An async iterator over `SharedMempoolNotification`s (`subscribe()`); it
        subscribes when opened (`async with`, `open()` or the first step)."""
        self._check_open()
        return NotificationStream(self._register, self._unregister,
                                  notification_source(self._shared),
                                  buffer=self._stream_buffer, poll_interval=self._poll,
                                  name=f"smp-aio-notify-{self._name}")

    def events(self, keys: Iterable[TransactionKey] | None = None,
               accounts: Iterable[bytes] | None = None) -> EventStream:
        """An async iterator over the `TransactionEvent`s of `watch(keys, accounts=accounts)`
        (everything when both are None); the watch opens when the stream is opened (`async
        with`, `await stream.open()` or the first step): open it before the actions whose
        events it must see."""
        self._check_open()
        key_list = _as_list("keys", keys)
        account_list = _as_list("accounts", accounts)
        return EventStream(self._register, self._unregister,
                           watch_source(self._shared, key_list, account_list),
                           buffer=self._stream_buffer, poll_interval=self._poll,
                           name=f"smp-aio-watch-{self._name}")
