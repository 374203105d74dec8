"""The journal's index of live records, in objects the garbage collector never tracks.

The index maps a transaction's *key*, its pointer as the 40 bytes that open its wire form
(sender | sequence number, little-endian: `_wire.POINTER`), to one int packing the record's
offset, its length and the hash of its wire bytes. Bytes and ints are never GC-tracked, so the
index costs a collection nothing however large it grows (a dict of tuples would be walked by
every full collection: tens of milliseconds at 1M pending).
"""

from __future__ import annotations

from .._wire import POINTER

__all__ = ["KEY_LEN", "LiveIndex", "key_of", "key_of_pointer", "pointer_of_key", "entry",
           "offset", "length", "digest", "same_wire", "keys_of_forget"]

#: Bytes of a key: the wire form's sender and sequence number, also a FORGET item's layout.
KEY_LEN = POINTER.size
#: key -> entry (`entry`)
LiveIndex = dict[bytes, int]

_OFFSET_BITS = 48  # a journal file below 256 TiB
_LENGTH_BITS = 32
_OFFSET_MASK = (1 << _OFFSET_BITS) - 1
_LENGTH_MASK = (1 << _LENGTH_BITS) - 1
_DIGEST_SHIFT = _OFFSET_BITS + _LENGTH_BITS
_U64 = (1 << 64) - 1


def key_of(wire: bytes | memoryview) -> bytes:
    """The key of a transaction's wire bytes."""
    return bytes(wire[:KEY_LEN])


def key_of_pointer(pointer: tuple[bytes, int]) -> bytes:
    """The key of a checked (sender, seq) pointer."""
    return POINTER.pack(*pointer)


def pointer_of_key(key: bytes) -> tuple[bytes, int]:
    return POINTER.unpack(key)


def keys_of_forget(payload: bytes) -> list[bytes]:
    """The keys a FORGET record's payload names (its items are keys, end to end)."""
    return [payload[i:i + KEY_LEN] for i in range(0, len(payload), KEY_LEN)]


def entry(record_offset: int, record_length: int, wire_hash: int) -> int:
    """One index value: where the record is, how long, and the hash of its wire bytes."""
    return record_offset | record_length << _OFFSET_BITS | (wire_hash & _U64) << _DIGEST_SHIFT


def offset(value: int) -> int:
    return value & _OFFSET_MASK


def length(value: int) -> int:
    return (value >> _OFFSET_BITS) & _LENGTH_MASK


def digest(value: int) -> int:
    """The wire hash, as the unsigned 64-bit value `entry` stored (compare with `same_wire`)."""
    return value >> _DIGEST_SHIFT


def same_wire(value: int, wire_hash: int, record_length: int) -> bool:
    """Whether the indexed record holds wire bytes of this hash and record length."""
    return value >> _OFFSET_BITS == record_length | (wire_hash & _U64) << _LENGTH_BITS
