"""TransactionJournal: the append-only, checksummed file of locally accepted transactions.

A client's transactions are appended (one write, and with the default policy one fdatasync
shared by concurrent appenders) before the client is acknowledged; committed, rejected and
expired ones are forgotten; a compaction rewrites the file with only the live ones once dead
records pass a fraction of it (`compact_if_due`, which the shared mempool calls from its own
worker thread, never inside a request).

Opening never destroys what it cannot read: an unknown magic, a damaged header or a salt that
no record agrees with is refused (JournalCorrupt) with the file untouched; only a torn tail is
cut; damage followed by valid records keeps every valid record, and the damaged file is kept
beside the journal (hard link ``<path>.damaged-<time>``) before the rewrite. The file is held
with an exclusive lock (``<path>.lock``) while open.

Locks: `_lock` guards writes, the descriptor and the index of live records and is held only
across a write (and a compaction's final catch-up); `_sync_lock` serialises fdatasync (group
commit); `_compact_lock` allows one compaction at a time. Order: compact -> lock -> sync.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from typing import Callable, Iterable

from .._wire import check_pointers, pointer_of
from ..config import FSYNC_POLICIES, MempoolConfig
from ..errors import JournalClosed, JournalCorrupt, MalformedTransaction
from ..file_lock import FileLock
from ..transaction import SignedTransaction, is_transaction
from . import compaction
from .format import (
    FILE_MAGIC, FILE_MAGIC_V1, FORGET_ITEM, HEADER_LEN, KIND_ADD, KIND_FORGET, REC_HEADER_LEN,
    Damage, Mapped, classify_damage, fdatasync, frame, fsync_dir, new_header, read_header,
    scan, write_all,
)

__all__ = ["TransactionJournal", "JournalStats"]

log = logging.getLogger(__name__)

_DEFAULTS = MempoolConfig()


@dataclasses.dataclass
class JournalStats:
    """Counters of one journal instance (read them with `TransactionJournal.stats()`)."""

    #: Valid records found when the file was opened.
    open_records: int = 0
    #: Damaged regions skipped when the file was opened, and their total bytes.
    open_corrupt_regions: int = 0
    open_corrupt_bytes: int = 0
    #: The file ended in a damaged record (typically a write cut short by a crash).
    open_torn_tail: bool = False
    #: A compaction's temp file was left by a crash (and discarded: the journal is intact).
    open_interrupted_compaction: bool = False
    #: Where the damaged file was kept before it was rewritten (None: it was not).
    open_damaged_copy: str | None = None
    appended_txns: int = 0
    #: Appended transactions skipped because the identical transaction was already live.
    duplicate_txns: int = 0
    appended_batches: int = 0
    forgotten: int = 0
    fsyncs: int = 0
    compactions: int = 0
    #: Transactions compaction dropped because they expired or the live predicate refused them.
    compaction_dropped: int = 0
    #: Live records whose payload did not decode to a transaction on replay (skipped).
    replay_undecodable: int = 0


class TransactionJournal:
    """Append-only, checksummed file of locally accepted transactions (see the module doc)."""

    def __init__(self, path: str | os.PathLike, *, fsync: str = _DEFAULTS.journal_fsync,
                 clock: Callable[[], float] = time.time,
                 fsync_interval_ms: int = _DEFAULTS.journal_fsync_interval_ms,
                 compact_dead_fraction: float = _DEFAULTS.journal_compact_dead_fraction,
                 compact_min_bytes: int = _DEFAULTS.journal_compact_min_bytes) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync must be one of {FSYNC_POLICIES}, got {fsync!r}")
        if not 0 <= fsync_interval_ms:
            raise ValueError("fsync_interval_ms must not be negative")
        if not 0 < compact_dead_fraction <= 1:
            raise ValueError("compact_dead_fraction must be in (0, 1]")
        if compact_min_bytes < 0:
            raise ValueError("compact_min_bytes must not be negative")
        self.path = os.fspath(path)
        self._tmp_path = self.path + ".compact"
        self._policy = fsync
        self._clock = clock
        self._fsync_interval = fsync_interval_ms / 1000.0
        self._compact_fraction = compact_dead_fraction
        self._compact_min_bytes = compact_min_bytes
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._compact_lock = threading.Lock()
        self._stats = JournalStats()
        #: pointer -> (record offset, record length, hash of the wire bytes)
        self._live: dict[tuple[bytes, int], tuple[int, int, int]] = {}
        self._live_bytes = 0
        self._write_seq = 0  # writes completed
        self._synced_seq = 0  # writes known durable
        self._last_sync = clock()
        self._closed = False
        self._fd = -1
        self._size = 0
        self._seed = 0
        self._file_lock = FileLock(self.path, "journal")
        try:
            self._open()
        except BaseException:
            self._file_lock.release()
            raise

    @classmethod
    def from_config(cls, path: str | os.PathLike, config: MempoolConfig, *,
                    clock: Callable[[], float] = time.time) -> "TransactionJournal":
        """A journal configured by MempoolConfig's journal_* fields."""
        return cls(path, fsync=config.journal_fsync, clock=clock,
                   fsync_interval_ms=config.journal_fsync_interval_ms,
                   compact_dead_fraction=config.journal_compact_dead_fraction,
                   compact_min_bytes=config.journal_compact_min_bytes)

    # -- opening --
    def _open(self) -> None:
        if os.path.exists(self._tmp_path):  # a compaction cut short: the journal is intact
            os.unlink(self._tmp_path)
            self._stats.open_interrupted_compaction = True
        if not os.path.exists(self.path) or self._is_unfinished_header():
            self._create_empty()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | getattr(os, "O_CLOEXEC", 0))
        try:
            header = read_header(os.pread(fd, HEADER_LEN, 0), self.path)
            self._fd = fd
            self._seed = header.seed
            self._size = os.fstat(fd).st_size
            self._load_index(header)
        except BaseException:
            os.close(fd)
            self._fd = -1
            raise

    def _is_unfinished_header(self) -> bool:
        """An empty file, or one holding only the start of a header: nothing to lose."""
        with open(self.path, "rb") as f:
            head = f.read(HEADER_LEN)
        return len(head) < HEADER_LEN and (FILE_MAGIC.startswith(head[:len(FILE_MAGIC)])
                                           or FILE_MAGIC_V1.startswith(head[:len(FILE_MAGIC)]))

    def _create_empty(self) -> None:
        with open(self._tmp_path, "wb") as f:
            f.write(new_header())
            f.flush()
            os.fsync(f.fileno())
        os.replace(self._tmp_path, self.path)
        fsync_dir(self.path)

    def _load_index(self, header) -> None:
        damage = Damage()
        mapped = Mapped(self._fd, self._size)
        live = self._live
        try:
            for off, kind, payload, reclen in scan(mapped.buf, HEADER_LEN, self._size,
                                                   self._seed, damage):
                self._stats.open_records += 1
                if kind == KIND_ADD:
                    pointer = pointer_of(payload)
                    old = live.get(pointer)
                    if old is not None:
                        self._live_bytes -= old[1]
                    live[pointer] = (off, reclen, hash(payload))
                    self._live_bytes += reclen
                else:
                    for item in FORGET_ITEM.iter_unpack(payload):
                        old = live.pop(item, None)
                        if old is not None:
                            self._live_bytes -= old[1]
            torn = classify_damage(mapped.buf, self._size, header, self._stats.open_records,
                                   damage, self.path)
        finally:
            mapped.close()
        if damage.regions:
            self._repair(damage, torn)

    def _repair(self, damage: Damage, torn: bool) -> None:
        regions = damage.regions
        stats = self._stats
        stats.open_corrupt_regions = len(regions)
        stats.open_corrupt_bytes = damage.bytes
        stats.open_torn_tail = regions[-1][1] == self._size
        if torn:
            log.warning("journal %s: cutting a torn tail of %d bytes at offset %d (a write cut "
                        "short by a crash)", self.path, self._size - regions[0][0], regions[0][0])
            os.ftruncate(self._fd, regions[0][0])
            os.fsync(self._fd)
            self._size = regions[0][0]
            return
        copy = f"{self.path}.damaged-{int(time.time())}"
        try:
            os.link(self.path, copy)
        except OSError as exc:
            raise JournalCorrupt(
                f"journal {self.path}: {len(regions)} damaged regions ({damage.bytes} bytes) "
                f"and no copy of it could be kept ({exc.strerror}); the file was left "
                "untouched") from None
        stats.open_damaged_copy = copy
        log.error("journal %s: %d damaged regions (%d bytes) skipped; every valid record is "
                  "kept and the damaged file stays at %s", self.path, len(regions),
                  damage.bytes, copy)
        self._compact(None, block=True)

    # -- writing --
    def append(self, txns: Iterable[SignedTransaction]) -> int:
        """Journal a batch of accepted transactions; return once durable per the fsync policy.

        A transaction identical to the live one at its (sender, seq) is not written again; a
        different one replaces it. Returns how many records were written. On an I/O error
        nothing of the batch stays in the journal and the error propagates (do not ack).
        """
        written, ticket = self.append_unsynced(txns)
        self.wait_durable(ticket)
        return written

    def append_unsynced(self, txns: Iterable[SignedTransaction]) -> tuple[int, int]:
        """`append` without the wait: returns (records written, ticket); the batch is durable
        once `wait_durable(ticket)` returns."""
        txns = list(txns)
        for txn in txns:
            if not is_transaction(txn):
                raise TypeError(f"append takes SignedTransaction objects, got {type(txn).__name__}")
        with self._lock:
            self._check_open()
            live = self._live
            pending: dict[tuple[bytes, int], tuple[int, int, int]] = {}
            parts = []
            off = self._size
            seed = self._seed
            for txn in txns:
                wire = txn.to_bytes()
                pointer = txn.pointer
                digest = hash(wire)
                current = pending.get(pointer) or live.get(pointer)
                reclen = REC_HEADER_LEN + len(wire)
                if current is not None and current[2] == digest and current[1] == reclen:
                    self._stats.duplicate_txns += 1
                    continue
                parts.append(frame(KIND_ADD, wire, seed))
                pending[pointer] = (off, reclen, digest)
                off += reclen
            if parts:
                self._write_locked(b"".join(parts))
                for pointer, entry in pending.items():
                    old = live.get(pointer)
                    if old is not None:
                        self._live_bytes -= old[1]
                    live[pointer] = entry
                    self._live_bytes += entry[1]
                self._stats.appended_txns += len(parts)
                self._stats.appended_batches += 1
            ticket = self._write_seq
        return len(parts), ticket

    def wait_durable(self, ticket: int) -> None:
        """Return once the writes up to `ticket` (from `append_unsynced`) are durable per the
        fsync policy ("batch": only if the interval has passed; "never": at once)."""
        if self._policy == "never":
            return
        if self._policy == "batch" and self._clock() - self._last_sync < self._fsync_interval:
            return
        self._sync_upto(ticket)

    def forget(self, pointers: Iterable[tuple[bytes, int]], *, compact: bool = True) -> int:
        """Drop transactions by (sender, seq); unknown ones are ignored. Returns how many were
        live. Past the threshold it compacts (in this thread) unless `compact` is False.

        Not fsynced on its own: a forget lost to power loss only makes a replay offer a dead
        transaction again, which revalidation drops.
        """
        wanted = check_pointers(pointers)
        with self._lock:
            self._check_open()
            found = [p for p in dict.fromkeys(wanted) if p in self._live]
            due = self._forget_locked(found, compact)
        if due:
            self._compact(None, block=False)
        return len(found)

    def forget_transactions(self, txns: Iterable, *, compact: bool = False) -> int:
        """Drop exactly these transactions: a pointer whose live record is another transaction
        (a replacement journaled since) is left alone. Returns how many were live."""
        with self._lock:
            self._check_open()
            live = self._live
            found = []
            for txn in txns:
                pointer = txn.pointer
                entry = live.get(pointer)
                if entry is None:
                    continue
                wire = txn.to_bytes()
                if entry[2] == hash(wire) and entry[1] == REC_HEADER_LEN + len(wire):
                    found.append(pointer)
            found = list(dict.fromkeys(found))
            due = self._forget_locked(found, compact)
        if due:
            self._compact(None, block=False)
        return len(found)

    def _forget_locked(self, found: list[tuple[bytes, int]], compact: bool) -> bool:
        if not found:
            return False
        payload = b"".join(FORGET_ITEM.pack(sender, seq) for sender, seq in found)
        self._write_locked(frame(KIND_FORGET, payload, self._seed))
        for pointer in found:
            self._live_bytes -= self._live.pop(pointer)[1]
        self._stats.forgotten += len(found)
        return compact and self._compaction_due_locked()

    def _write_locked(self, data: bytes) -> None:
        try:
            write_all(self._fd, data)
        except BaseException:
            try:
                os.ftruncate(self._fd, self._size)
            except OSError:
                log.exception("journal %s: cannot cut back a failed write", self.path)
            raise
        self._size += len(data)
        self._write_seq += 1

    def _check_open(self) -> None:
        if self._closed:
            raise JournalClosed(f"journal {self.path} is closed")

    # -- durability --
    def _sync_upto(self, ticket: int) -> None:
        with self._sync_lock:
            if self._synced_seq >= ticket or self._fd < 0:
                return
            target = self._write_seq  # every write counted here has completed
            fdatasync(self._fd)
            self._synced_seq = target
            self._last_sync = self._clock()
            self._stats.fsyncs += 1

    @property
    def fsync_policy(self) -> str:
        """The fsync policy this journal was opened with (one of FSYNC_POLICIES)."""
        return self._policy

    @property
    def fsync_interval(self) -> float:
        """Seconds between fsyncs under the "batch" policy."""
        return self._fsync_interval

    def sync(self) -> None:
        """Make everything written so far durable now (for the "batch" policy's timer)."""
        with self._lock:
            self._check_open()
            ticket = self._write_seq
        self._sync_upto(ticket)

    # -- compaction --
    def dead_fraction(self) -> float:
        """Share of the file's record bytes that no live transaction needs."""
        with self._lock:
            body = self._size - HEADER_LEN
            return (body - self._live_bytes) / body if body else 0.0

    def compaction_due(self) -> bool:
        """Whether dead records have passed the configured threshold."""
        with self._lock:
            return not self._closed and self._compaction_due_locked()

    def _compaction_due_locked(self) -> bool:
        body = self._size - HEADER_LEN
        return (body >= self._compact_min_bytes
                and body - self._live_bytes >= self._compact_fraction * body)

    def compact_if_due(self) -> bool:
        """Compact if dead records pass the threshold and no compaction is running; returns
        whether one ran."""
        with self._lock:
            self._check_open()
            due = self._compaction_due_locked()
        return self._compact(None, block=False) if due else False

    def compact(self, live_predicate: Callable[[SignedTransaction], bool] | None = None) -> bool:
        """Rewrite the file with only the live transactions that have not expired (by `clock`)
        and, if given, satisfy `live_predicate` (the others are forgotten). The predicate runs
        without any journal lock held."""
        return self._compact(live_predicate, block=True)

    def _compact(self, predicate, *, block: bool) -> bool:
        if not self._compact_lock.acquire(blocking=block):
            return False
        try:
            with self._lock:
                self._check_open()
                end = self._size
                snapshot = {p: e[0] for p, e in self._live.items()}
                mapped = Mapped(self._fd, end)
                seed = self._seed
            try:
                keep = None if predicate is None else self._keeper(predicate)
                rewrite = compaction.copy_live(self._tmp_path, mapped.buf, end, snapshot, seed,
                                               self._clock(), keep)
            finally:
                mapped.close()
            self._install(rewrite, end)
            return True
        finally:
            self._compact_lock.release()

    def _keeper(self, predicate) -> Callable[[bytes], bool]:
        def keep(wire: bytes) -> bool:
            try:
                txn = SignedTransaction.from_bytes(wire)
            except MalformedTransaction:
                self._stats.replay_undecodable += 1
                return False
            return bool(predicate(txn))
        return keep

    def _install(self, rewrite: compaction.Rewrite, end: int) -> None:
        installed = False
        try:
            fdatasync(rewrite.fd)
            with self._lock, self._sync_lock:
                tail = Mapped(self._fd, self._size) if self._size > end else None
                try:
                    new_live = compaction.catch_up(rewrite, self._live,
                                                   tail.buf if tail else None, end, self._size,
                                                   self._seed)
                finally:
                    if tail is not None:
                        tail.close()
                fdatasync(rewrite.fd)
                os.replace(self._tmp_path, self.path)
                installed = True
                os.close(self._fd)
                self._fd = rewrite.fd
                self._seed = rewrite.seed
                self._size = rewrite.pos
                self._live = new_live
                self._live_bytes = sum(e[1] for e in new_live.values())
                self._synced_seq = self._write_seq
                self._stats.compactions += 1
                self._stats.compaction_dropped += rewrite.dropped
                fsync_dir(self.path)
            log.info("journal %s compacted: %d live, %d dropped, %d bytes",
                     self.path, len(new_live), rewrite.dropped, rewrite.pos)
        finally:
            if not installed:
                os.close(rewrite.fd)
                try:
                    os.unlink(self._tmp_path)
                except FileNotFoundError:
                    pass

    # -- reading --
    def replay(self) -> list[SignedTransaction]:
        """The live transactions in submission order (a replacement takes the place of its
        last write); damaged and undecodable records are skipped and counted."""
        with self._lock:
            self._check_open()
            snapshot = {p: e[0] for p, e in self._live.items()}
            end = self._size
            mapped = Mapped(self._fd, end)
            seed = self._seed
        result = []
        undecodable = 0
        try:
            for off, kind, payload, _ in scan(mapped.buf, HEADER_LEN, end, seed, Damage()):
                if kind != KIND_ADD or snapshot.get(pointer_of(payload)) != off:
                    continue
                try:
                    result.append(SignedTransaction.from_bytes(payload))
                except MalformedTransaction as exc:
                    undecodable += 1
                    log.warning("journal %s: undecodable record at %d skipped: %s",
                                self.path, off, exc)
        finally:
            mapped.close()
        if undecodable:
            with self._lock:
                self._stats.replay_undecodable += undecodable
        return result

    def pointers(self) -> list[tuple[bytes, int]]:
        """The (sender, seq) of every live transaction, in no particular order."""
        with self._lock:
            return list(self._live)

    def __len__(self) -> int:
        with self._lock:
            return len(self._live)

    def __contains__(self, pointer: object) -> bool:
        with self._lock:
            return pointer in self._live

    def file_size(self) -> int:
        """Bytes in the journal file."""
        with self._lock:
            return self._size

    def stats(self) -> JournalStats:
        """A copy of this journal's counters."""
        with self._lock:
            return dataclasses.replace(self._stats)

    # -- lifetime --
    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Flush (unless the policy is "never"), close and release the file lock; later calls
        do nothing."""
        with self._compact_lock, self._lock, self._sync_lock:
            if self._closed:
                return
            self._closed = True
            try:
                if self._policy != "never" and self._synced_seq < self._write_seq:
                    fdatasync(self._fd)
                    self._stats.fsyncs += 1
            finally:
                os.close(self._fd)
                self._fd = -1
                self._file_lock.release()

    def __enter__(self) -> "TransactionJournal":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TransactionJournal({self.path!r}, fsync={self._policy!r}, live={len(self._live)})"

