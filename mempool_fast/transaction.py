"""SignedTransaction, account addresses, and the wire format (DESIGN.md §3).

`SignedTransaction` is the Cython class of `_transaction.pyx` unless the environment sets
``MEMPOOL_FAST_PUREPYTHON=1`` (or the extension cannot be imported, which warns), as for the
core; `PySignedTransaction` here is always the pure-Python one. Both behave identically and
compare equal by wire form; `TRANSACTION_IMPLEMENTATION` says which one `SignedTransaction` is.
"""

from __future__ import annotations

import hashlib
import os
import struct
import sys
import time
import warnings

from .types import U64_MAX, MalformedTransaction

__all__ = ["SignedTransaction", "PySignedTransaction", "account_address", "MalformedTransaction",
           "SIGNING_PREFIX", "TRANSACTION_IMPLEMENTATION"]

#: Domain separator hashed in front of every signed message.
SIGNING_PREFIX = hashlib.sha3_256(b"mempool_fast::RawTransaction").digest()

ADDRESS_LEN = 32
PUBLIC_KEY_LEN = 32
SIGNATURE_LEN = 64
_HEADER = struct.Struct("<32sQQQQI")  # sender, seq, max_gas, gas_price, expiration, payload_len
RAW_HEADER_LEN = _HEADER.size  # 68
MIN_WIRE_LEN = RAW_HEADER_LEN + PUBLIC_KEY_LEN + SIGNATURE_LEN
DEFAULT_TTL_SECS = 100


def account_address(public_key: bytes) -> bytes:
    """The account address of an Ed25519 public key: SHA3-256 of its 32 bytes."""
    if not isinstance(public_key, (bytes, bytearray)) or len(public_key) != PUBLIC_KEY_LEN:
        raise ValueError("public_key must be 32 bytes")
    return hashlib.sha3_256(public_key).digest()


def _check_bytes(name: str, value, length: int | None = None) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise ValueError(f"{name} must be bytes, not {type(value).__name__}")
    value = bytes(value)
    if length is not None and len(value) != length:
        raise ValueError(f"{name} must be {length} bytes, got {len(value)}")
    return value


def _check_u64(name: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value <= U64_MAX:
        raise ValueError(f"{name} must be an unsigned 64-bit integer, got {value}")
    return value


class PySignedTransaction:
    """An immutable signed transaction; equal and hashable by content.

    It keeps its wire form and, decoded, only the fields the mempool reads on every operation;
    `payload`, `public_key` and `signature` are sliced from the wire form when asked for. A
    million pending transactions cost their wire bytes plus ~300 bytes each.
    """

    __slots__ = ("sender", "sequence_number", "max_gas_amount", "gas_unit_price",
                 "expiration_time", "_wire", "_hash")

    def __init__(self, *, sender: bytes, sequence_number: int, payload: bytes,
                 max_gas_amount: int, gas_unit_price: int, expiration_time: int,
                 public_key: bytes, signature: bytes) -> None:
        self._init(*_checked_fields(sender, sequence_number, payload, max_gas_amount,
                                    gas_unit_price, expiration_time, public_key, signature))

    def _init(self, sender, sequence_number, max_gas_amount, gas_unit_price, expiration_time,
              wire) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "sender", sender)
        setattr_(self, "sequence_number", sequence_number)
        setattr_(self, "max_gas_amount", max_gas_amount)
        setattr_(self, "gas_unit_price", gas_unit_price)
        setattr_(self, "expiration_time", expiration_time)
        setattr_(self, "_wire", wire)
        setattr_(self, "_hash", None)

    def __setattr__(self, name, value):
        raise AttributeError("SignedTransaction is immutable")

    def __delattr__(self, name):
        raise AttributeError("SignedTransaction is immutable")

    @property
    def payload(self) -> bytes:
        return self._wire[RAW_HEADER_LEN:-(PUBLIC_KEY_LEN + SIGNATURE_LEN)]

    @property
    def public_key(self) -> bytes:
        return self._wire[-(PUBLIC_KEY_LEN + SIGNATURE_LEN):-SIGNATURE_LEN]

    @property
    def signature(self) -> bytes:
        return self._wire[-SIGNATURE_LEN:]

    # -- construction --
    @classmethod
    def create(cls, signing_key, sequence_number: int, *, payload: bytes = b"",
               max_gas_amount: int = 1_000_000, gas_unit_price: int = 0,
               expiration_time: int | None = None) -> "PySignedTransaction":
        """Build and sign a transaction with a `nacl.signing.SigningKey`."""
        return cls(**_signed_fields(signing_key, sequence_number, payload, max_gas_amount,
                                    gas_unit_price, expiration_time))

    # -- encoding --
    def raw_bytes(self) -> bytes:
        """The signed part: sender | seq | max_gas | gas_price | expiration | len | payload."""
        return self._wire[:-(PUBLIC_KEY_LEN + SIGNATURE_LEN)]

    def signing_message(self) -> bytes:
        """What the signature covers: SHA3-256 domain prefix followed by the raw bytes."""
        return SIGNING_PREFIX + self.raw_bytes()

    def to_bytes(self) -> bytes:
        """Wire form: raw bytes | public key | signature."""
        return self._wire

    @classmethod
    def from_bytes(cls, data) -> "PySignedTransaction":
        """Decode the wire form; raises MalformedTransaction on any inconsistency."""
        if not isinstance(data, (bytes, bytearray, memoryview)):  # bytes(n) would be n zeros
            raise MalformedTransaction(f"expected bytes, got {type(data).__name__}")
        data = bytes(data)
        if len(data) < MIN_WIRE_LEN:
            raise MalformedTransaction(
                f"transaction is {len(data)} bytes, shorter than the minimum {MIN_WIRE_LEN}")
        sender, seq, max_gas, price, expiration, payload_len = _HEADER.unpack_from(data)
        expected = MIN_WIRE_LEN + payload_len
        if len(data) != expected:
            raise MalformedTransaction(
                f"payload length {payload_len} implies {expected} bytes, got {len(data)}")
        txn = cls.__new__(cls)
        txn._init(sender, seq, max_gas, price, expiration, data)
        return txn

    # -- identity --
    @property
    def pointer(self) -> tuple[bytes, int]:
        """(sender, sequence_number): the transaction's place in the mempool."""
        return (self.sender, self.sequence_number)

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, PySignedTransaction) and not _is_cython_transaction(other):
            return NotImplemented
        return self.to_bytes() == other.to_bytes()

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            h = hash(self.to_bytes())
            object.__setattr__(self, "_hash", h)
        return h

    def __reduce__(self):
        return (PySignedTransaction.from_bytes, (self.to_bytes(),))

    def __repr__(self) -> str:
        return (f"SignedTransaction(sender={self.sender.hex()[:16]}…, "
                f"sequence_number={self.sequence_number}, gas_unit_price={self.gas_unit_price}, "
                f"max_gas_amount={self.max_gas_amount}, expiration_time={self.expiration_time}, "
                f"payload={len(self.payload)}B)")


