"""The journal binding: client transactions are durable before they are acknowledged, and are
forgotten exactly when the core's removal feed says they left the pool.

Order matters and holds without any lock across I/O. Under the core lock, in the order the core
did them, the binding learns of admissions (`accepted_locked`) and removals (`removed_locked`):
a removal marks its transaction *doomed*, an admission of the same transaction clears the mark.
Outside the lock, a delivered removal (`removed`) forgets a transaction only if it is still
doomed, so a transaction accepted again before its old removal arrives stays journaled. A
batch of VALID client transactions is *in flight* from `accepted_locked` until its `append` (in
the same thread: the registration is per thread) has written it; a doomed transaction of a
batch in flight is forgotten by the appender right after writing. So no forget is ever lost,
none ever drops a transaction that is in the pool, and no dead record is ever left behind.

The bookkeeping is per batch: registering and finishing a batch cost the same for 1 or 2,000
transactions. Only a removal that arrives while batches are in flight looks inside them (each
batch's set of transactions is built once, on first need).

A worker thread (while the shared mempool runs) does what must not happen inside a request:
compaction when due, the "batch" fsync policy's timer, and offering again the transactions a
restart held back (`recover`). Without the worker (a node driven by hand) compaction runs in
the caller.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Iterable

from ..journal import TransactionJournal
from ..journal.recovery import AccountStatesReader, RecoveryReport, Submitter, recover, settle
from ..transaction import SignedTransaction
from ..types import RemovalReason

__all__ = ["JournalBinding"]

log = logging.getLogger(__name__)


class _Flight:
    """One accepted batch until its append has written it."""

    __slots__ = ("txns", "_members", "removed")

    def __init__(self, txns: list[SignedTransaction]) -> None:
        self.txns = txns
        self._members: set[SignedTransaction] | None = None
        #: Transactions of this batch the removal feed reported while it was in flight.
        self.removed: list[SignedTransaction] = []

    def __contains__(self, txn: object) -> bool:
        members = self._members
        if members is None:
            members = self._members = set(self.txns)
        return txn in members


class JournalBinding:
    """Owns the in-flight bookkeeping (one lock, memory only) and the worker thread."""

    def __init__(self, journal: TransactionJournal, *, retry_interval_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.journal = journal
        self._retry_interval = retry_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        #: thread id -> the batch that thread registered and has not appended yet
        self._flights: dict[int, _Flight] = {}
        #: removed under the core lock and not admitted again since: to forget
        self._doomed: dict[SignedTransaction, None] = {}
        self._held: list[SignedTransaction] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._resubmit: Submitter | None = None

    # -- the client path --
    def accepted_locked(self, txns: Iterable[SignedTransaction]) -> None:
        """Under the core lock: these client transactions were just admitted; the same thread
        appends them next (`append`)."""
        flight = _Flight(txns if type(txns) is list else list(txns))
        thread = threading.get_ident()
        with self._lock:
            doomed = self._doomed
            if doomed:  # accepted again: back in the pool, its next removal will come
                for txn in flight.txns:
                    doomed.pop(txn, None)
            # A batch this thread registered and never appended (its request failed between
            # the two): nothing of it was written; what left the pool meanwhile is forgotten.
            stale = self._flights.pop(thread, None)
            forget = self._still_doomed(stale.removed) if stale is not None else []
            self._flights[thread] = flight
        if forget and not self.journal.closed:
            self.journal.forget_transactions(forget)

    def append(self, txns: Iterable[SignedTransaction]) -> int:
        """Write the accepted transactions (no fsync yet); returns the durability ticket.
        Raises on an I/O error (then nothing may be acknowledged)."""
        try:
            _, ticket = self.journal.append_unsynced(txns)
        finally:
            with self._lock:
                flight = self._flights.pop(threading.get_ident(), None)
                forget = self._still_doomed(flight.removed) if flight is not None else []
            if forget and not self.journal.closed:
                self.journal.forget_transactions(forget)
        return ticket

    def wait_durable(self, ticket: int) -> None:
        self.journal.wait_durable(ticket)

    # -- the removal feed --
    def removed_locked(self, removals: Iterable[tuple[SignedTransaction, RemovalReason]]
                       ) -> None:
        """Under the core lock, as the core removed them: these transactions are doomed."""
        with self._lock:
            doomed = self._doomed
            for txn, _reason in removals:
                doomed[txn] = None

    def removed(self, removals: Iterable[tuple[SignedTransaction, RemovalReason]]) -> None:
        """Forget what left the core and was not admitted again since (a replaced transaction
        only if it is the journaled one); a batch in flight forgets its own after writing."""
        with self._lock:
            doomed = self._doomed
            in_flight = list(self._flights.values())
            forget: list[SignedTransaction] = []
            for txn, _reason in removals:
                if txn not in doomed:
                    continue  # admitted again, or already forgotten by a later delivery
                kept = False
                for flight in in_flight:
                    if txn in flight:
                        flight.removed.append(txn)
                        kept = True
                if not kept:
                    del doomed[txn]
                    forget.append(txn)
        if forget and self.journal.forget_transactions(forget):
            self._compaction_maybe_due()

    def _still_doomed(self, txns: list[SignedTransaction]) -> list[SignedTransaction]:
        """Under the binding lock, for a batch just written (or dropped): those of `txns` to
        forget now. Each stays doomed while another batch in flight holds it (that batch
        writes it too, and forgets it after)."""
        doomed = self._doomed
        forget = [txn for txn in txns if txn in doomed]
        flights = self._flights.values()
        for txn in forget:
            if not any(txn in flight for flight in flights):
                doomed.pop(txn, None)
        return forget

    def _compaction_maybe_due(self) -> None:
        if self._worker is not None:
            self._wake.set()
        else:
            self.journal.compact_if_due()

    # -- restart --
    def recover(self, submit: Submitter, get_account_states: AccountStatesReader,
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

    def retry_held(self, submit: Submitter) -> int:
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
    def start(self, resubmit: Submitter, name: str,
              wrap: Callable[[Callable[[threading.Event], None], str], Callable[[], None]]
              ) -> None:
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
