"""SharedMempool: the seed's shared mempool in Python threads, with acknowledged broadcast.

Threads (DESIGN.md §5):
  outbound  every `shared_mempool_tick_interval_ms`, one `sync_with_peers()` round;
  reader    takes network events in order: NewPeer / LostPeer and acks are handled at once,
            broadcasts go to the inbound pool; it reads only when a pool slot is free, so a
            busy node stops draining its bounded network queue and its senders wait;
  inbound   a pool of at most `shared_mempool_max_concurrent_inbound_syncs` batches at once,
            at most `shared_mempool_max_inbound_syncs_per_peer` of them from one peer; a peer
            at its share waits round-robin with the others (a bounded queue; past it, dropped
            unacknowledged and resent by the sender), so a flooder cannot starve the rest;
  gc        every `system_transaction_gc_interval_ms`, `gc_by_system_ttl()`.

Acknowledged broadcast (DESIGN.md §6): a batch is named by its timeline range (start, end]. The
receiver answers every batch with an Ack: `retry` if some transaction hit MEMPOOL_IS_FULL,
`backoff` if its core is unhealthy (full with nothing evictable) after the insert, where
resending soon is pointless. A saturated inbound pool does not set `backoff`: the bounded network
queue already slows the sender. The sender keeps unacknowledged batches per peer, resends one on
`retry` or after `shared_mempool_ack_timeout_ms` (injected clock), re-reading its timeline range
(committed transactions drop out; an empty range counts as acknowledged), sends no new batch
while `max_broadcasts_per_peer` are unacknowledged, and serves a peer in backoff only every
`shared_mempool_backoff_interval_ms`. A peer that reconnects gets its unacknowledged batches again.

Locks: `_core_lock` around the core, `_peers_lock` around peer state; never nested, never held
across a send, a validation or a storage read. `_journal_lock` (taken before `_core_lock`) orders
journal writes against "gone from the core, so forget"; never held across an fsync or compaction.
"""

from __future__ import annotations

import collections
import enum
import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .config import MempoolConfig
from .journal import JournalClosed
from .messages import Ack, BroadcastRequest, decode, encode, encode_broadcast
from .metrics import MempoolMetrics
from .network.base import EventKind, Network
from .storage import unknown_account
from .transaction import SignedTransaction
from .types import (
    MalformedMessage, MempoolAddTransactionStatus, MempoolAddTransactionStatusCode,
    TimelineState,
)

__all__ = ["SharedMempool", "SharedMempoolNotification", "PeerSyncState"]

log = logging.getLogger(__name__)

_Code = MempoolAddTransactionStatusCode


class SharedMempoolNotification(enum.Enum):
    """Events delivered to `subscribe()` queues."""

    SYNC = "sync"  #: an outbound round finished
    PEER_STATE_CHANGE = "peer_state_change"  #: a peer came or went
    NEW_TRANSACTIONS = "new_transactions"  #: a batch from a peer was processed
    ACK = "ack"  #: a peer acknowledged a batch
    COMMIT = "commit"  #: commit_transactions committed something
    REJECT = "reject"  #: commit_transactions rejected something


@dataclass(frozen=True, slots=True)
class PeerSyncState:
    """A peer's broadcast cursor (last timeline id sent) and whether it is connected."""

    timeline_id: int
    is_alive: bool


class _InFlight:
    """An unacknowledged batch: when it was last sent, whether the peer asked for a retry."""

    __slots__ = ("sent_at", "retry", "attempts")

    def __init__(self, sent_at: float) -> None:
        self.sent_at = sent_at
        self.retry = False
        self.attempts = 1


class _Peer:
    __slots__ = ("timeline_id", "is_alive", "inflight", "backoff", "next_serve_at", "busy")

    def __init__(self) -> None:
        self.timeline_id = 0
        self.is_alive = True
        self.inflight: dict[tuple[int, int], _InFlight] = {}
        self.backoff = False
        self.next_serve_at = 0.0
        self.busy = False


