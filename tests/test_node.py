"""Nodes as separate processes on loopback, their client endpoint and its protocol."""

from __future__ import annotations

import time

import nacl.signing
import pytest
import zmq

from conftest import poll as conftest_poll
from mempool_fast import MempoolAddTransactionStatusCode as Code
from mempool_fast import SignedTransaction
from mempool_fast import rpc
from mempool_fast.client import NodeClient
from mempool_fast.cluster import NodeProcess, wait_connected, write_cluster
from mempool_fast.network.zmq import curve_keypair_from_seed
from mempool_fast.node import ConfigError, Node, NodeConfig, read_key_file
from mempool_fast.rpc import Op, RpcError, TxnState
from mempool_fast.storage import SqliteAccountStore

DEADLINE = 15.0
MEMPOOL = {"shared_mempool_tick_interval_ms": 20, "max_message_bytes": 100_000}
TRANSPORT = {"heartbeat_ivl_ms": 200, "heartbeat_timeout_ms": 1_000, "reconnect_ivl_ms": 50,
             "reconnect_ivl_max_ms": 200}
PENDING = {TxnState.NOT_READY, TxnState.READY, TxnState.NON_QUALIFIED}



def poll(predicate, what: str, deadline: float = DEADLINE):
    return conftest_poll(predicate, what, deadline)


class Harness:
    """Generated node files plus the processes and clients a test started (all torn down)."""

    def __init__(self, tmp_path, count: int, accounts, **kw) -> None:
        self.specs = write_cluster(tmp_path, count, mempool=MEMPOOL, transport=TRANSPORT, **kw)
        self.accounts = accounts
        self.procs: dict[str, NodeProcess] = {}
        self.clients: dict[str, NodeClient] = {}
        funding = [(accounts.address(i), 0, 10**9) for i in range(20)]
        for spec in self.specs:
            with SqliteAccountStore(spec.store) as store:
                store.set_accounts(funding)

    def start(self, index: int) -> NodeProcess:
        spec = self.specs[index]
        self.procs[spec.name] = proc = NodeProcess(spec)
        return proc

    def client(self, index: int) -> NodeClient:
        name = self.specs[index].name
        if name not in self.clients:
            self.clients[name] = NodeClient(self.specs[index].client, timeout=5.0)
        return self.clients[name]

    def consensus(self, index: int) -> NodeClient:
        """A client of the node's consensus endpoint (get_block, commit)."""
        key = self.specs[index].name + "/consensus"
        if key not in self.clients:
            self.clients[key] = NodeClient(self.specs[index].consensus, timeout=5.0)
        return self.clients[key]

    def states(self, index: int, txns) -> list[TxnState]:
        return self.client(index).status([t.pointer for t in txns])

    def wait_everywhere(self, txns, nodes) -> None:
        for i in nodes:
            poll(lambda: all(s in PENDING for s in self.states(i, txns)),
                 f"{len(txns)} transactions on {self.specs[i].name}")

    def close(self) -> None:
        for c in self.clients.values():
            c.close()
        for p in self.procs.values():
            p.stop()


@pytest.fixture
def harness(tmp_path, accounts):
    made = []

    def make(count: int, **kw) -> Harness:
        h = Harness(tmp_path, count, accounts, **kw)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()


def test_three_node_processes_converge(harness, accounts):
    h = harness(3)
    procs = [h.start(i) for i in range(3)]
    wait_connected(h.specs, procs, DEADLINE)
    txns = [accounts.txn(a, s) for a in range(3) for s in range(4)]
    statuses = h.client(0).submit(txns[:6]) + h.client(1).submit(txns[6:])
    assert [s.code for s in statuses] == [Code.VALID] * len(txns)
    h.wait_everywhere(txns, range(3))
    # node2 received everything from its peers: held as NON_QUALIFIED, offered to consensus
    assert set(h.states(2, txns)) == {TxnState.NON_QUALIFIED}
    block = h.consensus(2).get_block(100)
    assert {t.pointer for t in block} == {t.pointer for t in txns}
    # commit on every node after advancing the account stores
    for spec in h.specs:
        with SqliteAccountStore(spec.store) as store:
            store.set_accounts([(accounts.address(a), 4, 10**9) for a in range(3)])
    for i in range(3):
        h.consensus(i).commit([t.pointer for t in txns], time.time())
        assert set(h.states(i, txns)) == {TxnState.COMMITTED}
        assert h.client(i).stats()["mempool_size"] == 0


