"""The peer book: every known peer's broadcast cursor, liveness, incarnation, unacknowledged
batches and backoff. It owns its lock; nothing else is done while holding it.

A batch is named by its timeline range (start, end]; with several broadcast buckets a peer has
one cursor per bucket (a tuple, lowest bucket first) and a batch is named by its per-bucket
ranges, flattened: (start_0, end_0, start_1, end_1, ...), an empty range where start == end.
The cursor advances when a batch is sent;
an unacknowledged batch is resent on `retry` or after the ack timeout; a peer that asked for
backoff is served only every backoff interval. A peer's incarnation changes when it restarts:
then it lost what it was sent, so its cursor goes back to 0 and its batches are forgotten (a
reconnect of the same incarnation keeps everything, as the seed says).

A peer whose HELLO names another transaction format than this node's is *refused*
(`observe_format`): it is never served (no batch, no resend) and what it sends is dropped,
until a HELLO of this node's format (it was reconfigured) lifts the refusal.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

__all__ = ["PeerBook", "PeerSyncState", "AckOutcome", "FormatOutcome", "Cursor", "BatchId",
           "make_batch_id"]

#: A peer's broadcast cursor: the last timeline id sent, or one per broadcast bucket.
Cursor = int | tuple[int, ...]
#: An unacknowledged batch: (start, end), or the per-bucket ranges flattened (see above).
BatchId = tuple[int, ...]

#: Incarnations of a peer remembered as retired, so a late message of one is not a restart.
_RETIRED_KEPT = 4


@dataclass(frozen=True, slots=True)
class PeerSyncState:
    """A peer's broadcast cursor (last timeline id sent: with several broadcast buckets the
    highest of its per-bucket cursors, which are `cursors`) and whether it is connected."""

    timeline_id: int
    is_alive: bool
    #: One cursor per broadcast bucket, lowest first; None with one bucket (`timeline_id`).
    cursors: tuple[int, ...] | None = None


def make_batch_id(cursor: Cursor, last: Cursor) -> BatchId:
    """The id of the batch read from `cursor` up to `last`: (cursor, last), or with one cursor
    per bucket their (before, after) pairs flattened."""
    if isinstance(cursor, int):
        assert isinstance(last, int)
        return (cursor, last)
    assert isinstance(last, tuple)
    return tuple(x for pair in zip(cursor, last) for x in pair)


def _last_id(cursor: Cursor) -> int:
    return cursor if isinstance(cursor, int) else max(cursor)


@dataclass(frozen=True, slots=True)
class AckOutcome:
    """What an ack meant: its round-trip time (None: stale, the batch was not in flight)."""

    rtt: float | None


class _InFlight:
    """An unacknowledged batch: when it was last sent, whether the peer asked for a retry."""

    __slots__ = ("sent_at", "retry")

    def __init__(self, sent_at: float) -> None:
        self.sent_at = sent_at
        self.retry = False


class _Peer:
    __slots__ = ("cursor", "is_alive", "inflight", "backoff", "next_serve_at",
                 "incarnation", "retired", "refused", "logged_format")

    def __init__(self, cursor: Cursor) -> None:
        self.cursor = cursor
        self.is_alive = True
        self.inflight: dict[BatchId, _InFlight] = {}
        self.backoff = False
        self.next_serve_at = 0.0
        self.incarnation: int | None = None
        self.retired: list[int] = []
        #: the other transaction format its HELLO named (refused), else None
        self.refused: str | None = None
        #: the last refused format a warning was logged for (log once per peer and format)
        self.logged_format: str | None = None


@dataclass(frozen=True, slots=True)
class FormatOutcome:
    """What a peer's HELLO format meant: `refused` (it is another format: nothing is sent to
    it, nothing it sends is taken), `changed` (it was accepted before, or refused before and
    is now accepted), `log` (first refusal of this peer for that format: warn once)."""

    refused: bool
    changed: bool
    log: bool


class PeerBook:
    """Peer state for the outbound broadcaster and the ack handler (thread-safe)."""

    def __init__(self, *, ack_timeout_s: float, backoff_interval_s: float,
                 max_in_flight: int, buckets: int = 1) -> None:
        self._ack_timeout = ack_timeout_s
        self._backoff_interval = backoff_interval_s
        self._max_in_flight = max_in_flight
        self._lock = threading.Lock()
        self._peers: dict[str, _Peer] = {}
        #: a new (or restarted) peer's cursor: 0, or 0 in every broadcast bucket
        self._initial: Cursor = 0 if buckets == 1 else (0,) * buckets

    # -- membership --
    def new_peer(self, peer_id: str) -> None:
        """A link came up: a new peer starts at cursor 0; a known one is alive again, keeps its
        cursor, and gets its unacknowledged batches again."""
        with self._lock:
            peer = self._peers.get(peer_id)
            if peer is None:
                self._peers[peer_id] = _Peer(self._initial)
                return
            peer.is_alive = True
            peer.backoff = False
            peer.next_serve_at = 0.0
            for batch in peer.inflight.values():
                batch.retry = True

    def lost_peer(self, peer_id: str) -> None:
        with self._lock:
            peer = self._peers.get(peer_id)
            if peer is not None:
                peer.is_alive = False

    def observe_incarnation(self, peer_id: str, incarnation: int) -> bool:
        """Record what a peer says its incarnation is; True when that means it restarted (its
        cursor went back to 0 and its in-flight batches were forgotten)."""
        with self._lock:
            peer = self._heard_from_locked(peer_id)
            if peer.incarnation is None:
                peer.incarnation = incarnation
                return False
            if incarnation == peer.incarnation or incarnation in peer.retired:
                return False
            peer.retired = (peer.retired + [peer.incarnation])[-_RETIRED_KEPT:]
            peer.incarnation = incarnation
            peer.cursor = self._initial
            peer.inflight.clear()
            peer.backoff = False
            peer.next_serve_at = 0.0
            return True

    def _heard_from_locked(self, peer_id: str) -> _Peer:
        """The peer's state, made (not alive: not served yet) when it is heard from before its
        link came up here. Caller holds the lock."""
        peer = self._peers.get(peer_id)
        if peer is None:
            peer = self._peers[peer_id] = _Peer(self._initial)
            peer.is_alive = False
        return peer

    def observe_format(self, peer_id: str, name: str, own: str) -> FormatOutcome:
        """Record the transaction format a peer's HELLO names; refuse it unless it is `own`."""
        with self._lock:
            peer = self._heard_from_locked(peer_id)
            before = peer.refused
            if name == own:
                peer.refused = None
                return FormatOutcome(False, before is not None, False)
            peer.refused = name
            peer.inflight.clear()  # never resent: it cannot take them
            log = peer.logged_format != name
            peer.logged_format = name
            return FormatOutcome(True, before != name, log)

    def is_refused(self, peer_id: str) -> bool:
        """Whether the peer's HELLO named another transaction format."""
        with self._lock:
            peer = self._peers.get(peer_id)
            return peer is not None and peer.refused is not None

    # -- reading --
    def snapshot(self) -> dict[str, PeerSyncState]:
        with self._lock:
            return {pid: PeerSyncState(_last_id(p.cursor), p.is_alive,
                                       None if isinstance(p.cursor, int) else p.cursor)
                    for pid, p in self._peers.items()}

    def in_flight(self, peer_id: str) -> list[BatchId]:
        """The unacknowledged batch ranges of a peer, oldest first."""
        with self._lock:
            peer = self._peers.get(peer_id)
            return list(peer.inflight) if peer is not None else []

    def describe(self) -> dict[str, dict[str, Any]]:
        """Per peer: cursor, liveness, unacknowledged batches, backoff, incarnation."""
        with self._lock:
            described: dict[str, dict[str, Any]] = {}
            for pid, p in self._peers.items():
                described[pid] = {"timeline_id": _last_id(p.cursor), "alive": p.is_alive,
                                  "in_flight": len(p.inflight), "backoff": p.backoff,
                                  "incarnation": p.incarnation}
                if p.refused is not None:
                    described[pid]["refused_format"] = p.refused
                if not isinstance(p.cursor, int):
                    described[pid]["cursors"] = list(p.cursor)
            return described

    # -- outbound --
    def due(self, now: float) -> list[str]:
        """Live peers due for service at `now`."""
        with self._lock:
            return [pid for pid, p in self._peers.items()
                    if p.is_alive and now >= p.next_serve_at and p.refused is None]

    def due_resends(self, peer_id: str, now: float) -> list[tuple[BatchId, bool]]:
        """(batch range, asked for retry) of the peer's batches to send again now."""
        with self._lock:
            peer = self._peers.get(peer_id)
            if peer is None or peer.refused is not None:
                return []
            return [(bid, b.retry) for bid, b in peer.inflight.items()
                    if b.retry or now - b.sent_at >= self._ack_timeout]

    def resent(self, peer_id: str, batch_id: BatchId, now: float, empty: bool) -> bool:
        """Record a resend; an `empty` range (all committed or removed) counts as acknowledged.
        False when the batch is no longer in flight (acknowledged meanwhile): do not send."""
        with self._lock:
            peer = self._peers.get(peer_id)
            batch = peer.inflight.get(batch_id) if peer is not None else None
            if batch is None:
                return False
            if empty:
                del peer.inflight[batch_id]
                return False
            batch.retry = False
            batch.sent_at = now
            return True

    def cursor_for_new_batch(self, peer_id: str) -> Cursor | None:
        """The peer's cursor when it may take one more batch (alive, below its in-flight
        limit), else None."""
        with self._lock:
            peer = self._peers.get(peer_id)
            if (peer is None or not peer.is_alive or peer.refused is not None
                    or len(peer.inflight) >= self._max_in_flight):
                return None
            return peer.cursor

    def sent(self, peer_id: str, cursor: Cursor, last: Cursor, now: float) -> bool:
        """Record a new batch (cursor, last] (its id: `make_batch_id`) as in flight and advance
        the cursor; False when the cursor moved meanwhile (a restart reset it): do not send."""
        with self._lock:
            peer = self._peers.get(peer_id)
            if peer is None or peer.cursor != cursor:
                return False
            peer.inflight[make_batch_id(cursor, last)] = _InFlight(now)
            peer.cursor = last
            return True

    def end_round(self, peer_id: str, now: float) -> None:
        """A peer in backoff is next served one backoff interval from now."""
        with self._lock:
            peer = self._peers.get(peer_id)
            if peer is not None and peer.backoff:
                peer.next_serve_at = now + self._backoff_interval

    # -- acks --
    def on_ack(self, peer_id: str, batch_id: BatchId, retry: bool, backoff: bool,
               now: float) -> AckOutcome:
        """Apply an ack: drop the batch (or mark it for a retry) and follow the backoff flag."""
        rtt = None
        with self._lock:
            peer = self._peers.get(peer_id)
            if peer is None:
                return AckOutcome(None)
            batch = peer.inflight.get(batch_id)
            if batch is not None:
                rtt = now - batch.sent_at
                if retry:
                    batch.retry = True
                else:
                    del peer.inflight[batch_id]
            if backoff:
                if not peer.backoff:
                    peer.backoff = True
                    peer.next_serve_at = now + self._backoff_interval
            else:
                peer.backoff = False
                peer.next_serve_at = 0.0
        return AckOutcome(rtt)
