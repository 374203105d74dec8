"""SharedMempool: the seed's shared mempool in Python threads, with acknowledged broadcast.

`SharedMempool` is a thin facade: it wires the collaborators, starts and stops their threads,
and offers the public API (docs/design.md §5, §6). Each collaborator owns its state and its lock:

  guarded_core  the core and its lock; delivers the core's removal feed to listeners
  admission     validate -> account state -> core, for clients and peers
  peers         the peer book: cursors, liveness, incarnations, in-flight batches, backoff
  outbound      the broadcaster: one round serves every live peer that is due
  inbound       the network reader (back-pressure), feeding a fair pool (mempool_fast.fair_pool)
  tracking      per-stage latency of local submissions
  durability    the journal binding: durable before acknowledged, forgotten when removed
  notifications subscribers' queues
  peer_messages what each network event does (membership, HELLO, acks, a peer's batch)
  protocol      the peer messages and their encoding

Threads: outbound (every `shared_mempool_tick_interval_ms`, one round), reader (network events
in order; broadcasts go to the inbound pool of at most `shared_mempool_max_concurrent_inbound_
syncs` batches, `shared_mempool_max_inbound_syncs_per_peer` per peer), gc (every
`system_transaction_gc_interval_ms`), journal (maintenance, when there is a journal).

Lock order (a thread holding one may take only those to its right; most are never nested):
  core -> journal binding -> journal file locks;  peer book, inbound pool, tracker,
  notifier and metrics are leaves, never held while another is taken. No lock is held across a
  send, a validation, an account-state read, an fsync or a compaction.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from typing import Any, Iterable

from .._wire import check_pointers
from ..config import MempoolConfig
from ..fair_pool import FairPool
from ..metrics import MempoolMetrics
from ..network.base import Network
from ..storage import AccountStateReader
from ..transaction import SignedTransaction, is_transaction
from ..types import MempoolAddTransactionStatus, MempoolAddTransactionStatusCode, TimelineState
from .admission import Admission
from .durability import JournalBinding
from .guarded_core import GuardedCore
from .inbound import NetworkReader
from .notifications import Notifier, SharedMempoolNotification
from .outbound import Broadcaster
from .peer_messages import PeerMessages
from .peers import PeerBook, PeerSyncState
from .protocol import Ack, BroadcastRequest
from .tracking import StageTracker

__all__ = ["SharedMempool", "SharedMempoolNotification", "PeerSyncState"]

log = logging.getLogger(__name__)

_Code = MempoolAddTransactionStatusCode


def _interval(ms: int) -> float:
    return min(ms / 1000.0, threading.TIMEOUT_MAX)


class SharedMempool:
    """Peers, outbound sync, inbound pool, GC, notifications, client and consensus paths."""

    def __init__(self, config: MempoolConfig, network: Network, storage: AccountStateReader, *,
                 validator: Any = None, mempool: Any = None, journal: Any = None,
                 clock=time.time, incarnation: int | None = None) -> None:
        if not isinstance(config, MempoolConfig):
            raise TypeError("config must be a MempoolConfig")
        for name in ("send", "recv"):
            if not callable(getattr(network, name, None)):
                raise TypeError(f"network must implement Network ({name} is missing)")
        if not callable(getattr(storage, "get_account_states", None)):
            raise TypeError("storage must provide get_account_states(addresses)")
        self._owns_validator = validator is None
        if validator is None:
            from ..validation import Ed25519Validator
            validator = Ed25519Validator(config)
        if mempool is None:
            from .. import CoreMempool
            mempool = CoreMempool(config, clock=clock)
        self.config = config
        self.network = network
        self.storage = storage
        self.validator = validator
        #: TransactionJournal of client transactions (None: not durable); owned by the caller.
        self.journal = journal
        #: This node's random id for this run: peers start over when it changes.
        self.incarnation = incarnation if incarnation is not None else \
            secrets.randbelow((1 << 64) - 1) + 1
        self._clock = clock
        self._name = getattr(network, "peer_id", "node")
        self.metrics = MempoolMetrics()
        self._core = GuardedCore(mempool)
        self.metrics.bind_core(self._index_size)
        self._tracker = StageTracker(self.metrics)
        self._notifier = Notifier()
        self._peers = PeerBook(ack_timeout_s=config.shared_mempool_ack_timeout_ms / 1000.0,
                               backoff_interval_s=config.shared_mempool_backoff_interval_ms
                               / 1000.0, max_in_flight=config.max_broadcasts_per_peer)
        self._admission = Admission(config, validator, storage, self._core, self.metrics, clock)
        self._broadcaster = Broadcaster(config, self._core, self._peers, self._send,
                                        self.metrics, self._tracker, clock)
        self._inbound = FairPool(lambda peer, message: self._messages.inbound_job(peer, message),
                                 slots=config.shared_mempool_max_concurrent_inbound_syncs,
                                 share=config.shared_mempool_max_inbound_syncs_per_peer,
                                 name=f"smp-inbound-{self._name}")
        self._stop = threading.Event()
        self._messages = PeerMessages(
            name=self._name, incarnation=self.incarnation, peers=self._peers,
            admission=self._admission, core=self._core, inbound=self._inbound,
            metrics=self.metrics, notifier=self._notifier, send=self._send, clock=clock,
            stopping=self._stop.is_set)
        self._reader = NetworkReader(network, self._inbound,
                                     lambda event: self._messages.on_event(
                                         event, self._messages.enqueue),
                                     poll_s=_interval(config.shared_mempool_poll_interval_ms),
                                     on_error=self.metrics.network_errors.inc)
        self._binding = None if journal is None else JournalBinding(
            journal, retry_interval_s=config.journal_held_retry_interval_ms / 1000.0,
            clock=clock)
        self._core.add_listener(self.metrics.count_removals)
        self._core.add_listener(lambda removals: self._tracker.removed(removals, self._clock()))
        if self._binding is not None:
            self._core.add_locked_listener(self._binding.removed_locked)
            self._core.add_listener(self._binding.removed)
        self._threads: list[threading.Thread] = []
        self._started = False
        #: Set when one of this instance's threads died of an exception (see `failure`).
        self.failed = threading.Event()
        #: (thread role, exception) of the first thread that died, else None.
        self.failure: tuple[str, BaseException] | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "SharedMempool":
        """Start the outbound, reader, inbound-pool, GC (and journal) threads (once)."""
        if self._started:
            raise RuntimeError("SharedMempool already started")
        self._started = True
        self._inbound.start()
        loops = [(self._outbound_loop, "outbound"), (self._reader.run, "reader"),
                 (self._gc_loop, "gc")]
        for target, role in loops:
            thread = threading.Thread(target=self._guarded(target, role),
                                      name=f"smp-{role}-{self._name}", daemon=True)
            self._threads.append(thread)
            thread.start()
        if self._binding is not None:
            self._binding.start(self._resubmit_held, self._name, self._guarded)
        return self

    def stop(self) -> None:
        """Stop every thread this instance started and wait for them. Idempotent. The network
        handle, the journal and a validator passed in belong to the caller and stay open."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._threads.clear()
        self._inbound.stop()
        if self._binding is not None:
            self._binding.stop()
        if self._owns_validator:
            close = getattr(self.validator, "close", None)
            if close is not None:
                close()

    def _guarded(self, loop, role: str):
        """A thread body that records its own death (a node then stops: never half alive)."""
        def run() -> None:
            try:
                loop(self._stop)
            except BaseException as exc:
                log.critical("%s: the %s thread died: %r", self._name, role, exc, exc_info=True)
                if self.failure is None:
                    self.failure = (role, exc)
                self.failed.set()
        return run

    @property
    def mempool(self):
        """The core mempool (hold `lock` to read it consistently, briefly)."""
        return self._core.mempool

    @property
    def lock(self) -> threading.Lock:
        """The lock around the core."""
        return self._core.lock

    def __enter__(self) -> "SharedMempool":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _outbound_loop(self, stop: threading.Event) -> None:
        tick = _interval(self.config.shared_mempool_tick_interval_ms)
        while not stop.wait(tick):
            try:
                self.sync_with_peers()
            except Exception:  # a bad round must not end broadcasting
                log.exception("outbound sync round failed")

    def _gc_loop(self, stop: threading.Event) -> None:
        interval = _interval(self.config.system_transaction_gc_interval_ms)
        while not stop.wait(interval):
            try:
                self.gc()
            except Exception:
                log.exception("system TTL GC failed")

    def gc(self) -> int:
        """One GC pass: remove transactions past their system TTL; return how many. Runs in
        steps of `core_step_size`, taking the core lock once per step."""
        step = self.config.core_step_size
        total = 0
        while True:
            removed = self._core.apply(_gc_by_system_ttl, step)
            total += removed
            if removed < step:
                return total

    # ------------------------------------------------------------------ journal
    def recover_journal(self):
        """Replay the journal into the pool (at start, before serving anyone): resubmit what can
        still commit, forget what is certainly dead, hold the rest to offer it again every
        `journal_held_retry_interval_ms`. Returns the RecoveryReport."""
        if self._binding is None:
            raise RuntimeError("this SharedMempool has no journal")
        return self._binding.recover(self.submit_transactions,
                                     self.storage.get_account_states, self._clock)

    def held_transactions(self) -> int:
        """Journaled transactions kept out of the pool since the restart (see recover_journal)."""
        return 0 if self._binding is None else self._binding.held

    def _resubmit_held(self, txns: list) -> list:
        return self.submit_transactions(txns)

    # ------------------------------------------------------------------ subscribers, stats
    def subscribe(self) -> queue.SimpleQueue:
        """A queue receiving every later SharedMempoolNotification (unbounded, as in the
        seed: a subscriber must keep draining it, or `unsubscribe`; SYNC arrives every tick)."""
        return self._notifier.subscribe()

    def unsubscribe(self, subscription: queue.SimpleQueue) -> bool:
        """Stop feeding a queue from `subscribe()`; False if it was not subscribed."""
        return self._notifier.unsubscribe(subscription)

    def counters(self) -> dict[str, int]:
        """Plain counts for tests and tools, read from the metrics: received_batches,
        malformed_messages, malformed_transactions, sent_batches, resent_batches,
        acks_received, retry_acks, backoff_acks, stale_acks, failed_sends,
        inbound_dropped_peer_share, max_inbound_in_flight, max_inbound_per_peer."""
        return self.metrics.counters(max_inbound_in_flight=self._inbound.max_running,
                                     max_inbound_per_peer=self._inbound.max_per_key)

    @property
    def malformed_messages(self) -> int:
        return int(self.metrics.total("mempool_malformed_messages_total"))

    @property
    def malformed_transactions(self) -> int:
        return int(self.metrics.total("mempool_malformed_transactions_total"))

    @property
    def max_inbound_in_flight(self) -> int:
        """The most inbound batches ever processed at once."""
        return self._inbound.max_running

    def _index_size(self, name: str) -> int:
        return self._core.read(_index_size, name)

    def sizes(self) -> dict[str, int]:
        """The core's index sizes, read consistently."""
        return self._core.read(_sizes)

    def timeline_states(self, pointers) -> list[tuple[TimelineState, int] | None]:
        """(state, timeline id) of each pending (sender, seq), None where not pending."""
        return self._core.read(_timeline_states, list(pointers))

    # ------------------------------------------------------------------ peers
    def peers(self) -> dict[str, PeerSyncState]:
        """A snapshot of every known peer's cursor and liveness."""
        return self._peers.snapshot()

    def in_flight(self, peer_id: str) -> list[tuple[int, int]]:
        """The unacknowledged batch ranges of a peer, oldest first."""
        return self._peers.in_flight(peer_id)

    def sync_with_peers(self) -> None:
        """One outbound round: for each live peer due for service, resend the batches that
        asked for a retry or timed out, then send new batches from its cursor."""
        try:
            self._broadcaster.round()
        finally:
            self._notifier.notify(SharedMempoolNotification.SYNC)

    def _send(self, pid: str, data: bytes, txn_count: int = 0) -> bool:
        ok = self.network.send(pid, data)
        if txn_count:
            self.metrics.broadcast_transactions.inc(txn_count)
        if not ok:
            self.metrics.failed_sends.inc()
        return ok

    # ------------------------------------------------------------------ inbound
    def pump(self, max_events: int | None = None) -> int:
        """Handle the network events already waiting, one by one in this thread; return how
        many. For deterministic simulations and tests that drive a node without start()."""
        if self._started:
            raise RuntimeError("pump() drives a node that was not started")
        handled = 0
        while max_events is None or handled < max_events:
            event = self.network.recv(timeout=0)
            if event is None:
                break
            handled += 1
            self._messages.on_event(event, self._messages.process_broadcast)
        return handled

    def inbound_queue(self) -> dict[str, tuple[int, int]]:
        """Per peer: (inbound batches running, batches waiting for a slot)."""
        return self._inbound.load()

    def process_broadcast(self, peer_id: str, message: BroadcastRequest) -> Ack:
        """Admit a peer's batch as NON_QUALIFIED, ack it, notify NEW_TRANSACTIONS."""
        return self._messages.process_broadcast(peer_id, message)

    # ------------------------------------------------------------------ client path
    def submit_transactions(self, txns: Iterable) -> list[MempoolAddTransactionStatus]:
        """Admit client transactions (NOT_READY); one status per input, in input order.

        With a journal, the VALID ones are on disk (per its fsync policy) before this returns;
        if the append fails the error propagates and nothing is acknowledged.
        """
        txns = [self._own_class(txn) for txn in txns]
        if not txns:
            return []
        binding = self._binding
        hook = None if binding is None else binding.accepted_locked
        statuses = self._admission.admit(txns, TimelineState.NOT_READY, "client", hook)
        accepted = [txn for txn, status in zip(txns, statuses) if status.code == _Code.VALID]
        if binding is not None and accepted:
            # durable before acknowledged: if this raises, the client gets no VALID (the
            # transactions stay in the core; a replay revalidates)
            binding.wait_durable(binding.append(accepted))
        if accepted:
            self._tracker.submitted(accepted, self._clock())
        return statuses

    @staticmethod
    def _own_class(txn: Any) -> Any:
        """The selected SignedTransaction class's object for `txn` (the other class's objects
        are converted through their wire form); TypeError for anything else."""
        if isinstance(txn, SignedTransaction):
            return txn
        if is_transaction(txn):
            return SignedTransaction.from_bytes(txn.to_bytes())
        raise TypeError(f"expected SignedTransaction, got {type(txn).__name__}")

    # ------------------------------------------------------------------ consensus path
    def get_block(self, batch_size: int, exclude=()) -> list:
        """Up to `batch_size` ready transactions by priority, skipping pointers in `exclude`."""
        if not isinstance(batch_size, int) or isinstance(batch_size, bool):
            raise TypeError("batch_size must be an int")
        seen = exclude if isinstance(exclude, (set, frozenset)) else frozenset(exclude)
        block = self._core.read(_get_block, batch_size, seen)
        self._tracker.pulled(block, self._clock())
        return block

    def commit_transactions(self, committed, block_time: float, rejected=()) -> int:
        """Commit then reject `(sender, seq)` pairs, then GC by client expiration at
        `block_time`; return how many expired transactions were removed."""
        committed = check_pointers(committed, "committed")
        rejected = check_pointers(rejected, "rejected")
        if not isinstance(block_time, (int, float)) or isinstance(block_time, bool):
            raise TypeError("block_time must be a number of seconds")
        step = self.config.core_step_size
        for start in range(0, len(committed), step):
            self._core.apply(_remove, committed[start:start + step], False)
        for start in range(0, len(rejected), step):
            self._core.apply(_remove, rejected[start:start + step], True)
        expired = 0
        while True:
            removed = self._core.apply(_gc_by_expiration_time, block_time, step)
            expired += removed
            if removed < step:
                break
        if committed:
            self._notifier.notify(SharedMempoolNotification.COMMIT)
        if rejected:
            self._notifier.notify(SharedMempoolNotification.REJECT)
        return expired


# -- what runs under the core lock (module functions: no closure per call) --
def _gc_by_system_ttl(core, limit: int) -> int:
    return core.gc_by_system_ttl(limit)


def _gc_by_expiration_time(core, block_time: float, limit: int) -> int:
    return core.gc_by_expiration_time(block_time, limit)


def _get_block(core, batch_size: int, seen) -> list:
    return core.get_block(batch_size, seen)


def _remove(core, pointers, is_rejected: bool) -> None:
    remove = core.remove_transaction
    for sender, seq in pointers:
        remove(sender, seq, is_rejected)


def _sizes(core) -> dict[str, int]:
    return {"mempool_size": len(core), "parking_lot_size": core.parking_lot_size(),
            "priority_index_size": core.priority_index_size(),
            "timeline_size": core.timeline_size()}


def _timeline_states(core, pointers) -> list:
    state = core.timeline_state
    return [state(sender, seq) for sender, seq in pointers]


def _index_size(core, name: str) -> int:
    if name == "transactions":
        return len(core)
    reader = getattr(core, f"{name}_size", None)
    return reader() if reader is not None else 0
