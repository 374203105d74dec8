"""A restarted node catches up: peers see its new incarnation and broadcast to it from the start
(a mere reconnect keeps the cursor: test_shared.test_interruption_in_sync_keeps_the_cursor)."""

from __future__ import annotations

from conftest import wait_until
from mempool_fast import MempoolConfig
from mempool_fast.network.inprocess import InProcessNetwork
from mempool_fast.shared import SharedMempool
from mempool_fast.storage import InMemoryAccountStore

FOREVER_MS = 10**9


def config() -> MempoolConfig:
    return MempoolConfig(shared_mempool_tick_interval_ms=FOREVER_MS,
                         system_transaction_gc_interval_ms=FOREVER_MS,
                         shared_mempool_batch_size=3, shared_mempool_poll_interval_ms=20)


class Net:
    def __init__(self, core_cls, clock, accounts, names):
        self.hub = InProcessNetwork()
        self.store = InMemoryAccountStore()
        for i in range(10):
            self.store.set_account(accounts.address(i), 0, 10**12)
        self.core_cls, self.clock = core_cls, clock
        self.nodes = {name: self.make(name) for name in names}
        self.hub.connect_all(names)

    def make(self, name: str, incarnation: int | None = None) -> SharedMempool:
        cfg = config()
        node = SharedMempool(cfg, self.hub.endpoint(name), self.store,
                             mempool=self.core_cls(cfg, clock=self.clock), clock=self.clock,
                             incarnation=incarnation)
        return node.start()

    def restart(self, name: str, incarnation: int | None = None) -> SharedMempool:
        """The process ends (its pool is gone) and a new one takes the same name."""
        old = self.nodes[name]
        for other in self.nodes:
            if other != name:
                self.hub.disconnect(name, other)
        old.stop()
        old.network.close()
        self.nodes[name] = self.make(name, incarnation)
        for other in self.nodes:
            if other != name:
                self.hub.connect(name, other)
        return self.nodes[name]

    def rounds_until(self, predicate, rounds: int = 200) -> bool:
        for _ in range(rounds):
            for node in self.nodes.values():
                node.sync_with_peers()
            if wait_until(predicate, timeout=0.2):
                return True
        return False

    def stop(self):
        for node in self.nodes.values():
            node.stop()


def pending(node, txns) -> set:
    return {t.pointer for t in txns if node.mempool.get(*t.pointer) == t}


def test_a_restarted_node_gets_everything_again(core_cls, clock, accounts):
    net = Net(core_cls, clock, accounts, ("n0", "n1", "n2"))
    try:
        first = [accounts.txn(a, s) for a in range(3) for s in range(4)]
        assert all(s.code.name == "VALID" for s in net.nodes["n0"].submit_transactions(first))
        assert net.rounds_until(lambda: all(pending(n, first) == {t.pointer for t in first}
                                            for n in net.nodes.values()))
        assert wait_until(lambda: net.nodes["n0"].in_flight("n2") == [])
        cursor = net.nodes["n0"].peers()["n2"].timeline_id
        assert cursor == 12

        n2 = net.restart("n2")
        assert len(n2.mempool) == 0
        # n0 learns n2's new incarnation (its HELLO) and starts its cursor over
        assert wait_until(lambda: net.nodes["n0"].peers()["n2"].timeline_id == 0)
        assert net.nodes["n0"].metrics.value("mempool_peer_restarts_total") == 1
        assert net.rounds_until(lambda: pending(n2, first) == {t.pointer for t in first})
        later = [accounts.txn(5, 0)]
        net.nodes["n1"].submit_transactions(later)
        everything = {t.pointer for t in first + later}
        assert net.rounds_until(lambda: all(pending(n, first + later) == everything
                                            for n in net.nodes.values()))
    finally:
        net.stop()


def test_a_reconnect_of_the_same_incarnation_keeps_the_cursor(core_cls, clock, accounts):
    net = Net(core_cls, clock, accounts, ("n0", "n1"))
    try:
        txns = [accounts.txn(0, s) for s in range(3)]
        net.nodes["n0"].submit_transactions(txns)
        assert net.rounds_until(lambda: len(pending(net.nodes["n1"], txns)) == 3)
        incarnation = net.nodes["n1"].incarnation
        # the same process, its links cut and restored: the HELLO it sends again changes nothing
        net.hub.disconnect("n0", "n1")
        net.hub.connect("n0", "n1")
        assert wait_until(lambda: net.nodes["n0"].peers()["n1"].is_alive)
        net.rounds_until(lambda: net.nodes["n0"].in_flight("n1") == [])
        assert net.nodes["n0"].peers()["n1"].timeline_id == 3
        assert net.nodes["n0"].metrics.value("mempool_peer_restarts_total") == 0
        # a restart that happens to reuse nothing of the old process: same name, new id
        net.restart("n1", incarnation=incarnation + 1)
        assert wait_until(lambda: net.nodes["n0"].peers()["n1"].timeline_id == 0)
    finally:
        net.stop()


def test_a_late_ack_of_the_old_incarnation_does_not_reset_again(core_cls, clock, accounts):
    from mempool_fast.network.base import EventKind, NetworkEvent
    from mempool_fast.shared.protocol import Ack, Hello, encode

    net = Net(core_cls, clock, accounts, ("n0", "n1"))
    try:
        n0 = net.nodes["n0"]
        old = net.nodes["n1"].incarnation
        assert wait_until(lambda: n0.peers().get("n1") is not None)
        n0._messages.on_event(NetworkEvent(EventKind.MESSAGE, "n1", encode(Hello(old + 7))),
                              None)
        assert n0.metrics.value("mempool_peer_restarts_total") == 1
        n0._messages.on_event(
            NetworkEvent(EventKind.MESSAGE, "n1", encode(Ack(0, 1, incarnation=old))), None)
        assert n0.metrics.value("mempool_peer_restarts_total") == 1  # retired: ignored
    finally:
        net.stop()
