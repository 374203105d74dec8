"""Enumerations and statuses shared by both cores and every layer above them."""

from __future__ import annotations

import enum

from ._wire import U64_MAX
from .errors import MalformedMessage, MalformedTransaction

__all__ = [
    "U64_MAX", "MalformedMessage", "MalformedTransaction", "TimelineState",
    "MempoolAddTransactionStatusCode", "MempoolAddTransactionStatus", "RemovalReason", "Code",
    "STATUS_VALID", "insufficient_balance", "invalid_seq_number", "invalid_update",
    "replacement_price_needed", "replacement_underpriced", "mempool_is_full_bytes",
    "ENTRY_OVERHEAD_BYTES", "check_max_bytes", "bucket_cursors_error", "bucket_ranges_error",
    "mempool_is_full", "too_many_transactions", "transaction_expired",
]


#: What each pending transaction counts beyond its wire size toward `capacity_bytes`
#: (`CoreMempool.size_bytes()`): a fixed estimate of its index memory on the Cython core (the
#: entry, 120 bytes; a priority or parking key, 24; its hash slot, ~23; a timeline slot, 16;
#: rounded up), so a pool of tiny transactions is bounded too. Both cores count it alike.
ENTRY_OVERHEAD_BYTES = 200


class TimelineState(enum.IntEnum):
    """Where a transaction stands with respect to the broadcast timeline."""

    NOT_READY = 0  #: local submission; enters the timeline when it becomes ready
    READY = 1  #: in the timeline, holds a timeline id
    NON_QUALIFIED = 2  #: received from a peer: never re-broadcast, still offered to consensus


class MempoolAddTransactionStatusCode(enum.IntEnum):
    """Outcome of admitting a transaction (core codes first, then validation codes)."""

    VALID = 0
    INSUFFICIENT_BALANCE = 1
    INVALID_SEQ_NUMBER = 2
    MEMPOOL_IS_FULL = 3
    TOO_MANY_TRANSACTIONS = 4
    INVALID_UPDATE = 5
    INVALID_SIGNATURE = 6
    INVALID_SENDER = 7
    PAYLOAD_TOO_LARGE = 8
    MAX_GAS_TOO_HIGH = 9
    UNKNOWN_ACCOUNT = 10
    #: the client expiration time is already past (the shared mempool's client and peer paths)
    TRANSACTION_EXPIRED = 11


class RemovalReason(enum.IntEnum):
    """Why a core removed a transaction (the removal feed, `CoreMempool.drain_removed`)."""

    COMMITTED = 1  #: committed, or below a committed sequence number of its account
    REJECTED = 2  #: consensus rejected it, or a predecessor of the same account
    SYSTEM_TTL = 3  #: older than system_transaction_timeout_secs (gc_by_system_ttl)
    EXPIRED = 4  #: its client expiration time passed (gc_by_expiration_time)
    EVICTED = 5  #: parking-lot eviction: the pool was full and a ready transaction needed room
    REPLACED = 6  #: a higher-priced transaction with the same pointer took its place
    STALE = 7  #: below the account's sequence number read from account state at an add


class MempoolAddTransactionStatus:
    """A status code with a human-readable message; equal when both are equal."""

    __slots__ = ("code", "message")

    def __init__(self, code: MempoolAddTransactionStatusCode, message: str = "") -> None:
        self.code = code if type(code) is MempoolAddTransactionStatusCode else \
            MempoolAddTransactionStatusCode(code)
        self.message = message

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MempoolAddTransactionStatus):
            return NotImplemented
        return self.code == other.code and self.message == other.message

    def __hash__(self) -> int:
        return hash((self.code, self.message))

    def __repr__(self) -> str:
        return f"MempoolAddTransactionStatus({self.code.name}, {self.message!r})"


Code = MempoolAddTransactionStatusCode

#: The one VALID status both cores hand out (immutable by convention).
STATUS_VALID = MempoolAddTransactionStatus(Code.VALID, "")


