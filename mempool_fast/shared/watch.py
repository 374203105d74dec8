"""Watches: subscriptions to the life of chosen transactions and accounts (`SharedMempool.watch`).

A `TransactionWatch` receives `TransactionEvent`s (admitted, ready, parked, broadcast, pulled,
committed, dropped) for the transactions it names by hash or pointer, for whole accounts, or
for everything. Each watch has a bounded queue (`watch_queue_size`): when it is full the
oldest event is dropped and counted in `watch.lost`, so a slow watcher never slows the mempool.

Cost: `WatchHub.active` is False while no watch is open, and every path checks it first, so
without watchers nothing is done per transaction. With watchers, what changes state is judged
under the core lock, as it happens (the admission hook, the commit step, the removal feed's
locked listener): for each transaction some watch wants, its state (`status.pending_state`)
and the run of its account's successors (at most `capacity_per_user` lookups; a gap filled
makes them READY, a GC'd predecessor PARKED). The events are appended to the ordered intake
(`status_history.OrderedIntake`) and built and delivered after the lock is released, in the
core's order. Broadcast and pulled events are appended when the send or get_block happened.

The hub remembers the last state it reported of each wanted pending transaction (`_known`,
touched only under the core lock), so it reports changes, not repeats. A watch opened on an
account or on keys learns the current state of what it names at once (no event); a watch on
everything learns each transaction when it is admitted, and for the ones already pending when
it opened reports their removal, and their parking by a GC, but not a promotion by a commit.

Locks: the registry lock is a leaf (held to change or read who watches what, never while an
event is delivered); a watch's condition is a leaf. Opening and closing also hold the core
lock (core -> registry), so the interest tests made under the core lock see a stable registry.
"""

from __future__ import annotations

import collections
import functools
import logging
import operator
import threading
from typing import Any, Callable, Iterable, Iterator, TypeVar, cast

from ..status import (CoreQueries, DropReason, TransactionEvent, TransactionEventKind,
                      TransactionState, from_removal, parse_key, pending_state)
from ..transaction import SignedTransaction
from ..types import RemovalReason
from .guarded_core import GuardedCore, Removals
from .status_history import OrderedIntake, pointer_key, wire_pointer_key

__all__ = ["WatchHub", "TransactionWatch"]

log = logging.getLogger(__name__)

_Kind = TransactionEventKind
_READY = TransactionState.READY
_PARKED = TransactionState.PARKED
_COMMITTED = RemovalReason.COMMITTED
_REPLACED = RemovalReason.REPLACED
_STALE = RemovalReason.STALE
_GC = (RemovalReason.SYSTEM_TTL, RemovalReason.EXPIRED)
_STATE_KIND = {_READY: _Kind.READY, _PARKED: _Kind.PARKED}
_sender = operator.attrgetter("sender")
#: Most sequence numbers read per account when a watch on it opens (under the core lock).
_SEED_SCAN = 1024
_first = operator.itemgetter(0)
#: (kind, transaction, state, drop reason, replacement, peer): an event before it is built
_Event = tuple[TransactionEventKind, SignedTransaction, TransactionState, DropReason | None,
               SignedTransaction | None, str | None]
_Hook = TypeVar("_Hook", bound=Callable[..., None])


def _never_raises(method: _Hook) -> _Hook:
    """A hook run under the core lock inside an admission or a commit: a bug in the watches
    must not undo or fail the core call (it is logged)."""
    @functools.wraps(method)
    def run(self: WatchHub, *args: Any) -> None:
        try:
            method(self, *args)
        except Exception:
            log.exception("watch hook %s failed", method.__name__)
    return cast(_Hook, run)


