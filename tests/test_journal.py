"""TransactionJournal: round trip, order, forget/compaction, damaged files, recovery, SIGKILL."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import random
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mempool_fast import MempoolConfig, SignedTransaction, TimelineState
from mempool_fast import pure
from mempool_fast.journal import (
    FILE_MAGIC, HEADER_LEN, KIND_ADD, RECORD_MAGIC, REC_HEADER_LEN, JournalClosed, JournalError,
    TransactionJournal, _frame, _salt_seed, partition_replayed, recover,
)
from mempool_fast.types import MempoolAddTransactionStatusCode as Code

HERE = Path(__file__).resolve().parent
FAR_FUTURE = 4_000_000_000
KILL_BY_ACKS = 400  # a crash-test child is killed by then whatever event it was waiting for


def make_txn(rng: random.Random, sender_id: int, seq: int, *, payload_len: int | None = None,
             gas_price: int = 1, expiration: int = FAR_FUTURE) -> SignedTransaction:
    """A transaction with a fake signature: the journal stores bytes, it never verifies."""
    if payload_len is None:
        payload_len = rng.randrange(64)
    return SignedTransaction(
        sender=hashlib.sha3_256(sender_id.to_bytes(8, "little")).digest(), sequence_number=seq,
        payload=rng.randbytes(payload_len), max_gas_amount=1000, gas_unit_price=gas_price,
        expiration_time=expiration, public_key=rng.randbytes(32), signature=rng.randbytes(64))


def make_txns(n: int, seed: int = 0, senders: int = 7) -> list[SignedTransaction]:
    rng = random.Random(seed)
    return [make_txn(rng, i % senders, i // senders) for i in range(n)]


def open_journal(path, **kw) -> TransactionJournal:
    kw.setdefault("fsync", "never")
    kw.setdefault("compact_min_bytes", 1 << 40)  # no automatic compaction unless asked
    return TransactionJournal(path, **kw)


# -- basics --
def test_round_trip_survives_reopen(tmp_path):
    path = tmp_path / "j"
    txns = make_txns(50)
    with open_journal(path, fsync="always") as j:
        assert j.append(txns[:20]) == 20
        assert j.append(txns[20:]) == 30
        assert j.replay() == txns
        assert len(j) == 50 and txns[3].pointer in j
    with open_journal(path) as j:
        assert j.replay() == txns
        st = j.stats()
        assert (st.open_records, st.open_corrupt_regions, st.open_torn_tail) == (50, 0, False)


def test_replay_keeps_submission_order_and_replacements(tmp_path):
    rng = random.Random(1)
    a0, b0, a1, c0 = (make_txn(rng, 1, 0), make_txn(rng, 2, 0), make_txn(rng, 1, 1),
                      make_txn(rng, 3, 0))
    a0_higher_gas = SignedTransaction(
        sender=a0.sender, sequence_number=0, payload=a0.payload, max_gas_amount=1000,
        gas_unit_price=a0.gas_unit_price + 5, expiration_time=a0.expiration_time,
        public_key=a0.public_key, signature=rng.randbytes(64))
    with open_journal(tmp_path / "j") as j:
        j.append([a0, b0])
        j.append([a1])
        size = j.file_size()
        assert j.append([b0, a1]) == 0  # identical resubmissions are not written again
        assert j.file_size() == size and j.stats().duplicate_txns == 2
        j.append([c0, a0_higher_gas])
        assert j.replay() == [b0, a1, c0, a0_higher_gas]
    with open_journal(tmp_path / "j") as j:
        assert j.replay() == [b0, a1, c0, a0_higher_gas]


def test_same_pointer_twice_in_one_batch_keeps_the_last(tmp_path):
    rng = random.Random(2)
    first, second = make_txn(rng, 1, 0), make_txn(rng, 1, 0)
    with open_journal(tmp_path / "j") as j:
        assert j.append([first, first, second]) == 2
        assert j.replay() == [second]
    with open_journal(tmp_path / "j") as j:
        assert j.replay() == [second]


def test_forget_then_compact_keeps_exactly_the_live_and_shrinks(tmp_path):
    path = tmp_path / "j"
    txns = make_txns(300, seed=3)
    dead = set(random.Random(3).sample(range(300), 220))
    live = [t for i, t in enumerate(txns) if i not in dead]
    with open_journal(path) as j:
        j.append(txns)
        assert j.forget([txns[i].pointer for i in dead]) == 220
        assert j.forget([txns[next(iter(dead))].pointer, (b"\x07" * 32, 9)]) == 0  # unknown
        assert j.replay() == live
        before = j.file_size()
        assert j.dead_fraction() > 0.7
        assert j.compact() is True
        after = j.file_size()
        assert after < before * 0.4
        assert j.dead_fraction() == 0.0
        assert j.replay() == live
        j.append(txns[:1] if 0 in dead else [])  # a forgotten one can come back
    with open_journal(path) as j:
        expected = live + ([txns[0]] if 0 in dead else [])
        assert j.replay() == expected
        assert j.file_size() == os.path.getsize(path)


def test_forget_past_the_threshold_compacts_automatically(tmp_path):
    txns = make_txns(100, seed=4)
    with open_journal(tmp_path / "j", compact_min_bytes=0, compact_dead_fraction=0.5) as j:
        j.append(txns)
        j.forget(t.pointer for t in txns[:40])
        assert j.stats().compactions == 0
        big = j.file_size()
        j.forget(t.pointer for t in txns[40:70])
        assert j.stats().compactions == 1
        assert j.file_size() < big / 2
        assert j.replay() == txns[70:]


def test_compaction_drops_expired_and_refused_by_predicate(tmp_path, clock):
    rng = random.Random(5)
    now = int(clock())
    expired = make_txn(rng, 1, 0, expiration=now - 1)
    edge = make_txn(rng, 2, 0, expiration=now)  # expiration_time >= now is still live
    kept = make_txn(rng, 3, 0)
    refused = make_txn(rng, 4, 0)
    with open_journal(tmp_path / "j", clock=clock) as j:
        j.append([expired, edge, kept, refused])
        assert j.compact(lambda t: t != refused) is True
        assert j.replay() == [edge, kept]
        assert expired.pointer not in j and refused.pointer not in j
        assert j.stats().compaction_dropped == 2
    with open_journal(tmp_path / "j", clock=clock) as j:
        assert j.replay() == [edge, kept]


# -- damaged files --
def _record_bounds(path) -> list[tuple[int, int]]:
    """(start, end) of every record, read from a healthy journal."""
    data = Path(path).read_bytes()
    bounds, off = [], HEADER_LEN
    while off < len(data):
        length = int.from_bytes(data[off + 8:off + 12], "little")
        bounds.append((off, off + REC_HEADER_LEN + length))
        off += REC_HEADER_LEN + length
    assert off == len(data)
    return bounds


@pytest.mark.parametrize("last_kind", ["add", "forget"])
def test_torn_last_record_at_every_offset(tmp_path, last_kind):
    src = tmp_path / "src"
    txns = make_txns(6, seed=6)
    with open_journal(src) as j:
        j.append(txns[:3])
        j.append(txns[3:5])
        if last_kind == "add":
            j.append(txns[5:])
        else:
            j.forget([txns[0].pointer, txns[4].pointer])
    full = src.read_bytes()
    start, end = _record_bounds(src)[-1]
    assert end == len(full)
    intact = txns[:5]
    complete = txns[:] if last_kind == "add" else [txns[1], txns[2], txns[3]]
    extra = make_txn(random.Random(66), 99, 0)
    for cut in range(start, end + 1):
        path = tmp_path / f"cut{cut}"
        path.write_bytes(full[:cut])
        with open_journal(path) as j:
            expected = complete if cut == end else intact
            assert j.replay() == expected, cut
            st = j.stats()
            assert st.open_torn_tail == (start < cut < end), cut
            assert st.open_corrupt_bytes == (cut - start if start < cut < end else 0)
            assert j.file_size() == (end if cut == end else start)
            j.append([extra])  # appends after the repaired tail are found again
        with open_journal(path) as j:
            assert j.replay() == expected + [extra], cut
            assert j.stats().open_corrupt_regions == 0
        path.unlink()


def test_random_garbage_appended_is_detected(tmp_path):
    src = tmp_path / "src"
    txns = make_txns(20, seed=7)
    with open_journal(src) as j:
        j.append(txns)
    good = src.read_bytes()
    salt_seed = _salt_seed(good[len(FILE_MAGIC):HEADER_LEN])
    rng = random.Random(7)
    garbage_kinds = [
        lambda: rng.randbytes(rng.randrange(1, 400)),
        lambda: RECORD_MAGIC + rng.randbytes(rng.randrange(0, 300)),
        # a well-formed record whose crc was made with another salt
        lambda: _frame(KIND_ADD, make_txns(1, seed=rng.randrange(99))[0].to_bytes(),
                       _salt_seed(rng.randbytes(8))),
        # a valid frame with one byte of its payload flipped
        lambda: bytearray_flip(_frame(KIND_ADD, txns[0].to_bytes(), salt_seed), rng),
    ]
    for trial in range(40):
        junk = garbage_kinds[trial % len(garbage_kinds)]()
        path = tmp_path / f"g{trial}"
        path.write_bytes(good + junk)
        with open_journal(path) as j:
            assert j.replay() == txns
            st = j.stats()
            assert st.open_corrupt_regions == 1 and st.open_torn_tail
            assert st.open_corrupt_bytes == len(junk)
        assert path.read_bytes() == good  # the tail was cut away


def bytearray_flip(frame: bytes, rng: random.Random) -> bytes:
    buf = bytearray(frame)
    buf[rng.randrange(REC_HEADER_LEN, len(buf))] ^= 0x40
    return bytes(buf)


def test_damage_inside_the_file_skips_only_that_record_and_rewrites(tmp_path):
    path = tmp_path / "j"
    txns = make_txns(10, seed=8)
    with open_journal(path) as j:
        j.append(txns)
    bounds = _record_bounds(path)
    data = bytearray(path.read_bytes())
    data[bounds[4][0] + REC_HEADER_LEN + 40] ^= 0xFF  # inside the 5th transaction
    path.write_bytes(bytes(data))
    with open_journal(path) as j:
        assert j.replay() == txns[:4] + txns[5:]
        st = j.stats()
        assert (st.open_corrupt_regions, st.open_torn_tail) == (1, False)
        assert st.open_corrupt_bytes == bounds[4][1] - bounds[4][0]
        assert st.compactions == 1
    with open_journal(path) as j:
        assert j.replay() == txns[:4] + txns[5:]
        assert j.stats().open_corrupt_regions == 0


def test_a_record_hidden_in_a_payload_is_never_replayed(tmp_path):
    """A client can embed a framed record in its payload, but not with the file's secret salt:
    when the carrier's record is damaged and the scan resyncs inside it, the fake is refused."""
    path = tmp_path / "j"
    victim = make_txns(1, seed=9)[0]
    with open_journal(path) as j:
        j.append([victim])
    inner = make_txn(random.Random(9), 5, 0)
    forged = _frame(KIND_ADD, inner.to_bytes(), _salt_seed(bytes(8)))
    rng = random.Random(10)
    carrier = SignedTransaction(
        sender=hashlib.sha3_256(b"carrier").digest(), sequence_number=0,
        payload=b"\x00" * 5 + forged + b"\x00" * 5, max_gas_amount=1, gas_unit_price=1,
        expiration_time=FAR_FUTURE, public_key=rng.randbytes(32), signature=rng.randbytes(64))
    with open_journal(path) as j:
        j.append([carrier])
    start, end = _record_bounds(path)[-1]
    data = bytearray(path.read_bytes())
    for cut in (end - 40, start + REC_HEADER_LEN + 60):  # torn tail; damage before the fake
        damaged = data[:cut] if cut == end - 40 else data[:cut] + b"\xff" + data[cut + 1:]
        path.write_bytes(bytes(damaged))
        with open_journal(path) as j:
            assert j.replay() == [victim]
            assert j.stats().open_corrupt_regions == 1


