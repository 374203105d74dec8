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
  status_history what left the pool, by hash and pointer; the ordered intake feeding it
  watch         subscriptions to chosen transactions' and accounts' events
  peer_messages what each network event does (membership, HELLO, acks, a peer's batch)
  protocol      the peer messages and their encoding

Transaction formats (mempool_fast.formats): a SharedMempool holds one format's transactions
(`transaction_format`, else the one `config.transaction_format` names). The native format keeps
every native fast path (the validator's own `validate`, wire-form pointer keys, the integer
expiry check); another format validates with its own `verify`, decodes peers' batches with its
`decode`, keys pointers as sender padded to 32 | seq, and checks senders by its
`sender_length`. Its HELLO names the format; a peer of another format is refused (peers.py).
The account store, the journal and a given core must be of the same format (ValueError).

Threads: outbound (every `shared_mempool_tick_interval_ms`, one round), reader (network events
in order; broadcasts go to the inbound pool of at most `shared_mempool_max_concurrent_inbound_
syncs` batches, `shared_mempool_max_inbound_syncs_per_peer` per peer), gc (every
`system_transaction_gc_interval_ms`), journal (maintenance, when there is a journal).

Lock order (a thread holding one may take only those to its right; most are never nested):
  core -> journal binding -> journal file locks;  core -> watch registry (opening, closing);
  status intake -> status history, watch registry, a watch's queue;  peer book, inbound pool,
  tracker, notifier and metrics are leaves, never held while another is taken. No lock is held across a
  send, a validation, an account-state read, an fsync or a compaction.
"""

from __future__ import annotations

import logging
import operator
import queue
import secrets
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

from .._wire import check_address, check_pointers, check_sender_length
from ..config import MempoolConfig
from ..formats import BUILTIN, BatchVerifier, NativeFormat, TransactionFormat, from_config
from ..fair_pool import FairPool
from ..metrics import MempoolMetrics
from ..network.base import Network
from ..status import (AccountStatus, DropReason, TransactionState, TransactionStatus, account_view,
                      first_gap, held_sequence_numbers, parse_key, pending_state)
from ..storage import AccountStateReader
from ..transaction import SignedTransaction, is_transaction
from ..types import (MempoolAddTransactionStatus, MempoolAddTransactionStatusCode,
                     RemovalReason, TimelineState, check_max_bytes)
from .admission import Admission, ValidLockedCallback
from .durability import JournalBinding
from .guarded_core import GuardedCore, Removals
from .inbound import NetworkReader
from .notifications import Notifier, SharedMempoolNotification
from .outbound import Broadcaster
from .peer_messages import PeerMessages
from .peers import BatchId, PeerBook, PeerSyncState
from .protocol import Ack, BroadcastRequest, BucketAck, BucketBroadcastRequest
from .status_history import HistoryEntry, OrderedIntake, StatusHistory, replacements
from .tracking import StageTracker
from .watch import TransactionWatch, WatchHub

if TYPE_CHECKING:
    from .. import CoreMempool
    from ..journal import TransactionJournal
    from ..journal.recovery import RecoveryReport

__all__ = ["SharedMempool", "SharedMempoolNotification", "PeerSyncState", "TransactionWatch"]

log = logging.getLogger(__name__)

_Code = MempoolAddTransactionStatusCode
_REPLACED = RemovalReason.REPLACED
_reason_of = operator.itemgetter(1)


#: Seconds after start() with no peer known before the outbound thread warns, once, that
#: nothing will be broadcast (an embedder's network that never delivers NEW_PEER).
NO_PEER_WARNING_S = 10.0


def _interval(ms: int) -> float:
    return min(ms / 1000.0, threading.TIMEOUT_MAX)


class _Validator(Protocol):
    """What SharedMempool needs of a validator (docs/design.md §5 "Validator")."""

    def validate(self, txns: Sequence[SignedTransaction]
                 ) -> Sequence[MempoolAddTransactionStatus | None]: ...


def _resolve_format(config: MempoolConfig, fmt: TransactionFormat[Any] | None,
                    validator: _Validator | None
                    ) -> tuple[TransactionFormat[Any], _Validator | None, bool]:
    """(the pool's format, its native validator or None, whether the pool owns what validates
    and must close it). The native format keeps the given validator, or a default
    Ed25519Validator, with `verify` bound to its `validate` (no wrapper); another format's
    `verify` is the validation, so a `validator` beside it is an error."""
    if fmt is None:
        if config.transaction_format == "native":
            owns = validator is None
            if validator is None:
                from ..validation import Ed25519Validator
                validator = Ed25519Validator(config)
            return NativeFormat(cast(BatchVerifier, validator)), validator, owns
        if validator is not None:
            raise ValueError(f"validator= is for the native transaction format; the config's "
                             f"format {config.transaction_format!r} validates with its own "
                             "verify (pass no validator)")
        return from_config(config), None, True
    if not isinstance(fmt, TransactionFormat):
        raise TypeError(f"transaction_format must be a TransactionFormat, got "
                        f"{type(fmt).__name__}")
    if fmt.name in BUILTIN and fmt.name != config.transaction_format:
        raise ValueError(f"transaction_format is {fmt.name!r} but the config's "
                         f"transaction_format is {config.transaction_format!r}: they must agree")
    if isinstance(fmt, NativeFormat):
        if validator is not None and validator is not fmt.validator:
            raise ValueError("pass the validator inside NativeFormat(validator) or as "
                             "validator=, not both")
        return fmt, fmt.validator, False
    if validator is not None:
        raise ValueError(f"validator= is for the native transaction format; format "
                         f"{fmt.name!r} validates with its own verify (pass no validator)")
    return fmt, None, False


def _check_parts(config: MempoolConfig, fmt: TransactionFormat[Any], native: bool,
                 storage: object, journal: TransactionJournal | None,
                 mempool: CoreMempool | None, clock: Callable[[], float]) -> CoreMempool:
    """The core (the given one, checked, or a new one of `fmt`) once the account store and the
    journal are checked to be of `fmt` (ValueError naming both formats otherwise)."""
    store_length = getattr(storage, "address_length", None)
    if store_length is not None and store_length != fmt.sender_length:
        raise ValueError(f"the account store holds {store_length}-byte addresses but "
                         f"transaction format {fmt.name!r} has {fmt.sender_length}-byte "
                         "senders")
    if journal is not None:
        journal_format = getattr(journal, "format_name", "native")
        if journal_format != fmt.name:
            raise ValueError(f"journal {journal.path} is opened for transaction format "
                             f"{journal_format!r}, this pool's is {fmt.name!r}")
    if mempool is None:
        from .. import CoreMempool
        core: CoreMempool = CoreMempool(config, clock=clock) if native else \
            _format_core(CoreMempool, config, clock, fmt)
        return core
    _check_core_format(mempool, fmt)
    return mempool


def _format_core(core_cls: Any, config: MempoolConfig, clock: Callable[[], float],
                 fmt: TransactionFormat[Any]) -> CoreMempool:
    """A core of `core_cls` indexing `fmt`'s transactions."""
    core: CoreMempool = core_cls(config, clock=clock, transaction_format=fmt)
    return core


def _check_core_format(mempool: Any, fmt: TransactionFormat[Any]) -> None:
    """ValueError unless the given core indexes `fmt`'s transactions (a core without a
    `transaction_format` attribute is a native one)."""
    core_format = getattr(mempool, "transaction_format", None)
    name = "native" if core_format is None else core_format.name
    length = 32 if core_format is None else core_format.sender_length
    if name != fmt.name or length != fmt.sender_length:
        raise ValueError(f"the given mempool indexes transaction format {name!r} "
                         f"({length}-byte senders), this pool's is {fmt.name!r} "
                         f"({fmt.sender_length}-byte senders): make the core with "
                         "CoreMempool(config, transaction_format=...)")


#: A transaction's key for the status API: its 32-byte hash or its (sender, seq) pointer.
_Key = bytes | tuple[bytes, int]
#: What `_pending_statuses` finds for a pending key: (transaction, state, detail).
_Pending = tuple[SignedTransaction, TransactionState, str]


class SharedMempool:
    """Peers, outbound sync, inbound pool, GC, notifications, client and consensus paths."""

    def __init__(self, config: MempoolConfig, network: Network, storage: AccountStateReader, *,
                 transaction_format: TransactionFormat[Any] | None = None,
                 validator: _Validator | None = None, mempool: CoreMempool | None = None,
                 journal: TransactionJournal | None = None,
                 clock: Callable[[], float] = time.time, incarnation: int | None = None) -> None:
        if not isinstance(config, MempoolConfig):
            raise TypeError("config must be a MempoolConfig")
        for name in ("send", "recv"):
            if not callable(getattr(network, name, None)):
                raise TypeError(f"network must implement Network ({name} is missing)")
        if not callable(getattr(storage, "get_account_states", None)):
            raise TypeError("storage must provide get_account_states(addresses)")
        fmt, validator, self._owns_validator = _resolve_format(config, transaction_format,
                                                               validator)
        #: The transaction format of this pool: what it decodes, verifies and journals.
        self.transaction_format: TransactionFormat[Any] = fmt
        #: Whether the pool holds this package's own transactions (the native hot paths).
        self._native = isinstance(fmt, NativeFormat)
        try:
            self._sender_length = check_sender_length(fmt.sender_length)
            mempool = _check_parts(config, fmt, self._native, storage, journal, mempool, clock)
        except BaseException:  # a bad argument leaves nothing running behind
            if self._owns_validator:
                owned = validator if validator is not None else fmt
                close = getattr(owned, "close", None)
                if close is not None:
                    close()
            raise
        self.config = config
        self.network = network
        self.storage = storage
        #: The validator of the native format (given or the default Ed25519Validator); None
        #: for another format, whose own `verify` is the validation.
        self.validator: _Validator | None = validator
        #: TransactionJournal of client transactions (None: not durable); owned by the caller.
        self.journal = journal
        #: This node's random id for this run: peers start over when it changes.
        self.incarnation = incarnation if incarnation is not None else \
            secrets.randbelow((1 << 64) - 1) + 1
        self._clock = clock
        self._name = getattr(network, "peer_id", "node")
        self.metrics = MempoolMetrics()
        self._core = GuardedCore(mempool)
        # the status API: history of what left, watches; both fed in the core's order
        self._intake = OrderedIntake()
        self._history = StatusHistory(config.status_history_size,
                                      sender_length=self._sender_length, native=self._native)
        self._watches = WatchHub(self._core, self._intake, clock,
                                 queue_size=config.watch_queue_size,
                                 capacity_per_user=config.capacity_per_user,
                                 sender_length=self._sender_length, native=self._native)
        self.metrics.bind_core(self._index_size)
        self._tracker = StageTracker(self.metrics, native=self._native)
        self._notifier = Notifier()
        self._peers = PeerBook(ack_timeout_s=config.shared_mempool_ack_timeout_ms / 1000.0,
                               backoff_interval_s=config.shared_mempool_backoff_interval_ms
                               / 1000.0, max_in_flight=config.max_broadcasts_per_peer,
                               buckets=len(config.broadcast_buckets))
        self._admission = Admission(config, fmt.verify, storage, self._core, self.metrics, clock,
                                    expiring=self._native)
        self._broadcaster = Broadcaster(config, self._core, self._peers, self._send,
                                        self.metrics, self._tracker, clock,
                                        on_broadcast=self._watch_broadcast)
        self._inbound = FairPool(lambda peer, message: self._messages.inbound_job(peer, message),
                                 slots=config.shared_mempool_max_concurrent_inbound_syncs,
                                 share=config.shared_mempool_max_inbound_syncs_per_peer,
                                 name=f"smp-inbound-{self._name}")
        self._stop = threading.Event()
        self._messages = PeerMessages(
            name=self._name, incarnation=self.incarnation, peers=self._peers,
            # PeerMessages calls only `admit`, which _WatchedAdmission has with Admission's
            # signature
            admission=cast(Admission, _WatchedAdmission(self._admission, self._watches,
                                                        self._intake)),
            core=self._core, inbound=self._inbound,
            metrics=self.metrics, notifier=self._notifier, send=self._send, clock=clock,
            stopping=self._stop.is_set, format_name=fmt.name, decode_transaction=fmt.decode)
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
        self._core.add_locked_listener(self._status_removed_locked)
        self._core.add_listener(self._status_drain)
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
            owned = self.validator if self.validator is not None else self.transaction_format
            close = getattr(owned, "close", None)
            if close is not None:
                close()

    def _guarded(self, loop: Callable[[threading.Event], None], role: str
                 ) -> Callable[[], None]:
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
    def mempool(self) -> CoreMempool:
        """The core mempool (hold `lock` to read it consistently, briefly)."""
        core: CoreMempool = self._core.mempool
        return core

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
        started, warned = self._clock(), False
        while not stop.wait(tick):
            if not warned and self._clock() - started >= NO_PEER_WARNING_S:
                warned = True
                if not self._peers.snapshot():
                    log.warning("%s: no peer known %.0f s after start: nothing will be "
                                "broadcast until the network reports a NEW_PEER event",
                                self._name, NO_PEER_WARNING_S)
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
                self._intake.drain()
                return total

    # ------------------------------------------------------------------ journal
    def recover_journal(self) -> RecoveryReport:
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

    def _resubmit_held(self, txns: list[SignedTransaction]
                       ) -> list[MempoolAddTransactionStatus]:
        return self.submit_transactions(txns)

    # ------------------------------------------------------------------ subscribers, stats
    def subscribe(self) -> queue.SimpleQueue[SharedMempoolNotification]:
        """A queue receiving every later SharedMempoolNotification (unbounded, as in the
        seed: a subscriber must keep draining it, or `unsubscribe`; SYNC arrives every tick)."""
        return self._notifier.subscribe()

    def unsubscribe(self, subscription: queue.SimpleQueue[SharedMempoolNotification]) -> bool:
        """Stop feeding a queue from `subscribe()`; False if it was not subscribed."""
        return self._notifier.unsubscribe(subscription)

    def counters(self) -> dict[str, int]:
        """Plain counts for tests and tools, read from the metrics: received_batches,
        malformed_messages, malformed_transactions, sent_batches, resent_batches,
        acks_received, retry_acks, backoff_acks, stale_acks, failed_sends,
        refused_peer_messages (from peers of another transaction format),
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

    def timeline_states(self, pointers: Iterable[tuple[bytes, int]]
                        ) -> list[tuple[TimelineState, int] | None]:
        """(state, timeline id) of each pending (sender, seq), None where not pending."""
        return self._core.read(_timeline_states, list(pointers))

    # ------------------------------------------------------------------ peers
    def peers(self) -> dict[str, PeerSyncState]:
        """A snapshot of every known peer's cursor and liveness."""
        return self._peers.snapshot()

    def in_flight(self, peer_id: str) -> list[BatchId]:
        """The unacknowledged batch ranges of a peer, oldest first: (start, end), or with
        several broadcast buckets the per-bucket ranges flattened (start_0, end_0, ...)."""
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
        # the pool's keys are peer ids: the reader submits each batch under its sender
        return cast("dict[str, tuple[int, int]]", self._inbound.load())

    def process_broadcast(self, peer_id: str,
                          message: BroadcastRequest | BucketBroadcastRequest) -> Ack | BucketAck:
        """Admit a peer's batch as NON_QUALIFIED, ack it, notify NEW_TRANSACTIONS."""
        return self._messages.process_broadcast(peer_id, message)

    # ------------------------------------------------------------------ client path
    def submit_transactions(self, txns: Iterable[object]) -> list[MempoolAddTransactionStatus]:
        """Admit client transactions (NOT_READY); one status per input, in input order.

        The inputs are the pool's format's transaction objects: for the native format either
        SignedTransaction class (the other class's objects are converted through their wire
        form), for another format instances of its `transaction_class`; anything else, raw
        bytes included, is a TypeError and nothing is admitted (decode raw bytes first with
        `transaction_format.decode`, which says what is wrong with a malformed one).

        With a journal, the VALID ones are on disk (per its fsync policy) before this returns;
        if the append fails the error propagates and nothing is acknowledged.
        """
        own = [self._own_class(txn) for txn in txns] if self._native else \
            self._format_objects(txns)
        if not own:
            return []
        binding = self._binding
        hook: ValidLockedCallback | None = None if binding is None else binding.accepted_locked
        if self._watches.active:
            hook = _both(hook, self._watches.admitted_locked)
        statuses = self._admission.admit(own, TimelineState.NOT_READY, "client", hook)
        if self._intake:
            self._intake.drain()
        accepted = [txn for txn, status in zip(own, statuses) if status.code == _Code.VALID]
        if binding is not None and accepted:
            # durable before acknowledged: if this raises, the client gets no VALID (the
            # transactions stay in the core; a replay revalidates)
            binding.wait_durable(binding.append(accepted))
        if accepted:
            self._tracker.submitted(accepted, self._clock())
        return statuses

    @staticmethod
    def _own_class(txn: object) -> SignedTransaction:
        """The selected SignedTransaction class's object for `txn` (the other class's objects
        are converted through their wire form); TypeError for anything else."""
        if isinstance(txn, SignedTransaction):
            return txn
        if is_transaction(txn):  # either class: it has to_bytes()
            return SignedTransaction.from_bytes(cast(SignedTransaction, txn).to_bytes())
        raise TypeError(f"expected SignedTransaction, got {type(txn).__name__}")

    def _format_objects(self, txns: Iterable[object]) -> list[Any]:
        """`txns` as a list, every one an instance of the (non-native) format's transaction
        class, checked before anything is admitted; TypeError otherwise."""
        items = txns if type(txns) is list else list(txns)
        cls = self.transaction_format.transaction_class
        for kind in set(map(type, items)):
            if kind is not cls and not issubclass(kind, cls):
                hint = (f" (decode raw bytes with {type(self.transaction_format).__name__}"
                        ".decode first)" if issubclass(kind, (bytes, bytearray, memoryview))
                        else "")
                raise TypeError(f"transaction format {self.transaction_format.name!r} takes "
                                f"{cls.__name__} objects, got {kind.__name__}{hint}")
        return items

    # ------------------------------------------------------------------ consensus path
    def get_block(self, batch_size: int, exclude: Iterable[tuple[bytes, int]] = (),
                  max_bytes: int | None = None) -> list[SignedTransaction]:
        """Up to `batch_size` ready transactions by priority, skipping pointers in `exclude`,
        stopping before their summed wire size would exceed `max_bytes` (None: no limit; the
        first one is returned whatever its size)."""
        if not isinstance(batch_size, int) or isinstance(batch_size, bool):
            raise TypeError("batch_size must be an int")
        check_max_bytes(max_bytes)
        seen: Collection[tuple[bytes, int]] = \
            exclude if isinstance(exclude, (set, frozenset)) else frozenset(exclude)
        block = self._core.read(_get_block, batch_size, seen, max_bytes)
        now = self._clock()
        self._tracker.pulled(block, now)
        if self._watches.active and block:
            self._watches.pulled(block, now)
            self._intake.drain()
        return block

    def commit_transactions(self, committed: Iterable[tuple[bytes, int]], block_time: float,
                            rejected: Iterable[tuple[bytes, int]] = ()) -> int:
        """Commit then reject `(sender, seq)` pairs, then GC by client expiration at
        `block_time`; return how many expired transactions were removed."""
        committed = check_pointers(committed, "committed", self._sender_length)
        rejected = check_pointers(rejected, "rejected", self._sender_length)
        if not isinstance(block_time, (int, float)) or isinstance(block_time, bool):
            raise TypeError("block_time must be a number of seconds")
        step = self.config.core_step_size
        hub = self._watches
        for start in range(0, len(committed), step):
            if hub.active:  # promotions of the committed accounts' successors
                self._core.apply(_remove_watched, committed[start:start + step], hub)
            else:
                self._core.apply(_remove, committed[start:start + step], False)
        for start in range(0, len(rejected), step):
            self._core.apply(_remove, rejected[start:start + step], True)
        expired = 0
        while True:
            removed = self._core.apply(_gc_by_expiration_time, block_time, step)
            expired += removed
            if removed < step:
                break
        self._intake.drain()
        if committed:
            self._notifier.notify(SharedMempoolNotification.COMMIT)
        if rejected:
            self._notifier.notify(SharedMempoolNotification.REJECT)
        return expired


    # ------------------------------------------------------------------ status API
    def transaction_status(self, key: _Key) -> TransactionStatus:
        """Where one transaction stands here: `key` is its 32-byte hash or its
        (sender, sequence_number) pointer (docs/design.md §5)."""
        return self.transaction_statuses([key])[0]

    def transaction_statuses(self, keys: Iterable[_Key]) -> list[TransactionStatus]:
        """`transaction_status` of each key, in order, reading the core in one lock hold."""
        length = self._sender_length
        parsed = [parse_key(key, length) for key in keys]
        if not parsed:
            return []
        pending = self._core.read(_pending_statuses, parsed, self.config.capacity_per_user)
        # every removal made before that read is in the intake: record it before looking
        self._intake.drain(wait=True)
        return [self._status_of(h, ptr, found) for (h, ptr), found in zip(parsed, pending)]

    def _status_of(self, h: bytes | None, ptr: tuple[bytes, int] | None,
                   found: _Pending | None) -> TransactionStatus:
        if found is not None:
            txn, state, detail = found
            return TransactionStatus(state, None, txn.hash, txn.pointer, None, detail)
        # parse_key gave exactly one of the two: no hash means a pointer
        entry = self._history.by_hash(h) if h is not None else \
            self._history.by_pointer(*cast("tuple[bytes, int]", ptr))
        if entry is not None:
            return TransactionStatus(entry.state, entry.reason, entry.hash, entry.pointer,
                                     entry.at, self._removal_detail(entry))
        if self._history.size:
            detail = ("never seen here, or forgotten: the status history keeps the last "
                      f"{self._history.size:,} transactions that left the pool")
        else:
            detail = "not pending here (no status history is kept: status_history_size = 0)"
        return TransactionStatus(TransactionState.UNKNOWN, None, None if ptr is not None else h,
                                 ptr, None, detail)

    def _removal_detail(self, entry: HistoryEntry) -> str:
        if entry.reason is None:
            return "committed"
        if entry.reason is DropReason.REPLACED:
            by = entry.replaced_by.hex() if entry.replaced_by else "a transaction since gone"
            return (f"replaced by {by}: a higher gas price at the same sequence number")
        if entry.reason is DropReason.SYSTEM_TTL:
            return ("expired: waited here longer than the system TTL of "
                    f"{self.config.system_transaction_timeout_secs:g} s")
        return _DROP_DETAIL[entry.reason]

    def account_status(self, sender: bytes) -> AccountStatus:
        """An account's pending transactions here: the current sequence number the mempool
        uses (its cached one, else the account store's), the ready and parked sequence numbers
        and the gap the parked ones wait for. Scans `capacity_per_user` sequence numbers from
        the current one, `core_step_size` per lock hold."""
        sender = check_address(sender, "sender", self._sender_length)
        cap = self.config.capacity_per_user
        step = self.config.core_step_size
        current, held = self._core.read(_account_first, sender, min(step, cap))
        if current is None:
            states = self.storage.get_account_states([sender])
            account = states[0] if states else None
            current = account[0] if account is not None else 0
            held = self._core.read(held_sequence_numbers, sender, current, min(step, cap))
        for start in range(current + step, current + cap, step):
            if start > (1 << 64) - 1:
                break
            held += self._core.read(held_sequence_numbers, sender, start,
                                    min(step, current + cap - start))
        return account_view(sender, current, held)

    def watch(self, keys: Iterable[_Key] | None = None, *,
              accounts: Iterable[bytes] | None = None) -> TransactionWatch:
        """A subscription to the events of the transactions named by `keys` (hashes or
        pointers) and of every transaction of `accounts`; of everything when both are None.
        See `mempool_fast.shared.watch`."""
        for what, value in (("keys", keys), ("accounts", accounts)):
            if isinstance(value, (bytes, bytearray, memoryview, str)) or (
                    isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], int)):
                raise TypeError(f"{what} is a list (of hashes or pointers, or of addresses), "
                                f"not one {type(value).__name__}")
        return self._watches.open(None if keys is None else list(keys),
                                  None if accounts is None else list(accounts))

    def inspect(self) -> dict[str, Any]:
        """What the pool holds and what happened to what left it (JSON-serialisable): pending
        counts by state, the history window's counts by state and reason, each peer's
        broadcast cursor and unacknowledged batches, the core's index sizes, the watches."""
        core = self._core.read(_inspect_core)
        peers = self._peers.describe()
        for pid, described in peers.items():
            described["unacknowledged"] = [list(r) for r in self._peers.in_flight(pid)]
        self._intake.drain(wait=True)
        return {"pending": {"ready": core["priority_index_size"],
                            "parked": core["parking_lot_size"], "total": core["mempool_size"]},
                "history": self._history.counts(),
                "peers": peers,
                "core": core,
                "watches": self._watches.stats(),
                "incarnation": self.incarnation,
                "transaction_format": self.transaction_format.name}

    def _status_removed_locked(self, removals: Removals) -> None:
        """The status API's locked listener: one intake append (and, only with a REPLACED
        among the removals, the replacements' lookup); the watches' work when one is open."""
        if self._history.size:
            replaced = replacements(self._core.mempool, removals) \
                if _REPLACED in map(_reason_of, removals) else None
            self._intake.put((self._history.record, removals, self._clock(), replaced))
        if self._watches.active:
            self._watches.removed_locked(removals)

    def _status_drain(self, _removals: Removals) -> None:
        self._intake.drain()

    def _watch_broadcast(self, peer: str, txns: list[SignedTransaction], now: float) -> None:
        if self._watches.active:
            self._watches.broadcast(peer, txns, now)
            self._intake.drain()


