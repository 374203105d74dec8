"""Nodes of a 4-node cluster restarted under load (SIGKILL and SIGTERM, in turn): afterwards
every node holds every transaction any node acknowledged (nothing is committed here).

Slow: `CLUSTER_RESTARTS=n python -m pytest -m slow tests/test_cluster_restarts.py -s`.
"""

from __future__ import annotations

import os
import random
import threading

import pytest

from conftest import wait_until
from mempool_fast.client import NodeClient
from mempool_fast.cluster import NodeProcess, wait_connected, write_cluster
from mempool_fast.storage import SqliteAccountStore
from test_journal_node import PENDING, Load, Workload, node_answers
from mempool_fast import MempoolAddTransactionStatusCode as Code
from mempool_fast.errors import RpcError


class RetryingLoad(Load):
    """A client that, like a real one, sends a batch again after its node died mid-request
    (otherwise later batches would leave a gap that parks them for good)."""

    def _run(self) -> None:
        client = NodeClient(self.endpoint, timeout=2.0)
        try:
            while not self._stop.is_set():
                batch = getattr(self.workload, "unanswered", None) or self.workload.next_batch()
                self.workload.unanswered = batch
                self.sent += 1
                try:
                    statuses = client.submit(batch)
                except RpcError as exc:
                    self.error = exc
                    return
                self.workload.unanswered = None
                self.acked += [t for t, s in zip(batch, statuses) if s.code == Code.VALID]
        finally:
            client.close()

NODES = 4
MEMPOOL = {"shared_mempool_tick_interval_ms": 20, "capacity_per_user": 1_000_000,
           "shared_mempool_ack_timeout_ms": 500}
TRANSPORT = {"heartbeat_ivl_ms": 200, "heartbeat_timeout_ms": 1_000, "reconnect_ivl_ms": 50,
             "reconnect_ivl_max_ms": 200}


def pending_everywhere(specs, txns) -> bool:
    pointers = [t.pointer for t in txns]
    for spec in specs:
        with NodeClient(spec.client, timeout=10) as client:
            states = []
            for i in range(0, len(pointers), 5_000):
                states += client.status(pointers[i:i + 5_000])
        if any(s not in PENDING for s in states):
            return False
    return True


def restart_under_load(tmp_path, accounts, restarts: int, seed: int):
    rng = random.Random(seed)
    specs = write_cluster(tmp_path, NODES, mempool=MEMPOOL, transport=TRANSPORT)
    workloads = [Workload(accounts) for _ in range(NODES)]
    # each node's load uses its own accounts: sequence numbers never collide across nodes
    for i, w in enumerate(workloads):
        w.accounts = _Offset(accounts, 1_000 * (i + 1))
    for spec in specs:
        with SqliteAccountStore(spec.store) as store:
            store.set_accounts([(a, 0, 10**12) for w in workloads for a in w.addresses()])
    procs = [NodeProcess(spec) for spec in specs]
    acked: list = []
    try:
        wait_connected(specs, procs, 30)
        loads = {i: RetryingLoad(specs[i].client, workloads[i]).start() for i in range(NODES)}
        for n in range(restarts):
            threading.Event().wait(rng.uniform(0.2, 0.6))  # a random moment under load
            victim = rng.randrange(NODES)
            if n % 2 == 0:
                procs[victim].kill()
            else:
                procs[victim].stop()
            load = loads.pop(victim)
            load.stop()
            acked += load.acked
            procs[victim] = NodeProcess(specs[victim])
            assert wait_until(lambda: node_answers(specs[victim].client), timeout=30)
            loads[victim] = RetryingLoad(specs[victim].client, workloads[victim]).start()
        threading.Event().wait(0.3)
        for load in loads.values():
            load.stop()
            acked += load.acked
        wait_connected(specs, procs, 30)
        assert wait_until(lambda: pending_everywhere(specs, acked), timeout=120), \
            _missing(specs, acked)
    finally:
        for p in procs:
            p.stop()
    return len(acked)


def _missing(specs, txns) -> str:
    """Which nodes lack which of `txns`, and how they stand there (the failure message)."""
    import collections
    report = []
    for spec in specs:
        with NodeClient(spec.client, timeout=10) as client:
            states = client.status([t.pointer for t in txns])
            stats = client.stats()
        counts = collections.Counter(s.name for s in states if s not in PENDING)
        report.append(f"{spec.name}: {dict(counts)} missing of {len(txns)}; peers "
                      f"{stats['peers']}; counters {stats['mempool_counters']}")
    return "\n".join(report)


class _Offset:
    """The shared Accounts fixture with indices shifted: another node's private accounts."""

    def __init__(self, accounts, offset: int) -> None:
        self._accounts, self._offset = accounts, offset

    def address(self, i: int) -> bytes:
        return self._accounts.address(self._offset + i)

    def txn(self, i: int, seq: int):
        return self._accounts.txn(self._offset + i, seq)


@pytest.mark.slow
def test_restarts_under_load_converge(tmp_path, accounts):
    restarts = int(os.environ.get("CLUSTER_RESTARTS", "6"))
    acked = restart_under_load(tmp_path, accounts, restarts, seed=11)
    print(f"\n{restarts} restarts of {NODES} nodes under load: {acked} acknowledged "
          "transactions pending on every node")
    assert acked > 0
