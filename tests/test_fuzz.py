"""Fuzzing: every decoder of outside bytes, and the inbound path fed by a hostile peer.

Each decoder either returns a value that re-encodes to the same bytes or raises its documented
error (MalformedTransaction, MalformedMessage, RpcError), never anything else. Inputs are random
bytes and structure-aware mutations of valid encodings (bit flips, truncation, extension,
overwritten length fields, splices). The CI variants run a few thousand cases; the slow ones
(`python -m pytest -m slow tests/test_fuzz.py`) many thousands more.
"""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mempool_fast import MalformedMessage, MalformedTransaction, MempoolConfig, SignedTransaction
from mempool_fast import rpc
from mempool_fast.messages import Ack, BroadcastRequest, decode, encode, encode_broadcast
from mempool_fast.network.inprocess import InProcessNetwork
from mempool_fast.shared import SharedMempool
from mempool_fast.storage import InMemoryAccountStore
from mempool_fast.types import MempoolAddTransactionStatus, MempoolAddTransactionStatusCode

FAST = settings(max_examples=1_500, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=50_000, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------ valid encodings to mutate
def _samples():
    import nacl.signing
    key = nacl.signing.SigningKey(b"\x07" * 32)
    txns = [SignedTransaction.create(key, i, payload=bytes(range(i * 7 % 256)) * (i % 3),
                                     gas_unit_price=i + 1, max_gas_amount=1000 + i)
            for i in range(4)]
    ptrs = [t.pointer for t in txns]
    ok = MempoolAddTransactionStatus(MempoolAddTransactionStatusCode.VALID, "")
    return txns, {
        "txn": [t.to_bytes() for t in txns],
        "message": [encode_broadcast(0, 4, txns), encode_broadcast(7, 9, txns[:1]),
                    encode(Ack(1, 2, True, False)), encode(Ack(3, 9, False, True))],
        "request": [rpc.encode_request(rpc.Op.SUBMIT, 1, txns),
                    rpc.encode_request(rpc.Op.STATUS, 2, ptrs),
                    rpc.encode_request(rpc.Op.GET_BLOCK, 3, (10, ptrs[:2])),
                    rpc.encode_request(rpc.Op.COMMIT, 4, (5.0, ptrs[:1], ptrs[1:])),
                    rpc.encode_request(rpc.Op.STATS, 5)],
        "response": [rpc.encode_response(rpc.Op.SUBMIT, 1, [ok, ok]),
                     rpc.encode_response(rpc.Op.STATUS, 2, [rpc.TxnState.READY]),
                     rpc.encode_response(rpc.Op.GET_BLOCK, 3, txns[:2]),
                     rpc.encode_response(rpc.Op.COMMIT, 4),
                     rpc.encode_response(rpc.Op.STATS, 5, {"a": [1, 2]}),
                     rpc.error_response(1, 6, "no")],
    }


TXNS, SAMPLES = _samples()


def mutate(rng: random.Random, data: bytes, others: list[bytes]) -> bytes:
    """One to three structure-blind edits of a valid encoding."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(7)
        if op == 0 and buf:  # flip a bit
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1:  # truncate
            del buf[rng.randrange(len(buf) + 1):]
        elif op == 2:  # extend
            buf += rng.randbytes(rng.randint(1, 40))
        elif op == 3 and len(buf) >= 4:  # overwrite a 32-bit field (lengths, counts)
            i = rng.randrange(len(buf) - 3)
            value = rng.choice([0, 1, 0xFFFFFFFF, 0x7FFFFFFF, len(buf), rng.getrandbits(32)])
            buf[i:i + 4] = struct.pack("<I", value)
        elif op == 4:  # splice with another valid encoding
            other = rng.choice(others)
            cut = rng.randrange(len(buf) + 1)
            buf = buf[:cut] + other[rng.randrange(len(other) + 1):]
        elif op == 5 and buf:  # change the version / type bytes
            buf[rng.randrange(min(len(buf), 3))] = rng.randrange(256)
        elif op == 6 and buf:  # delete a run
            i = rng.randrange(len(buf))
            del buf[i:i + rng.randint(1, 16)]
    return bytes(buf)


def fuzz_inputs(kind: str):
    """Random bytes, or a mutation of one of `kind`'s valid encodings."""
    samples = SAMPLES[kind]
    mutated = st.builds(lambda seed, i: mutate(random.Random(seed), samples[i % len(samples)],
                                               samples),
                        st.integers(0, 2**32), st.integers(0, len(samples) - 1))
    return st.one_of(st.binary(max_size=600), mutated, st.sampled_from(samples))


# ------------------------------------------------------------------ decoder properties
def check_txn(data: bytes) -> None:
    try:
        txn = SignedTransaction.from_bytes(data)
    except MalformedTransaction:
        return
    assert txn.to_bytes() == data
    assert SignedTransaction.from_bytes(txn.to_bytes()) == txn


def check_message(data: bytes) -> None:
    try:
        message = decode(data)
    except MalformedMessage:
        return
    assert encode(message) == data
    if isinstance(message, BroadcastRequest):
        good, bad = message.transactions()  # never raises: bad ones are counted
        assert len(good) + bad == len(message.txns)


def check_request(data: bytes) -> None:
    try:
        req = rpc.decode_request(data)
    except rpc.RpcError:
        return
    again = rpc.decode_request(rpc.encode_request(req.op, req.request_id, req.body))
    assert again == req


def check_response(data: bytes) -> None:
    try:
        resp = rpc.decode_response(data)
    except rpc.RpcError:
        return
    assert isinstance(resp.ok, bool)
    if resp.ok:
        again = rpc.decode_response(rpc.encode_response(rpc.Op(resp.op), resp.request_id,
                                                        resp.body))
        assert again == resp


CHECKS = {"txn": check_txn, "message": check_message, "request": check_request,
          "response": check_response}


@pytest.mark.parametrize("kind", sorted(CHECKS))
def test_decoders_never_crash(kind):
    @FAST
    @given(fuzz_inputs(kind))
    def run(data):
        CHECKS[kind](data)

    run()


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(CHECKS))
def test_decoders_never_crash_long(kind):
    @SLOW
    @given(fuzz_inputs(kind))
    def run(data):
        CHECKS[kind](data)

    run()