class _WatchedAdmission:
    """The peer path's admission (PeerMessages uses `admit` only), with the watches' hook
    while a watch is open, and the status intake drained after."""

    def __init__(self, admission: Admission, hub: WatchHub, intake: OrderedIntake) -> None:
        self._admission = admission
        self._hub = hub
        self._intake = intake

    def admit(self, txns: Sequence[SignedTransaction], state: TimelineState, origin: str,
              on_valid_locked: ValidLockedCallback | None = None
              ) -> list[MempoolAddTransactionStatus]:
        if self._hub.active:
            on_valid_locked = _both(on_valid_locked, self._hub.admitted_locked)
        try:
            return self._admission.admit(txns, state, origin, on_valid_locked)
        finally:
            if self._intake:
                self._intake.drain()


def _both(first: ValidLockedCallback | None, second: ValidLockedCallback
          ) -> ValidLockedCallback:
    """A hook calling `first` (if any) then `second`."""
    if first is None:
        return second

    def hook(valid: list[SignedTransaction]) -> None:
        first(valid)
        second(valid)
    return hook


_DROP_DETAIL = {
    DropReason.REJECTED: "rejected: consensus rejected it, or an earlier transaction of its "
                         "account",
    DropReason.EXPIRED: "expired: its expiration time passed before it was committed",
    DropReason.EVICTED: "evicted: mempool full, a ready transaction needed room",
    DropReason.STALE: "stale: the account's sequence number moved past it without it being "
                      "committed here",
}


