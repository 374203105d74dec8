"""A node's endpoints: consensus operations only on the consensus endpoint (authenticated),
client requests bounded in size and count and served fairly, every request shape answered."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import threading
import time

import nacl.signing
import pytest
import zmq

from conftest import wait_until
from mempool_fast import MempoolAddTransactionStatusCode as Code
from mempool_fast import rpc
from mempool_fast.client import NodeClient
from mempool_fast.cluster import NodeProcess, write_cluster
from mempool_fast.errors import RemoteError, RpcTimeout
from mempool_fast.node import Node, NodeConfig
from mempool_fast.rpc import Op
from mempool_fast.storage import SqliteAccountStore

FUNDED = 40


def funded_cluster(tmp_path, accounts, count=1, **kw):
    specs = write_cluster(tmp_path, count, **kw)
    for spec in specs:
        with SqliteAccountStore(spec.store) as store:
            store.set_accounts([(accounts.address(i), 0, 10**12) for i in range(FUNDED)])
    return specs


def set_node(spec, **fields) -> None:
    text = spec.config.read_text()
    for key, value in fields.items():
        line = f"{key} = {value}"
        if re.search(rf"(?m)^{key} = ", text):
            text = re.sub(rf"(?m)^{key} = .*$", line, text, count=1)
        else:
            text = text.replace("[node]\n", f"[node]\n{line}\n", 1)
    spec.config.write_text(text)


@pytest.fixture
def node(tmp_path, accounts):
    spec = funded_cluster(tmp_path, accounts)[0]
    set_node(spec, client_max_transactions=50, client_max_request_bytes=1 << 20)
    n = Node(NodeConfig.load(spec.config))
    n.start()
    yield n, spec
    n.stop()


def test_consensus_operations_are_refused_on_the_client_endpoint(node, accounts):
    n, spec = node
    txns = [accounts.txn(0, s) for s in range(3)]
    with NodeClient(spec.client) as client:
        assert [s.code for s in client.submit(txns)] == [Code.VALID] * 3
        with pytest.raises(RemoteError, match="not served here"):
            client.commit([], 1e300)  # would expire everything
        with pytest.raises(RemoteError, match="not served here"):
            client.commit([(txns[0].sender, 2**64 - 1)], time.time())  # would lock the account
        with pytest.raises(RemoteError, match="not served here"):
            client.get_block(10)
        assert client.stats()["mempool_size"] == 3
    assert len(n.journal) == 3


def test_the_ipc_consensus_socket_is_owner_only_and_checks_block_time(node, accounts):
    n, spec = node
    path = spec.consensus[len("ipc://"):]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with NodeClient(spec.client) as client, NodeClient(spec.consensus) as consensus:
        txns = [accounts.txn(1, s) for s in range(2)]
        client.submit(txns)
        with pytest.raises(RemoteError, match="ahead of this node's clock"):
            consensus.commit([], time.time() + 3_600)
        assert client.stats()["mempool_size"] == 2
        assert consensus.get_block(10) == txns
        consensus.commit([txns[1].pointer], time.time())
        assert client.stats()["mempool_size"] == 0


def test_a_tcp_consensus_endpoint_serves_only_listed_keys(tmp_path, accounts):
    spec = funded_cluster(tmp_path, accounts)[0]
    proposer = nacl.signing.SigningKey(b"\x05" * 32)
    stranger = nacl.signing.SigningKey(b"\x06" * 32)
    from mempool_fast.cluster import free_port
    address = f"tcp://127.0.0.1:{free_port()}"
    set_node(spec, consensus=f'"{address}"',
             consensus_clients=f'["{bytes(proposer.verify_key).hex()}"]')
    n = Node(NodeConfig.load(spec.config))
    n.start()
    server_key = bytes(nacl.signing.SigningKey(n.config.seed).verify_key)
    try:
        with NodeClient(address, curve_seed=bytes(proposer), server_public_key=server_key,
                        timeout=5) as ok:
            assert ok.get_block(5) == []
        for client in (NodeClient(address, curve_seed=bytes(stranger),
                                  server_public_key=server_key, timeout=0.5),
                       NodeClient(address, timeout=0.5)):  # no CurveZMQ at all
            with client, pytest.raises(RpcTimeout):
                client.commit([], time.time())
    finally:
        n.stop()


def test_too_many_transactions_in_one_request_is_a_clear_error(node, accounts):
    n, spec = node
    txns = [accounts.txn(i % FUNDED, i // FUNDED) for i in range(51)]
    with NodeClient(spec.client) as client:
        with pytest.raises(RemoteError, match="51 transactions in one request; the limit is 50"):
            client.submit(txns)
        assert client.stats()["mempool_size"] == 0
        assert len(client.submit(txns[:50])) == 50


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("VmRSS:")).split()[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_oversized_client_frames_do_not_grow_the_node(tmp_path, accounts):
    spec = funded_cluster(tmp_path, accounts)[0]
    proc = NodeProcess(spec)
    try:
        with NodeClient(spec.client, timeout=10) as client:
            assert wait_until(lambda: _answers(client), timeout=30)
            before = _rss_kib(proc.pid)
            ctx = zmq.Context()
            hostile = ctx.socket(zmq.DEALER)
            hostile.linger = 0
            hostile.connect(spec.client)
            frame = b"\x01" * (100 << 20)
            for _ in range(5):
                hostile.send(frame)
            del frame
            # the node keeps answering everyone else, and did not buffer the 500 MB
            txn = accounts.txn(2, 0)
            assert client.submit([txn])[0].code == Code.VALID
            assert wait_until(lambda: client.stats()["mempool_size"] == 1)
            grew = _rss_kib(proc.pid) - before
            hostile.close(0)
            ctx.term()
        assert grew < 50 * 1024, f"the node grew by {grew} KiB"
    finally:
        proc.stop()


def _answers(client: NodeClient) -> bool:
    try:
        client.stats()
        return True
    except RpcTimeout:
        return False


def test_a_large_request_does_not_hold_up_other_clients(tmp_path, accounts):
    spec = funded_cluster(tmp_path, accounts)[0]
    n = Node(NodeConfig.load(spec.config))
    n.start()
    try:
        big = [accounts.txn(i % FUNDED, i // FUNDED) for i in range(2_000)]
        with NodeClient(spec.client, timeout=30) as heavy, NodeClient(spec.client) as light:
            rids = [heavy.send(Op.SUBMIT, big[i::3]) for i in range(3)]
            answered = light.status([big[0].pointer])  # served while the big ones run
            assert answered and not any(heavy.ready(rid) for rid in rids[1:])
            for rid in rids:
                assert heavy.wait(rid).ok
    finally:
        n.stop()


def test_req_sockets_are_served_and_multipart_requests_get_an_error(node):
    n, spec = node
    ctx = zmq.Context()
    try:
        req = ctx.socket(zmq.REQ)
        req.linger = 0
        req.connect(spec.client)
        req.send(rpc.encode_request(Op.STATS, 5))
        assert req.poll(5_000)
        reply = rpc.decode_response(req.recv())
        assert reply.ok and reply.request_id == 5
        dealer = ctx.socket(zmq.DEALER)
        dealer.linger = 0
        dealer.connect(spec.client)
        dealer.send_multipart([rpc.encode_request(Op.STATS, 6), b"extra"])
        assert dealer.poll(5_000)
        reply = rpc.decode_response(dealer.recv())
        assert not reply.ok and "one frame" in reply.body
        req.close(0)
        dealer.close(0)
    finally:
        ctx.term()


def test_pointers_with_a_short_sender_are_refused_before_sending(node):
    n, spec = node
    with NodeClient(spec.client) as client, pytest.raises(ValueError, match="32 bytes"):
        client.status([(b"short", 1)])


def test_a_thread_that_dies_takes_the_node_down(node):
    n, spec = node
    assert n.wait_for_failure(0.1) is None
    n.network.close()  # as if the transport's I/O thread had died
    assert n.wait_for_failure(10) == "the network I/O thread died"


def test_a_thread_that_dies_in_a_node_process_ends_it_with_exit_code_1(tmp_path, accounts):
    """The same through the real command: a node whose shared-mempool GC thread dies stops and
    exits 1 with one line saying why (the fault is injected with a sitecustomize module)."""
    spec = funded_cluster(tmp_path, accounts)[0]
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(
        "import mempool_fast.shared as s\n"
        "def boom(self, stop):\n"
        "    raise SystemExit('injected')\n"
        "s.SharedMempool._gc_loop = boom\n")
    env = dict(os.environ, PYTHONPATH=f"{inject}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    proc = subprocess.run([sys.executable, "-m", "mempool_fast.cli", "node", "--config",
                           str(spec.config)], capture_output=True, text=True, timeout=60,
                          env=env)
    assert proc.returncode == 1, proc.stderr
    assert any(line.startswith("mempool-fast node: node0 stopped: the shared mempool's gc "
                               "thread died") for line in proc.stderr.splitlines()), proc.stderr


def test_stats_and_threads_after_stop(node):
    n, spec = node
    n.stop()
    assert not any(t.name.startswith(("node-client", "node-consensus", "smp-"))
                   for t in threading.enumerate())
