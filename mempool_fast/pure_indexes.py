"""The pure-Python core's indexes and the operations that keep them consistent (pure.py holds
the admission, consensus and GC rules on top).

  accounts      sender -> _Account (its transactions by sequence number, gas total)
  priority      ready transactions, best first: gas price high->low, system expiry
                early->late, address high->low, sequence number low->high
  timeline      timeline id -> pointer of READY (broadcastable) transactions; one per
                broadcast bucket (`broadcast_buckets`), sharing one id counter
  parking lot   pointers of transactions waiting for a missing predecessor
  system TTL    (system expiry, insertion number, sender, seq)
  expiration    (client expiration time, insertion number, sender, seq); a transaction
                without one (expiration_time None: a foreign format's) is not in it
  seq cache     LRU of each account's current sequence number
  by hash       transaction hash (SHA3-256 of the wire form) -> entry, a dict: O(1)
  ready age     a heap of (system expiry, insertion number) of the ready transactions, the
                oldest first: only with eager expiry on (eager_expire_threshold_ms)
  tails         a heap of each account's tail (its highest sequence number) that may be
                evicted, the next victim first: only with eviction_policy "lowest_price"
The two heaps delete lazily (as csrc/core/lazy_heap.hpp): an item is pushed when its entry
starts to qualify and is dropped once found stale (the entry left the pool, or no longer
qualifies) at the top, or in a rebuild once stale items outnumber the live ones: O(log n) per
push, nothing per removal.
The ordered ones on sortedcontainers: O(log n) per insert or removal in every index.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections import OrderedDict
from typing import Any

from sortedcontainers import SortedDict, SortedList, SortedSet

from .transaction import SignedTransaction
from .types import ENTRY_OVERHEAD_BYTES, RemovalReason, TimelineState

__all__ = ["PoolIndexes"]

_NOT_READY = TimelineState.NOT_READY
_READY = TimelineState.READY
_NON_QUALIFIED = TimelineState.NON_QUALIFIED
_INVERT = bytes(range(255, -1, -1))
#: Stale items a policy heap tolerates beyond twice the live ones before a rebuild.
LAZY_HEAP_SLACK = 1024

#: (sender, sequence number)
Pointer = tuple[bytes, int]
#: A priority key: (-gas price, system expiry, inverted sender, seq, sender).
PrioKey = tuple[int, float, bytes, int, bytes]
#: A GC index key: (expiry, insertion number, sender, seq); searched with (time,).
TtlKey = tuple[Any, ...]


class _Entry:
    """One pending transaction and its bookkeeping."""

    __slots__ = ("txn", "sender", "seq", "gas_cost", "expiration", "expiry", "pkey",
                 "state", "timeline_id", "ready", "order", "wire_size", "tail")

    #: its account's highest sequence number: set by `_insert` only while the lowest_price
    #: policy needs it (unset otherwise)
    tail: bool

    def __init__(self, txn: SignedTransaction, gas_cost: int, expiry: float,
                 state: TimelineState) -> None:
        self.txn = txn
        self.sender = txn.sender
        self.seq = txn.sequence_number
        #: what the balance check charges for it: native gas_amount * gas_unit_price, else
        #: the format's max_cost(txn)
        self.gas_cost = gas_cost
        #: its client expiration time; None: none (a foreign format's), in no expiration index
        self.expiration = txn.expiration_time
        self.expiry = expiry
        # Sorting ascending by this key yields Libra's priority order.
        self.pkey = (-txn.gas_unit_price, expiry, self.sender.translate(_INVERT), self.seq,
                     self.sender)
        self.state = state
        self.timeline_id = 0
        self.ready = False
        self.order = 0  # insertion number (set by _insert): GC order among equal expiries
        self.wire_size = len(txn.to_bytes())


class _Account:
    """An account's pending transactions by sequence number, and the sum of their gas costs."""

    __slots__ = ("txns", "gas_total", "last")

    #: its entry of the highest sequence number: set only while the lowest_price policy
    #: needs it (unset otherwise)
    last: _Entry

    def __init__(self) -> None:
        self.txns: SortedDict[int, _Entry] = SortedDict()
        self.gas_total = 0