def test_node_outside_the_validator_set_cannot_connect_or_inject(harness, accounts):
    h = harness(4, validator_set=3)  # node3 knows the others; they do not know node3
    procs = [h.start(i) for i in range(4)]
    wait_connected(h.specs[:3], procs[:3], DEADLINE)
    poll(lambda: h.client(0).stats()["transport"].get("auth_rejected", 0) >= 1,
         "node0 to reject node3")
    stats3 = h.client(3).stats()
    assert stats3["links_alive"] == [] and not any(p["alive"] for p in stats3["peers"].values())
    intruding = [accounts.txn(5, s) for s in range(3)]
    assert [s.code for s in h.client(3).submit(intruding)] == [Code.VALID] * 3
    honest = [accounts.txn(6, 0)]
    h.client(1).submit(honest)
    h.wait_everywhere(honest, range(3))  # rounds went by on every validator...
    for i in range(3):  # ... and nothing from node3 arrived
        assert set(h.states(i, intruding)) == {TxnState.UNKNOWN}
        assert "recv_unattributed" not in h.client(i).stats()["transport"]


def test_sigkilled_node_restarts_reconnects_and_catches_new_transactions(harness, accounts):
    h = harness(3)
    procs = [h.start(i) for i in range(3)]
    wait_connected(h.specs, procs, DEADLINE)
    assert h.client(2).stats()["name"] == "node2"
    procs[2].kill()
    h.clients.pop("node2").close()
    poll(lambda: not h.client(0).stats()["peers"]["node2"]["alive"], "node0 to lose node2")
    before = [accounts.txn(7, 0)]
    h.client(0).submit(before)
    restarted = h.start(2)
    assert restarted.pid != procs[2].pid
    wait_connected(h.specs, [procs[0], procs[1], restarted], DEADLINE)
    after = [accounts.txn(7, 1), accounts.txn(8, 0)]
    assert [s.code for s in h.client(1).submit(after)] == [Code.VALID] * 2
    h.wait_everywhere(before + after, range(3))


@pytest.mark.parametrize("how", ["sigkill", "sigterm"])
def test_a_restarted_node_gets_back_what_its_peers_had_sent_it(harness, accounts, how):
    """Its pool is gone with the process; its peers see its new incarnation and send it
    everything again (nobody resubmits anything)."""
    h = harness(3)
    procs = [h.start(i) for i in range(3)]
    wait_connected(h.specs, procs, DEADLINE)
    txns = [accounts.txn(a, s) for a in range(10, 15) for s in range(10)]
    assert [s.code for s in h.client(0).submit(txns)] == [Code.VALID] * len(txns)
    h.wait_everywhere(txns, range(3))
    if how == "sigkill":
        procs[2].kill()
    else:
        assert procs[2].stop() == 0
    h.clients.pop("node2").close()
    restarted = h.start(2)
    wait_connected(h.specs, [procs[0], procs[1], restarted], DEADLINE)
    h.wait_everywhere(txns, [2])
    pending = [set(h.states(i, txns)) for i in range(3)]
    assert pending[2] == {TxnState.NON_QUALIFIED} and pending[1] == {TxnState.NON_QUALIFIED}
    assert h.client(2).stats()["mempool_size"] == h.client(0).stats()["mempool_size"] == 50


def test_garbage_and_oversized_peer_messages_are_dropped_and_counted(harness, accounts):
    h = harness(2)
    procs = [h.start(i) for i in range(2)]
    wait_connected(h.specs, procs, DEADLINE)
    ctx = zmq.Context()
    rogue = ctx.socket(zmq.DEALER)  # holds node1's key: an authenticated peer gone bad
    try:
        pub, sec = curve_keypair_from_seed(read_key_file(h.specs[1].key_file))
        server, _ = curve_keypair_from_seed(read_key_file(h.specs[0].key_file))
        rogue.curve_publickey, rogue.curve_secretkey, rogue.curve_serverkey = pub, sec, server
        rogue.linger = 0
        rogue.connect(h.specs[0].listen)
        rogue.send(b"\xff garbage that is no message")
        rogue.send(b"\x00" * 150_000)  # over max_message_bytes = 100 000
        poll(lambda: h.client(0).stats()["transport"].get("recv_oversized", 0) == 1,
             "the oversized message to be counted")
        poll(lambda: h.client(0).stats()["mempool_counters"].get("malformed_messages", 0) >= 1,
             "the garbage message to be counted")
    finally:
        rogue.close(0)
        ctx.term()
    txns = [accounts.txn(9, 0)]
    h.client(0).submit(txns)
    h.wait_everywhere(txns, range(2))
    assert all(p.alive() for p in procs)


