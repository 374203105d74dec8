"""The status API through a real node: the client endpoint's TXN_STATUS, ACCOUNT_STATUS and
INSPECT operations, NodeClient's calls, and the strict codec of the new operations."""

from __future__ import annotations

import hashlib
import json
import struct
import time

import pytest

from mempool_fast import (AccountStatus, DropReason, MempoolAddTransactionStatusCode as Code,
                          TransactionState, TransactionStatus)
from mempool_fast import rpc
from mempool_fast.client import NodeClient
from mempool_fast.cluster import write_cluster
from mempool_fast.errors import RemoteError
from mempool_fast.node import Node, NodeConfig
from mempool_fast.rpc import Op, RpcError
from mempool_fast.storage import SqliteAccountStore

S = TransactionState
MEMPOOL = {"shared_mempool_tick_interval_ms": 20, "max_message_bytes": 100_000}
TRANSPORT = {"heartbeat_ivl_ms": 200, "heartbeat_timeout_ms": 1_000, "reconnect_ivl_ms": 50,
             "reconnect_ivl_max_ms": 200}


def sha3(txn) -> bytes:
    return hashlib.sha3_256(txn.to_bytes()).digest()


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


def test_status_account_and_inspect_round_trip(node, accounts):
    n, spec = node
    t0, t2 = accounts.txn(0, 0), accounts.txn(0, 2)
    old, new = accounts.txn(1, 0, gas_price=1), accounts.txn(1, 0, gas_price=2)
    with NodeClient(spec.client) as client, NodeClient(spec.consensus) as consensus:
        assert [s.code for s in client.submit([t0, t2, old])] == [Code.VALID] * 3
        assert client.submit([new])[0].code == Code.VALID  # replaces `old`
        got = client.transaction_status([sha3(t0), t2.pointer, sha3(old), b"\x05" * 32,
                                         accounts.txn(2, 0).pointer])
        assert [s.state for s in got] == [S.READY, S.PARKED, S.DROPPED, S.UNKNOWN, S.UNKNOWN]
        assert got[0] == n.shared.transaction_status(sha3(t0))
        assert got[1].detail == "waiting for sequence number 1 of this account"
        assert got[2].reason is DropReason.REPLACED and sha3(new).hex() in got[2].detail
        assert got[3].hash == b"\x05" * 32 and got[4].pointer == accounts.txn(2, 0).pointer
        assert client.account_status(accounts.address(0)) == AccountStatus(
            accounts.address(0), 0, (0,), (2,), 1)

        consensus.commit([t0.pointer], time.time())
        committed = client.transaction_status([t0.pointer])[0]
        assert (committed.state, committed.hash) == (S.COMMITTED, sha3(t0))
        assert abs(committed.at - time.time()) < 60

        report = client.inspect()
        assert report == json.loads(json.dumps(n.shared.inspect()))  # what the node computes
        assert report["pending"] == {"ready": 1, "parked": 1, "total": 2}
        assert report["history"]["by_state"] == {"committed": 1, "dropped": 1}
        assert report["history"]["by_reason"] == {"replaced": 1}
        assert set(report) >= {"pending", "history", "peers", "core", "watches"}


def test_bad_status_requests_get_an_error_reply_and_change_nothing(node, accounts):
    n, spec = node
    with NodeClient(spec.client) as client:
        client.submit([accounts.txn(0, 0)])
        size = n.shared.sizes()["mempool_size"]
        good = rpc.encode_request(Op.TXN_STATUS, 3, [b"\x01" * 32, accounts.txn(0, 0).pointer])
        for junk in (good[:-1], good + b"\0", good[:6] + b"\x01\0\0\0\x07" + b"\0" * 32,
                     rpc.encode_request(Op.ACCOUNT_STATUS, 4, b"\x01" * 32)[:-1],
                     rpc.encode_request(Op.INSPECT, 5) + b"x"):
            resp = rpc.decode_response(n.handle(junk))
            assert not resp.ok and resp.body.startswith("bad request"), resp
        limit = n.config.client_max_transactions
        with pytest.raises(RemoteError, match="keys in one request"):
            client.transaction_status([b"\x01" * 32] * (limit + 1))
        with pytest.raises(ValueError):
            client.account_status(b"short")  # refused before it is sent
        with pytest.raises(TypeError):
            client.transaction_status(b"\x01" * 32)  # one key, not a list
        assert n.shared.sizes()["mempool_size"] == size
        assert client.transaction_status([]) == []


def test_status_ops_are_client_operations_only(node, accounts):
    n, spec = node
    for op, body in ((Op.TXN_STATUS, [b"\x01" * 32]), (Op.ACCOUNT_STATUS, b"\x01" * 32),
                     (Op.INSPECT, None)):
        resp = rpc.decode_response(n.handle_consensus(rpc.encode_request(op, 1, body)))
        assert not resp.ok and "not served here" in resp.body


# ---------------------------------------------------------------- the codec
STATUSES = [
    TransactionStatus(S.READY, None, b"\x11" * 32, (b"\x22" * 32, 3), None, "ready: offered"),
    TransactionStatus(S.DROPPED, DropReason.EVICTED, b"\x11" * 32, (b"\x22" * 32, 0), 5.25,
                      "evicted: mempool full, a ready transaction needed room"),
    TransactionStatus(S.UNKNOWN, None, b"\x33" * 32, None, None, ""),
    TransactionStatus(S.COMMITTED, None, None, (b"\x22" * 32, 2**64 - 1), 0.0, "é" * 10),
]