def test_a_file_that_is_not_a_journal_is_refused_untouched(tmp_path):
    path = tmp_path / "accounts.sqlite"
    content = b"SQLite format 3\x00" + bytes(100)
    path.write_bytes(content)
    with pytest.raises(JournalError, match="not a mempool_fast transaction journal"):
        TransactionJournal(path)
    assert path.read_bytes() == content


def test_an_empty_file_becomes_a_journal(tmp_path):
    path = tmp_path / "j"
    path.write_bytes(b"")
    with open_journal(path) as j:
        j.append(make_txns(2))
    assert path.read_bytes()[:len(FILE_MAGIC)] == FILE_MAGIC


def test_a_leftover_compaction_file_is_discarded(tmp_path):
    path = tmp_path / "j"
    txns = make_txns(5, seed=11)
    with open_journal(path) as j:
        j.append(txns)
    Path(str(path) + ".compact").write_bytes(b"half a rewrite")
    with open_journal(path) as j:
        assert j.replay() == txns
        assert j.stats().open_interrupted_compaction
    assert not Path(str(path) + ".compact").exists()


# -- bad input, lifetime, policies --
def test_bad_input_is_refused_and_changes_nothing(tmp_path):
    with pytest.raises(ValueError, match="fsync must be one of"):
        TransactionJournal(tmp_path / "x", fsync="sometimes")
    with pytest.raises(ValueError, match="compact_dead_fraction"):
        TransactionJournal(tmp_path / "x", compact_dead_fraction=0)
    txns = make_txns(3)
    with open_journal(tmp_path / "j") as j:
        j.append(txns)
        size = j.file_size()
        with pytest.raises(TypeError, match="SignedTransaction"):
            j.append([txns[0], txns[1].to_bytes()])
        with pytest.raises(ValueError, match="32 bytes"):
            j.forget([txns[0].pointer, (b"short", 1)])
        with pytest.raises(ValueError, match="64-bit"):
            j.forget([(txns[0].sender, -1)])
        with pytest.raises(ValueError, match="pair"):
            j.forget([txns[0]])
        assert j.file_size() == size and j.replay() == txns


