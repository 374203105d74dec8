"""Prometheus collectors of one shared mempool, in a registry of its own (no global state).

Index sizes are read from the core at scrape time; counters and latency histograms are updated
by the shared mempool's threads. Per-stage latencies follow a locally submitted transaction:
submitted -> broadcast (first sent to any peer) -> pulled (first returned by get_block) ->
committed, all measured with the node's injected clock. `ack_rtt` is broadcast -> ack and
`inbound_batch` the time to validate and insert one received batch.

A node adds `register_process_metrics(registry)` to its registry: build information
(`mempool_fast_build_info`: package version, core implementation, transaction implementation,
Python version) and prometheus_client's process, platform and garbage-collector collectors,
registered on that registry only (never the global one).
"""

from __future__ import annotations

import collections
import functools
import platform
from typing import Callable, Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from .types import RemovalReason

__all__ = ["MempoolMetrics", "STAGES", "LATENCY_BUCKETS", "build_info",
           "register_process_metrics"]

#: Latency stages of the `mempool_stage_latency_seconds` histogram.
STAGES = ("submitted_to_broadcast", "submitted_to_pulled", "submitted_to_committed",
          "ack_rtt", "inbound_batch")

#: The gc_removed label of the removal reasons that are garbage collection.
_GC_LABELS = {RemovalReason.SYSTEM_TTL: "system_ttl", RemovalReason.EXPIRED: "expiration"}

#: Upper bounds (seconds) of the stage latency histogram. Fine where the figures are
#: (benchmarks/RESULTS.md): 0.5 ms steps up to 5 ms for one batch's validate-and-insert
#: (`inbound_batch`, ack round trips on loopback), 5-10 ms steps from 10 to 100 ms around the
#: ~50 ms p50 of submission -> every node (one 50 ms tick), then coarser up to a minute for
#: commits and a node under backlog.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0015, 0.002, 0.0025, 0.003, 0.004, 0.005, 0.0075,
    0.01, 0.015, 0.02, 0.025, 0.03, 0.035, 0.04, 0.045, 0.05, 0.055, 0.06, 0.07, 0.08, 0.09,
    0.1, 0.125, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75,
    1.0, 1.5, 2.5, 5.0, 10.0, 30.0, 60.0)


