"""The node's client endpoint protocol: compact little-endian struct frames, one per message.

Request:  ``version u8 | op u8 | request_id u32 | body``
Response: ``version u8 | op u8 | request_id u32 | ok u8 (1 ok, 0 error) | body``
(an error body is a UTF-8 message; hostile bytes always get one, never a crash).
Both decoders take bytes-like input only and raise `MalformedResponse` (an `RpcError`) for
anything malformed: a short
or lying count or length, trailing bytes, an unknown version, op, status code or state, a
malformed transaction, a COMMIT ``block_time`` that is not a finite non-negative number, a
STATS or INSPECT body that is not a JSON object, a status key of an unknown kind, a status whose
state, reason or flags do not agree, a time that is not finite, a detail that is not UTF-8, or
account sequence numbers that are not strictly increasing.

Bodies (``ptr`` = ``sender 32s | sequence_number u64``, ``blob`` = ``len u32 | bytes``):

=========  ==========================================  ====================================
op         request body                                response body
=========  ==========================================  ====================================
SUBMIT     ``n u32 | blob(txn wire) * n``              ``n u32 | (code u8 | msg blob16) * n``
STATUS     ``n u32 | ptr * n``                         ``n u32 | state u8 * n`` (TxnState)
GET_BLOCK  ``batch u32 | n u32 | ptr * n``             ``n u32 | blob(txn wire) * n``
           ``[| max_bytes u64]`` (exclude; max_bytes
           only when given: a request without it is
           the original one)
COMMIT     ``block_time f64 | n u32 | ptr * n |        (empty)
           m u32 | ptr * m`` (committed, rejected)
STATS      (empty)                                     UTF-8 JSON object
TXN_STATUS ``n u32 | key * n``                         ``n u32 | tstatus * n``
ACCOUNT    ``sender 32s``                              ``astatus``
INSPECT    (empty)                                     UTF-8 JSON object
=========  ==========================================  ====================================

``key`` = ``0 u8 | hash 32s`` or ``1 u8 | ptr``.
``tstatus`` = ``state u8 | reason u8 | flags u8 | [hash 32s] | [ptr] | [at f64] | detail blob16``
(`TransactionState` and `DropReason` codes; reason 0 unless the state is DROPPED, where it is
required; flags: 1 hash present, 2 pointer present, 4 at present; no other bits).
``astatus`` = ``sender 32s | sequence_number u64 | has_blocked u8 | blocked_on u64 |
n u32 | u64 * n (ready) | m u32 | u64 * m (parked)`` (has_blocked 0 or 1, blocked_on 0 when
absent; each list strictly increasing).

Transaction formats (docs/design.md §3): a node holds one format's transactions
(``[mempool].transaction_format``) and both ends of a connection use it: the encoders and
decoders take ``transaction_format`` (anything with ``sender_length`` and ``decode``, such as
``formats.EthereumFormat``; default the native ``SignedTransaction``, 32-byte senders). A
transaction travels as its format's wire bytes (a SUBMIT is decoded by the node with its own
format). Every ``sender 32s`` field (pointers, ACCOUNT's sender, ``astatus``) carries a shorter
sender (Ethereum's 20 bytes) followed by zero bytes up to 32: the decoder returns the first
``sender_length`` bytes and refuses a field whose padding is not zero; the encoder refuses a
sender that is not ``sender_length`` bytes. Hashes are 32 bytes in every format.

Versions and compatibility: ``PROTOCOL_VERSION`` is 1 and a frame of another version is
refused. Within version 1, a change only adds what an older peer never sends (GET_BLOCK's
trailing ``max_bytes``, refused as trailing bytes by a node older than it): a native frame is
byte-for-byte what it always was, and the padding of short senders is the same layout, so
formats needed no new version. Which format a node holds is not in the frame: it is the node's
configuration (STATS reports it), as its chain is.
"""

from __future__ import annotations

import enum
import json
import math
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ._wire import ADDRESS_LEN, POINTER, PointerError, as_bytes, check_bytes, check_u64
from .errors import MalformedResponse, MalformedTransaction, RpcError
from .status import AccountStatus, DropReason, TransactionState, TransactionStatus
from .transaction import SignedTransaction
from .types import U64_MAX, MempoolAddTransactionStatus, check_max_bytes
from .types import MempoolAddTransactionStatusCode as Code

