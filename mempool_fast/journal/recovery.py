"""Restart policy: what a node does with the transactions its journal replays.

A journaled transaction was acknowledged to a client, so it is forgotten only when that is
certainly right: it is committed (its sequence number is below the account's), it expired, or
it is definitively invalid (bad signature, wrong sender, over the size or gas limits). Anything
else that does not go back into the pool (an account the store does not know, a balance that
does not cover it, a full pool...) stays in the journal, *held*, and is offered again later:
an account-state answer at start-up is not trusted enough to lose data on.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Callable, NamedTuple, Sequence

from ..storage import AccountState
from ..transaction import SignedTransaction
from ..types import MempoolAddTransactionStatus
from ..types import MempoolAddTransactionStatusCode as Code

if TYPE_CHECKING:
    from .journal import TransactionJournal

__all__ = ["ReplayPartition", "RecoveryReport", "partition_replayed", "recover", "DROP_CODES",
           "settle"]

log = logging.getLogger(__name__)

#: Statuses that make a replayed transaction dead for good: forget it.
DROP_CODES = frozenset({
    Code.INVALID_SIGNATURE, Code.INVALID_SENDER, Code.PAYLOAD_TOO_LARGE, Code.MAX_GAS_TOO_HIGH,
    Code.INVALID_SEQ_NUMBER, Code.TRANSACTION_EXPIRED,
})


class ReplayPartition(NamedTuple):
    """Replayed transactions sorted by what a restarted node should do with them."""

    #: sequence number >= the account's and not expired: submit again
    resubmit: list[SignedTransaction]
    #: sequence number below the account's current one
    committed: list[SignedTransaction]
    #: expiration_time < now (a format without client expiration, None, never is)
    expired: list[SignedTransaction]
    #: the account store does not know the sender (held, not dropped)
    unknown_account: list[SignedTransaction]


#: Reads the states of a batch of addresses, one per address (None: unknown account).
AccountStatesReader = Callable[[list[bytes]], Sequence[AccountState | None]]
#: Submits transactions, one status per input, in input order.
Submitter = Callable[[list[SignedTransaction]], Sequence[MempoolAddTransactionStatus]]


def partition_replayed(txns: Sequence[SignedTransaction],
                       get_account_states: AccountStatesReader,
                       clock: Callable[[], float] = time.time) -> ReplayPartition:
    """Split replayed transactions with one account-state read (`get_account_states(addresses)
    -> [(sequence_number, balance) | None]`) and one reading of `clock`."""
    now = clock()
    senders = list(dict.fromkeys(t.sender for t in txns))
    states = list(get_account_states(senders)) if senders else []
    if len(states) != len(senders):
        raise ValueError(f"get_account_states returned {len(states)} states for "
                         f"{len(senders)} addresses")
    by_sender = dict(zip(senders, states))
    part = ReplayPartition([], [], [], [])
    for txn in txns:
        state = by_sender[txn.sender]
        if state is None:
            part.unknown_account.append(txn)
        elif txn.sequence_number < state[0]:
            part.committed.append(txn)
        elif txn.expiration_time is not None and txn.expiration_time < now:
            part.expired.append(txn)
        else:
            part.resubmit.append(txn)
    return part


@dataclasses.dataclass
class RecoveryReport:
    """What `recover` did: counts by outcome, and the codes of the resubmissions that were not
    VALID (held ones included)."""

    replayed: int
    resubmitted: int
    accepted: int
    committed: int
    expired: int
    unknown_account: int
    rejected_by_code: dict[str, int]
    #: Forgotten because their resubmission proved them dead (bad signature...).
    invalid: int = 0
    #: Kept in the journal, out of the pool, to be offered again.
    held: int = 0
    #: The held transactions themselves.
    held_transactions: list[SignedTransaction] = dataclasses.field(default_factory=list,
                                                                   repr=False)


def settle(txns: Sequence[SignedTransaction], statuses: Sequence[MempoolAddTransactionStatus]
           ) -> tuple[list[SignedTransaction], list[SignedTransaction], dict[str, int]]:
    """Sort resubmitted transactions by their statuses: (dead ones to forget, ones to hold,
    {code name: count} of every status that is not VALID)."""
    if len(statuses) != len(txns):
        raise ValueError(f"submit_transactions returned {len(statuses)} statuses for "
                         f"{len(txns)} transactions")
    dead: list[SignedTransaction] = []
    held: list[SignedTransaction] = []
    codes: dict[str, int] = {}
    for txn, status in zip(txns, statuses):
        if status.code == Code.VALID:
            continue
        codes[status.code.name] = codes.get(status.code.name, 0) + 1
        (dead if status.code in DROP_CODES else held).append(txn)
    return dead, held, codes


def recover(journal: TransactionJournal, submit_transactions: Submitter,
            get_account_states: AccountStatesReader,
            clock: Callable[[], float] = time.time) -> RecoveryReport:
    """Replay the journal into a mempool after a restart: resubmit what can still commit
    through `submit_transactions` (the journaled path: identical transactions are not written
    twice), forget what is certainly dead, hold the rest (`report.held_transactions`)."""
    txns = journal.replay()
    part = partition_replayed(txns, get_account_states, clock)
    statuses = list(submit_transactions(part.resubmit)) if part.resubmit else []
    dead, held, codes = settle(part.resubmit, statuses)
    held = part.unknown_account + held
    journal.forget_transactions(part.committed + part.expired + dead)
    report = RecoveryReport(
        replayed=len(txns), resubmitted=len(part.resubmit),
        accepted=len(part.resubmit) - sum(codes.values()),
        committed=len(part.committed), expired=len(part.expired),
        unknown_account=len(part.unknown_account), rejected_by_code=codes,
        invalid=len(dead), held=len(held), held_transactions=held)
    if held:
        log.warning("journal %s: %d acknowledged transactions held back (kept, offered again "
                    "later): %d of unknown accounts, %s", journal.path, len(held),
                    len(part.unknown_account), codes or "no other refusal")
    log.info("journal %s recovered: %s", journal.path, report)
    return report