def test_closed_journal_refuses_work(tmp_path):
    j = open_journal(tmp_path / "j")
    with j:
        j.append(make_txns(1))
    j.close()  # idempotent
    for call in (lambda: j.append(make_txns(1)), lambda: j.forget([]), j.replay, j.compact,
                 j.sync):
        with pytest.raises(JournalClosed):
            call()


def test_fsync_policies(tmp_path, clock):
    txns = make_txns(10)
    with open_journal(tmp_path / "a", fsync="always") as j:
        for t in txns:
            j.append([t])
        assert j.stats().fsyncs == 10
        j.append(txns[:1])  # a duplicate written earlier and already durable: no fsync
        assert j.stats().fsyncs == 10
    with open_journal(tmp_path / "n", fsync="never") as j:
        for t in txns:
            j.append([t])
        j.close()
        assert j.stats().fsyncs == 0
    b = open_journal(tmp_path / "b", fsync="batch", fsync_interval_ms=1000, clock=clock)
    with b:
        for t in txns[:5]:
            b.append([t])
        assert b.stats().fsyncs == 0
        clock.advance(1.0)
        b.append(txns[5:6])
        assert b.stats().fsyncs == 1
        b.append(txns[6:7])
        assert b.stats().fsyncs == 1
        b.sync()
        assert b.stats().fsyncs == 2
        b.append(txns[7:8])
    assert b.stats().fsyncs == 3  # close flushes the rest


