"""Opening a journal file: create it if absent (a non-native journal with its FORMAT record),
check its header, and rebuild the index of live records by scanning it, noting damage and the
format it holds. What to do about damage or another format is the journal's decision."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from ..errors import MalformedTransaction
from .format import (
    ADD_KINDS, FILE_MAGIC, FILE_MAGIC_V1, HEADER_LEN, KEY_LEN, KIND_ADD, KIND_FORMAT,
    KIND_KEYED_ADD, Damage, Header, Mapped, classify_damage, format_record, fsync_dir,
    new_header, read_header, scan,
)
from .live_index import LiveIndex, entry, key_of, keys_of_forget, length

__all__ = ["Loaded", "open_file", "load_index", "read_live"]

if TYPE_CHECKING:
    from ..transaction import SignedTransaction

log = logging.getLogger(__name__)


@dataclass
class Loaded:
    """What a scan of the file found."""

    #: the live records (live_index.py)
    live: LiveIndex = field(default_factory=dict)
    live_bytes: int = 0
    records: int = 0
    damage: Damage = field(default_factory=Damage)
    #: The damage is a torn tail only (the last write cut short).
    torn: bool = False
    #: The name in the file's FORMAT record (None: none, a native journal or an empty one).
    format_name: str | None = None
    #: Bytes of that FORMAT record (kept by compaction: counted as live).
    format_bytes: int = 0
    #: ADD and KEYED_ADD records met (a file holds one kind).
    native_adds: int = 0
    keyed_adds: int = 0


def _is_unfinished_header(path: str) -> bool:
    """An empty file, or one holding only the start of a header: nothing to lose."""
    with open(path, "rb") as f:
        head = f.read(HEADER_LEN)
    prefix = head[:len(FILE_MAGIC)]
    return len(head) < HEADER_LEN and (FILE_MAGIC.startswith(prefix)
                                       or FILE_MAGIC_V1.startswith(prefix))


def _create_empty(path: str, tmp_path: str, format_name: str | None) -> None:
    header = new_header()
    if format_name is not None:  # a tagged journal: its FORMAT record first
        header += format_record(format_name, read_header(header, tmp_path).seed)
    with open(tmp_path, "wb") as f:
        f.write(header)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp_path, path)
    fsync_dir(path)


def open_file(path: str, tmp_path: str, format_name: str | None = None
              ) -> tuple[int, Header, bool]:
    """(read-write append descriptor, checked header, whether an interrupted compaction's
    temporary file was discarded); creates an empty journal when there is none (tagged with
    `format_name`'s FORMAT record unless it is None: native). Raises JournalCorrupt, leaving
    the file untouched, when its header is not an intact one."""
    interrupted = os.path.exists(tmp_path)
    if interrupted:  # a compaction cut short: the journal itself is intact
        os.unlink(tmp_path)
    if not os.path.exists(path) or _is_unfinished_header(path):
        _create_empty(path, tmp_path, format_name)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | getattr(os, "O_CLOEXEC", 0))
    try:
        return fd, read_header(os.pread(fd, HEADER_LEN, 0), path), interrupted
    except BaseException:
        os.close(fd)
        raise


def load_index(fd: int, size: int, header: Header, path: str) -> Loaded:
    """Scan the file's records into the index of live ones."""
    loaded = Loaded()
    live = loaded.live
    mapped = Mapped(fd, size)
    try:
        for off, kind, payload, reclen in scan(mapped.buf, HEADER_LEN, size, header.seed,
                                               loaded.damage):
            loaded.records += 1
            if kind == KIND_ADD or kind == KIND_KEYED_ADD:
                if kind == KIND_ADD:
                    loaded.native_adds += 1
                else:
                    loaded.keyed_adds += 1
                key = key_of(payload)
                old = live.get(key)
                if old is not None:
                    loaded.live_bytes -= length(old)
                live[key] = entry(off, reclen, hash(payload))
                loaded.live_bytes += reclen
            elif kind == KIND_FORMAT:
                name = bytes(payload).decode("ascii", "replace")
                if loaded.format_name is None:
                    loaded.format_name = name
                    loaded.format_bytes = reclen
                elif name != loaded.format_name:  # two different tags: never written
                    loaded.format_name = f"{loaded.format_name}+{name}"
            else:
                for key in keys_of_forget(payload):
                    old = live.pop(key, None)
                    if old is not None:
                        loaded.live_bytes -= length(old)
        loaded.torn = classify_damage(mapped.buf, size, header, loaded.records, loaded.damage,
                                      path)
    finally:
        mapped.close()
    return loaded


def read_live(mapped: Mapped | None, end: int, seed: int, snapshot: dict[bytes, int],
              path: str, decode: Callable[[bytes], Any] | None = None
              ) -> tuple[list[SignedTransaction], int]:
    """(the live transactions in file order, how many live records did not decode): the ADD
    or KEYED_ADD records at the offsets `snapshot` (key -> offset) names, decoded by `decode`
    (the journal's format's; None: the native SignedTransaction.from_bytes). A KEYED_ADD
    payload's wire form follows its pointer key."""
    from ..transaction import SignedTransaction

    from_bytes = SignedTransaction.from_bytes if decode is None else decode
    result: list[SignedTransaction] = []
    undecodable = 0
    buf = mapped.buf if mapped is not None else b""
    for off, kind, payload, _ in scan(buf, HEADER_LEN, end, seed, Damage()):
        if kind not in ADD_KINDS or snapshot.get(key_of(payload)) != off:
            continue
        try:
            result.append(from_bytes(payload if kind == KIND_ADD else payload[KEY_LEN:]))
        except MalformedTransaction as exc:
            undecodable += 1
            log.warning("journal %s: undecodable record at %d skipped: %s", path, off, exc)
    return result, undecodable
