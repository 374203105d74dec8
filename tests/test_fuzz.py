"""Fuzzing: every decoder of outside bytes, and the inbound paths fed by a hostile peer/client.

Decoders (transaction wire form, peer messages, client RPC requests and responses): each one
either returns a value that re-encodes consistently or raises its documented error
(MalformedTransaction, MalformedMessage, RpcError), never anything else. Inputs are random bytes
and structure-aware mutations of valid encodings: bit flips, truncation, extension, tampered
length/count fields (the walkers below know where they are), version/type/flag byte changes,
splices and concatenations of two encodings, deleted and duplicated runs. The CI variants run
1,000 cases per decoder; `python -m pytest -m slow -s tests/test_fuzz.py` runs 50,000 per
decoder and prints the outcome counts. The ZeroMQ transport has no decoder of its own (it checks
the frame count and size and hands the payload to `messages.decode`), so it is covered here.

Inbound path: a fake peer on an InProcessNetwork sends a real SharedMempool garbage, mutated
messages, absurd counts and ranges, reused batch ids, and well-formed broadcasts carrying
malformed, badly signed, wrongly addressed, unfunded, conflicting or oversized transactions,
mixed with a few valid ones. Every rejected item is counted exactly once where it belongs and
the mempool ends holding exactly what it held before plus the valid transactions (see
`Ledger`). `tests/fuzz/atheris_decoders.py` is the optional coverage-guided harness.
"""

from __future__ import annotations

import collections
import json
import math
import random
import re
import struct
from dataclasses import dataclass, field

import nacl.signing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import wait_until
from mempool_fast import MalformedMessage, MalformedTransaction, MempoolConfig, SignedTransaction
from mempool_fast import rpc
from mempool_fast.status import (AccountStatus, DropReason, TransactionState,
                                 TransactionStatus)
from mempool_fast import _impl
from mempool_fast.shared.protocol import (
    Ack, BroadcastRequest, BucketAck, BucketBroadcastRequest, Hello, decode, encode,
    encode_broadcast, encode_bucket_broadcast,
)
from mempool_fast.network.base import EventKind
from mempool_fast.network.inprocess import InProcessNetwork
from mempool_fast.shared import SharedMempool
from mempool_fast.storage import InMemoryAccountStore
from mempool_fast.transaction import MIN_WIRE_LEN, SIGNING_PREFIX
from mempool_fast.types import U64_MAX, MempoolAddTransactionStatus, TimelineState
from mempool_fast.types import MempoolAddTransactionStatusCode as Code

#: Every SignedTransaction implementation the build has; the txn property runs them all.
TXN_CLASSES = {"default": SignedTransaction,
               **{name: i.transaction for name, i in _impl.matrix().items()}}

