"""Account state (sequence number, balance) behind one small interface.

``AccountStateReader.get_account_states(addresses)`` answers a whole batch at once with
``(sequence_number, balance)`` or ``None`` for an unknown account; ``unknown_account(address)``
turns that ``None`` into the status the submit path returns. ``InMemoryAccountStore`` is for
tests and simulations, ``SqliteAccountStore(path)`` is a node's embedded default.
"""

from __future__ import annotations

import abc
import os
import sqlite3
import threading
from typing import Iterable, Sequence

from ._wire import U64_MAX, check_address, check_u64
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


def _check_rows(accounts: Iterable[tuple[bytes, int, int]]) -> list[tuple[bytes, int, int]]:
    rows = []
    for item in accounts:
        try:
            address, sequence_number, balance = item
        except (TypeError, ValueError):
            raise ValueError(
                f"expected (address, sequence_number, balance), got {item!r}") from None
        rows.append((check_address(address), check_u64("sequence_number", sequence_number),
                     check_u64("balance", balance)))
    return rows


def _check_committed(committed: Iterable[tuple[bytes, int]]) -> list[tuple[bytes, int]]:
    pairs = []
    for item in committed:
        try:
            address, sequence_number = item
        except (TypeError, ValueError):
            raise ValueError(f"expected (address, sequence_number), got {item!r}") from None
        seq = check_u64("sequence_number", sequence_number)
        if seq == U64_MAX:
            raise ValueError("a committed sequence number cannot be the largest u64")
        pairs.append((check_address(address), seq))
    return pairs


class AccountStateReader(abc.ABC):
    """What the validator and submit path need from account storage."""

    @abc.abstractmethod
    def get_account_states(self, addresses: Sequence[bytes]) -> list[AccountState | None]:
        """One ``(sequence_number, balance)`` or ``None`` (unknown) per address, in order."""


class InMemoryAccountStore(AccountStateReader):
    """A dict of accounts guarded by a lock; a batch read sees one consistent state."""

    def __init__(self, accounts: Iterable[tuple[bytes, int, int]] = ()) -> None:
        self._accounts: dict[bytes, AccountState] = {}
        self._lock = threading.Lock()
        self.set_accounts(accounts)

    def set_account(self, address: bytes, sequence_number: int, balance: int) -> None:
        self.set_accounts([(address, sequence_number, balance)])

    def set_accounts(self, accounts: Iterable[tuple[bytes, int, int]]) -> None:
        """Create or overwrite several accounts at once (all or nothing)."""
        rows = _check_rows(accounts)
        with self._lock:
            for address, seq, balance in rows:
                self._accounts[address] = (seq, balance)

    def apply_committed(self, committed: Iterable[tuple[bytes, int]]) -> None:
        """Advance each known sender's sequence number past a committed ``(address, seq)``."""
        pairs = _check_committed(committed)
        with self._lock:
            for address, seq in pairs:
                state = self._accounts.get(address)
                if state is not None and state[0] <= seq:
                    self._accounts[address] = (seq + 1, state[1])

    def get_account_states(self, addresses: Sequence[bytes]) -> list[AccountState | None]:
        keys = [check_address(address) for address in addresses]
        with self._lock:
            get = self._accounts.get
            return [get(key) for key in keys]

    def __len__(self) -> int:
        return len(self._accounts)


def _to_i64(value: int) -> int:
    # SQLite integers are signed 64-bit: a u64 is stored as its two's-complement value.
    return value - _I64_SPAN if value > _I64_MAX else value


def _to_u64(value: int) -> int:
    return value + _I64_SPAN if value < 0 else value


class SqliteAccountStore(AccountStateReader):
    """Accounts in an SQLite file (WAL mode), one connection per thread.

    A batch read is one ``SELECT ... IN (...)`` per chunk of at most SQLite's variable limit,
    inside one read transaction so a batch sees a single snapshot even while a writer commits.
    """

    def __init__(self, path: str | os.PathLike, *, timeout: float = 5.0,
                 max_variables: int | None = None) -> None:
        """Open (creating if needed) the store at ``path``.

        ``timeout``: seconds a writer waits for the write lock (sqlite3's default);
        ``max_variables``: cap on addresses per query, below SQLite's own limit.
        """
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
        self._max_vars = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        if max_variables is not None:
            if not isinstance(max_variables, int) or max_variables < 1:
                raise ValueError(f"max_variables must be a positive int, got {max_variables!r}")
            self._max_vars = min(self._max_vars, max_variables)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and not self._closed:
            return conn
        with self._lock:
            if self._closed:
                raise RuntimeError(f"SqliteAccountStore({self.path!r}) is closed")
            # check_same_thread=False only so close() may close every thread's connection;
            # each connection is otherwise used by the thread that opened it.
            conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA synchronous=NORMAL")
            self._connections.append(conn)
        self._local.conn = conn
        return conn

    def set_account(self, address: bytes, sequence_number: int, balance: int) -> None:
        self.set_accounts([(address, sequence_number, balance)])

    def set_accounts(self, accounts: Iterable[tuple[bytes, int, int]]) -> None:
        """Create or overwrite several accounts in one transaction (all or nothing)."""
        rows = [(a, _to_i64(s), _to_i64(b)) for a, s, b in _check_rows(accounts)]
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
        pairs = _check_committed(committed)
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
        keys = [check_address(address) for address in addresses]
        if not keys:
            return []
        unique = list(dict.fromkeys(keys))
        found: dict[bytes, AccountState] = {}
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            for start in range(0, len(unique), self._max_vars):
                chunk = unique[start:start + self._max_vars]
                query = ("SELECT address, sequence_number, balance FROM accounts WHERE address "
                         f"IN ({','.join('?' * len(chunk))})")
                for address, seq, balance in conn.execute(query, chunk):
                    found[address] = (_to_u64(seq), _to_u64(balance))
        finally:
            conn.execute("COMMIT")
        return [found.get(key) for key in keys]

    def __len__(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM accounts").fetchone()[0]

    def close(self) -> None:
        """Close every thread's connection; the store must not be used afterwards."""
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