# -- what runs under the core lock (module functions: no closure per call) --
def _gc_by_system_ttl(core: CoreMempool, limit: int) -> int:
    return core.gc_by_system_ttl(limit)


def _gc_by_expiration_time(core: CoreMempool, block_time: float, limit: int) -> int:
    return core.gc_by_expiration_time(block_time, limit)


def _get_block(core: CoreMempool, batch_size: int, seen: Collection[tuple[bytes, int]],
               max_bytes: int | None) -> list[SignedTransaction]:
    return core.get_block(batch_size, seen, max_bytes)


def _remove(core: CoreMempool, pointers: Iterable[tuple[bytes, int]], is_rejected: bool
            ) -> None:
    remove = core.remove_transaction
    for sender, seq in pointers:
        remove(sender, seq, is_rejected)


def _sizes(core: CoreMempool) -> dict[str, int]:
    return {"mempool_size": len(core), "parking_lot_size": core.parking_lot_size(),
            "priority_index_size": core.priority_index_size(),
            "timeline_size": core.timeline_size()}


def _timeline_states(core: CoreMempool, pointers: Iterable[tuple[bytes, int]]
                     ) -> list[tuple[TimelineState, int] | None]:
    state = core.timeline_state
    return [state(sender, seq) for sender, seq in pointers]


