"""The transaction wire layout and the argument checks every layer shares.

Wire form, little-endian (docs/design.md §3)::

    sender 32 | sequence_number u64 | max_gas_amount u64 | gas_unit_price u64 |
    expiration_time u64 | payload_len u32 | payload | public_key 32 | signature 64

The offsets below are the only place the layout is written in Python; the Cython modules take
the same numbers from ``includes/wire.pxd`` and check at import that both agree. The checks
raise ``ValueError`` (``PointerError``, also a ``TypeError``, for something that is not a pair).
"""

from __future__ import annotations

import hashlib
import struct
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

from .errors import MalformedTransaction

if TYPE_CHECKING:
    import nacl.signing

__all__ = [
    "U64_MAX", "ADDRESS_LEN", "PUBLIC_KEY_LEN", "SIGNATURE_LEN", "HEADER", "RAW_HEADER_LEN",
    "TAIL_LEN", "MIN_WIRE_LEN", "SEQ_OFFSET", "EXPIRATION_OFFSET", "PAYLOAD_LEN_OFFSET",
    "POINTER", "PointerError", "check_bytes", "check_u64", "check_address", "check_pointer",
    "check_pointers", "parse_header", "pointer_of", "expiration_of", "as_bytes",
    "SIGNING_PREFIX", "DEFAULT_TTL_SECS", "account_address", "checked_fields", "signed_fields",
    "check_sender_length", "pack_pointer", "unpack_pointer",
]

#: Domain separator hashed in front of every signed message.
SIGNING_PREFIX = hashlib.sha3_256(b"mempool_fast::RawTransaction").digest()
#: `create(expiration_time=None)` expires this many seconds from now.
DEFAULT_TTL_SECS = 100

U64_MAX = (1 << 64) - 1

ADDRESS_LEN = 32
PUBLIC_KEY_LEN = 32
SIGNATURE_LEN = 64
#: sender, sequence_number, max_gas_amount, gas_unit_price, expiration_time, payload_len
HEADER = struct.Struct("<32sQQQQI")
RAW_HEADER_LEN = HEADER.size  # 68
TAIL_LEN = PUBLIC_KEY_LEN + SIGNATURE_LEN  # 96
MIN_WIRE_LEN = RAW_HEADER_LEN + TAIL_LEN  # 164
SEQ_OFFSET = 32
MAX_GAS_OFFSET = 40
PRICE_OFFSET = 48
EXPIRATION_OFFSET = 56
PAYLOAD_LEN_OFFSET = 64
#: A (sender, sequence_number) pointer as it travels in RPC frames and journal records.
POINTER = struct.Struct("<32sQ")

_U64 = struct.Struct("<Q")


class PointerError(TypeError, ValueError):
    """Something that should be a (sender, sequence_number) pair is not one."""


def as_bytes(value: object, what: str = "data") -> bytes:
    """`value` as bytes when it is bytes-like; never `bytes(n)` of an int (n zero bytes)."""
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise ValueError(f"{what} must be bytes, not {type(value).__name__}")
    return value if type(value) is bytes else bytes(value)


def check_bytes(name: str, value: object, length: int | None = None) -> bytes:
    """A bytes-like argument as bytes, of exactly `length` bytes when given."""
    value = as_bytes(value, name)
    if length is not None and len(value) != length:
        raise ValueError(f"{name} must be {length} bytes, got {len(value)}")
    return value


