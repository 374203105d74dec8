"""Account state (sequence number, balance) behind one small interface.

``AccountStateReader.get_account_states(addresses)`` answers a whole batch at once with
``(sequence_number, balance)`` or ``None`` for an unknown account; ``unknown_account(address)``
turns that ``None`` into the status the submit path returns. ``InMemoryAccountStore`` is for
tests and simulations, ``SqliteAccountStore(path)`` is a node's embedded default.

Both take ``address_length`` (default 32, the native format's senders; 20 for Ethereum: a
store answers for one transaction format's accounts, and an address of another length is a
``ValueError``). Sequence numbers are u64; a balance is any non-negative int (Ethereum
balances exceed 2**64). SQLite keeps a balance in 0..2**64-1 as an INTEGER, as it always did
(above 2**63 - 1 as its two's-complement value), and a larger one exactly as a BLOB of its
big-endian bytes, so existing databases read unchanged.
"""

from __future__ import annotations

import abc
import operator
import os
import sqlite3
import threading
from typing import Iterable, Self, Sequence

from ._wire import ADDRESS_LEN, U64_MAX, check_address, check_u64
from .types import MempoolAddTransactionStatus, MempoolAddTransactionStatusCode

__all__ = ["AccountState", "AccountStateReader", "InMemoryAccountStore", "SqliteAccountStore",
           "unknown_account"]

#: (sequence_number, balance)
AccountState = tuple[int, int]

_I64_SPAN = 1 << 64
_I64_MAX = (1 << 63) - 1


def unknown_account(address: bytes) -> MempoolAddTransactionStatus:
    """The status of a transaction whose sender has no account state."""
    return MempoolAddTransactionStatus(
        MempoolAddTransactionStatusCode.UNKNOWN_ACCOUNT,
        f"account {bytes(address).hex()} does not exist")


def check_address_length(length: object) -> int:
    """A store's address length: an int in 1..64."""
    if not isinstance(length, int) or isinstance(length, bool) or not 1 <= length <= 64:
        raise ValueError(f"address_length must be an int in 1..64, got {length!r}")
    return length


def check_balance(value: object) -> int:
    """A balance: a non-negative int of any size (not a bool)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"balance must be a non-negative integer, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"balance must be a non-negative integer, got {value}")
    return value


def _check_rows(accounts: Iterable[tuple[bytes, int, int]], address_length: int = ADDRESS_LEN
                ) -> list[tuple[bytes, int, int]]:
    rows = []
    for item in accounts:
        try:
            address, sequence_number, balance = item
        except (TypeError, ValueError):
            raise ValueError(
                f"expected (address, sequence_number, balance), got {item!r}") from None
        rows.append((check_address(address, "address", address_length),
                     check_u64("sequence_number", sequence_number), check_balance(balance)))
    return rows


def _check_committed(committed: Iterable[tuple[bytes, int]], address_length: int = ADDRESS_LEN
                     ) -> list[tuple[bytes, int]]:
    pairs = []
    for item in committed:
        try:
            address, sequence_number = item
        except (TypeError, ValueError):
            raise ValueError(f"expected (address, sequence_number), got {item!r}") from None
        seq = check_u64("sequence_number", sequence_number)
        if seq == U64_MAX:
            raise ValueError("a committed sequence number cannot be the largest u64")
        pairs.append((check_address(address, "address", address_length), seq))
    return pairs


class AccountStateReader(abc.ABC):
    """What the validator and submit path need from account storage."""

    @abc.abstractmethod
    def get_account_states(self, addresses: Sequence[bytes]) -> list[AccountState | None]:
        """One ``(sequence_number, balance)`` or ``None`` (unknown) per address, in order."""


class InMemoryAccountStore(AccountStateReader):
    """A dict of accounts guarded by a lock; a batch read sees one consistent state.
    `address_length`: bytes of every address (32 native, 20 Ethereum)."""

    def __init__(self, accounts: Iterable[tuple[bytes, int, int]] = (), *,
                 address_length: int = ADDRESS_LEN) -> None:
        self._accounts: dict[bytes, AccountState] = {}
        self._lock = threading.Lock()
        #: Bytes of every address this store holds (a transaction format's sender length).
        self.address_length = check_address_length(address_length)
        self._length_set = {self.address_length}
        self.set_accounts(accounts)

    def set_account(self, address: bytes, sequence_number: int, balance: int) -> None:
        self.set_accounts([(address, sequence_number, balance)])

    def set_accounts(self, accounts: Iterable[tuple[bytes, int, int]]) -> None:
        """Create or overwrite several accounts at once (all or nothing)."""
        rows = _check_rows(accounts, self.address_length)
        with self._lock:
            for address, seq, balance in rows:
                self._accounts[address] = (seq, balance)

    def apply_committed(self, committed: Iterable[tuple[bytes, int]]) -> None:
        """Advance each known sender's sequence number past a committed ``(address, seq)``."""
        pairs = _check_committed(committed, self.address_length)
        with self._lock:
            for address, seq in pairs:
                state = self._accounts.get(address)
                if state is not None and state[0] <= seq:
                    self._accounts[address] = (seq + 1, state[1])

    def get_account_states(self, addresses: Sequence[bytes]) -> list[AccountState | None]:
        keys = _addresses(addresses, self._length_set)
        with self._lock:
            return list(map(self._accounts.get, keys))

    def __len__(self) -> int:
        return len(self._accounts)


