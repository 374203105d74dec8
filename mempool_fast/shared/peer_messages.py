"""What a node does with each network event: a peer came or went, said HELLO, acknowledged a
batch, or sent one (admit it as NON_QUALIFIED, answer with an ack). Stateless itself: the
peer book, the inbound pool, admission and the core own the state it touches.

Transaction formats: a node's HELLO names its format (`TransactionFormat.name`); a peer whose
HELLO names another one is refused: the peer book stops serving it, everything it sends is
dropped and counted (`mempool_refused_peer_messages_total` by kind: hello, broadcast, ack), and
a warning is logged once per peer and format. A peer's batch is decoded with this node's
format (`decode`), a malformed transaction dropped and counted alone."""

from __future__ import annotations

import logging
from typing import Callable, Protocol

from ..fair_pool import FairPool
from ..metrics import MempoolMetrics
from ..network.base import EventKind, NetworkEvent
from ..types import MalformedMessage, MempoolAddTransactionStatusCode, TimelineState
from .admission import Admission
from .guarded_core import GuardedCore
from .notifications import Notifier, SharedMempoolNotification
from .peers import PeerBook
from .protocol import (NATIVE_FORMAT, Ack, BroadcastRequest, BucketAck, BucketBroadcastRequest,
                       Decoder, Hello, decode, encode, hello_format)
from ..transaction import SignedTransaction

#: A peer's batch: one timeline range, or (from a node with broadcast buckets) one per bucket.
PeerBatch = BroadcastRequest | BucketBroadcastRequest

__all__ = ["PeerMessages"]

log = logging.getLogger(__name__)

_FULL = MempoolAddTransactionStatusCode.MEMPOOL_IS_FULL


class _HealthChecked(Protocol):
    """A core (either class), as far as `_health_check` reads it."""

    def health_check(self) -> bool: ...


def _health_check(core: _HealthChecked) -> bool:
    return core.health_check()


