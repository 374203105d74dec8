"""Load at capacity: a small-capacity cluster flooded far above its capacity stays bounded,
tells clients MEMPOOL_IS_FULL, makes peers back off (and they keep to the backoff interval), and
flows again once commits free space, until every node holds every remaining accepted transaction.
Bounds are asserted on sizes sampled while the flood runs (core, unacknowledged batches, inbound
pool), not on RSS."""

from __future__ import annotations

import threading
import time

from conftest import wait_until
from mempool_fast import MempoolAddTransactionStatusCode as Code, MempoolConfig
from mempool_fast.shared.protocol import MSG_BROADCAST
from mempool_fast.network.base import Network
from mempool_fast.network.inprocess import InProcessNetwork
from mempool_fast.shared import SharedMempool
from mempool_fast.storage import InMemoryAccountStore

CAPACITY = 200
NODES = ("a", "b", "c")
PER_NODE = 150  # distinct accounts submitted at each node: 450 in all, 2.25x capacity
LATE = 60
BACKOFF_MS = 100
WINDOW_S = 0.5


class RecordingEndpoint(Network):
    """An endpoint that records when it sent a broadcast to which peer."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.peer_id = inner.peer_id
        self.broadcasts: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def send(self, peer_id: str, data: bytes) -> bool:
        if data[1] == MSG_BROADCAST:
            with self._lock:
                self.broadcasts.append((time.monotonic(), peer_id))
        return self.inner.send(peer_id, data)

    def recv(self, timeout=None):
        return self.inner.recv(timeout)

    def close(self) -> None:
        self.inner.close()

    def sent_between(self, start: float, end: float) -> dict[str, int]:
        with self._lock:
            counts = dict.fromkeys(NODES, 0)
            for at, peer in self.broadcasts:
                if start <= at < end:
                    counts[peer] += 1
            return counts


def test_flood_above_capacity_stays_bounded_then_flows_after_commits(core_cls, accounts):
    config = MempoolConfig(capacity=CAPACITY, shared_mempool_tick_interval_ms=10,
                           shared_mempool_batch_size=10, max_broadcasts_per_peer=3,
                           shared_mempool_ack_timeout_ms=200,
                           shared_mempool_backoff_interval_ms=BACKOFF_MS,
                           shared_mempool_max_concurrent_inbound_syncs=4,
                           shared_mempool_max_inbound_syncs_per_peer=3,
                           shared_mempool_poll_interval_ms=20)
    hub = InProcessNetwork()
    store = InMemoryAccountStore()
    for i in range(PER_NODE * len(NODES) + LATE):
        store.set_account(accounts.address(i), 0, 10**12)
    nets = {n: RecordingEndpoint(hub.endpoint(n)) for n in NODES}
    nodes = {n: SharedMempool(config, nets[n], store, mempool=core_cls(config)) for n in NODES}
    peak = dict.fromkeys(("core", "unacked", "inbound_running", "inbound_waiting"), 0)
    stop = threading.Event()

    def watch() -> None:  # sizes sampled while the flood runs
        while not stop.wait(0.002):
            for node in nodes.values():
                queue = node.inbound_queue().values()
                for key, size in (("core", len(node.mempool)),
                                  ("unacked", max(len(node.in_flight(p)) for p in NODES)),
                                  ("inbound_running", sum(r for r, _ in queue)),
                                  ("inbound_waiting", sum(w for _, w in queue))):
                    peak[key] = max(peak[key], size)

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
        assert wait_until(lambda: all(len(n.mempool) == CAPACITY for n in nodes.values()))
        # (which senders meet a full peer depends on timing; nothing here is evictable, so a
        # batch refused as full is answered with backoff as well)
        assert wait_until(lambda: sum(n.counters().get("backoff_acks", 0)
                                      for n in nodes.values()) > 0)
        assert wait_until(lambda: all(n.counters().get("backoff_acks", 0) > 0
                                      for n in nodes.values()
                                      if n.counters().get("retry_acks", 0) > 0))
        assert not any(n.mempool.health_check() for n in nodes.values())
        late = [accounts.txn(PER_NODE * len(NODES) + i, 0) for i in range(LATE)]
        statuses = nodes["a"].submit_transactions(late)
        assert [s.code for s in statuses] == [Code.MEMPOOL_IS_FULL] * LATE
        full += LATE

        # every peer is full and unhealthy: senders serve it once per backoff interval at most
        # (without backoff, retry acks would bring a resend every 10 ms tick)
        start = time.monotonic()
        threading.Event().wait(WINDOW_S)
        end = time.monotonic()
        rounds = (end - start) / (BACKOFF_MS / 1000.0) + 2
        for name, net in nets.items():
            for peer, sent in net.sent_between(start, end).items():
                assert sent <= config.max_broadcasts_per_peer * rounds, (name, peer, sent)

        # consensus drains node a until the rest fits; then it must reach every node
        committed: set = set()
        everything = {t.pointer for t in accepted}

        def commit_until(left: int):
            def step() -> bool:
                if len(everything - committed) <= left:
                    return True
                block = nodes["a"].get_block(40)
                pointers = [t.pointer for t in block]
                for t in block:  # state first, then the mempools, as consensus does
                    store.set_account(t.sender, t.sequence_number + 1, 10**12)
                for node in nodes.values():
                    node.commit_transactions(pointers, 0)
                committed.update(pointers)
                return len(everything - committed) <= left
            return step

        assert wait_until(commit_until(CAPACITY // 2), timeout=30), len(committed)
        remaining = everything - committed

        def uncommitted(node) -> int:
            """Entries besides committed ones: a batch validated against the account state
            just before a commit can re-insert a committed transaction after its removal (a
            stale entry the next commit of that account or the TTL GC removes)."""
            return len(node.mempool) - sum(p in node.mempool for p in committed)

        def everywhere() -> bool:
            return all(uncommitted(n) == len(remaining) and all(p in n.mempool for p in remaining)
                       for n in nodes.values())

        assert wait_until(everywhere, timeout=30), [uncommitted(n) for n in nodes.values()]
        assert all(n.mempool.health_check() for n in nodes.values())
        assert wait_until(commit_until(0), timeout=30), len(committed)
        assert wait_until(lambda: all(uncommitted(n) == 0 for n in nodes.values())), \
            [(len(n.mempool), uncommitted(n)) for n in nodes.values()]
        # space again: the clients' retries are admitted
        assert all(s.code == Code.VALID for s in nodes["a"].submit_transactions(late))
    finally:
        stop.set()
        if watcher.is_alive():
            watcher.join()
        for node in nodes.values():
            node.stop()
    assert full > 0
    assert len(accepted) <= len(NODES) * CAPACITY
    assert peak["core"] == CAPACITY, peak
    assert peak["unacked"] <= config.max_broadcasts_per_peer, peak
    assert peak["inbound_running"] <= config.shared_mempool_max_concurrent_inbound_syncs, peak
    assert peak["inbound_waiting"] <= (config.shared_mempool_max_inbound_syncs_per_peer
                                       * (len(NODES) - 1)), peak
    for node in nodes.values():
        assert node.max_inbound_in_flight <= config.shared_mempool_max_concurrent_inbound_syncs
