"""Per-stage latency of locally submitted transactions: submitted -> broadcast (first sent to a
peer) -> pulled (first returned by get_block) -> committed, measured with the node's clock.

A client transaction is tracked from its VALID submission until the removal feed says it left
the pool, by its pointer as a 40-byte key (sender padded to 32 | seq: for a native transaction
the 40 bytes that open its wire form, read from it; for another format packed from its
fields, status_history.pointer_key): the state is a dict of floats
and two sets keyed by bytes, which the garbage collector never tracks (tuples as keys would make
every full collection walk them: tens of milliseconds at 1M pending).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

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


def _packed_key(txn: Any) -> bytes:
    return POINTER.pack(txn.sender, txn.sequence_number)


class StageTracker:
    """Owns the tracking state and its lock; observes into `metrics`. `native`: the native
    wire layout (keys read from the wire form), else keys packed from each transaction."""

    def __init__(self, metrics: MempoolMetrics, *, native: bool = True) -> None:
        self._key: Callable[[Any], bytes] = _key if native else _packed_key
        self._metrics = metrics
        self._lock = threading.Lock()
        self._submitted: dict[bytes, float] = {}
        self._broadcast: set[bytes] = set()
        self._pulled: set[bytes] = set()

    def __len__(self) -> int:
        return len(self._submitted)

    def submitted(self, txns: Iterable[SignedTransaction], now: float) -> None:
        """Start tracking newly accepted client transactions (a resubmission keeps its time)."""
        keys = list(map(self._key, txns))
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
            key_of = self._key
            for txn in txns:
                key = key_of(txn)
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
            key_of = self._key
            for txn, reason in removals:
                if reason is _REPLACED:
                    continue  # its pointer is still pending, with the replacement
                key = key_of(txn)
                at = submitted.pop(key, None)
                if at is None:
                    continue
                self._broadcast.discard(key)
                self._pulled.discard(key)
                if reason is _COMMITTED:
                    committed.append(now - at)
        for seconds in committed:
            self._metrics.observe("submitted_to_committed", seconds)
