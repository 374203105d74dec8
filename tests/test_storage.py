"""Account stores: in-memory and SQLite behave alike; SQLite persists and serves many threads."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from mempool_fast.storage import (
    AccountStateReader, InMemoryAccountStore, SqliteAccountStore, unknown_account,
)
from mempool_fast.types import U64_MAX, MempoolAddTransactionStatusCode as Code


def addr(i: int) -> bytes:
    return i.to_bytes(32, "big")


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path):
    if request.param == "memory":
        yield InMemoryAccountStore()
    else:
        with SqliteAccountStore(tmp_path / "accounts.db") as sqlite_store:
            yield sqlite_store


def test_round_trip_unknown_and_overwrite(store):
    assert isinstance(store, AccountStateReader)
    store.set_account(addr(1), 5, 100)
    store.set_accounts([(addr(2), 0, 0), (addr(3), U64_MAX, U64_MAX)])
    assert store.get_account_states([addr(3), addr(9), addr(1), addr(2), addr(1)]) == [
        (U64_MAX, U64_MAX), None, (5, 100), (0, 0), (5, 100)]
    store.set_account(addr(1), 6, 90)
    assert store.get_account_states([addr(1)]) == [(6, 90)]
    assert store.get_account_states([]) == []
    assert len(store) == 3


def test_values_straddling_the_signed_64_bit_boundary(store):
    values = [(1 << 63) - 1, 1 << 63, (1 << 63) + 1, U64_MAX - 1]
    store.set_accounts([(addr(i), v, v) for i, v in enumerate(values)])
    assert store.get_account_states([addr(i) for i in range(len(values))]) == [
        (v, v) for v in values]


@pytest.mark.parametrize("bad_row, match", [
    ((b"short", 1, 1), "32 bytes"),
    ((addr(1), -1, 1), "sequence_number"),
    ((addr(1), 1, -1), "balance"),
    ((addr(1), 1, True), "balance"),
    ((addr(1), 1.0, 1), "sequence_number"),
    (("x" * 32, 1, 1), "bytes"),
    ((addr(1), 1), "expected"),
])
def test_bad_rows_are_rejected_and_change_nothing(store, bad_row, match):
    store.set_account(addr(1), 1, 1)
    with pytest.raises(ValueError, match=match):
        store.set_accounts([(addr(2), 2, 2), bad_row])
    assert store.get_account_states([addr(1), addr(2)]) == [(1, 1), None]


def test_bad_address_in_read_is_an_error(store):
    with pytest.raises(ValueError, match="32 bytes"):
        store.get_account_states([addr(1), b"\0" * 31])


def test_apply_committed_advances_known_accounts_only(store):
    store.set_accounts([(addr(1), 3, 50), (addr(2), 10, 7)])
    store.apply_committed([(addr(1), 3), (addr(1), 5), (addr(2), 4), (addr(8), 0)])
    assert store.get_account_states([addr(1), addr(2), addr(8)]) == [(6, 50), (10, 7), None]
    with pytest.raises(ValueError):
        store.apply_committed([(addr(1), U64_MAX)])
    assert store.get_account_states([addr(1)]) == [(6, 50)]


def test_unknown_account_status():
    status = unknown_account(addr(0xAB))
    assert status.code == Code.UNKNOWN_ACCOUNT
    assert addr(0xAB).hex() in status.message


# -- SQLite specifics ------------------------------------------------------------------------------

def test_sqlite_survives_reopening_and_uses_wal(tmp_path):
    path = tmp_path / "state.db"
    with SqliteAccountStore(path) as first:
        first.set_accounts([(addr(i), i, 2 * i) for i in range(10)])
    with SqliteAccountStore(path) as second:
        assert second.get_account_states([addr(i) for i in range(10)]) == [
            (i, 2 * i) for i in range(10)]
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


@pytest.mark.parametrize("max_variables", [None, 100])
def test_sqlite_batch_reads_beyond_the_variable_limit(tmp_path, max_variables):
    with SqliteAccountStore(tmp_path / "big.db", max_variables=max_variables) as store:
        store.set_accounts([(addr(i), i, i + 1) for i in range(0, 2500, 2)])
        queried = [addr(i) for i in range(2500)] + [addr(0)]
        states = store.get_account_states(queried)
    assert len(states) == 2501
    assert states[:2500] == [(i, i + 1) if i % 2 == 0 else None for i in range(2500)]
    assert states[2500] == (0, 1)


def test_sqlite_rejects_memory_path_and_use_after_close(tmp_path):
    with pytest.raises(ValueError, match="file path"):
        SqliteAccountStore(":memory:")
    with pytest.raises(ValueError, match="max_variables"):
        SqliteAccountStore(tmp_path / "x.db", max_variables=0)
    store = SqliteAccountStore(tmp_path / "y.db")
    store.set_account(addr(1), 1, 1)
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.get_account_states([addr(1)])


def test_sqlite_concurrent_readers_see_consistent_batches(tmp_path):
    """Readers in several threads each see a whole batch from one write, never a mix."""
    n_accounts, rounds, n_readers = 1500, 30, 3
    store = SqliteAccountStore(tmp_path / "busy.db", max_variables=400)
    addresses = [addr(i) for i in range(n_accounts)]
    store.set_accounts([(a, 0, 0) for a in addresses])
    writer_done = threading.Event()
    errors: list[str] = []
    reads = [0] * n_readers

    def reader(slot: int) -> None:
        last = 0
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                finished = writer_done.is_set()
                states = store.get_account_states(addresses)
                versions = {s for s, _ in states}
                if len(versions) != 1 or any(b != s * 3 for s, b in states):
                    errors.append(f"reader {slot} saw a mixed batch: {sorted(versions)[:5]}")
                    return
                version = versions.pop()
                if version < last:
                    errors.append(f"reader {slot} went back from {last} to {version}")
                    return
                last = version
                reads[slot] += 1
                if finished:
                    if version != rounds:
                        errors.append(f"reader {slot} ended at {version}, not {rounds}")
                    return
            errors.append(f"reader {slot} timed out")
        except Exception as exc:  # reported by the main thread
            errors.append(f"reader {slot}: {exc!r}")

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(n_readers)]
    for thread in threads:
        thread.start()
    try:
        for version in range(1, rounds + 1):
            store.set_accounts([(a, version, version * 3) for a in addresses])
    finally:
        writer_done.set()
        for thread in threads:
            thread.join()
        store.close()
    assert errors == []
    assert all(count >= 1 for count in reads)


def test_in_memory_store_concurrent_readers(tmp_path):
    store = InMemoryAccountStore([(addr(i), 0, 0) for i in range(200)])
    stop = threading.Event()
    errors: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            versions = {s for s, _ in store.get_account_states([addr(i) for i in range(200)])}
            if len(versions) != 1:
                errors.append(f"mixed batch {sorted(versions)}")
                return

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        for version in range(1, 200):
            store.set_accounts([(addr(i), version, 0) for i in range(200)])
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert errors == []
    assert store.get_account_states([addr(5)]) == [(199, 0)]


# -- SQLite batch reads: statements, snapshot, order --------------------------------------------

def _statements(store):
    """The SQL statements this thread's connection runs from now on (a list that fills up)."""
    seen: list[str] = []
    store._conn().set_trace_callback(seen.append)
    return seen


