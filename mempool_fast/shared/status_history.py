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
a 49- or 81-byte record, the 40-byte pointer key) and a slot in two dicts of its generation:
about 300 bytes an entry (measured with tracemalloc by
tests/test_status.py::test_history_entry_memory), so about 30 MB at the default bound of
100,000. Recording costs about 0.9 µs a transaction (its hash is the one the core's hash index
already cached in the transaction), outside the core lock.
"""

from __future__ import annotations

import collections
import logging
import operator
import struct
import threading
from typing import Any, Callable, NamedTuple

from .._wire import POINTER, unpack_pointer
from ..status import CoreQueries, DropReason, TransactionState, from_removal
from ..transaction import SignedTransaction
from ..types import RemovalReason
from .guarded_core import Removals

__all__ = ["StatusHistory", "HistoryEntry", "OrderedIntake", "txn_hash", "pointer_key",
           "wire_pointer_key", "replacements"]

log = logging.getLogger(__name__)

_KEY_LEN = POINTER.size
#: pointer key (sender | seq u64) | removal reason u8 | clock time f64 [| replacement hash]
_RECORD = struct.Struct(f"<{_KEY_LEN}sBd")
_TAIL = struct.Struct("<Bd")
_first = operator.itemgetter(0)
_second = operator.itemgetter(1)
_to_bytes = operator.methodcaller("to_bytes")
_REPLACED = RemovalReason.REPLACED
_REASONS = {int(r): r for r in RemovalReason}


#: A transaction's 32-byte hash: `txn.hash` (SHA3-256 of its wire form, cached by the object;
#: the core's hash index computed it at admission).
txn_hash: Callable[[SignedTransaction], bytes] = operator.attrgetter("hash")


def pointer_key(txn: Any) -> bytes:
    """A transaction's 40-byte pointer key, whatever its format: its sender padded with zero
    bytes to 32 (Ethereum's are 20) | its sequence number (u64 LE), `_wire.pack_pointer`."""
    return POINTER.pack(txn.sender, txn.sequence_number)


def wire_pointer_key(txn: SignedTransaction) -> bytes:
    """`pointer_key` of a native transaction, read faster: the 40 bytes that open its wire
    form are exactly sender | sequence number (u64 LE)."""
    return txn.to_bytes()[:_KEY_LEN]


_sender_of = operator.attrgetter("sender")
_seq_of = operator.attrgetter("sequence_number")


def replacements(core: CoreQueries, removals: Removals) -> dict[int, SignedTransaction] | None:
    """For each REPLACED removal (by index), the transaction that took its pointer: the next
    REPLACED one at the same pointer in the batch, else the one the core holds there now.
    Call under the core lock, right after the removals were drained. Any format."""
    found: dict[int, SignedTransaction] = {}
    last_at: dict[tuple[bytes, int], int] = {}
    for i, (txn, reason) in enumerate(removals):
        if reason is not _REPLACED:
            continue
        key = (txn.sender, txn.sequence_number)
        earlier = last_at.get(key)
        if earlier is not None:
            found[earlier] = txn
        last_at[key] = i
    for (sender, seq), i in last_at.items():
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


class _Generation:
    """One slice of the window: its removals by hash and by pointer, and their reasons."""

    __slots__ = ("by_hash", "by_pointer", "reasons", "count")

    def __init__(self) -> None:
        self.by_hash: dict[bytes, bytes] = {}
        self.by_pointer: dict[bytes, bytes] = {}
        self.reasons: collections.Counter[RemovalReason] = collections.Counter()
        self.count = 0


class StatusHistory:
    """The last `size` removals at most (0: none kept), by hash and by pointer (latest fate);
    the oldest forgotten first. Owns its lock (a leaf).

    The window is kept in generations of `size // 8` removals (fewer, smaller ones for a
    small `size`): the oldest generation is forgotten whole when a new one starts, so the
    window holds between 7/8 of `size` and `size` removals and forgetting costs nothing per
    transaction (no dict ever keeps the slots of deleted entries). A lookup reads the
    generations newest first. A transaction removed twice within the window (readmitted in
    between) counts twice in `counts`; a lookup finds its latest removal.
    """

    def __init__(self, size: int, *, sender_length: int = 32, native: bool = True) -> None:
        """`sender_length`: bytes of the format's senders (a pointer's key pads them to 32,
        its entry cuts them back); `native`: the native wire layout (a key is the first 40
        bytes of the wire form, read without building it), else keys are packed from each
        transaction's sender and sequence number (the same bytes for a native one)."""
        self.size = size
        self._sender_length = sender_length
        self._native = native
        self._generation_size = max(1, size // 8)
        self._generations_kept = size // self._generation_size if size else 0
        self._lock = threading.Lock()
        self._generations: collections.deque[_Generation] = collections.deque()

    @property
    def enabled(self) -> bool:
        return self.size > 0

    def __len__(self) -> int:
        """Removals in the window."""
        with self._lock:
            return sum(g.count for g in self._generations)

    def record(self, removals: Removals, at: float,
               replaced: dict[int, SignedTransaction] | None) -> None:
        """Remember a batch of (transaction, RemovalReason), removed at clock time `at`."""
        if not self.size or not removals:
            return
        txns = list(map(_first, removals))
        reasons = list(map(_second, removals))
        if self._native:
            keys = [wire[:_KEY_LEN] for wire in map(_to_bytes, txns)]
        else:
            keys = list(map(POINTER.pack, map(_sender_of, txns), map(_seq_of, txns)))
        hashes = list(map(txn_hash, txns))
        tails = {reason: _TAIL.pack(reason, at) for reason in set(reasons)}
        records = list(map(bytes.__add__, keys, map(tails.__getitem__, reasons)))
        if replaced is not None:
            for i, new in replaced.items():
                records[i] += new.hash
        start, n = 0, len(records)
        with self._lock:
            generations = self._generations
            while start < n:
                current = generations[-1] if generations else None
                if current is None or current.count >= self._generation_size:
                    current = _Generation()
                    generations.append(current)
                    if len(generations) > self._generations_kept:
                        generations.popleft()
                end = min(n, start + self._generation_size - current.count)
                part = slice(start, end)
                current.by_hash.update(zip(hashes[part], records[part]))
                current.by_pointer.update(zip(keys[part], hashes[part]))
                current.reasons.update(reasons[part])
                current.count += end - start
                start = end

    def by_hash(self, h: bytes) -> HistoryEntry | None:
        with self._lock:
            for generation in reversed(self._generations):
                record = generation.by_hash.get(h)
                if record is not None:
                    return _entry(h, record, self._sender_length)
        return None

    def by_pointer(self, sender: bytes, seq: int) -> HistoryEntry | None:
        key = POINTER.pack(sender, seq)
        with self._lock:
            for generation in reversed(self._generations):
                h = generation.by_pointer.get(key)
                if h is not None:
                    return _entry(h, generation.by_hash[h], self._sender_length)
        return None

    def counts(self) -> dict[str, Any]:
        """Removals in the window by state and by drop reason (JSON-ready)."""
        counts: collections.Counter[RemovalReason] = collections.Counter()
        with self._lock:
            for generation in self._generations:
                counts.update(generation.reasons)
        size = sum(counts.values())
        committed = counts.pop(RemovalReason.COMMITTED, 0)
        by_reason = {DropReason(int(code)).name.lower(): n
                     for code, n in sorted(counts.items()) if n}
        return {"capacity": self.size, "size": size,
                "by_state": {"committed": committed, "dropped": size - committed},
                "by_reason": by_reason}


def _entry(h: bytes, record: bytes, sender_length: int = 32) -> HistoryEntry:
    key, reason, at = _RECORD.unpack_from(record)
    state, drop = from_removal(_REASONS[reason])
    replaced_by = record[_RECORD.size:] or None
    return HistoryEntry(h, unpack_pointer(key, sender_length), state, drop, at, replaced_by)


class OrderedIntake:
    """Work appended under the core lock (so in the core's order) and run after it is released,
    in that order, by whichever thread drains first (see the module docstring).

    Items are `(fn, *args)`. `put` is a deque append (atomic, no lock). `drain()` never waits:
    if another thread is draining, that thread runs what was appended (it looks again after
    releasing); `drain(wait=True)` waits for it, for a reader that must see everything appended
    so far. Lock: the intake's own, held while the items run (they take only leaf locks).
    """

    def __init__(self) -> None:
        #: (fn, *args) items
        self._queue: collections.deque[tuple[Any, ...]] = collections.deque()
        self._lock = threading.Lock()
        self.put: Callable[[tuple[Any, ...]], None] = self._queue.append

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
