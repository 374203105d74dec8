"""The shared mempool's peer protocol: messages and their compact binary encoding.

Every message starts with a version byte and a type byte, then (little-endian):

  BROADCAST: batch_start u64 | batch_end u64 | count u32 | count x (length u32 | txn wire bytes)
  ACK:       batch_start u64 | batch_end u64 | incarnation u64 | flags u8
             (flags bit 0: retry, bit 1: backoff)
  HELLO:     incarnation u64 | format_len u8 | format (ASCII: the sender's transaction format
             name, `formats.NAME_PATTERN`: "native", "ethereum", ...)
  BROADCAST_BUCKETS: n u8 | n x (start u64 | end u64) | count u32 | count x (length u32 | wire)
  ACK_BUCKETS:       n u8 | n x (start u64 | end u64) | incarnation u64 | flags u8

A batch is identified by its timeline range ``(batch_start, batch_end]`` on the sender. A node
with several broadcast buckets (`MempoolConfig.broadcast_buckets`) reads each batch from one
cursor per bucket, so its batch is identified by its per-bucket ranges ``(start_i, end_i]``
(n of them, lowest bucket first; ``start_i == end_i`` where the bucket gave nothing, at least
one not empty): it sends BROADCAST_BUCKETS and the receiver answers ACK_BUCKETS with the same
ranges. Those two types are an addition of version 2: a single-bucket node (the default) sends
exactly the messages it always did, and any node of this version understands both kinds, so
buckets may be turned on node by node once every validator runs it (an older node drops the
new types as malformed, unacknowledged). The
transactions of a broadcast stay in wire form here; the receiver decodes them one by one (see
`BroadcastRequest.transactions`) so a malformed transaction costs only itself.

A node's *incarnation* is a random 64-bit id chosen when it starts. It says HELLO to every peer
whose link comes up and stamps its acks with it, so a peer learns that it restarted (and lost
what it was sent) and starts its cursor over; a mere reconnect of the same incarnation keeps the
cursor. The HELLO also names the node's transaction format (`TransactionFormat.name`): a node
refuses a peer of another format (peer_messages.py). Nodes before formats said "mempool_fast"
(`LEGACY_NATIVE_FORMAT`), read as "native". The transactions of a broadcast are decoded with
the receiving node's format (`transactions(decode)`; the native `SignedTransaction.from_bytes`
by default). `decode` raises `MalformedMessage` for anything inconsistent. This module knows
nothing of threads or sockets.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .._wire import U64_MAX
from ..errors import MalformedMessage, MalformedTransaction
from ..formats import NAME_PATTERN
from ..transaction import SignedTransaction

#: Decodes one transaction's wire bytes (a format's `decode`): MalformedTransaction when bad.
Decoder = Callable[[bytes], Any]
_NATIVE_DECODE: Decoder = SignedTransaction.from_bytes

__all__ = [
    "VERSION", "MSG_BROADCAST", "MSG_ACK", "MSG_HELLO", "MSG_BROADCAST_BUCKETS",
    "MSG_ACK_BUCKETS", "MAX_RANGES", "NATIVE_FORMAT", "LEGACY_NATIVE_FORMAT",
    "hello_format", "BroadcastRequest", "Ack", "Hello",
    "BucketBroadcastRequest", "BucketAck", "encode", "decode", "encode_broadcast",
    "encode_bucket_broadcast", "MalformedMessage",
]

#: Encoding version; a message with another version is malformed.
VERSION = 2
MSG_BROADCAST = 1
MSG_ACK = 2
MSG_HELLO = 3
MSG_BROADCAST_BUCKETS = 4
MSG_ACK_BUCKETS = 5
#: Most per-bucket ranges a bucketed batch carries (MempoolConfig's most broadcast buckets).
MAX_RANGES = 64
#: The native transaction format's name, what a native node announces in its HELLO.
NATIVE_FORMAT = "native"
#: What native nodes announced before transaction formats had names: read as NATIVE_FORMAT.
LEGACY_NATIVE_FORMAT = "mempool_fast"

_PREFIX = struct.Struct("<BB")
_BROADCAST_HEAD = struct.Struct("<BBQQI")
_ACK = struct.Struct("<BBQQQB")
_HELLO_HEAD = struct.Struct("<BBQB")
_LEN = struct.Struct("<I")
_BUCKETS_HEAD = struct.Struct("<BBB")
_RANGE = struct.Struct("<QQ")
_ACK_BUCKETS_TAIL = struct.Struct("<QB")
_FLAG_RETRY = 1
_FLAG_BACKOFF = 2
_KNOWN_FLAGS = _FLAG_RETRY | _FLAG_BACKOFF


def _check_u64(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= U64_MAX:
        raise ValueError(f"{name} must be an unsigned 64-bit integer, got {value!r}")


def _check_range(batch_start: int, batch_end: int) -> None:
    _check_u64("batch_start", batch_start)
    _check_u64("batch_end", batch_end)
    if batch_start >= batch_end:
        raise ValueError(f"empty batch range ({batch_start}, {batch_end}]")


def _check_ranges(ranges: tuple[int, ...]) -> None:
    """Per-bucket ranges, flattened (start_0, end_0, start_1, end_1, ...): 1..MAX_RANGES of
    them, u64 bounds, start <= end each, at least one not empty."""
    if (not isinstance(ranges, tuple) or not 2 <= len(ranges) <= 2 * MAX_RANGES
            or len(ranges) % 2):
        raise ValueError(f"ranges must be 1 to {MAX_RANGES} (start, end) pairs, flattened, "
                         f"got {ranges!r}")
    for i, value in enumerate(ranges):
        _check_u64(f"ranges[{i}]", value)
    if any(ranges[i] > ranges[i + 1] for i in range(0, len(ranges), 2)):
        raise ValueError(f"a range ends before it starts in {ranges!r}")
    if all(ranges[i] == ranges[i + 1] for i in range(0, len(ranges), 2)):
        raise ValueError(f"every range is empty in {ranges!r}")


def hello_format(name: str) -> str:
    """The format a HELLO's name means (`LEGACY_NATIVE_FORMAT` is the native one)."""
    return NATIVE_FORMAT if name == LEGACY_NATIVE_FORMAT else name