FAST_CASES = 1_000
SLOW_CASES = 50_000
_SETTINGS = dict(deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ------------------------------------------------------------------ valid encodings to mutate
@dataclass(frozen=True)
class Sample:
    """A valid encoding, where its length/count fields are, and its version/type/flag bytes."""

    data: bytes
    fields: tuple[tuple[int, int], ...]  # (offset, width) of little-endian length/count fields
    tags: tuple[int, ...]  # offsets of single version/type/flag/code bytes


class _Walk:
    """Records field offsets while stepping through a valid encoding."""

    def __init__(self, data: bytes, pos: int, tags=()) -> None:
        self.data, self.pos = data, pos
        self.fields: list[tuple[int, int]] = []
        self.tags: list[int] = list(tags)

    def count(self, width: int = 4) -> int:
        self.fields.append((self.pos, width))
        (n,) = struct.unpack_from("<I" if width == 4 else "<H", self.data, self.pos)
        self.pos += width
        return n

    def skip(self, n: int) -> None:
        self.pos += n

    def txn(self, length: int) -> None:
        self.fields.append((self.pos + 64, 4))  # the transaction's own payload_len
        self.pos += length

    def blobs_of_txns(self) -> None:
        for _ in range(self.count()):
            self.txn(self.count())

    def sample(self) -> Sample:
        assert self.pos == len(self.data)
        return Sample(self.data, tuple(self.fields), tuple(self.tags))


def txn_sample(wire: bytes) -> Sample:
    w = _Walk(wire, 0)
    w.txn(len(wire))
    return w.sample()


def message_sample(data: bytes) -> Sample:
    if data[1] == 3:  # hello: incarnation, format length byte, format
        w = _Walk(data, 10, tags=(0, 1, 10))
        w.skip(1 + data[10])
        return w.sample()
    if data[1] in (4, 5):  # bucketed: range count byte, ranges, then as the plain ones
        w = _Walk(data, 3 + 16 * data[2], tags=(0, 1, 2))
        if data[1] == 5:  # the incarnation, then the flags byte
            w.skip(8)
            w.tags.append(w.pos)
            w.skip(1)
        else:
            w.blobs_of_txns()
        return w.sample()
    w = _Walk(data, 18, tags=(0, 1))
    if data[1] == 2:  # ack: the incarnation, then the flags byte
        w.skip(8)
        w.tags.append(26)
        w.skip(1)
    else:
        w.blobs_of_txns()
    return w.sample()


def request_sample(data: bytes) -> Sample:
    op = rpc.Op(data[1])
    w = _Walk(data, 6, tags=(0, 1))
    if op == rpc.Op.SUBMIT:
        w.blobs_of_txns()
    elif op == rpc.Op.STATUS:
        w.skip(40 * w.count())
    elif op == rpc.Op.GET_BLOCK:
        w.count()  # batch size
        w.skip(40 * w.count())
    elif op == rpc.Op.COMMIT:
        w.fields.append((w.pos, 8))  # block_time f64
        w.skip(8)
        w.skip(40 * w.count())
        w.skip(40 * w.count())
    elif op == rpc.Op.TXN_STATUS:
        for _ in range(w.count()):
            w.tags.append(w.pos)  # the key kind: 0 hash, 1 pointer
            w.skip(1 + (32 if data[w.pos] == 0 else 40))
    elif op == rpc.Op.ACCOUNT_STATUS:
        w.skip(32)
    return w.sample()


def response_sample(data: bytes) -> Sample:
    op = data[1]
    w = _Walk(data, 7, tags=(0, 1, 6))
    if not data[6]:
        w.skip(len(data) - 7)
    elif op == rpc.Op.SUBMIT:
        for _ in range(w.count()):
            w.tags.append(w.pos)
            w.skip(1)
            w.skip(w.count(2))
    elif op == rpc.Op.STATUS:
        n = w.count()
        w.tags.extend(range(w.pos, w.pos + n))
        w.skip(n)
    elif op == rpc.Op.GET_BLOCK:
        w.blobs_of_txns()
    elif op in (rpc.Op.STATS, rpc.Op.INSPECT):
        w.skip(len(data) - w.pos)
    elif op == rpc.Op.TXN_STATUS:
        for _ in range(w.count()):
            w.tags.extend((w.pos, w.pos + 1, w.pos + 2))  # state, reason, flags
            flags = data[w.pos + 2]
            w.skip(3 + (32 if flags & 1 else 0) + (40 if flags & 2 else 0))
            if flags & 4:
                w.fields.append((w.pos, 8))  # the time, f64
                w.skip(8)
            w.skip(w.count(2))
    elif op == rpc.Op.ACCOUNT_STATUS:
        w.skip(40)
        w.tags.append(w.pos)  # has_blocked
        w.skip(9)
        w.skip(8 * w.count())
        w.skip(8 * w.count())
    return w.sample()


def _samples() -> tuple[list[SignedTransaction], dict[str, list[Sample]]]:
    key = nacl.signing.SigningKey(b"\x07" * 32)
    txns = [SignedTransaction.create(key, i, payload=bytes(range(i * 7 % 256)) * (i % 3),
                                     gas_unit_price=i + 1, max_gas_amount=1000 + i,
                                     expiration_time=4_000_000_000)
            for i in range(4)]
    ptrs = [t.pointer for t in txns]
    statuses = [
        TransactionStatus(TransactionState.READY, None, b"\x11" * 32, ptrs[0], None,
                          "ready: offered to consensus"),
        TransactionStatus(TransactionState.DROPPED, DropReason.REPLACED, b"\x22" * 32,
                          ptrs[1], 1234.5, "replaced by 3333"),
        TransactionStatus(TransactionState.UNKNOWN, None, None, ptrs[2], None, "never seen"),
        TransactionStatus(TransactionState.COMMITTED, None, b"\x44" * 32, ptrs[3], 7.0, "")]
    account = AccountStatus(ptrs[0][0], 3, (3, 4), (6, 9), 5)
    ok = MempoolAddTransactionStatus(Code.VALID, "")
    full = MempoolAddTransactionStatus(Code.MEMPOOL_IS_FULL, "mempool is full")
    return txns, {
        "txn": [txn_sample(t.to_bytes()) for t in txns],
        "message": [message_sample(m) for m in (
            encode_broadcast(0, 4, txns), encode_broadcast(7, 9, txns[:1]),
            encode(BroadcastRequest(1, 2, ())), encode(Ack(1, 2, True, False)),
            encode(Ack(3, 9, False, True, 77)), encode(Hello(5, "mempool_fast")),
            encode_bucket_broadcast((0, 4, 2, 2, 7, 9), txns[:2]),
            encode(BucketAck((1, 2, 5, 5), True, False, 3)))],
        "request": [request_sample(r) for r in (
            rpc.encode_request(rpc.Op.SUBMIT, 1, txns),
            rpc.encode_request(rpc.Op.STATUS, 2, ptrs),
            rpc.encode_request(rpc.Op.GET_BLOCK, 3, (10, ptrs[:2])),
            rpc.encode_request(rpc.Op.COMMIT, 4, (5.0, ptrs[:1], ptrs[1:])),
            rpc.encode_request(rpc.Op.STATS, 5),
            rpc.encode_request(rpc.Op.TXN_STATUS, 6, [b"\x11" * 32, ptrs[1], ptrs[2]]),
            rpc.encode_request(rpc.Op.ACCOUNT_STATUS, 7, ptrs[0][0]),
            rpc.encode_request(rpc.Op.INSPECT, 8),
            rpc.encode_request(rpc.Op.INSPECT, 0xFFFF))],
        "response": [response_sample(r) for r in (
            rpc.encode_response(rpc.Op.SUBMIT, 1, [ok, full]),
            rpc.encode_response(rpc.Op.STATUS, 2, [rpc.TxnState.READY, rpc.TxnState.UNKNOWN]),
            rpc.encode_response(rpc.Op.GET_BLOCK, 3, txns[:2]),
            rpc.encode_response(rpc.Op.COMMIT, 4),
            rpc.encode_response(rpc.Op.STATS, 5, {"a": [1, 2], "b": {"c": None}}),
            rpc.encode_response(rpc.Op.TXN_STATUS, 7, statuses),
            rpc.encode_response(rpc.Op.ACCOUNT_STATUS, 8, account),
            rpc.encode_response(rpc.Op.ACCOUNT_STATUS, 9,
                                AccountStatus(ptrs[1][0], 0, (), (), None)),
            rpc.encode_response(rpc.Op.INSPECT, 10, {"pending": {"ready": 1}}),
            rpc.error_response(1, 6, "no"))],
    }


TXNS, SAMPLES = _samples()

_FIELD_VALUES = (0, 1, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF)


def _tamper_field(rng: random.Random, buf: bytearray, offset: int, width: int) -> None:
    if width == 8:  # the COMMIT block_time
        value = rng.choice([math.inf, -math.inf, math.nan, -1.0, -0.0, 1e300, 5e-324])
        buf[offset:offset + 8] = struct.pack("<d", value)
        return
    fmt = "<I" if width == 4 else "<H"
    (old,) = struct.unpack_from(fmt, buf, offset)
    value = rng.choice([old + 1, old - 1, old * 2, len(buf), len(buf) - offset - width,
                        rng.getrandbits(8 * width), *_FIELD_VALUES])
    buf[offset:offset + width] = struct.pack(fmt, value % (1 << (8 * width)))


def mutate(rng: random.Random, sample: Sample, others: list[Sample]) -> bytes:
    """One to three edits of a valid encoding, half of them aware of its structure."""
    buf = bytearray(sample.data)
    structured = True  # field offsets hold until the first edit that moves bytes
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(10)
        if op == 0 and buf:  # flip a bit
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1:  # truncate
            del buf[rng.randrange(len(buf) + 1):]
            structured = False
        elif op == 2:  # extend with random bytes or a copy of the tail
            tail = bytes(buf[-rng.randint(1, 64):]) if buf and rng.random() < 0.5 else \
                rng.randbytes(rng.randint(1, 40))
            buf += tail
        elif op == 3 and structured and sample.fields:  # tamper a length/count field
            offset, width = rng.choice(sample.fields)
            _tamper_field(rng, buf, offset, width)
        elif op == 3 and len(buf) >= 4:  # blind: overwrite a 32-bit window
            i = rng.randrange(len(buf) - 3)
            buf[i:i + 4] = struct.pack("<I", rng.choice([len(buf), *_FIELD_VALUES]))
        elif op == 4:  # splice: a prefix of this, a suffix of another
            other = rng.choice(others).data
            buf = buf[:rng.randrange(len(buf) + 1)] + other[rng.randrange(len(other) + 1):]
            structured = False
        elif op == 5:  # two whole encodings back to back
            buf = buf + rng.choice(others).data if rng.random() < 0.5 else \
                bytearray(rng.choice(others).data) + buf
            structured = False
        elif op == 6 and structured and sample.tags:  # version / type / flag / code byte
            buf[rng.choice(sample.tags)] = rng.choice([0, 1, 2, 3, 5, 6, 11, 0x7F, 0xFF,
                                                       rng.randrange(256)])
        elif op == 7 and buf:  # delete a run
            i = rng.randrange(len(buf))
            del buf[i:i + rng.randint(1, 16)]
            structured = False
        elif op == 8 and buf:  # duplicate a run in place
            i = rng.randrange(len(buf))
            buf[i:i] = buf[i:i + rng.randint(1, 48)]
            structured = False
        elif op == 9 and buf:  # overwrite a window with bytes of another encoding
            other = rng.choice(others).data
            i, j = rng.randrange(len(buf)), rng.randrange(len(other))
            chunk = other[j:j + rng.randint(1, 40)]
            buf[i:i + len(chunk)] = chunk
    return bytes(buf)


def fuzz_inputs(kind: str):
    """Random bytes, a valid encoding of `kind`, or a mutation of one. Most mutations draw from
    a `random.Random` seeded by Hypothesis (uniform over positions); some let Hypothesis drive
    the random choices itself (biased to small values, and shrinkable)."""
    samples = SAMPLES[kind]
    seeded = st.builds(lambda seed, s: mutate(random.Random(seed), s, samples),
                       st.integers(0, 2**64 - 1), st.sampled_from(samples))
    driven = st.builds(lambda rng, s: mutate(rng, s, samples),
                       st.randoms(use_true_random=False), st.sampled_from(samples))
    raw = st.sampled_from([s.data for s in samples])
    return st.one_of(st.binary(max_size=400), seeded, seeded, seeded, driven, raw)


# ------------------------------------------------------------------ decoder properties
def _check_decoded_txn(txn, data: bytes) -> None:
    assert txn.to_bytes() == data
    assert txn.sender == data[:32]
    assert (txn.sequence_number, txn.max_gas_amount, txn.gas_unit_price,
            txn.expiration_time) == struct.unpack_from("<QQQQ", data, 32)
    assert txn.payload == data[68:-96] and txn.public_key == data[-96:-64]
    assert txn.signature == data[-64:]
    assert txn.signing_message() == SIGNING_PREFIX + data[:-96]
    assert txn.pointer == (data[:32], txn.sequence_number)
    again = type(txn).from_bytes(txn.to_bytes())
    assert again == txn and hash(again) == hash(txn)


def check_txn(data: bytes) -> None:
    """Every SignedTransaction implementation agrees: all reject, or all decode equal values."""
    results = []
    for cls in TXN_CLASSES.values():
        try:
            results.append(cls.from_bytes(data))
        except MalformedTransaction as exc:
            results.append(exc)
    rejected = [isinstance(r, MalformedTransaction) for r in results]
    assert len(set(rejected)) == 1, (sorted(TXN_CLASSES), results)
    if rejected[0]:
        raise results[0]
    for txn in results:
        _check_decoded_txn(txn, data)
        assert txn == results[0] and results[0] == txn and hash(txn) == hash(results[0])


def check_message(data: bytes) -> None:
    message = decode(data)
    assert encode(message) == data
    if isinstance(message, Hello):
        assert 0 <= message.incarnation <= U64_MAX and message.format.isidentifier()
        return
    if isinstance(message, (BucketAck, BucketBroadcastRequest)):
        pairs = list(zip(message.ranges[::2], message.ranges[1::2]))
        assert 1 <= len(pairs) <= 64 and all(a <= b <= U64_MAX for a, b in pairs)
        assert any(a < b for a, b in pairs)
    else:
        assert message.batch_start < message.batch_end <= U64_MAX
    if isinstance(message, (BroadcastRequest, BucketBroadcastRequest)):
        good, bad = message.transactions()  # never raises: malformed ones are counted
        assert len(good) + bad == len(message.txns)
        wires = set(message.txns)
        assert all(t.to_bytes() in wires for t in good)


def check_request(data: bytes) -> None:
    req = rpc.decode_request(data)
    assert rpc.encode_request(req.op, req.request_id, req.body) == data
    if req.op == rpc.Op.SUBMIT:
        assert all(isinstance(t, SignedTransaction) for t in req.body)
    elif req.op == rpc.Op.COMMIT:
        assert 0.0 <= req.body[0] < math.inf


def check_response(data: bytes) -> None:
    resp = rpc.decode_response(data)
    assert isinstance(resp.ok, bool)
    if not resp.ok:
        assert isinstance(resp.body, str)
        return
    if resp.op == rpc.Op.STATS:
        assert isinstance(resp.body, dict)
    again = rpc.decode_response(rpc.encode_response(rpc.Op(resp.op), resp.request_id, resp.body))
    if resp.op == rpc.Op.STATS:  # NaN != NaN: compare the canonical JSON text
        assert json.dumps(again.body, sort_keys=True) == json.dumps(resp.body, sort_keys=True)
    else:
        assert again == resp


CHECKS = {"txn": (check_txn, MalformedTransaction), "message": (check_message, MalformedMessage),
          "request": (check_request, rpc.RpcError), "response": (check_response, rpc.RpcError)}

#: Rejection reasons each decoder must meet among the CI cases: proof that the mutations get
#: past the first checks into the length, count and body parsing.
MUST_REACH = {
    "txn": {"shorter than the minimum", "payload length"},
    "message": {"unsupported message version", "unknown message type", "ack is",
                "unknown ack flags", "empty batch range", "exceeds what", "runs past",
                "trailing bytes", "shorter than its header", "bucket ranges"},
    "request": {"shorter than its", "protocol version", "unknown op", "truncated",
                "count", "blob of", "transaction", "trailing bytes", "block_time",
                "unknown key kind"},
    "response": {"shorter than its head", "protocol version", "unknown op", "truncated",
                 "count", "unknown status code", "TxnState", "bad stats JSON", "trailing bytes",
                 "transaction", "unknown transaction state", "drop reason", "status flags",
                 "not finite", "blocked_on", "strictly increasing", "bad inspect JSON"},
}


def run_decoder_fuzz(kind: str, cases: int) -> collections.Counter:
    """Run `cases` Hypothesis examples against one decoder; count outcomes by reason."""
    check, error = CHECKS[kind]
    outcomes: collections.Counter = collections.Counter()

    @settings(max_examples=cases, **_SETTINGS)
    @given(fuzz_inputs(kind))
    def run(data):
        try:
            check(data)
        except error as exc:  # the documented rejection; anything else fails the test
            outcomes["rejected: " + re.sub(r"-?\d+(\.\d+)?(e[+-]?\d+)?", "N", str(exc))[:60]] += 1
        else:
            outcomes["decoded"] += 1

    run()
    return outcomes


def _reached(outcomes: collections.Counter, reason: str) -> bool:
    return any(reason in key for key in outcomes)


@pytest.mark.parametrize("kind", sorted(CHECKS))
def test_decoders_never_crash(kind):
    outcomes = run_decoder_fuzz(kind, FAST_CASES)
    total = sum(outcomes.values())
    assert total >= FAST_CASES * 0.9, outcomes  # Hypothesis may stop early on duplicates
    assert outcomes["decoded"] >= total // 50, outcomes  # some mutations stay valid
    missing = {r for r in MUST_REACH[kind] if not _reached(outcomes, r)}
    assert not missing, (missing, outcomes)


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(CHECKS))
def test_decoders_never_crash_long(kind):
    outcomes = run_decoder_fuzz(kind, SLOW_CASES)
    total = sum(outcomes.values())
    print(f"\n{kind}: {total} cases, {outcomes['decoded']} decoded, "
          f"{total - outcomes['decoded']} rejected in {len(outcomes) - 1} distinct ways")
    assert total >= SLOW_CASES * 0.9
    assert all(_reached(outcomes, r) for r in MUST_REACH[kind])


