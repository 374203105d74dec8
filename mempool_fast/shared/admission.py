"""Admission: the one path every transaction takes into the core, from clients and from peers.

In order: a transaction whose client expiration time is already past is refused
(TRANSACTION_EXPIRED, against the shared mempool's clock; a format whose transactions carry no
expiration time, `expiration_time` None as Ethereum's, skips the check for those); the
validator (the format's `verify`: for the native format `Ed25519Validator.validate` itself)
checks the rest as one batch (signatures, sender, sizes); the account store answers for the senders that passed, in one
read; the core admits them under its lock, in one acquisition. No lock is held while validating
or reading account state.
"""

from __future__ import annotations

import collections
import itertools
import operator
from typing import Any, Callable, Sequence, cast

from ..config import MempoolConfig
from ..metrics import MempoolMetrics
from ..storage import unknown_account
from ..transaction import SignedTransaction
from ..types import (STATUS_VALID, MempoolAddTransactionStatus, MempoolAddTransactionStatusCode,
                     TimelineState, transaction_expired)
from .guarded_core import GuardedCore

__all__ = ["Admission"]

_VALID = MempoolAddTransactionStatusCode.VALID
_expiration = operator.attrgetter("expiration_time")
_sender = operator.attrgetter("sender")
_code = operator.attrgetter("code")
_first = operator.itemgetter(0)
_ALWAYS_VALID = itertools.repeat(STATUS_VALID)

#: Called with the newly VALID transactions of a batch while the core lock is held.
ValidLockedCallback = Callable[[list[SignedTransaction]], None]
#: (transaction, gas amount, account sequence number, balance): what `add_txns` takes.
AddItem = tuple[SignedTransaction, int, int, int]


class Admission:
    """Validate -> account state -> core, for one shared mempool.

    The work is per batch wherever it can be: the expiry check, the validator's verdicts, the
    account read and the statuses take a fast path when the whole batch passes (the common
    case) and only look at transactions one by one when some did not; the status counters are
    bumped once per code and batch.
    """

    def __init__(self, config: MempoolConfig, verify: Callable[[Sequence[Any]], Sequence[Any]],
                 storage: Any, core: GuardedCore, metrics: MempoolMetrics,
                 clock: Callable[[], float], *, expiring: bool = True) -> None:
        """`verify(txns)`: one status or None per transaction (the format's `verify`, for the
        native format the validator's bound `validate`: no wrapper). `expiring`: every
        transaction has an int `expiration_time` (the native format; the fast expiry check);
        False: it may be None (no client expiration), which is never refused as expired."""
        self._config = config
        self._verify = verify
        self._expiring = expiring
        self._storage = storage
        self._core = core
        self._metrics = metrics
        self._clock = clock
        self._status_counters: dict[tuple[str, Any], Any] = {}

    def admit(self, txns: Sequence[SignedTransaction], state: TimelineState, origin: str,
              on_valid_locked: ValidLockedCallback | None = None
              ) -> list[MempoolAddTransactionStatus]:
        """One status per transaction, in order. `on_valid_locked(txns)` is called with the
        newly VALID ones while the core lock is still held."""
        if not txns:
            return []
        txns = txns if type(txns) is list else list(txns)
        now = self._clock()
        if self._expiring:
            fresh_batch = min(map(_expiration, txns)) >= now
        else:
            fresh_batch = not any(e is not None and e < now for e in map(_expiration, txns))
        if fresh_batch:
            results = self._validate_and_add(txns, state, on_valid_locked)
        else:
            filled: list[MempoolAddTransactionStatus | None] = [None] * len(txns)
            fresh = []
            for i, txn in enumerate(txns):
                if txn.expiration_time is not None and txn.expiration_time < now:
                    filled[i] = transaction_expired(txn.expiration_time, now)
                else:
                    fresh.append(i)
            if fresh:
                added = self._validate_and_add([txns[i] for i in fresh], state,
                                               on_valid_locked)
                for i, status in zip(fresh, added):
                    filled[i] = status
            # every slot is filled now (expired, or the status of its fresh transaction)
            results = cast(list[MempoolAddTransactionStatus], filled)
        self._count(results, origin)
        return results

    def _count(self, results: list[MempoolAddTransactionStatus], origin: str) -> None:
        counters = self._status_counters
        for code, n in collections.Counter(map(_code, results)).items():
            counter = counters.get((origin, code))
            if counter is None:
                counter = counters[(origin, code)] = self._metrics.statuses.labels(
                    origin=origin, code=code.name)
            counter.inc(n)

    def _validate_and_add(self, txns: list[SignedTransaction], state: TimelineState,
                          on_valid_locked: ValidLockedCallback | None
                          ) -> list[MempoolAddTransactionStatus]:
        """The statuses of `txns` (none expired), in order."""
        # a copy: it is filled in below (every None, a transaction that passed, gets its
        # core status), so what is returned holds statuses only
        checked: list[MempoolAddTransactionStatus | None] = list(self._verify(txns))
        done = cast(list[MempoolAddTransactionStatus], checked)
        n = len(txns)
        if len(checked) != n:
            raise RuntimeError(f"the validator returned {len(checked)} results for "
                               f"{n} transactions (one per transaction, in order)")
        passed_count = checked.count(None)
        if passed_count == 0:
            return done
        if passed_count == n:
            passed, where = txns, None
        else:
            where = [k for k, status in enumerate(checked) if status is None]
            passed = [txns[k] for k in where]
        senders = list(map(_sender, passed))
        states = self._storage.get_account_states(senders)
        if type(states) is not list:
            states = list(states)
        if len(states) != len(senders):
            raise ValueError(
                f"{type(self._storage).__name__}.get_account_states returned {len(states)} "
                f"states for {len(senders)} addresses; the contract is one (sequence_number, "
                "balance) or None per address, in order")
        batch: list[AddItem]
        slots: list[int]
        if None not in states:
            batch = [(txn, txn.max_gas_amount, account[0], account[1])
                     for txn, account in zip(passed, states)]
            added = self._core.apply(_add, batch, state, on_valid_locked)
            if where is None:
                return list(added)
            slots = where
        else:
            # unknown senders: their status now, the others to the core
            batch, slots = [], []
            for k, (txn, account) in enumerate(zip(passed, states)):
                slot = k if where is None else where[k]
                if account is None:
                    checked[slot] = unknown_account(txn.sender)
                else:
                    batch.append((txn, txn.max_gas_amount, account[0], account[1]))
                    slots.append(slot)
            if not batch:
                return done
            added = self._core.apply(_add, batch, state, on_valid_locked)
        for slot, status in zip(slots, added):
            checked[slot] = status
        return done


def _add(core: Any, batch: list[AddItem], state: TimelineState,
         on_valid_locked: ValidLockedCallback | None) -> list[MempoolAddTransactionStatus]:
    statuses: list[MempoolAddTransactionStatus] = core.add_txns(batch, state)
    if on_valid_locked is not None:
        if len(statuses) == len(batch) and all(map(operator.is_, statuses, _ALWAYS_VALID)):
            valid = list(map(_first, batch))
        else:
            valid = [item[0] for item, status in zip(batch, statuses)
                     if status is STATUS_VALID or status.code == _VALID]
        if valid:
            on_valid_locked(valid)
    return statuses
