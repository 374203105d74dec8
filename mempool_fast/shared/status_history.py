"""The status history: the fate of the last `status_history_size` transactions that left the
pool, by hash and by pointer; and the ordered intake that feeds it (and the watches) from the
removal feed in the core's order, off the core lock.

Why an intake rather than a plain `add_listener`: listeners run after the core lock is released,
in the thread that caused the removals, so two threads' deliveries can arrive out of the core's
order (a replacement in one thread and the commit of that pointer in another would leave
"replaced" as the pointer's latest fate). The intake's only work under the lock is one append
per core call (a locked listener); the recording itself (hashing, the indexes, forgetting the
oldest) runs after the lock is released, by whichever thread drains first, in append order. A
query drains (waiting for a drain in progress) before it reads, so a removal the core made
before the query looked at the core is always found.

Memory: each entry is three bytes objects the garbage collector never tracks (the 32-byte hash,
a 49- or 81-byte record, the 40-byte pointer key) and a slot in two dicts and a deque: about
330 bytes an entry once full, up to about 440 while it keeps forgetting (the dicts reclaim the
slots of forgotten entries when they resize), so 33-44 MB at the default bound of 100,000
(measured with tracemalloc by tests/test_status.py::test_history_entry_memory).
"""

from __future__ import annotations

import collections
import hashlib
import logging
import struct
import threading
from typing import Any, Callable, NamedTuple

from .._wire import POINTER
from ..status import DropReason, TransactionState, from_removal
from ..types import RemovalReason

__all__ = ["StatusHistory", "HistoryEntry", "OrderedIntake", "txn_hash", "pointer_key",
           "replacements"]

log = logging.getLogger(__name__)

_KEY_LEN = POINTER.size
#: pointer key (sender | seq u64) | removal reason u8 | clock time f64 [| replacement hash]
_RECORD = struct.Struct(f"<{_KEY_LEN}sBd")
_REPLACED = RemovalReason.REPLACED
_REASONS = {int(r): r for r in RemovalReason}


def txn_hash(txn: Any) -> bytes:
    """A transaction's 32-byte hash: SHA3-256 of its wire form (`txn.hash` when the class has
    it, which caches it)."""
    cached = getattr(txn, "hash", None)
    if cached is not None:
        return cached
    return hashlib.sha3_256(txn.to_bytes()).digest()


def pointer_key(txn: Any) -> bytes:
    """The 40 bytes that open a transaction's wire form: sender | sequence number (u64 LE)."""
    return txn.to_bytes()[:_KEY_LEN]


def replacements(core: Any, removals: list) -> dict[int, Any] | None:
    """For each REPLACED removal (by index), the transaction that took its pointer: the next
    REPLACED one at the same pointer in the batch, else the one the core holds there now.
    Call under the core lock, right after the removals were drained."""
    found: dict[int, Any] = {}
    last_at: dict[bytes, int] = {}
    for i, (txn, reason) in enumerate(removals):
        if reason is not _REPLACED:
            continue
        key = pointer_key(txn)
        earlier = last_at.get(key)
        if earlier is not None:
            found[earlier] = txn
        last_at[key] = i
    for key, i in last_at.items():
        sender, seq = POINTER.unpack(key)
        held = core.get(sender, seq)
        if held is not None:
            found[i] = held
    return found or None


class HistoryEntry(NamedTuple):
    """What the history remembers of one transaction that left the pool."""

    hash: bytes
    pointer: tuple[bytes, int]
    state: TransactionState
    reason: DropReason | None
    at: float
    #: the hash of the transaction that replaced it (REPLACED only, when known)
    replaced_by: bytes | None