__all__ = ["Op", "TxnState", "Request", "Response", "RpcError", "encode_request",
           "MAX_DETAIL", "WireFormat", "NATIVE", "SENDER_FIELD_LEN", "check_sender_length",
           "decode_request", "encode_response", "decode_response", "error_response",
           "PROTOCOL_VERSION"]

PROTOCOL_VERSION = 1
_HEAD = struct.Struct("<BBI")
_RESP_HEAD = struct.Struct("<BBIB")
_U32 = struct.Struct("<I")
_U16 = struct.Struct("<H")
_PTR = POINTER
_F64 = struct.Struct("<d")
_U8 = struct.Struct("<B")
_U64 = struct.Struct("<Q")
_HASH = struct.Struct("<32s")
_TSTATUS_HEAD = struct.Struct("<BBB")
_ACCOUNT_HEAD = struct.Struct("<32sQBQ")
_KEY_HASH, _KEY_POINTER = 0, 1
_HAS_HASH, _HAS_POINTER, _HAS_AT = 1, 2, 4
#: Longest transaction-status detail carried back, bytes (cut at a character boundary).
MAX_DETAIL = 0xFFFF
#: Longest status message carried back to a client, bytes.
MAX_STATUS_MESSAGE = 0xFFFF
#: Bytes of every sender field on the wire; a shorter sender is padded with zero bytes.
SENDER_FIELD_LEN = ADDRESS_LEN
#: Bytes of a transaction hash (every format's).
HASH_LEN = _HASH.size


class WireFormat(Protocol):
    """What the protocol needs of a transaction format: how long its senders are and how its
    wire bytes decode (``MalformedTransaction`` for bad bytes). Every ``TransactionFormat``
    (``formats.NativeFormat``, ``formats.EthereumFormat``) is one."""

    @property
    def sender_length(self) -> int: ...
    def decode(self, wire: bytes, /) -> Any: ...


class _NativeWire:
    """The native format as the protocol sees it: ``SignedTransaction.from_bytes``, 32-byte
    senders (no validator: ``formats.NativeFormat()`` would make one)."""

    name = "native"
    sender_length = ADDRESS_LEN

    @staticmethod
    def decode(wire: bytes, /) -> SignedTransaction:
        return SignedTransaction.from_bytes(wire)

    def __repr__(self) -> str:
        return "rpc.NATIVE"


#: The default ``transaction_format`` of every encoder and decoder here.
NATIVE: WireFormat = _NativeWire()


def check_sender_length(fmt: WireFormat) -> int:
    """`fmt`'s sender length, checked to fit the 32-byte sender field."""
    length = fmt.sender_length
    if not isinstance(length, int) or isinstance(length, bool) or \
            not 1 <= length <= SENDER_FIELD_LEN:
        raise ValueError(f"transaction format {fmt!r}: sender_length must be 1.."
                         f"{SENDER_FIELD_LEN} to travel in a {SENDER_FIELD_LEN}-byte sender "
                         f"field, got {length!r}")
    return length


def _pad(sender: object, length: int, name: str) -> bytes:
    """A `length`-byte sender as its 32-byte wire field (zero bytes after it)."""
    value = check_bytes(name, sender, length)
    return value + bytes(SENDER_FIELD_LEN - length) if length < SENDER_FIELD_LEN else value


def _unpad(field: bytes, length: int, where: str) -> bytes:
    """The `length`-byte sender of a 32-byte wire field, whose padding must be zero."""
    if length == SENDER_FIELD_LEN:
        return field
    if any(field[length:]):
        raise MalformedResponse(
            f"{where}: the sender field's bytes after its {length}-byte sender are not zero "
            f"(this node's senders are {length} bytes, padded with zero bytes to "
            f"{SENDER_FIELD_LEN})")
    return field[:length]


