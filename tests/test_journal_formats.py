"""The journal's transaction formats (journal/format.py), with a toy format of 20-byte senders
(no extra needed): the FORMAT record first, KEYED_ADD records (pointer key | wire form), FORGET
items padded and cut back, replay decoding with the format, compaction and salvage keeping the
tag, and every refusal: another format's journal (JournalFormatMismatch, the file untouched),
native records in a tagged journal, keyed records without a tag. Native journals stay untagged.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

import pytest

from mempool_fast.errors import ConfigError, JournalCorrupt, MalformedTransaction
from mempool_fast.journal import (HEADER_LEN, KIND_ADD, KIND_FORGET, KIND_FORMAT, KIND_KEYED_ADD,
                                  REC_HEADER_LEN, JournalFormatMismatch, TransactionJournal,
                                  salvage)
from mempool_fast.journal.format import frame, read_header, scan, Damage

_TOY = struct.Struct("<20sQ")


@dataclass(frozen=True)
class ToyTxn:
    """A transaction of the toy format: sender (20) | seq u64 | payload."""

    sender: bytes
    sequence_number: int
    payload: bytes = b""

    def to_bytes(self) -> bytes:
        return _TOY.pack(self.sender, self.sequence_number) + self.payload


class ToyFormat:
    name = "toy"
    sender_length = 20
    transaction_class = ToyTxn

    @staticmethod
    def decode(wire: bytes) -> ToyTxn:
        if len(wire) < _TOY.size:
            raise MalformedTransaction(f"a toy transaction is at least {_TOY.size} bytes")
        sender, seq = _TOY.unpack_from(wire)
        return ToyTxn(sender, seq, wire[_TOY.size:])


TOY = ToyFormat()


def toy(index: int, seq: int, payload: bytes = b"x") -> ToyTxn:
    return ToyTxn(bytes([index]) * 20, seq, payload)


def records(path) -> list[tuple[int, bytes]]:
    data = open(path, "rb").read()
    seed = read_header(data[:HEADER_LEN], str(path)).seed
    return [(kind, payload) for _, kind, payload, _ in scan(data, HEADER_LEN, len(data), seed,
                                                           Damage())]


def test_a_new_journal_of_another_format_is_tagged_and_keyed(tmp_path):
    path = tmp_path / "j"
    with TransactionJournal(path, transaction_format=TOY) as journal:
        assert journal.format_name == "toy"
        assert records(path) == [(KIND_FORMAT, b"toy")]
        txns = [toy(1, 0), toy(1, 1), toy(2, 5, b"yy")]
        assert journal.append(txns) == 3
        assert journal.append([toy(1, 1)]) == 0  # identical: not written again
        assert sorted(journal.pointers()) == sorted((t.sender, t.sequence_number) for t in txns)
        assert (toy(2, 5).sender, 5) in journal and (b"\x02" * 32, 5) not in journal
        assert journal.forget([(toy(1, 0).sender, 0)]) == 1
        assert journal.forget_transactions([toy(2, 5, b"other")]) == 0  # not the live one
        assert journal.forget_transactions([toy(2, 5, b"yy")]) == 1
        assert journal.replay() == [toy(1, 1)]
    kinds = records(path)
    assert [k for k, _ in kinds] == [KIND_FORMAT, KIND_KEYED_ADD, KIND_KEYED_ADD, KIND_KEYED_ADD,
                                     KIND_FORGET, KIND_FORGET]
    key = toy(1, 1).sender + b"\0" * 12 + struct.pack("<Q", 1)
    assert kinds[2][1] == key + toy(1, 1).to_bytes()  # pointer key | wire form
    assert kinds[4][1] == toy(1, 0).sender + b"\0" * 12 + struct.pack("<Q", 0)  # padded
    with pytest.raises(ValueError, match="20 bytes"):
        with TransactionJournal(path, transaction_format=TOY) as journal:
            journal.forget([(b"\x01" * 32, 0)])
    with pytest.raises(TypeError, match="ToyTxn"):
        with TransactionJournal(path, transaction_format=TOY) as journal:
            journal.append([b"raw bytes"])


def test_reopen_compaction_and_salvage_keep_the_tag(tmp_path):
    path = tmp_path / "j"
    with TransactionJournal(path, transaction_format=TOY) as journal:
        journal.append([toy(i, s) for i in range(3) for s in range(3)])
        journal.forget([(toy(0, 0).sender, s) for s in range(3)])
        journal.append([toy(1, 1, b"replaced")])
        expected = journal.replay()
        assert len(expected) == 6
        assert journal.compact(lambda t: t.payload != b"replaced")
        expected.remove(toy(1, 1, b"replaced"))
        assert journal.replay() == expected
        assert records(path)[0] == (KIND_FORMAT, b"toy")
        assert journal.dead_fraction() == 0.0
    with TransactionJournal(path, transaction_format=TOY) as journal:
        assert journal.replay() == expected
        assert journal.stats().open_records == 1 + len(expected)
    report = salvage(path)
    assert report.live_transactions == len(expected)
    assert records(path)[0] == (KIND_FORMAT, b"toy")
    with TransactionJournal(path, transaction_format=TOY) as journal:
        assert journal.replay() == expected
    for name in os.listdir(tmp_path):
        if ".damaged-" in name:
            os.unlink(tmp_path / name)


def test_native_journals_stay_untagged(tmp_path, accounts):
    path = tmp_path / "j"
    with TransactionJournal(path) as journal:
        assert journal.format_name == "native"
        journal.append([accounts.txn(0, 0)])
    assert [k for k, _ in records(path)] == [KIND_ADD]
    assert os.path.getsize(path) == HEADER_LEN + REC_HEADER_LEN + len(
        accounts.txn(0, 0).to_bytes())


@pytest.mark.parametrize("written, opened", [(None, TOY), (TOY, None)])
def test_a_journal_of_another_format_is_refused_untouched(tmp_path, accounts, written, opened):
    path = tmp_path / "j"
    with TransactionJournal(path, transaction_format=written) as journal:
        journal.append([toy(1, 0)] if written is TOY else [accounts.txn(0, 0)])
    before = path.read_bytes()
    with pytest.raises(JournalFormatMismatch, match="holds '(toy|native)' transactions") as caught:
        TransactionJournal(path, transaction_format=opened)
    assert isinstance(caught.value, ConfigError) and caught.value.field == "transaction_format"
    assert path.read_bytes() == before
    with TransactionJournal(path, transaction_format=written):  # and it is free again
        pass


def test_an_empty_journal_takes_the_openers_format(tmp_path):
    path = tmp_path / "j"
    TransactionJournal(path).close()
    assert os.path.getsize(path) == HEADER_LEN  # a native journal: no tag
    with TransactionJournal(path, transaction_format=TOY) as journal:
        assert records(path) == [(KIND_FORMAT, b"toy")]
        assert journal.dead_fraction() == 0.0 and not journal.compaction_due()
    with pytest.raises(JournalFormatMismatch):
        TransactionJournal(path)


def _append_record(path, kind: int, payload: bytes) -> None:
    data = open(path, "rb").read()
    seed = read_header(data[:HEADER_LEN], str(path)).seed
    with open(path, "ab") as f:
        f.write(frame(kind, payload, seed))


def test_mixed_or_untagged_keyed_records_are_corrupt(tmp_path, accounts):
    tagged = tmp_path / "tagged"
    with TransactionJournal(tagged, transaction_format=TOY) as journal:
        journal.append([toy(1, 0)])
    _append_record(tagged, KIND_ADD, accounts.txn(0, 0).to_bytes())
    before = tagged.read_bytes()
    with pytest.raises(JournalCorrupt, match="native records in a journal tagged 'toy'"):
        TransactionJournal(tagged, transaction_format=TOY)
    assert tagged.read_bytes() == before
    untagged = tmp_path / "untagged"
    TransactionJournal(untagged).close()
    _append_record(untagged, KIND_KEYED_ADD, b"\x01" * 40 + toy(1, 0).to_bytes())
    with pytest.raises(JournalCorrupt, match="no FORMAT record"):
        TransactionJournal(untagged)


def test_an_undecodable_keyed_record_is_skipped_and_counted(tmp_path):
    path = tmp_path / "j"
    with TransactionJournal(path, transaction_format=TOY) as journal:
        journal.append([toy(1, 0)])
    _append_record(path, KIND_KEYED_ADD, b"\x05" * 40 + b"short")
    with TransactionJournal(path, transaction_format=TOY) as journal:
        assert journal.replay() == [toy(1, 0)]
        assert journal.stats().replay_undecodable == 1
