"""SignedTransaction, account addresses, and the wire format (docs/design.md §3).

`SignedTransaction` is the Cython class of `_transaction.pyx` unless pure Python is selected
(`mempool_fast._impl`); `PySignedTransaction` here is always the pure-Python one. Both behave
identically and compare equal by wire form; `TRANSACTION_IMPLEMENTATION` says which one
`SignedTransaction` is. The layout and the argument checks live in `mempool_fast._wire`.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Self

from . import _impl
from ._wire import (
    ADDRESS_LEN, DEFAULT_TTL_SECS, MIN_WIRE_LEN, PUBLIC_KEY_LEN, RAW_HEADER_LEN, SIGNATURE_LEN,
    SIGNING_PREFIX, TAIL_LEN, account_address, as_bytes, checked_fields, describe, parse_header,
    signed_fields,
)
from .errors import MalformedTransaction

if TYPE_CHECKING:
    import nacl.signing
    from typing_extensions import TypeIs

    from ._transaction import SignedTransaction as _CythonTransaction

#: Bytes of `SignedTransaction.hash` (SHA3-256 of the wire form).
HASH_LEN = 32
_sha3_256 = hashlib.sha3_256

__all__ = ["SignedTransaction", "PySignedTransaction", "account_address", "MalformedTransaction",
           "is_transaction", "check_transaction_hash", "HASH_LEN",
           "SIGNING_PREFIX", "TRANSACTION_IMPLEMENTATION", "ADDRESS_LEN", "PUBLIC_KEY_LEN",
           "SIGNATURE_LEN", "RAW_HEADER_LEN", "MIN_WIRE_LEN", "DEFAULT_TTL_SECS"]


class PySignedTransaction:
    """An immutable signed transaction; equal and hashable by content.

    It keeps its wire form and, decoded, only the fields the mempool reads on every operation;
    `payload`, `public_key` and `signature` are sliced from the wire form when asked for.
    """

    __slots__ = ("sender", "sequence_number", "max_gas_amount", "gas_unit_price",
                 "expiration_time", "_wire", "_hash", "_digest")

    sender: bytes
    sequence_number: int
    max_gas_amount: int
    gas_unit_price: int
    expiration_time: int
    _wire: bytes
    _hash: int | None
    _digest: bytes | None

    def __init__(self, *, sender: bytes, sequence_number: int, payload: bytes,
                 max_gas_amount: int, gas_unit_price: int, expiration_time: int,
                 public_key: bytes, signature: bytes) -> None:
        self._init(*checked_fields(sender, sequence_number, payload, max_gas_amount,
                                   gas_unit_price, expiration_time, public_key, signature))

    def _init(self, sender: bytes, sequence_number: int, max_gas_amount: int,
              gas_unit_price: int, expiration_time: int, wire: bytes) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "sender", sender)
        setattr_(self, "sequence_number", sequence_number)
        setattr_(self, "max_gas_amount", max_gas_amount)
        setattr_(self, "gas_unit_price", gas_unit_price)
        setattr_(self, "expiration_time", expiration_time)
        setattr_(self, "_wire", wire)
        setattr_(self, "_hash", None)
        setattr_(self, "_digest", None)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("SignedTransaction is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("SignedTransaction is immutable")

    @property
    def payload(self) -> bytes:
        return self._wire[RAW_HEADER_LEN:-TAIL_LEN]

    @property
    def public_key(self) -> bytes:
        return self._wire[-TAIL_LEN:-SIGNATURE_LEN]

    @property
    def signature(self) -> bytes:
        return self._wire[-SIGNATURE_LEN:]

    # -- construction --
    @classmethod
    def create(cls, signing_key: nacl.signing.SigningKey, sequence_number: int, *,
               payload: bytes = b"", max_gas_amount: int = 1_000_000, gas_unit_price: int = 0,
               expiration_time: int | None = None) -> Self:
        """Build and sign a transaction with a `nacl.signing.SigningKey`."""
        return cls(**signed_fields(signing_key, sequence_number, payload, max_gas_amount,
                                   gas_unit_price, expiration_time))

    # -- encoding --
    def raw_bytes(self) -> bytes:
        """The signed part: sender | seq | max_gas | gas_price | expiration | len | payload."""
        return self._wire[:-TAIL_LEN]

    def signing_message(self) -> bytes:
        """What the signature covers: SHA3-256 domain prefix followed by the raw bytes."""
        return SIGNING_PREFIX + self.raw_bytes()

    def to_bytes(self) -> bytes:
        """Wire form: raw bytes | public key | signature."""
        return self._wire

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> Self:
        """Decode the wire form; raises MalformedTransaction on any inconsistency."""
        try:
            data = as_bytes(data)
        except ValueError:
            raise MalformedTransaction(f"expected bytes, got {type(data).__name__}") from None
        txn = cls.__new__(cls)
        txn._init(*parse_header(data), data)
        return txn

    # -- identity --
    @property
    def pointer(self) -> tuple[bytes, int]:
        """(sender, sequence_number): the transaction's place in the mempool."""
        return (self.sender, self.sequence_number)

    @property
    def hash(self) -> bytes:
        """SHA3-256 of the wire form (32 bytes): the transaction's id, what
        `CoreMempool.get_by_hash` finds it by. Computed on first use, then kept (O(1))."""
        digest = self._digest
        if digest is None:
            digest = _sha3_256(self._wire).digest()
            object.__setattr__(self, "_digest", digest)
        return digest

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, PySignedTransaction) and not _is_cython_transaction(other):
            return NotImplemented
        return self._wire == other.to_bytes()

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            h = hash(self._wire)
            object.__setattr__(self, "_hash", h)
        return h

    def __reduce__(self) -> tuple[Callable[[bytes], PySignedTransaction], tuple[bytes]]:
        return (PySignedTransaction.from_bytes, (self._wire,))

    def __repr__(self) -> str:
        return describe(self)


def check_transaction_hash(value: object) -> bytes:
    """A transaction hash argument: exactly 32 bytes of `bytes` (TypeError for another type,
    ValueError for another length; both cores raise these same errors)."""
    if not isinstance(value, bytes):
        raise TypeError(f"transaction hash must be bytes, not {type(value).__name__}")
    if len(value) != HASH_LEN:
        raise ValueError(f"transaction hash must be {HASH_LEN} bytes, got {len(value)}")
    return value


def is_transaction(obj: object) -> bool:
    """Whether `obj` is a SignedTransaction of either class."""
    return isinstance(obj, PySignedTransaction) or _is_cython_transaction(obj)


def _is_cython_transaction(obj: object) -> TypeIs[_CythonTransaction]:
    """Whether `obj` is a Cython SignedTransaction (loaded even when pure Python is selected,
    if some code imported the extension directly)."""
    module = sys.modules.get("mempool_fast._transaction")
    return module is not None and isinstance(obj, module.SignedTransaction)


_ext = _impl.extension("_transaction", "Cython SignedTransaction")
if TYPE_CHECKING:
    # For the type checker `SignedTransaction` is the pure class: both classes have one surface
    # (mempool_fast/_transaction.pyi, kept equal to it by tests/test_stubs.py).
    SignedTransaction = PySignedTransaction
else:
    SignedTransaction = PySignedTransaction if _ext is None else _ext.SignedTransaction
#: "cython" or "python": what `SignedTransaction` is.
TRANSACTION_IMPLEMENTATION = "python" if _ext is None else "cython"
