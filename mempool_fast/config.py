"""MempoolConfig: every tunable of mempool_fast in one frozen dataclass that checks itself.

Each field declares its kind and range next to its default (`setting`); `__post_init__` checks
every field, so a bad value is refused where it is made, naming the field. The first seven
fields and their defaults are Libra's; the rest are mempool_fast's.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any

from .errors import ConfigError

__all__ = ["MempoolConfig", "FSYNC_POLICIES", "EVICTION_POLICIES", "TRANSACTION_FORMATS", "MAX_BROADCAST_BUCKETS",
           "setting", "check_settings"]

#: Journal fsync policies, see `MempoolConfig.journal_fsync`.
FSYNC_POLICIES = ("always", "batch", "never")
#: What a full pool may evict for a would-be-ready newcomer, see `MempoolConfig.eviction_policy`.
EVICTION_POLICIES = ("parked", "lowest_price")
#: The transaction formats a config can name, see `MempoolConfig.transaction_format`.
TRANSACTION_FORMATS = ("native", "ethereum")


def setting(default: Any, *, lo: float | None = None, hi: float | None = None,
            kind: type | None = None, choices: tuple[Any, ...] | None = None,
            check: Callable[[Any], str | None] | None = None) -> Any:
    """A dataclass field with its checks: `kind` (int, float, str, bool or tuple; default: the
    default's type), an inclusive range `lo`..`hi`, or a set of `choices`; `check(value)`,
    after those, says what a value of the right kind must be, or None when it is good."""
    return field(default=default, metadata={
        "kind": kind or type(default), "lo": lo, "hi": hi, "choices": choices, "check": check})


def _problem(value: Any, kind: type, lo: float | None, hi: float | None,
             choices: tuple[Any, ...] | None) -> str | None:
    if choices is not None:
        return None if value in choices else f"one of {', '.join(map(repr, choices))}"
    if kind is int:
        if not isinstance(value, int) or isinstance(value, bool):
            return "an integer"
    elif kind is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(
                value):
            return "a finite number"
    elif not isinstance(value, kind):
        return f"a {kind.__name__}"
    if lo is not None and value < lo:
        return f"at least {lo}" if hi is None else f"in {lo}..{hi}"
    if hi is not None and value > hi:
        return f"at most {hi}" if lo is None else f"in {lo}..{hi}"
    return None


def check_settings(obj: Any) -> None:
    """Check every `setting` field of a dataclass instance; ConfigError names the first bad one
    (`.field` holds its name)."""
    for f in dataclasses.fields(obj):
        meta = f.metadata
        if "kind" not in meta:
            continue
        value = getattr(obj, f.name)
        need = _problem(value, meta["kind"], meta["lo"], meta["hi"], meta["choices"])
        if need is None and meta.get("check") is not None:
            need = meta["check"](value)
        if need is not None:
            error = ConfigError(f"{type(obj).__name__}.{f.name} must be {need}, got {value!r}")
            error.field = f.name
            raise error


_MAX_MS = 10 ** 9  # about 11.6 days: past it an interval is a typo
_MAX_COUNT = 1 << 62
#: Largest replacement price bump: a replacement paying 101 times the old price.
_MAX_BUMP_PERCENT = 10_000
#: Most broadcast buckets (csrc/core/timeline.hpp TL_MAX_BUCKETS: an entry's bucket is a byte).
MAX_BROADCAST_BUCKETS = 64
_U64_MAX = (1 << 64) - 1


def _bucket_bounds_problem(value: tuple[Any, ...]) -> str | None:
    """What `broadcast_buckets` must be, or None: 1..64 ascending u64 gas-price lower bounds
    starting at 0."""
    if not 1 <= len(value) <= MAX_BROADCAST_BUCKETS or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= _U64_MAX
            for v in value):
        return (f"a tuple of 1 to {MAX_BROADCAST_BUCKETS} gas prices (unsigned 64-bit "
                "integers)")
    if value[0] != 0:
        return "gas-price lower bounds starting at 0 (the first bucket takes every price)"
    if any(a >= b for a, b in zip(value, value[1:])):
        return "strictly ascending gas-price lower bounds"
    return None


@dataclass(frozen=True)
class MempoolConfig:
    """Configuration of the core mempool, the validator and the shared mempool (frozen: use
    `replace()` for a changed copy)."""

    #: Most transactions the core holds at once.
    capacity: int = setting(1_000_000, lo=1, hi=_MAX_COUNT)
    #: Most transactions one account may hold at once.
    capacity_per_user: int = setting(100, lo=1, hi=_MAX_COUNT)
    #: A transaction older than this (seconds since insertion) is removed by `gc_by_system_ttl`.
    system_transaction_timeout_secs: float = setting(86400, lo=0, hi=1e12, kind=float)
    #: How often the GC thread runs `gc_by_system_ttl`.
    system_transaction_gc_interval_ms: int = setting(180_000, lo=0, hi=_MAX_MS)
    #: Most transactions one step of GC or commit removes under the core lock; a larger
    #: sweep (a mass expiry, a huge commit) takes the lock once per step, so a submit or
    #: get_block waits at most one step (about 4 ms at the default with 1M pending on the
    #: Cython core: benchmarks/lock_hold.py).
    core_step_size: int = setting(1_024, lo=1, hi=_MAX_COUNT)
    #: How often the outbound sync thread serves every live peer.
    shared_mempool_tick_interval_ms: int = setting(50, lo=0, hi=_MAX_MS)
    #: Most transactions in one broadcast batch.
    shared_mempool_batch_size: int = setting(100, lo=1, hi=1 << 20)
    #: Most inbound batches validated and inserted at once; past it the network reader waits.
    shared_mempool_max_concurrent_inbound_syncs: int = setting(100, lo=1, hi=1 << 16)
    #: Most inbound batches of one peer processed at once, so a flooding peer cannot hold every
    #: inbound slot; as many more may wait for a slot (served round-robin across peers), past
    #: that its batches are dropped unacknowledged and the sender resends after its ack
    #: timeout. Keep it >= `max_broadcasts_per_peer` so an honest peer is never dropped.
    shared_mempool_max_inbound_syncs_per_peer: int = setting(20, lo=1, hi=1 << 16)

    # -- core policies (Aptos, geth); every default keeps Libra's 2019 rules --
    #: The pool is also full when its byte size reaches this: the wire size of every pending
    #: transaction plus `types.ENTRY_OVERHEAD_BYTES` (200) each (`CoreMempool.size_bytes()`);
    #: the eviction rules are those of a pool at `capacity`. 2 GiB, as Aptos.
    capacity_bytes: int = setting(2 * 1024 ** 3, lo=1, hi=_MAX_COUNT)
    #: Backlog shedding (Aptos): when the oldest ready transaction has waited here longer than
    #: this (the core's clock since its insertion), `gc_by_expiration_time(block_time)` expires
    #: what expires before block_time + `eager_expire_time_ms`. 0: off (Libra). Set both or
    #: neither (Aptos uses 15000 and 6000).
    eager_expire_threshold_ms: int = setting(0, lo=0, hi=_MAX_MS)
    eager_expire_time_ms: int = setting(0, lo=0, hi=_MAX_MS)
    #: What a full pool evicts for a would-be-ready newcomer: "parked" (Libra, Aptos: parked
    #: transactions only, the greatest pointer first) or "lowest_price": then, when nothing
    #: parked is left, also the lowest-priced tail transaction of another account (its highest
    #: sequence number, so no gap opens) if it pays strictly less than the newcomer.
    eviction_policy: str = setting("parked", choices=EVICTION_POLICIES)
    #: With "lowest_price", never evict a client-submitted (local) transaction, as geth does
    #: for locals: only ones received from peers.
    protect_local_transactions: bool = setting(True, kind=bool)
    #: Broadcast buckets (Aptos): ascending gas-price lower bounds, the first 0; a ready local
    #: transaction enters the timeline of the last bucket whose bound its price reaches, and
    #: each outbound batch reads the highest bucket first (every peer keeps one cursor per
    #: bucket), so under a backlog high fees reach peers first. One bucket, the default, is
    #: Libra's single timeline. At most 64.
    broadcast_buckets: tuple[int, ...] = setting((0,), kind=tuple, check=_bucket_bounds_problem)
    #: A transaction replaces the pending one at its (sender, sequence number) only if its
    #: gas price is strictly higher and at least this many percent above: new * 100 >=
    #: old * (100 + bump). 0 is Libra's "strictly higher"; geth's default is 10.
    replacement_price_bump_percent: int = setting(0, lo=0, hi=_MAX_BUMP_PERCENT)

    # -- acknowledged broadcast (Diem/Aptos) --
    #: An unacknowledged batch is resent after this long.
    shared_mempool_ack_timeout_ms: int = setting(2_000, lo=0, hi=_MAX_MS)
    #: Most unacknowledged batches in flight to one peer.
    max_broadcasts_per_peer: int = setting(20, lo=1, hi=1 << 16)
    #: Tick used for a peer that asked for backoff.
    shared_mempool_backoff_interval_ms: int = setting(30_000, lo=0, hi=_MAX_MS)
    #: New batches sent to one peer per outbound round (1 is the seed's pace; the in-flight
    #: limit `max_broadcasts_per_peer` still applies).
    shared_mempool_max_batches_per_round: int = setting(1, lo=1, hi=1 << 16)
    #: How long the network reader waits for an event before re-checking for stop(); bounds
    #: how long stop() takes.
    shared_mempool_poll_interval_ms: int = setting(100, lo=1, hi=60_000)

    # -- transaction format (docs/design.md §3) --
    #: The transactions this pool holds: "native" (this package's SignedTransaction, Ed25519)
    #: or "ethereum" (signed legacy EIP-155 / EIP-1559 transactions; needs the `ethereum`
    #: extra). Peers must agree: a node refuses links from a peer of another format.
    transaction_format: str = setting("native", choices=TRANSACTION_FORMATS)
    #: The chain id an "ethereum" pool accepts transactions for (EIP-155); others are refused
    #: with INVALID_SIGNATURE. Unused by the native format.
    chain_id: int = setting(1, lo=1, hi=(1 << 64) - 1)
    #: Largest accepted transaction of the "ethereum" format, raw bytes (geth's 128 KiB); the
    #: native format is bounded by `max_payload_bytes`.
    max_transaction_bytes: int = setting(128 * 1024, lo=1, hi=(1 << 32) - 1)

    # -- validation --
    #: Largest accepted payload, bytes.
    max_payload_bytes: int = setting(4096, lo=0, hi=(1 << 32) - 1)
    #: Largest accepted `max_gas_amount`.
    max_gas_amount: int = setting(1_000_000, lo=0, hi=(1 << 64) - 1)
    #: Threads that verify signatures of one large batch (0: one per core).
    verify_threads: int = setting(0, lo=0, hi=1024)
    #: Fewest signatures per verify thread: a batch of n is split across
    #: min(verify_threads, n // this) threads. Handing a chunk to a pool thread costs about one
    #: signature check, so 8 already lets a broadcast batch of 100 use two cores.
    verify_min_batch_per_thread: int = setting(8, lo=1, hi=1 << 20)
    #: Verified transactions remembered so none is verified twice (0 disables the cache).
    verified_cache_size: int = setting(200_000, lo=0, hi=_MAX_COUNT)

    # -- network --
    #: Largest network message accepted from a peer, bytes.
    max_message_bytes: int = setting(4 * 1024 * 1024, lo=256, hi=1 << 31)
    #: Messages per second one peer may send before the excess is dropped (0: unlimited).
    peer_rate_limit_per_sec: float = setting(2_000.0, lo=0, hi=1e9, kind=float)
    #: Burst allowance of the per-peer rate limit, messages.
    peer_rate_burst: int = setting(500, lo=1, hi=1 << 30)

    # -- journal (crash recovery) --
    #: When journal appends reach the disk: "always" (fdatasync before a submit returns;
    #: concurrent submits share one), "batch" (at most `journal_fsync_interval_ms` of
    #: acknowledged submits at risk on power loss) or "never" (the OS decides). All three
    #: survive a process crash.
    journal_fsync: str = setting("always", choices=FSYNC_POLICIES)
    #: Longest time between fsyncs when `journal_fsync="batch"`.
    journal_fsync_interval_ms: int = setting(1_000, lo=0, hi=_MAX_MS)
    #: The journal is rewritten when more than this fraction of its records is dead.
    journal_compact_dead_fraction: float = setting(0.5, lo=0.01, hi=1.0, kind=float)
    #: ... and only once it is at least this large, bytes.
    journal_compact_min_bytes: int = setting(1 << 20, lo=0, hi=1 << 50)
    #: How often journaled transactions a restart could not put back into the pool (unknown
    #: account, balance, full pool...) are offered again; they are never forgotten for that.
    journal_held_retry_interval_ms: int = setting(10_000, lo=1, hi=_MAX_MS)

    # -- status API (transaction_status, account_status, watch) --
    #: Transactions that left the pool whose fate `transaction_status` remembers, by hash and
    #: by pointer: at most this many, at least 7/8 of it (the oldest eighth is forgotten at
    #: once; 0 keeps none). About 300 bytes each.
    status_history_size: int = setting(100_000, lo=0, hi=_MAX_COUNT)
    #: Events one `watch()` queues for its reader; past it the oldest is dropped and counted
    #: in `watch.lost` (a slow watcher never slows the mempool).
    watch_queue_size: int = setting(10_000, lo=1, hi=1 << 30)

    def replace(self, **changes: Any) -> "MempoolConfig":
        """A copy with some fields changed (checked like a new one)."""
        return dataclasses.replace(self, **changes)

    def __post_init__(self) -> None:
        if isinstance(self.broadcast_buckets, list):  # as TOML reads an array
            object.__setattr__(self, "broadcast_buckets", tuple(self.broadcast_buckets))
        check_settings(self)
        if bool(self.eager_expire_threshold_ms) != bool(self.eager_expire_time_ms):
            on, off = (("eager_expire_threshold_ms", "eager_expire_time_ms")
                       if self.eager_expire_threshold_ms else
                       ("eager_expire_time_ms", "eager_expire_threshold_ms"))
            error = ConfigError(f"MempoolConfig.{off} must be set (> 0) when {on} is: eager "
                                "expiry needs both the threshold and the time (or neither)")
            error.field = off
            raise error