class TransactionWatch:
    """One subscription: iterate it, or `get(timeout)`; `close()` (or leave the `with`)."""

    def __init__(self, hub: WatchHub, maxsize: int, hashes: frozenset[bytes],
                 pointers: frozenset[tuple[bytes, int]], accounts: frozenset[bytes],
                 everything: bool) -> None:
        self._hub = hub
        self._maxsize = maxsize
        self.hashes = hashes
        self.pointers = pointers
        self.accounts = accounts
        self.everything = everything
        self._events: collections.deque[TransactionEvent] = collections.deque()
        self._cond = threading.Condition(threading.Lock())
        #: Events dropped because the queue was full (the oldest go first).
        self.lost = 0
        self.closed = False

    def _offer(self, event: TransactionEvent) -> None:
        with self._cond:
            if self.closed:
                return
            if len(self._events) >= self._maxsize:
                self._events.popleft()
                self.lost += 1
            self._events.append(event)
            self._cond.notify()

    def get(self, timeout: float | None = None) -> TransactionEvent | None:
        """The next event; None if none came within `timeout` seconds (None: wait as long as
        it takes), or once the watch is closed and its queue is empty."""
        with self._cond:
            if not self._events and not self.closed:
                self._cond.wait_for(lambda: self._events or self.closed, timeout)
            return self._events.popleft() if self._events else None

    def pending(self) -> int:
        """Events waiting in the queue."""
        with self._cond:
            return len(self._events)

    def __iter__(self) -> Iterator[TransactionEvent]:
        """Every event, waiting for each, until the watch is closed and drained."""
        while True:
            event = self.get()
            if event is None:
                return
            yield event

    def close(self) -> None:
        """Stop receiving events (those queued can still be read). Idempotent."""
        if self.closed:
            return
        self._hub.close(self)
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def __enter__(self) -> "TransactionWatch":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class WatchHub:
    """Who watches what, the states reported so far, and the event paths (module docstring)."""

    def __init__(self, guarded: GuardedCore, intake: OrderedIntake, clock: Callable[[], float], *,
                 queue_size: int, capacity_per_user: int, sender_length: int = 32,
                 native: bool = True) -> None:
        """`sender_length`: bytes of the format's senders (accounts and pointers are checked
        against it); `native`: the native wire layout, whose first 40 bytes are the pointer
        key (`wire_pointer_key`, the fast path), else the key is packed from the fields."""
        self._guarded = guarded
        self._sender_length = sender_length
        #: A transaction's 40-byte pointer key (status_history.pointer_key).
        self._key: Callable[[Any], bytes] = wire_pointer_key if native else pointer_key
        self._intake = intake
        self._clock = clock
        self._queue_size = queue_size
        self._cap = capacity_per_user
        #: Whether any watch is open (read without a lock on every path).
        self.active = False
        self._lock = threading.Lock()
        self._watches: set[TransactionWatch] = set()
        self._everything: set[TransactionWatch] = set()
        self._by_account: dict[bytes, set[TransactionWatch]] = {}
        self._by_pointer: dict[bytes, set[TransactionWatch]] = {}
        self._by_hash: dict[bytes, set[TransactionWatch]] = {}
        #: pointer key -> [transaction, last reported state] (a mutable pair, so Any); under
        #: the core lock only
        self._known: dict[bytes, list[Any]] = {}
        #: pointer key -> the replaced transaction whose drop the admission hook reported
        self._reported: dict[bytes, SignedTransaction] = {}
        self._lost_closed = 0

    # ------------------------------------------------------------------ registry
    def open(self, keys: Iterable[object] | None,
             accounts: Iterable[object] | None) -> TransactionWatch:
        from .._wire import check_address

        everything = keys is None and accounts is None
        hashes: set[bytes] = set()
        pointers: set[tuple[bytes, int]] = set()
        for key in keys or ():
            h, ptr = parse_key(key, self._sender_length)
            if h is not None:
                hashes.add(h)
            else:  # parse_key gives a pointer whenever it gives no hash
                pointers.add(cast(tuple[bytes, int], ptr))
        senders = frozenset(check_address(a, "account", self._sender_length)
                            for a in accounts or ())
        watch = TransactionWatch(self, self._queue_size, frozenset(hashes), frozenset(pointers),
                                 senders, everything)
        self._guarded.read(self._open_locked, watch)
        return watch

    def _open_locked(self, core: CoreQueries, watch: TransactionWatch) -> None:
        from .._wire import POINTER

        with self._lock:
            self._watches.add(watch)
            if watch.everything:
                self._everything.add(watch)
            for sender in watch.accounts:
                self._by_account.setdefault(sender, set()).add(watch)
            for sender, seq in watch.pointers:
                self._by_pointer.setdefault(POINTER.pack(sender, seq), set()).add(watch)
            for h in watch.hashes:
                self._by_hash.setdefault(h, set()).add(watch)
            self.active = True
        # learn the current state of what it names (no events)
        found = [core.get(sender, seq) for sender, seq in watch.pointers]
        found += [core.get_by_hash(h) for h in watch.hashes]
        for sender in watch.accounts:  # the run from the current one, and what is parked
            current = core.sequence_number(sender)  # within _SEED_SCAN of it
            if current is not None:
                found += [core.get(sender, k) for k in
                          range(current, min(current + min(self._cap, _SEED_SCAN), 1 << 64))]
        for txn in found:
            if txn is not None:
                self._learn(core, txn)

    def _learn(self, core: CoreQueries, txn: SignedTransaction) -> TransactionState | None:
        key = self._key(txn)
        known = self._known.get(key)
        if known is not None and known[0] == txn:
            last: TransactionState = known[1]
            return last
        ts = core.timeline_state(txn.sender, txn.sequence_number)
        if ts is None:
            return None
        state = pending_state(core, txn.sender, txn.sequence_number, ts[0], self._cap)
        self._known[key] = [txn, state]
        return state

    def close(self, watch: TransactionWatch) -> None:
        self._guarded.read(self._close_locked, watch)

    def _close_locked(self, core: CoreQueries, watch: TransactionWatch) -> None:
        from .._wire import POINTER

        with self._lock:
            if watch not in self._watches:
                return
            self._watches.discard(watch)
            self._everything.discard(watch)
            for index, keys in ((self._by_account, watch.accounts),
                                (self._by_pointer, [POINTER.pack(*p) for p in watch.pointers]),
                                (self._by_hash, watch.hashes)):
                for key in keys:
                    ws = index.get(key)
                    if ws is not None:
                        ws.discard(watch)
                        if not ws:
                            del index[key]
            self._lost_closed += watch.lost
            if not self._watches:
                self.active = False
                self._known.clear()
                self._reported.clear()

    def stats(self) -> dict[str, int]:
        """Open watches and the events they lost (closed ones included), JSON-ready."""
        with self._lock:
            watches = list(self._watches)
            lost = self._lost_closed
        return {"open": len(watches), "lost": lost + sum(w.lost for w in watches),
                "tracked": len(self._known)}

    # ------------------------------------------------------------------ interest
    def _wants_account(self, sender: bytes) -> bool:
        return bool(self._everything or self._by_pointer or self._by_hash) or \
            sender in self._by_account

    def _none_wanted(self, txns: Iterable[SignedTransaction]) -> bool:
        """True when only account watches are open and none of `txns` is of those accounts
        (one C-level pass: the common case of a few watched accounts costs no Python loop)."""
        if self._everything or self._by_pointer or self._by_hash:
            return False
        return self._by_account.keys().isdisjoint(map(_sender, txns))

    def _wants(self, txn: SignedTransaction) -> bool:
        if self._everything or txn.sender in self._by_account:
            return True
        if self._by_pointer and self._key(txn) in self._by_pointer:
            return True
        return bool(self._by_hash) and txn.hash in self._by_hash

    # ------------------------------------------------------------------ under the core lock
    @_never_raises
    def admitted_locked(self, valid: list[SignedTransaction]) -> None:
        """The admission hook: `valid` were just admitted VALID (core lock held). First the
        admissions (states as the whole batch left them), then the runs after them."""
        if self._none_wanted(valid):
            return
        core: CoreQueries = self._guarded.mempool
        events: list[_Event] = []
        known = self._known
        admitted: dict[bytes, dict[int, bool]] = {}  # sender -> seq -> newly in and READY
        for txn in valid:
            sender = txn.sender
            if not self._wants_account(sender):
                continue
            seq = txn.sequence_number
            held = core.get(sender, seq)
            if held is None:  # removed again within the batch: the removal feed reports it
                continue
            fresh_ready = False
            if self._wants(held):
                key = self._key(held)
                old = known.get(key)
                if old is None or old[0] != held:  # else a resubmission, or seen in the batch
                    if old is not None:  # it took the place of one reported: a replacement
                        events.append((_Kind.DROPPED, old[0], TransactionState.DROPPED,
                                       DropReason.REPLACED, held, None))
                        self._reported[key] = old[0]
                    ts = core.timeline_state(sender, seq)
                    # held, just read under the same lock: it has a timeline state
                    state = pending_state(core, sender, seq,
                                          ts[0], self._cap)  # type: ignore[index]
                    known[key] = [held, state]
                    events.append((_Kind.ADMITTED, held, state, None, None, None))
                    fresh_ready = state is _READY
            admitted.setdefault(sender, {})[seq] = fresh_ready
        for sender, seqs in admitted.items():
            for seq, fresh_ready in seqs.items():
                if seq + 1 not in seqs:  # a run's end: walk what follows it
                    # a gap just filled makes the held successors ready (they were parked)
                    self._scan(core, sender, seq + 1, fresh_ready, events)
        self._emit(events)

    @_never_raises
    def committed_locked(self, core: CoreQueries, senders: Iterable[bytes]) -> None:
        """After commits or rejects of these accounts (core lock held): promotions."""
        events: list[_Event] = []
        for sender in senders:
            if self._wants_account(sender):
                current = core.sequence_number(sender)
                if current is not None:
                    self._scan(core, sender, current, False, events)
        self._emit(events)

    @_never_raises
    def removed_locked(self, removals: Removals) -> None:
        """The removal feed's locked listener (core lock held)."""
        if self._none_wanted(map(_first, removals)):
            return
        core: CoreQueries = self._guarded.mempool
        events: list[_Event] = []
        known = self._known
        rescans: list[tuple[bytes, int, bool]] = []
        for txn, reason in removals:
            sender = txn.sender
            if not self._wants_account(sender):
                continue
            key = self._key(txn)
            old = known.get(key)
            if old is not None and old[0] == txn:
                del known[key]
            elif reason is _REPLACED and self._reported.get(key) == txn:
                del self._reported[key]  # the admission hook reported it
                continue
            elif not self._wants(txn):
                continue
            state, drop = from_removal(reason)
            replacement = core.get(sender, txn.sequence_number) if reason is _REPLACED \
                else None
            kind = _Kind.COMMITTED if reason is _COMMITTED else _Kind.DROPPED
            events.append((kind, txn, state, drop, replacement, None))
            if reason in _GC:
                rescans.append((sender, txn.sequence_number + 1, True))
            elif reason is _STALE:
                current = core.sequence_number(sender)
                if current is not None:
                    rescans.append((sender, current, False))
        for sender, start, announce in rescans:
            self._scan(core, sender, start, announce, events)
        self._emit(events)

    def _scan(self, core: CoreQueries, sender: bytes, start: int, announce: bool,
              events: list[_Event]) -> None:
        """Walk the run of held transactions from `start`: report the state changes of the
        wanted ones (and, when `announce`, the state of wanted ones not known yet)."""
        get = core.get
        known = self._known
        state = None
        for seq in range(start, min(start + self._cap, 1 << 64)):
            txn = get(sender, seq)
            if txn is None:
                return
            if not self._wants(txn):
                continue
            if state is None:  # one state for the whole run (readiness is positional)
                ts = core.timeline_state(sender, seq)
                # held, just read under the same lock: it has a timeline state
                state = pending_state(core, sender, seq, ts[0], self._cap)  # type: ignore[index]
            key = self._key(txn)
            old = known.get(key)
            if old is None or old[0] != txn:
                known[key] = [txn, state]
                if not announce:
                    continue
            elif old[1] is state:
                continue
            else:
                old[1] = state
            events.append((_STATE_KIND[state], txn, state, None, None, None))

    def _emit(self, events: list[_Event]) -> None:
        if events:
            self._intake.put((self._publish, events, self._clock()))

    # ------------------------------------------------------------------ outside the lock
    def broadcast(self, peer: str, txns: list[SignedTransaction], now: float) -> None:
        """`txns` were sent to `peer`."""
        if self.active and not self._none_wanted(txns):
            events: list[_Event] = [(_Kind.BROADCAST, t, _READY, None, None, peer) for t in txns
                      if self._wants(t)]
            if events:
                self._intake.put((self._publish, events, now))

    def pulled(self, txns: list[SignedTransaction], now: float) -> None:
        """`txns` were returned by get_block."""
        if self.active and not self._none_wanted(txns):
            events: list[_Event] = [(_Kind.PULLED, t, _READY, None, None, None) for t in txns
                      if self._wants(t)]
            if events:
                self._intake.put((self._publish, events, now))

    def _publish(self, events: list[_Event], at: float) -> None:
        """Build and deliver events (run by the intake, in order)."""
        with self._lock:
            everything = list(self._everything)
            by_account, by_pointer, by_hash = self._by_account, self._by_pointer, self._by_hash
            deliveries = []
            for kind, txn, state, reason, replacement, peer in events:
                h = txn.hash
                targets = set(everything)
                for index, key in ((by_account, txn.sender), (by_hash, h)):
                    ws = index.get(key)
                    if ws:
                        targets.update(ws)
                if by_pointer:
                    ws = by_pointer.get(self._key(txn))
                    if ws:
                        targets.update(ws)
                if not targets:
                    continue
                detail = "" if replacement is None else \
                    f"replaced by {replacement.hash.hex()}"
                deliveries.append((targets, TransactionEvent(
                    kind, h, txn.pointer, state, reason, at, peer, detail)))
        for targets, event in deliveries:
            for watch in targets:
                watch._offer(event)
