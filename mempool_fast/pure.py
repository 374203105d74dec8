"""The pure-Python CoreMempool: the reference implementation and the fallback (docs/design.md §4).

The rules live here (admission in its order, the consensus walk, commit and reject, GC, the
timeline reads); the indexes and the operations that keep them consistent are
`pure_indexes.PoolIndexes`. Costs: with n pending transactions, an add, a commit or a removal
is O(log n) per index entry it touches; get_block is O(w log n) for the w entries it walks.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Collection, Iterable
from typing import Any

from sortedcontainers import SortedList

from .config import MempoolConfig
from .formats.core_checks import (
    check_core_cost, check_core_expiration, check_core_sender, check_core_u64, check_core_wire,
    core_format, replacement_refused,
)
from .pure_indexes import PoolIndexes, TtlKey, _Account, _Entry
from .transaction import SignedTransaction, check_transaction_hash
from .types import (
    STATUS_VALID, U64_MAX, MempoolAddTransactionStatus, RemovalReason, TimelineState,
    bucket_cursors_error, bucket_ranges_error, check_max_bytes, insufficient_balance, invalid_seq_number, invalid_update, mempool_is_full,
    mempool_is_full_bytes, replacement_underpriced, too_many_transactions,
)

__all__ = ["CoreMempool"]

_NOT_READY = TimelineState.NOT_READY
_NON_QUALIFIED = TimelineState.NON_QUALIFIED
_ADD_STATES = (_NOT_READY, _NON_QUALIFIED)
_COMMITTED = RemovalReason.COMMITTED
_REJECTED = RemovalReason.REJECTED
_SYSTEM_TTL = RemovalReason.SYSTEM_TTL
_EXPIRED = RemovalReason.EXPIRED
_EVICTED = RemovalReason.EVICTED
_REPLACED = RemovalReason.REPLACED
_STALE = RemovalReason.STALE


class CoreMempool(PoolIndexes):
    """Pending transactions indexed for admission, broadcast (timeline) and consensus (priority).

    `transaction_format`: None (or ``formats.NATIVE``, or a ``NativeFormat``) for the native
    ``SignedTransaction``s, today's rules and paths; any other format (``EthereumFormat``, ...)
    makes the core index that format's transactions (docs/design.md §4 "Transaction formats"):
    senders of exactly ``sender_length`` bytes (1..32; ``ValueError`` otherwise, for every
    method taking a sender), the balance check charging ``format.max_cost(txn)`` (0..2**128-1),
    an ``expiration_time`` of None in no expiration index, and a replacement allowed when
    ``format.can_replace(old, new)`` and it pays enough.
    """

    #: the foreign format, or None: native (a class attribute here, see `_ForeignCoreMempool`)
    _foreign: Any = None

    def __new__(cls, config: MempoolConfig | None = None,
                clock: Callable[[], float] = time.time, *, removal_feed: bool = False,
                transaction_format: Any = None) -> CoreMempool:
        # a foreign format's core is a _ForeignCoreMempool: its sender checks cost the native
        # class nothing
        if cls is CoreMempool and core_format(transaction_format)[1] is not None:
            cls = _ForeignCoreMempool
        return super().__new__(cls)

    def __init__(self, config: MempoolConfig | None = None,
                 clock: Callable[[], float] = time.time, *, removal_feed: bool = False,
                 transaction_format: Any = None) -> None:
        #: what `transaction_format` reports (the foreign format, if any, is `_foreign`: None on
        #: this class, the same object on _ForeignCoreMempool). No more instance attributes:
        #: CPython 3.11 keeps an instance's attribute reads on its fastest path only while it
        #: has at most 29 (`SHARED_KEYS_FAST_LIMIT` in tests/test_core_formats.py); one more
        #: slows every read of the hot paths by ~20 ns.
        self._format = core_format(transaction_format)[0]
        self.config = config if config is not None else MempoolConfig()
        config = self.config
        super().__init__(config.capacity, config.capacity_per_user, removal_feed,
                         ready_age=config.eager_expire_threshold_ms > 0,
                         tails=config.eviction_policy == "lowest_price",
                         protect_local=config.protect_local_transactions,
                         buckets=config.broadcast_buckets)
        self._capacity_bytes = config.capacity_bytes
        #: eager expiry's (threshold, time) in seconds: one attribute for the two (see
        #: `_format`)
        self._eager_s = (config.eager_expire_threshold_ms / 1000,
                         config.eager_expire_time_ms / 1000)
        self._clock = clock
        self._ttl = self.config.system_transaction_timeout_secs
        self._bump_percent = self.config.replacement_price_bump_percent

    @property
    def transaction_format(self) -> Any:
        """The format this core indexes: ``formats.NATIVE`` (built with None), the given
        ``NativeFormat``, or the given foreign format. Read-only."""
        return self._format

    # ------------------------------------------------------------------ admission
    def add_txn(self, txn: SignedTransaction, gas_amount: int, db_sequence_number: int,
                balance: int, timeline_state: TimelineState) -> MempoolAddTransactionStatus:
        """Admit one transaction; the rules and their order are docs/design.md §4."""
        if timeline_state not in _ADD_STATES:
            raise ValueError("timeline_state must be NOT_READY or NON_QUALIFIED")
        timeline_state = TimelineState(timeline_state)
        fmt = self._foreign
        if fmt is None:
            sender = txn.sender
            seq = txn.sequence_number
            cost = gas_amount * txn.gas_unit_price
        else:  # checked before anything changes
            sender = check_core_sender(txn.sender, fmt)
            seq = check_core_u64(txn.sequence_number, "sequence_number")
            check_core_u64(txn.gas_unit_price, "gas_unit_price")
            check_core_expiration(txn.expiration_time)
            check_transaction_hash(txn.hash)
            cost = check_core_cost(fmt.max_cost(txn), fmt)
            check_core_wire(txn)
        account = self._accounts.get(sender)

        # 1. balance covers this and every pending transaction of the account
        required = cost
        if account is not None:
            required += account.gas_total
        if required > balance:
            return insufficient_balance(balance)

        # 2. current sequence number = max(cache, db), cached even if we reject below
        cached = self._seq_cache.get(sender)
        current = db_sequence_number if cached is None or cached < db_sequence_number else cached
        self._cache_put(sender, current)
        if account is not None and current != cached:
            # a higher current makes parked transactions ready now, whatever happens next
            self._promote(account, current)
        if seq < current:
            return invalid_seq_number(seq, current)

        # 3. same pointer present: identical is a no-op, a better price replaces (strictly
        # higher, and by replacement_price_bump_percent)
        if account is not None:
            old = account.txns.get(seq)
            if old is not None:
                old_txn = old.txn
                if old_txn == txn:
                    return STATUS_VALID
                if fmt is None:
                    if (txn.payload != old_txn.payload
                            or txn.max_gas_amount != old_txn.max_gas_amount
                            or txn.expiration_time != old_txn.expiration_time):
                        return invalid_update()
                elif not fmt.can_replace(old_txn, txn):
                    return replacement_refused(fmt)
                price, old_price = txn.gas_unit_price, old_txn.gas_unit_price
                bump = self._bump_percent
                if price <= old_price or (bump and price * 100 < old_price * (100 + bump)):
                    return replacement_underpriced(old_price, bump)
                self._remove_entry(account, old, _REPLACED)
                account = self._accounts.get(sender)

        # 4. full (capacity or capacity_bytes): evict parked transactions (the greatest parked
        # pointer first), then with lowest_price the cheapest account tails, but only to
        # admit a would-be-ready one
        if self._size >= self._capacity or self._size_bytes >= self._capacity_bytes:
            tails = self._tails
            if (not self._parking and (tails is None or self._victim(b"") is None)) or \
                    not self._would_be_ready(account, seq, current):
                return self._full_status()
            parking = self._parking
            while parking and self._is_full():
                victim_sender, victim_seq = parking[-1]
                victim_account = self._accounts[victim_sender]
                self._remove_entry(victim_account, victim_account.txns[victim_seq], _EVICTED)
            if tails is not None:
                self._evict_tails(sender, txn.gas_unit_price)
            account = self._accounts.get(sender)
            if self._is_full():  # nothing more may be evicted
                return self._full_status()

        # 5. drop what is below the current sequence number (already committed); this may
        # empty and unregister the account, so look it up again
        if account is not None:
            self._clean_committed(account, current, _STALE)
            account = self._accounts.get(sender)
        if account is None:
            account = self._accounts[sender] = _Account()
        # 6. per-account limit
        if len(account.txns) >= self._capacity_per_user:
            if not account.txns:
                del self._accounts[sender]
            return too_many_transactions(self._capacity_per_user)

        # 7. insert, then promote what became ready
        self._insert(account, _Entry(txn, cost, self._clock() + self._ttl, timeline_state))
        self._promote(account, current)
        return STATUS_VALID

    def add_txns(self, batch: Iterable[tuple[SignedTransaction, int, int, int]],
                 timeline_state: TimelineState) -> list[MempoolAddTransactionStatus]:
        """`add_txn` over `(txn, gas_amount, db_sequence_number, balance)` tuples, in order."""
        add = self.add_txn
        return [add(txn, gas, db_seq, balance, timeline_state)
                for txn, gas, db_seq, balance in batch]


    # ------------------------------------------------------------------ consensus
    def get_block(self, batch_size: int, seen: Collection[tuple[bytes, int]] = frozenset(),
                  max_bytes: int | None = None) -> list[SignedTransaction]:
        """Ready transactions by priority, each after its predecessor, skipping `seen`; at
        most `max(batch_size, 1)`, and stopping before the summed wire size would exceed
        `max_bytes` (the first one is taken whatever its size). O(w log n) for w walked."""
        left = check_max_bytes(max_bytes)  # of the byte budget, or None: unlimited
        limit = max(batch_size, 1)
        result: list[SignedTransaction] = []
        taken: set[tuple[bytes, int]] = set()
        skipped: set[tuple[bytes, int]] = set()
        cache = self._seq_cache
        accounts = self._accounts
        for pkey in self._priority:
            sender = pkey[4]
            seq = pkey[3]
            ptr = (sender, seq)
            if ptr in seen:
                continue
            prev = (sender, seq - 1)
            current = cache.get(sender)
            if current is None:
                # an account the LRU cache dropped starts at its first pending ready transaction
                first = seq - 1 not in accounts[sender].txns
            else:
                first = current == seq
            if first or (seq > 0 and (prev in seen or prev in taken)):
                txns = accounts[sender].txns
                entry = txns[seq]
                if left is not None:
                    left -= entry.wire_size
                    if left < 0 and result:
                        break
                taken.add(ptr)
                result.append(entry.txn)
                if len(result) >= limit:
                    break
                nxt = (sender, seq + 1)
                while nxt in skipped:
                    entry = txns[nxt[1]]
                    if left is not None:
                        left -= entry.wire_size
                        if left < 0:
                            return result
                    taken.add(nxt)
                    result.append(entry.txn)
                    if len(result) >= limit:
                        return result
                    nxt = (sender, nxt[1] + 1)
            else:
                skipped.add(ptr)
        return result

    def remove_transaction(self, sender: bytes, sequence_number: int, is_rejected: bool) -> None:
        """Commit (`is_rejected=False`) or reject a transaction of `sender`."""
        account = self._accounts.get(sender)
        if is_rejected:
            cached = self._seq_cache.get(sender)
            if sequence_number < (cached if cached is not None else 0):
                return
            if account is not None:
                for entry in list(account.txns.values()):
                    self._remove_entry(account, entry, _REJECTED)
            self._seq_cache.pop(sender, None)
            return
        cached = self._seq_cache.get(sender)
        current = min(sequence_number + 1, U64_MAX)
        if cached is not None and cached > current:
            current = cached
        self._cache_put(sender, current)
        if account is not None:
            self._clean_committed(account, current, _COMMITTED)
            self._promote(account, current)

    # ------------------------------------------------------------------ broadcast
    def read_timeline(self, timeline_id: int, count: int) -> tuple[list[SignedTransaction], int]:
        """Up to `count` transactions with timeline id > `timeline_id`, and the last id read.
        With several broadcast buckets, of every bucket in id order (a merge)."""
        batch: list[SignedTransaction] = []
        last = timeline_id
        if count <= 0:
            return batch, last
        accounts = self._accounts
        if self._single_bucket:
            timeline = self._timeline
            for tid in timeline.irange(minimum=timeline_id, inclusive=(False, True)):
                sender, seq = timeline[tid]
                batch.append(accounts[sender].txns[seq].txn)
                last = tid
                if len(batch) >= count:
                    break
            return batch, last
        ids = [timeline.irange(minimum=timeline_id, inclusive=(False, True))
               for timeline in self._timelines]
        for tid in heapq.merge(*ids):
            sender, seq = self._pointer_of(tid)
            batch.append(accounts[sender].txns[seq].txn)
            last = tid
            if len(batch) >= count:
                break
        return batch, last

    def _pointer_of(self, tid: int) -> tuple[bytes, int]:
        """The pointer of a timeline id held in some bucket's timeline. O(buckets)."""
        for timeline in self._timelines:
            pointer = timeline.get(tid)
            if pointer is not None:
                return pointer
        raise KeyError(tid)

    def read_timeline_buckets(self, cursors: tuple[int, ...],
                              count: int) -> tuple[list[SignedTransaction], tuple[int, ...]]:
        """Up to `count` transactions from the broadcast buckets' timelines, the highest bucket
        first, each after its cursor (`cursors`: one timeline id per bucket, lowest bucket
        first); and the cursors advanced to the last id read in each (a bucket that gave
        nothing keeps its cursor). O(buckets + log n + read)."""
        timelines = self._timelines
        if not isinstance(cursors, tuple) or len(cursors) != len(timelines):
            raise ValueError(bucket_cursors_error(len(timelines), cursors))
        batch: list[SignedTransaction] = []
        if count <= 0:
            return batch, cursors
        if self._single_bucket:
            batch, last = self.read_timeline(cursors[0], count)
            return batch, (last,)
        accounts = self._accounts
        advanced = list(cursors)
        bucket_last = self._bucket_last
        for b in range(len(timelines) - 1, -1, -1):
            if len(batch) >= count:
                break
            if not bucket_last[b] > cursors[b]:  # nothing after its cursor: O(1)
                continue
            timeline = timelines[b]
            for tid in timeline.irange(minimum=cursors[b], inclusive=(False, True)):
                sender, seq = timeline[tid]
                batch.append(accounts[sender].txns[seq].txn)
                advanced[b] = tid
                if len(batch) >= count:
                    break
        return batch, tuple(advanced)

    def timeline_range(self, start_id: int, end_id: int) -> list[SignedTransaction]:
        """Transactions still in the timeline with `start_id < id <= end_id`, in id order (of
        every bucket)."""
        accounts = self._accounts
        if self._single_bucket:
            timeline = self._timeline
            return [accounts[timeline[tid][0]].txns[timeline[tid][1]].txn
                    for tid in timeline.irange(minimum=start_id, maximum=end_id,
                                               inclusive=(False, True))]
        found = sorted((tid, timeline[tid]) for timeline in self._timelines
                       for tid in timeline.irange(minimum=start_id, maximum=end_id,
                                                  inclusive=(False, True)))
        return [accounts[sender].txns[seq].txn for _, (sender, seq) in found]

    def timeline_range_buckets(self, ranges: tuple[tuple[int, int], ...]
                               ) -> list[SignedTransaction]:
        """The transactions still in each bucket's timeline range: `ranges` holds one (start,
        end) pair per bucket, lowest bucket first (a batch `read_timeline_buckets` read: the
        cursors before and after); the highest bucket first, each `start < id <= end` in id
        order."""
        timelines = self._timelines
        if not isinstance(ranges, tuple) or len(ranges) != len(timelines) or not all(
                isinstance(r, tuple) and len(r) == 2 for r in ranges):
            raise ValueError(bucket_ranges_error(len(timelines), ranges))
        accounts = self._accounts
        batch: list[SignedTransaction] = []
        for b in range(len(timelines) - 1, -1, -1):
            timeline = timelines[b]
            start_id, end_id = ranges[b]
            for tid in timeline.irange(minimum=start_id, maximum=end_id,
                                       inclusive=(False, True)):
                sender, seq = timeline[tid]
                batch.append(accounts[sender].txns[seq].txn)
        return batch

    # ------------------------------------------------------------------ garbage collection
    def gc_by_system_ttl(self, limit: int | None = None) -> int:
        """Remove transactions whose system expiry is before `clock()`; return how many.

        At most `limit` (oldest first, then by insertion) when given, so a caller can release
        its lock between steps. O(r log n) for r removed."""
        return self._gc(self._system_ttl, self._clock(), _SYSTEM_TTL, limit)

    def gc_by_expiration_time(self, block_time: float, limit: int | None = None) -> int:
        """Remove transactions whose client expiration time is before `block_time` (at most
        `limit`, earliest first, when given); with eager expiry on and a backlog (the oldest
        ready transaction waited longer than `eager_expire_threshold_ms`), before
        `block_time + eager_expire_time_ms`. O(r log n) for r removed."""
        if self._eager_backlog():
            block_time = block_time + self._eager_s[1]
        return self._gc(self._expiration, block_time, _EXPIRED, limit)

    def _eager_backlog(self) -> bool:
        """Whether eager expiry is on and the oldest ready transaction waited longer than its
        threshold (by the clock, since its insertion: system expiry - system TTL). O(1)."""
        if self._ready_age is None:
            return False
        oldest = self._oldest_ready_expiry()
        if oldest is None:
            return False
        waited = self._clock() - (oldest - self._ttl)
        return waited > self._eager_s[0]

    def _gc(self, index: SortedList[TtlKey], now: float,
            reason: RemovalReason,
            limit: int | None) -> int:
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)
                                  or limit < 1):
            raise ValueError(f"limit must be a positive int or None, got {limit!r}")
        end = index.bisect_left((now,))
        if limit is not None:
            end = min(end, limit)
        expired = list(index.islice(0, end))
        for _, _, sender, seq in expired:
            account = self._accounts[sender]
            entry = account.txns[seq]
            current = self._seq_cache.get(sender)
            if current is None or seq >= current:
                # a gap opens in the ready run (one below current is stale: the run stays)
                for later in account.txns.values()[account.txns.bisect_right(seq):]:
                    self._park(later)
            self._remove_entry(account, entry, reason)
        return len(expired)

    def _evict_tails(self, sender: bytes, price: int) -> None:
        """lowest_price eviction: while full, evict the next victim tail (lowest price, then
        latest system expiry, then latest insertion) of an account other than `sender`'s (its
        own would leave the newcomer a gap), if it pays strictly less than `price`. Amortised
        O(log n) per eviction."""
        while self._is_full():
            victim = self._victim(sender)
            if victim is None or -victim.pkey[0] >= price:
                return
            self._remove_entry(self._accounts[victim.sender], victim, _EVICTED)

    def _is_full(self) -> bool:
        """`len >= capacity` or the byte size reached `capacity_bytes`."""
        return self._size >= self._capacity or self._size_bytes >= self._capacity_bytes

    def _full_status(self) -> MempoolAddTransactionStatus:
        if self._size >= self._capacity:
            return mempool_is_full(self._capacity)
        return mempool_is_full_bytes(self._capacity_bytes)

    # ------------------------------------------------------------------ queries
    def health_check(self) -> bool:
        """False when the pool is full and holds nothing it could evict."""
        return (not self._is_full() or bool(self._parking)
                or (self._tails is not None and self._victim(b"") is not None))

    def size_bytes(self) -> int:
        """The pool's byte size: the wire size of every pending transaction plus
        `ENTRY_OVERHEAD_BYTES` each (what `capacity_bytes` bounds). O(1)."""
        return self._size_bytes

    def __len__(self) -> int:
        return self._size

    def __contains__(self, pointer: tuple[bytes, int]) -> bool:
        sender, seq = pointer
        account = self._accounts.get(sender)
        return account is not None and seq in account.txns

    def get(self, sender: bytes, sequence_number: int) -> SignedTransaction | None:
        """The transaction at a pointer, or None."""
        account = self._accounts.get(sender)
        if account is None:
            return None
        entry = account.txns.get(sequence_number)
        return entry.txn if entry is not None else None

    def get_by_hash(self, hash: bytes) -> SignedTransaction | None:
        """The pending transaction whose `hash` (SHA3-256 of its wire form) is `hash`, or None.
        TypeError unless bytes, ValueError unless 32 of them. O(1)."""
        entry = self._by_hash.get(check_transaction_hash(hash))
        return entry.txn if entry is not None else None

    def timeline_state(self, sender: bytes,
                       sequence_number: int) -> tuple[TimelineState, int] | None:
        """(state, timeline id) of a pending transaction, or None."""
        account = self._accounts.get(sender)
        entry = account.txns.get(sequence_number) if account is not None else None
        return (entry.state, entry.timeline_id) if entry is not None else None

    def sequence_number(self, sender: bytes) -> int | None:
        """The cached current sequence number of an account, or None (does not touch the LRU)."""
        return self._seq_cache.get(sender)

    def parking_lot_size(self) -> int:
        return len(self._parking)

    def priority_index_size(self) -> int:
        return len(self._priority)

    def timeline_size(self) -> int:
        return sum(map(len, self._timelines))

    def last_timeline_id(self) -> int:
        """The highest timeline id ever assigned (0 before the first)."""
        return self._next_timeline_id - 1

    def account_count(self) -> int:
        return len(self._accounts)