NOT_BYTES = (None, "text", 3.5, [1, 2, 3], object(), 12, -1)


@pytest.mark.parametrize("kind", ["message", "request", "response"])
def test_decoders_refuse_what_is_not_bytes(kind):
    decoder = {"message": decode, "request": rpc.decode_request,
               "response": rpc.decode_response}[kind]
    for value in NOT_BYTES + (MIN_WIRE_LEN, 10**15):  # ints never become zero-filled frames
        with pytest.raises(CHECKS[kind][1]):
            decoder(value)


@pytest.mark.parametrize("impl", sorted(TXN_CLASSES))
def test_transaction_decoder_refuses_what_is_not_bytes(impl):
    # an int n must not become n zero bytes (196 would decode to an all-zero transaction)
    for value in NOT_BYTES + (MIN_WIRE_LEN, 10**15):
        with pytest.raises(MalformedTransaction):
            TXN_CLASSES[impl].from_bytes(value)


@pytest.mark.parametrize("impl", sorted(TXN_CLASSES))
def test_transaction_decoder_takes_every_bytes_like(impl):
    wire = TXNS[1].to_bytes()
    for data in (bytearray(wire), memoryview(wire), type("B", (bytes,), {})(wire)):
        assert TXN_CLASSES[impl].from_bytes(data) == TXNS[1]


