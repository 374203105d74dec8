"""Notifications to subscribers: each `subscribe()` queue receives every later event."""

from __future__ import annotations

import enum
import queue
import threading

__all__ = ["SharedMempoolNotification", "Notifier"]


class SharedMempoolNotification(enum.Enum):
    """Events delivered to `subscribe()` queues."""

    SYNC = "sync"  #: an outbound round finished
    PEER_STATE_CHANGE = "peer_state_change"  #: a peer came or went
    NEW_TRANSACTIONS = "new_transactions"  #: a batch from a peer was processed
    ACK = "ack"  #: a peer acknowledged a batch
    COMMIT = "commit"  #: commit_transactions committed something
    REJECT = "reject"  #: commit_transactions rejected something


class Notifier:
    """The subscribers' queues, under their own lock (never held while a queue is fed)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: list[queue.SimpleQueue[SharedMempoolNotification]] = []

    def subscribe(self) -> queue.SimpleQueue[SharedMempoolNotification]:
        q: queue.SimpleQueue[SharedMempoolNotification] = queue.SimpleQueue()
        with self._lock:
            self._queues.append(q)
        return q

    def unsubscribe(self, q: queue.SimpleQueue[SharedMempoolNotification]) -> bool:
        """Stop feeding `q`; False if it was not subscribed."""
        with self._lock:
            try:
                self._queues.remove(q)
            except ValueError:
                return False
            return True

    def notify(self, event: SharedMempoolNotification) -> None:
        with self._lock:
            queues = list(self._queues)
        for q in queues:
            q.put(event)