class MempoolMetrics:
    """The collectors of one SharedMempool; `registry` is private to this instance."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.index_size = Gauge("mempool_index_size", "Entries in each core index",
                                ["index"], registry=r)
        self.statuses = Counter("mempool_add_status", "Admission outcomes by code and origin",
                                ["origin", "code"], registry=r)
        self.broadcast_batches = Counter("mempool_broadcast_batches",
                                         "Batches sent to peers (first sends)", registry=r)
        self.broadcast_transactions = Counter("mempool_broadcast_transactions",
                                              "Transactions sent to peers, resends included",
                                              registry=r)
        self.resent_batches = Counter("mempool_resent_batches",
                                      "Batches sent again, by reason", ["reason"], registry=r)
        self.inbound_dropped = Counter("mempool_inbound_dropped",
                                       "Inbound batches dropped unacknowledged, by reason",
                                       ["reason"], registry=r)
        self.failed_sends = Counter("mempool_failed_sends",
                                    "Sends the network refused", registry=r)
        self.acks_sent = Counter("mempool_acks_sent", "Acks sent, by flags",
                                 ["retry", "backoff"], registry=r)
        self.acks_received = Counter("mempool_acks_received", "Acks received, by flags",
                                     ["retry", "backoff"], registry=r)
        self.stale_acks = Counter("mempool_stale_acks",
                                  "Acks for batches no longer in flight", registry=r)
        self.received_batches = Counter("mempool_received_batches",
                                        "Broadcast batches received", registry=r)
        self.malformed_messages = Counter("mempool_malformed_messages",
                                          "Network messages dropped as malformed", registry=r)
        self.malformed_transactions = Counter("mempool_malformed_transactions",
                                              "Transactions dropped from a batch as malformed",
                                              registry=r)
        self.peer_events = Counter("mempool_peer_events", "NewPeer / LostPeer events",
                                   ["kind"], registry=r)
        self.inbound_in_flight = Gauge("mempool_inbound_in_flight",
                                       "Inbound batches being processed", registry=r)
        self.gc_removed = Counter("mempool_gc_removed", "Transactions removed by GC",
                                  ["reason"], registry=r)
        self.removed = Counter("mempool_removed", "Transactions the core removed, by reason",
                               ["reason"], registry=r)
        self.peer_restarts = Counter("mempool_peer_restarts",
                                     "Peers seen with a new incarnation (cursor started over)",
                                     registry=r)
        self.refused_peer_messages = Counter(
            "mempool_refused_peer_messages",
            "Messages dropped from peers whose HELLO named another transaction format, by "
            "message kind", ["kind"], registry=r)
        self.network_errors = Counter("mempool_network_errors",
                                      "Calls to the network's recv() that raised", registry=r)
        self.latency = Histogram("mempool_stage_latency_seconds",
                                 "Latency of each stage of a transaction's life",
                                 ["stage"], buckets=LATENCY_BUCKETS, registry=r)
        self._stage = {stage: self.latency.labels(stage=stage) for stage in STAGES}

    def bind_core(self, read: Callable[[str], int]) -> None:
        """Read index sizes at scrape time through `read(index_name)`."""
        for name in ("transactions", "parking_lot", "priority_index", "timeline"):
            self.index_size.labels(index=name).set_function(functools.partial(read, name))

    def count_removals(self, removals: Iterable[tuple[object, RemovalReason]]) -> None:
        """The removal feed, counted by reason (GC reasons in gc_removed as well)."""
        by_reason = collections.Counter(reason for _, reason in removals)
        for reason, n in by_reason.items():
            self.removed.labels(reason=reason.name.lower()).inc(n)
            gc_label = _GC_LABELS.get(reason)
            if gc_label is not None:
                self.gc_removed.labels(reason=gc_label).inc(n)

    def total(self, name: str, **labels: str) -> float:
        """The sum of a family's samples called `name` whose labels include `labels`."""
        total = 0.0
        for metric in self.registry.collect():
            for sample in metric.samples:
                if sample.name == name and all(sample.labels.get(k) == v
                                               for k, v in labels.items()):
                    total += sample.value
        return total

    def counters(self, **extra: int) -> dict[str, int]:
        """Plain counts read from the registry, for tests and tools (plus `extra`)."""
        total = self.total
        counts = {
            "received_batches": total("mempool_received_batches_total"),
            "malformed_messages": total("mempool_malformed_messages_total"),
            "malformed_transactions": total("mempool_malformed_transactions_total"),
            "sent_batches": total("mempool_broadcast_batches_total"),
            "resent_batches": total("mempool_resent_batches_total"),
            "acks_received": total("mempool_acks_received_total"),
            "retry_acks": total("mempool_acks_received_total", retry="True"),
            "backoff_acks": total("mempool_acks_received_total", backoff="True"),
            "stale_acks": total("mempool_stale_acks_total"),
            "failed_sends": total("mempool_failed_sends_total"),
            "refused_peer_messages": total("mempool_refused_peer_messages_total"),
            "inbound_dropped_peer_share": total("mempool_inbound_dropped_total",
                                                reason="peer_share"),
            **extra,
        }
        return {name: int(value) for name, value in counts.items()}

    def observe(self, stage: str, seconds: float) -> None:
        self._stage[stage].observe(max(seconds, 0.0))

    def value(self, name: str, **labels: str) -> float:
        """A sample's current value (0.0 if absent), e.g. value("mempool_acks_sent_total")."""
        sample = self.registry.get_sample_value(name, labels)
        return 0.0 if sample is None else sample

    def exposition(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)


def build_info() -> dict[str, str]:
    """What this process runs: package version, core and transaction implementations
    ("cython" or "python"), Python implementation and version."""
    from . import IMPLEMENTATION, __version__
    from .transaction import TRANSACTION_IMPLEMENTATION

    return {"version": __version__, "implementation": IMPLEMENTATION,
            "transaction_implementation": TRANSACTION_IMPLEMENTATION,
            "python_implementation": platform.python_implementation().lower(),
            "python_version": platform.python_version()}


def register_process_metrics(registry: CollectorRegistry) -> None:
    """Add to `registry` the node-wide metrics: `mempool_fast_build_info` and the process
    (`process_*`: CPU, memory, file descriptors), platform (`python_info`) and garbage
    collector (`python_gc_*`) collectors. Call once per registry (a second call raises
    ValueError: the names are taken)."""
    Info("mempool_fast_build", "What this node runs: package version, core implementation, "
         "Python version", registry=registry).info(build_info())
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