def test_deeply_nested_stats_json_is_an_rpc_error():
    head = rpc.encode_response(rpc.Op.STATS, 1, {})[:-2]
    with pytest.raises(rpc.RpcError):
        rpc.decode_response(head + b"[" * 100_000)


@pytest.mark.parametrize("body", [b"[1, 2]", b"3", b'"text"', b"null"])
def test_stats_body_must_be_a_json_object(body):
    head = rpc.encode_response(rpc.Op.STATS, 1, {})[:-2]
    with pytest.raises(rpc.RpcError, match="not an object"):
        rpc.decode_response(head + body)


@pytest.mark.parametrize("block_time", [math.inf, -math.inf, math.nan, -1.0])
def test_commit_block_time_must_be_finite(block_time):
    # an infinite block time would expire every pending transaction at once
    with pytest.raises(rpc.RpcError, match="block_time"):
        rpc.decode_request(rpc.encode_request(rpc.Op.COMMIT, 1, (block_time, [], [])))


# ------------------------------------------------------------------ the inbound path
INBOUND_CONFIG = dict(max_payload_bytes=256, max_gas_amount=10_000,
                      shared_mempool_tick_interval_ms=10**9,
                      system_transaction_gc_interval_ms=10**9,
                      shared_mempool_poll_interval_ms=20,
                      shared_mempool_max_concurrent_inbound_syncs=4)