def _checked_fields(sender, sequence_number, payload, max_gas_amount, gas_unit_price,
                    expiration_time, public_key, signature) -> tuple:
    """The constructor's checks (both classes): (sender, seq, max_gas, price, expiration, wire)."""
    payload = _check_bytes("payload", payload)
    if len(payload) > 0xFFFFFFFF:
        raise ValueError("payload longer than 2**32 - 1 bytes")
    sender = _check_bytes("sender", sender, ADDRESS_LEN)
    sequence_number = _check_u64("sequence_number", sequence_number)
    max_gas_amount = _check_u64("max_gas_amount", max_gas_amount)
    gas_unit_price = _check_u64("gas_unit_price", gas_unit_price)
    expiration_time = _check_u64("expiration_time", expiration_time)
    public_key = _check_bytes("public_key", public_key, PUBLIC_KEY_LEN)
    signature = _check_bytes("signature", signature, SIGNATURE_LEN)
    wire = _raw_bytes(sender, sequence_number, max_gas_amount, gas_unit_price, expiration_time,
                      payload) + public_key + signature
    return sender, sequence_number, max_gas_amount, gas_unit_price, expiration_time, wire


def _signed_fields(signing_key, sequence_number: int, payload: bytes, max_gas_amount: int,
                   gas_unit_price: int, expiration_time: int | None) -> dict:
    """Constructor arguments of a transaction signed with `signing_key` (both classes' create)."""
    public_key = bytes(signing_key.verify_key)
    if expiration_time is None:
        expiration_time = int(time.time()) + DEFAULT_TTL_SECS
    for name, value in (("sequence_number", sequence_number),
                        ("max_gas_amount", max_gas_amount),
                        ("gas_unit_price", gas_unit_price),
                        ("expiration_time", expiration_time)):
        _check_u64(name, value)
    sender = account_address(public_key)
    raw = _raw_bytes(sender, sequence_number, max_gas_amount, gas_unit_price, expiration_time,
                     bytes(payload))
    signature = signing_key.sign(SIGNING_PREFIX + raw).signature
    return dict(sender=sender, sequence_number=sequence_number, payload=payload,
                max_gas_amount=max_gas_amount, gas_unit_price=gas_unit_price,
                expiration_time=expiration_time, public_key=public_key, signature=signature)


def _raw_bytes(sender: bytes, seq: int, max_gas: int, price: int, expiration: int,
               payload: bytes) -> bytes:
    return _HEADER.pack(sender, seq, max_gas, price, expiration, len(payload)) + payload


def _want_pure() -> bool:
    return os.environ.get("MEMPOOL_FAST_PUREPYTHON", "").strip().lower() in ("1", "true", "yes")


SignedTransaction = PySignedTransaction
TRANSACTION_IMPLEMENTATION = "python"
if not _want_pure():
    try:
        from ._transaction import SignedTransaction
        TRANSACTION_IMPLEMENTATION = "cython"
    except ImportError as exc:  # pragma: no cover - depends on the build
        warnings.warn(f"mempool_fast: Cython SignedTransaction unavailable ({exc}); "
                      "using pure Python", RuntimeWarning, stacklevel=2)


def _is_cython_transaction(obj) -> bool:
    """Whether `obj` is a Cython SignedTransaction (none exists before its module is loaded)."""
    module = sys.modules.get("mempool_fast._transaction")
    return module is not None and isinstance(obj, module.SignedTransaction)
