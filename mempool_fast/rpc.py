"""The node's client endpoint protocol: compact little-endian struct frames, one per message.

Request:  ``version u8 | op u8 | request_id u32 | body``
Response: ``version u8 | op u8 | request_id u32 | ok u8 (1 ok, 0 error) | body``
(an error body is a UTF-8 message; hostile bytes always get one, never a crash).
Both decoders take bytes-like input only and raise `MalformedResponse` (an `RpcError`) for
anything malformed: a short
or lying count or length, trailing bytes, an unknown version, op, status code or state, a
malformed transaction, a COMMIT ``block_time`` that is not a finite non-negative number, or a
STATS body that is not a JSON object.

Bodies (``ptr`` = ``sender 32s | sequence_number u64``, ``blob`` = ``len u32 | bytes``):

=========  ==========================================  ====================================
op         request body                                response body
=========  ==========================================  ====================================
SUBMIT     ``n u32 | blob(txn wire) * n``              ``n u32 | (code u8 | msg blob16) * n``
STATUS     ``n u32 | ptr * n``                         ``n u32 | state u8 * n`` (TxnState)
GET_BLOCK  ``batch u32 | n u32 | ptr * n`` (exclude)   ``n u32 | blob(txn wire) * n``
COMMIT     ``block_time f64 | n u32 | ptr * n |        (empty)
           m u32 | ptr * m`` (committed, rejected)
STATS      (empty)                                     UTF-8 JSON object
=========  ==========================================  ====================================
"""

from __future__ import annotations

import enum
import json
import math
import struct
from dataclasses import dataclass

from ._wire import POINTER, check_pointer
from .errors import MalformedResponse, MalformedTransaction, RpcError
from .transaction import SignedTransaction
from .types import MempoolAddTransactionStatus
from .types import MempoolAddTransactionStatusCode as Code

__all__ = ["Op", "TxnState", "Request", "Response", "RpcError", "encode_request",
           "decode_request", "encode_response", "decode_response", "error_response",
           "PROTOCOL_VERSION"]

PROTOCOL_VERSION = 1
_HEAD = struct.Struct("<BBI")
_RESP_HEAD = struct.Struct("<BBIB")
_U32 = struct.Struct("<I")
_U16 = struct.Struct("<H")
_PTR = POINTER
_F64 = struct.Struct("<d")
#: Longest status message carried back to a client, bytes.
MAX_STATUS_MESSAGE = 0xFFFF


class Op(enum.IntEnum):
    SUBMIT = 1
    STATUS = 2
    GET_BLOCK = 3
    COMMIT = 4
    STATS = 5


class TxnState(enum.IntEnum):
    """Where a queried (sender, seq) stands on the node that answers."""

    UNKNOWN = 0  #: not in the mempool, not committed
    NOT_READY = 1  #: pending, local, waiting for a predecessor
    READY = 2  #: pending, local, in the broadcast timeline
    NON_QUALIFIED = 3  #: pending, received from a peer
    COMMITTED = 4  #: below the account's stored sequence number


@dataclass(frozen=True)
class Request:
    op: Op
    request_id: int
    #: SUBMIT: list[SignedTransaction]; STATUS: list[ptr]; GET_BLOCK: (batch, list[ptr]);
    #: COMMIT: (block_time, committed list[ptr], rejected list[ptr]); STATS: None.
    body: object = None


@dataclass(frozen=True)
class Response:
    op: int
    request_id: int
    ok: bool
    #: SUBMIT: list[MempoolAddTransactionStatus]; STATUS: list[TxnState]; GET_BLOCK:
    #: list[SignedTransaction]; COMMIT: None; STATS: dict; error: the message (str).
    body: object = None