def test_an_append_writes_exactly_the_records_format_frame_makes(tmp_path):
    """The batch framing (one crc per record, cached headers) is byte for byte format.frame,
    before and after a compaction changes the file's salt."""
    path = tmp_path / "j"
    rng = random.Random(21)
    txns = [make_txn(rng, i, 0, payload_len=n) for i, n in enumerate([0, 5, 5, 63, 0, 200])]

    def records(data: bytes, batch) -> bytes:
        seed = _salt_seed(data[len(FILE_MAGIC):HEADER_LEN])
        return b"".join(_frame(KIND_ADD, t.to_bytes(), seed) for t in batch)

    with open_journal(path, compact_min_bytes=0, compact_dead_fraction=0.01) as j:
        assert j.append(txns[:4]) == 4
        assert j.append(txns[4:]) == 2
        data = path.read_bytes()
        assert data[HEADER_LEN:] == records(data, txns)
        j.forget([txns[0].pointer])
        assert j.compact()  # a new file with a new salt
        size = j.file_size()
        late = [make_txn(rng, 40 + i, 0, payload_len=5) for i in range(3)]
        assert j.append(late) == 3
        data = path.read_bytes()
        assert data[size:] == records(data, late)
    with open_journal(path) as j:
        assert j.replay() == txns[1:] + late
        assert j.stats().open_corrupt_regions == 0


