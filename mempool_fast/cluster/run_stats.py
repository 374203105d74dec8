"""What one cluster run measured: the counters its threads share (behind one lock), the live
snapshot the progress view shows, and the final summary."""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import IMPLEMENTATION, __version__

if TYPE_CHECKING:
    from . import ClusterOptions

__all__ = ["RunStats", "run_reporting_errors"]

log = logging.getLogger(__name__)

#: The latency percentiles of the summary, by key.
LATENCY_PERCENTILES = {"p50": 0.50, "p99": 0.99}


@dataclass
class RunStats:
    """The counters of one run, written by the load generator and the observer, read by the
    progress view; every access goes through `lock` (use the methods)."""

    submitted: int = 0
    #: Submissions by the status code the node answered (VALID, ...).
    statuses: collections.Counter[str] = field(default_factory=collections.Counter)
    accepted: int = 0
    reached_all: int = 0
    committed: int = 0
    #: Seconds from submission to the first time every node held the transaction.
    latencies: list[float] = field(default_factory=list)
    #: time.monotonic() of the first and last submission, reach and commit.
    first_submit: float | None = None
    last_submit: float | None = None
    last_reached: float | None = None
    last_commit: float | None = None
    #: Latest STATS answer of each node, and the largest mempool size each reported.
    sizes: dict[str, dict[str, Any]] = field(default_factory=dict)
    max_sizes: dict[str, int] = field(default_factory=lambda: collections.defaultdict(int))
    #: Why a thread failed (shown in the summary; any error fails the run).
    errors: list[str] = field(default_factory=list)
    #: Pointers of accepted transactions that never reached every node.
    unreached: set[tuple[bytes, int]] = field(default_factory=set)
    #: The final audit (None: it did not run, the run did not drain): per node, how many
    #: accepted transactions its TXN_STATUS by hash reports COMMITTED; the first that was not.
    audit: dict[str, int] | None = None
    audit_miss: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    # -- written by the load generator --
    def record_sent(self, sent_at: float, count: int) -> None:
        with self.lock:
            self.first_submit = self.first_submit or sent_at
            self.submitted += count

    def record_answers(self, code_names: Iterable[str], accepted: int) -> None:
        """One node's answers to a submission: their status codes, and how many were VALID."""
        with self.lock:
            self.statuses.update(code_names)
            self.accepted += accepted

    def record_chunk_done(self) -> None:
        with self.lock:
            self.last_submit = time.monotonic()

    # -- written by the observer and the proposer --
    def record_reached(self, latencies: list[float]) -> None:
        with self.lock:
            self.reached_all += len(latencies)
            self.latencies.extend(latencies)
            self.last_reached = time.monotonic()

    def record_committed(self, count: int) -> None:
        with self.lock:
            self.committed += count
            self.last_commit = time.monotonic()

    def record_node_stats(self, name: str, stats: dict[str, Any]) -> None:
        with self.lock:
            self.sizes[name] = stats
            self.max_sizes[name] = max(self.max_sizes[name], stats["mempool_size"])

    def record_unreached(self, pointers: set[tuple[bytes, int]]) -> None:
        with self.lock:
            self.unreached = pointers

    def record_audit(self, committed: dict[str, int], first_miss: str | None) -> None:
        with self.lock:
            self.audit = dict(committed)
            self.audit_miss = first_miss

    def record_error(self, error: str) -> None:
        with self.lock:
            self.errors.append(error)

    # -- read --
    def snapshot(self) -> dict[str, Any]:
        """The counts the live progress view shows."""
        with self.lock:
            return {"submitted": self.submitted, "accepted": self.accepted,
                    "reached_all": self.reached_all, "committed": self.committed,
                    "sizes": {k: v["mempool_size"] for k, v in self.sizes.items()}}

    def summary(self, opts: ClusterOptions, timings: dict[str, float], elapsed_s: float
                ) -> dict[str, Any]:
        """The result of the run (the `--json` object): counts, throughputs from the first
        submission, latency percentiles, each node's final sizes, the final audit
        (``committed_by_hash``: per node, the accepted transactions its TXN_STATUS by hash
        reports COMMITTED; None when the run did not drain), and whether it was ok: no error,
        every accepted transaction reached every node, and the audit, when it ran, found every
        one committed on every node."""
        with self.lock:
            lat = sorted(self.latencies)
            start = self.first_submit or 0.0

            def span(end: float | None) -> float:
                return (end - start) if end and self.first_submit else 0.0

            def rate(count: int, end: float | None) -> float:
                s = span(end)
                return count / s if s > 0 else 0.0

            def pct(p: float) -> float | None:
                return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else None

            latency = {key: pct(p) for key, p in LATENCY_PERCENTILES.items()}
            p99 = latency["p99"]
            audited = self.audit is None or all(n == self.accepted for n in self.audit.values())
            return {
                "nodes": opts.nodes, "accounts": opts.accounts, "txns": opts.txns,
                "transaction_format": opts.format,
                "chain_id": opts.chain_id if opts.format == "ethereum" else None,
                "rate": opts.rate, "tick_ms": opts.tick_ms,
                "implementation": IMPLEMENTATION, "version": __version__,
                "submitted": self.submitted,
                "accepted": self.accepted,
                "statuses": dict(sorted(self.statuses.items())),
                "reached_all": self.reached_all,
                "not_reached": len(self.unreached),
                "committed": self.committed,
                "submit_tps": rate(self.submitted, self.last_submit),
                "reached_all_tps": rate(self.reached_all, self.last_reached),
                "commit_tps": rate(self.committed, self.last_commit),
                "latency_ms": {**latency, "max": lat[-1] * 1000 if lat else None,
                               "samples": len(lat)},
                "p99_ticks": (p99 / opts.tick_ms) if p99 is not None else None,
                "nodes_final": {name: {k: s.get(k) for k in ("mempool_size", "parking_lot_size")}
                                | {"max_mempool_size": self.max_sizes[name],
                                   "auth_rejected": s["transport"].get("auth_rejected", 0)}
                                for name, s in sorted(self.sizes.items())},
                "committed_by_hash": None if self.audit is None else dict(self.audit),
                "audit_miss": self.audit_miss,
                "elapsed_s": elapsed_s,
                "timings_s": timings,
                "errors": list(self.errors),
                "ok": (not self.errors and not self.unreached
                       and self.reached_all == self.accepted and audited),
            }


def run_reporting_errors(stats: RunStats, who: str, body: Callable[[], None]) -> None:
    """Run one thread's `body`; an exception it raises is logged and kept in `stats.errors`, so
    the run reports it (and fails) instead of the thread dying unnoticed."""
    try:
        body()
    except Exception as exc:  # any failure: reported in the summary
        log.exception("%s failed", who)
        stats.record_error(f"{who}: {exc!r}")