HELD = (0, 1, 2)  # funded accounts with transactions the node holds before the attack
ADMIT = 3  # funded, no transactions: the valid ones the peer slips in come from here
POOR = 4  # known, balance 0
AHEAD = 5  # known, stored sequence number 10
FOREIGN = 50  # unknown to the node
WINDOW = 8  # broadcasts the threaded variant's fake peer keeps unacknowledged


@dataclass
class Ledger:
    """What a hostile stream must do to the node, built from what the generator put in.

    Constructed items are predicted from their construction; random and mutated bytes use the
    decoders (fuzzed above) as the oracle for which messages and transactions decode. Every
    decodable transaction in a random or mutated item comes from an account the node does not
    know, or has a broken signature or sender, so it must be rejected (`rejected_any`).
    """

    messages: list[bytes] = field(default_factory=list)
    broadcast_ids: list[tuple[int, int]] = field(default_factory=list)  # acked, in order
    acks: int = 0  # well-formed acks (all stale: the node never sent this peer anything)
    malformed_messages: int = 0
    malformed_transactions: int = 0
    codes: collections.Counter = field(default_factory=collections.Counter)
    rejected_any: int = 0
    admitted: dict = field(default_factory=dict)  # pointer -> the txn that must be admitted

    def add_oracle(self, data: bytes) -> None:
        self.messages.append(data)
        try:
            message = decode(data)
        except MalformedMessage:
            self.malformed_messages += 1
            return
        if isinstance(message, (Ack, BucketAck)):
            self.acks += 1
            return
        good, bad = message.transactions()
        self.broadcast_ids.append(message.batch_id)
        self.malformed_transactions += bad
        self.rejected_any += len(good)

    def add_broadcast(self, batch_id, wires, *, malformed=0, codes=(), admitted=()) -> None:
        self.messages.append(encode(BroadcastRequest(*batch_id, tuple(wires))))
        self.broadcast_ids.append(tuple(batch_id))
        self.malformed_transactions += malformed
        self.codes.update(codes)
        for txn in admitted:
            self.admitted[txn.pointer] = txn

    def add_malformed(self, data: bytes) -> None:
        self.messages.append(data)
        self.malformed_messages += 1


def _flip_signature(rng: random.Random, txn: SignedTransaction) -> bytes:
    wire = bytearray(txn.to_bytes())
    wire[-1 - rng.randrange(64)] ^= 1 << rng.randrange(8)
    return bytes(wire)


def _wrong_sender(accounts, index: int, seq: int) -> SignedTransaction:
    """Signed correctly by `index`'s key, but claiming another account as its sender."""
    key = accounts.key(index)
    good = accounts.txn(index, seq)
    fields = dict(sender=accounts.address(index + 1), sequence_number=seq, payload=b"",
                  max_gas_amount=good.max_gas_amount, gas_unit_price=good.gas_unit_price,
                  expiration_time=good.expiration_time, public_key=good.public_key,
                  signature=b"\0" * 64)
    unsigned = SignedTransaction(**fields)
    fields["signature"] = key.sign(unsigned.signing_message()).signature
    return SignedTransaction(**fields)