def test_a_compaction_while_a_batch_is_framed_is_caught_under_the_lock(tmp_path):
    """A batch is framed before the lock is taken; a compaction that changes the salt in
    between must not let the old salt's checksums reach the new file."""
    path = tmp_path / "j"
    rng = random.Random(22)
    first = [make_txn(rng, i, 0, payload_len=8) for i in range(4)]
    second = [make_txn(rng, 10 + i, 0, payload_len=8) for i in range(3)]
    with open_journal(path, compact_min_bytes=0, compact_dead_fraction=0.01) as j:
        j.append(first)
        j.forget([first[0].pointer])
        head_crcs = j._head_crcs
        compacted = []

        def compact_once(seed, lengths):
            crcs = head_crcs(seed, lengths)  # computed for the old salt...
            if not compacted:
                compacted.append(j.compact())  # ...which a compaction now replaces
            return crcs

        j._head_crcs = compact_once
        assert j.append(second) == 3
        assert compacted == [True]
        assert j.replay() == first[1:] + second
    with open_journal(path) as j:
        assert j.replay() == first[1:] + second
        assert j.stats().open_corrupt_regions == 0


def test_a_batch_mixing_new_live_replaced_and_repeated_pointers(tmp_path):
    rng = random.Random(23)
    live = [make_txn(rng, i, 0) for i in range(3)]
    replacement = make_txn(rng, 1, 0, payload_len=70)  # same pointer as live[1]
    fresh = make_txn(rng, 9, 0)
    twice_a, twice_b = make_txn(rng, 8, 0), make_txn(rng, 8, 0)
    with open_journal(tmp_path / "j") as j:
        j.append(live)
        assert j.append([live[0], replacement, fresh, twice_a, fresh, twice_b]) == 4
        assert j.stats().duplicate_txns == 2
        expected = [live[0], live[2], replacement, fresh, twice_b]
        assert j.replay() == expected
        body = j.file_size() - HEADER_LEN
        assert j.dead_fraction() == pytest.approx(
            1 - sum(REC_HEADER_LEN + len(t.to_bytes()) for t in expected) / body)
    with open_journal(tmp_path / "j") as j:
        assert j.replay() == expected


def test_append_refuses_what_is_not_a_transaction_and_writes_nothing(tmp_path):
    with open_journal(tmp_path / "j") as j:
        size = j.file_size()
        with pytest.raises(TypeError, match="SignedTransaction"):
            j.append(make_txns(3) + [object()])
        assert j.file_size() == size and len(j) == 0


class _SlowFdatasync:
    """Stands in for fdatasync: records each call; the calls listed in `block` wait for
    `release[i]` (set by the test) after signalling `started[i]`."""

    def __init__(self, block=(0,)):
        self.calls = 0
        self.block = set(block)
        self.started = [threading.Event() for _ in range(4)]
        self.release = [threading.Event() for _ in range(4)]

    def __call__(self, fd):
        index = self.calls
        self.calls += 1
        if index in self.block:
            self.started[index].set()
            assert self.release[index].wait(10)


def _in_thread(fn, *args):
    done = threading.Event()
    errors = []

    def run():
        try:
            fn(*args)
        except BaseException as exc:  # surfaced by the test
            errors.append(exc)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done, errors


def test_concurrent_appenders_share_one_fdatasync(tmp_path, monkeypatch):
    """A waiter arriving while another's fdatasync runs waits for that one: if it covered the
    waiter's write there is no fsync of its own; the appenders whose writes it did not cover
    share the next one."""
    from mempool_fast.journal import group_commit

    fake = _SlowFdatasync(block=(0,))
    monkeypatch.setattr(group_commit, "fdatasync", fake)
    txns = make_txns(6)
    with open_journal(tmp_path / "j", fsync="always") as j:
        _, covered_ticket = j.append_unsynced(txns[:1])  # written, not yet durable
        leader, leader_errors = _in_thread(j.append, txns[1:2])
        assert fake.started[0].wait(10)  # the leader's fdatasync (covering both) is running
        covered, covered_errors = _in_thread(j.wait_durable, covered_ticket)
        late = [_in_thread(j.append, [t]) for t in txns[2:5]]  # written during that fsync
        commit = j._file.commit
        deadline = time.monotonic() + 10
        while commit.ticket < 5 and time.monotonic() < deadline:
            time.sleep(0.001)
        assert commit.ticket == 5
        time.sleep(0.05)
        assert not covered.is_set() and not leader.is_set()  # nobody returns before it ends
        fake.release[0].set()
        for done, errors in [(leader, leader_errors), (covered, covered_errors)] + late:
            assert done.wait(10) and errors == []
        assert fake.calls == 2  # the leader's, and one for the three late writers
        assert j.stats().fsyncs == 2
        j.append(txns[:1])  # a duplicate: nothing written, already durable
        assert fake.calls == 2
    assert fake.calls == 2  # close: everything is durable already