def _decode_wires(wires: tuple[bytes, ...], from_bytes: Decoder = _NATIVE_DECODE
                  ) -> tuple[list[Any], int]:
    good: list[Any] = []
    bad = 0
    for data in wires:
        try:
            good.append(from_bytes(data))
        except MalformedTransaction:
            bad += 1
    return good, bad


def _check_wires(txns: object) -> None:
    if not isinstance(txns, tuple) or not all(isinstance(t, (bytes, bytearray)) for t in txns):
        raise ValueError("txns must be a tuple of wire-form bytes")


@dataclass(frozen=True, slots=True)
class BroadcastRequest:
    """A batch of transactions (wire bytes) covering the sender's timeline ids
    ``(batch_start, batch_end]``."""

    batch_start: int
    batch_end: int
    txns: tuple[bytes, ...]

    def __post_init__(self) -> None:
        _check_range(self.batch_start, self.batch_end)
        if not isinstance(self.txns, tuple) or not all(
                isinstance(t, (bytes, bytearray)) for t in self.txns):
            raise ValueError("txns must be a tuple of wire-form bytes")

    @property
    def batch_id(self) -> tuple[int, int]:
        return (self.batch_start, self.batch_end)

    def transactions(self, decode: Decoder = _NATIVE_DECODE) -> tuple[list[Any], int]:
        """The transactions `decode` (the receiving node's format's; native by default)
        decodes, in order, and how many were malformed (dropped)."""
        return _decode_wires(self.txns, decode)


@dataclass(frozen=True, slots=True)
class Ack:
    """The receiver's answer to the batch ``(batch_start, batch_end]``: `retry` when some
    transaction hit MEMPOOL_IS_FULL, `backoff` when the sender should slow down; `incarnation`
    is the receiver's."""

    batch_start: int
    batch_end: int
    retry: bool = False
    backoff: bool = False
    incarnation: int = 0

    def __post_init__(self) -> None:
        _check_range(self.batch_start, self.batch_end)
        if not isinstance(self.retry, bool) or not isinstance(self.backoff, bool):
            raise ValueError("retry and backoff must be bools")
        _check_u64("incarnation", self.incarnation)

    @property
    def batch_id(self) -> tuple[int, int]:
        return (self.batch_start, self.batch_end)


@dataclass(frozen=True, slots=True)
class Hello:
    """A node's greeting on every new link: its incarnation and its transaction format's name
    (`formats.NAME_PATTERN`; "native" by default)."""

    incarnation: int
    format: str = NATIVE_FORMAT

    def __post_init__(self) -> None:
        _check_u64("incarnation", self.incarnation)
        if not isinstance(self.format, str) or NAME_PATTERN.fullmatch(self.format) is None:
            raise ValueError(f"format must be a transaction format name (a lower-case letter "
                             f"then up to 31 of a-z, 0-9, '_' and '-'), got {self.format!r}")


@dataclass(frozen=True, slots=True)
class BucketBroadcastRequest:
    """A batch read from one cursor per broadcast bucket: `ranges` are its per-bucket timeline
    ranges on the sender, flattened (start_0, end_0, start_1, end_1, ...), lowest bucket
    first; the transactions in wire bytes."""

    ranges: tuple[int, ...]
    txns: tuple[bytes, ...]

    def __post_init__(self) -> None:
        _check_ranges(self.ranges)
        _check_wires(self.txns)

    @property
    def batch_id(self) -> tuple[int, ...]:
        return self.ranges

    def transactions(self, decode: Decoder = _NATIVE_DECODE) -> tuple[list[Any], int]:
        """The transactions `decode` (the receiving node's format's; native by default)
        decodes, in order, and how many were malformed (dropped)."""
        return _decode_wires(self.txns, decode)