def test_deeply_nested_stats_json_is_an_rpc_error():
    head = rpc.encode_response(rpc.Op.STATS, 1, {})[:-2]
    with pytest.raises(rpc.RpcError):
        rpc.decode_response(head + b"[" * 100_000)


# ------------------------------------------------------------------ the inbound path
def _hostile_messages(rng: random.Random, foreign: list[SignedTransaction], n: int):
    """Garbage, mutated broadcasts and acks, and well-formed broadcasts whose transactions
    are corrupt, badly signed or from an account the node does not know."""
    base = [encode_broadcast(0, len(foreign), foreign), encode(Ack(1, 5, False, False))]
    for i in range(n):
        kind = i % 4
        if kind == 0:
            yield rng.randbytes(rng.randint(0, 300))
        elif kind == 1:
            yield mutate(rng, rng.choice(base), base)
        elif kind == 2:  # valid envelope, corrupt transaction bytes inside
            wires = [mutate(rng, t.to_bytes(), [t.to_bytes()]) for t in foreign]
            yield encode(BroadcastRequest(rng.randint(0, 9), rng.randint(10, 99), tuple(wires)))
        else:  # valid envelope, signature bit flipped
            wires = []
            for t in foreign:
                w = bytearray(t.to_bytes())
                w[-1 - rng.randrange(64)] ^= 1 << rng.randrange(8)
                wires.append(bytes(w))
            yield encode(BroadcastRequest(1, 2, tuple(wires)))


def run_inbound_fuzz(core_cls, clock, accounts, seed: int, n: int) -> dict:
    hub = InProcessNetwork(queue_size=1 << 20, send_timeout=0)
    store = InMemoryAccountStore()
    for i in range(3):
        store.set_account(accounts.address(i), 0, 10**12)
    config = MempoolConfig()
    node = SharedMempool(config, hub.endpoint("node"), store,
                         mempool=core_cls(config, clock=clock), clock=clock)
    evil = hub.endpoint("evil")
    hub.connect("node", "evil")
    held = [accounts.txn(i, s) for i in range(3) for s in range(2)]
    node.submit_transactions(held)
    before = (len(node.mempool), node.mempool.last_timeline_id(),
              {t.pointer: node.mempool.get(*t.pointer) for t in held})
    foreign = [accounts.txn(50, s) for s in range(3)]  # an account the node does not know
    rng = random.Random(seed)
    expect_bad_messages = expect_bad_txns = 0
    sent = 0
    for data in _hostile_messages(rng, foreign, n):
        try:
            message = decode(data)
        except MalformedMessage:
            expect_bad_messages += 1
        else:
            if isinstance(message, BroadcastRequest):
                expect_bad_txns += message.transactions()[1]
        assert evil.send("node", data)
        sent += 1
    assert node.pump() == sent + 1  # + the NEW_PEER event
    after = (len(node.mempool), node.mempool.last_timeline_id(),
             {t.pointer: node.mempool.get(*t.pointer) for t in held})
    assert after == before, "rejected input changed the mempool"
    assert node.malformed_messages == expect_bad_messages
    assert node.malformed_transactions == expect_bad_txns
    assert expect_bad_messages > 0 and expect_bad_txns > 0
    # the node still works: a good transaction from a peer is admitted
    good = accounts.txn(2, 2)
    evil.send("node", encode_broadcast(100, 101, [good]))
    node.pump()
    assert node.mempool.get(*good.pointer) == good
    return {"messages": sent, "malformed_messages": expect_bad_messages,
            "malformed_transactions": expect_bad_txns}


def test_hostile_peer_changes_nothing_and_is_counted(core_cls, clock, accounts):
    run_inbound_fuzz(core_cls, clock, accounts, seed=1, n=400)


@pytest.mark.slow
def test_hostile_peer_long(core_cls, clock, accounts):
    report = run_inbound_fuzz(core_cls, clock, accounts, seed=2, n=20_000)
    print(report)


# ------------------------------------------------------------------ the client endpoint
def test_client_endpoint_answers_every_hostile_request(tmp_path, accounts):
    """Node.handle (the client endpoint's request handler) on garbage and mutated requests:
    always a decodable reply, never an exception, and the mempool is unchanged by failures."""
    from mempool_fast.cluster import write_cluster
    from mempool_fast.node import Node, NodeConfig
    from mempool_fast.storage import SqliteAccountStore

    [spec] = write_cluster(tmp_path, 1)
    with SqliteAccountStore(spec.store) as store:
        store.set_accounts([(t.sender, 0, 10**12) for t in TXNS[:1]])
    node = Node(NodeConfig.load(spec.config))
    try:
        rng = random.Random(3)
        requests = SAMPLES["request"]
        errors = 0
        for i in range(1_500):
            data = rng.randbytes(rng.randint(0, 200)) if i % 3 == 0 else \
                mutate(rng, rng.choice(requests), requests)
            size = len(node.shared.mempool)
            reply = rpc.decode_response(node.handle(data))
            if not reply.ok:
                errors += 1
                assert len(node.shared.mempool) == size
        assert errors > 0
        ok = rpc.decode_response(node.handle(rpc.encode_request(rpc.Op.STATS, 9)))
        assert ok.ok and ok.request_id == 9
    finally:
        node.stop()