def test_a_covered_waiter_does_not_wait_for_the_next_fdatasync(tmp_path, monkeypatch):
    """Once the fdatasync that covers a write has ended, its waiter returns, even while the
    next one (for writes that came later) is still running."""
    from mempool_fast.journal import group_commit

    fake = _SlowFdatasync(block=(0, 1))
    monkeypatch.setattr(group_commit, "fdatasync", fake)
    txns = make_txns(3)
    with open_journal(tmp_path / "j", fsync="always") as j:
        _, covered_ticket = j.append_unsynced(txns[:1])
        first, first_errors = _in_thread(j.append, txns[1:2])
        assert fake.started[0].wait(10)
        covered, covered_errors = _in_thread(j.wait_durable, covered_ticket)
        second, second_errors = _in_thread(j.append, txns[2:3])
        commit = j._file.commit
        deadline = time.monotonic() + 10
        while commit.ticket < 3 and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(0.05)
        fake.release[0].set()
        assert fake.started[1].wait(10)  # the second fdatasync runs, for the late write
        assert covered.wait(10) and first.wait(10)
        assert covered_errors == [] and first_errors == []
        assert not second.is_set()
        fake.release[1].set()
        assert second.wait(10) and second_errors == []
        assert fake.calls == 2


def test_a_failed_fdatasync_fails_its_waiters_and_the_next_one_retries(tmp_path, monkeypatch):
    from mempool_fast.journal import group_commit

    calls = []

    def failing_once(fd):
        calls.append(fd)
        if len(calls) == 1:
            raise OSError(5, "Input/output error")

    monkeypatch.setattr(group_commit, "fdatasync", failing_once)
    txns = make_txns(2)
    with open_journal(tmp_path / "j", fsync="always") as j:
        with pytest.raises(OSError):
            j.append(txns[:1])
        assert j.append(txns[1:]) == 1  # covers the first write too
        assert len(calls) == 2 and j.stats().fsyncs == 1


@pytest.mark.skipif(not hasattr(MempoolConfig, "journal_fsync"),
                    reason="MempoolConfig has no journal_* fields yet")
def test_from_config(tmp_path):
    config = MempoolConfig().replace(journal_fsync="never", journal_compact_min_bytes=0)
    with TransactionJournal.from_config(tmp_path / "j", config) as j:
        txns = make_txns(4)
        j.append(txns)
        j.forget(t.pointer for t in txns[:3])
        assert j.stats().compactions == 1 and j.stats().fsyncs == 0


def test_writes_during_a_compaction_are_carried_over(tmp_path):
    """The predicate runs while the bulk is copied without locks: whatever is appended,
    replaced or forgotten meanwhile must come out right in the new file."""
    path = tmp_path / "j"
    rng = random.Random(13)
    txns = [make_txn(rng, i, 0) for i in range(10)]
    late = make_txn(rng, 50, 0)
    replacement = make_txn(rng, 7, 0)  # same pointer as txns[7]
    with open_journal(path, compact_min_bytes=0, compact_dead_fraction=0.01) as j:
        j.append(txns)
        calls = []

        def predicate(txn):
            if not calls:
                j.forget([txns[0].pointer, txns[9].pointer])  # one copied, one not yet
                j.append([late, replacement])
                j.forget([txns[5].pointer])
            calls.append(txn)
            return txn != txns[3]

        assert j.compact(predicate) is True
        expected = [txns[1], txns[2], txns[4], txns[6], txns[8], late, replacement]
        assert j.replay() == expected
        assert len(j) == len(expected) and txns[3].pointer not in j
        assert j.stats().compactions == 1  # the forgets inside did not start a second one
    with open_journal(path) as j:
        assert j.replay() == expected
        assert j.stats().open_corrupt_regions == 0


