"""A damaged journal is never silently destroyed: header damage, an unknown magic or a foreign
file is refused with the file untouched; salvage keeps every record whose checksum holds."""

from __future__ import annotations

import hashlib
import os
import random
import struct
from pathlib import Path

import pytest

from mempool_fast import SignedTransaction
from mempool_fast.errors import FileLocked, JournalCorrupt
from mempool_fast.journal import (
    FILE_MAGIC, FILE_MAGIC_V1, HEADER_LEN, KIND_ADD, TransactionJournal, _frame, _salt_seed,
    salvage,
)
from mempool_fast.journal.salvage import solve_seed

FAR_FUTURE = 4_000_000_000


def make_txns(n: int, seed: int = 0) -> list[SignedTransaction]:
    rng = random.Random(seed)
    return [SignedTransaction(
        sender=hashlib.sha3_256(bytes([i % 5])).digest(), sequence_number=i // 5,
        payload=rng.randbytes(rng.randrange(40)), max_gas_amount=1000, gas_unit_price=1,
        expiration_time=FAR_FUTURE, public_key=rng.randbytes(32), signature=rng.randbytes(64))
        for i in range(n)]


def open_journal(path) -> TransactionJournal:
    return TransactionJournal(path, fsync="never", compact_min_bytes=1 << 40)


@pytest.fixture
def journal_file(tmp_path):
    """A healthy journal of 100 transactions, closed: (path, transactions, bytes)."""
    path = tmp_path / "node.journal"
    txns = make_txns(100)
    with open_journal(path) as j:
        for i in range(0, 100, 10):
            j.append(txns[i:i + 10])
    return path, txns, path.read_bytes()


def flipped(data: bytes, index: int, bit: int) -> bytes:
    buf = bytearray(data)
    buf[index] ^= 1 << bit
    return bytes(buf)


@pytest.mark.parametrize("index", range(HEADER_LEN))
def test_any_flipped_header_bit_is_refused_and_the_file_left_untouched(journal_file, index):
    path, txns, good = journal_file
    for bit in (0, 5):
        damaged = flipped(good, index, bit)
        path.write_bytes(damaged)
        with pytest.raises(JournalCorrupt, match=str(path)):
            open_journal(path)
        assert path.read_bytes() == damaged  # byte for byte: nothing cut, nothing rewritten
        assert not list(path.parent.glob("*.damaged-*"))


def test_a_foreign_or_garbage_file_is_refused_untouched(tmp_path):
    for content in (b"SQLite format 3\x00" + bytes(200), os.urandom(5000), b"x" * 40):
        path = tmp_path / "j"
        path.write_bytes(content)
        with pytest.raises(JournalCorrupt, match="not a mempool_fast transaction journal"):
            open_journal(path)
        assert path.read_bytes() == content


def _v1_journal(path: Path, txns, salt: bytes) -> bytes:
    seed = _salt_seed(salt)
    data = FILE_MAGIC_V1 + salt + b"".join(_frame(KIND_ADD, t.to_bytes(), seed) for t in txns)
    path.write_bytes(data)
    return data


def test_a_version_1_journal_is_read_and_rewritten_as_version_2(tmp_path):
    path = tmp_path / "j"
    txns = make_txns(30, seed=3)
    _v1_journal(path, txns, os.urandom(8))
    with open_journal(path) as j:
        assert j.replay() == txns
        j.compact()
        assert j.replay() == txns
    assert path.read_bytes()[:len(FILE_MAGIC)] == FILE_MAGIC


def test_a_version_1_journal_with_a_flipped_salt_bit_is_refused_untouched(tmp_path):
    path = tmp_path / "j"
    txns = make_txns(30, seed=4)
    good = _v1_journal(path, txns, os.urandom(8))
    for index in range(len(FILE_MAGIC_V1), HEADER_LEN):
        damaged = flipped(good, index, 3)
        path.write_bytes(damaged)
        with pytest.raises(JournalCorrupt, match="salt"):
            open_journal(path)
        assert path.read_bytes() == damaged


@pytest.mark.parametrize("index", [0, 3, 9, 14])
def test_salvage_recovers_every_record_after_header_damage(journal_file, index):
    path, txns, good = journal_file
    damaged = flipped(good, index, 6)
    path.write_bytes(damaged)
    report = salvage(path)
    assert (report.valid_records, report.live_transactions) == (100, 100)
    assert report.damaged_regions == 0 and not report.seed_from_header
    assert Path(report.original_kept_at).read_bytes() == damaged  # the original is kept
    with open_journal(path) as j:
        assert j.replay() == txns


def test_salvage_keeps_valid_records_around_damage(journal_file):
    path, txns, good = journal_file
    damaged = flipped(good, HEADER_LEN + 40, 1)  # inside the first record (transaction 0)
    path.write_bytes(damaged)
    report = salvage(path)
    assert report.seed_from_header and report.damaged_regions == 1
    assert (report.valid_records, report.live_transactions) == (99, 99)
    with open_journal(path) as j:
        assert j.replay() == txns[1:]


def test_solve_seed_inverts_crc32():
    rng = random.Random(5)
    for _ in range(50):
        data, seed = rng.randbytes(rng.randrange(1, 300)), rng.getrandbits(32)
        import zlib
        assert solve_seed(data, zlib.crc32(data, seed)) == seed


def test_damage_inside_the_file_keeps_a_copy_of_the_damaged_file(journal_file):
    path, txns, good = journal_file
    start = HEADER_LEN
    length = struct.unpack_from("<I", good, start + 8)[0]
    second = start + 13 + length  # the second record holds transaction 1
    damaged = flipped(good, second + 60, 2)
    path.write_bytes(damaged)
    with open_journal(path) as j:
        kept = j.stats().open_damaged_copy
        assert kept is not None and Path(kept).read_bytes() == damaged
        assert j.replay() == txns[:1] + txns[2:]


def test_two_journals_cannot_share_one_file(journal_file):
    path, _, _ = journal_file
    with open_journal(path):
        with pytest.raises(FileLocked, match="in use by another process"):
            open_journal(path)
    with open_journal(path):  # released on close
        pass
