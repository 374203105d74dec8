"""Durable journal of locally submitted transactions, replayed after a restart.

The journal is one append-only file. A client's transactions are appended (one write and, with
the default policy, one fdatasync per batch) before the client is acknowledged; committed,
rejected and expired ones are forgotten; a compaction rewrites the file with only the live ones
(temp file, fsync, rename, fsync of the directory) once dead records pass a fraction of it.

File layout::

    header:  b"MPFJRNL1" | salt (8 random bytes, new for every rewrite)
    record:  magic b"\\xd5JRN" | crc32 u32 | length u32 | kind u8 | payload (length bytes)

The crc covers length, kind and payload and is seeded with the file's salt, so a record
embedded in a client's payload can never pass for a real one. Kinds: ADD (payload: the
transaction's wire form) and FORGET (payload: n * (sender 32 bytes | sequence number u64)).
A record that fails its checks (a torn tail after SIGKILL or power loss, garbage, a flipped bit)
is skipped up to the next magic that starts a valid record, and counted. On open, a torn tail is
truncated away; damage inside the file triggers a rewrite of the live records.
"""

from __future__ import annotations

import dataclasses
import logging
import mmap
import os
import struct
import threading
import time
import zlib
from typing import Callable, Iterable, NamedTuple, Sequence

from .transaction import MIN_WIRE_LEN, SignedTransaction
from .types import U64_MAX, MalformedTransaction, MempoolAddTransactionStatusCode

__all__ = [
    "TransactionJournal", "JournalError", "JournalClosed", "JournalStats", "FSYNC_POLICIES",
    "ReplayPartition", "RecoveryReport", "partition_replayed", "recover",
]

log = logging.getLogger(__name__)

#: "always": append returns after fdatasync (concurrent appenders share one);
#: "batch": fdatasync at most every `fsync_interval_ms` (and on `sync()` / `close()`);
#: "never": leave flushing to the OS. All three survive SIGKILL (the data is in the kernel's page
#: cache once write() returns); only "always" survives power loss with nothing lost.
FSYNC_POLICIES = ("always", "batch", "never")

# Defaults mirror MempoolConfig's journal_* fields (TransactionJournal.from_config reads those).
DEFAULT_FSYNC = "always"
DEFAULT_FSYNC_INTERVAL_MS = 1_000
DEFAULT_COMPACT_DEAD_FRACTION = 0.5
DEFAULT_COMPACT_MIN_BYTES = 1 << 20

FILE_MAGIC = b"MPFJRNL1"
_SALT_LEN = 8
HEADER_LEN = len(FILE_MAGIC) + _SALT_LEN
RECORD_MAGIC = b"\xd5JRN"
_REC = struct.Struct("<4sIIB")  # magic, crc32, payload length, kind
REC_HEADER_LEN = _REC.size  # 13
_CRC_FROM = 8  # the crc covers the record from its length field on
KIND_ADD = 1
KIND_FORGET = 2
_FORGET_ITEM = struct.Struct("<32sQ")
_U64 = struct.Struct("<Q")
_SEQ_OFFSET = 32
_EXPIRATION_OFFSET = 56  # sender 32 | seq 8 | max_gas 8 | gas_price 8 | expiration 8
_COPY_CHUNK_BYTES = 1 << 20  # compaction writes its output in chunks of about this size

_fdatasync = getattr(os, "fdatasync", os.fsync)


class JournalError(Exception):
    """The journal file cannot be used (not a journal, or unusable state)."""


class JournalClosed(JournalError):
    """An operation on a closed journal."""


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


class _Damage:
    """Damaged regions met by one scan."""

    __slots__ = ("regions",)

    def __init__(self) -> None:
        self.regions: list[tuple[int, int]] = []


def _salt_seed(salt: bytes) -> int:
    return zlib.crc32(salt)