# -- the client endpoint, in process ------------------------------------------------------------
@pytest.fixture
def node(tmp_path, accounts):
    spec = write_cluster(tmp_path, 1, mempool=MEMPOOL, transport=TRANSPORT)[0]
    with SqliteAccountStore(spec.store) as store:
        store.set_accounts([(accounts.address(i), 0, 10**9) for i in range(3)])
    n = Node(NodeConfig.load(spec.config))
    n.start()
    yield n, spec
    n.stop()
    assert n.failure is None


def test_hostile_request_bytes_get_an_error_reply(node, accounts):
    n, spec = node
    for junk in (b"", b"\x01", b"\x02\x01\0\0\0\0", b"\x01\x09\0\0\0\0",
                 b"\x01\x01\x07\0\0\0\xff\xff\xff\xff",
                 rpc.encode_request(Op.SUBMIT, 7, [accounts.txn(0, 0)])[:-3],
                 rpc.encode_request(Op.STATS, 1) + b"trailing"):
        resp = rpc.decode_response(n.handle(junk))
        assert not resp.ok and resp.body
    with NodeClient(spec.client) as client:
        with pytest.raises(RpcError, match="bad request"):
            client.call(Op.COMMIT, (float("nan"), [], []))
        assert client.submit([accounts.txn(0, 0)])[0].code == Code.VALID
        assert client.stats()["mempool_size"] == 1


def test_client_calls_round_trip(node, accounts):
    n, spec = node
    other = SignedTransaction.create(nacl.signing.SigningKey(b"\x42" * 32), 0)
    with NodeClient(spec.client) as client, NodeClient(spec.consensus) as consensus:
        txns = [accounts.txn(1, 0), accounts.txn(1, 2), other]
        codes = [s.code for s in client.submit(txns)]
        assert codes == [Code.VALID, Code.VALID, Code.UNKNOWN_ACCOUNT]
        assert client.status([t.pointer for t in txns]) == [
            TxnState.READY, TxnState.NOT_READY, TxnState.UNKNOWN]
        assert consensus.get_block(10) == [txns[0]]
        assert consensus.get_block(10, exclude=[txns[0].pointer]) == []
        consensus.commit([txns[0].pointer], time.time())
        assert client.status([txns[0].pointer])[0] == TxnState.UNKNOWN  # store not advanced
        stats = client.stats()
        assert stats["mempool_size"] == 1 and stats["parking_lot_size"] == 1


def test_rpc_round_trips(accounts):
    txns = [accounts.txn(0, 0), accounts.txn(1, 3, payload=b"abc")]
    ptrs = [t.pointer for t in txns]
    for op, body in ((Op.SUBMIT, txns), (Op.STATUS, ptrs), (Op.GET_BLOCK, (5, ptrs)),
                     (Op.COMMIT, (12.5, ptrs, ptrs[:1])), (Op.STATS, None)):
        req = rpc.decode_request(rpc.encode_request(op, 99, body))
        assert (req.op, req.request_id) == (op, 99)
        expected = tuple(body) if isinstance(body, tuple) else body
        got = tuple(req.body) if isinstance(req.body, tuple) else req.body
        assert got == expected
    with pytest.raises(RpcError):
        rpc.decode_request(rpc.encode_request(Op.STATUS, 1, ptrs)[:-1])


def test_bad_configs_are_refused_clearly(tmp_path):
    spec = write_cluster(tmp_path, 1)[0]
    text = spec.config.read_text()
    spec.config.write_text(text.replace('client = "tcp://127.0.0.1', 'client = "tcp://0.0.0.0'))
    with pytest.raises(ConfigError, match="loopback"):
        NodeConfig.load(spec.config)
    spec.config.write_text(text.replace("[mempool]", "[mempool]\nno_such_field = 1"))
    with pytest.raises(ConfigError, match="no_such_field"):
        NodeConfig.load(spec.config)
    spec.key_file.write_text("zz")
    spec.config.write_text(text)
    with pytest.raises(ConfigError, match="not hex"):
        NodeConfig.load(spec.config)


def test_metrics_endpoint_serves_the_node_registry(tmp_path, accounts):
    import urllib.request

    from mempool_fast.cluster import free_port

    spec = write_cluster(tmp_path, 1)[0]
    port = free_port()
    spec.config.write_text(spec.config.read_text().replace("metrics_port = 0",
                                                           f"metrics_port = {port}"))
    n = Node(NodeConfig.load(spec.config))
    n.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    finally:
        n.stop()
    assert "mempool_index_size" in text and "mempool_transport_peers_alive" in text
