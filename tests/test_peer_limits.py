"""Per-peer limits: a peer flooding messages is throttled without starving the others.

The transport's per-peer token bucket (`peer_rate_limit_per_sec`, `peer_rate_burst`) drops and
counts a flooder's excess before it reaches the inbound pool, so an honest peer's messages and
transactions keep flowing while the flood goes on.
"""

from __future__ import annotations

import threading

from conftest import wait_until
from mempool_fast import MempoolConfig
from mempool_fast.messages import encode_broadcast
from mempool_fast.network.base import EventKind
from mempool_fast.shared import SharedMempool
from mempool_fast.storage import InMemoryAccountStore
from test_zmq_network import make_cluster, next_event  # noqa: F401  (make_cluster: fixture)


def test_flooder_is_throttled_and_the_honest_peer_gets_through(make_cluster, clock):
    config = MempoolConfig(peer_rate_limit_per_sec=10, peer_rate_burst=5)
    c = make_cluster(3, config=config, clock=clock)  # the clock stands still: no refill
    for name in ("n1", "n2"):
        next_event(c.nets[name], EventKind.NEW_PEER)
    for i in range(200):
        c.nets["n1"].send("n0", b"flood %d" % i)
    for i in range(5):
        assert c.nets["n2"].send("n0", b"honest %d" % i)
    got: dict[str, list] = {"n1": [], "n2": []}
    while len(got["n2"]) < 5:
        event = next_event(c.nets["n0"], EventKind.MESSAGE)
        got[event.peer_id].append(event.data)
    assert got["n2"] == [b"honest %d" % i for i in range(5)]
    assert wait_until(lambda: c.nets["n0"].stats().get("recv_rate_limited", 0) == 195)
    while (event := c.nets["n0"].recv(0.2)) is not None:
        if event.kind is EventKind.MESSAGE:
            got[event.peer_id].append(event.data)
    assert got["n1"] == [b"flood %d" % i for i in range(5)]  # the burst, nothing more


def test_shared_mempool_keeps_admitting_an_honest_peer_during_a_flood(make_cluster, accounts):
    config = MempoolConfig(peer_rate_limit_per_sec=50, peer_rate_burst=10,
                           shared_mempool_tick_interval_ms=20,
                           shared_mempool_max_concurrent_inbound_syncs=2)
    c = make_cluster(3, config=config)
    store = InMemoryAccountStore()
    for i in range(2):
        store.set_account(accounts.address(i), 0, 10**12)
    receiver = SharedMempool(config, c.nets["n0"], store)
    honest = SharedMempool(config, c.nets["n2"], store)
    stop = threading.Event()
    junk = encode_broadcast(1, 2, [accounts.txn(40, 0)])  # well-formed, unknown account

    def flood() -> None:
        while not stop.is_set():
            c.nets["n1"].send("n0", junk)

    flooder = threading.Thread(target=flood, name="flooder")
    with receiver, honest:
        flooder.start()
        try:
            assert wait_until(lambda: c.nets["n0"].stats().get("recv_rate_limited", 0) > 100)
            txns = [accounts.txn(0, 0), accounts.txn(1, 0)]
            honest.submit_transactions(txns)
            assert wait_until(lambda: all(t.pointer in receiver.mempool for t in txns)), \
                receiver.counters()
        finally:
            stop.set()
            flooder.join()
    assert receiver.mempool.get(*accounts.txn(40, 0).pointer) is None