def _frame(kind: int, payload: bytes, seed: int) -> bytes:
    body = struct.pack("<IB", len(payload), kind)
    crc = zlib.crc32(payload, zlib.crc32(body, seed))
    return RECORD_MAGIC + struct.pack("<I", crc) + body + payload


def _valid_record_at(buf, off: int, end: int, seed: int):
    """(kind, payload start, payload length) of a valid record at `off`, else None."""
    if end - off < REC_HEADER_LEN:
        return None
    magic, crc, length, kind = _REC.unpack_from(buf, off)
    if magic != RECORD_MAGIC:
        return None
    start = off + REC_HEADER_LEN
    if length > end - start:
        return None
    if kind == KIND_ADD:
        if length < MIN_WIRE_LEN:
            return None
    elif kind == KIND_FORGET:
        if length == 0 or length % _FORGET_ITEM.size:
            return None
    else:
        return None
    if zlib.crc32(buf[off + _CRC_FROM:start + length], seed) != crc:
        return None
    return kind, start, length


def _scan(buf, start: int, end: int, seed: int, damage: _Damage):
    """Yield (offset, kind, payload bytes, record length) of every valid record in [start, end).

    A damaged stretch is skipped up to the next offset holding a valid record and recorded in
    `damage`.
    """
    off = start
    while off < end:
        rec = _valid_record_at(buf, off, end, seed)
        if rec is not None:
            kind, pstart, plen = rec
            yield off, kind, buf[pstart:pstart + plen], REC_HEADER_LEN + plen
            off = pstart + plen
            continue
        bad = off
        while True:
            off = buf.find(RECORD_MAGIC, off + 1, end)
            if off < 0:
                off = end
                break
            if _valid_record_at(buf, off, end, seed) is not None:
                break
        damage.regions.append((bad, off))


def _pointer_of(wire: bytes) -> tuple[bytes, int]:
    return wire[:32], _U64.unpack_from(wire, _SEQ_OFFSET)[0]


def _expiration_of(wire: bytes) -> int:
    return _U64.unpack_from(wire, _EXPIRATION_OFFSET)[0]


def _check_pointer(pointer) -> tuple[bytes, int]:
    try:
        sender, seq = pointer
    except (TypeError, ValueError):
        raise ValueError(
            f"a pointer is a (sender, sequence_number) pair, got {pointer!r}") from None
    if not isinstance(sender, (bytes, bytearray)) or len(sender) != 32:
        raise ValueError(f"pointer sender must be 32 bytes, got {sender!r}")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= U64_MAX:
        raise ValueError(f"pointer sequence number must be an unsigned 64-bit int, got {seq!r}")
    return bytes(sender), seq


