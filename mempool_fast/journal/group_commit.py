"""The journal's fsync policy and group commit: one fdatasync serves every write before it.

Writes are numbered as they complete (`wrote`, under the journal's write lock); a writer waits
for its own number (`wait`). One waiter at a time is the leader: it fdatasyncs, covering every
write completed when it started. A waiter that arrives while that fdatasync runs waits for it
(it does not queue for the descriptor): if its write was covered it returns without an fsync of
its own; otherwise the first such waiter becomes the next leader and covers all of them at
once. So concurrent appenders share fsyncs, and a waiter whose write is already durable returns
at once. "always" waits for it, "batch" only once the interval has passed since the last fsync
(a timer covers quiet periods: `sync`), "never" leaves it to the OS. `lock` serialises
fdatasync and is held by a compaction while it swaps the file (and by close); the waiters'
condition is a leaf, never held while another lock is taken.
"""

from __future__ import annotations

import threading
from typing import Callable

from ..config import FSYNC_POLICIES
from .format import fdatasync

__all__ = ["GroupCommit"]


class GroupCommit:
    """Durability bookkeeping of one journal (see the module docstring)."""

    def __init__(self, policy: str, interval_s: float, clock: Callable[[], float],
                 fd: Callable[[], int]) -> None:
        if policy not in FSYNC_POLICIES:
            raise ValueError(f"fsync must be one of {FSYNC_POLICIES}, got {policy!r}")
        self.policy = policy
        self.interval = interval_s
        self._clock = clock
        self._fd = fd
        self.lock = threading.Lock()
        #: Waiters for the running fdatasync (`_leading`: one is running or about to).
        self._waiters = threading.Condition(threading.Lock())
        self._leading = False
        self._written = 0  # writes completed
        self._synced = 0  # writes known durable
        self._last_sync = clock()
        #: fdatasync calls made.
        self.fsyncs = 0

    def wrote(self) -> int:
        """A write completed (call under the journal's write lock); returns its ticket."""
        self._written += 1
        return self._written

    @property
    def ticket(self) -> int:
        """The ticket of the last completed write."""
        return self._written

    def wait(self, ticket: int) -> None:
        """Return once write `ticket` is durable as the policy demands."""
        if self.policy == "never":
            return
        if self.policy == "batch" and self._clock() - self._last_sync < self.interval:
            return
        self.sync(ticket)

    def sync(self, ticket: int) -> None:
        """fdatasync now unless write `ticket` is already durable, or becomes durable by the
        fdatasync another thread is running (then wait for that one)."""
        if self._synced >= ticket:
            return
        with self._waiters:
            while True:
                if self._synced >= ticket:
                    return
                if not self._leading:
                    self._leading = True
                    break
                self._waiters.wait()
        try:
            with self.lock:
                self.sync_locked(ticket)
        finally:
            with self._waiters:
                self._leading = False
                self._waiters.notify_all()

    def sync_locked(self, ticket: int) -> None:
        fd = self._fd()
        if self._synced >= ticket or fd < 0:
            return
        target = self._written  # every write counted here has completed
        fdatasync(fd)
        self._synced = target
        self._last_sync = self._clock()
        self.fsyncs += 1

    def all_durable(self) -> None:
        """Under `lock`: the file was just fsynced whole (a compaction installed it)."""
        self._synced = self._written
