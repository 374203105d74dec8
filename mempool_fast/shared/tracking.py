"""Per-stage latency of locally submitted transactions: submitted -> broadcast (first sent to a
peer) -> pulled (first returned by get_block) -> committed, measured with the node's clock.

A client transaction is tracked from its VALID submission until the removal feed says it left
the pool; the state is a float and two sets of pointers (nothing the Python GC has to walk).
"""

from __future__ import annotations

import threading

from ..metrics import MempoolMetrics
from ..types import RemovalReason

__all__ = ["StageTracker"]

_COMMITTED = RemovalReason.COMMITTED
_REPLACED = RemovalReason.REPLACED


class StageTracker:
    """Owns the tracking state and its lock; observes into `metrics`."""

    def __init__(self, metrics: MempoolMetrics) -> None:
        self._metrics = metrics
        self._lock = threading.Lock()
        self._submitted: dict[tuple[bytes, int], float] = {}
        self._broadcast: set[tuple[bytes, int]] = set()
        self._pulled: set[tuple[bytes, int]] = set()

    def __len__(self) -> int:
        return len(self._submitted)

    def submitted(self, pointers, now: float) -> None:
        """Start tracking newly accepted client transactions (a resubmission keeps its time)."""
        with self._lock:
            setdefault = self._submitted.setdefault
            for ptr in pointers:
                setdefault(ptr, now)

    def broadcast(self, txns, now: float) -> None:
        self._first("submitted_to_broadcast", self._broadcast, txns, now)

    def pulled(self, txns, now: float) -> None:
        self._first("submitted_to_pulled", self._pulled, txns, now)

    def _first(self, stage: str, seen: set, txns, now: float) -> None:
        observed = []
        with self._lock:
            submitted = self._submitted
            if not submitted:
                return
            for txn in txns:
                ptr = txn.pointer
                at = submitted.get(ptr)
                if at is not None and ptr not in seen:
                    seen.add(ptr)
                    observed.append(now - at)
        for seconds in observed:
            self._metrics.observe(stage, seconds)

    def removed(self, removals, now: float) -> None:
        """The removal feed: stop tracking what left; a commit ends the last stage."""
        committed = []
        with self._lock:
            submitted = self._submitted
            if not submitted:
                return
            for txn, reason in removals:
                if reason is _REPLACED:
                    continue  # its pointer is still pending, with the replacement
                ptr = txn.pointer
                at = submitted.pop(ptr, None)
                if at is None:
                    continue
                self._broadcast.discard(ptr)
                self._pulled.discard(ptr)
                if reason is _COMMITTED:
                    committed.append(now - at)
        for seconds in committed:
            self._metrics.observe("submitted_to_committed", seconds)
