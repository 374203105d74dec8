"""What the cores check of a transaction format and of its transactions: both cores call these,
so their refusals and messages are the same (docs/design.md §4 "Transaction formats")."""

from __future__ import annotations

from typing import Any

from .._wire import ADDRESS_LEN
from ..types import MempoolAddTransactionStatus, MempoolAddTransactionStatusCode
from . import NATIVE, NativeFormat

__all__ = [
    "MAX_CORE_SENDER_LENGTH", "CORE_COST_LIMIT", "MAX_CORE_WIRE", "core_format",
    "check_core_sender", "check_core_cost", "check_core_u64", "check_core_wire",
    "check_core_expiration", "replacement_refused",
]

#: The longest sender the cores index: the Cython core keeps 32-byte addresses (a shorter
#: sender is padded with zero bytes at the end, which keeps the order of equal-length senders).
MAX_CORE_SENDER_LENGTH = ADDRESS_LEN
#: The exclusive bound of ``max_cost(txn)`` the cores accept: the Cython core keeps each
#: entry's cost in 128 bits (its account total in 192).
CORE_COST_LIMIT = 1 << 128
_U64_LIMIT = 1 << 64
#: The exclusive bound of a foreign transaction's wire size (``len(txn.to_bytes())``): the
#: Cython core keeps it in 32 bits (a format's own limit is far lower: Ethereum's 128 KiB).
MAX_CORE_WIRE = 1 << 32


def core_format(transaction_format: object) -> tuple[Any, Any]:
    """``(exposed, foreign)`` for a core's ``transaction_format`` argument: None, ``NATIVE`` or
    a ``NativeFormat`` are the native format (today's rules and fast paths: ``foreign`` is None,
    ``exposed`` is ``NATIVE`` or the given ``NativeFormat``); any other object is a foreign
    format (``exposed`` and ``foreign`` are it), which must have a ``name`` (str), a
    ``sender_length`` (int in 1..``MAX_CORE_SENDER_LENGTH``) and callable ``max_cost`` and
    ``can_replace`` (``ValueError``/``TypeError`` otherwise). O(1)."""
    if transaction_format is None or transaction_format is NATIVE:
        return NATIVE, None
    if isinstance(transaction_format, NativeFormat):
        return transaction_format, None
    fmt = transaction_format
    name = getattr(fmt, "name", None)
    if not isinstance(name, str):
        raise TypeError(f"transaction_format must be None or a transaction format with a str "
                        f"name, got {fmt!r}")
    length = getattr(fmt, "sender_length", None)
    if not isinstance(length, int) or isinstance(length, bool) or \
            not 1 <= length <= MAX_CORE_SENDER_LENGTH:
        raise ValueError(f"transaction format {name!r}: the cores index senders of 1.."
                         f"{MAX_CORE_SENDER_LENGTH} bytes, sender_length is {length!r}")
    for method in ("max_cost", "can_replace"):
        if not callable(getattr(fmt, method, None)):
            raise TypeError(f"transaction format {name!r} has no callable {method}")
    return fmt, fmt


def check_core_sender(sender: object, fmt: Any) -> bytes:
    """`sender` when it is ``bytes`` of ``fmt.sender_length``, else a ``ValueError`` naming the
    format."""
    if not isinstance(sender, bytes) or len(sender) != fmt.sender_length:
        got = f"{len(sender)} bytes" if isinstance(sender, (bytes, bytearray)) else \
            type(sender).__name__
        raise ValueError(f"sender must be {fmt.sender_length} bytes for the {fmt.name!r} "
                         f"transaction format, got {got}: {sender!r}")
    return sender


def check_core_cost(cost: object, fmt: Any) -> int:
    """`cost` (``fmt.max_cost(txn)``) when an int in 0..``CORE_COST_LIMIT`` - 1:
    ``TypeError`` for another type (bool included), ``ValueError`` out of range."""
    if not isinstance(cost, int) or isinstance(cost, bool):
        raise TypeError(f"{fmt.name!r} max_cost must return an int, got {type(cost).__name__}")
    if not 0 <= cost < CORE_COST_LIMIT:
        raise ValueError(f"{fmt.name!r} max_cost must be in 0..2**128-1 (the cores count "
                         f"costs in 128 bits), got {cost}")
    return int(cost)


def check_core_u64(value: object, name: str) -> int:
    """A transaction's integer field the cores index (`name`): an int in 0..2**64-1, else a
    ``ValueError`` (the Cython core's message for its arguments)."""
    if not isinstance(value, int) or not 0 <= value < _U64_LIMIT:  # (a bool is an int, as
        raise ValueError(f"{name} must be an unsigned 64-bit integer, got {value!r}")  # in C)
    return int(value)


def check_core_wire(txn: Any) -> int:
    """A foreign transaction's wire size, ``len(txn.to_bytes())``, below ``MAX_CORE_WIRE``
    (``ValueError`` otherwise). O(1) for bytes kept on the object."""
    size = len(txn.to_bytes())
    if size >= MAX_CORE_WIRE:
        raise ValueError(f"a transaction of {size} bytes is too large for the cores "
                         f"(below {MAX_CORE_WIRE} bytes)")
    return size


def replacement_refused(fmt: Any) -> MempoolAddTransactionStatus:
    """``INVALID_UPDATE`` for a replacement a foreign format's ``can_replace`` refused (the
    native rule keeps ``types.invalid_update``'s message)."""
    return MempoolAddTransactionStatus(
        MempoolAddTransactionStatusCode.INVALID_UPDATE,
        f"a different transaction holds this sequence number and the {fmt.name!r} "
        "transaction format does not let it be replaced by this one")


def check_core_expiration(value: object) -> int | None:
    """A foreign transaction's ``expiration_time``: None (no client expiration: only the system
    TTL applies) or an int in 0..2**64-1 (``ValueError`` otherwise)."""
    if value is None:
        return None
    return check_core_u64(value, "expiration_time")