class _ForeignCoreMempool(CoreMempool):
    """`CoreMempool` of a foreign transaction format (what `CoreMempool(...,
    transaction_format=fmt)` makes): the methods taking a sender first check it is exactly the
    format's ``sender_length`` bytes (``ValueError``, nothing changed). A subclass, so the native
    class's queries pay nothing for it (add_txn checks its transaction itself). O(1) each."""

    @property
    def _foreign(self) -> Any:  # type: ignore[override]
        """The foreign format: what `transaction_format` reports."""
        return self._format

    def remove_transaction(self, sender: bytes, sequence_number: int, is_rejected: bool) -> None:
        check_core_sender(sender, self._foreign)
        super().remove_transaction(sender, sequence_number, is_rejected)

    def __contains__(self, pointer: tuple[bytes, int]) -> bool:
        check_core_sender(pointer[0], self._foreign)
        return super().__contains__(pointer)

    def get(self, sender: bytes, sequence_number: int) -> SignedTransaction | None:
        check_core_sender(sender, self._foreign)
        return super().get(sender, sequence_number)

    def timeline_state(self, sender: bytes,
                       sequence_number: int) -> tuple[TimelineState, int] | None:
        check_core_sender(sender, self._foreign)
        return super().timeline_state(sender, sequence_number)

    def sequence_number(self, sender: bytes) -> int | None:
        check_core_sender(sender, self._foreign)
        return super().sequence_number(sender)
