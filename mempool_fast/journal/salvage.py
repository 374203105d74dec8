"""Salvage a journal the node refused to open: keep every record whose own checksum holds.

A record's checksum is seeded with the crc of the file's salt. When the header is intact that
seed is known; when the header is damaged it is recovered from the records themselves: crc32 is
affine in its starting value, so the one seed that makes a record's checksum hold can be solved
for (a 32 x 32 system over GF(2)), and the seed under which the most records hold wins. The live
transactions are written to a fresh journal at the same path; the original file is kept beside
it as ``<path>.damaged-<time>`` (never deleted). A tagged journal's FORMAT record is kept first
and its KEYED_ADD records stay keyed (format.py): salvage never decodes a transaction.
"""

from __future__ import annotations

import os
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import JournalCorrupt
from ..file_lock import FileLock
from .format import (
    ADD_KINDS, FORGET_ITEM, HEADER_LEN, KEY_LEN, KIND_FORMAT, RECORD_MAGIC, REC_HEADER_LEN,
    Damage, format_record, frame, fsync_dir, new_header, read_header, scan, write_all,
)

__all__ = ["SalvageReport", "salvage", "solve_seed"]

#: Records whose seeds are tried when the header cannot be trusted.
_SEED_CANDIDATES = 8
_CRC_FROM = 8


@dataclass(frozen=True)
class SalvageReport:
    """What `salvage` kept and where the original went."""

    valid_records: int
    live_transactions: int
    damaged_regions: int
    damaged_bytes: int
    seed_from_header: bool
    original_kept_at: str


def solve_seed(data: bytes, crc: int) -> int:
    """The seed `s` with ``zlib.crc32(data, s) == crc``: crc32(data, s) = L(s) ^ crc32(data, 0)
    with L linear in s and depending only on len(data)."""
    zeros = bytes(len(data))
    base = zlib.crc32(zeros, 0)
    basis: dict[int, tuple[int, int]] = {}  # pivot bit -> (vector, combination of seed bits)
    for i in range(32):
        vec, combo = zlib.crc32(zeros, 1 << i) ^ base, 1 << i
        while vec:
            top = vec.bit_length() - 1
            if top not in basis:
                basis[top] = (vec, combo)
                break
            bvec, bcombo = basis[top]
            vec ^= bvec
            combo ^= bcombo
    target, seed = crc ^ zlib.crc32(data, 0), 0
    while target:
        bvec, bcombo = basis[target.bit_length() - 1]  # full rank: crc32's step is invertible
        target ^= bvec
        seed ^= bcombo
    return seed


def _candidate_seeds(data: bytes) -> list[int]:
    seeds: list[int] = []
    off = data.find(RECORD_MAGIC, HEADER_LEN)
    while off >= 0 and len(seeds) < _SEED_CANDIDATES:
        if off + REC_HEADER_LEN <= len(data):
            crc = int.from_bytes(data[off + 4:off + 8], "little")
            length = int.from_bytes(data[off + 8:off + 12], "little")
            end = off + REC_HEADER_LEN + length
            if end <= len(data):
                seeds.append(solve_seed(data[off + _CRC_FROM:end], crc))
        off = data.find(RECORD_MAGIC, off + 1)
    return seeds


def _count_valid(data: bytes, seed: int) -> int:
    return sum(1 for _ in scan(data, HEADER_LEN, len(data), seed, Damage()))


def salvage(path: str | os.PathLike[str]) -> SalvageReport:
    """Rewrite the journal at `path` with every live transaction whose record checksum holds
    (see the module docstring). The journal must not be open anywhere."""
    path = os.fspath(path)
    with FileLock(path, "journal"):
        data = Path(path).read_bytes()
        header_seed = None
        try:
            header_seed = read_header(data[:HEADER_LEN], path).seed
        except JournalCorrupt:
            pass
        seeds = ([header_seed] if header_seed is not None else []) + _candidate_seeds(data)
        if not seeds:
            raise JournalCorrupt(f"{path}: no journal record found; nothing to salvage")
        seed = max(dict.fromkeys(seeds), key=lambda s: (_count_valid(data, s), s == header_seed))
        damage = Damage()
        #: pointer key -> (record kind, payload), in the order of their last write
        live: dict[bytes, tuple[int, bytes]] = {}
        format_name: str | None = None
        valid = 0
        for _, kind, payload, _ in scan(data, HEADER_LEN, len(data), seed, damage):
            valid += 1
            if kind in ADD_KINDS:
                key = payload[:KEY_LEN]
                live.pop(key, None)
                live[key] = (kind, payload)
            elif kind == KIND_FORMAT:
                if format_name is None:
                    format_name = payload.decode("ascii", "replace")
            else:
                for i in range(0, len(payload), FORGET_ITEM.size):
                    live.pop(payload[i:i + FORGET_ITEM.size], None)
        if valid == 0:
            raise JournalCorrupt(f"{path}: no record passes its checksum; nothing to salvage")
        fresh = new_header()
        new_seed = read_header(fresh, path).seed
        tmp = path + ".salvaged"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0),
                     0o644)
        try:
            tag = b"" if format_name is None else format_record(format_name, new_seed)
            write_all(fd, fresh + tag + b"".join(frame(kind, payload, new_seed)
                                                 for kind, payload in live.values()))
            os.fsync(fd)
        finally:
            os.close(fd)
        kept = f"{path}.damaged-{int(time.time())}"
        os.link(path, kept)
        os.replace(tmp, path)
        fsync_dir(path)
    return SalvageReport(valid, len(live), len(damage.regions), damage.bytes,
                         seed == header_seed, kept)