def hostile_stream(seed: int, n: int, accounts) -> Ledger:
    """`n` hostile messages (plus a few valid transactions) and what they must do."""
    rng = random.Random(seed)
    foreign = [accounts.txn(FOREIGN, s, payload=bytes([s]) * s) for s in range(4)]
    bases = [message_sample(encode_broadcast(0, 4, foreign)),
             message_sample(encode_broadcast(5, 6, foreign[:1])),
             message_sample(encode(Ack(1, 5, False, False))),
             message_sample(encode_bucket_broadcast((0, 4, 5, 5), foreign)),
             message_sample(encode(BucketAck((1, 5, 0, 2), False, True)))]
    foreign_samples = [txn_sample(t.to_bytes()) for t in foreign]
    ledger = Ledger()
    next_admit = 0
    for i in range(n):
        kind = i % 12
        batch_id = (1, 2) if rng.random() < 0.5 else (rng.randrange(100), 100 + rng.randrange(9))
        if kind == 0:  # random bytes
            ledger.add_oracle(rng.randbytes(rng.randint(0, 300)))
        elif kind in (1, 2):  # mutated broadcasts and acks
            ledger.add_oracle(mutate(rng, rng.choice(bases), bases))
        elif kind == 3:  # a valid envelope of mutated transactions
            wires = [mutate(rng, s, foreign_samples) for s in foreign_samples]
            ledger.add_oracle(encode(BroadcastRequest(*batch_id, tuple(wires))))
        elif kind == 4:  # badly signed copies of transactions the node holds or would accept
            victims = [accounts.txn(rng.choice(HELD), rng.randrange(3)), accounts.txn(ADMIT, 99)]
            ledger.add_broadcast(batch_id, [_flip_signature(rng, t) for t in victims],
                                 codes={Code.INVALID_SIGNATURE: 2})
        elif kind == 5:  # well signed, but wrong sender / unknown / poor / stale / too big
            ledger.add_broadcast(batch_id, [
                _wrong_sender(accounts, ADMIT, 0).to_bytes(),
                accounts.txn(FOREIGN, rng.randrange(5)).to_bytes(),
                accounts.txn(POOR, 0, gas_price=1).to_bytes(),
                accounts.txn(AHEAD, rng.randrange(10)).to_bytes(),
                accounts.txn(ADMIT, 0, max_gas=10_001).to_bytes(),
                accounts.txn(ADMIT, 0, payload=b"x" * 257).to_bytes()],
                codes={Code.INVALID_SENDER: 1, Code.UNKNOWN_ACCOUNT: 1,
                       Code.INSUFFICIENT_BALANCE: 1, Code.INVALID_SEQ_NUMBER: 1,
                       Code.MAX_GAS_TOO_HIGH: 1, Code.PAYLOAD_TOO_LARGE: 1})
        elif kind == 6:  # conflicting versions of held transactions; and identical replays
            index, seq = rng.choice(HELD), rng.randrange(2)
            ledger.add_broadcast(batch_id, [
                accounts.txn(index, seq, payload=b"other").to_bytes(),  # same price: no update
                accounts.txn(index, seq, gas_price=0).to_bytes(),  # lower price: no update
                accounts.txn(index, seq).to_bytes()],  # byte-identical: VALID, changes nothing
                codes={Code.INVALID_UPDATE: 2, Code.VALID: 1})
        elif kind == 7:  # absurd counts, lengths and ranges in an otherwise valid broadcast
            good = encode_broadcast(3, 4, foreign[:2])
            choice = rng.randrange(5)
            if choice == 0:  # count far beyond the bytes
                ledger.add_malformed(good[:18] + struct.pack("<I", 0xFFFFFFFF) + good[22:])
            elif choice == 1:  # a transaction length far beyond the bytes
                ledger.add_malformed(good[:22] + struct.pack("<I", 0xFFFFFFFF) + good[26:])
            elif choice == 2:  # empty or inverted range
                start = rng.randrange(U64_MAX)
                end = start - rng.randrange(min(start, 5) + 1)
                ledger.add_malformed(struct.pack("<BBQQI", 1, 1, start, end, 0))
            elif choice == 3:  # nothing in it, widest range: valid, acked, admits nothing
                ledger.add_broadcast((0, U64_MAX), [])
            else:  # many empty and truncated transactions in a valid envelope
                count = rng.randint(1, 60)
                ledger.add_broadcast(batch_id, [b""] * count + [foreign[0].to_bytes()[:-1]],
                                     malformed=count + 1)
        elif kind == 8:  # one badly signed transaction repeated many times in one batch
            wire = _flip_signature(rng, foreign[1])
            count = rng.randint(20, 200)
            ledger.add_broadcast(batch_id, [wire] * count, codes={Code.INVALID_SIGNATURE: count})
        elif kind == 9 and next_admit < 30:  # valid transactions mixed with garbage
            txn = accounts.txn(ADMIT, next_admit, gas_price=2)
            next_admit += 1
            ledger.add_broadcast(batch_id, [b"\x01" * 7, txn.to_bytes(), _flip_signature(
                rng, txn)], malformed=1, admitted=[txn],
                codes={Code.VALID: 1, Code.INVALID_SIGNATURE: 1})
        else:  # well-formed acks for batches never sent
            start = rng.randrange(1000)
            ledger.messages.append(encode(Ack(start, start + 1 + rng.randrange(9),
                                              rng.random() < 0.5, rng.random() < 0.2)))
            ledger.acks += 1
    return ledger


def inbound_node(core_cls, clock, accounts):
    """A node holding six local transactions, and the fake peer `evil` connected to it."""
    hub = InProcessNetwork(queue_size=1 << 20, send_timeout=0)
    store = InMemoryAccountStore()
    for index in (*HELD, ADMIT):
        store.set_account(accounts.address(index), 0, 10**12)
    store.set_account(accounts.address(POOR), 0, 0)
    store.set_account(accounts.address(AHEAD), 10, 10**12)
    config = MempoolConfig(**INBOUND_CONFIG)
    node = SharedMempool(config, hub.endpoint("node"), store,
                         mempool=core_cls(config, clock=clock), clock=clock)
    held = [accounts.txn(i, s) for i in HELD for s in range(2)]
    assert all(s.code == Code.VALID for s in node.submit_transactions(held))
    evil = hub.endpoint("evil")
    hub.connect("node", "evil")
    return node, evil, held