def _fsync_dir(path: str) -> None:
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    fd = os.open(os.path.dirname(os.path.abspath(path)), flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    done = 0
    while done < len(data):
        done += os.write(fd, view[done:])


class _Mapped:
    """The first `length` bytes of a file descriptor, memory-mapped read-only (or empty)."""

    def __init__(self, fd: int, length: int) -> None:
        self.buf = mmap.mmap(fd, length, access=mmap.ACCESS_READ) if length else b""

    def close(self) -> None:
        if isinstance(self.buf, mmap.mmap):
            self.buf.close()


class TransactionJournal:
    """Append-only, checksummed file of locally accepted transactions (see the module doc).

    Thread-safe: one lock guards writes and the in-memory index of live records, and is held
    only across a write (and a compaction's final catch-up); fsyncs run under a second lock so
    concurrent appenders share them; a compaction copies the bulk of the file without either.
    """

    def __init__(self, path: str | os.PathLike, *, fsync: str = DEFAULT_FSYNC,
                 clock: Callable[[], float] = time.time,
                 fsync_interval_ms: int = DEFAULT_FSYNC_INTERVAL_MS,
                 compact_dead_fraction: float = DEFAULT_COMPACT_DEAD_FRACTION,
                 compact_min_bytes: int = DEFAULT_COMPACT_MIN_BYTES) -> None:
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
        self._lock = threading.Lock()  # file writes, fd swap, index
        self._sync_lock = threading.Lock()  # fdatasync (group commit)
        self._compact_lock = threading.Lock()  # one compaction at a time
        self._stats = JournalStats()
        #: pointer -> (record offset, record length, hash of the wire bytes)
        self._live: dict[tuple[bytes, int], tuple[int, int, int]] = {}
        self._live_bytes = 0
        self._write_seq = 0  # writes completed
        self._synced_seq = 0  # writes known durable
        self._last_sync = clock()
        self._closed = False
        self._fd = -1
        self._open()

    @classmethod
    def from_config(cls, path: str | os.PathLike, config, *,
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
            header = os.pread(fd, HEADER_LEN, 0)
            if len(header) != HEADER_LEN or header[:len(FILE_MAGIC)] != FILE_MAGIC:
                raise JournalError(f"{self.path} is not a mempool_fast transaction journal")
            self._fd = fd
            self._seed = _salt_seed(header[len(FILE_MAGIC):])
            self._size = os.fstat(fd).st_size
            damage = self._load_index()
        except BaseException:
            os.close(fd)
            self._fd = -1
            raise
        if damage.regions:
            self._repair(damage)

    def _is_unfinished_header(self) -> bool:
        with open(self.path, "rb") as f:
            head = f.read(HEADER_LEN)
        return len(head) < HEADER_LEN and FILE_MAGIC.startswith(head[:len(FILE_MAGIC)])

    def _create_empty(self) -> None:
        with open(self._tmp_path, "wb") as f:
            f.write(FILE_MAGIC + os.urandom(_SALT_LEN))
            f.flush()
            os.fsync(f.fileno())
        os.replace(self._tmp_path, self.path)
        _fsync_dir(self.path)

    def _load_index(self) -> _Damage:
        damage = _Damage()
        mapped = _Mapped(self._fd, self._size)
        live = self._live
        try:
            for off, kind, payload, reclen in _scan(mapped.buf, HEADER_LEN, self._size,
                                                    self._seed, damage):
                self._stats.open_records += 1
                if kind == KIND_ADD:
                    pointer = _pointer_of(payload)
                    old = live.get(pointer)
                    if old is not None:
                        self._live_bytes -= old[1]
                    live[pointer] = (off, reclen, hash(payload))
                    self._live_bytes += reclen
                else:
                    for item in _FORGET_ITEM.iter_unpack(payload):
                        old = live.pop(item, None)
                        if old is not None:
                            self._live_bytes -= old[1]
        finally:
            mapped.close()
        return damage

    def _repair(self, damage: _Damage) -> None:
        regions = damage.regions
        self._stats.open_corrupt_regions = len(regions)
        self._stats.open_corrupt_bytes = sum(b - a for a, b in regions)
        self._stats.open_torn_tail = regions[-1][1] == self._size
        if len(regions) == 1 and self._stats.open_torn_tail:
            log.warning("journal %s: dropping a torn tail of %d bytes at offset %d",
                        self.path, self._size - regions[0][0], regions[0][0])
            os.ftruncate(self._fd, regions[0][0])
            os.fsync(self._fd)
            self._size = regions[0][0]
        else:
            log.warning("journal %s: %d damaged regions (%d bytes) skipped; rewriting it",
                        self.path, len(regions), self._stats.open_corrupt_bytes)
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
        once `wait_durable(ticket)` returns. Lets a caller order the write under its own lock
        and wait for the fsync (shared with concurrent appenders) outside it."""
        txns = list(txns)
        for txn in txns:
            if not isinstance(txn, SignedTransaction):
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
                parts.append(_frame(KIND_ADD, wire, seed))
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
        self._sync_policy(ticket)

    def forget(self, pointers: Iterable[tuple[bytes, int]], *, compact: bool = True) -> int:
        """Drop transactions by (sender, seq) (committed, rejected, expired); unknown ones are
        ignored. Returns how many were live. Past the threshold it compacts (in this thread)
        unless `compact` is False (then call `compact_if_due()` when no lock of yours is held).

        Not fsynced on its own: a forget lost to power loss only makes a replay offer a dead
        transaction again, which revalidation drops.
        """
        wanted = [_check_pointer(p) for p in pointers]
        with self._lock:
            self._check_open()
            found = [p for p in dict.fromkeys(wanted) if p in self._live]
            if not found:
                return 0
            payload = b"".join(_FORGET_ITEM.pack(sender, seq) for sender, seq in found)
            self._write_locked(_frame(KIND_FORGET, payload, self._seed))
            for pointer in found:
                self._live_bytes -= self._live.pop(pointer)[1]
            self._stats.forgotten += len(found)
            due = compact and self._compaction_due_locked()
        if due:
            self._compact(None, block=False)
        return len(found)

    def compact_if_due(self) -> bool:
        """Compact if dead records pass the configured threshold and no compaction is running;
        returns whether one ran."""
        with self._lock:
            self._check_open()
            due = self._compaction_due_locked()
        return self._compact(None, block=False) if due else False

    def _write_locked(self, data: bytes) -> None:
        try:
            _write_all(self._fd, data)
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
    def _sync_policy(self, ticket: int) -> None:
        if self._policy == "never":
            return
        if self._policy == "batch" and self._clock() - self._last_sync < self._fsync_interval:
            return
        self._sync_upto(ticket)

    def _sync_upto(self, ticket: int) -> None:
        with self._sync_lock:
            if self._synced_seq >= ticket or self._fd < 0:
                return
            target = self._write_seq  # every write counted here has completed
            _fdatasync(self._fd)
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

    def _compaction_due_locked(self) -> bool:
        body = self._size - HEADER_LEN
        return (body >= self._compact_min_bytes
                and body - self._live_bytes >= self._compact_fraction * body)

    def compact(self, live_predicate: Callable[[SignedTransaction], bool] | None = None) -> bool:
        """Rewrite the file with only the live transactions that have not expired (by `clock`)
        and, if given, satisfy `live_predicate` (the others are forgotten).

        The predicate runs without any journal lock held; it must return True for every
        transaction the caller still holds (e.g. `lambda t: t.pointer in mempool`).
        """
        return self._compact(live_predicate, block=True)

    def _compact(self, predicate, *, block: bool) -> bool:
        if not self._compact_lock.acquire(blocking=block):
            return False
        try:
            with self._lock:
                self._check_open()
                end = self._size
                snapshot = {p: e[0] for p, e in self._live.items()}
                mapped = _Mapped(self._fd, end)
                seed = self._seed
            try:
                self._rewrite(mapped, end, snapshot, seed, predicate)
            finally:
                mapped.close()
            return True
        finally:
            self._compact_lock.release()

    def _rewrite(self, mapped: _Mapped, end: int, snapshot, seed: int, predicate) -> None:
        now = self._clock()
        salt = os.urandom(_SALT_LEN)
        new_seed = _salt_seed(salt)
        fd = os.open(self._tmp_path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
                     | getattr(os, "O_CLOEXEC", 0), 0o644)
        installed = False
        try:
            moved: dict[tuple[bytes, int], tuple[int, int, int, int]] = {}
            out = [FILE_MAGIC + salt]
            pos = buffered = HEADER_LEN
            dropped = 0
            for off, kind, payload, _ in _scan(mapped.buf, HEADER_LEN, end, seed, _Damage()):
                if kind != KIND_ADD:
                    continue
                pointer = _pointer_of(payload)
                if snapshot.get(pointer) != off:
                    continue
                if _expiration_of(payload) < now or (
                        predicate is not None and not self._keep(predicate, payload)):
                    dropped += 1
                    continue
                rec = _frame(KIND_ADD, payload, new_seed)
                out.append(rec)
                moved[pointer] = (off, pos, len(rec), hash(payload))
                pos += len(rec)
                buffered += len(rec)
                if buffered >= _COPY_CHUNK_BYTES:
                    _write_all(fd, b"".join(out))
                    out.clear()
                    buffered = 0
            _write_all(fd, b"".join(out))
            _fdatasync(fd)
            with self._lock, self._sync_lock:
                new_live, pos = self._catch_up(fd, end, moved, pos, new_seed)
                _fdatasync(fd)
                os.replace(self._tmp_path, self.path)
                installed = True
                os.close(self._fd)
                self._fd = fd
                self._seed = new_seed
                self._size = pos
                self._live = new_live
                self._live_bytes = sum(e[1] for e in new_live.values())
                self._synced_seq = self._write_seq
                self._stats.compactions += 1
                self._stats.compaction_dropped += dropped
                _fsync_dir(self.path)
            log.info("journal %s compacted: %d live, %d dropped, %d bytes",
                     self.path, len(new_live), dropped, pos)
        finally:
            if not installed:
                os.close(fd)
                try:
                    os.unlink(self._tmp_path)
                except FileNotFoundError:
                    pass

    def _keep(self, predicate, payload: bytes) -> bool:
        try:
            txn = SignedTransaction.from_bytes(payload)
        except MalformedTransaction:
            self._stats.replay_undecodable += 1
            return False
        return bool(predicate(txn))

    def _catch_up(self, fd: int, end: int, moved, pos: int, seed: int):
        """Under the locks: carry over what changed since the copy began. Returns the new
        index and file size."""
        live = self._live
        new_live = {}
        for pointer, (old_off, new_off, reclen, digest) in moved.items():
            current = live.get(pointer)
            if current is not None and current[0] == old_off:
                new_live[pointer] = (new_off, reclen, digest)
        out = []
        tail = _Mapped(self._fd, self._size) if self._size > end else None
        if tail is not None:
            try:
                for off, kind, payload, _ in _scan(tail.buf, end, self._size, self._seed,
                                                   _Damage()):
                    if kind != KIND_ADD:
                        continue
                    pointer = _pointer_of(payload)
                    current = live.get(pointer)
                    if current is None or current[0] != off:
                        continue
                    rec = _frame(KIND_ADD, payload, seed)
                    out.append(rec)
                    new_live[pointer] = (pos, len(rec), current[2])
                    pos += len(rec)
            finally:
                tail.close()
        gone = [p for p in moved if p not in live]  # forgotten while the copy ran
        if gone:
            rec = _frame(KIND_FORGET, b"".join(_FORGET_ITEM.pack(*p) for p in gone), seed)
            out.append(rec)
            pos += len(rec)
        if out:
            _write_all(fd, b"".join(out))
        return new_live, pos

    # -- reading --
    def replay(self) -> list[SignedTransaction]:
        """The live transactions in submission order (a replacement takes the place of its
        last write); damaged and undecodable records are skipped and counted."""
        with self._lock:
            self._check_open()
            snapshot = {p: e[0] for p, e in self._live.items()}
            end = self._size
            mapped = _Mapped(self._fd, end)
            seed = self._seed
        result = []
        try:
            for off, kind, payload, _ in _scan(mapped.buf, HEADER_LEN, end, seed, _Damage()):
                if kind != KIND_ADD or snapshot.get(_pointer_of(payload)) != off:
                    continue
                try:
                    result.append(SignedTransaction.from_bytes(payload))
                except MalformedTransaction as exc:
                    self._stats.replay_undecodable += 1
                    log.warning("journal %s: undecodable record at %d skipped: %s",
                                self.path, off, exc)
        finally:
            mapped.close()
        return result

    def pointers(self) -> list[tuple[bytes, int]]:
        """The (sender, seq) of every live transaction, in no particular order."""
        with self._lock:
            return list(self._live)

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, pointer) -> bool:
        return pointer in self._live

    def file_size(self) -> int:
        """Bytes in the journal file."""
        return self._size

    def stats(self) -> JournalStats:
        """A copy of this journal's counters."""
        return dataclasses.replace(self._stats)

    # -- lifetime --
    def close(self) -> None:
        """Flush (unless the policy is "never") and close; later calls do nothing."""
        with self._compact_lock, self._lock, self._sync_lock:
            if self._closed:
                return
            self._closed = True
            try:
                if self._policy != "never" and self._synced_seq < self._write_seq:
                    _fdatasync(self._fd)
                    self._stats.fsyncs += 1
            finally:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> "TransactionJournal":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TransactionJournal({self.path!r}, fsync={self._policy!r}, live={len(self._live)})"


# -- recovery helpers --
class ReplayPartition(NamedTuple):
    """Replayed transactions sorted by what a restarted node should do with them."""

    resubmit: list  #: sequence number >= the account's and not expired: submit again
    committed: list  #: sequence number below the account's current one
    expired: list  #: expiration_time < now
    unknown_account: list  #: the account store does not know the sender


def partition_replayed(txns: Sequence[SignedTransaction],
                       get_account_states: Callable[[list], list],
                       clock: Callable[[], float] = time.time) -> ReplayPartition:
    """Split replayed transactions with one account-state read (`get_account_states(addresses)
    -> [(sequence_number, balance) | None]`) and one reading of `clock`."""
    now = clock()
    senders = list(dict.fromkeys(t.sender for t in txns))
    states = list(get_account_states(senders)) if senders else []
    if len(states) != len(senders):
        raise ValueError(f"get_account_states returned {len(states)} states for "
                         f"{len(senders)} addresses")
    by_sender = dict(zip(senders, states))
    part = ReplayPartition([], [], [], [])
    for txn in txns:
        state = by_sender[txn.sender]
        if state is None:
            part.unknown_account.append(txn)
        elif txn.sequence_number < state[0]:
            part.committed.append(txn)
        elif txn.expiration_time < now:
            part.expired.append(txn)
        else:
            part.resubmit.append(txn)
    return part


@dataclasses.dataclass
class RecoveryReport:
    """What `recover` did: counts by outcome, and the codes of rejected resubmissions."""

    replayed: int
    resubmitted: int
    accepted: int
    committed: int
    expired: int
    unknown_account: int
    rejected_by_code: dict


def recover(journal: TransactionJournal, submit_transactions: Callable[[list], list],
            get_account_states: Callable[[list], list],
            clock: Callable[[], float] = time.time) -> RecoveryReport:
    """Replay the journal into a mempool after a restart: resubmit what can still commit
    through `submit_transactions` (the journaled path: identical transactions are not written
    twice) and forget the rest, including resubmissions that were not VALID."""
    txns = journal.replay()
    part = partition_replayed(txns, get_account_states, clock)
    statuses = list(submit_transactions(part.resubmit)) if part.resubmit else []
    if len(statuses) != len(part.resubmit):
        raise ValueError(f"submit_transactions returned {len(statuses)} statuses for "
                         f"{len(part.resubmit)} transactions")
    rejected_by_code: dict = {}
    dead = part.committed + part.expired + part.unknown_account
    for txn, status in zip(part.resubmit, statuses):
        if status.code != MempoolAddTransactionStatusCode.VALID:
            dead.append(txn)
            name = status.code.name
            rejected_by_code[name] = rejected_by_code.get(name, 0) + 1
    journal.forget(t.pointer for t in dead)
    report = RecoveryReport(
        replayed=len(txns), resubmitted=len(part.resubmit),
        accepted=len(part.resubmit) - sum(rejected_by_code.values()),
        committed=len(part.committed), expired=len(part.expired),
        unknown_account=len(part.unknown_account), rejected_by_code=rejected_by_code)
    log.info("journal %s recovered: %s", journal.path, report)
    return report