def _pointer(pair: Any, length: int, name: str) -> bytes:
    """A (sender, sequence_number) pair as its wire form (`pair` is any object: this is the
    check)."""
    try:
        sender, seq = pair
    except (TypeError, ValueError):
        raise PointerError(
            f"{name}: expected a (sender, sequence_number) pair, got {pair!r}") from None
    return _PTR.pack(_pad(sender, length, f"{name} sender"),
                     check_u64(f"{name} sequence number", seq))


class Op(enum.IntEnum):
    SUBMIT = 1
    STATUS = 2
    GET_BLOCK = 3
    COMMIT = 4
    STATS = 5
    TXN_STATUS = 6  #: TransactionStatus by hash or pointer, many keys at once
    ACCOUNT_STATUS = 7  #: AccountStatus of one sender
    INSPECT = 8  #: SharedMempool.inspect()


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
    #: SUBMIT: list of the format's transactions (``SignedTransaction`` native; encoding also
    #: takes their wire bytes); STATUS: list[ptr]; GET_BLOCK: (batch, list[ptr]) or
    #: (batch, list[ptr], max_bytes) (None: no byte limit, encoded as the 2-tuple);
    #: COMMIT: (block_time, committed list[ptr], rejected list[ptr]); STATS: None;
    #: TXN_STATUS: list of keys (32-byte hash bytes or ptr); ACCOUNT_STATUS: sender bytes;
    #: INSPECT: None.
    body: object = None


@dataclass(frozen=True)
class Response:
    op: int
    request_id: int
    ok: bool
    #: SUBMIT: list[MempoolAddTransactionStatus]; STATUS: list[TxnState]; GET_BLOCK:
    #: list of the format's transactions; COMMIT: None; STATS: dict; TXN_STATUS:
    #: list[TransactionStatus]; ACCOUNT_STATUS: AccountStatus; INSPECT: dict; error: the
    #: message (str).
    body: object = None


# -- primitive readers ------------------------------------------------------------------------
class _Reader:
    __slots__ = ("data", "pos", "fmt", "sender_length")

    def __init__(self, data: bytes, pos: int, fmt: WireFormat = NATIVE) -> None:
        self.data, self.pos = data, pos
        self.fmt = fmt
        self.sender_length = check_sender_length(fmt)

    def take(self, fmt: struct.Struct) -> tuple[Any, ...]:
        # Any: the fields' types follow `fmt` (struct's own unpack type)
        if self.pos + fmt.size > len(self.data):
            raise MalformedResponse(f"truncated at byte {self.pos}: need {fmt.size} more bytes")
        values = fmt.unpack_from(self.data, self.pos)
        self.pos += fmt.size
        return values

    def u32(self) -> int:
        n: int = self.take(_U32)[0]
        return n

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

    def sender(self, where: str) -> bytes:
        """One 32-byte sender field, unpadded to the format's sender length."""
        return _unpad(self.take(_HASH)[0], self.sender_length, where)

    def pointer(self, where: str) -> tuple[bytes, int]:
        sender, seq = self.take(_PTR)
        return _unpad(sender, self.sender_length, where), seq

    def pointers(self) -> list[tuple[bytes, int]]:
        n = self.count(_PTR.size)
        unpack, data, pos, length = _PTR.unpack_from, self.data, self.pos, self.sender_length
        out = [unpack(data, pos + i * _PTR.size) for i in range(n)]
        self.pos += n * _PTR.size
        if length != SENDER_FIELD_LEN:
            out = [(_unpad(sender, length, f"pointer {i}"), seq)
                   for i, (sender, seq) in enumerate(out)]
        return out

    def txns(self) -> list[Any]:
        """Transactions decoded by the format (objects of its transaction class)."""
        n = self.count(_U32.size)
        decode = self.fmt.decode
        out = []
        for i in range(n):
            try:
                out.append(decode(self.blob()))
            except MalformedTransaction as exc:
                raise MalformedResponse(f"transaction {i}: {exc}") from None
        return out

    def keys(self) -> list[bytes | tuple[bytes, int]]:
        n = self.count(1 + _HASH.size)
        out: list[bytes | tuple[bytes, int]] = []
        for i in range(n):
            (kind,) = self.take(_U8)
            if kind == _KEY_HASH:
                out.append(self.take(_HASH)[0])
            elif kind == _KEY_POINTER:
                out.append(self.pointer(f"status key {i}"))
            else:
                raise MalformedResponse(f"status key {i}: unknown key kind {kind}")
        return out

    def u64s(self) -> list[int]:
        n = self.count(_U64.size)
        out = list(struct.unpack_from(f"<{n}Q", self.data, self.pos))
        self.pos += n * _U64.size
        if any(a >= b for a, b in zip(out, out[1:])):
            raise MalformedResponse("sequence numbers are not strictly increasing")
        return out

    def end(self) -> None:
        if self.pos != len(self.data):
            raise MalformedResponse(f"{len(self.data) - self.pos} trailing bytes")