def test_codec_round_trips():
    req = rpc.decode_request(rpc.encode_request(Op.TXN_STATUS, 7,
                                                [b"\x01" * 32, (b"\x02" * 32, 9)]))
    assert req.body == [b"\x01" * 32, (b"\x02" * 32, 9)]
    assert rpc.decode_request(rpc.encode_request(Op.ACCOUNT_STATUS, 8, b"\x03" * 32)).body \
        == b"\x03" * 32
    assert rpc.decode_request(rpc.encode_request(Op.INSPECT, 9)).body is None
    resp = rpc.decode_response(rpc.encode_response(Op.TXN_STATUS, 1, STATUSES))
    assert resp.body == STATUSES
    account = AccountStatus(b"\x04" * 32, 7, (7, 8), (10, 12), 9)
    assert rpc.decode_response(rpc.encode_response(Op.ACCOUNT_STATUS, 2, account)).body \
        == account
    empty = AccountStatus(b"\x04" * 32, 0, (), (), None)
    assert rpc.decode_response(rpc.encode_response(Op.ACCOUNT_STATUS, 2, empty)).body == empty
    assert rpc.decode_response(rpc.encode_response(Op.INSPECT, 3, {"a": 1})).body == {"a": 1}


def test_a_long_detail_is_cut_at_a_character_boundary():
    status = TransactionStatus(S.UNKNOWN, None, None, None, None, "é" * 40_000)
    back = rpc.decode_response(rpc.encode_response(Op.TXN_STATUS, 1, [status])).body[0]
    assert back.detail == "é" * (rpc.MAX_DETAIL // 2)


def _status_frame(head: bytes, extra: bytes = b"", detail: bytes = b"") -> bytes:
    return (struct.pack("<BBIB", rpc.PROTOCOL_VERSION, Op.TXN_STATUS, 1, 1)
            + struct.pack("<I", 1) + head + extra + struct.pack("<H", len(detail)) + detail)


@pytest.mark.parametrize("frame, reason", [
    (_status_frame(bytes([9, 0, 0])), "unknown transaction state"),
    (_status_frame(bytes([S.READY, 2, 0])), "a drop reason"),
    (_status_frame(bytes([S.DROPPED, 0, 0])), "unknown drop reason"),
    (_status_frame(bytes([S.DROPPED, 1, 0])), "unknown drop reason"),  # COMMITTED is a state
    (_status_frame(bytes([S.READY, 0, 8])), "status flags"),
    (_status_frame(bytes([S.READY, 0, 4]), struct.pack("<d", float("nan"))), "not finite"),
    (_status_frame(bytes([S.READY, 0, 4]), struct.pack("<d", float("inf"))), "not finite"),
    (_status_frame(bytes([S.READY, 0, 0]), b"", b"\xff\xfe"), "not UTF-8"),
    (_status_frame(bytes([S.READY, 0, 1]), b"\x01" * 31), "truncated"),
])
def test_strict_transaction_status_decoding(frame, reason):
    with pytest.raises(RpcError, match=reason):
        rpc.decode_response(frame)


def _account_frame(has_blocked: int, blocked: int, ready, parked) -> bytes:
    return (struct.pack("<BBIB", rpc.PROTOCOL_VERSION, Op.ACCOUNT_STATUS, 1, 1)
            + struct.pack("<32sQBQ", b"\x01" * 32, 3, has_blocked, blocked)
            + struct.pack(f"<I{len(ready)}Q", len(ready), *ready)
            + struct.pack(f"<I{len(parked)}Q", len(parked), *parked))


@pytest.mark.parametrize("frame, reason", [
    (_account_frame(2, 0, [], []), "blocked_on"),
    (_account_frame(0, 5, [], []), "blocked_on"),
    (_account_frame(0, 0, [4, 3], []), "strictly increasing"),
    (_account_frame(1, 5, [3], [7, 7]), "strictly increasing"),
    (_account_frame(0, 0, [], [])[:-1], "truncated"),
    (_account_frame(0, 0, [], []) + b"\0", "trailing"),
])
def test_strict_account_status_decoding(frame, reason):
    with pytest.raises(RpcError, match=reason):
        rpc.decode_response(frame)


def test_strict_request_decoding():
    head = struct.pack("<BBI", rpc.PROTOCOL_VERSION, Op.TXN_STATUS, 1)
    with pytest.raises(RpcError, match="unknown key kind"):
        rpc.decode_request(head + struct.pack("<I", 1) + b"\x02" + b"\0" * 40)
    with pytest.raises(RpcError, match="count"):
        rpc.decode_request(head + struct.pack("<I", 2) + b"\x00" + b"\0" * 32)
    with pytest.raises(RpcError, match="truncated"):
        rpc.decode_request(struct.pack("<BBI", rpc.PROTOCOL_VERSION, Op.ACCOUNT_STATUS, 1)
                           + b"\0" * 31)
    with pytest.raises((TypeError, ValueError)):
        rpc.encode_request(Op.TXN_STATUS, 1, [b"\0" * 31])
