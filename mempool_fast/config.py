"""MempoolConfig: every tunable of mempool_fast in one dataclass, with documented defaults."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass
class MempoolConfig:
    """Configuration of the core mempool, the validator and the shared mempool.

    The first seven fields and their defaults are Libra's; the rest are mempool_fast's.
    """

    #: Most transactions the core holds at once.
    capacity: int = 1_000_000
    #: Most transactions one account may hold at once.
    capacity_per_user: int = 100
    #: A transaction older than this (seconds since insertion) is removed by `gc_by_system_ttl`.
    system_transaction_timeout_secs: float = 86400
    #: How often the GC thread runs `gc_by_system_ttl`.
    system_transaction_gc_interval_ms: int = 180_000
    #: How often the outbound sync thread serves every live peer.
    shared_mempool_tick_interval_ms: int = 50
    #: Most transactions in one broadcast batch.
    shared_mempool_batch_size: int = 100
    #: Most inbound batches validated and inserted at once; past it the network reader waits.
    shared_mempool_max_concurrent_inbound_syncs: int = 100
    #: Most inbound batches of one peer processed at once, so a flooding peer cannot hold every
    #: inbound slot; as many more may wait for a slot (served round-robin across peers), past
    #: that its batches are dropped unacknowledged and the sender resends after its ack
    #: timeout. Keep it >= `max_broadcasts_per_peer` so an honest peer is never dropped.
    shared_mempool_max_inbound_syncs_per_peer: int = 20

    # -- acknowledged broadcast (Diem/Aptos) --
    #: An unacknowledged batch is resent after this long.
    shared_mempool_ack_timeout_ms: int = 2_000
    #: Most unacknowledged batches in flight to one peer.
    max_broadcasts_per_peer: int = 20
    #: Tick used for a peer that asked for backoff.
    shared_mempool_backoff_interval_ms: int = 30_000
    #: New batches sent to one peer per outbound round (1 is the seed's pace; the in-flight
    #: limit `max_broadcasts_per_peer` still applies).
    shared_mempool_max_batches_per_round: int = 1
    #: How long the network reader waits for an event before re-checking for stop(); bounds
    #: how long stop() takes.
    shared_mempool_poll_interval_ms: int = 100

    # -- validation --
    #: Largest accepted payload, bytes.
    max_payload_bytes: int = 4096
    #: Largest accepted `max_gas_amount`.
    max_gas_amount: int = 1_000_000
    #: Threads that verify signatures of one large batch (0: one per core).
    verify_threads: int = 0
    #: Smallest batch split across verify threads.
    verify_min_batch_per_thread: int = 64
    #: Verified transactions remembered so none is verified twice (0 disables the cache).
    verified_cache_size: int = 200_000

    # -- network --
    #: Largest network message accepted from a peer, bytes.
    max_message_bytes: int = 4 * 1024 * 1024
    #: Messages per second one peer may send before the excess is dropped (0: unlimited).
    peer_rate_limit_per_sec: float = 2_000.0
    #: Burst allowance of the per-peer rate limit, messages.
    peer_rate_burst: int = 500

    # -- journal (crash recovery) --
    #: When journal appends reach the disk: "always" (fdatasync before a submit returns),
    #: "batch" (at most `journal_fsync_interval_ms` of acknowledged submits at risk on power
    #: loss) or "never" (the OS decides; still survives a process crash).
    journal_fsync: str = "always"
    #: Longest time between fsyncs when `journal_fsync="interval"`.
    journal_fsync_interval_ms: int = 1_000
    #: The journal is rewritten when more than this fraction of its records is dead.
    journal_compact_dead_fraction: float = 0.5
    #: ... and only once it is at least this large, bytes.
    journal_compact_min_bytes: int = 1 << 20

    def replace(self, **changes) -> "MempoolConfig":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def __post_init__(self) -> None:
        for name in ("capacity", "capacity_per_user", "shared_mempool_batch_size",
                     "shared_mempool_max_concurrent_inbound_syncs", "max_broadcasts_per_peer",
                     "shared_mempool_max_inbound_syncs_per_peer"):
            if getattr(self, name) < 1:
                raise ValueError(f"MempoolConfig.{name} must be at least 1")
        if self.journal_fsync not in ("always", "batch", "never"):
            raise ValueError('MempoolConfig.journal_fsync must be "always", "batch" or "never"')
        if self.journal_fsync_interval_ms < 0 or self.journal_compact_min_bytes < 0:
            raise ValueError("MempoolConfig.journal_* sizes and intervals must not be negative")
        if not 0.0 < self.journal_compact_dead_fraction <= 1.0:
            raise ValueError("MempoolConfig.journal_compact_dead_fraction must be in (0, 1]")
        if self.system_transaction_timeout_secs < 0:
            raise ValueError("MempoolConfig.system_transaction_timeout_secs must not be negative")