class PoolIndexes:
    """Every index of one pool, and the entry operations that keep them consistent."""

    def __init__(self, capacity: int, capacity_per_user: int, removal_feed: bool, *,
                 ready_age: bool = False, tails: bool = False,
                 protect_local: bool = True, buckets: tuple[int, ...] = (0,)) -> None:
        self._capacity = capacity
        self._capacity_per_user = capacity_per_user
        self._accounts: dict[bytes, _Account] = {}
        self._priority: SortedList[PrioKey] = SortedList()
        #: each broadcast bucket's timeline, lowest bucket first; `_timeline` is the first
        #: (with one bucket, the only one: the single-bucket paths use it directly)
        self._timelines: list[SortedDict[int, Pointer]] = [SortedDict() for _ in buckets]
        self._timeline = self._timelines[0]
        self._bounds = buckets
        self._single_bucket = len(buckets) == 1
        #: the last id each bucket's timeline was given (no id of it is greater); kept with
        #: several buckets only
        self._bucket_last = [0] * len(buckets)
        self._next_timeline_id = 1
        self._parking: SortedSet[Pointer] = SortedSet()
        self._system_ttl: SortedList[TtlKey] = SortedList()
        self._expiration: SortedList[TtlKey] = SortedList()
        self._seq_cache: OrderedDict[bytes, int] = OrderedDict()
        #: heap of (expiry, insertion number, entry) of the ready entries, when eager expiry
        #: needs the oldest
        self._ready_age: list[tuple[float, int, _Entry]] | None = [] if ready_age else None
        #: heap of (price, -expiry, -insertion number, entry) of the evictable account tails
        #: (lowest_price eviction), else None; with `protect_local`, only tails received from
        #: peers (NON_QUALIFIED) are evictable
        self._tails: list[tuple[int, float, int, _Entry]] | None = [] if tails else None
        self._protect_local = protect_local
        #: transaction hash -> entry, for get_by_hash; kept by _insert and _remove_entry
        self._by_hash: dict[bytes, _Entry] = {}
        self._size = 0
        #: wire sizes of the pending transactions plus ENTRY_OVERHEAD_BYTES each
        self._size_bytes = 0
        self._next_order = 0
        #: (transaction, RemovalReason) of every removal since the last drain; None: off
        self._removed: list[tuple[SignedTransaction, RemovalReason]] | None = \
            [] if removal_feed else None

    # ------------------------------------------------------------------ removal feed
    @property
    def removal_feed(self) -> bool:
        """Whether removals are recorded for `drain_removed` (turning it off drops the record)."""
        return self._removed is not None

    @removal_feed.setter
    def removal_feed(self, enabled: bool) -> None:
        if not enabled:
            self._removed = None
        elif self._removed is None:
            self._removed = []

    def drain_removed(self) -> list[tuple[SignedTransaction, RemovalReason]]:
        """Every transaction removed since the last call, with why, each reported once (in
        removal order; within one GC call the order is the core's own). O(removed)."""
        removed = self._removed
        if not removed:
            return []
        self._removed = []
        return removed

    # ------------------------------------------------------------------ entry operations
    def _insert(self, account: _Account, entry: _Entry) -> None:
        """Index a new entry, parked; `_promote` makes it ready when it is. O(log n)."""
        digest = entry.txn.hash  # first, so nothing changes if it fails (computed once)
        sender, seq = entry.sender, entry.seq
        entry.order = self._next_order
        self._next_order += 1
        new_tail = False
        if self._tails is not None:
            if not account.txns:
                new_tail = True
            elif seq > account.last.seq:
                new_tail = True
                account.last.tail = False
            if new_tail:
                account.last = entry
            entry.tail = new_tail
        account.txns[seq] = entry
        account.gas_total += entry.gas_cost
        self._system_ttl.add((entry.expiry, entry.order, sender, seq))
        if entry.expiration is not None:
            self._expiration.add((entry.expiration, entry.order, sender, seq))
        self._parking.add((sender, seq))
        self._by_hash[digest] = entry
        self._size += 1
        self._size_bytes += entry.wire_size + ENTRY_OVERHEAD_BYTES
        if new_tail and (not self._protect_local or entry.state is _NON_QUALIFIED):
            self._push_tail(entry)

    @staticmethod
    def _would_be_ready(account: _Account | None, seq: int, current: int) -> bool:
        if seq == current:
            return True
        if account is None or seq - current > len(account.txns):
            return False
        txns = account.txns
        return all(s in txns for s in range(current, seq))


    # ------------------------------------------------------------------ internals
    def _cache_put(self, sender: bytes, value: int) -> None:
        cache = self._seq_cache
        if sender in cache:
            cache.move_to_end(sender)
        elif len(cache) >= self._capacity:
            cache.popitem(last=False)
        cache[sender] = value

    def _clean_committed(self, account: _Account, current: int, reason: RemovalReason) -> None:
        txns = account.txns
        stale = list(txns.irange(maximum=current, inclusive=(True, False)))
        for seq in stale:
            self._remove_entry(account, txns[seq], reason)

    def _promote(self, account: _Account, current: int) -> None:
        """Make every transaction from `current` up to the first gap ready."""
        txns = account.txns
        seq = current
        entry = txns.get(seq)
        while entry is not None:
            if not entry.ready:
                entry.ready = True
                self._parking.remove((entry.sender, seq))
                self._priority.add(entry.pkey)
                if self._ready_age is not None:
                    self._push_age(entry)
                if entry.state is _NOT_READY:
                    entry.state = _READY
                    entry.timeline_id = self._next_timeline_id
                    if self._single_bucket:
                        self._timeline[entry.timeline_id] = (entry.sender, seq)
                    else:
                        bucket = self._bucket_of(entry)
                        self._timelines[bucket][entry.timeline_id] = (entry.sender, seq)
                        self._bucket_last[bucket] = entry.timeline_id
                    self._next_timeline_id += 1
            seq += 1
            entry = txns.get(seq)

    def _park(self, entry: _Entry) -> None:
        if entry.ready:
            entry.ready = False
            self._priority.remove(entry.pkey)
            self._parking.add((entry.sender, entry.seq))
        if entry.state is _READY:
            del (self._timeline if self._single_bucket else
                 self._timelines[self._bucket_of(entry)])[entry.timeline_id]
            entry.state = _NOT_READY
            entry.timeline_id = 0

    def _remove_entry(self, account: _Account, entry: _Entry, reason: RemovalReason) -> None:
        sender, seq = entry.sender, entry.seq
        if self._removed is not None:
            self._removed.append((entry.txn, reason))
        was_tail = False
        if self._tails is not None:
            was_tail = entry.tail
            entry.tail = False  # its heap items are stale from now on
        del account.txns[seq]
        account.gas_total -= entry.gas_cost
        if entry.ready:
            self._priority.remove(entry.pkey)
        else:
            self._parking.remove((sender, seq))
        if entry.state is _READY:
            del (self._timeline if self._single_bucket else
                 self._timelines[self._bucket_of(entry)])[entry.timeline_id]
        self._system_ttl.remove((entry.expiry, entry.order, sender, seq))
        if entry.expiration is not None:
            self._expiration.remove((entry.expiration, entry.order, sender, seq))
        del self._by_hash[entry.txn.hash]
        self._size -= 1
        self._size_bytes -= entry.wire_size + ENTRY_OVERHEAD_BYTES
        if self._ready_age is not None:
            entry.ready = False  # stale in the age heap from now on (the entry is gone)
        if not account.txns:
            del self._accounts[sender]
        elif was_tail:  # the one below is the tail now
            below = account.last = account.txns.peekitem(-1)[1]
            self._push_tail(below)

    # ------------------------------------------------------------------ the policies' heaps
    # An item is valid while its entry is ready (the age heap) or its account's tail (the
    # tails heap): `_remove_entry` clears both flags of what it removes, `_park` `ready`,
    # `_insert` the `tail` of the one it goes above.
    def _push_age(self, entry: _Entry) -> None:
        heap = self._ready_age
        assert heap is not None
        heapq.heappush(heap, (entry.expiry, entry.order, entry))
        if len(heap) > 2 * self._size + LAZY_HEAP_SLACK:  # (the ready ones are fewer)
            heap[:] = [x for x in heap if x[2].ready]
            heapq.heapify(heap)

    def _oldest_ready_expiry(self) -> float | None:
        """The system expiry of the oldest ready entry (eager expiry), or None. Amortised
        O(log n): stale items at the top are dropped."""
        heap = self._ready_age
        assert heap is not None
        while heap:
            if heap[0][2].ready:
                return heap[0][0]
            heapq.heappop(heap)
        return None

    def _push_tail(self, entry: _Entry) -> None:
        """`entry` just became its account's tail."""
        entry.tail = True
        heap = self._tails
        assert heap is not None
        if not self._evictable(entry):
            return
        heapq.heappush(heap, (-entry.pkey[0], -entry.expiry, -entry.order, entry))
        if len(heap) > 2 * len(self._accounts) + LAZY_HEAP_SLACK:
            heap[:] = [x for x in heap if x[3].tail]
            heapq.heapify(heap)

    def _victim(self, sender: bytes) -> _Entry | None:
        """The next victim tail of lowest_price eviction (lowest price, then latest system
        expiry, then latest insertion) of an account other than `sender`'s, or None.
        Amortised O(log n)."""
        heap = self._tails
        assert heap is not None
        own: list[tuple[int, float, int, _Entry]] = []  # set aside while looking past them
        found = None
        while heap:
            entry = heap[0][3]
            if not entry.tail:
                heapq.heappop(heap)
            elif entry.sender == sender:
                own.append(heapq.heappop(heap))
            else:
                found = entry
                break
        for item in own:
            heapq.heappush(heap, item)
        return found

    def _bucket_of(self, entry: _Entry) -> int:
        """The entry's broadcast bucket: the last whose lower bound its gas price reaches.
        O(log buckets)."""
        return bisect_right(self._bounds, -entry.pkey[0]) - 1

    def _evictable(self, entry: _Entry) -> bool:
        """Whether lowest_price eviction may take `entry` when it is its account's tail: any,
        or with protect_local_transactions only a peer's (NON_QUALIFIED; a local one stays
        local through READY and back)."""
        return not self._protect_local or entry.state is _NON_QUALIFIED

    def _check(self) -> None:
        """Assert every internal invariant (for tests)."""
        size = 0
        size_bytes = 0
        ready: set[Pointer] = set()
        parked: set[Pointer] = set()
        in_timeline: dict[int, Pointer] = {}
        for sender, account in self._accounts.items():
            assert account.txns, "empty account kept"
            assert len(account.txns) <= self._capacity_per_user, "account over its cap"
            assert account.gas_total == sum(e.gas_cost for e in account.txns.values())
            for seq, entry in account.txns.items():
                assert entry.sender == sender and entry.seq == seq
                assert self._by_hash.get(entry.txn.hash) is entry, "entry missing by its hash"
                size += 1
                assert entry.wire_size == len(entry.txn.to_bytes())
                size_bytes += entry.wire_size + ENTRY_OVERHEAD_BYTES
                (ready if entry.ready else parked).add((sender, seq))
                if entry.state is _READY:
                    assert entry.ready, "READY state outside the priority index"
                    in_timeline[entry.timeline_id] = (sender, seq)
                else:
                    assert entry.timeline_id == 0
                    if entry.ready:
                        assert entry.state is _NON_QUALIFIED, "ready NOT_READY transaction"
        assert size == self._size == len(self._system_ttl)
        assert len(self._expiration) == sum(e.expiration is not None for a in
                                            self._accounts.values() for e in a.txns.values())
        assert size_bytes == self._size_bytes, "byte size mismatch"
        assert len(self._by_hash) == size, "hash index holds removed transactions"
        assert ready == {(k[4], k[3]) for k in self._priority} and len(ready) == len(self._priority)
        assert parked == set(self._parking)
        if self._tails is not None:
            for a in self._accounts.values():
                assert [e.tail for e in a.txns.values()] == [False] * (len(a.txns) - 1) + [
                    True], "tail flags out of date"
                assert a.last is a.txns.peekitem(-1)[1], "account's last entry out of date"
            tails = {id(a.txns.peekitem(-1)[1]) for a in self._accounts.values()
                     if self._evictable(a.txns.peekitem(-1)[1])}
            assert {id(x[3]) for x in self._tails if x[3].tail} == tails, \
                "tails heap out of date"
        if self._ready_age is not None:
            assert {id(x[2]) for x in self._ready_age if x[2].ready} == {
                id(e) for a in self._accounts.values() for e in a.txns.values() if e.ready}, \
                "ready-age heap out of date"
        merged: dict[int, Pointer] = {}
        for timeline in self._timelines:
            merged.update(timeline)
            for sender, seq in timeline.values():
                bucket = self._bucket_of(self._accounts[sender].txns[seq])
                assert self._timelines[bucket] is timeline, \
                    "transaction in another bucket's timeline"
        for bucket, timeline in enumerate(self._timelines):  # (kept with several buckets)
            assert self._single_bucket or not timeline or \
                timeline.peekitem(-1)[0] <= self._bucket_last[bucket]
        assert merged == in_timeline
        assert sum(map(len, self._timelines)) == len(in_timeline), "an id in two buckets"
        ids = sorted(merged)
        assert not ids or ids[-1] < self._next_timeline_id
        assert len(self._seq_cache) <= self._capacity