#: Prepared statements kept per connection (sqlite3's default is 128); `_padded` needs ~110.
_STATEMENT_CACHE = 256
_first = operator.itemgetter(0)
_BYTES = {bytes}
_ADDRESS_LEN = {ADDRESS_LEN}


def _padded(n: int) -> int:
    """`n` rounded up to the next size of the form m * 2**k with 8 <= m < 16 (at most 1/8 more;
    exact up to 16): about eight statement texts per doubling of the batch size."""
    if n <= 16:
        return n
    shift = n.bit_length() - 4
    return -(-n >> shift) << shift


def _addresses(addresses: Sequence[bytes], lengths: set[int] = _ADDRESS_LEN) -> list[bytes]:
    """The addresses as a list of bytes of the one length in `lengths` (checked per batch;
    each one only when the batch holds something else: then `check_address` converts or
    raises)."""
    keys = addresses if type(addresses) is list else list(addresses)
    if set(map(type, keys)) <= _BYTES and set(map(len, keys)) <= lengths:
        return keys
    (length,) = lengths
    return [check_address(address, "address", length) for address in keys]


def _to_i64(value: int) -> int:
    # SQLite integers are signed 64-bit: a u64 is stored as its two's-complement value.
    return value - _I64_SPAN if value > _I64_MAX else value


def _to_u64(value: int) -> int:
    return value + _I64_SPAN if value < 0 else value


def _balance_to_sql(value: int) -> int | bytes:
    """A balance as SQLite keeps it: a u64 as an INTEGER (`_to_i64`), a larger one as a BLOB
    of its big-endian bytes (a BLOB is stored as it is whatever the column's affinity; a
    large TEXT would be turned into a lossy REAL)."""
    if value <= U64_MAX:
        return value - _I64_SPAN if value > _I64_MAX else value
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _balance_of_sql(value: int | bytes) -> int:
    """The balance `_balance_to_sql` stored (the read path calls it for anything but a
    non-negative INTEGER)."""
    if isinstance(value, int):
        return value + _I64_SPAN if value < 0 else value
    return int.from_bytes(value, "big")