def test_concurrent_appends_forgets_and_compactions(tmp_path):
    path = tmp_path / "j"
    writers, per_writer, batch = 4, 300, 10
    batches = {w: [make_txns(batch, seed=1000 * w + k, senders=1)
                   for k in range(per_writer // batch)] for w in range(writers)}
    for w in batches:  # give every batch its own sender so pointers never collide
        batches[w] = [[SignedTransaction(
            sender=hashlib.sha3_256(f"{w}/{k}".encode()).digest(),
            sequence_number=t.sequence_number,
            payload=t.payload, max_gas_amount=1, gas_unit_price=1, expiration_time=FAR_FUTURE,
            public_key=t.public_key, signature=t.signature) for t in b]
            for k, b in enumerate(batches[w])]
    forgotten: set = set()
    errors: list = []
    j = open_journal(path, fsync="always", compact_min_bytes=4096, compact_dead_fraction=0.3)

    def writer(w):
        try:
            for k, b in enumerate(batches[w]):
                j.append(b)
                if k % 2:
                    j.forget(t.pointer for t in batches[w][k - 1])
                    forgotten.update(t.pointer for t in batches[w][k - 1])
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    def compactor():
        try:
            for _ in range(5):
                j.compact()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    threads.append(threading.Thread(target=compactor))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    expected = {t for w in batches for b in batches[w] for t in b if t.pointer not in forgotten}
    assert j.stats().compactions >= 5
    replayed = j.replay()
    j.close()
    assert len(replayed) == len(expected) and set(replayed) == expected
    with open_journal(path) as again:
        assert again.replay() == replayed
        assert again.stats().open_corrupt_regions == 0


# -- recovery helpers --
class Store:
    """A tiny account-state reader: address -> (sequence_number, balance)."""

    def __init__(self, states):
        self.states = states
        self.calls = 0

    def get_account_states(self, addresses):
        self.calls += 1
        return [self.states.get(a) for a in addresses]


def test_partition_replayed(clock):
    rng = random.Random(12)
    now = int(clock())
    committed = make_txn(rng, 1, 3)
    live = make_txn(rng, 1, 5)
    expired = make_txn(rng, 2, 0, expiration=now - 1)
    still = make_txn(rng, 2, 1, expiration=now)
    stranger = make_txn(rng, 3, 0)
    store = Store({committed.sender: (4, 100), expired.sender: (0, 100)})
    part = partition_replayed([committed, live, expired, still, stranger],
                              store.get_account_states, clock)
    assert part.resubmit == [live, still]
    assert part.committed == [committed]
    assert part.expired == [expired]
    assert part.unknown_account == [stranger]
    assert store.calls == 1
    with pytest.raises(ValueError, match="states for"):
        partition_replayed([live], lambda addrs: [], clock)


def test_recover_resubmits_into_a_core_forgets_the_dead_and_holds_the_refused(tmp_path, clock, accounts):
    now = int(clock())
    t_committed = accounts.txn(1, 0)
    t_ready = accounts.txn(1, 1)
    t_follow = accounts.txn(1, 2)
    t_expired = accounts.txn(2, 0, expiration=now - 5)
    t_poor = accounts.txn(3, 0, gas_price=10)  # balance cannot pay for it
    states = {accounts.address(1): (1, 10**9), accounts.address(2): (0, 10**9),
              accounts.address(3): (0, 5)}
    path = tmp_path / "j"
    with open_journal(path, clock=clock) as j:
        j.append([t_committed, t_ready, t_expired, t_poor, t_follow])
    core = pure.CoreMempool(MempoolConfig(), clock=clock)
    with open_journal(path, clock=clock) as j:
        def submit(txns):
            statuses = []
            for t in txns:
                seq, balance = states[t.sender]
                statuses.append(core.add_txn(t, t.max_gas_amount, seq, balance,
                                             TimelineState.NOT_READY))
            j.append(t for t, s in zip(txns, statuses) if s.code == Code.VALID)
            return statuses

        size = j.file_size()
        report = recover(j, submit, Store(states).get_account_states, clock)
        assert (report.replayed, report.resubmitted, report.accepted) == (5, 3, 2)
        assert (report.committed, report.expired, report.unknown_account) == (1, 1, 0)
        assert report.rejected_by_code == {"INSUFFICIENT_BALANCE": 1}
        assert len(core) == 2 and t_ready.pointer in core and t_follow.pointer in core
        assert j.stats().duplicate_txns == 2  # resubmission did not rewrite them
        assert j.file_size() > size  # only the forget record was added
        # the balance the store reports is not a reason to lose an acknowledged transaction:
        # it is held, not forgotten
        assert (report.held, report.held_transactions, report.invalid) == (1, [t_poor], 0)
        assert j.replay() == [t_ready, t_poor, t_follow]
    with open_journal(path, clock=clock) as j:
        assert j.replay() == [t_ready, t_poor, t_follow]


# -- SIGKILL --
def _load_child():
    spec = importlib.util.spec_from_file_location("journal_crash_child",
                                                  HERE / "journal_crash_child.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_until_kill(path, seed, round_, event: bytes, count: int, deadline):
    """Run the child until it printed `count` lines starting with `event` (b"A": batches
    acknowledged; b"f": forgets begun; b"c": a forget that compacts begun, and then until the
    compaction's temp file exists or the forget returned), SIGKILL it, and return every line
    it printed."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, str(HERE / "journal_crash_child.py"), str(path),
                             str(seed), str(round_)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    data = b""

    def read(timeout):
        nonlocal data
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"child too slow: {data[-200:]!r}"
        if select.select([fd], [], [], min(timeout, remaining))[0]:
            chunk = os.read(fd, 65536)
            assert chunk, f"child exited early: {proc.stderr.read()!r}"
            data += chunk

    try:
        fd = proc.stdout.fileno()
        while (data.count(b"\n" + event + b" ") < count
               and data.count(b"\nA ") < KILL_BY_ACKS):
            read(deadline)
        if event == b"c" and data.count(b"\nc ") >= count:
            victim = data[data.rindex(b"\nc "):].split()[1]
            temp = str(path) + ".compact"
            while not os.path.exists(temp) and b"\nF " + victim + b"\n" not in data:
                read(0)
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    data += proc.stdout.read()
    proc.stdout.close()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return data.decode().splitlines()


def _kill_rounds(path, seed: int, rounds: int, deadline: float) -> dict:
    """SIGKILL the child `rounds` times at seeded moments, checking the journal after each
    kill: every acknowledged transaction present, nothing never appended, nothing resurrected."""
    child = _load_child()
    rng = random.Random(seed)
    must_have: dict = {}  # pointer -> txn of every acknowledged, not forgotten transaction
    may_have: dict = {}  # pointer -> txn appended or forgotten without confirmation
    kills, acked_total, torn_seen, compactions_cut = 0, 0, 0, 0
    for round_ in range(rounds):
        event = rng.choice([b"A", b"f", b"c"])
        count = rng.randint(1, 80 if event != b"c" else 8)
        lines = _run_until_kill(path, seed, round_, event, count, deadline)
        kills += 1
        assert lines[0].startswith("O ")
        acked = {int(l.split()[1]) for l in lines if l.startswith("A ")}
        forget_started = {int(l.split()[1]) for l in lines if l.startswith("f ")}
        forget_done = {int(l.split()[1]) for l in lines if l.startswith("F ")}
        acked_total += len(acked)
        last = max(acked)
        for index in range(last + 2):  # batch last+1 may have been written before the kill
            for t in child.batch_txns(seed, round_, index):
                if index in forget_done:
                    continue
                if index in acked and index not in forget_started:
                    must_have[t.pointer] = t
                else:
                    may_have[t.pointer] = t
        with open_journal(path) as j:  # the first open after the kill sees what it left
            replayed = j.replay()
            torn_seen += j.stats().open_torn_tail
            compactions_cut += j.stats().open_interrupted_compaction
        got = {t.pointer: t for t in replayed}
        lost = [p for p in must_have if got.get(p) != must_have[p]]
        assert lost == [], f"round {round_}: {len(lost)} acknowledged transactions lost"
        unexpected = [t for t in replayed
                      if must_have.get(t.pointer) != t and may_have.get(t.pointer) != t]
        assert unexpected == [], f"round {round_}: replayed transactions never appended"
        # what a round confirmed forgotten stays forgotten
        for index in forget_done:
            for t in child.batch_txns(seed, round_, index):
                assert t.pointer not in got
        for p in list(may_have):  # settle the uncertain ones as the journal now says
            if p in got:
                must_have[p] = may_have.pop(p)
            else:
                del may_have[p]
        assert len(replayed) == len(must_have)
    return {"kills": kills, "acked_batches": acked_total, "live": len(must_have),
            "torn_tails": torn_seen, "compactions_cut": compactions_cut}


def test_sigkill_at_random_moments_loses_no_acknowledged_transaction(tmp_path):
    figures = _kill_rounds(tmp_path / "journal", seed=20240607, rounds=8,
                           deadline=time.monotonic() + 60)
    assert figures["kills"] == 8 and figures["acked_batches"] >= 8 and figures["live"] > 0
    print(f"journal crash test: {figures}, 0 lost")


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(10))
def test_sigkill_many_seeds(tmp_path, seed):
    figures = _kill_rounds(tmp_path / "journal", seed=seed, rounds=25,
                           deadline=time.monotonic() + 300)
    assert figures["kills"] == 25
    print(f"journal crash test seed {seed}: {figures}, 0 lost")
