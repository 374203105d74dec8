"""The peer book: every known peer's broadcast cursor, liveness, incarnation, unacknowledged
batches and backoff. It owns its lock; nothing else is done while holding it.

A batch is named by its timeline range (start, end]. The cursor advances when a batch is sent;
an unacknowledged batch is resent on `retry` or after the ack timeout; a peer that asked for
backoff is served only every backoff interval. A peer's incarnation changes when it restarts:
then it lost what it was sent, so its cursor goes back to 0 and its batches are forgotten (a
reconnect of the same incarnation keeps everything, as the seed says).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

__all__ = ["PeerBook", "PeerSyncState", "AckOutcome"]

#: Incarnations of a peer remembered as retired, so a late message of one is not a restart.
_RETIRED_KEPT = 4


@dataclass(frozen=True, slots=True)
class PeerSyncState:
    """A peer's broadcast cursor (last timeline id sent) and whether it is connected."""

    timeline_id: int
    is_alive: bool


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
    __slots__ = ("timeline_id", "is_alive", "inflight", "backoff", "next_serve_at",
                 "incarnation", "retired")

    def __init__(self) -> None:
        self.timeline_id = 0
        self.is_alive = True
        self.inflight: dict[tuple[int, int], _InFlight] = {}
        self.backoff = False
        self.next_serve_at = 0.0
        self.incarnation: int | None = None
        self.retired: list[int] = []


class PeerBook:
    """Peer state for the outbound broadcaster and the ack handler (thread-safe)."""

    def __init__(self, *, ack_timeout_s: float, backoff_interval_s: float,
                 max_in_flight: int) -> None:
        self._ack_timeout = ack_timeout_s
        self._backoff_interval = backoff_interval_s
        self._max_in_flight = max_in_flight
        self._lock = threading.Lock()
        self._peers: dict[str, _Peer] = {}

    # -- membership --
    def new_peer(self, peer_id: str) -> None:
        """A link came up: a new peer starts at cursor 0; a known one is alive again, keeps its
        cursor, and gets its unacknowledged batches again."""
        with self._lock:
            peer = self._peers.get(peer_id)
            if peer is None:
                self._peers[peer_id] = _Peer()
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
            peer = self._peers.get(peer_id)
            if peer is None:  # heard from before its link came up here: not served yet
                peer = self._peers[peer_id] = _Peer()
                peer.is_alive = False
            if peer.incarnation is None:
                peer.incarnation = incarnation
                return False
            if incarnation == peer.incarnation or incarnation in peer.retired:
                return False
            peer.retired = (peer.retired + [peer.incarnation])[-_RETIRED_KEPT:]
            peer.incarnation = incarnation
            peer.timeline_id = 0
            peer.inflight.clear()
            peer.backoff = False
            peer.next_serve_at = 0.0
            return True

    # -- reading --
    def snapshot(self) -> dict[str, PeerSyncState]:
        with self._lock:
            return {pid: PeerSyncState(p.timeline_id, p.is_alive) for pid, p in self._peers.items()}

    def in_flight(self, peer_id: str) -> list[tuple[int, int]]:
        """The unacknowledged batch ranges of a peer, oldest first."""
        with self._lock:
            peer = self._peers.get(peer_id)
            return list(peer.inflight) if peer is not None else []

    def describe(self) -> dict[str, dict]:
        """Per peer: cursor, liveness, unacknowledged batches, backoff, incarnation."""
        with self._lock:
            return {pid: {"timeline_id": p.timeline_id, "alive": p.is_alive,
                          "in_flight": len(p.inflight), "backoff": p.backoff,
                          "incarnation": p.incarnation}
                    for pid, p in self._peers.items()}

    # -- outbound --
    def due(self, now: float) -> list[str]:
        """Live peers due for service at `now`."""
        with self._lock:
            return [pid for pid, p in self._peers.items()
                    if p.is_alive and now >= p.next_serve_at]

    def due_resends(self, peer_id: str, now: float) -> list[tuple[tuple[int, int], bool]]:
        """(batch range, asked for retry) of the peer's batches to send again now."""
        with self._lock:
            peer = self._peers.get(peer_id)
            if peer is None:
                return []
            return [(bid, b.retry) for bid, b in peer.inflight.items()
                    if b.retry or now - b.sent_at >= self._ack_timeout]

    def resent(self, peer_id: str, batch_id: tuple[int, int], now: float, empty: bool) -> bool:
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

    def cursor_for_new_batch(self, peer_id: str) -> int | None:
        """The peer's cursor when it may take one more batch (alive, below its in-flight
        limit), else None."""
        with self._lock:
            peer = self._peers.get(peer_id)
            if peer is None or not peer.is_alive or len(peer.inflight) >= self._max_in_flight:
                return None
            return peer.timeline_id

    def sent(self, peer_id: str, cursor: int, last: int, now: float) -> bool:
        """Record a new batch (cursor, last] as in flight and advance the cursor; False when the
        cursor moved meanwhile (a restart reset it): do not send."""
        with self._lock:
            peer = self._peers.get(peer_id)
            if peer is None or peer.timeline_id != cursor:
                return False
            peer.inflight[(cursor, last)] = _InFlight(now)
            peer.timeline_id = last
            return True

    def end_round(self, peer_id: str, now: float) -> None:
        """A peer in backoff is next served one backoff interval from now."""
        with self._lock:
            peer = self._peers.get(peer_id)
            if peer is not None and peer.backoff:
                peer.next_serve_at = now + self._backoff_interval

    # -- acks --
    def on_ack(self, peer_id: str, batch_id: tuple[int, int], retry: bool, backoff: bool,
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