def test_sqlite_batch_read_is_one_statement_within_the_variable_limit(tmp_path):
    with SqliteAccountStore(tmp_path / "one.db", max_variables=500) as store:
        store.set_accounts([(addr(i), i, 7) for i in range(0, 300, 3)])
        queried = [addr(i) for i in range(300)] + [addr(0), addr(3)]
        seen = _statements(store)
        states = store.get_account_states(queried)
        assert states == [(i, 7) if i % 3 == 0 else None for i in range(300)] + [(0, 7),
                                                                                    (3, 7)]
        assert len(seen) == 1 and seen[0].lstrip().upper().startswith("WITH")


def test_sqlite_chunked_read_is_one_read_transaction(tmp_path):
    with SqliteAccountStore(tmp_path / "chunks.db", max_variables=100) as store:
        store.set_accounts([(addr(i), i, 1) for i in range(250)])
        seen = _statements(store)
        assert store.get_account_states([addr(i) for i in range(250)]) == [
            (i, 1) for i in range(250)]
        assert [q.split()[0].upper() for q in seen] == ["BEGIN", "WITH", "WITH", "WITH",
                                                        "COMMIT"]


def test_sqlite_batch_sizes_share_a_few_prepared_statements(tmp_path):
    from mempool_fast.storage import _padded

    for n in range(1, 5000):
        padded = _padded(n)
        assert n <= padded <= max(n, n + n // 8 + 1)
    with SqliteAccountStore(tmp_path / "sizes.db") as store:
        store.set_accounts([(addr(i), i, i) for i in range(300)])
        seen = _statements(store)
        for n in range(1, 301):
            assert store.get_account_states([addr(i) for i in range(n)]) == [
                (i, i) for i in range(n)]
        # the trace shows the bound values: count the VALUES rows of each statement
        sizes = {query.count("),(") + 1 for query in seen}
        assert sizes == {_padded(n) for n in range(1, 301)} and len(sizes) <= 60


def test_sqlite_rows_out_of_order_are_matched_by_address(tmp_path):
    """The read relies on SQLite answering in the VALUES list's order only after checking it."""

    class Shuffling:
        def __init__(self, conn):
            self.conn = conn

        def execute(self, sql, params=()):
            rows = self.conn.execute(sql, params).fetchall()

            class Cursor:
                def fetchall(self):
                    return rows[::-1]
            return Cursor()

    with SqliteAccountStore(tmp_path / "order.db") as store:
        store.set_accounts([(addr(i), i, U64_MAX - i) for i in range(0, 40, 2)])
        store._local.conn = Shuffling(store._conn())
        queried = [addr(i) for i in range(40)] + [addr(2)]
        assert store.get_account_states(queried) == [
            (i, U64_MAX - i) if i % 2 == 0 else None for i in range(40)] + [(2, U64_MAX - 2)]


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_bytes_like_addresses_read_like_bytes(store, kind):
    store.set_accounts([(addr(1), 1, 2), (addr(2), 3, 4)])
    assert store.get_account_states([kind(addr(2)), addr(1), kind(addr(9))]) == [
        (3, 4), (1, 2), None]
    with pytest.raises(ValueError, match="bytes"):
        store.get_account_states([addr(1), 5])


# ------------------------------------------------------------------ transaction formats
@pytest.fixture(params=["memory", "sqlite"])
def store20(request, tmp_path):
    """A store of 20-byte addresses (the Ethereum format's senders)."""
    if request.param == "memory":
        yield InMemoryAccountStore(address_length=20)
    else:
        with SqliteAccountStore(tmp_path / "accounts20.db", address_length=20) as sqlite_store:
            yield sqlite_store


def test_20_byte_addresses_and_balances_of_any_size(store20):
    a, b, c = (bytes([i]) * 20 for i in (1, 2, 3))
    huge = 1000 * 10**18 * 10**40  # far above 2**128 too
    values = [U64_MAX, U64_MAX + 1, huge]
    store20.set_accounts([(a, 1, values[0]), (b, 2, values[1]), (c, 3, values[2])])
    assert store20.get_account_states([c, b, a, b"\x09" * 20]) == [
        (3, huge), (2, U64_MAX + 1), (1, U64_MAX), None]
    store20.apply_committed([(c, 3)])
    assert store20.get_account_states([c]) == [(4, huge)]
    assert store20.address_length == 20
    with pytest.raises(ValueError, match="20 bytes"):
        store20.get_account_states([addr(1)])
    with pytest.raises(ValueError, match="20 bytes"):
        store20.set_accounts([(b"\x04" * 20, 0, 0), (addr(1), 0, 0)])
    with pytest.raises(ValueError, match="20 bytes"):
        store20.apply_committed([(addr(1), 0)])
    assert store20.get_account_states([b"\x04" * 20]) == [None]  # nothing changed


def test_sqlite_big_balances_persist_exactly_and_old_rows_read_unchanged(tmp_path):
    path = tmp_path / "accounts.db"
    with SqliteAccountStore(path) as store:
        store.set_accounts([(addr(1), 1, (1 << 63) + 5), (addr(2), 2, 1 << 200)])
    raw = sqlite3.connect(path)
    try:  # a u64 stays an INTEGER (two's complement above 2**63 - 1), a larger one a BLOB
        rows = dict(raw.execute("SELECT sequence_number, typeof(balance) FROM accounts"))
    finally:
        raw.close()
    assert rows == {1: "integer", 2: "blob"}
    with SqliteAccountStore(path) as store:
        assert store.get_account_states([addr(1), addr(2)]) == [(1, (1 << 63) + 5),
                                                                (2, 1 << 200)]
        store.set_account(addr(2), 3, 7)  # back to an INTEGER
        assert store.get_account_states([addr(2)]) == [(3, 7)]


def test_sqlite_store_of_another_address_length_is_refused(tmp_path):
    path = tmp_path / "accounts.db"
    with SqliteAccountStore(path, address_length=20) as store:
        store.set_account(b"\x01" * 20, 0, 1)
    with pytest.raises(ValueError, match="holds 20-byte addresses, not 32-byte"):
        SqliteAccountStore(path)
    with pytest.raises(ValueError, match="address_length"):
        InMemoryAccountStore(address_length=0)
