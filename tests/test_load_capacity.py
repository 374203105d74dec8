"""Load at capacity: a small-capacity cluster flooded far above its capacity stays bounded,
tells clients MEMPOOL_IS_FULL, makes peers back off, and flows again once commits free space."""

from __future__ import annotations

import threading

from conftest import wait_until
from mempool_fast import MempoolAddTransactionStatusCode as Code, MempoolConfig
from mempool_fast.network.inprocess import InProcessNetwork
from mempool_fast.shared import SharedMempool
from mempool_fast.storage import InMemoryAccountStore

CAPACITY = 120
NODES = ("a", "b", "c")
PER_NODE = 100  # distinct accounts submitted at each node: 300 in all, 2.5x capacity


def test_flood_above_capacity_stays_bounded_then_flows_after_commits(core_cls, accounts):
    config = MempoolConfig(capacity=CAPACITY, shared_mempool_tick_interval_ms=10,
                           shared_mempool_batch_size=10, max_broadcasts_per_peer=3,
                           shared_mempool_ack_timeout_ms=200,
                           shared_mempool_backoff_interval_ms=100,
                           shared_mempool_poll_interval_ms=20)
    hub = InProcessNetwork()
    store = InMemoryAccountStore()
    n_accounts = PER_NODE * len(NODES) + 60
    for i in range(n_accounts):
        store.set_account(accounts.address(i), 0, 10**12)
    nodes = {n: SharedMempool(config, hub.endpoint(n), store, mempool=core_cls(config))
             for n in NODES}
    peak = {n: 0 for n in NODES}
    inflight_peak = 0
    stop = threading.Event()

    def watch() -> None:  # sizes sampled while the flood runs
        nonlocal inflight_peak
        while not stop.wait(0.002):
            for n, node in nodes.items():
                peak[n] = max(peak[n], len(node.mempool))
                for p in NODES:
                    inflight_peak = max(inflight_peak, len(node.in_flight(p)))

    watcher = threading.Thread(target=watch, name="watch")
    accepted = []
    full = 0
    try:
        for node in nodes.values():
            node.start()
        hub.connect_all(NODES)
        watcher.start()
        for k, name in enumerate(NODES):
            txns = [accounts.txn(k * PER_NODE + i, 0) for i in range(PER_NODE)]
            for status, txn in zip(nodes[name].submit_transactions(txns), txns):
                if status.code == Code.VALID:
                    accepted.append(txn)
                else:
                    assert status.code == Code.MEMPOOL_IS_FULL, status
                    full += 1
        # pushed past capacity: receivers refuse batches and ask their senders to back off
        assert wait_until(lambda: sum(n.counters().get("backoff_acks", 0)
                                      for n in nodes.values()) > 0)
        assert wait_until(lambda: all(len(n.mempool) == CAPACITY for n in nodes.values()))
        assert not any(n.mempool.health_check() for n in nodes.values())
        late = [accounts.txn(PER_NODE * len(NODES) + i, 0) for i in range(60)]
        statuses = nodes["a"].submit_transactions(late)
        assert [s.code for s in statuses] == [Code.MEMPOOL_IS_FULL] * len(late)
        full += len(late)

        # consensus drains node a; commits free space everywhere and everything flows again
        committed = set()

        def drain() -> bool:
            block = nodes["a"].get_block(40)
            if block:
                pointers = [t.pointer for t in block]
                for node in nodes.values():
                    node.commit_transactions(pointers, 0)
                for t in block:
                    store.set_account(t.sender, t.sequence_number + 1, 10**12)
                committed.update(pointers)
            return committed >= {t.pointer for t in accepted}

        assert wait_until(drain, timeout=30), (len(committed), len(accepted))
        assert wait_until(lambda: all(len(n.mempool) == 0 for n in nodes.values()))
        # space again: the clients' retries are admitted
        assert all(s.code == Code.VALID for s in nodes["a"].submit_transactions(late))
    finally:
        stop.set()
        if watcher.is_alive():
            watcher.join()
        for node in nodes.values():
            node.stop()
    assert full > 0
    assert max(peak.values()) <= CAPACITY, peak
    assert inflight_peak <= config.max_broadcasts_per_peer
    assert len(accepted) <= len(NODES) * CAPACITY