def _index_size(core: CoreMempool, name: str) -> int:
    if name == "transactions":
        return len(core)
    reader = getattr(core, f"{name}_size", None)
    size: int = reader() if reader is not None else 0  # the core's *_size() queries are ints
    return size


def _remove_watched(core: CoreMempool, pointers: list[tuple[bytes, int]], hub: WatchHub
                    ) -> None:
    _remove(core, pointers, False)
    hub.committed_locked(core, {sender for sender, _ in pointers})


def _inspect_core(core: CoreMempool) -> dict[str, int]:
    return {**_sizes(core), "last_timeline_id": core.last_timeline_id(),
            "account_count": core.account_count()}


def _account_first(core: CoreMempool, sender: bytes, count: int
                   ) -> tuple[int | None, list[int]]:
    current = core.sequence_number(sender)
    if current is None:
        return None, []
    return current, held_sequence_numbers(core, sender, current, count)


_TS_READY = TimelineState.READY
_TS_NON_QUALIFIED = TimelineState.NON_QUALIFIED


def _pending_statuses(core: CoreMempool,
                      parsed: list[tuple[bytes | None, tuple[bytes, int] | None]], cap: int
                      ) -> list[_Pending | None]:
    """(transaction, state, detail) of each key whose transaction is pending, else None."""
    out: list[_Pending | None] = []
    for h, ptr in parsed:
        # parse_key gave exactly one of the two: no pointer means a hash
        txn = core.get(*ptr) if ptr is not None else core.get_by_hash(cast(bytes, h))
        if txn is None:
            out.append(None)
            continue
        sender, seq = txn.sender, txn.sequence_number
        # held (just found) under the same lock hold: it has a timeline state
        ts, tid = cast("tuple[TimelineState, int]", core.timeline_state(sender, seq))
        state = pending_state(core, sender, seq, ts, cap)
        current = core.sequence_number(sender)
        if state is TransactionState.READY:
            detail = (f"ready: offered to consensus, broadcast timeline id {tid}"
                      if ts == _TS_READY else
                      "ready: offered to consensus (received from a peer: not re-broadcast)")
        elif current is not None and seq < current:
            detail = (f"parked below the account's sequence number {current}: the next "
                      "admission for the account drops it as stale")
        else:
            gap = None if current is None else first_gap(core, sender, current, cap)
            detail = (f"waiting for sequence number {gap} of this account" if gap is not None
                      else "waiting for an earlier sequence number of this account")
        out.append((txn, state, detail))
    return out
