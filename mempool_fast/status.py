"""What a node can say about one transaction or one account: the values of the status API.

`SharedMempool.transaction_status(key)` answers a `TransactionStatus`, `account_status(sender)`
an `AccountStatus`, and a `watch()` delivers `TransactionEvent`s (docs/design.md §5). The
pending states (READY, PARKED) are read from the core; what left the pool comes from the
bounded status history, fed by the core's removal feed (`RemovalReason`), mapped here:
COMMITTED is the state COMMITTED, every other reason is the state DROPPED with that reason.

The enumerations are `IntEnum`s whose values are their codes on the client endpoint
(`mempool_fast.rpc`); a `DropReason` has the value of the `RemovalReason` it comes from.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ._wire import check_pointer
from .types import RemovalReason

if TYPE_CHECKING:
    from .transaction import SignedTransaction
    from .types import TimelineState

__all__ = ["TransactionState", "DropReason", "TransactionStatus", "AccountStatus",
           "TransactionEvent", "TransactionEventKind", "from_removal", "parse_key",
           "pending_state", "first_gap", "held_sequence_numbers", "account_view"]


class TransactionState(enum.IntEnum):
    """Where a transaction stands on this node."""

    UNKNOWN = 0  #: never seen here, or forgotten past the status history's bound
    READY = 1  #: pending and offered to consensus (local or from a peer)
    PARKED = 2  #: pending, waiting for a predecessor of its account
    COMMITTED = 3  #: left the pool committed (or below a committed sequence number)
    DROPPED = 4  #: left the pool for another reason (`DropReason`)


class DropReason(enum.IntEnum):
    """Why a DROPPED transaction left the pool (the values are `RemovalReason`'s)."""

    REJECTED = int(RemovalReason.REJECTED)  #: consensus rejected it, or an earlier one of its account
    SYSTEM_TTL = int(RemovalReason.SYSTEM_TTL)  #: older than system_transaction_timeout_secs
    EXPIRED = int(RemovalReason.EXPIRED)  #: its client expiration time passed
    EVICTED = int(RemovalReason.EVICTED)  #: the pool was full and a ready transaction needed room
    REPLACED = int(RemovalReason.REPLACED)  #: a higher-priced transaction took its pointer
    #: the account's sequence number moved past it without it being committed here
    STALE = int(RemovalReason.STALE)


_FROM_REMOVAL = {reason: (TransactionState.COMMITTED, None) if reason is RemovalReason.COMMITTED
                 else (TransactionState.DROPPED, DropReason(int(reason)))
                 for reason in RemovalReason}


def from_removal(reason: RemovalReason) -> tuple[TransactionState, DropReason | None]:
    """(state, drop reason) of a removal-feed reason."""
    return _FROM_REMOVAL[reason]


class TransactionEventKind(enum.IntEnum):
    """What happened to a watched transaction."""

    ADMITTED = 1  #: entered the pool (`state` says READY or PARKED)
    READY = 2  #: became ready (a gap filled, or the account's sequence number moved)
    PARKED = 3  #: became parked (an earlier transaction of its account left the pool)
    BROADCAST = 4  #: sent to a peer (`peer` names it)
    PULLED = 5  #: returned by get_block (pulled into a block proposal)
    COMMITTED = 6  #: left the pool committed
    DROPPED = 7  #: left the pool for `reason`


@dataclass(frozen=True)
class TransactionStatus:
    """One transaction's standing on this node.

    `hash` is None when the node does not know which transaction a pointer names (UNKNOWN);
    `pointer` is None when a hash is UNKNOWN. `at` is the node's clock time of the last change
    the node recorded: the removal for COMMITTED and DROPPED, None for pending states (the core
    keeps no times) and UNKNOWN. `detail` is one human sentence.
    """

    state: TransactionState
    reason: DropReason | None
    hash: bytes | None
    pointer: tuple[bytes, int] | None
    at: float | None
    detail: str


@dataclass(frozen=True)
class AccountStatus:
    """One account's pending transactions here.

    `sequence_number` is the current one the mempool uses (its cached value, else the account
    store's); `ready` and `parked` are the sequence numbers held, sorted (the scan covers
    `capacity_per_user` numbers from the current one: an account cannot hold more, though a
    parked transaction further ahead is not listed); `blocked_on` is the first missing
    sequence number that keeps the parked ones waiting (None when nothing is parked).
    """

    sender: bytes
    sequence_number: int
    ready: tuple[int, ...]
    parked: tuple[int, ...]
    blocked_on: int | None


@dataclass(frozen=True)
class TransactionEvent:
    """One change of a watched transaction, at the node's clock time `at`.

    `state` is the state after the event (READY or PARKED while pending; BROADCAST and PULLED
    events carry READY); `reason` is set for DROPPED; `peer` for BROADCAST; `detail` names the
    replacement's hash (hex) for a REPLACED drop, else is empty.
    """

    kind: TransactionEventKind
    hash: bytes
    pointer: tuple[bytes, int]
    state: TransactionState
    reason: DropReason | None
    at: float
    peer: str | None = None
    detail: str = ""


# -- pending states, read from a core through its public queries (call under the core lock) --
# The cores expose no per-entry "ready" flag; readiness is positional (§4): a transaction is
# ready when every sequence number from its account's current one up to it is held. A local
# transaction's timeline state says it exactly (READY is always ready, NOT_READY always
# parked); a peer's (NON_QUALIFIED) is computed from `sequence_number` and `get`, at most
# `capacity_per_user` lookups (an account holds no more, so a longer run cannot exist).
_TS_READY = 1  # TimelineState.READY
_TS_NOT_READY = 0  # TimelineState.NOT_READY


class CoreQueries(Protocol):
    """The queries of a core (either class) that the pending states are read through."""

    def sequence_number(self, sender: bytes) -> int | None: ...
    def get(self, sender: bytes, sequence_number: int) -> SignedTransaction | None: ...
    def get_by_hash(self, hash: bytes) -> SignedTransaction | None: ...
    def timeline_state(self, sender: bytes,
                       sequence_number: int) -> tuple[TimelineState, int] | None: ...


def pending_state(core: CoreQueries, sender: bytes, seq: int, timeline_state: int, cap: int
                  ) -> TransactionState:
    """READY or PARKED for a held transaction whose `timeline_state()[0]` is given.

    Two corners the public queries cannot settle exactly, both for peers' transactions: an
    account whose cached sequence number the LRU dropped counts as READY (get_block serves such
    an account's first run, §4 (c)), and so does one below the account's current sequence
    number (held only until the next admission cleans it as STALE)."""
    if timeline_state == _TS_READY:
        return TransactionState.READY
    if timeline_state == _TS_NOT_READY:
        return TransactionState.PARKED
    current = core.sequence_number(sender)
    if current is None or seq <= current:
        return TransactionState.READY
    if seq - current > cap:
        return TransactionState.PARKED
    get = core.get
    for k in range(current, seq):
        if get(sender, k) is None:
            return TransactionState.PARKED
    return TransactionState.READY


def first_gap(core: CoreQueries, sender: bytes, start: int, cap: int) -> int | None:
    """The first sequence number from `start` the account does not hold (None past `cap`)."""
    get = core.get
    for k in range(start, min(start + cap + 1, 1 << 64)):
        if get(sender, k) is None:
            return k
    return None


def held_sequence_numbers(core: CoreQueries, sender: bytes, start: int, count: int) -> list[int]:
    """The sequence numbers in `start .. start + count - 1` the account holds, ascending."""
    get = core.get
    end = min(start + count, 1 << 64)
    return [k for k in range(start, end) if get(sender, k) is not None]


def account_view(sender: bytes, current: int, held: list[int]) -> AccountStatus:
    """The AccountStatus of an account whose current sequence number is `current` and which
    holds `held` (ascending, from `current` on): the run from `current` up to the first gap is
    ready, the rest parked, blocked on that gap."""
    ready_end = current
    for k in held:
        if k != ready_end:
            break
        ready_end += 1
    ready = tuple(k for k in held if k < ready_end)
    parked = tuple(k for k in held if k >= ready_end)
    return AccountStatus(sender, current, ready, parked, ready_end if parked else None)


def parse_key(key: object, sender_length: int = 32
              ) -> tuple[bytes | None, tuple[bytes, int] | None]:
    """(hash, None) for a 32-byte hash, (None, (sender, seq)) for a pointer whose sender has
    the transaction format's `sender_length` (32 native, 20 Ethereum); TypeError or
    ValueError for anything else."""
    if isinstance(key, (bytes, bytearray, memoryview)):
        key = bytes(key)
        if len(key) != 32:
            raise ValueError(f"a transaction hash is 32 bytes, got {len(key)}")
        return key, None
    return None, check_pointer(key, "key", sender_length)
