"""Shared-mempool messages and their compact binary encoding, shared by every transport.

Every message starts with a version byte and a type byte, then (little-endian):

  BROADCAST: batch_start u64 | batch_end u64 | count u32 | count x (length u32 | txn wire bytes)
  ACK:       batch_start u64 | batch_end u64 | flags u8 (bit 0: retry, bit 1: backoff)

A batch is identified by its timeline range ``(batch_start, batch_end]`` on the sender. The
transactions of a broadcast stay in wire form here; the receiver decodes them one by one (see
`BroadcastRequest.transactions`) so a malformed transaction costs only itself. `decode` raises
`MalformedMessage` for anything inconsistent. This module knows nothing of threads or sockets.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .transaction import SignedTransaction
from .types import U64_MAX, MalformedMessage, MalformedTransaction

__all__ = [
    "VERSION", "MSG_BROADCAST", "MSG_ACK", "BroadcastRequest", "Ack", "encode", "decode",
    "encode_broadcast", "MalformedMessage",
]

#: Encoding version; a message with another version is malformed.
VERSION = 1
MSG_BROADCAST = 1
MSG_ACK = 2

_PREFIX = struct.Struct("<BB")
_RANGE = struct.Struct("<QQ")
_BROADCAST_HEAD = struct.Struct("<BBQQI")
_ACK = struct.Struct("<BBQQB")
_LEN = struct.Struct("<I")
_FLAG_RETRY = 1
_FLAG_BACKOFF = 2
_KNOWN_FLAGS = _FLAG_RETRY | _FLAG_BACKOFF


def _check_range(batch_start: int, batch_end: int) -> None:
    for name, value in (("batch_start", batch_start), ("batch_end", batch_end)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= U64_MAX:
            raise ValueError(f"{name} must be an unsigned 64-bit integer, got {value!r}")
    if batch_start >= batch_end:
        raise ValueError(f"empty batch range ({batch_start}, {batch_end}]")


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

    def transactions(self) -> tuple[list[SignedTransaction], int]:
        """The decodable transactions, in order, and how many were malformed (dropped)."""
        good: list[SignedTransaction] = []
        bad = 0
        from_bytes = SignedTransaction.from_bytes
        for data in self.txns:
            try:
                good.append(from_bytes(data))
            except (MalformedTransaction, ValueError):
                bad += 1
        return good, bad


@dataclass(frozen=True, slots=True)
class Ack:
    """The receiver's answer to the batch ``(batch_start, batch_end]``: `retry` when some
    transaction hit MEMPOOL_IS_FULL, `backoff` when the sender should slow down."""

    batch_start: int
    batch_end: int
    retry: bool = False
    backoff: bool = False

    def __post_init__(self) -> None:
        _check_range(self.batch_start, self.batch_end)
        if not isinstance(self.retry, bool) or not isinstance(self.backoff, bool):
            raise ValueError("retry and backoff must be bools")

    @property
    def batch_id(self) -> tuple[int, int]:
        return (self.batch_start, self.batch_end)


def encode_broadcast(batch_start: int, batch_end: int, txns) -> bytes:
    """Encode a broadcast straight from SignedTransaction objects (the sender's hot path)."""
    _check_range(batch_start, batch_end)
    wires = [t.to_bytes() for t in txns]
    return _pack_broadcast(batch_start, batch_end, wires)


def _pack_broadcast(batch_start: int, batch_end: int, wires) -> bytes:
    pack_len = _LEN.pack
    parts = [_BROADCAST_HEAD.pack(VERSION, MSG_BROADCAST, batch_start, batch_end, len(wires))]
    for wire in wires:
        parts.append(pack_len(len(wire)))
        parts.append(wire)
    return b"".join(parts)


def encode(message: BroadcastRequest | Ack) -> bytes:
    """The bytes of a message."""
    if isinstance(message, BroadcastRequest):
        return _pack_broadcast(message.batch_start, message.batch_end, message.txns)
    if isinstance(message, Ack):
        flags = (_FLAG_RETRY if message.retry else 0) | (_FLAG_BACKOFF if message.backoff else 0)
        return _ACK.pack(VERSION, MSG_ACK, message.batch_start, message.batch_end, flags)
    raise TypeError(f"cannot encode {type(message).__name__}")


def decode(data) -> BroadcastRequest | Ack:
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
        if len(data) != _ACK.size:
            raise MalformedMessage(f"ack is {len(data)} bytes, expected {_ACK.size}")
        _, _, start, end, flags = _ACK.unpack(data)
        if flags & ~_KNOWN_FLAGS:
            raise MalformedMessage(f"unknown ack flags {flags:#x}")
        if start >= end:
            raise MalformedMessage(f"empty batch range ({start}, {end}]")
        return Ack(start, end, bool(flags & _FLAG_RETRY), bool(flags & _FLAG_BACKOFF))
    if kind == MSG_BROADCAST:
        size = len(data)
        if size < _BROADCAST_HEAD.size:
            raise MalformedMessage(f"broadcast of {size} bytes is shorter than its header")
        _, _, start, end, count = _BROADCAST_HEAD.unpack_from(data)
        if start >= end:
            raise MalformedMessage(f"empty batch range ({start}, {end}]")
        offset = _BROADCAST_HEAD.size
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
        return BroadcastRequest(start, end, tuple(txns))
    raise MalformedMessage(f"unknown message type {kind}")
