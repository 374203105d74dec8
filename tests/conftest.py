"""Fixtures shared by the whole suite: every core test runs on every available core."""

from __future__ import annotations

import threading
import time

import nacl.signing
import pytest

from mempool_fast import MempoolConfig, SignedTransaction
from mempool_fast import pure

CORES = {"python": pure.CoreMempool}
try:
    from mempool_fast._core import CoreMempool as _CythonCore
except ImportError:  # the build is checked by test_build.py
    _CythonCore = None
else:
    CORES["cython"] = _CythonCore


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.005) -> bool:
    """Poll `predicate` until it is true or `timeout` seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return bool(predicate())
        threading.Event().wait(interval)


class FakeClock:
    """A clock tests move by hand: `clock()` returns seconds, `advance(s)` moves it."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(params=sorted(CORES))
def core_cls(request):
    """The CoreMempool class of each available core."""
    return CORES[request.param]


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
    """Deterministic signing keys by index, and signed transactions from them."""

    def __init__(self) -> None:
        self._keys: dict[int, nacl.signing.SigningKey] = {}

    def key(self, index: int) -> nacl.signing.SigningKey:
        key = self._keys.get(index)
        if key is None:
            key = self._keys[index] = nacl.signing.SigningKey(index.to_bytes(32, "little"))
        return key

    def address(self, index: int) -> bytes:
        return self.txn(index, 0).sender

    def txn(self, index: int, seq: int, *, gas_price: int = 1, payload: bytes = b"",
            max_gas: int = 1_000, expiration: int = 4_000_000_000) -> SignedTransaction:
        return SignedTransaction.create(self.key(index), seq, payload=payload,
                                        max_gas_amount=max_gas, gas_unit_price=gas_price,
                                        expiration_time=expiration)


@pytest.fixture(scope="session")
def accounts():
    return Accounts()
