"""Fixtures shared by the whole suite: one implementation matrix runs every core,
transaction and validator test over every implementation (multidict style).

`impl` is each *diagonal* implementation the build has: "cython" (the default install) and
"python" (what ``MEMPOOL_FAST_PUREPYTHON=1`` ships). `impl_any` adds the mixed pairs that can
meet in one process (a Cython core holding pure transactions and the reverse); the core's unit
tests use it. `core_cls` and `accounts` follow whichever of the two a test uses, so the
transactions a test builds are of its implementation's class.
"""

from __future__ import annotations

import threading
import time

import nacl.signing
import pytest

from mempool_fast import MempoolConfig, SignedTransaction, _impl

IMPLEMENTATIONS = _impl.matrix()
ALL_IMPLEMENTATIONS = _impl.matrix(mixed=True)
#: The core class of each diagonal implementation (kept for tests that want only cores).
CORES = {name: i.core for name, i in IMPLEMENTATIONS.items()}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def impl(request) -> _impl.Implementation:
    """Each diagonal implementation: its core, transaction and validator classes."""
    return IMPLEMENTATIONS[request.param]


@pytest.fixture(params=sorted(ALL_IMPLEMENTATIONS))
def impl_any(request) -> _impl.Implementation:
    """Each implementation, mixed pairs included."""
    return ALL_IMPLEMENTATIONS[request.param]


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.005) -> bool:
    """Poll `predicate` until it is true or `timeout` seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return bool(predicate())
        threading.Event().wait(interval)


def poll(predicate, what: str, deadline: float, interval: float = 0.02):
    """Poll `predicate` until it returns something true (returned), failing the test with
    "timed out waiting for `what`" after `deadline` seconds."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        threading.Event().wait(interval)
    raise AssertionError(f"timed out waiting for {what}")


class FakeClock:
    """A clock tests move by hand: `clock()` returns seconds, `advance(s)` moves it."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def core_cls(impl):
    """The CoreMempool class of each implementation."""
    return impl.core


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def make_core(core_cls, clock):
    """Build a core of the parametrized implementation: make_core(**config_fields)."""

    def make(**fields):
        return core_cls(MempoolConfig(**fields), clock=clock)

    return make


class Accounts:
    """Deterministic signing keys by index, and signed transactions (of `txn_cls`) from them."""

    def __init__(self, txn_cls=SignedTransaction) -> None:
        self._keys: dict[int, nacl.signing.SigningKey] = {}
        self.txn_cls = txn_cls

    def key(self, index: int) -> nacl.signing.SigningKey:
        key = self._keys.get(index)
        if key is None:
            key = self._keys[index] = nacl.signing.SigningKey(index.to_bytes(32, "little"))
        return key

    def address(self, index: int) -> bytes:
        return self.txn(index, 0).sender

    def txn(self, index: int, seq: int, *, gas_price: int = 1, payload: bytes = b"",
            max_gas: int = 1_000, expiration: int = 4_000_000_000) -> SignedTransaction:
        return self.txn_cls.create(self.key(index), seq, payload=payload,
                                   max_gas_amount=max_gas, gas_unit_price=gas_price,
                                   expiration_time=expiration)


_ACCOUNTS: dict[type, Accounts] = {}


@pytest.fixture(scope="session")
def default_accounts() -> Accounts:
    """Accounts of the selected SignedTransaction, for module- and session-scoped fixtures."""
    return _ACCOUNTS.setdefault(SignedTransaction, Accounts(SignedTransaction))


@pytest.fixture
def accounts(request) -> Accounts:
    """Accounts whose transactions are of the test's implementation (the selected
    SignedTransaction when the test uses none)."""
    names = request.fixturenames
    if "impl_any" in names:
        txn_cls = request.getfixturevalue("impl_any").transaction
    elif "impl" in names:
        txn_cls = request.getfixturevalue("impl").transaction
    else:
        txn_cls = SignedTransaction
    if txn_cls not in _ACCOUNTS:
        _ACCOUNTS[txn_cls] = Accounts(txn_cls)
    return _ACCOUNTS[txn_cls]
