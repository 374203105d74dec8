"""The journal's file format: header, record framing, scanning, and low-level file helpers.

File layout::

    header:  b"MPFJRNL2" | salt (8 bytes: 4 random | crc32 of magic and those 4, LE u32)
    record:  magic b"\\xd5JRN" | crc32 u32 | length u32 | kind u8 | payload (length bytes)

(b"MPFJRNL1" files, whose 8-byte salt is all random and unchecked, are read too; a rewrite
makes them version 2.) The record crc covers length, kind and payload and is seeded with the
crc32 of the file's salt, so a record embedded in a client's payload cannot pass for a real one.
Kinds: ADD (payload: the transaction's wire form) and FORGET (payload: n * (sender 32 bytes |
sequence number u64)). A stretch that fails its checks is skipped up to the next magic that
starts a valid record (`scan`); `classify_damage` says whether what was found is a torn tail
(the last write cut short: safe to cut away) or damage that must not be silently repaired.

Transaction formats. A journal holds the transactions of one format (`formats`). A native
journal is exactly the layout above (no tag: every journal written before formats existed is
one). A journal of another format (Ethereum...) is tagged and keyed:

    FORMAT (kind 3):     payload: the format's name (ASCII, `formats.NAME_PATTERN`, 1..32
                         bytes); the first record of the file, written when it is created
                         (or, for a file holding no record yet, when it is first opened)
    KEYED_ADD (kind 4):  payload: pointer key (sender padded with zero bytes to 32 | sequence
                         number u64, `_wire.pack_pointer`) | the transaction's wire form
                         (what the format's `decode` reads)

so the index, compaction and salvage read a record's pointer without decoding it (an
Ethereum sender is recovered from its signature, far too slow for a scan), and FORGET items
are pointer keys in every journal (a 20-byte sender padded at the end, cut back to the
format's `sender_length` when read). A journal's format is its FORMAT record's name, else
"native" when it holds any record, else none yet (an empty file takes the opener's). A journal
opened for another format is refused with the file untouched (`JournalFormatMismatch`); one
mixing ADD and KEYED_ADD records, or keyed records without a FORMAT record, is
`JournalCorrupt`. Compaction and salvage keep the FORMAT record first. Client expiration is
read from the wire form for ADD records only (compaction drops expired native ones; a keyed
format's expiry, if it has one, is judged at replay).
"""

from __future__ import annotations

import mmap
import os
import struct
import zlib
from typing import Iterator, NamedTuple

from .._wire import MIN_WIRE_LEN, POINTER
from ..errors import ConfigError, JournalCorrupt, JournalError

__all__ = [
    "FILE_MAGIC", "FILE_MAGIC_V1", "HEADER_LEN", "RECORD_MAGIC", "REC_HEADER_LEN", "KIND_ADD",
    "KIND_FORGET", "KIND_FORMAT", "KIND_KEYED_ADD", "ADD_KINDS", "KEY_LEN", "FORMAT_NAME_MAX",
    "JournalFormatMismatch", "format_record", "FORGET_ITEM", "Header", "new_header", "read_header", "frame", "salt_seed",
    "valid_record_at", "scan", "Damage", "classify_damage", "fsync_dir", "write_all", "Mapped",
    "fdatasync",
]

FILE_MAGIC = b"MPFJRNL2"
FILE_MAGIC_V1 = b"MPFJRNL1"
_SALT_LEN = 8
HEADER_LEN = len(FILE_MAGIC) + _SALT_LEN  # 16, both versions
RECORD_MAGIC = b"\xd5JRN"
_REC = struct.Struct("<4sIIB")  # magic, crc32, payload length, kind
REC_HEADER_LEN = _REC.size  # 13
_CRC_FROM = 8  # the crc covers the record from its length field on
KIND_ADD = 1
KIND_FORGET = 2
KIND_FORMAT = 3
KIND_KEYED_ADD = 4
#: The kinds that journal a transaction (a file holds one of them: ADD native, else KEYED_ADD).
ADD_KINDS = (KIND_ADD, KIND_KEYED_ADD)
FORGET_ITEM = POINTER
#: Bytes of a pointer key (a FORGET item, the head of a KEYED_ADD payload).
KEY_LEN = POINTER.size
#: Longest format name a FORMAT record holds (formats.NAME_PATTERN's).
FORMAT_NAME_MAX = 32


class JournalFormatMismatch(JournalError, ConfigError):
    """The journal holds another transaction format's transactions than the one it was opened
    for (a node's configured format changed, or a data directory of another node). The file is
    left untouched. Also a ``ConfigError``: the configuration and the data disagree."""

    field = "transaction_format"


def format_record(name: str, seed: int) -> bytes:
    """The FORMAT record naming `name` (a checked format name), framed for a file of `seed`."""
    return frame(KIND_FORMAT, name.encode("ascii"), seed)
_U32 = struct.Struct("<I")

fdatasync = getattr(os, "fdatasync", os.fsync)

#: What records are read from: a file's read-only memory map (`Mapped.buf`), or bytes.
RecordBuffer = mmap.mmap | bytes


def salt_seed(salt: bytes) -> int:
    """The crc seed of a file's salt."""
    return zlib.crc32(salt)


class Header(NamedTuple):
    version: int
    seed: int


