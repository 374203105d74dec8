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

Locks: the file's `lock` (journal_file.py) guards writes, the descriptor and the index of live
records and is held only across a write (and a compaction's final catch-up); the group
commit's lock serialises fdatasync (group_commit.py); `_compact_lock` allows one compaction at
a time. Order: compact -> file -> group commit.

Transaction formats (format.py): `TransactionJournal(path, transaction_format=...)` journals
one format's transactions. The native format (None, the default) writes exactly the native
layout; another format tags the file with a FORMAT record and writes KEYED_ADD records
(pointer key | wire form), so everything below that reads a record's key reads the same 40
bytes at the same place: the journal works on each transaction's *body*, its wire form
(native) or key | wire form (keyed). A file of another format is refused at open
(`JournalFormatMismatch`, untouched).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import operator
import os
import struct
import threading
import time
import zlib
from typing import Any, Callable, Iterable

from .._wire import ADDRESS_LEN, POINTER, check_pointer, check_pointers, unpack_pointer
from ..config import MempoolConfig
from ..errors import JournalClosed, JournalCorrupt, MalformedTransaction
from ..transaction import PySignedTransaction, SignedTransaction, is_transaction
from . import compaction
from .format import (HEADER_LEN, KEY_LEN as _KEY_LEN, KIND_FORGET, KIND_ADD, KIND_KEYED_ADD,
                     RECORD_MAGIC, REC_HEADER_LEN, Damage, JournalFormatMismatch, format_record,
                     frame)
from .journal_file import JournalFile
from .live_index import (KEY_LEN, LiveIndex, entry, key_of_pointer, length, offset,
                         same_wire)
from .loading import read_live

__all__ = ["TransactionJournal", "JournalStats"]

log = logging.getLogger(__name__)

_DEFAULTS = MempoolConfig()

# Record framing of an append (format.frame per batch: magic | crc32 | length | kind | payload;
# the crc covers length, kind and payload, seeded by the file's salt).
_RECORD_HEADER = struct.Struct("<4sIIB")
_ADD_FIELDS = struct.Struct("<IB")
assert _RECORD_HEADER.size == REC_HEADER_LEN
_crc32 = zlib.crc32
#: Distinct payload lengths whose record header is cached (the cache starts over past it).
_HEADER_CACHE_MAX = 4096
_to_bytes = operator.methodcaller("to_bytes")


def _check_transactions(txns: list[SignedTransaction]) -> None:
    """TypeError unless every item is a SignedTransaction of either class (checked per class)."""
    for cls in set(map(type, txns)):
        if cls not in _TRANSACTION_CLASSES:
            sample = next(txn for txn in txns if type(txn) is cls)
            if not is_transaction(sample):
                raise TypeError(f"append takes SignedTransaction objects, got {cls.__name__}")


_TRANSACTION_CLASSES = {SignedTransaction, PySignedTransaction}


def _format_of(transaction_format: Any, config: MempoolConfig | None) -> Any:
    """The journal's format object, None for the native one: `transaction_format` (None,
    formats.NATIVE or a NativeFormat are native), else the one `config` names."""
    from ..formats import NativeFormat, check_name, from_config

    if transaction_format is None and config is not None \
            and config.transaction_format != "native":
        transaction_format = from_config(config)
    if transaction_format is None or isinstance(transaction_format, NativeFormat) or \
            getattr(transaction_format, "name", None) == "native":
        return None
    check_name(getattr(transaction_format, "name", None))
    for attribute in ("decode", "sender_length", "transaction_class"):
        if getattr(transaction_format, attribute, None) is None:
            raise TypeError(f"transaction_format {transaction_format!r} has no {attribute}")
    length = transaction_format.sender_length
    if not isinstance(length, int) or not 1 <= length <= ADDRESS_LEN:
        raise ValueError(f"a journal keys senders of 1..{ADDRESS_LEN} bytes, format "
                         f"{transaction_format.name!r} has {length!r}")
    return transaction_format


def _keyed_bodies(txns: list[Any]) -> list[bytes]:
    """KEYED_ADD payloads: each transaction's pointer key | its wire form."""
    return [POINTER.pack(txn.sender, txn.sequence_number) + txn.to_bytes() for txn in txns]


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
    #: fdatasync calls made by appends, timers and close.
    fsyncs: int = 0
    compactions: int = 0
    #: Transactions compaction dropped because they expired or the live predicate refused them.
    compaction_dropped: int = 0
    #: Live records whose payload did not decode to a transaction on replay (skipped).
    replay_undecodable: int = 0


class TransactionJournal:
    """Append-only, checksummed file of locally accepted transactions (see the module doc)."""

    def __init__(self, path: str | os.PathLike[str], *, fsync: str = _DEFAULTS.journal_fsync,
                 clock: Callable[[], float] = time.time,
                 fsync_interval_ms: int = _DEFAULTS.journal_fsync_interval_ms,
                 compact_dead_fraction: float = _DEFAULTS.journal_compact_dead_fraction,
                 compact_min_bytes: int = _DEFAULTS.journal_compact_min_bytes,
                 transaction_format: Any = None) -> None:
        """`transaction_format`: the format whose transactions this journal holds (None or a
        NativeFormat: native; another one's `name`, `sender_length`, `transaction_class` and
        `decode` are used). Opening a journal of another format raises
        JournalFormatMismatch, the file untouched."""
        fmt = _format_of(transaction_format, None)
        #: None for the native format (untagged ADD records), else the journal's format.
        self._format = fmt
        #: The transaction format name of this journal's records.
        self.format_name: str = "native" if fmt is None else fmt.name
        self._sender_length = ADDRESS_LEN if fmt is None else fmt.sender_length
        self._kind = KIND_ADD if fmt is None else KIND_KEYED_ADD
        if not 0 <= fsync_interval_ms:
            raise ValueError("fsync_interval_ms must not be negative")
        if not 0 < compact_dead_fraction <= 1:
            raise ValueError("compact_dead_fraction must be in (0, 1]")
        if compact_min_bytes < 0:
            raise ValueError("compact_min_bytes must not be negative")
        self.path = os.fspath(path)
        self._clock = clock
        self._compact_fraction = compact_dead_fraction
        self._compact_min_bytes = compact_min_bytes
        self._compact_lock = threading.Lock()
        self._stats = JournalStats()
        self._closed = False
        #: salt seed -> {payload length: crc of the record's length and kind fields}
        self._head_crc_cache: dict[int, dict[int, int]] = {}
        self._file = JournalFile(self.path, fsync=fsync, fsync_interval_s=fsync_interval_ms
                                 / 1000.0, clock=clock,
                                 format_name=None if fmt is None else fmt.name)
        self._lock = self._file.lock
        loaded = self._file.loaded
        try:
            #: Bytes of the FORMAT record (counted as live: compaction keeps it); whether the
            #: file still has to be tagged (it held no record)
            self._format_bytes, self._needs_tag = self._check_format(loaded)
        except BaseException:
            self._closed = True
            self._file.close_locked()
            raise
        #: pointer -> (record offset, record length, hash of the wire bytes)
        self._live: LiveIndex = loaded.live  # live_index.py: nothing the GC tracks
        self._live_bytes = loaded.live_bytes + self._format_bytes
        self._stats.open_records = loaded.records
        self._stats.open_interrupted_compaction = self._file.interrupted_compaction
        try:
            if loaded.damage.regions:
                self._repair(loaded.damage, loaded.torn)
            if self._needs_tag:  # (a repair's rewrite tags the file itself)
                self._tag()
        except BaseException:
            self.close()
            raise

    def _check_format(self, loaded: Any) -> tuple[int, bool]:
        """The format the file holds against this journal's (JournalFormatMismatch, the file
        untouched); a file holding no record yet takes this journal's. Returns (the bytes of
        the file's FORMAT record, 0 native; whether the file must still be tagged)."""
        found = loaded.format_name
        if found is not None and loaded.native_adds:
            raise JournalCorrupt(f"journal {self.path}: native records in a journal tagged "
                                 f"{found!r}; the file was left untouched")
        if found is None and loaded.keyed_adds:
            raise JournalCorrupt(f"journal {self.path}: keyed records but no FORMAT record "
                                 "(the record naming its transaction format is lost); the "
                                 "file was left untouched")
        if found is None and loaded.records:
            found = "native"
        if found is not None and found != self.format_name:
            raise JournalFormatMismatch(
                f"journal {self.path} holds {found!r} transactions, but this node's "
                f"transaction format is {self.format_name!r}: move the journal away (or "
                "configure the format it was written with); the file was left untouched")
        if self._format is None:
            return 0, False
        if found is None:  # nothing in it yet: it takes this journal's format
            return len(format_record(self.format_name, 0)), True
        return int(loaded.format_bytes), False

    def _tag(self) -> None:
        """Write the FORMAT record into a file that held no record, durably."""
        record = format_record(self.format_name, self._file.seed)
        with self._lock:
            self._file.write_locked(record)
            ticket = self._file.commit.ticket
        self._file.commit.sync(ticket)
        self._needs_tag = False

    @classmethod
    def from_config(cls, path: str | os.PathLike[str], config: MempoolConfig, *,
                    clock: Callable[[], float] = time.time,
                    transaction_format: Any = None) -> "TransactionJournal":
        """A journal configured by MempoolConfig's journal_* fields, for the transactions of
        `transaction_format` (None: the format `config.transaction_format` names)."""
        return cls(path, fsync=config.journal_fsync, clock=clock,
                   fsync_interval_ms=config.journal_fsync_interval_ms,
                   compact_dead_fraction=config.journal_compact_dead_fraction,
                   compact_min_bytes=config.journal_compact_min_bytes,
                   transaction_format=_format_of(transaction_format, config))

    def _repair(self, damage: Damage, torn: bool) -> None:
        regions = damage.regions
        stats = self._stats
        size = self._file.size
        stats.open_corrupt_regions = len(regions)
        stats.open_corrupt_bytes = damage.bytes
        stats.open_torn_tail = regions[-1][1] == size
        if torn:
            log.warning("journal %s: cutting a torn tail of %d bytes at offset %d (a write cut "
                        "short by a crash)", self.path, size - regions[0][0], regions[0][0])
            self._file.truncate(regions[0][0])
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
        once `wait_durable(ticket)` returns.

        The batch is one write, framed per batch: wire forms, checksums (one crc32 per record,
        over its payload, seeded by a cached checksum of its length and kind) and the bytes to
        write are made before the lock is taken; under it, a batch of new pointers (the common
        case) only gets its offsets and goes out. Resubmissions, replacements, a pointer twice
        in the batch or a compaction in between take the record-by-record path."""
        txns = txns if type(txns) is list else list(txns)
        if self._format is None:
            _check_transactions(txns)
            wires = list(map(_to_bytes, txns))  # a native body is the wire form
        else:
            self._check_format_transactions(txns)
            wires = _keyed_bodies(txns)
        n = len(txns)
        kind = self._kind
        keys = [wire[:KEY_LEN] for wire in wires]
        lengths = list(map(len, wires))
        digests = list(map(hash, wires))
        reclens = list(map(REC_HEADER_LEN.__add__, lengths))
        file = self._file
        seed = file.seed  # checked again under the lock (a compaction changes it)
        head_crcs = self._head_crcs(seed, lengths)
        crcs = list(map(_crc32, wires, map(head_crcs.__getitem__, lengths)))
        heads = map(_RECORD_HEADER.pack, itertools.repeat(RECORD_MAGIC, n), crcs, lengths,
                    itertools.repeat(kind, n))
        data = b"".join(itertools.chain.from_iterable(zip(heads, wires)))
        with self._lock:
            self._check_open()
            live = self._live
            if n and file.seed == seed:
                offsets = list(itertools.accumulate(reclens, initial=file.size))
                offsets.pop()
                entries = dict(zip(keys, map(entry, offsets, reclens, digests)))
                if len(entries) == n and live.keys().isdisjoint(entries):
                    file.write_locked(data)
                    live.update(entries)
                    self._live_bytes += len(data)
                    self._stats.appended_txns += n
                    self._stats.appended_batches += 1
                    return n, file.commit.ticket
            records = self._append_each_locked(wires, keys, lengths, digests, reclens)
            return records, file.commit.ticket

    def _append_each_locked(self, wires: list[bytes], keys: list[bytes], lengths: list[int],
                            digests: list[int], reclens: list[int]) -> int:
        """The record-by-record append (hold `_lock`): a transaction identical to the live one
        at its pointer (or to an earlier one of the batch) is skipped, a different one replaces
        it. Returns how many records were written."""
        file = self._file
        live = self._live
        head_crcs = self._head_crcs(file.seed, lengths)
        entries: LiveIndex = {}
        parts: list[bytes] = []
        records = added = replaced = duplicates = 0
        off = file.size
        for wire, key, size, wire_hash, reclen in zip(wires, keys, lengths, digests, reclens):
            current = entries.get(key)
            if current is None:
                current = live.get(key)
                if current is not None:
                    if same_wire(current, wire_hash, reclen):
                        duplicates += 1
                        continue
                    replaced += length(current)
            else:
                if same_wire(current, wire_hash, reclen):
                    duplicates += 1
                    continue
                added -= length(current)
            parts += (_RECORD_HEADER.pack(RECORD_MAGIC, _crc32(wire, head_crcs[size]), size,
                                          self._kind), wire)
            entries[key] = entry(off, reclen, wire_hash)
            off += reclen
            added += reclen
            records += 1
        self._stats.duplicate_txns += duplicates
        if records:
            file.write_locked(b"".join(parts))
            live.update(entries)
            self._live_bytes += added - replaced
            self._stats.appended_txns += records
            self._stats.appended_batches += 1
        return records

    def _check_format_transactions(self, txns: list[Any]) -> None:
        """TypeError unless every item is the (non-native) format's transaction class."""
        cls = self._format.transaction_class
        for kind in set(map(type, txns)):
            if not issubclass(kind, cls):
                raise TypeError(f"a {self.format_name!r} journal appends {cls.__name__} "
                                f"objects, got {kind.__name__}")

    def _head_crcs(self, seed: int, lengths: list[int]) -> dict[int, int]:
        """{payload length: crc32 of an ADD (KEYED_ADD) record's length and kind fields seeded by
        `seed`} covering `lengths`: `format.frame` split so a payload is checksummed once.
        One dict per salt, so a thread framing under an old salt never mixes into the new."""
        crcs = self._head_crc_cache.get(seed)
        if crcs is None or len(crcs) > _HEADER_CACHE_MAX:
            crcs = {}
            if len(self._head_crc_cache) >= 2:  # only the current salt and maybe the last
                self._head_crc_cache = {}
            self._head_crc_cache[seed] = crcs
        missing = set(lengths).difference(crcs)
        for size in missing:
            crcs[size] = _crc32(_ADD_FIELDS.pack(size, self._kind), seed)
        return crcs

    def wait_durable(self, ticket: int) -> None:
        """Return once the writes up to `ticket` (from `append_unsynced`) are durable per the
        fsync policy ("batch": only if the interval has passed; "never": at once)."""
        self._file.commit.wait(ticket)

    def forget(self, pointers: Iterable[tuple[bytes, int]], *, compact: bool = True) -> int:
        """Drop transactions by (sender, seq); unknown ones are ignored. Returns how many were
        live. Past the threshold it compacts (in this thread) unless `compact` is False.

        Not fsynced on its own: a forget lost to power loss only makes a replay offer a dead
        transaction again, which revalidation drops.
        """
        wanted = check_pointers(pointers, sender_length=self._sender_length)
        with self._lock:
            self._check_open()
            found = [key for key in dict.fromkeys(map(key_of_pointer, wanted))
                     if key in self._live]
            due = self._forget_locked(found, compact)
        if due:
            self._compact(None, block=False)
        return len(found)

    def forget_transactions(self, txns: Iterable[SignedTransaction], *, compact: bool = False) -> int:
        """Drop exactly these transactions: a pointer whose live record is another transaction
        (a replacement journaled since) is left alone. Returns how many were live."""
        with self._lock:
            self._check_open()
            live = self._live
            found: list[bytes] = []
            native = self._format is None
            for txn in txns:
                wire = txn.to_bytes() if native else \
                    POINTER.pack(txn.sender, txn.sequence_number) + txn.to_bytes()
                key = wire[:KEY_LEN]
                current = live.get(key)
                if current is not None and same_wire(current, hash(wire),
                                                     REC_HEADER_LEN + len(wire)):
                    found.append(key)
            due = self._forget_locked(list(dict.fromkeys(found)), compact)
        if due:
            self._compact(None, block=False)
        return len(found)

    def _forget_locked(self, found: list[bytes], compact: bool) -> bool:
        """Forget the live records of these keys (a FORGET record's items are keys)."""
        if not found:
            return False
        self._file.write_locked(frame(KIND_FORGET, b"".join(found), self._file.seed))
        live = self._live
        for key in found:
            self._live_bytes -= length(live.pop(key))
        self._stats.forgotten += len(found)
        return compact and self._compaction_due_locked()

    def _check_open(self) -> None:
        if self._closed:
            raise JournalClosed(f"journal {self.path} is closed")

    # -- durability --
    @property
    def fsync_policy(self) -> str:
        """The fsync policy this journal was opened with (one of FSYNC_POLICIES)."""
        return self._file.commit.policy

    @property
    def fsync_interval(self) -> float:
        """Seconds between fsyncs under the "batch" policy."""
        return self._file.commit.interval

    def sync(self) -> None:
        """Make everything written so far durable now (for the "batch" policy's timer)."""
        with self._lock:
            self._check_open()
            ticket = self._file.commit.ticket
        self._file.commit.sync(ticket)

    # -- compaction --
    def dead_fraction(self) -> float:
        """Share of the file's record bytes that no live transaction needs."""
        with self._lock:
            body = self._file.size - HEADER_LEN
            return (body - self._live_bytes) / body if body else 0.0

    def compaction_due(self) -> bool:
        """Whether dead records have passed the configured threshold."""
        with self._lock:
            return not self._closed and self._compaction_due_locked()

    def _compaction_due_locked(self) -> bool:
        body = self._file.size - HEADER_LEN
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

    def _compact(self, predicate: Callable[[SignedTransaction], object] | None, *,
                 block: bool) -> bool:
        if not self._compact_lock.acquire(blocking=block):
            return False
        file = self._file
        try:
            with self._lock:
                self._check_open()
                end = file.size
                snapshot = {key: offset(value) for key, value in self._live.items()}
                mapped, seed = file.mapped(), file.seed
            try:
                keep = None if predicate is None else self._keeper(predicate)
                rewrite = compaction.copy_live(
                    file.tmp_path, mapped.buf if mapped else b"", end, snapshot, seed,
                    self._clock(), keep, None if self._format is None else self.format_name)
            finally:
                if mapped is not None:
                    mapped.close()
            self._install(rewrite, end)
            return True
        finally:
            self._compact_lock.release()

    def _keeper(self, predicate: Callable[[SignedTransaction], object]
                ) -> Callable[[bytes], bool]:
        decode = SignedTransaction.from_bytes if self._format is None else self._format.decode
        start = 0 if self._format is None else _KEY_LEN

        def keep(wire: bytes) -> bool:
            try:
                txn = decode(wire[start:] if start else wire)
            except MalformedTransaction:
                self._stats.replay_undecodable += 1
                return False
            return bool(predicate(txn))
        return keep

    def _install(self, rewrite: compaction.Rewrite, end: int) -> None:
        file = self._file
        installed = False
        try:
            with self._lock, file.commit.lock:
                tail = file.mapped(end)
                try:
                    new_live = compaction.catch_up(rewrite, self._live,
                                                   tail.buf if tail else None, end, file.size,
                                                   file.seed)
                finally:
                    if tail is not None:
                        tail.close()
                file.install_locked(rewrite)
                installed = True
                self._live = new_live
                self._live_bytes = sum(map(length, new_live.values())) + self._format_bytes
                self._needs_tag = False  # a rewrite of a keyed journal starts with its tag
                self._stats.compactions += 1
                self._stats.compaction_dropped += rewrite.dropped
            log.info("journal %s compacted: %d live, %d dropped, %d bytes",
                     self.path, len(new_live), rewrite.dropped, rewrite.pos)
        finally:
            if not installed:
                file.discard(rewrite)

    # -- reading --
    def replay(self) -> list[SignedTransaction]:
        """The live transactions in submission order (a replacement takes the place of its
        last write); damaged and undecodable records are skipped and counted."""
        file = self._file
        with self._lock:
            self._check_open()
            snapshot = {key: offset(value) for key, value in self._live.items()}
            end, seed, mapped = file.size, file.seed, file.mapped()
        try:
            result, undecodable = read_live(
                mapped, end, seed, snapshot, self.path,
                None if self._format is None else self._format.decode)
        finally:
            if mapped is not None:
                mapped.close()
        if undecodable:
            with self._lock:
                self._stats.replay_undecodable += undecodable
        return result

    def pointers(self) -> list[tuple[bytes, int]]:
        """The (sender, seq) of every live transaction, in no particular order."""
        length = self._sender_length
        with self._lock:
            keys = list(self._live)
        return [unpack_pointer(key, length) for key in keys]

    def __len__(self) -> int:
        with self._lock:
            return len(self._live)

    def __contains__(self, pointer: object) -> bool:
        try:
            key = key_of_pointer(check_pointer(pointer, sender_length=self._sender_length))
        except (TypeError, ValueError):
            return False
        with self._lock:
            return key in self._live

    def file_size(self) -> int:
        """Bytes in the journal file."""
        with self._lock:
            return self._file.size

    def stats(self) -> JournalStats:
        """A copy of this journal's counters."""
        with self._lock:
            return dataclasses.replace(self._stats, fsyncs=self._file.commit.fsyncs)

    # -- lifetime --
    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Flush (unless the policy is "never"), close and release the file lock; later calls
        do nothing."""
        with self._compact_lock, self._lock, self._file.commit.lock:
            if self._closed:
                return
            self._closed = True
            self._file.close_locked()

    def __enter__(self) -> "TransactionJournal":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"TransactionJournal({self.path!r}, fsync={self.fsync_policy!r}, "
                f"live={len(self._live)})")