class PeerMessages:
    """The handlers of one node's network events (see the module docstring)."""

    def __init__(self, *, name: str, incarnation: int, peers: PeerBook, admission: Admission,
                 core: GuardedCore, inbound: FairPool, metrics: MempoolMetrics,
                 notifier: Notifier, send: Callable[..., bool], clock: Callable[[], float],
                 stopping: Callable[[], bool], format_name: str = NATIVE_FORMAT,
                 decode_transaction: Decoder = SignedTransaction.from_bytes) -> None:
        """`format_name`: this node's transaction format, announced in its HELLO and required
        of its peers'; `decode_transaction`: that format's `decode`, for peers' batches."""
        self._name = name
        self._format = format_name
        self._decode = decode_transaction
        self._incarnation = incarnation
        self._peers = peers
        self._admission = admission
        self._core = core
        self._inbound = inbound
        self._metrics = metrics
        self._notifier = notifier
        self._send = send
        self._clock = clock
        self._stopping = stopping

    def on_event(self, event: NetworkEvent,
                 on_broadcast: Callable[[str, PeerBatch], object]) -> None:
        """Handle one event; a peer's batch goes to `on_broadcast(peer_id, message)` (the
        inbound pool when the node runs, `process_broadcast` inline under pump())."""
        kind, peer_id = event.kind, event.peer_id
        if kind is EventKind.NEW_PEER:
            self._peers.new_peer(peer_id)
            self._send(peer_id, encode(Hello(self._incarnation, self._format)))
            self._metrics.peer_events.labels(kind="new_peer").inc()
            self._notifier.notify(SharedMempoolNotification.PEER_STATE_CHANGE)
            return
        if kind is EventKind.LOST_PEER:
            self._peers.lost_peer(peer_id)
            self._inbound.drop_waiting(peer_id)  # unacknowledged: resent when it is back
            self._metrics.peer_events.labels(kind="lost_peer").inc()
            self._notifier.notify(SharedMempoolNotification.PEER_STATE_CHANGE)
            return
        try:
            message = decode(event.data)
        except MalformedMessage as exc:
            log.debug("malformed message from %s dropped: %s", peer_id, exc)
            self._metrics.malformed_messages.inc()
            return
        if isinstance(message, Hello):
            if self._observe_format(peer_id, message.format):
                self._observe_incarnation(peer_id, message.incarnation)
            return
        if self._peers.is_refused(peer_id):
            what = "ack" if isinstance(message, (Ack, BucketAck)) else "broadcast"
            self._metrics.refused_peer_messages.labels(kind=what).inc()
            return
        if isinstance(message, (Ack, BucketAck)):
            self._observe_incarnation(peer_id, message.incarnation)
            self._on_ack(peer_id, message)
        else:
            on_broadcast(peer_id, message)

    def _observe_format(self, peer_id: str, name: str) -> bool:
        """Apply a HELLO's format; False when the peer is refused (another format)."""
        outcome = self._peers.observe_format(peer_id, hello_format(name), self._format)
        if not outcome.refused:
            if outcome.changed:
                log.info("%s: peer %s now says transaction format %r, as this node: "
                         "exchanging transactions with it", self._name, peer_id, self._format)
            return True
        self._metrics.refused_peer_messages.labels(kind="hello").inc()
        if outcome.log:
            log.warning("%s: peer %s uses transaction format %r, this node %r: link refused "
                        "(nothing is sent to it, what it sends is dropped)", self._name,
                        peer_id, name, self._format)
        if outcome.changed:
            self._notifier.notify(SharedMempoolNotification.PEER_STATE_CHANGE)
        return False

    def _observe_incarnation(self, peer_id: str, incarnation: int) -> None:
        if incarnation and self._peers.observe_incarnation(peer_id, incarnation):
            self._metrics.peer_restarts.inc()
            log.info("%s: peer %s restarted (incarnation %016x): broadcasting to it from the "
                     "start", self._name, peer_id, incarnation)

    def enqueue(self, peer_id: str, message: PeerBatch) -> None:
        """Hand a peer's batch to the inbound pool (dropped, unacknowledged, over its share)."""
        if self._stopping():
            return
        if not self._inbound.submit(peer_id, message):
            log.debug("inbound batch from %s dropped: peer over its inbound share", peer_id)
            self._metrics.inbound_dropped.labels(reason="peer_share").inc()

    def inbound_job(self, peer_id: str, message: PeerBatch) -> None:
        """An inbound pool job: one peer batch."""
        self._metrics.inbound_in_flight.inc()
        try:
            self.process_broadcast(peer_id, message)
        finally:
            self._metrics.inbound_in_flight.dec()

    def process_broadcast(self, peer_id: str, message: PeerBatch) -> Ack | BucketAck:
        """Admit a peer's batch as NON_QUALIFIED, ack it, notify NEW_TRANSACTIONS."""
        started = self._clock()
        metrics = self._metrics
        metrics.received_batches.inc()
        txns, bad = message.transactions(self._decode)
        if bad:
            log.debug("%d malformed transactions from %s dropped", bad, peer_id)
            metrics.malformed_transactions.inc(bad)
        statuses = self._admission.admit(txns, TimelineState.NON_QUALIFIED, "peer") \
            if txns else []
        retry = any(s.code == _FULL for s in statuses)
        backoff = not self._core.read(_health_check)
        ack: Ack | BucketAck
        if isinstance(message, BucketBroadcastRequest):  # its ranges are echoed
            ack = BucketAck(message.ranges, retry, backoff, self._incarnation)
        else:
            ack = Ack(message.batch_start, message.batch_end, retry, backoff, self._incarnation)
        metrics.acks_sent.labels(retry=str(retry), backoff=str(backoff)).inc()
        self._send(peer_id, encode(ack))
        metrics.observe("inbound_batch", self._clock() - started)
        self._notifier.notify(SharedMempoolNotification.NEW_TRANSACTIONS)
        return ack

    def _on_ack(self, peer_id: str, ack: Ack | BucketAck) -> None:
        outcome = self._peers.on_ack(peer_id, ack.batch_id, ack.retry, ack.backoff,
                                     self._clock())
        self._metrics.acks_received.labels(retry=str(ack.retry),
                                           backoff=str(ack.backoff)).inc()
        if outcome.rtt is None:
            self._metrics.stale_acks.inc()
        else:
            self._metrics.observe("ack_rtt", outcome.rtt)
        self._notifier.notify(SharedMempoolNotification.ACK)