class StatusHistory:
    """The last `size` removals (0: none kept), by hash and by pointer (latest fate); oldest
    forgotten first. Owns its lock (a leaf)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._by_hash: dict[bytes, bytes] = {}
        self._by_pointer: dict[bytes, bytes] = {}
        #: hashes in recording order; a hash recorded again appears twice (see `_dupes`)
        self._order: collections.deque[bytes] = collections.deque()
        #: hashes whose oldest occurrences in `_order` are stale, and how many
        self._dupes: dict[bytes, int] = {}
        self._by_reason: collections.Counter = collections.Counter()

    @property
    def enabled(self) -> bool:
        return self.size > 0

    def __len__(self) -> int:
        return len(self._by_hash)

    def record(self, removals: list, at: float, replaced: dict[int, Any] | None) -> None:
        """Remember a batch of (transaction, RemovalReason), removed at clock time `at`."""
        size = self.size
        if not size:
            return
        rows = []
        for i, (txn, reason) in enumerate(removals):
            wire = txn.to_bytes()
            record = _RECORD.pack(wire[:_KEY_LEN], reason, at)
            if replaced is not None:
                new = replaced.get(i)
                if new is not None:
                    record += txn_hash(new)
            rows.append((txn_hash(txn), record, int(reason)))
        with self._lock:
            by_hash, by_pointer, order, counts = (self._by_hash, self._by_pointer, self._order,
                                                  self._by_reason)
            for h, record, reason in rows:
                old = by_hash.get(h)
                if old is not None:
                    self._dupes[h] = self._dupes.get(h, 0) + 1
                    counts[old[_KEY_LEN]] -= 1
                by_hash[h] = record
                by_pointer[record[:_KEY_LEN]] = h
                counts[reason] += 1
                order.append(h)
            while len(order) > size:
                self._forget_oldest()

    def _forget_oldest(self) -> None:
        h = self._order.popleft()
        stale = self._dupes.get(h)
        if stale:
            if stale == 1:
                del self._dupes[h]
            else:
                self._dupes[h] = stale - 1
            return
        record = self._by_hash.pop(h)
        self._by_reason[record[_KEY_LEN]] -= 1
        key = record[:_KEY_LEN]
        if self._by_pointer.get(key) == h:
            del self._by_pointer[key]

    def by_hash(self, h: bytes) -> HistoryEntry | None:
        with self._lock:
            record = self._by_hash.get(h)
        return None if record is None else _entry(h, record)

    def by_pointer(self, sender: bytes, seq: int) -> HistoryEntry | None:
        key = POINTER.pack(sender, seq)
        with self._lock:
            h = self._by_pointer.get(key)
            record = None if h is None else self._by_hash.get(h)
        return None if record is None else _entry(h, record)

    def counts(self) -> dict:
        """Entries by state and by drop reason over the window (JSON-ready)."""
        with self._lock:
            counts = dict(self._by_reason)
            size = len(self._by_hash)
        by_reason = {DropReason(code).name.lower(): n for code, n in sorted(counts.items())
                     if n and code != RemovalReason.COMMITTED}
        committed = counts.get(int(RemovalReason.COMMITTED), 0)
        return {"capacity": self.size, "size": size,
                "by_state": {"committed": committed, "dropped": size - committed},
                "by_reason": by_reason}


def _entry(h: bytes, record: bytes) -> HistoryEntry:
    key, reason, at = _RECORD.unpack_from(record)
    state, drop = from_removal(_REASONS[reason])
    replaced_by = record[_RECORD.size:] or None
    return HistoryEntry(h, POINTER.unpack(key), state, drop, at, replaced_by)


class OrderedIntake:
    """Work appended under the core lock (so in the core's order) and run after it is released,
    in that order, by whichever thread drains first (see the module docstring).

    Items are `(fn, *args)`. `put` is a deque append (atomic, no lock). `drain()` never waits:
    if another thread is draining, that thread runs what was appended (it looks again after
    releasing); `drain(wait=True)` waits for it, for a reader that must see everything appended
    so far. Lock: the intake's own, held while the items run (they take only leaf locks).
    """

    def __init__(self) -> None:
        self._queue: collections.deque = collections.deque()
        self._lock = threading.Lock()
        self.put: Callable[[tuple], None] = self._queue.append

    def __len__(self) -> int:
        return len(self._queue)

    def drain(self, wait: bool = False) -> None:
        queue = self._queue
        lock = self._lock
        if wait:  # even with nothing queued: an item another thread popped may be running
            with lock:
                self._run()
        while queue:
            if not lock.acquire(False):
                return
            try:
                self._run()
            finally:
                lock.release()

    def _run(self) -> None:
        queue = self._queue
        while queue:
            fn, *args = queue.popleft()
            try:
                fn(*args)
            except Exception:  # one consumer's bug must not stop the others
                log.exception("status intake item %r failed", fn)