def _pointers(ptrs: Iterable[object], length: int) -> bytes:
    # each checked before anything is encoded: a sender of another length is an error, never
    # silently padded or cut
    packed = [_pointer(p, length, "pointer") for p in ptrs]
    return _U32.pack(len(packed)) + b"".join(packed)


def _keys(keys: Sequence[object], length: int) -> bytes:
    parts = [_U32.pack(len(keys))]
    for key in keys:
        if isinstance(key, (bytes, bytearray, memoryview)):
            if len(key) != HASH_LEN:
                raise ValueError(f"a transaction hash is {HASH_LEN} bytes, got {len(key)}")
            parts.append(bytes([_KEY_HASH]) + bytes(key))
        else:
            parts.append(bytes([_KEY_POINTER]) + _pointer(key, length, "key"))
    return b"".join(parts)


def _detail(text: str) -> bytes:
    data = text.encode()
    if len(data) > MAX_DETAIL:  # cut at a character boundary: the reply stays UTF-8
        data = data[:MAX_DETAIL].decode(errors="ignore").encode()
    return _U16.pack(len(data)) + data


def _txn_status(status: TransactionStatus, length: int) -> bytes:
    flags = ((_HAS_HASH if status.hash is not None else 0)
             | (_HAS_POINTER if status.pointer is not None else 0)
             | (_HAS_AT if status.at is not None else 0))
    parts = [_TSTATUS_HEAD.pack(int(status.state),
                                0 if status.reason is None else int(status.reason), flags)]
    if status.hash is not None:
        parts.append(_HASH.pack(status.hash))
    if status.pointer is not None:
        parts.append(_pointer(status.pointer, length, "status pointer"))
    if status.at is not None:
        parts.append(_F64.pack(status.at))
    parts.append(_detail(status.detail))
    return b"".join(parts)


def _read_txn_status(r: _Reader, i: int) -> TransactionStatus:
    state_code, reason_code, flags = r.take(_TSTATUS_HEAD)
    try:
        state = TransactionState(state_code)
    except ValueError:
        raise MalformedResponse(f"status {i}: unknown transaction state {state_code}") from None
    if state is TransactionState.DROPPED:
        try:
            reason = DropReason(reason_code)
        except ValueError:
            raise MalformedResponse(
                f"status {i}: unknown drop reason {reason_code}") from None
    elif reason_code:
        raise MalformedResponse(f"status {i}: a drop reason {reason_code} with state "
                                f"{state.name}")
    else:
        reason = None
    if flags & ~(_HAS_HASH | _HAS_POINTER | _HAS_AT):
        raise MalformedResponse(f"status {i}: unknown status flags {flags:#x}")
    h = r.take(_HASH)[0] if flags & _HAS_HASH else None
    ptr = r.pointer(f"status {i}") if flags & _HAS_POINTER else None
    at = r.take(_F64)[0] if flags & _HAS_AT else None
    if at is not None and not math.isfinite(at):
        raise MalformedResponse(f"status {i}: time {at} is not finite")
    try:
        detail = r.blob(_U16).decode()
    except UnicodeDecodeError:
        raise MalformedResponse(f"status {i}: detail is not UTF-8") from None
    return TransactionStatus(state, reason, h, ptr, at, detail)