def snapshot(node: SharedMempool, pointers) -> dict:
    core = node.mempool
    with node.lock:
        return {"len": len(core), "parked": core.parking_lot_size(),
                "timeline": core.read_timeline(0, 10**6),
                "entries": {p: (core.get(*p), core.timeline_state(*p)) for p in pointers}}


def check_ledger(node: SharedMempool, ledger: Ledger, before: dict, held) -> None:
    """The node's counters, metrics and core against what the stream must have done."""
    counts = node.counters()
    m = node.metrics
    assert node.malformed_messages == ledger.malformed_messages
    assert node.malformed_transactions == ledger.malformed_transactions
    assert m.value("mempool_malformed_messages_total") == ledger.malformed_messages
    assert m.value("mempool_malformed_transactions_total") == ledger.malformed_transactions
    assert counts.get("received_batches", 0) == len(ledger.broadcast_ids)
    assert m.value("mempool_received_batches_total") == len(ledger.broadcast_ids)
    assert counts.get("inbound_dropped_peer_share", 0) == 0
    assert counts.get("acks_received", 0) == ledger.acks == counts.get("stale_acks", 0)
    assert m.value("mempool_stale_acks_total") == ledger.acks
    assert m.value("mempool_acks_sent_total", retry="False", backoff="False") == \
        len(ledger.broadcast_ids)
    peer = {code: m.value("mempool_add_status_total", origin="peer", code=code.name)
            for code in Code}
    for code in Code:
        if code in (Code.VALID,) or code not in ledger.codes:
            continue
        assert peer[code] >= ledger.codes[code], (code, peer, ledger.codes)
    rejected = sum(n for code, n in peer.items() if code != Code.VALID)
    assert rejected == sum(n for c, n in ledger.codes.items() if c != Code.VALID) + \
        ledger.rejected_any, (peer, ledger.codes, ledger.rejected_any)
    assert peer[Code.VALID] == ledger.codes[Code.VALID]
    # the mempool: what it held, untouched, plus exactly the valid transactions slipped in
    after = snapshot(node, [t.pointer for t in held] + list(ledger.admitted))
    assert after["timeline"] == before["timeline"]
    assert after["parked"] == before["parked"]
    assert after["len"] == before["len"] + len(ledger.admitted)
    for txn in held:
        assert after["entries"][txn.pointer] == before["entries"][txn.pointer]
    for pointer, txn in ledger.admitted.items():
        got, state = after["entries"][pointer]
        assert got == txn and state[0] == TimelineState.NON_QUALIFIED


def run_inbound_fuzz_pumped(core_cls, clock, accounts, seed: int, n: int) -> Ledger:
    """The node handles the stream in this thread (`pump`), in order."""
    node, evil, held = inbound_node(core_cls, clock, accounts)
    before = snapshot(node, [t.pointer for t in held])
    ledger = hostile_stream(seed, n, accounts)
    for data in ledger.messages:
        assert evil.send("node", data)
    assert node.pump() == len(ledger.messages) + 1  # + the NEW_PEER event
    check_ledger(node, ledger, before, held)
    acks = []
    while (event := evil.recv(timeout=0)) is not None:
        if event.kind is EventKind.MESSAGE and not isinstance(decode(event.data), Hello):
            acks.append(decode(event.data).batch_id)
    assert acks == ledger.broadcast_ids  # every broadcast, reused batch ids too, acked once
    # still serving: a good transaction from the peer is admitted
    good = accounts.txn(ADMIT, len(ledger.admitted))
    evil.send("node", encode_broadcast(100, 101, [good]))
    node.pump()
    assert node.mempool.get(*good.pointer) == good
    return ledger


def run_inbound_fuzz_threaded(core_cls, clock, accounts, seed: int, n: int) -> Ledger:
    """The same against a started node (reader thread, inbound pool); the fake peer keeps at
    most WINDOW broadcasts unacknowledged, like a sender that honours acks."""
    node, evil, held = inbound_node(core_cls, clock, accounts)
    before = snapshot(node, [t.pointer for t in held])
    ledger = hostile_stream(seed, n, accounts)
    expected_acks = collections.Counter(ledger.broadcast_ids)
    acks: collections.Counter = collections.Counter()
    outstanding = 0

    def take_ack(timeout: float) -> bool:
        event = evil.recv(timeout=timeout)
        if event is None:
            return False
        if event.kind is EventKind.MESSAGE and not isinstance(decode(event.data), Hello):
            acks[decode(event.data).batch_id] += 1
            return True
        return False

    with node:
        for data in ledger.messages:
            try:
                is_broadcast = isinstance(decode(data), (BroadcastRequest,
                                                         BucketBroadcastRequest))
            except MalformedMessage:
                is_broadcast = False
            while outstanding >= WINDOW:
                assert wait_until(lambda: take_ack(0.05), timeout=30), "the node stopped acking"
                outstanding -= 1
            assert evil.send("node", data)
            outstanding += is_broadcast
        while sum(acks.values()) < len(ledger.broadcast_ids):
            assert wait_until(lambda: take_ack(0.05), timeout=30), "the node stopped acking"
        assert wait_until(lambda: node.counters().get("malformed_messages", 0) + node.counters()
                          .get("acks_received", 0) >= ledger.malformed_messages + ledger.acks)
        assert acks == expected_acks
        check_ledger(node, ledger, before, held)
        good = accounts.txn(ADMIT, len(ledger.admitted))  # still serving
        evil.send("node", encode_broadcast(100, 101, [good]))
        assert wait_until(lambda: node.mempool.get(*good.pointer) == good)
    return ledger


