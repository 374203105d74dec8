"""The journal binding: client transactions are durable before they are acknowledged, and are
forgotten exactly when the core's removal feed says they left the pool.

Order matters and holds without any lock across I/O: a VALID client transaction is registered
as *pending* while the core lock is still held (`accepted_locked`), then appended outside it.
A removal that arrives for a pending transaction (committed or evicted before its append
landed) leaves a tombstone, and the appender forgets it right after writing. So no forget is
ever lost and no dead record is ever left behind.

A worker thread (while the shared mempool runs) does what must not happen inside a request:
compaction when due, the "batch" fsync policy's timer, and offering again the transactions a
restart held back (`recover`). Without the worker (a node driven by hand) compaction runs in
the caller.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Callable

from ..journal import TransactionJournal
from ..journal.recovery import RecoveryReport, recover, settle

__all__ = ["JournalBinding"]

log = logging.getLogger(__name__)

_Key = tuple[tuple[bytes, int], int]


def _key(txn) -> _Key:
    return (txn.pointer, hash(txn))


class JournalBinding:
    """Owns the pending/tombstone bookkeeping (one lock, memory only) and the worker thread."""

    def __init__(self, journal: TransactionJournal, *, retry_interval_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.journal = journal
        self._retry_interval = retry_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: collections.Counter[_Key] = collections.Counter()
        self._tombstones: dict[_Key, object] = {}
        self._held: list = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._resubmit: Callable[[list], list] | None = None

    # -- the client path --
    def accepted_locked(self, txns) -> None:
        """Under the core lock: these client transactions were just admitted."""
        with self._lock:
            pending = self._pending
            for txn in txns:
                pending[_key(txn)] += 1

    def append(self, txns) -> int:
        """Write the accepted transactions (no fsync yet); returns the durability ticket.
        Raises on an I/O error (then nothing may be acknowledged)."""
        try:
            _, ticket = self.journal.append_unsynced(txns)
        finally:
            forget = []
            with self._lock:
                for txn in txns:
                    key = _key(txn)
                    left = self._pending[key] - 1
                    if left > 0:
                        self._pending[key] = left
                        continue
                    del self._pending[key]
                    gone = self._tombstones.pop(key, None)
                    if gone is not None:
                        forget.append(gone)
            if forget and not self.journal.closed:
                self.journal.forget_transactions(forget)
        return ticket

    def wait_durable(self, ticket: int) -> None:
        self.journal.wait_durable(ticket)

    # -- the removal feed --
    def removed(self, removals) -> None:
        """Forget what left the core (a replaced transaction only if it is the journaled one)."""
        forget = []
        with self._lock:
            pending = self._pending
            for txn, _reason in removals:
                key = _key(txn)
                if key in pending:
                    self._tombstones[key] = txn
                else:
                    forget.append(txn)
        if forget and self.journal.forget_transactions(forget):
            self._compaction_maybe_due()

    def _compaction_maybe_due(self) -> None:
        if self._worker is not None:
            self._wake.set()
        else:
            self.journal.compact_if_due()

    # -- restart --
    def recover(self, submit: Callable[[list], list], get_account_states,
                clock: Callable[[], float]) -> RecoveryReport:
        """Replay the journal through `submit`; keep what is held to offer it again."""
        report = recover(self.journal, submit, get_account_states, clock)
        with self._lock:
            self._held = list(report.held_transactions)
        return report

    @property
    def held(self) -> int:
        """Journaled transactions kept out of the pool since the restart."""
        with self._lock:
            return len(self._held)

    def retry_held(self, submit: Callable[[list], list]) -> int:
        """Offer the held transactions again; returns how many are still held."""
        with self._lock:
            held, self._held = self._held, []
        if not held:
            return 0
        try:
            statuses = submit(held)
            dead, still, _ = settle(held, statuses)
        except Exception:
            with self._lock:
                self._held = held + self._held
            raise
        if dead:
            self.journal.forget_transactions(dead)
        with self._lock:
            self._held = still + self._held
            return len(self._held)

    # -- the worker --
    def start(self, resubmit: Callable[[list], list], name: str,
              wrap: Callable[[Callable, str], Callable[[], None]]) -> None:
        """Run maintenance in a thread of its own until `stop()`; `wrap(loop, role)` makes the
        thread body (the shared mempool's, which records a thread's death)."""
        self._resubmit = resubmit
        self._worker = threading.Thread(target=wrap(self._run, "journal"),
                                        name=f"smp-journal-{name}", daemon=True)
        self._worker.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join()
            self._worker = None

    def _run(self, stop: threading.Event) -> None:
        journal = self.journal
        batch = journal.fsync_policy == "batch" and journal.fsync_interval > 0
        tick = min(journal.fsync_interval, self._retry_interval) if batch else \
            self._retry_interval
        next_retry = time.monotonic() + self._retry_interval
        while not self._stop.is_set() and not stop.is_set():
            self._wake.wait(tick)
            self._wake.clear()
            if self._stop.is_set() or stop.is_set() or journal.closed:
                return
            try:
                if batch:
                    journal.sync()
                journal.compact_if_due()
                if time.monotonic() >= next_retry:
                    next_retry = time.monotonic() + self._retry_interval
                    if self._resubmit is not None:
                        self.retry_held(self._resubmit)
            except Exception:
                if journal.closed:
                    return
                log.exception("journal maintenance failed")