def _account_status(status: AccountStatus, length: int) -> bytes:
    blocked = status.blocked_on
    ready, parked = list(status.ready), list(status.parked)
    return (_ACCOUNT_HEAD.pack(_pad(status.sender, length, "account status sender"),
                               status.sequence_number,
                               0 if blocked is None else 1, 0 if blocked is None else blocked)
            + _U32.pack(len(ready)) + struct.pack(f"<{len(ready)}Q", *ready)
            + _U32.pack(len(parked)) + struct.pack(f"<{len(parked)}Q", *parked))


def _read_account_status(r: _Reader) -> AccountStatus:
    sender, seq, has_blocked, blocked = r.take(_ACCOUNT_HEAD)
    sender = _unpad(sender, r.sender_length, "account status")
    if has_blocked not in (0, 1) or (not has_blocked and blocked):
        raise MalformedResponse(f"account status: bad blocked_on flag {has_blocked} "
                                f"({blocked})")
    ready = r.u64s()
    parked = r.u64s()
    return AccountStatus(sender, seq, tuple(ready), tuple(parked),
                         blocked if has_blocked else None)


def _json_object(r: _Reader, data: bytes, what: str) -> dict[str, Any]:
    try:
        body = json.loads(data[r.pos:])
    except (ValueError, RecursionError) as exc:  # RecursionError: hostile nesting
        raise MalformedResponse(f"bad {what} JSON: {exc}") from None
    if not isinstance(body, dict):
        raise MalformedResponse(f"{what} body is a JSON {type(body).__name__}, not an object")
    r.pos = len(data)
    return body


def _wire_of(txn: object, i: int) -> bytes:
    """A transaction's wire bytes: raw bytes as they are, else its ``to_bytes()``."""
    if isinstance(txn, (bytes, bytearray, memoryview)):
        return as_bytes(txn)
    to_bytes = getattr(txn, "to_bytes", None)
    if not callable(to_bytes) or isinstance(txn, int):  # int.to_bytes() is one byte of it
        raise TypeError(f"transaction {i}: expected a transaction (with to_bytes()) or its "
                        f"wire bytes, got {type(txn).__name__}")
    return as_bytes(to_bytes(), f"transaction {i}'s to_bytes()")


def _txns(txns: Sequence[object]) -> bytes:
    parts = [_U32.pack(len(txns))]
    for i, t in enumerate(txns):
        wire = _wire_of(t, i)
        parts.append(_U32.pack(len(wire)))
        parts.append(wire)
    return b"".join(parts)


# -- requests -----------------------------------------------------------------------------------
def encode_request(op: Op, request_id: int, body: Any = None, *,
                   transaction_format: WireFormat = NATIVE) -> bytes:
    """Encode a request; `body` as documented on `Request.body` (a SUBMIT's transactions may
    also be their wire bytes), senders of `transaction_format`'s length."""
    # Any: the caller's value, unchecked until here; its shape depends on `op` (Request.body)
    # and each branch unpacks it, the packing and check_* rejecting what does not fit
    length = check_sender_length(transaction_format)
    head = _HEAD.pack(PROTOCOL_VERSION, op, request_id)
    if op == Op.SUBMIT:
        return head + _txns(list(body))
    if op == Op.STATUS:
        return head + _pointers(body, length)
    if op == Op.GET_BLOCK:
        batch, exclude, *rest = body
        tail = b""
        if rest and rest[0] is not None:
            max_bytes = check_max_bytes(rest[0])
            if max_bytes is not None and max_bytes > U64_MAX:
                raise ValueError(f"max_bytes {max_bytes} does not fit in 64 bits")
            tail = _U64.pack(max_bytes)
        return head + _U32.pack(batch) + _pointers(exclude, length) + tail
    if op == Op.COMMIT:
        block_time, committed, rejected = body
        return (head + _F64.pack(block_time) + _pointers(committed, length)
                + _pointers(rejected, length))
    if op == Op.STATS or op == Op.INSPECT:
        return head
    if op == Op.TXN_STATUS:
        return head + _keys(list(body), length)
    if op == Op.ACCOUNT_STATUS:
        return head + _pad(body, length, "sender")
    raise ValueError(f"unknown op {op!r}")