def test_hostile_peer_changes_nothing_and_is_counted(core_cls, clock, accounts):
    ledger = run_inbound_fuzz_pumped(core_cls, clock, accounts, seed=1, n=1_200)
    # seed 1: 345 malformed messages, 1,000 malformed and 12,976 rejected transactions
    assert ledger.malformed_messages > 200 and ledger.malformed_transactions > 500
    assert ledger.rejected_any > 50 and ledger.acks > 100 and len(ledger.admitted) == 30


def test_hostile_peer_against_a_running_node(core_cls, clock, accounts):
    ledger = run_inbound_fuzz_threaded(core_cls, clock, accounts, seed=2, n=600)
    assert ledger.malformed_messages > 100 and len(ledger.broadcast_ids) > 200
    assert len(ledger.admitted) == 30


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["pumped", "threaded"])
def test_hostile_peer_long(core_cls, clock, accounts, mode):
    run = run_inbound_fuzz_pumped if mode == "pumped" else run_inbound_fuzz_threaded
    ledger = run(core_cls, clock, accounts, seed=3, n=50_000)
    print(f"\n{mode}: {len(ledger.messages)} messages, {len(ledger.broadcast_ids)} broadcasts "
          f"acked, {ledger.malformed_messages} malformed messages, "
          f"{ledger.malformed_transactions} malformed transactions, "
          f"{sum(ledger.codes.values()) - ledger.codes[Code.VALID] + ledger.rejected_any} "
          f"transactions rejected, {len(ledger.admitted)} admitted")


# ------------------------------------------------------------------ the client endpoint
def run_client_fuzz(tmp_path, seed: int, n: int) -> collections.Counter:
    """Node.handle (the client endpoint's request handler) on garbage and mutated requests:
    always a decodable reply with the request's id, an error exactly when the request does not
    decode, never an internal error, and a failed request changes nothing."""
    from mempool_fast.cluster import write_cluster
    from mempool_fast.node import Node, NodeConfig
    from mempool_fast.storage import SqliteAccountStore

    [spec] = write_cluster(tmp_path, 1)
    with SqliteAccountStore(spec.store) as store:
        store.set_accounts([(TXNS[0].sender, 0, 10**12)])
    node = Node(NodeConfig.load(spec.config))
    node.start()
    outcomes: collections.Counter = collections.Counter()
    consensus_ops = (rpc.Op.GET_BLOCK, rpc.Op.COMMIT)
    try:
        rng = random.Random(seed)
        requests = SAMPLES["request"]
        pointers = []
        for i in range(n):
            if i % 50 == 0:  # keep something in the mempool to lose: a fresh account's txns
                key = nacl.signing.SigningKey(struct.pack("<Q", seed) + struct.pack("<Q", i) * 3)
                fresh = [SignedTransaction.create(key, s, expiration_time=4_000_000_000)
                         for s in range(3)]
                node.storage.set_accounts([(fresh[0].sender, 0, 10**12)])
                reply = rpc.decode_response(node.handle(
                    rpc.encode_request(rpc.Op.SUBMIT, 0, fresh)))
                assert [s.code for s in reply.body] == [Code.VALID] * 3
                pointers += [t.pointer for t in fresh]
            data = rng.randbytes(rng.randint(0, 200)) if i % 4 == 0 else \
                mutate(rng, rng.choice(requests), requests)
            before = snapshot(node.shared, pointers)
            try:
                op = rpc.decode_request(data).op
                decodes = True
            except rpc.RpcError:
                op, decodes = None, False
            if op in consensus_ops:  # served on the consensus endpoint only
                refused = rpc.decode_response(node.handle(data))
                assert not refused.ok and "not served here" in refused.body
                reply = rpc.decode_response(node.handle_consensus(data))
            else:
                reply = rpc.decode_response(node.handle(data))
            assert "internal error" not in str(reply.body), reply
            skew = not reply.ok and "ahead of this node's clock" in str(reply.body)
            assert reply.ok == decodes or (decodes and skew), (data, reply)
            if decodes and skew:
                outcomes["refused block time"] += 1
            elif decodes:
                assert reply.request_id == struct.unpack_from("<I", data, 2)[0]
                outcomes[f"ok {rpc.Op(reply.op).name}"] += 1
            else:
                assert str(reply.body).startswith("bad request")
                assert snapshot(node.shared, pointers) == before
                outcomes["error"] += 1
        ok = rpc.decode_response(node.handle(rpc.encode_request(rpc.Op.STATS, 9)))
        assert ok.ok and ok.request_id == 9 and isinstance(ok.body, dict)
    finally:
        node.stop()
    return outcomes


def test_client_endpoint_answers_every_hostile_request(tmp_path):
    outcomes = run_client_fuzz(tmp_path, seed=3, n=2_000)
    assert outcomes["error"] > 1_000 and sum(outcomes.values()) - outcomes["error"] > 60
    assert all(outcomes[f"ok {op.name}"] > 5 for op in rpc.Op), outcomes


@pytest.mark.slow
def test_client_endpoint_long(tmp_path):
    outcomes = run_client_fuzz(tmp_path, seed=4, n=30_000)
    print(f"\nclient endpoint: {sum(outcomes.values())} requests, {dict(outcomes)}")