# -- primitive readers ------------------------------------------------------------------------
class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int) -> None:
        self.data, self.pos = data, pos

    def take(self, fmt: struct.Struct):
        if self.pos + fmt.size > len(self.data):
            raise MalformedResponse(f"truncated at byte {self.pos}: need {fmt.size} more bytes")
        values = fmt.unpack_from(self.data, self.pos)
        self.pos += fmt.size
        return values

    def u32(self) -> int:
        return self.take(_U32)[0]

    def count(self, item_size: int) -> int:
        n = self.u32()
        if n * item_size > len(self.data) - self.pos:
            raise MalformedResponse(f"count {n} exceeds the {len(self.data) - self.pos} bytes left")
        return n

    def blob(self, length_fmt: struct.Struct = _U32) -> bytes:
        (n,) = self.take(length_fmt)
        if self.pos + n > len(self.data):
            raise MalformedResponse(f"blob of {n} bytes runs past the end")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def pointers(self) -> list[tuple[bytes, int]]:
        n = self.count(_PTR.size)
        out = [_PTR.unpack_from(self.data, self.pos + i * _PTR.size) for i in range(n)]
        self.pos += n * _PTR.size
        return out

    def txns(self) -> list[SignedTransaction]:
        n = self.count(_U32.size)
        out = []
        for i in range(n):
            try:
                out.append(SignedTransaction.from_bytes(self.blob()))
            except MalformedTransaction as exc:
                raise MalformedResponse(f"transaction {i}: {exc}") from None
        return out

    def end(self) -> None:
        if self.pos != len(self.data):
            raise MalformedResponse(f"{len(self.data) - self.pos} trailing bytes")


def _pointers(ptrs) -> bytes:
    ptrs = [check_pointer(p) for p in ptrs]  # a short sender must not be silently padded
    return _U32.pack(len(ptrs)) + b"".join(_PTR.pack(s, q) for s, q in ptrs)


def _txns(txns) -> bytes:
    parts = [_U32.pack(len(txns))]
    for t in txns:
        wire = t.to_bytes()
        parts.append(_U32.pack(len(wire)))
        parts.append(wire)
    return b"".join(parts)


# -- requests -----------------------------------------------------------------------------------
def encode_request(op: Op, request_id: int, body=None) -> bytes:
    """Encode a request; `body` as documented on `Request.body`."""
    head = _HEAD.pack(PROTOCOL_VERSION, op, request_id)
    if op == Op.SUBMIT:
        return head + _txns(list(body))
    if op == Op.STATUS:
        return head + _pointers(body)
    if op == Op.GET_BLOCK:
        batch, exclude = body
        return head + _U32.pack(batch) + _pointers(exclude)
    if op == Op.COMMIT:
        block_time, committed, rejected = body
        return head + _F64.pack(block_time) + _pointers(committed) + _pointers(rejected)
    if op == Op.STATS:
        return head
    raise ValueError(f"unknown op {op!r}")


def _as_bytes(data) -> bytes:
    # bytes(n) of an int would make n zero bytes: only bytes-like input is a frame
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise MalformedResponse(f"expected bytes, got {type(data).__name__}")
    return bytes(data)


def decode_request(data: bytes) -> Request:
    """Decode a request; raises RpcError on anything malformed."""
    data = _as_bytes(data)
    if len(data) < _HEAD.size:
        raise MalformedResponse(
            f"request of {len(data)} bytes is shorter than its {_HEAD.size}-byte head")
    version, op, request_id = _HEAD.unpack_from(data)
    if version != PROTOCOL_VERSION:
        raise MalformedResponse(f"protocol version {version} is not {PROTOCOL_VERSION}")
    try:
        op = Op(op)
    except ValueError:
        raise MalformedResponse(f"unknown op {op}") from None
    r = _Reader(data, _HEAD.size)
    if op == Op.SUBMIT:
        body = r.txns()
    elif op == Op.STATUS:
        body = r.pointers()
    elif op == Op.GET_BLOCK:
        body = (r.u32(), r.pointers())
    elif op == Op.COMMIT:
        (block_time,) = r.take(_F64)
        if not 0.0 <= block_time < math.inf:  # NaN fails too; inf would expire everything
            raise MalformedResponse(f"block_time {block_time} is not a finite non-negative number")
        body = (block_time, r.pointers(), r.pointers())
    else:
        body = None
    r.end()
    return Request(op, request_id, body)