def _as_bytes(data: object) -> bytes:
    # bytes(n) of an int would make n zero bytes: only bytes-like input is a frame
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise MalformedResponse(f"expected bytes, got {type(data).__name__}")
    return bytes(data)


def decode_request(data: bytes, *, transaction_format: WireFormat = NATIVE) -> Request:
    """Decode a request, its transactions by `transaction_format` and its senders of that
    format's length; raises RpcError on anything malformed."""
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
    r = _Reader(data, _HEAD.size, transaction_format)
    body: object
    if op == Op.SUBMIT:
        body = r.txns()
    elif op == Op.STATUS:
        body = r.pointers()
    elif op == Op.GET_BLOCK:
        batch, exclude = r.u32(), r.pointers()
        if len(data) - r.pos == _U64.size:  # the optional max_bytes
            body = (batch, exclude, r.take(_U64)[0])
        else:
            body = (batch, exclude)
    elif op == Op.COMMIT:
        (block_time,) = r.take(_F64)
        if not 0.0 <= block_time < math.inf:  # NaN fails too; inf would expire everything
            raise MalformedResponse(f"block_time {block_time} is not a finite non-negative number")
        body = (block_time, r.pointers(), r.pointers())
    elif op == Op.TXN_STATUS:
        body = r.keys()
    elif op == Op.ACCOUNT_STATUS:
        body = r.sender("sender")
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
def encode_response(op: Op, request_id: int, body: Any = None, *,
                    transaction_format: WireFormat = NATIVE) -> bytes:
    """Encode a successful response; `body` as documented on `Response.body`, senders of
    `transaction_format`'s length."""
    # Any: the dispatcher's value; its shape depends on `op` (Response.body)
    length = check_sender_length(transaction_format)
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
    if op == Op.STATS or op == Op.INSPECT:
        return head + json.dumps(body, sort_keys=True).encode()
    if op == Op.TXN_STATUS:
        return head + _U32.pack(len(body)) + b"".join(_txn_status(s, length) for s in body)
    if op == Op.ACCOUNT_STATUS:
        return head + _account_status(body, length)
    raise ValueError(f"unknown op {op!r}")


def error_response(op: int, request_id: int, message: str) -> bytes:
    """An error reply: the client raises RpcError(message)."""
    return _RESP_HEAD.pack(PROTOCOL_VERSION, op & 0xFF, request_id & 0xFFFFFFFF, 0) + \
        message.encode()[:MAX_STATUS_MESSAGE]


def decode_response(data: bytes, *, transaction_format: WireFormat = NATIVE) -> Response:
    """Decode a response, its transactions by `transaction_format` and its senders of that
    format's length; raises RpcError on anything malformed."""
    data = _as_bytes(data)
    if len(data) < _RESP_HEAD.size:
        raise MalformedResponse(f"response of {len(data)} bytes is shorter than its head")
    version, op, request_id, ok = _RESP_HEAD.unpack_from(data)
    if version != PROTOCOL_VERSION:
        raise MalformedResponse(f"protocol version {version} is not {PROTOCOL_VERSION}")
    if not ok:
        return Response(op, request_id, False, data[_RESP_HEAD.size:].decode(errors="replace"))
    r = _Reader(data, _RESP_HEAD.size, transaction_format)
    body: object
    if op == Op.SUBMIT:
        n = r.count(3)
        statuses: list[MempoolAddTransactionStatus] = []
        body = statuses
        for _ in range(n):
            (code,) = r.take(struct.Struct("<B"))
            try:
                code = Code(code)
            except ValueError:
                raise MalformedResponse(f"unknown status code {code}") from None
            statuses.append(MempoolAddTransactionStatus(code, r.blob(_U16).decode(errors="replace")))
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
        body = _json_object(r, data, "stats")
    elif op == Op.INSPECT:
        body = _json_object(r, data, "inspect")
    elif op == Op.TXN_STATUS:
        n = r.count(_TSTATUS_HEAD.size + _U16.size)
        body = [_read_txn_status(r, i) for i in range(n)]
    elif op == Op.ACCOUNT_STATUS:
        body = _read_account_status(r)
    else:
        raise MalformedResponse(f"unknown op {op}")
    r.end()
    return Response(op, request_id, True, body)