def check_max_bytes(max_bytes: object) -> int | None:
    """`get_block`'s `max_bytes`: None (no limit) or an int >= 0 (TypeError, ValueError; both
    cores raise these same errors)."""
    if max_bytes is None:
        return None
    if not isinstance(max_bytes, int) or isinstance(max_bytes, bool):
        raise TypeError(f"max_bytes must be None or an int, not {type(max_bytes).__name__}")
    if max_bytes < 0:
        raise ValueError(f"max_bytes must be at least 0, got {max_bytes}")
    return max_bytes


def bucket_cursors_error(buckets: int, cursors: object) -> str:
    """The ValueError message of `read_timeline_buckets` for cursors of the wrong shape."""
    return (f"cursors must be a tuple of {buckets} timeline ids (one per broadcast bucket, "
            f"lowest first), got {cursors!r}")


def bucket_ranges_error(buckets: int, ranges: object) -> str:
    """The ValueError message of `timeline_range_buckets` for ranges of the wrong shape."""
    return (f"ranges must be a tuple of {buckets} (start, end) tuples (one per broadcast "
            f"bucket, lowest first), got {ranges!r}")


def insufficient_balance(balance: int) -> MempoolAddTransactionStatus:
    return MempoolAddTransactionStatus(
        Code.INSUFFICIENT_BALANCE,
        f"balance {balance} does not cover the gas of this and the account's pending "
        "transactions",
    )


def invalid_seq_number(sequence_number: int, current: int) -> MempoolAddTransactionStatus:
    return MempoolAddTransactionStatus(
        Code.INVALID_SEQ_NUMBER,
        f"sequence number {sequence_number} is below the account's current {current}",
    )


def invalid_update() -> MempoolAddTransactionStatus:
    return MempoolAddTransactionStatus(
        Code.INVALID_UPDATE,
        "a different transaction holds this sequence number; a replacement needs a strictly "
        "higher gas price with the same payload, max gas amount and expiration",
    )


def replacement_price_needed(old_price: int, bump_percent: int) -> int:
    """The lowest gas price that replaces a pending transaction paying `old_price`: strictly
    higher, and new * 100 >= old * (100 + bump_percent) (`replacement_price_bump_percent`)."""
    return max(old_price + 1, -(-old_price * (100 + bump_percent) // 100))


def replacement_underpriced(old_price: int, bump_percent: int) -> MempoolAddTransactionStatus:
    """INVALID_UPDATE for a replacement whose gas price is too low, saying the price needed."""
    return MempoolAddTransactionStatus(
        Code.INVALID_UPDATE,
        f"a replacement needs a gas price of at least "
        f"{replacement_price_needed(old_price, bump_percent)}: the pending transaction pays "
        f"{old_price} and replacement_price_bump_percent is {bump_percent}",
    )


def mempool_is_full(capacity: int) -> MempoolAddTransactionStatus:
    return MempoolAddTransactionStatus(
        Code.MEMPOOL_IS_FULL, f"mempool holds its capacity of {capacity} transactions"
    )


def mempool_is_full_bytes(capacity_bytes: int) -> MempoolAddTransactionStatus:
    return MempoolAddTransactionStatus(
        Code.MEMPOOL_IS_FULL,
        f"mempool holds its capacity_bytes of {capacity_bytes} bytes (wire sizes plus "
        f"{ENTRY_OVERHEAD_BYTES} bytes per transaction)",
    )


def too_many_transactions(capacity_per_user: int) -> MempoolAddTransactionStatus:
    return MempoolAddTransactionStatus(
        Code.TOO_MANY_TRANSACTIONS,
        f"account already holds its limit of {capacity_per_user} transactions",
    )


def transaction_expired(expiration_time: int, now: float) -> MempoolAddTransactionStatus:
    return MempoolAddTransactionStatus(
        Code.TRANSACTION_EXPIRED,
        f"expiration time {expiration_time} is already past (now {int(now)})",
    )
