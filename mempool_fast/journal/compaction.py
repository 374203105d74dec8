"""Journal compaction: rewrite the file with only its live, unexpired transactions.

`copy_live` does the bulk of the work from a read-only snapshot, without any journal lock:
it writes the live ADD records, re-framed with a fresh salt, to a temporary file. The journal
then holds its locks only for `catch_up`, which carries over what was appended or forgotten
while the copy ran, before it fsyncs, renames the temporary file over the journal and fsyncs
the directory. A tagged journal's FORMAT record is written first in the new file; ADD and
KEYED_ADD records are copied with their own kind (a file holds one of them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

from .._wire import expiration_of
from .format import (
    ADD_KINDS, HEADER_LEN, KIND_ADD, KIND_FORGET, Damage, RecordBuffer, format_record, frame,
    new_header, read_header, scan, write_all,
)
from .live_index import LiveIndex, digest, entry, key_of, offset

__all__ = ["Rewrite", "copy_live", "catch_up"]

#: Compaction writes its output in chunks of about this size.
COPY_CHUNK_BYTES = 1 << 20



@dataclass
class Rewrite:
    """A temporary file being written, and where the copied records went."""

    fd: int
    seed: int
    pos: int
    #: key -> its record's offset in the old file, for the records copied
    moved_from: dict[bytes, int] = field(default_factory=dict)
    #: key -> its index entry in the new file (live_index.entry)
    moved_to: LiveIndex = field(default_factory=dict)
    dropped: int = 0


def copy_live(tmp_path: str, buf: RecordBuffer, end: int, snapshot: dict[bytes, int], seed: int,
              now: float, keep: Callable[[bytes], bool] | None,
              format_name: str | None = None) -> Rewrite:
    """Write the records of `buf[:end]` that `snapshot` (key -> live offset) names, that
    have not expired at `now` (native ADD records: the expiration is in the wire form) and
    that `keep(payload)` accepts, to a new file at `tmp_path`, after the FORMAT record of
    `format_name` (None: a native journal, untagged)."""
    header = new_header()
    new_seed = read_header(header, tmp_path).seed
    if format_name is not None:
        header += format_record(format_name, new_seed)
    fd = os.open(tmp_path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
                 | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        out = Rewrite(fd, new_seed, len(header))
        parts = [header]
        buffered = len(header)
        for off, kind, payload, _ in scan(buf, HEADER_LEN, end, seed, Damage()):
            if kind not in ADD_KINDS:
                continue
            key = key_of(payload)
            if snapshot.get(key) != off:
                continue
            if (kind == KIND_ADD and expiration_of(payload) < now) or (
                    keep is not None and not keep(payload)):
                out.dropped += 1
                continue
            rec = frame(kind, payload, new_seed)
            parts.append(rec)
            out.moved_from[key] = off
            out.moved_to[key] = entry(out.pos, len(rec), hash(payload))
            out.pos += len(rec)
            buffered += len(rec)
            if buffered >= COPY_CHUNK_BYTES:
                write_all(fd, b"".join(parts))
                parts.clear()
                buffered = 0
        write_all(fd, b"".join(parts))
        return out
    except BaseException:
        os.close(fd)
        raise


def catch_up(rewrite: Rewrite, live: LiveIndex, tail: RecordBuffer | None, tail_start: int,
             tail_end: int, old_seed: int) -> LiveIndex:
    """Under the journal's locks: finish `rewrite` with what changed since its snapshot. `live`
    is the journal's current index, `tail` its bytes [tail_start, tail_end) appended meanwhile.
    Returns the index of the new file (`rewrite.pos` becomes its size)."""
    new_live: LiveIndex = {}
    moved_to = rewrite.moved_to
    for key, old_off in rewrite.moved_from.items():
        current = live.get(key)
        if current is not None and offset(current) == old_off:
            new_live[key] = moved_to[key]
    parts: list[bytes] = []
    if tail is not None:
        for off, kind, payload, _ in scan(tail, tail_start, tail_end, old_seed, Damage()):
            if kind not in ADD_KINDS:
                continue
            key = key_of(payload)
            current = live.get(key)
            if current is None or offset(current) != off:
                continue
            rec = frame(kind, payload, rewrite.seed)
            parts.append(rec)
            new_live[key] = entry(rewrite.pos, len(rec), digest(current))
            rewrite.pos += len(rec)
    gone = [key for key in rewrite.moved_from if key not in live]  # forgotten meanwhile
    if gone:
        rec = frame(KIND_FORGET, b"".join(gone), rewrite.seed)  # FORGET items are keys
        parts.append(rec)
        rewrite.pos += len(rec)
    if parts:
        write_all(rewrite.fd, b"".join(parts))
    return new_live