class SqliteAccountStore(AccountStateReader):
    """Accounts in an SQLite file (WAL mode), one connection per thread.

    A batch read is one SELECT (the addresses as a VALUES list joined to the table): a single
    statement is its own read transaction in autocommit mode, so the batch sees one snapshot
    even while a writer commits. A batch of more addresses than SQLite's variable limit is read
    in chunks of at most the limit inside one explicit read transaction (the same single
    snapshot). Parameter counts are rounded up to a few sizes so that the prepared statements
    stay in each connection's statement cache whatever the batch sizes.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 5.0,
                 max_variables: int | None = None, address_length: int = ADDRESS_LEN) -> None:
        """Open (creating if needed) the store at ``path``.

        ``timeout``: seconds a writer waits for the write lock (sqlite3's default);
        ``max_variables``: cap on addresses per query, below SQLite's own limit;
        ``address_length``: bytes of every address (32 native, 20 Ethereum). A store whose
        accounts have addresses of another length is refused (``ValueError`` naming both):
        a node of another transaction format would find none of them.
        """
        #: Bytes of every address this store holds (a transaction format's sender length).
        self.address_length = check_address_length(address_length)
        self._length_set = {self.address_length}
        path = os.fspath(path)
        if path == ":memory:" or path.startswith("file:"):
            raise ValueError("SqliteAccountStore needs a file path (each thread opens its own "
                             "connection); use InMemoryAccountStore for a throwaway store")
        self.path = path
        self._timeout = timeout
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        conn = self._conn()
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS accounts (address BLOB PRIMARY KEY, "
                     "sequence_number INTEGER NOT NULL, balance INTEGER NOT NULL) WITHOUT ROWID")
        row = conn.execute("SELECT length(address) FROM accounts LIMIT 1").fetchone()
        if row is not None and row[0] != self.address_length:
            self.close()
            raise ValueError(f"account store {path} holds {row[0]}-byte addresses, not "
                             f"{self.address_length}-byte ones (another transaction format's "
                             "accounts?)")
        self._max_vars = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        #: parameter count -> the batch read statement with that many parameters (`_select`)
        self._select_sql: dict[int, str] = {}
        if max_variables is not None:
            if not isinstance(max_variables, int) or max_variables < 1:
                raise ValueError(f"max_variables must be a positive int, got {max_variables!r}")
            self._max_vars = min(self._max_vars, max_variables)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and not self._closed:
            return conn
        with self._lock:
            if self._closed:
                raise RuntimeError(f"SqliteAccountStore({self.path!r}) is closed")
            # check_same_thread=False only so close() may close every thread's connection;
            # each connection is otherwise used by the thread that opened it.
            conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None,
                                   check_same_thread=False,
                                   cached_statements=_STATEMENT_CACHE)
            conn.execute("PRAGMA synchronous=NORMAL")
            self._connections.append(conn)
        self._local.conn = conn
        return conn

    def set_account(self, address: bytes, sequence_number: int, balance: int) -> None:
        self.set_accounts([(address, sequence_number, balance)])

    def set_accounts(self, accounts: Iterable[tuple[bytes, int, int]]) -> None:
        """Create or overwrite several accounts in one transaction (all or nothing)."""
        rows = [(a, _to_i64(s), _balance_to_sql(b))
                for a, s, b in _check_rows(accounts, self.address_length)]
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT INTO accounts (address, sequence_number, balance) VALUES (?, ?, ?) "
                "ON CONFLICT(address) DO UPDATE SET sequence_number = excluded.sequence_number, "
                "balance = excluded.balance", rows)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def apply_committed(self, committed: Iterable[tuple[bytes, int]]) -> None:
        """Advance each known sender's sequence number past a committed ``(address, seq)``."""
        pairs = _check_committed(committed, self.address_length)
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for address, seq in pairs:
                row = conn.execute("SELECT sequence_number FROM accounts WHERE address = ?",
                                   (address,)).fetchone()
                if row is not None and _to_u64(row[0]) <= seq:
                    conn.execute("UPDATE accounts SET sequence_number = ? WHERE address = ?",
                                 (_to_i64(seq + 1), address))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def get_account_states(self, addresses: Sequence[bytes]) -> list[AccountState | None]:
        keys = _addresses(addresses, self._length_set)
        if not keys:
            return []
        limit = self._max_vars
        conn = self._conn()
        if len(keys) <= limit:
            # One statement: in autocommit mode it is its own read transaction, one snapshot.
            return self._select(conn, keys)
        # Several statements: one read transaction around them keeps one snapshot.
        states: list[AccountState | None] = []
        conn.execute("BEGIN")
        try:
            for start in range(0, len(keys), limit):
                states += self._select(conn, keys[start:start + limit])
        finally:
            conn.execute("COMMIT")
        return states

    def _select(self, conn: sqlite3.Connection, keys: list[bytes]) -> list[AccountState | None]:
        """The state of each of `keys` (at most the variable limit), in order, in one statement.

        The addresses are a VALUES list LEFT JOINed to the table: one row per address, in the
        list's order (SQLite keeps a LEFT JOIN's left side as the outer loop; the addresses the
        rows carry are checked, with a lookup by address if the order ever differs). The list
        is padded with NULLs (which match nothing) to a size from `_padded`, so that a few
        statement texts serve every batch size from the connection's statement cache.
        """
        n = len(keys)
        size = min(_padded(n), self._max_vars)
        sql = self._select_sql.get(size)
        if sql is None:
            sql = self._select_sql.setdefault(size, (
                f"WITH k(address) AS (VALUES {','.join(['(?)'] * size)}) "
                "SELECT k.address, accounts.sequence_number, accounts.balance "
                "FROM k LEFT JOIN accounts ON accounts.address = k.address"))
        params = keys if size == n else keys + [None] * (size - n)
        rows = conn.execute(sql, params).fetchall()
        head = rows[:n] if len(rows) > n else rows
        if list(map(_first, head)) != keys:  # not in order (never seen): match by address
            found = {row[0]: row for row in rows if row[1] is not None}
            head = [found.get(key, (key, None, None)) for key in keys]
        return [None if seq is None else (
                    seq + _I64_SPAN if seq < 0 else seq,
                    balance if type(balance) is int and balance >= 0
                    else _balance_of_sql(balance))
                for _, seq, balance in head]

    def __len__(self) -> int:
        count: int = self._conn().execute("SELECT COUNT(*) FROM accounts").fetchone()[0]
        return count

    def close(self) -> None:
        """Close every thread's connection; the store must not be used afterwards."""
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