def check_u64(name: str, value: object) -> int:
    """An int (not a bool) in 0..2**64-1."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be an unsigned 64-bit integer, not {type(value).__name__}")
    if not 0 <= value <= U64_MAX:
        raise ValueError(f"{name} must be an unsigned 64-bit integer, got {value}")
    return value


def check_address(value: object, name: str = "address", length: int = ADDRESS_LEN) -> bytes:
    """An account address of `length` bytes (32, the native format's, unless a transaction
    format with other senders says otherwise: Ethereum's are 20)."""
    return check_bytes(name, value, length)


def check_sender_length(length: object) -> int:
    """A transaction format's sender length: an int in 1..ADDRESS_LEN (a pointer key pads a
    shorter sender to ADDRESS_LEN bytes, `pack_pointer`)."""
    if not isinstance(length, int) or isinstance(length, bool) or not 1 <= length <= ADDRESS_LEN:
        raise ValueError(f"a sender length must be an int in 1..{ADDRESS_LEN}, got {length!r}")
    return length


def check_pointer(pair: Any, name: str = "pointer", sender_length: int = ADDRESS_LEN
                  ) -> tuple[bytes, int]:
    """A (sender, sequence_number) pair with a `sender_length`-byte sender (32 unless given)
    and a u64 sequence number (`pair` is any object: this is the check)."""
    try:
        sender, seq = pair
    except (TypeError, ValueError):
        raise PointerError(
            f"{name}: expected a (sender, sequence_number) pair, got {pair!r}") from None
    return (check_address(sender, f"{name} sender", sender_length),
            check_u64(f"{name} sequence number", seq))


def check_pointers(pairs: Iterable[object], name: str = "pointer",
                   sender_length: int = ADDRESS_LEN) -> list[tuple[bytes, int]]:
    """Every pair checked before anything changes."""
    return [check_pointer(pair, name, sender_length) for pair in pairs]


def pack_pointer(sender: bytes, sequence_number: int) -> bytes:
    """A pointer as its 40-byte key (`POINTER`: sender | seq u64 LE), whatever the format: a
    sender shorter than 32 bytes (Ethereum's 20) is padded with zero bytes at the end, so the
    key of a native transaction is still the first 40 bytes of its wire form."""
    return POINTER.pack(sender, sequence_number)


def unpack_pointer(key: bytes, sender_length: int = ADDRESS_LEN) -> tuple[bytes, int]:
    """The (sender, seq) of a 40-byte pointer key (`pack_pointer`), its sender cut back to
    the format's `sender_length`."""
    sender, seq = POINTER.unpack(key)
    return (sender if sender_length == ADDRESS_LEN else sender[:sender_length]), seq


def parse_header(data: bytes) -> tuple[bytes, int, int, int, int]:
    """(sender, seq, max_gas, gas_price, expiration) of wire bytes whose length is consistent
    with their payload length; MalformedTransaction otherwise."""
    if len(data) < MIN_WIRE_LEN:
        raise MalformedTransaction(
            f"transaction is {len(data)} bytes, shorter than the minimum {MIN_WIRE_LEN}")
    sender, seq, max_gas, price, expiration, payload_len = HEADER.unpack_from(data)
    expected = MIN_WIRE_LEN + payload_len
    if len(data) != expected:
        raise MalformedTransaction(
            f"payload length {payload_len} implies {expected} bytes, got {len(data)}")
    return sender, seq, max_gas, price, expiration


def pointer_of(wire: bytes | bytearray | memoryview) -> tuple[bytes, int]:
    """(sender, sequence_number) read straight from wire bytes (no checks)."""
    seq: int = _U64.unpack_from(wire, SEQ_OFFSET)[0]
    return bytes(wire[:ADDRESS_LEN]), seq


def expiration_of(wire: bytes | bytearray | memoryview) -> int:
    """The client expiration time read straight from wire bytes (no checks)."""
    expiration: int = _U64.unpack_from(wire, EXPIRATION_OFFSET)[0]
    return expiration


def account_address(public_key: bytes) -> bytes:
    """The account address of an Ed25519 public key: SHA3-256 of its 32 bytes."""
    if not isinstance(public_key, (bytes, bytearray)) or len(public_key) != PUBLIC_KEY_LEN:
        raise ValueError("public_key must be 32 bytes")
    return hashlib.sha3_256(public_key).digest()


def raw_bytes(sender: bytes, seq: int, max_gas: int, price: int, expiration: int,
              payload: bytes) -> bytes:
    """The signed part of the wire form."""
    return HEADER.pack(sender, seq, max_gas, price, expiration, len(payload)) + payload


def checked_fields(sender: object, sequence_number: object, payload: object,
                   max_gas_amount: object, gas_unit_price: object, expiration_time: object,
                   public_key: object, signature: object
                   ) -> tuple[bytes, int, int, int, int, bytes]:
    """The constructor's checks (both transaction classes):
    (sender, seq, max_gas, price, expiration, wire)."""
    payload = check_bytes("payload", payload)
    if len(payload) > 0xFFFFFFFF:
        raise ValueError("payload longer than 2**32 - 1 bytes")
    sender = check_bytes("sender", sender, ADDRESS_LEN)
    sequence_number = check_u64("sequence_number", sequence_number)
    max_gas_amount = check_u64("max_gas_amount", max_gas_amount)
    gas_unit_price = check_u64("gas_unit_price", gas_unit_price)
    expiration_time = check_u64("expiration_time", expiration_time)
    public_key = check_bytes("public_key", public_key, PUBLIC_KEY_LEN)
    signature = check_bytes("signature", signature, SIGNATURE_LEN)
    wire = raw_bytes(sender, sequence_number, max_gas_amount, gas_unit_price, expiration_time,
                     payload) + public_key + signature
    return sender, sequence_number, max_gas_amount, gas_unit_price, expiration_time, wire


class SignedFields(TypedDict):
    """The constructor arguments of a transaction (what `signed_fields` returns)."""

    sender: bytes
    sequence_number: int
    payload: bytes
    max_gas_amount: int
    gas_unit_price: int
    expiration_time: int
    public_key: bytes
    signature: bytes


def signed_fields(signing_key: nacl.signing.SigningKey, sequence_number: int, payload: bytes,
                  max_gas_amount: int, gas_unit_price: int,
                  expiration_time: int | None) -> SignedFields:
    """Constructor arguments of a transaction signed with a `nacl.signing.SigningKey`
    (both classes' `create`)."""
    public_key = bytes(signing_key.verify_key)
    if expiration_time is None:
        expiration_time = int(time.time()) + DEFAULT_TTL_SECS
    for name, value in (("sequence_number", sequence_number),
                        ("max_gas_amount", max_gas_amount),
                        ("gas_unit_price", gas_unit_price),
                        ("expiration_time", expiration_time)):
        check_u64(name, value)
    sender = account_address(public_key)
    raw = raw_bytes(sender, sequence_number, max_gas_amount, gas_unit_price, expiration_time,
                    check_bytes("payload", payload))
    signature = signing_key.sign(SIGNING_PREFIX + raw).signature
    return SignedFields(sender=sender, sequence_number=sequence_number, payload=payload,
                        max_gas_amount=max_gas_amount, gas_unit_price=gas_unit_price,
                        expiration_time=expiration_time, public_key=public_key,
                        signature=signature)


class DescribedTransaction(Protocol):
    """What `describe` reads of a transaction (either class)."""

    @property
    def sender(self) -> bytes: ...
    @property
    def sequence_number(self) -> int: ...
    @property
    def gas_unit_price(self) -> int: ...
    @property
    def max_gas_amount(self) -> int: ...
    @property
    def expiration_time(self) -> int: ...
    def to_bytes(self) -> bytes: ...


def describe(txn: DescribedTransaction) -> str:
    """The repr both transaction classes share."""
    return (f"SignedTransaction(sender={txn.sender.hex()[:16]}…, "
            f"sequence_number={txn.sequence_number}, gas_unit_price={txn.gas_unit_price}, "
            f"max_gas_amount={txn.max_gas_amount}, expiration_time={txn.expiration_time}, "
            f"payload={len(txn.to_bytes()) - MIN_WIRE_LEN}B)")
