"""Admission: the one path every transaction takes into the core, from clients and from peers.

In order: a transaction whose client expiration time is already past is refused
(TRANSACTION_EXPIRED, against the shared mempool's clock); the validator checks the rest as one
batch (signatures, sender, sizes); the account store answers for the senders that passed, in one
read; the core admits them under its lock, in one acquisition. No lock is held while validating
or reading account state.
"""

from __future__ import annotations

import collections
from typing import Any, Callable, Sequence

from ..config import MempoolConfig
from ..metrics import MempoolMetrics
from ..storage import unknown_account
from ..types import STATUS_VALID, MempoolAddTransactionStatus, TimelineState, transaction_expired
from .guarded_core import GuardedCore

__all__ = ["Admission"]


class Admission:
    """Validate -> account state -> core, for one shared mempool."""

    def __init__(self, config: MempoolConfig, validator: Any, storage: Any, core: GuardedCore,
                 metrics: MempoolMetrics, clock: Callable[[], float]) -> None:
        self._config = config
        self._validator = validator
        self._storage = storage
        self._core = core
        self._metrics = metrics
        self._clock = clock

    def admit(self, txns: Sequence, state: TimelineState, origin: str,
              on_valid_locked: Callable[[list], None] | None = None
              ) -> list[MempoolAddTransactionStatus]:
        """One status per transaction, in order. `on_valid_locked(txns)` is called with the
        newly VALID ones while the core lock is still held."""
        now = self._clock()
        results: list = [None] * len(txns)
        fresh = []
        for i, txn in enumerate(txns):
            if txn.expiration_time < now:
                results[i] = transaction_expired(txn.expiration_time, now)
            else:
                fresh.append(i)
        if fresh:
            self._validate_and_add([txns[i] for i in fresh], fresh, results, state,
                                   on_valid_locked)
        by_code = collections.Counter(status.code for status in results)
        for code, n in by_code.items():
            self._metrics.statuses.labels(origin=origin, code=code.name).inc(n)
        return results

    def _validate_and_add(self, txns: list, where: list[int], results: list,
                          state: TimelineState, on_valid_locked) -> None:
        checked = list(self._validator.validate(txns))
        if len(checked) != len(txns):
            raise RuntimeError(f"the validator returned {len(checked)} results for "
                               f"{len(txns)} transactions (one per transaction, in order)")
        passed = [k for k, status in enumerate(checked) if status is None]
        for k, status in enumerate(checked):
            if status is not None:
                results[where[k]] = status
        if not passed:
            return
        senders = [txns[k].sender for k in passed]
        states = list(self._storage.get_account_states(senders))
        if len(states) != len(senders):
            raise ValueError(
                f"{type(self._storage).__name__}.get_account_states returned {len(states)} "
                f"states for {len(senders)} addresses; the contract is one (sequence_number, "
                "balance) or None per address, in order")
        batch, slots = [], []
        for k, account in zip(passed, states):
            txn = txns[k]
            if account is None:
                results[where[k]] = unknown_account(txn.sender)
            else:
                batch.append((txn, txn.max_gas_amount, account[0], account[1]))
                slots.append(where[k])
        if batch:
            added = self._core.apply(_add, batch, state, on_valid_locked)
            for slot, status in zip(slots, added):
                results[slot] = status


def _add(core, batch: list, state: TimelineState, on_valid_locked) -> list:
    statuses = core.add_txns(batch, state)
    if on_valid_locked is not None:
        valid = [item[0] for item, status in zip(batch, statuses) if status is STATUS_VALID]
        if valid:
            on_valid_locked(valid)
    return statuses
