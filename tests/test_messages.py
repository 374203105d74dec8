"""The broadcast / ack encoding: round trips, and every malformed form rejected cleanly."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mempool_fast import MalformedMessage
from mempool_fast.shared.protocol import (
    MSG_ACK, MSG_BROADCAST, MSG_HELLO, VERSION, Ack, BroadcastRequest, Hello, decode, encode,
    encode_broadcast,
)


@pytest.fixture(scope="module")
def txns(default_accounts):
    return [default_accounts.txn(i % 3, i, payload=bytes([i]) * i) for i in range(5)]


def test_broadcast_round_trip(txns):
    request = BroadcastRequest(3, 8, tuple(t.to_bytes() for t in txns))
    data = encode(request)
    assert data[0] == VERSION and data[1] == MSG_BROADCAST
    decoded = decode(data)
    assert decoded == request
    assert decoded.batch_id == (3, 8)
    good, bad = decoded.transactions()
    assert good == txns and bad == 0


def test_encode_broadcast_matches_encode(txns):
    assert encode_broadcast(0, 5, txns) == encode(
        BroadcastRequest(0, 5, tuple(t.to_bytes() for t in txns)))


@pytest.mark.parametrize("retry", [False, True])
@pytest.mark.parametrize("backoff", [False, True])
def test_ack_round_trip(retry, backoff):
    ack = Ack(7, 2**64 - 1, retry, backoff, incarnation=2**63 + 5)
    data = encode(ack)
    # version 2: the receiver's incarnation rides in every ack (8 bytes before the flags)
    assert data[:2] == bytes([VERSION, MSG_ACK]) and len(data) == 27
    assert decode(data) == ack


def test_hello_round_trip_and_malformed_hellos():
    hello = Hello(12345, "mempool_fast")
    data = encode(hello)
    assert data[:2] == bytes([VERSION, MSG_HELLO]) and decode(data) == hello
    for bad, reason in ((data[:-1], "does not match"), (data + b"x", "does not match"),
                        (data[:5], "shorter"), (data[:10] + b"\x00", "format name"),
                        (data[:-1] + b"\xff", "format name")):
        with pytest.raises(MalformedMessage, match=reason):
            decode(bad)
    with pytest.raises(ValueError):
        Hello(-1)
    with pytest.raises(ValueError):
        Hello(1, "")


def test_malformed_transaction_inside_batch_is_dropped_alone(txns):
    wires = (txns[0].to_bytes(), b"\x00" * 10, txns[1].to_bytes()[:-1] + b"", txns[2].to_bytes())
    decoded = decode(encode(BroadcastRequest(0, 4, wires)))
    good, bad = decoded.transactions()
    assert good == [txns[0], txns[2]]
    assert bad == 2


def _broadcast(txns, count=None, start=0, end=1):
    wires = [t.to_bytes() for t in txns]
    head = struct.pack("<BBQQI", VERSION, MSG_BROADCAST, start, end,
                       len(wires) if count is None else count)
    return head + b"".join(struct.pack("<I", len(w)) + w for w in wires)


@pytest.mark.parametrize("mutate, reason", [
    (lambda d: b"", "no header"),
    (lambda d: b"\x01", "no header"),
    (lambda d: bytes([VERSION + 1]) + d[1:], "version"),
    (lambda d: d[:1] + b"\x09" + d[2:], "unknown message type"),
    (lambda d: d + b"\x00", "trailing"),
    (lambda d: d[:-1], "past the message"),
    (lambda d: d[:10], "shorter than its header"),
])
def test_decode_rejects_broken_broadcasts(txns, mutate, reason):
    with pytest.raises(MalformedMessage, match=reason):
        decode(mutate(_broadcast(txns[:2])))


def test_decode_rejects_a_lying_count(txns):
    with pytest.raises(MalformedMessage, match="count"):
        decode(_broadcast(txns[:1], count=10**9))
    with pytest.raises(MalformedMessage):
        decode(_broadcast(txns[:2], count=3))
    with pytest.raises(MalformedMessage, match="trailing"):
        decode(_broadcast(txns[:2], count=1))


def test_decode_rejects_bad_ranges_and_acks(txns):
    with pytest.raises(MalformedMessage, match="empty batch range"):
        decode(_broadcast(txns[:1], start=5, end=5))
    ack = encode(Ack(1, 2))
    with pytest.raises(MalformedMessage, match="ack is"):
        decode(ack + b"\x00")
    with pytest.raises(MalformedMessage, match="ack is"):
        decode(ack[:-1])
    with pytest.raises(MalformedMessage, match="flags"):
        decode(ack[:-1] + b"\x04")
    with pytest.raises(MalformedMessage, match="empty batch range"):
        decode(struct.pack("<BBQQQB", VERSION, MSG_ACK, 9, 3, 0, 0))
    with pytest.raises(MalformedMessage, match="expected bytes"):
        decode("not bytes")


def test_constructors_check_their_fields(txns):
    with pytest.raises(ValueError):
        Ack(3, 3)
    with pytest.raises(ValueError):
        Ack(-1, 3)
    with pytest.raises(ValueError):
        Ack(0, 3, retry=1)
    with pytest.raises(ValueError):
        BroadcastRequest(0, 1, [txns[0].to_bytes()])
    with pytest.raises(ValueError):
        encode_broadcast(4, 2, txns)
    with pytest.raises(TypeError):
        encode("ack")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise_anything_but_malformed(data):
    try:
        message = decode(data)
    except MalformedMessage:
        return
    assert encode(message) == data  # whatever decodes re-encodes to the same bytes


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_any_truncation_is_caught(txns, data):
    whole = _broadcast(txns[:3], start=1, end=4)
    cut = data.draw(st.integers(0, len(whole) - 1))
    with pytest.raises(MalformedMessage):
        decode(whole[:cut])
