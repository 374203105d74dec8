"""The outbound broadcaster: one round serves every live peer that is due.

For each peer: resend the batches that asked for a retry or timed out (re-reading their
timeline range, so committed transactions drop out; an empty range counts as acknowledged),
then send new batches from its cursor while it has room in flight. Rounds run one at a time
(`_round_lock`); within a round a range read and encoded once is shared by every peer at the
same cursor. The core lock is held only to read the timeline, the peer book's lock only to
update it, and neither while sending. `on_broadcast(peer, txns, now)`, when given, hears of
every batch a send accepted (the watches' broadcast events), after the send.

With several broadcast buckets (`MempoolConfig.broadcast_buckets`) each peer's cursor is one
timeline id per bucket: a new batch is `read_timeline_buckets(cursors, batch size)`, the
highest bucket first, so under a backlog high fees reach every peer first; it is named by its
per-bucket ranges (`peers.make_batch_id`) and sent as a BUCKET broadcast; a resend re-reads
those ranges (`timeline_range_buckets`). With one bucket, the default, nothing changes.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional

from ..config import MempoolConfig
from ..metrics import MempoolMetrics
from .guarded_core import GuardedCore
from .peers import BatchId, Cursor, PeerBook, make_batch_id
from .protocol import encode_broadcast, encode_bucket_broadcast
from .tracking import StageTracker

__all__ = ["Broadcaster"]


def _timeline_range(core, start: int, end: int):
    return core.timeline_range(start, end)


def _read_timeline(core, cursor: int, count: int):
    return core.read_timeline(cursor, count)


def _read_timeline_buckets(core: Any, cursors: tuple[int, ...],
                           count: int) -> tuple[list[Any], tuple[int, ...]]:
    return core.read_timeline_buckets(cursors, count)  # type: ignore[no-any-return]


def _timeline_range_buckets(core: Any, ranges: tuple[tuple[int, int], ...]) -> list[Any]:
    return core.timeline_range_buckets(ranges)  # type: ignore[no-any-return]


def _pairs(batch_id: BatchId) -> tuple[tuple[int, int], ...]:
    """A bucketed batch id (start_0, end_0, start_1, end_1, ...) as (start, end) pairs."""
    return tuple((batch_id[i], batch_id[i + 1]) for i in range(0, len(batch_id), 2))


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
            ranges: dict[BatchId, tuple[list, bytes]] = {}
            reads: dict[Cursor, tuple[list, Cursor, bytes]] = {}
            for pid in self._peers.due(now):
                self._resend(pid, now, ranges)
                self._send_new(pid, now, reads)
                self._peers.end_round(pid, now)

    def _resend(self, pid: str, now: float, ranges: dict) -> None:
        for bid, retry in self._peers.due_resends(pid, now):
            cached = ranges.get(bid)
            if cached is None:
                if len(bid) == 2:  # one bucket: (start, end)
                    txns = self._core.read(_timeline_range, bid[0], bid[1])
                    data = encode_broadcast(bid[0], bid[1], txns) if txns else b""
                else:
                    txns = self._core.read(_timeline_range_buckets, _pairs(bid))
                    data = encode_bucket_broadcast(bid, txns) if txns else b""
                cached = ranges[bid] = (txns, data)
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
                if isinstance(cursor, int):
                    txns, last = self._core.read(_read_timeline, cursor, self._batch_size)
                    data = encode_broadcast(cursor, last, txns) if txns else b""
                else:
                    txns, last = self._core.read(_read_timeline_buckets, cursor,
                                                 self._batch_size)
                    data = encode_bucket_broadcast(make_batch_id(cursor, last), txns) \
                        if txns else b""
                cached = reads[cursor] = (txns, last, data)
            txns, last, data = cached
            if not txns or not self._peers.sent(pid, cursor, last, now):
                return
            self._metrics.broadcast_batches.inc()
            self._tracker.broadcast(txns, now)
            if self._send(pid, data, len(txns)) and self._on_broadcast is not None:
                self._on_broadcast(pid, txns, now)
