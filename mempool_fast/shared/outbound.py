"""The outbound broadcaster: one round serves every live peer that is due.

For each peer: resend the batches that asked for a retry or timed out (re-reading their
timeline range, so committed transactions drop out; an empty range counts as acknowledged),
then send new batches from its cursor while it has room in flight. Rounds run one at a time
(`_round_lock`); within a round a range read and encoded once is shared by every peer at the
same cursor. The core lock is held only to read the timeline, the peer book's lock only to
update it, and neither while sending. `on_broadcast(peer, txns, now)`, when given, hears of
every batch a send accepted (the watches' broadcast events), after the send.
"""

from __future__ import annotations

import threading
from typing import Callable, Optional

from ..config import MempoolConfig
from ..metrics import MempoolMetrics
from .guarded_core import GuardedCore
from .peers import PeerBook
from .protocol import encode_broadcast
from .tracking import StageTracker

__all__ = ["Broadcaster"]


def _timeline_range(core, start: int, end: int):
    return core.timeline_range(start, end)


def _read_timeline(core, cursor: int, count: int):
    return core.read_timeline(cursor, count)


class Broadcaster:
    """Runs outbound rounds (see the module docstring)."""

    def __init__(self, config: MempoolConfig, core: GuardedCore, peers: PeerBook,
                 send: Callable[[str, bytes, int], bool], metrics: MempoolMetrics,
                 tracker: StageTracker, clock: Callable[[], float], *,
                 on_broadcast: Optional[Callable[[str, list, float], None]] = None) -> None:
        self._batch_size = config.shared_mempool_batch_size
        self._batches_per_round = config.shared_mempool_max_batches_per_round
        self._core = core
        self._peers = peers
        self._send = send
        self._metrics = metrics
        self._tracker = tracker
        self._clock = clock
        self._on_broadcast = on_broadcast
        self._round_lock = threading.Lock()

    def round(self) -> None:
        """One outbound round over every live peer that is due."""
        with self._round_lock:
            now = self._clock()
            ranges: dict[tuple[int, int], tuple[list, bytes]] = {}
            reads: dict[int, tuple[list, int, bytes]] = {}
            for pid in self._peers.due(now):
                self._resend(pid, now, ranges)
                self._send_new(pid, now, reads)
                self._peers.end_round(pid, now)

    def _resend(self, pid: str, now: float, ranges: dict) -> None:
        for bid, retry in self._peers.due_resends(pid, now):
            cached = ranges.get(bid)
            if cached is None:
                txns = self._core.read(_timeline_range, bid[0], bid[1])
                cached = ranges[bid] = (txns, encode_broadcast(bid[0], bid[1], txns)
                                        if txns else b"")
            txns, data = cached
            if not self._peers.resent(pid, bid, now, empty=not txns):
                continue
            self._metrics.resent_batches.labels(reason="retry" if retry else "timeout").inc()
            if self._send(pid, data, len(txns)) and self._on_broadcast is not None:
                self._on_broadcast(pid, txns, now)

    def _send_new(self, pid: str, now: float, reads: dict) -> None:
        for _ in range(self._batches_per_round):
            cursor = self._peers.cursor_for_new_batch(pid)
            if cursor is None:
                return
            cached = reads.get(cursor)
            if cached is None:
                txns, last = self._core.read(_read_timeline, cursor, self._batch_size)
                cached = reads[cursor] = (txns, last, encode_broadcast(cursor, last, txns)
                                          if txns else b"")
            txns, last, data = cached
            if not txns or not self._peers.sent(pid, cursor, last, now):
                return
            self._metrics.broadcast_batches.inc()
            self._tracker.broadcast(txns, now)
            if self._send(pid, data, len(txns)) and self._on_broadcast is not None:
                self._on_broadcast(pid, txns, now)
