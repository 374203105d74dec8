"""The core mempool behind its one lock, and the delivery of what it removed.

Every call into the core goes through `GuardedCore.apply(fn)`: `fn(core)` runs under the lock,
the removal feed is drained before the lock is released, and the removals are handed to the
listeners (journal, stage tracker, metrics...) after it is released, in the calling thread. So a
listener never runs under the core lock, and nothing ever scans the pool to learn what left it.
A *locked* listener (memory-only bookkeeping that must be ordered with admissions, such as the
journal binding's) sees each batch under the lock, as it is drained.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, TypeVar

from ..transaction import SignedTransaction
from ..types import RemovalReason

__all__ = ["GuardedCore", "Removals", "RemovalListener"]

log = logging.getLogger(__name__)

T = TypeVar("T")
#: What a core removed in one call: (transaction, reason) pairs.
Removals = list[tuple[SignedTransaction, RemovalReason]]
RemovalListener = Callable[[Removals], None]


class GuardedCore:
    """Owns the core's lock; `apply` (or `read`, for calls that remove nothing) is the way in."""

    def __init__(self, mempool: Any) -> None:
        if not hasattr(mempool, "drain_removed"):
            raise TypeError("mempool must be a CoreMempool (it has no removal feed)")
        mempool.removal_feed = True
        self.mempool = mempool
        self.lock = threading.Lock()
        self._listeners: list[RemovalListener] = []
        self._locked_listeners: list[RemovalListener] = []

    def add_listener(self, listener: RemovalListener) -> None:
        """Receive every later batch of removals (called outside the lock, in the thread that
        caused them; it must be quick and must not call back into the core)."""
        self._listeners.append(listener)

    def add_locked_listener(self, listener: RemovalListener) -> None:
        """Receive every later batch of removals under the lock, as the core made them: for
        bookkeeping that must be ordered with other work under the lock (O(removals), memory
        only, never I/O)."""
        self._locked_listeners.append(listener)

    def apply(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(core, *args)` under the lock; then the removals it caused go to the listeners."""
        removed: Removals = []
        try:
            with self.lock:
                try:
                    return fn(self.mempool, *args)
                finally:
                    removed = self.mempool.drain_removed()
                    if removed and self._locked_listeners:
                        self._deliver(removed, self._locked_listeners)
        finally:
            if removed:
                self._deliver(removed, self._listeners)

    def read(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(core, *args)` under the lock, for calls that change nothing."""
        with self.lock:
            return fn(self.mempool, *args)

    @staticmethod
    def _deliver(removed: Removals, listeners: list[RemovalListener]) -> None:
        for listener in listeners:
            try:
                listener(removed)
            except Exception:  # one listener's bug must not undo the core call or starve others
                log.exception("removal listener %r failed", listener)