def new_header() -> bytes:
    """A fresh version-2 header: magic, 4 random bytes and their checksum."""
    rand = os.urandom(4)
    return FILE_MAGIC + rand + _U32.pack(zlib.crc32(FILE_MAGIC + rand))


def read_header(head: bytes, path: str) -> Header:
    """Check a file's first HEADER_LEN bytes; JournalCorrupt (naming `path`) when they are not
    an intact mempool_fast journal header."""
    if len(head) < HEADER_LEN:
        raise JournalCorrupt(f"{path} is not a mempool_fast transaction journal "
                             f"({len(head)} bytes, shorter than a header)")
    magic, salt = head[:len(FILE_MAGIC)], head[len(FILE_MAGIC):HEADER_LEN]
    if magic == FILE_MAGIC:
        if _U32.unpack_from(salt, 4)[0] != zlib.crc32(FILE_MAGIC + salt[:4]):
            raise JournalCorrupt(f"journal {path}: the header checksum does not match (the "
                                 "header is damaged); the file was left untouched")
        return Header(2, salt_seed(salt))
    if magic == FILE_MAGIC_V1:
        return Header(1, salt_seed(salt))
    raise JournalCorrupt(f"{path} is not a mempool_fast transaction journal (its first bytes "
                         f"are {magic!r}); the file was left untouched")


def frame(kind: int, payload: bytes, seed: int) -> bytes:
    """One record's bytes."""
    body = struct.pack("<IB", len(payload), kind)
    crc = zlib.crc32(payload, zlib.crc32(body, seed))
    return RECORD_MAGIC + _U32.pack(crc) + body + payload


def _plausible(kind: int, length: int) -> bool:
    if kind == KIND_ADD:
        return length >= MIN_WIRE_LEN
    if kind == KIND_FORGET:
        return length > 0 and length % FORGET_ITEM.size == 0
    if kind == KIND_KEYED_ADD:
        return length > KEY_LEN
    if kind == KIND_FORMAT:
        return 0 < length <= FORMAT_NAME_MAX
    return False


def valid_record_at(buf: RecordBuffer, off: int, end: int, seed: int) -> tuple[int, int, int] | None:
    """(kind, payload start, payload length) of a valid record at `off`, else None."""
    if end - off < REC_HEADER_LEN:
        return None
    magic, crc, length, kind = _REC.unpack_from(buf, off)
    if magic != RECORD_MAGIC:
        return None
    start = off + REC_HEADER_LEN
    if length > end - start or not _plausible(kind, length):
        return None
    if zlib.crc32(buf[off + _CRC_FROM:start + length], seed) != crc:
        return None
    return kind, start, length


class Damage:
    """Damaged regions [start, end) met by one scan."""

    __slots__ = ("regions",)

    def __init__(self) -> None:
        self.regions: list[tuple[int, int]] = []

    @property
    def bytes(self) -> int:
        return sum(b - a for a, b in self.regions)


def scan(buf: RecordBuffer, start: int, end: int, seed: int,
         damage: Damage) -> Iterator[tuple[int, int, bytes, int]]:
    """Yield (offset, kind, payload bytes, record length) of every valid record in [start, end);
    a damaged stretch is skipped up to the next offset holding a valid record and recorded."""
    off = start
    while off < end:
        rec = valid_record_at(buf, off, end, seed)
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
            if valid_record_at(buf, off, end, seed) is not None:
                break
        damage.regions.append((bad, off))


def _complete_record_at(buf: RecordBuffer, off: int, end: int) -> bool:
    """Whether a whole, well-formed (but not necessarily valid) record starts at `off`."""
    if end - off < REC_HEADER_LEN:
        return False
    magic, _, length, kind = _REC.unpack_from(buf, off)
    return magic == RECORD_MAGIC and _plausible(kind, length) and length <= end - off - \
        REC_HEADER_LEN


def classify_damage(buf: RecordBuffer, size: int, header: Header, valid_records: int, damage: Damage,
                    path: str) -> bool:
    """True when the damage is a torn tail only (cut it); False when there is none; raises
    JournalCorrupt when the header's salt cannot be trusted (a version-1 file none of whose
    records passes its checksum although whole records are there: a damaged salt would look
    exactly like this, so nothing may be cut)."""
    regions = damage.regions
    if not regions:
        return False
    if header.version == 1 and valid_records == 0 and _complete_record_at(buf, HEADER_LEN, size):
        raise JournalCorrupt(
            f"journal {path}: no record passes its checksum although whole records are present "
            "(the header's salt is probably damaged); the file was left untouched")
    return len(regions) == 1 and regions[0][1] == size


def fsync_dir(path: str) -> None:
    """Make a rename in `path`'s directory durable."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    fd = os.open(os.path.dirname(os.path.abspath(path)), flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    done = 0
    while done < len(data):
        done += os.write(fd, view[done:])


class Mapped:
    """The first `length` bytes of a file descriptor, memory-mapped read-only (or empty)."""

    def __init__(self, fd: int, length: int) -> None:
        self.buf: RecordBuffer = (mmap.mmap(fd, length, access=mmap.ACCESS_READ) if length
                                  else b"")

    def close(self) -> None:
        if isinstance(self.buf, mmap.mmap):
            self.buf.close()