def request_head(data: bytes) -> tuple[int, int]:
    """(op, request_id) of a request as far as its head decodes; (0, 0) if it does not."""
    if isinstance(data, (bytes, bytearray, memoryview)) and len(data) >= _HEAD.size:
        _, op, rid = _HEAD.unpack_from(data)
        return op, rid
    return 0, 0


# -- responses ----------------------------------------------------------------------------------
def encode_response(op: Op, request_id: int, body=None) -> bytes:
    """Encode a successful response; `body` as documented on `Response.body`."""
    head = _RESP_HEAD.pack(PROTOCOL_VERSION, op, request_id, 1)
    if op == Op.SUBMIT:
        parts = [_U32.pack(len(body))]
        for status in body:
            msg = status.message.encode()[:MAX_STATUS_MESSAGE]
            parts.append(bytes([int(status.code)]) + _U16.pack(len(msg)) + msg)
        return head + b"".join(parts)
    if op == Op.STATUS:
        return head + _U32.pack(len(body)) + bytes(int(s) for s in body)
    if op == Op.GET_BLOCK:
        return head + _txns(list(body))
    if op == Op.COMMIT:
        return head
    if op == Op.STATS:
        return head + json.dumps(body, sort_keys=True).encode()
    raise ValueError(f"unknown op {op!r}")


def error_response(op: int, request_id: int, message: str) -> bytes:
    """An error reply: the client raises RpcError(message)."""
    return _RESP_HEAD.pack(PROTOCOL_VERSION, op & 0xFF, request_id & 0xFFFFFFFF, 0) + \
        message.encode()[:MAX_STATUS_MESSAGE]


def decode_response(data: bytes) -> Response:
    """Decode a response; raises RpcError on anything malformed."""
    data = _as_bytes(data)
    if len(data) < _RESP_HEAD.size:
        raise MalformedResponse(f"response of {len(data)} bytes is shorter than its head")
    version, op, request_id, ok = _RESP_HEAD.unpack_from(data)
    if version != PROTOCOL_VERSION:
        raise MalformedResponse(f"protocol version {version} is not {PROTOCOL_VERSION}")
    if not ok:
        return Response(op, request_id, False, data[_RESP_HEAD.size:].decode(errors="replace"))
    r = _Reader(data, _RESP_HEAD.size)
    if op == Op.SUBMIT:
        n = r.count(3)
        body = []
        for _ in range(n):
            (code,) = r.take(struct.Struct("<B"))
            try:
                code = Code(code)
            except ValueError:
                raise MalformedResponse(f"unknown status code {code}") from None
            body.append(MempoolAddTransactionStatus(code, r.blob(_U16).decode(errors="replace")))
    elif op == Op.STATUS:
        n = r.count(1)
        try:
            body = [TxnState(b) for b in data[r.pos:r.pos + n]]
        except ValueError as exc:
            raise MalformedResponse(str(exc)) from None
        r.pos += n
    elif op == Op.GET_BLOCK:
        body = r.txns()
    elif op == Op.COMMIT:
        body = None
    elif op == Op.STATS:
        try:
            body = json.loads(data[r.pos:])
        except (ValueError, RecursionError) as exc:  # RecursionError: hostile nesting
            raise MalformedResponse(f"bad stats JSON: {exc}") from None
        if not isinstance(body, dict):
            raise MalformedResponse(f"stats body is a JSON {type(body).__name__}, not an object")
        r.pos = len(data)
    else:
        raise MalformedResponse(f"unknown op {op}")
    r.end()
    return Response(op, request_id, True, body)
