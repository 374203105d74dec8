"""Per-stage latency of locally submitted transactions: submitted -> broadcast (first sent to a
peer) -> pulled (first returned by get_block) -> committed, measured with the node's clock.

A client transaction is tracked from its VALID submission until the removal feed says it left
the pool, by its pointer as the 40 bytes that open its wire form: the state is a dict of floats
and two sets keyed by bytes, which the garbage collector never tracks (tuples as keys would make
every full collection walk them: tens of milliseconds at 1M pending).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from .._wire import POINTER
from ..metrics import MempoolMetrics
from ..transaction import SignedTransaction
from ..types import RemovalReason

__all__ = ["StageTracker"]

_COMMITTED = RemovalReason.COMMITTED
_REPLACED = RemovalReason.REPLACED
_KEY_LEN = POINTER.size


def _key(txn: SignedTransaction) -> bytes:
    return txn.to_bytes()[:_KEY_LEN]


class StageTracker:
    """Owns the tracking state and its lock; observes into `metrics`."""

    def __init__(self, metrics: MempoolMetrics) -> None:
        self._metrics = metrics
        self._lock = threading.Lock()
        self._submitted: dict[bytes, float] = {}
        self._broadcast: set[bytes] = set()
        self._pulled: set[bytes] = set()

    def __len__(self) -> int:
        return len(self._submitted)

    def submitted(self, txns: Iterable[SignedTransaction], now: float) -> None:
        """Start tracking newly accepted client transactions (a resubmission keeps its time)."""
        keys = list(map(_key, txns))
        with self._lock:
            setdefault = self._submitted.setdefault
            for key in keys:
                setdefault(key, now)

    def broadcast(self, txns: Iterable[SignedTransaction], now: float) -> None:
        self._first("submitted_to_broadcast", self._broadcast, txns, now)

    def pulled(self, txns: Iterable[SignedTransaction], now: float) -> None:
        self._first("submitted_to_pulled", self._pulled, txns, now)

    def _first(self, stage: str, seen: set[bytes], txns: Iterable[SignedTransaction],
               now: float) -> None:
        observed: list[float] = []
        with self._lock:
            submitted = self._submitted
            if not submitted:
                return
            for txn in txns:
                key = _key(txn)
                at = submitted.get(key)
                if at is not None and key not in seen:
                    seen.add(key)
                    observed.append(now - at)
        for seconds in observed:
            self._metrics.observe(stage, seconds)

    def removed(self, removals: Iterable[tuple[SignedTransaction, RemovalReason]],
                now: float) -> None:
        """The removal feed: stop tracking what left; a commit ends the last stage."""
        committed: list[float] = []
        with self._lock:
            submitted = self._submitted
            if not submitted:
                return
            for txn, reason in removals:
                if reason is _REPLACED:
                    continue  # its pointer is still pending, with the replacement
                key = _key(txn)
                at = submitted.pop(key, None)
                if at is None:
                    continue
                self._broadcast.discard(key)
                self._pulled.discard(key)
                if reason is _COMMITTED:
                    committed.append(now - at)
        for seconds in committed:
            self._metrics.observe("submitted_to_committed", seconds)