@dataclass(frozen=True, slots=True)
class BucketAck:
    """The receiver's answer to a BucketBroadcastRequest: its `ranges` echoed, and the same
    flags and incarnation as `Ack`."""

    ranges: tuple[int, ...]
    retry: bool = False
    backoff: bool = False
    incarnation: int = 0

    def __post_init__(self) -> None:
        _check_ranges(self.ranges)
        if not isinstance(self.retry, bool) or not isinstance(self.backoff, bool):
            raise ValueError("retry and backoff must be bools")
        _check_u64("incarnation", self.incarnation)

    @property
    def batch_id(self) -> tuple[int, ...]:
        return self.ranges


def encode_bucket_broadcast(ranges: tuple[int, ...], txns: Iterable[Any]) -> bytes:
    """Encode a bucketed broadcast straight from SignedTransaction objects (the sender's hot
    path with several broadcast buckets)."""
    _check_ranges(ranges)
    return _pack_bucket_broadcast(ranges, [t.to_bytes() for t in txns])


def _pack_ranges(kind: int, ranges: tuple[int, ...]) -> bytes:
    return _BUCKETS_HEAD.pack(VERSION, kind, len(ranges) // 2) + struct.pack(
        f"<{len(ranges)}Q", *ranges)


def _pack_bucket_broadcast(ranges: tuple[int, ...], wires: Sequence[bytes]) -> bytes:
    pack_len = _LEN.pack
    parts = [_pack_ranges(MSG_BROADCAST_BUCKETS, ranges), _LEN.pack(len(wires))]
    for wire in wires:
        parts.append(pack_len(len(wire)))
        parts.append(wire)
    return b"".join(parts)


def encode_broadcast(batch_start: int, batch_end: int, txns) -> bytes:
    """Encode a broadcast straight from SignedTransaction objects (the sender's hot path)."""
    _check_range(batch_start, batch_end)
    return _pack_broadcast(batch_start, batch_end, [t.to_bytes() for t in txns])


def _pack_broadcast(batch_start: int, batch_end: int, wires) -> bytes:
    pack_len = _LEN.pack
    parts = [_BROADCAST_HEAD.pack(VERSION, MSG_BROADCAST, batch_start, batch_end, len(wires))]
    for wire in wires:
        parts.append(pack_len(len(wire)))
        parts.append(wire)
    return b"".join(parts)


Message = BroadcastRequest | Ack | Hello | BucketBroadcastRequest | BucketAck


def encode(message: Message) -> bytes:
    """The bytes of a message."""
    if isinstance(message, BucketBroadcastRequest):
        return _pack_bucket_broadcast(message.ranges, message.txns)
    if isinstance(message, BucketAck):
        flags = (_FLAG_RETRY if message.retry else 0) | (_FLAG_BACKOFF if message.backoff else 0)
        return _pack_ranges(MSG_ACK_BUCKETS, message.ranges) + _ACK_BUCKETS_TAIL.pack(
            message.incarnation, flags)
    if isinstance(message, BroadcastRequest):
        return _pack_broadcast(message.batch_start, message.batch_end, message.txns)
    if isinstance(message, Ack):
        flags = (_FLAG_RETRY if message.retry else 0) | (_FLAG_BACKOFF if message.backoff else 0)
        return _ACK.pack(VERSION, MSG_ACK, message.batch_start, message.batch_end,
                         message.incarnation, flags)
    if isinstance(message, Hello):
        name = message.format.encode("ascii")
        return _HELLO_HEAD.pack(VERSION, MSG_HELLO, message.incarnation, len(name)) + name
    raise TypeError(f"cannot encode {type(message).__name__}")


