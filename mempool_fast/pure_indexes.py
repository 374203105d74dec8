"""The pure-Python core's indexes and the operations that keep them consistent (pure.py holds
the admission, consensus and GC rules on top).

  accounts      sender -> _Account (its transactions by sequence number, gas total)
  priority      ready transactions, best first: gas price high->low, system expiry
                early->late, address high->low, sequence number low->high
  timeline      timeline id -> pointer of READY (broadcastable) transactions; one per
                broadcast bucket (`broadcast_buckets`), sharing one id counter
  parking lot   pointers of transactions waiting for a missing predecessor
  system TTL    (system expiry, insertion number, sender, seq)
  expiration    (client expiration time, insertion number, sender, seq)
  seq cache     LRU of each account's current sequence number
  by hash       transaction hash (SHA3-256 of the wire form) -> entry, a dict: O(1)
  ready age     (system expiry, insertion number) of every ready transaction, oldest first:
                only with eager expiry on (eager_expire_threshold_ms), for its oldest
  tails         priority keys of each account's tail (its highest sequence number) that may
                be evicted, only with eviction_policy "lowest_price": the last is the victim
The ordered ones on sortedcontainers: O(log n) per insert or removal in every index.
"""

from __future__ import annotations

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

#: (sender, sequence number)
Pointer = tuple[bytes, int]
#: A priority key: (-gas price, system expiry, inverted sender, seq, sender).
PrioKey = tuple[int, float, bytes, int, bytes]
#: A GC index key: (expiry, insertion number, sender, seq); searched with (time,).
TtlKey = tuple[Any, ...]


class _Entry:
    """One pending transaction and its bookkeeping."""

    __slots__ = ("txn", "sender", "seq", "gas_amount", "gas_cost", "expiry", "pkey",
                 "state", "timeline_id", "ready", "order", "wire_size")

    def __init__(self, txn: SignedTransaction, gas_amount: int, expiry: float,
                 state: TimelineState) -> None:
        self.txn = txn
        self.sender = txn.sender
        self.seq = txn.sequence_number
        self.gas_amount = gas_amount
        self.gas_cost = gas_amount * txn.gas_unit_price
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

    __slots__ = ("txns", "gas_total")

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
        self._next_timeline_id = 1
        self._parking: SortedSet[Pointer] = SortedSet()
        self._system_ttl: SortedList[TtlKey] = SortedList()
        self._expiration: SortedList[TtlKey] = SortedList()
        self._seq_cache: OrderedDict[bytes, int] = OrderedDict()
        #: (expiry, insertion number) of the ready entries, when eager expiry needs the oldest
        self._ready_age: SortedList[tuple[float, int]] | None = \
            SortedList() if ready_age else None
        #: priority keys of the evictable account tails (lowest_price eviction), else None;
        #: with `protect_local`, only tails received from peers (NON_QUALIFIED) are evictable
        self._tails: SortedList[PrioKey] | None = SortedList() if tails else None
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
        tails = self._tails
        if tails is not None:
            txns = account.txns
            last = txns.peekitem(-1)[1] if txns else None
            if last is None or seq > last.seq:  # the new tail
                if last is not None and self._evictable(last):
                    tails.remove(last.pkey)
                if self._evictable(entry):
                    tails.add(entry.pkey)
        account.txns[seq] = entry
        account.gas_total += entry.gas_cost
        self._system_ttl.add((entry.expiry, entry.order, sender, seq))
        self._expiration.add((entry.txn.expiration_time, entry.order, sender, seq))
        self._parking.add((sender, seq))
        self._by_hash[digest] = entry
        self._size += 1
        self._size_bytes += entry.wire_size + ENTRY_OVERHEAD_BYTES

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
                    self._ready_age.add((entry.expiry, entry.order))
                if entry.state is _NOT_READY:
                    entry.state = _READY
                    entry.timeline_id = self._next_timeline_id
                    self._timeline_of(entry)[entry.timeline_id] = (entry.sender, seq)
                    self._next_timeline_id += 1
            seq += 1
            entry = txns.get(seq)

    def _park(self, entry: _Entry) -> None:
        if entry.ready:
            entry.ready = False
            self._priority.remove(entry.pkey)
            if self._ready_age is not None:
                self._ready_age.remove((entry.expiry, entry.order))
            self._parking.add((entry.sender, entry.seq))
        if entry.state is _READY:
            del self._timeline_of(entry)[entry.timeline_id]
            entry.state = _NOT_READY
            entry.timeline_id = 0

    def _remove_entry(self, account: _Account, entry: _Entry, reason: RemovalReason) -> None:
        sender, seq = entry.sender, entry.seq
        if self._removed is not None:
            self._removed.append((entry.txn, reason))
        tails = self._tails
        if tails is not None and account.txns.peekitem(-1)[1] is entry:
            if self._evictable(entry):
                tails.remove(entry.pkey)
            if len(account.txns) > 1:  # the one below becomes the tail
                below = account.txns.peekitem(-2)[1]
                if self._evictable(below):
                    tails.add(below.pkey)
        del account.txns[seq]
        account.gas_total -= entry.gas_cost
        if entry.ready:
            self._priority.remove(entry.pkey)
            if self._ready_age is not None:
                self._ready_age.remove((entry.expiry, entry.order))
        else:
            self._parking.remove((sender, seq))
        if entry.state is _READY:
            del self._timeline_of(entry)[entry.timeline_id]
        self._system_ttl.remove((entry.expiry, entry.order, sender, seq))
        self._expiration.remove((entry.txn.expiration_time, entry.order, sender, seq))
        del self._by_hash[entry.txn.hash]
        self._size -= 1
        self._size_bytes -= entry.wire_size + ENTRY_OVERHEAD_BYTES
        if not account.txns:
            del self._accounts[sender]

    def _timeline_of(self, entry: _Entry) -> SortedDict[int, Pointer]:
        """The timeline of the entry's broadcast bucket: the last whose lower bound its gas
        price reaches. O(1) with one bucket, O(log buckets) otherwise."""
        if self._single_bucket:
            return self._timeline
        return self._timelines[bisect_right(self._bounds, -entry.pkey[0]) - 1]

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
        assert size == self._size == len(self._system_ttl) == len(self._expiration)
        assert size_bytes == self._size_bytes, "byte size mismatch"
        assert len(self._by_hash) == size, "hash index holds removed transactions"
        assert ready == {(k[4], k[3]) for k in self._priority} and len(ready) == len(self._priority)
        assert parked == set(self._parking)
        if self._tails is not None:
            tails = [a.txns.peekitem(-1)[1] for a in self._accounts.values()]
            assert list(self._tails) == sorted(e.pkey for e in tails if self._evictable(e)), \
                "tails index out of date"
        if self._ready_age is not None:
            assert list(self._ready_age) == sorted(
                (e.expiry, e.order) for a in self._accounts.values() for e in a.txns.values()
                if e.ready), "ready-age index out of date"
        merged: dict[int, Pointer] = {}
        for timeline in self._timelines:
            merged.update(timeline)
            for sender, seq in timeline.values():
                assert self._timeline_of(self._accounts[sender].txns[seq]) is timeline, \
                    "transaction in another bucket's timeline"
        assert merged == in_timeline
        assert sum(map(len, self._timelines)) == len(in_timeline), "an id in two buckets"
        ids = sorted(merged)
        assert not ids or ids[-1] < self._next_timeline_id
        assert len(self._seq_cache) <= self._capacity