class SharedMempool:
    """Peers, outbound sync, inbound pool, GC, notifications, client and consensus paths."""

    def __init__(self, config: MempoolConfig, network: Network, storage, *, validator=None,
                 mempool=None, journal=None, clock=time.time) -> None:
        if not isinstance(config, MempoolConfig):
            raise TypeError("config must be a MempoolConfig")
        for name in ("shared_mempool_max_batches_per_round", "shared_mempool_poll_interval_ms"):
            if getattr(config, name) < 1:
                raise ValueError(f"MempoolConfig.{name} must be at least 1")
        for name in ("shared_mempool_tick_interval_ms", "shared_mempool_ack_timeout_ms",
                     "shared_mempool_backoff_interval_ms", "system_transaction_gc_interval_ms"):
            if getattr(config, name) < 0:
                raise ValueError(f"MempoolConfig.{name} must not be negative")
        for name in ("send", "recv"):
            if not callable(getattr(network, name, None)):
                raise TypeError(f"network must implement Network ({name} is missing)")
        if not callable(getattr(storage, "get_account_states", None)):
            raise TypeError("storage must provide get_account_states(addresses)")
        self._owns_validator = validator is None
        if validator is None:
            from .validation import Ed25519Validator
            validator = Ed25519Validator(config)
        if mempool is None:
            from . import CoreMempool
            mempool = CoreMempool(config, clock=clock)
        self.config = config
        self.network = network
        self.storage = storage
        self.validator = validator
        self.mempool = mempool
        #: TransactionJournal of client transactions (None: not durable); owned by the caller.
        self.journal = journal
        self._clock = clock
        self.metrics = MempoolMetrics()
        self.metrics.bind_core(self._index_size)

        self._core_lock = threading.Lock()
        # Orders journal appends against "gone from the core, so forget": a forget decided
        # before a resubmission must not erase that resubmission's record.
        self._journal_lock = threading.Lock()
        self._peers_lock = threading.Lock()
        self._peers: dict[str, _Peer] = {}
        self._subscribers: list[queue.SimpleQueue] = []
        self._subscribers_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._counts: collections.Counter = collections.Counter()
        # inbound scheduling, under _inbound_cond: batches running in the pool (in all and per
        # peer) and batches waiting for a slot, per peer in round-robin order
        self._inbound_cond = threading.Condition()
        self._inbound_running = 0
        self._inbound_per_peer: collections.Counter = collections.Counter()
        self._inbound_waiting: collections.OrderedDict[str, collections.deque] = \
            collections.OrderedDict()
        # pointer -> [submitted_at, broadcast seen, pulled seen]: local stage latencies
        self._track: dict[tuple[bytes, int], list] = {}
        self._track_lock = threading.Lock()

        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pool: ThreadPoolExecutor | None = None
        self._started = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "SharedMempool":
        """Start the outbound, reader, inbound-pool and GC threads (once)."""
        if self._started:
            raise RuntimeError("SharedMempool already started")
        self._started = True
        name = getattr(self.network, "peer_id", "node")
        self._pool = ThreadPoolExecutor(
            max_workers=self.config.shared_mempool_max_concurrent_inbound_syncs,
            thread_name_prefix=f"smp-inbound-{name}")
        loops = [(self._outbound_loop, "outbound"), (self._reader_loop, "reader"),
                 (self._gc_loop, "gc")]
        journal = self.journal
        if journal is not None and journal.fsync_policy == "batch" and journal.fsync_interval > 0:
            loops.append((self._journal_sync_loop, "journal"))
        for target, role in loops:
            thread = threading.Thread(target=target, name=f"smp-{role}-{name}", daemon=True)
            self._threads.append(thread)
            thread.start()
        return self

    def stop(self) -> None:
        """Stop every thread this instance started and wait for them. Idempotent. The network
        handle and a validator passed in belong to the caller and stay open."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._threads.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._owns_validator:
            close = getattr(self.validator, "close", None)
            if close is not None:
                close()

    @property
    def lock(self) -> threading.Lock:
        """The lock around the core: hold it to read `mempool` consistently (briefly)."""
        return self._core_lock

    def __enter__(self) -> "SharedMempool":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @staticmethod
    def _interval(ms: int) -> float:
        return min(ms / 1000.0, threading.TIMEOUT_MAX)

    def _outbound_loop(self) -> None:
        tick = self._interval(self.config.shared_mempool_tick_interval_ms)
        while not self._stop.wait(tick):
            try:
                self.sync_with_peers()
            except Exception:  # a bad round must not end broadcasting
                log.exception("outbound sync round failed")

    def _gc_loop(self) -> None:
        interval = self._interval(self.config.system_transaction_gc_interval_ms)
        while not self._stop.wait(interval):
            try:
                self.gc()
            except Exception:
                log.exception("system TTL GC failed")

    def _journal_sync_loop(self) -> None:
        """"batch" fsync policy: make quiet-time appends durable within the interval too (an
        append only fsyncs when the previous fsync is older than the interval)."""
        interval = self._interval(self.journal.fsync_interval * 1000.0)
        while not self._stop.wait(interval):
            try:
                self.journal.sync()
            except JournalClosed:
                return
            except Exception:
                log.exception("journal fsync failed")

    def gc(self) -> int:
        """One GC pass: remove transactions past their system TTL; return how many."""
        with self._core_lock:
            removed = self.mempool.gc_by_system_ttl()
        if removed:
            self.metrics.gc_removed.labels(reason="system_ttl").inc(removed)
        self._prune_track()
        self._forget_gone()
        return removed

    def _forget_gone(self) -> None:
        """Forget journaled transactions the core no longer holds (GC'd, evicted, or below
        a committed sequence number); the journal compacts itself once enough are dead."""
        journal = self.journal
        if journal is None:
            return
        with self._journal_lock:
            pointers = journal.pointers()
            with self._core_lock:
                mempool = self.mempool
                gone = [ptr for ptr in pointers if ptr not in mempool]
            if gone:
                journal.forget(gone, compact=False)
        journal.compact_if_due()  # rewrites the file: outside _journal_lock

    # ------------------------------------------------------------------ subscribers, stats
    def subscribe(self) -> queue.SimpleQueue:
        """A queue receiving every later SharedMempoolNotification (unbounded, as in the
        seed: a subscriber must keep draining it; SYNC arrives every outbound tick)."""
        q: queue.SimpleQueue = queue.SimpleQueue()
        with self._subscribers_lock:
            self._subscribers.append(q)
        return q

    def _notify(self, event: SharedMempoolNotification) -> None:
        with self._subscribers_lock:
            subscribers = list(self._subscribers)
        for q in subscribers:
            q.put(event)

    def _bump(self, key: str, n: int = 1) -> None:
        with self._stats_lock:
            self._counts[key] += n

    def counters(self) -> dict[str, int]:
        """Plain counts for tests and tools: received_batches, malformed_messages,
        malformed_transactions, sent_batches, resent_batches, acks_received, stale_acks, ..."""
        with self._stats_lock:
            return dict(self._counts)

    @property
    def malformed_messages(self) -> int:
        with self._stats_lock:
            return self._counts["malformed_messages"]

    @property
    def malformed_transactions(self) -> int:
        with self._stats_lock:
            return self._counts["malformed_transactions"]

    @property
    def max_inbound_in_flight(self) -> int:
        """The most inbound batches ever processed at once."""
        with self._stats_lock:
            return self._counts["max_inbound_in_flight"]

    def _index_size(self, name: str) -> int:
        core = self.mempool
        with self._core_lock:
            if name == "transactions":
                return len(core)
            reader = getattr(core, f"{name}_size", None)
            return reader() if reader is not None else 0

    # ------------------------------------------------------------------ peers
    def peers(self) -> dict[str, PeerSyncState]:
        """A snapshot of every known peer's cursor and liveness."""
        with self._peers_lock:
            return {pid: PeerSyncState(p.timeline_id, p.is_alive) for pid, p in self._peers.items()}

    def in_flight(self, peer_id: str) -> list[tuple[int, int]]:
        """The unacknowledged batch ranges of a peer, oldest first."""
        with self._peers_lock:
            peer = self._peers.get(peer_id)
            return list(peer.inflight) if peer is not None else []

    def _new_peer(self, peer_id: str) -> None:
        with self._peers_lock:
            peer = self._peers.get(peer_id)
            if peer is None:
                self._peers[peer_id] = _Peer()
            else:
                peer.is_alive = True
                peer.backoff = False
                peer.next_serve_at = 0.0
                for batch in peer.inflight.values():
                    batch.retry = True
        self.metrics.peer_events.labels(kind="new_peer").inc()
        self._notify(SharedMempoolNotification.PEER_STATE_CHANGE)

    def _lost_peer(self, peer_id: str) -> None:
        with self._peers_lock:
            peer = self._peers.get(peer_id)
            if peer is not None:
                peer.is_alive = False
        self.metrics.peer_events.labels(kind="lost_peer").inc()
        self._notify(SharedMempoolNotification.PEER_STATE_CHANGE)

    # ------------------------------------------------------------------ outbound
    def sync_with_peers(self) -> None:
        """One outbound round: for each live peer due for service, resend the batches that
        asked for a retry or timed out, then send new batches from its cursor."""
        now = self._clock()
        with self._peers_lock:
            claimed = [(pid, p) for pid, p in self._peers.items()
                       if p.is_alive and not p.busy and now >= p.next_serve_at]
            for _, peer in claimed:
                peer.busy = True
        try:
            for pid, peer in claimed:
                try:
                    self._serve_peer(pid, peer, now)
                finally:
                    with self._peers_lock:
                        peer.busy = False
        finally:
            self._notify(SharedMempoolNotification.SYNC)

    def _serve_peer(self, pid: str, peer: _Peer, now: float) -> None:
        cfg = self.config
        timeout = cfg.shared_mempool_ack_timeout_ms / 1000.0
        with self._peers_lock:
            due = [(bid, b.retry) for bid, b in peer.inflight.items()
                   if b.retry or now - b.sent_at >= timeout]
        for bid, retry in due:
            with self._core_lock:
                txns = self.mempool.timeline_range(bid[0], bid[1])
            with self._peers_lock:
                batch = peer.inflight.get(bid)
                if batch is None:
                    continue  # acknowledged meanwhile
                if not txns:
                    del peer.inflight[bid]  # everything in it was committed or removed
                    continue
                batch.retry = False
                batch.sent_at = now
                batch.attempts += 1
            self.metrics.resent_batches.labels(reason="retry" if retry else "timeout").inc()
            self._bump("resent_batches")
            self._send(pid, encode_broadcast(bid[0], bid[1], txns), len(txns))

        limit = cfg.max_broadcasts_per_peer
        for _ in range(cfg.shared_mempool_max_batches_per_round):
            with self._peers_lock:
                if not peer.is_alive or len(peer.inflight) >= limit:
                    break
                cursor = peer.timeline_id
            with self._core_lock:
                txns, last = self.mempool.read_timeline(cursor, cfg.shared_mempool_batch_size)
            if not txns:
                break
            with self._peers_lock:
                peer.inflight[(cursor, last)] = _InFlight(now)
                peer.timeline_id = last
            self.metrics.broadcast_batches.inc()
            self._bump("sent_batches")
            self._track_broadcast(txns, now)
            self._send(pid, encode_broadcast(cursor, last, txns), len(txns))

        with self._peers_lock:
            if peer.backoff:
                peer.next_serve_at = now + cfg.shared_mempool_backoff_interval_ms / 1000.0

    def _send(self, pid: str, data: bytes, txn_count: int = 0) -> bool:
        ok = self.network.send(pid, data)
        if txn_count:
            self.metrics.broadcast_transactions.inc(txn_count)
        if not ok:
            self.metrics.failed_sends.inc()
            self._bump("failed_sends")
        return ok

    # ------------------------------------------------------------------ inbound
    def _reader_loop(self) -> None:
        poll = self._interval(self.config.shared_mempool_poll_interval_ms)
        recv = self.network.recv
        slots = self.config.shared_mempool_max_concurrent_inbound_syncs
        cond = self._inbound_cond
        while not self._stop.is_set():
            with cond:
                if not cond.wait_for(lambda: self._inbound_running < slots, timeout=poll):
                    continue  # every inbound slot busy: do not read (back-pressure)
            try:
                started = time.monotonic()
                event = recv(timeout=poll)
                if event is None:
                    if time.monotonic() - started < poll / 2:
                        self._stop.wait(poll)  # the network is closed: idle until stop()
                    continue
                self._on_event(event, self._enqueue_inbound)
            except Exception:
                log.exception("network event handling failed")

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
            self._on_event(event, self.process_broadcast)
        return handled

    def _on_event(self, event, on_broadcast) -> None:
        """Handle one network event; a peer's batch goes to `on_broadcast(peer_id, message)`
        (the inbound pool when started, inline under pump())."""
        kind = event.kind
        if kind is EventKind.NEW_PEER:
            self._new_peer(event.peer_id)
            return
        if kind is EventKind.LOST_PEER:
            self._lost_peer(event.peer_id)
            with self._inbound_cond:  # unacknowledged: the sender resends when it is back
                self._inbound_waiting.pop(event.peer_id, None)
            return
        try:
            message = decode(event.data)
        except MalformedMessage as exc:
            log.debug("malformed message from %s dropped: %s", event.peer_id, exc)
            self.metrics.malformed_messages.inc()
            self._bump("malformed_messages")
            return
        if isinstance(message, Ack):
            self._on_ack(event.peer_id, message)
        else:
            on_broadcast(event.peer_id, message)

    def _enqueue_inbound(self, peer_id: str, message: BroadcastRequest) -> None:
        """Queue a peer's batch behind its earlier ones and start what may start; drop it
        (unacknowledged) if the peer already has its share running and as many waiting."""
        if self._stop.is_set() or self._pool is None:
            return
        share = self.config.shared_mempool_max_inbound_syncs_per_peer
        with self._inbound_cond:
            waiting = self._inbound_waiting.setdefault(peer_id, collections.deque())
            over_share = len(waiting) >= share
            if not over_share:
                waiting.append(message)
                start = self._next_inbound_locked()
        if over_share:
            log.debug("inbound batch from %s dropped: peer over its inbound share", peer_id)
            self._bump("inbound_dropped_peer_share")
            self.metrics.inbound_dropped.labels(reason="peer_share").inc()
            return
        self._start_inbound(start)

    def _next_inbound_locked(self) -> list[tuple[str, BroadcastRequest]]:
        """Claim free slots for waiting batches, one peer after another (round-robin), each
        peer below its share; the caller submits them. Hold `_inbound_cond`."""
        slots = self.config.shared_mempool_max_concurrent_inbound_syncs
        share = self.config.shared_mempool_max_inbound_syncs_per_peer
        running = self._inbound_per_peer
        waiting = self._inbound_waiting
        start = []
        while self._inbound_running < slots:
            peer_id = next((p for p, q in waiting.items() if running[p] < share), None)
            if peer_id is None:
                break
            queue_ = waiting[peer_id]
            start.append((peer_id, queue_.popleft()))
            if queue_:
                waiting.move_to_end(peer_id)
            else:
                del waiting[peer_id]
            running[peer_id] += 1
            self._inbound_running += 1
        if start:
            top = max(running[p] for p, _ in start)
            with self._stats_lock:
                counts = self._counts
                counts["max_inbound_in_flight"] = max(counts["max_inbound_in_flight"],
                                                      self._inbound_running)
                counts["max_inbound_per_peer"] = max(counts["max_inbound_per_peer"], top)
        return start

    def _start_inbound(self, start: list[tuple[str, BroadcastRequest]]) -> None:
        pool = self._pool
        for i, (peer_id, message) in enumerate(start):
            try:
                if pool is None:
                    raise RuntimeError("inbound pool is shut down")
                pool.submit(self._inbound_task, peer_id, message)
            except RuntimeError:  # stop() shut the pool down meanwhile: give the slots back
                with self._inbound_cond:
                    for pid, _ in start[i:]:
                        self._release_inbound_locked(pid)
                return

    def _release_inbound_locked(self, peer_id: str) -> None:
        self._inbound_running -= 1
        self._inbound_per_peer[peer_id] -= 1
        if not self._inbound_per_peer[peer_id]:
            del self._inbound_per_peer[peer_id]
        self._inbound_cond.notify_all()

    def _inbound_task(self, peer_id: str, message: BroadcastRequest) -> None:
        self.metrics.inbound_in_flight.inc()
        try:
            self.process_broadcast(peer_id, message)
        except Exception:
            log.exception("inbound batch from %s failed", peer_id)
        finally:
            self.metrics.inbound_in_flight.dec()
            with self._inbound_cond:
                self._release_inbound_locked(peer_id)
                start = [] if self._stop.is_set() else self._next_inbound_locked()
            self._start_inbound(start)

    def inbound_queue(self) -> dict[str, tuple[int, int]]:
        """Per peer: (inbound batches running, batches waiting for a slot)."""
        with self._inbound_cond:
            peers = set(self._inbound_per_peer) | set(self._inbound_waiting)
            return {p: (self._inbound_per_peer.get(p, 0), len(self._inbound_waiting.get(p, ())))
                    for p in peers}

    def process_broadcast(self, peer_id: str, message: BroadcastRequest) -> Ack:
        """Admit a peer's batch as NON_QUALIFIED, ack it, notify NEW_TRANSACTIONS."""
        started = self._clock()
        self.metrics.received_batches.inc()
        self._bump("received_batches")
        txns, bad = message.transactions()
        if bad:
            log.debug("%d malformed transactions from %s dropped", bad, peer_id)
            self.metrics.malformed_transactions.inc(bad)
            self._bump("malformed_transactions", bad)
        statuses = self._admit(txns, TimelineState.NON_QUALIFIED, "peer") if txns else []
        retry = any(s.code == _Code.MEMPOOL_IS_FULL for s in statuses)
        with self._core_lock:
            backoff = not self.mempool.health_check()
        ack = Ack(message.batch_start, message.batch_end, retry, backoff)
        self.metrics.acks_sent.labels(retry=str(retry), backoff=str(backoff)).inc()
        self._send(peer_id, encode(ack))
        self.metrics.observe("inbound_batch", self._clock() - started)
        self._notify(SharedMempoolNotification.NEW_TRANSACTIONS)
        return ack

    def _on_ack(self, peer_id: str, ack: Ack) -> None:
        now = self._clock()
        rtt = None
        with self._peers_lock:
            peer = self._peers.get(peer_id)
            batch = peer.inflight.get(ack.batch_id) if peer is not None else None
            if batch is not None:
                rtt = now - batch.sent_at
                if ack.retry:
                    batch.retry = True
                else:
                    del peer.inflight[ack.batch_id]
            if peer is not None:
                if ack.backoff:
                    if not peer.backoff:
                        peer.backoff = True
                        peer.next_serve_at = now + (
                            self.config.shared_mempool_backoff_interval_ms / 1000.0)
                else:
                    peer.backoff = False
                    peer.next_serve_at = 0.0
        self.metrics.acks_received.labels(retry=str(ack.retry), backoff=str(ack.backoff)).inc()
        self._bump("acks_received")
        if ack.retry:
            self._bump("retry_acks")
        if ack.backoff:
            self._bump("backoff_acks")
        if rtt is None:
            self.metrics.stale_acks.inc()
            self._bump("stale_acks")
        else:
            self.metrics.observe("ack_rtt", rtt)
        self._notify(SharedMempoolNotification.ACK)

    # ------------------------------------------------------------------ admission
    def _admit(self, txns: list[SignedTransaction], state: TimelineState,
               origin: str) -> list[MempoolAddTransactionStatus]:
        """Validate, read account states, then insert under one lock acquisition."""
        results: list = list(self.validator.validate(txns))
        if len(results) != len(txns):
            raise RuntimeError("validator returned a status count that does not match")
        passed = [i for i, status in enumerate(results) if status is None]
        states = self.storage.get_account_states([txns[i].sender for i in passed])
        batch = []
        where = []
        for i, account in zip(passed, states):
            if account is None:
                results[i] = unknown_account(txns[i].sender)
            else:
                txn = txns[i]
                batch.append((txn, txn.max_gas_amount, account[0], account[1]))
                where.append(i)
        if batch:
            with self._core_lock:
                added = self.mempool.add_txns(batch, state)
            for i, status in zip(where, added):
                results[i] = status
        by_code = collections.Counter(status.code for status in results)
        for code, n in by_code.items():
            self.metrics.statuses.labels(origin=origin, code=code.name).inc(n)
        return results

    # ------------------------------------------------------------------ client path
    def submit_transactions(self, txns) -> list[MempoolAddTransactionStatus]:
        """Admit client transactions (NOT_READY); one status per input, in input order.

        With a journal, the VALID ones are on disk (per its fsync policy) before this returns;
        if the append fails the error propagates and nothing is acknowledged.
        """
        txns = list(txns)
        for txn in txns:
            if not isinstance(txn, SignedTransaction):
                raise TypeError(f"expected SignedTransaction, got {type(txn).__name__}")
        if not txns:
            return []
        statuses = self._admit(txns, TimelineState.NOT_READY, "client")
        if self.journal is not None:
            accepted = [txn for txn, status in zip(txns, statuses) if status.code == _Code.VALID]
            if accepted:
                # durable before acknowledged: if this raises, the client gets no VALID (the
                # transactions stay in the core; a forget is harmless, a replay revalidates).
                # The write is ordered under _journal_lock; the fsync, shared with concurrent
                # appenders, is waited for outside it.
                with self._journal_lock:
                    _, ticket = self.journal.append_unsynced(accepted)
                self.journal.wait_durable(ticket)
        now = self._clock()
        with self._track_lock:
            track = self._track
            for txn, status in zip(txns, statuses):
                if status.code == _Code.VALID:
                    track.setdefault(txn.pointer, [now, False, False])
        return statuses

    # ------------------------------------------------------------------ consensus path
    def get_block(self, batch_size: int, exclude=()) -> list[SignedTransaction]:
        """Up to `batch_size` ready transactions by priority, skipping pointers in `exclude`."""
        if not isinstance(batch_size, int) or isinstance(batch_size, bool):
            raise TypeError("batch_size must be an int")
        seen = exclude if isinstance(exclude, (set, frozenset)) else frozenset(exclude)
        with self._core_lock:
            block = self.mempool.get_block(batch_size, seen)
        now = self._clock()
        with self._track_lock:
            for txn in block:
                entry = self._track.get(txn.pointer)
                if entry is not None and not entry[2]:
                    entry[2] = True
                    self.metrics.observe("submitted_to_pulled", now - entry[0])
        return block

    def commit_transactions(self, committed, block_time: float, rejected=()) -> int:
        """Commit then reject `(sender, seq)` pairs, then GC by client expiration at
        `block_time`; return how many expired transactions were removed."""
        committed = _pointers("committed", committed)
        rejected = _pointers("rejected", rejected)
        if not isinstance(block_time, (int, float)) or isinstance(block_time, bool):
            raise TypeError("block_time must be a number of seconds")
        with self._journal_lock:
            with self._core_lock:
                remove = self.mempool.remove_transaction
                for sender, seq in committed:
                    remove(sender, seq, False)
                for sender, seq in rejected:
                    remove(sender, seq, True)
                expired = self.mempool.gc_by_expiration_time(block_time)
            if self.journal is not None:
                self.journal.forget(committed + rejected, compact=False)
        if rejected or expired:
            self._forget_gone()  # removed beyond the named pointers: later ones, expired ones
        elif self.journal is not None:
            self.journal.compact_if_due()
        if expired:
            self.metrics.gc_removed.labels(reason="expiration").inc(expired)
        now = self._clock()
        with self._track_lock:
            for ptr in committed:
                entry = self._track.pop(ptr, None)
                if entry is not None:
                    self.metrics.observe("submitted_to_committed", now - entry[0])
            for ptr in rejected:
                self._track.pop(ptr, None)
        if committed:
            self._notify(SharedMempoolNotification.COMMIT)
        if rejected:
            self._notify(SharedMempoolNotification.REJECT)
        return expired

    # ------------------------------------------------------------------ stage tracking
    def _track_broadcast(self, txns, now: float) -> None:
        with self._track_lock:
            track = self._track
            if not track:
                return
            for txn in txns:
                entry = track.get(txn.pointer)
                if entry is not None and not entry[1]:
                    entry[1] = True
                    self.metrics.observe("submitted_to_broadcast", now - entry[0])

    def _prune_track(self) -> None:
        with self._track_lock:
            pointers = list(self._track)
        with self._core_lock:
            gone = [ptr for ptr in pointers if ptr not in self.mempool]
        with self._track_lock:
            for ptr in gone:
                self._track.pop(ptr, None)


def _pointers(name: str, pairs) -> list[tuple[bytes, int]]:
    """Check `(sender, seq)` pairs before anything changes."""
    result = []
    for pair in pairs:
        try:
            sender, seq = pair
        except (TypeError, ValueError):
            raise TypeError(f"{name}: expected (sender, sequence_number) pairs, got {pair!r}") \
                from None
        if not isinstance(sender, (bytes, bytearray)) or len(sender) != 32:
            raise ValueError(f"{name}: sender must be 32 bytes")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise ValueError(f"{name}: sequence number must be a non-negative int")
        result.append((bytes(sender), seq))
    return result