def decode(data) -> Message:
    """Parse one message; raises MalformedMessage for a wrong version or type, a bad range,
    a length or count that does not match the bytes, or trailing bytes."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise MalformedMessage(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < _PREFIX.size:
        raise MalformedMessage(f"message of {len(data)} bytes has no header")
    version, kind = _PREFIX.unpack_from(data)
    if version != VERSION:
        raise MalformedMessage(f"unsupported message version {version}")
    if kind == MSG_ACK:
        return _decode_ack(data)
    if kind == MSG_BROADCAST:
        return _decode_broadcast(data)
    if kind == MSG_HELLO:
        return _decode_hello(data)
    if kind == MSG_BROADCAST_BUCKETS:
        return _decode_bucket_broadcast(data)
    if kind == MSG_ACK_BUCKETS:
        return _decode_bucket_ack(data)
    raise MalformedMessage(f"unknown message type {kind}")


def _decode_ranges(data: bytes) -> tuple[tuple[int, ...], int]:
    """The flattened ranges of a bucketed message and the offset after them."""
    if len(data) < _BUCKETS_HEAD.size:
        raise MalformedMessage(f"bucketed message of {len(data)} bytes has no range count")
    (_, _, n) = _BUCKETS_HEAD.unpack_from(data)
    if not 1 <= n <= MAX_RANGES:
        raise MalformedMessage(f"{n} bucket ranges, expected 1 to {MAX_RANGES}")
    end = _BUCKETS_HEAD.size + n * _RANGE.size
    if len(data) < end:
        raise MalformedMessage(f"{n} bucket ranges need {end} bytes, the message has "
                               f"{len(data)}")
    ranges = struct.unpack_from(f"<{2 * n}Q", data, _BUCKETS_HEAD.size)
    try:
        _check_ranges(ranges)
    except ValueError as exc:
        raise MalformedMessage(f"bad bucket ranges: {exc}") from None
    return ranges, end


def _decode_bucket_ack(data: bytes) -> BucketAck:
    ranges, offset = _decode_ranges(data)
    if len(data) != offset + _ACK_BUCKETS_TAIL.size:
        raise MalformedMessage(f"bucketed ack is {len(data)} bytes, expected "
                               f"{offset + _ACK_BUCKETS_TAIL.size}")
    incarnation, flags = _ACK_BUCKETS_TAIL.unpack_from(data, offset)
    if flags & ~_KNOWN_FLAGS:
        raise MalformedMessage(f"unknown ack flags {flags:#x}")
    return BucketAck(ranges, bool(flags & _FLAG_RETRY), bool(flags & _FLAG_BACKOFF),
                     incarnation)


def _decode_bucket_broadcast(data: bytes) -> BucketBroadcastRequest:
    ranges, offset = _decode_ranges(data)
    return BucketBroadcastRequest(ranges, tuple(_read_wires(data, offset)))


def _read_wires(data: bytes, offset: int) -> list[bytes]:
    """`count u32 | count x (length u32 | bytes)` from `offset` to the end of `data`."""
    size = len(data)
    if offset + _LEN.size > size:
        raise MalformedMessage("broadcast ends before its transaction count")
    (count,) = _LEN.unpack_from(data, offset)
    offset += _LEN.size
    if count > (size - offset) // _LEN.size:
        raise MalformedMessage(f"count {count} exceeds what {size} bytes can hold")
    unpack_len = _LEN.unpack_from
    txns = []
    for _ in range(count):
        if offset + _LEN.size > size:
            raise MalformedMessage("broadcast ends inside a length field")
        (length,) = unpack_len(data, offset)
        offset += _LEN.size
        if offset + length > size:
            raise MalformedMessage(f"transaction length {length} runs past the message")
        txns.append(data[offset:offset + length])
        offset += length
    if offset != size:
        raise MalformedMessage(f"{size - offset} trailing bytes after {count} transactions")
    return txns


def _decode_ack(data: bytes) -> Ack:
    if len(data) != _ACK.size:
        raise MalformedMessage(f"ack is {len(data)} bytes, expected {_ACK.size}")
    _, _, start, end, incarnation, flags = _ACK.unpack(data)
    if flags & ~_KNOWN_FLAGS:
        raise MalformedMessage(f"unknown ack flags {flags:#x}")
    if start >= end:
        raise MalformedMessage(f"empty batch range ({start}, {end}]")
    return Ack(start, end, bool(flags & _FLAG_RETRY), bool(flags & _FLAG_BACKOFF), incarnation)


def _decode_hello(data: bytes) -> Hello:
    if len(data) < _HELLO_HEAD.size:
        raise MalformedMessage(f"hello of {len(data)} bytes is shorter than its header")
    _, _, incarnation, length = _HELLO_HEAD.unpack_from(data)
    if len(data) != _HELLO_HEAD.size + length:
        raise MalformedMessage(f"hello format length {length} does not match {len(data)} bytes")
    try:
        return Hello(incarnation, data[_HELLO_HEAD.size:].decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedMessage(f"bad hello format name: {exc}") from None


def _decode_broadcast(data: bytes) -> BroadcastRequest:
    size = len(data)
    if size < _BROADCAST_HEAD.size:
        raise MalformedMessage(f"broadcast of {size} bytes is shorter than its header")
    _, _, start, end, _count = _BROADCAST_HEAD.unpack_from(data)
    if start >= end:
        raise MalformedMessage(f"empty batch range ({start}, {end}]")
    # the head ends with the transaction count that _read_wires reads
    txns = _read_wires(data, _BROADCAST_HEAD.size - _LEN.size)
    return BroadcastRequest(start, end, tuple(txns))
