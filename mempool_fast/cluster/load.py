"""The load generator of a cluster run: the thread that submits the pre-signed transactions
(of the cluster's transaction format), each chunk split over random nodes, and hands what the
nodes accepted to the observer."""

from __future__ import annotations

import collections
import queue
import random
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from ..client import NodeClient
from ..rpc import Op
from ..types import MempoolAddTransactionStatus
from ..types import MempoolAddTransactionStatusCode as Code
from .nodes import NodeSpec
from .run_stats import RunStats, run_reporting_errors

if TYPE_CHECKING:
    from ..rpc import WireFormat

__all__ = ["LoadGenerator"]

#: Submit requests per second when paced to a rate (the chunk shrinks to rate / this).
PACED_REQUESTS_PER_S = 100


class LoadGenerator:
    """Submits `txns` in order, in chunks of at most `chunk`, each transaction to a random node
    (seeded by `seed`); paced to `rate` transactions/s if given, else as fast as the nodes answer.

    Every answered chunk puts ``(sent_at, accepted transactions)`` on `accepted`; `done` is set
    when it has submitted everything, failed, or seen `stop`. The transactions are of
    `transaction_format` (None: native), which its clients speak.
    """

    def __init__(self, specs: list[NodeSpec], txns: Sequence[Any], stats: RunStats,
                 stop: threading.Event, *, chunk: int, rate: float | None,
                 seed: int | None, transaction_format: WireFormat | None = None) -> None:
        # Any: the format's transaction class (SignedTransaction, EthereumTransaction...)
        self.transaction_format = transaction_format
        self.specs = specs
        self.txns = txns
        self.stats = stats
        self.stop = stop
        self.rate = rate
        self.seed = seed
        self.chunk = max(1, min(chunk, int(rate / PACED_REQUESTS_PER_S))) if rate else chunk
        self.accepted: queue.SimpleQueue[tuple[float, list[Any]]] = queue.SimpleQueue()
        self.done = threading.Event()

    def run(self) -> None:
        """The thread's body."""
        try:
            run_reporting_errors(self.stats, "load generator", self._submit_all)
        finally:
            self.done.set()

    def _submit_all(self) -> None:
        rng = random.Random(self.seed)
        clients = [NodeClient(s.client, transaction_format=self.transaction_format)
                   for s in self.specs]
        start = time.monotonic()
        try:
            for base in range(0, len(self.txns), self.chunk):
                if self.stop.is_set():
                    return
                if self.rate:
                    due = start + base / self.rate
                    if self.stop.wait(max(0.0, due - time.monotonic())):
                        return
                self._submit_chunk(clients, rng, self.txns[base:base + self.chunk])
        finally:
            for c in clients:
                c.close()

    def _submit_chunk(self, clients: list[NodeClient], rng: random.Random,
                      part: Sequence[Any]) -> None:
        """One chunk, split over random nodes, the requests pipelined."""
        groups: dict[int, list[Any]] = collections.defaultdict(list)
        for txn in part:
            groups[rng.randrange(len(clients))].append(txn)
        sent_at = time.monotonic()
        rids = {i: clients[i].send(Op.SUBMIT, g) for i, g in groups.items()}
        self.stats.record_sent(sent_at, len(part))
        for i, rid in rids.items():
            resp = clients[i].wait(rid)
            if not resp.ok:
                raise RuntimeError(f"{self.specs[i].name} refused a submission: {resp.body}")
            # an ok SUBMIT answer's body is one status per transaction (rpc.Response)
            statuses = cast("list[MempoolAddTransactionStatus]", resp.body)
            answered = list(zip(groups[i], statuses))
            accepted = [txn for txn, status in answered if status.code == Code.VALID]
            self.stats.record_answers((status.code.name for _, status in answered),
                                      len(accepted))
            self.accepted.put((sent_at, accepted))
        self.stats.record_chunk_done()
