"""Ethereum's signed transactions as a mempool format (docs/design.md §3 "Transaction formats").

``EthereumFormat(chain_id, *, base_fee=0)`` decodes two kinds of raw signed transactions:

- legacy: ``rlp([nonce, gasPrice, gas, to, value, data, v, r, s])``, with EIP-155's chain id in
  ``v`` (``v = chain_id * 2 + 35 + y``); ``v`` of 27/28 (pre-EIP-155, no chain id) decodes but
  ``verify`` refuses it, as modern nodes do by default;
- EIP-1559 (type 2): ``0x02 || rlp([chain_id, nonce, max_priority_fee_per_gas,
  max_fee_per_gas, gas, to, value, data, access_list, y_parity, r, s])``.

Other typed transactions (EIP-2930 type 1, blobs, EIP-7702) are ``MalformedTransaction``
("unsupported transaction type").

What the cores read (``formats.IndexedTransaction``):

- ``sender``: the 20-byte address recovered from the secp256k1 signature over the signing hash
  (keccak-256 of the unsigned transaction), i.e. the last 20 bytes of keccak-256 of the
  uncompressed public key. Recovered lazily: by ``verify`` for a batch, or on first read of
  ``sender``/``pointer``; then kept. A signature that recovers nothing makes ``verify`` answer
  ``INVALID_SIGNATURE`` and a read of ``sender`` raise ``formats.InvalidSignature``.
- ``sequence_number``: the nonce (at most 2**64 - 1, EIP-2681).
- ``gas_unit_price``: the priority the pool orders by, the *effective tip* per gas:
  ``min(max_priority_fee_per_gas, max_fee_per_gas - base_fee)``, where a legacy transaction's
  tip cap and fee cap are both its ``gasPrice`` (as geth's ``EffectiveGasTip``). With the
  default ``base_fee=0`` that is ``gasPrice`` for legacy and ``max_priority_fee_per_gas`` for
  EIP-1559. Clamped to 0..2**64 - 1 for the cores (below 0: the fee cap does not cover the base
  fee, the transaction cannot be included now); ``txn.effective_tip(base_fee)`` is exact.
- ``max_gas_amount``: the gas limit (at most 2**64 - 1).
- ``max_cost``: ``value + gas * fee cap`` (``gasPrice`` or ``max_fee_per_gas``), the most the
  transaction can take from the sender's balance (exact; it can exceed 2**256).
- ``expiration_time``: None (Ethereum transactions do not expire: only the system TTL applies).
- ``hash``: keccak-256 of the raw bytes (what wallets and explorers call the transaction hash).

Decoding is strict and linear in the input (a walk of the transaction's fixed shape with rlp's
canonical prefix reader, not a general ``rlp.decode``): bad or non-canonical RLP, trailing
bytes, a wrong field count, an integer with a leading zero byte or too long for its field, an
address that is not 20 bytes, a bad access list, an invalid ``v``/``y_parity``, ``s`` above
secp256k1n/2 (EIP-2), a tip cap above the fee cap: each is ``MalformedTransaction`` saying
which.

The dependencies (``rlp``, ``coincurve``, ``eth-hash`` with pycryptodome) are imported when an
``EthereumFormat`` is made or a transaction decoded, never at import of this module; missing,
they raise an ``ImportError`` naming ``pip install 'mempool_fast[ethereum]'``.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from .._wire import U64_MAX
from ..errors import MalformedTransaction
from ..types import MempoolAddTransactionStatus, MempoolAddTransactionStatusCode as Code
from . import InvalidSignature

if TYPE_CHECKING:
    from . import IndexedTransaction, TransactionFormat

__all__ = [
    "EthereumFormat", "EthereumTransaction", "decode_transaction", "LEGACY", "EIP1559",
    "SECP256K1_N", "ADDRESS_LEN", "INSTALL_HINT", "load_dependencies",
]

#: Transaction types this module decodes.
LEGACY = 0
EIP1559 = 2
#: Order of the secp256k1 group; EIP-2 refuses ``s > SECP256K1_N // 2``.
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HALF_N = SECP256K1_N // 2
#: Bytes of an Ethereum address (``sender``, ``to``).
ADDRESS_LEN = 20
#: Largest signed transaction accepted by default, bytes (geth's txMaxSize, 4 x 32 KiB).
MAX_TRANSACTION_BYTES = 128 * 1024
#: Largest max_cost the cores count (they keep per-account cost totals in 128-bit words).
MAX_COST = (1 << 128) - 1
_STORAGE_KEY_LEN = 32
INSTALL_HINT = "pip install 'mempool_fast[ethereum]'"

_LEGACY_FIELDS = 9
_EIP1559_FIELDS = 12
_FAILED = b""  # _sender once recovery failed


# -- dependencies, loaded on first use --------------------------------------------------------

class _Dependencies(NamedTuple):
    #: rlp's reader of one item's prefix, with its canonical-encoding checks:
    #: (data, position) -> (prefix, bytes or list, payload length, payload position)
    consume_length_prefix: Callable[[bytes, int], tuple[bytes, type, int, int]]
    decoding_error: type[Exception]
    keccak256: Callable[[bytes], bytes]
    #: (65-byte r | s | recovery id signature, 32-byte message hash) -> 65-byte uncompressed
    #: public key; ValueError when nothing recovers
    recover: Callable[[bytes, bytes], bytes]
    #: rlp.encode: a nested list of bytes and non-negative ints -> its RLP encoding (signing)
    rlp_encode: Callable[[object], bytes]
    #: coincurve.PrivateKey (signing: formats.ethereum_signing)
    private_key: Any


@functools.cache
def load_dependencies() -> _Dependencies:
    """Import rlp, coincurve and eth-hash's pycryptodome backend (once); a clear ImportError
    naming the extra when one is missing."""
    try:
        rlp = importlib.import_module("rlp")
        rlp_codec = importlib.import_module("rlp.codec")
        coincurve = importlib.import_module("coincurve")
        backend = importlib.import_module("eth_hash.backends.pycryptodome")
    except ImportError as exc:
        raise ImportError(
            f"Ethereum transactions need the 'ethereum' extra "
            f"({exc.name or exc} is not installed): {INSTALL_HINT}", name=exc.name) from exc
    public_key: Any = coincurve.PublicKey

    def recover(signature: bytes, message_hash: bytes) -> bytes:
        key = public_key.from_signature_and_message(signature, message_hash, hasher=None)
        return cast(bytes, key.format(compressed=False))

    return _Dependencies(rlp_codec.consume_length_prefix, rlp.DecodingError, backend.keccak256,
                         recover, rlp.encode, coincurve.PrivateKey)


# -- RLP pieces used to rebuild the signing payload from the raw bytes ------------------------

def _encoded_int_len(value: int) -> int:
    """Bytes of the canonical RLP encoding of a non-negative int."""
    if value < 0x80:
        return 1  # 0 is 0x80, 1..127 are themselves
    return 1 + (value.bit_length() + 7) // 8  # at most 32 bytes here: a short string


def _encode_int(value: int) -> bytes:
    if value == 0:
        return b"\x80"
    if value < 0x80:
        return bytes((value,))
    data = value.to_bytes((value.bit_length() + 7) // 8, "big")
    if len(data) < 56:
        return bytes((0x80 + len(data),)) + data
    size = len(data).to_bytes((len(data).bit_length() + 7) // 8, "big")
    return bytes((0xB7 + len(size),)) + size + data


def _list_prefix(length: int) -> bytes:
    if length < 56:
        return bytes((0xC0 + length,))
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((0xF7 + len(size),)) + size


def _list_header_len(first: int) -> int:
    """Bytes of an RLP list header whose first byte is `first` (>= 0xc0)."""
    return 1 if first <= 0xF7 else 1 + first - 0xF7


# -- RLP decoding ----------------------------------------------------------------------------------

#: Lists below the transaction's own list: access list -> entry -> storage keys.
_MAX_DEPTH = 3


def _rlp_list(data: bytes, start: int, end: int, depth: int,
              consume: Callable[[bytes, int], tuple[bytes, type, int, int]],
              limit: int | None = None) -> list[object]:
    """The items of the RLP list whose payload is data[start:end]: bytes, or lists of them down
    to `depth` more levels; with `limit`, at most `limit` + 1 of them (the walk stops there:
    one more than a transaction's fields is enough to refuse it). rlp's own prefix reader
    checks that every prefix is canonical; this walk (rather than ``rlp.decode``) keeps
    decoding linear in the input and bounded in depth, as a transaction's fixed shape allows
    (``rlp.decode`` concatenates each list's encoding item by item, quadratic for a long flat
    list, and recurses as deep as the input nests)."""
    items: list[object] = []
    pos = start
    while pos < end:
        if limit is not None and len(items) > limit:
            break
        _, kind, length, payload = consume(data, pos)
        stop = payload + length
        if stop > end:
            raise MalformedTransaction("invalid RLP: an item runs past the end of its list")
        if kind is list:
            if depth == 0:
                raise MalformedTransaction(
                    "invalid RLP: lists nested deeper than a transaction's")
            items.append(_rlp_list(data, payload, stop, depth - 1, consume))
        else:
            items.append(data[payload:stop])
        pos = stop
    return items


def _rlp_fields(body: bytes, deps: _Dependencies, what: str, count: int) -> list[object]:
    """The `count` fields of `what`'s RLP list, which must be all of `body`."""
    consume = deps.consume_length_prefix
    try:
        _, kind, length, payload = consume(body, 0)
        end = payload + length
        if end > len(body):
            raise MalformedTransaction(
                f"invalid RLP: truncated, the list needs {end} bytes, got {len(body)}")
        if end < len(body):
            raise MalformedTransaction(
                f"invalid RLP: {len(body) - end} bytes after the transaction's list")
        if kind is not list:
            raise MalformedTransaction("a type-2 transaction's payload is not an RLP list")
        items = _rlp_list(body, payload, end, _MAX_DEPTH, consume, count)
    except deps.decoding_error as exc:
        detail = exc.args[0] if exc.args else exc
        raise MalformedTransaction(f"invalid RLP: {detail}") from None
    except IndexError:
        raise MalformedTransaction("invalid RLP: truncated") from None
    if len(items) != count:
        got = "more" if len(items) > count else len(items)
        raise MalformedTransaction(f"{what} has {count} fields, got {got}")
    return items


# -- field checks --------------------------------------------------------------------------------

def _int(item: object, field: str, max_bytes: int = 32) -> int:
    """A canonical big-endian integer field (no leading zero byte, at most `max_bytes`)."""
    if type(item) is not bytes:
        raise MalformedTransaction(f"{field} is an RLP list, expected an integer")
    size = len(item)
    if size and item[0] == 0:
        raise MalformedTransaction(f"{field} is not a canonical integer (leading zero byte)")
    if size > max_bytes:
        raise MalformedTransaction(
            f"{field} is {size} bytes, longer than the {max_bytes} bytes of its field")
    return int.from_bytes(item, "big")


def _to(item: object) -> bytes:
    if type(item) is not bytes:
        raise MalformedTransaction("to is an RLP list, expected an address")
    if len(item) not in (0, ADDRESS_LEN):
        raise MalformedTransaction(
            f"to is {len(item)} bytes, expected a {ADDRESS_LEN}-byte address or empty "
            "(contract creation)")
    return item


def _data(item: object) -> bytes:
    if type(item) is not bytes:
        raise MalformedTransaction("data is an RLP list, expected bytes")
    return item


def _access_list(item: object) -> tuple[tuple[bytes, tuple[bytes, ...]], ...]:
    if type(item) is not list:
        raise MalformedTransaction("access_list is not an RLP list")
    entries = []
    for n, entry in enumerate(item):
        if type(entry) is not list or len(entry) != 2:
            raise MalformedTransaction(
                f"access_list entry {n} is not a list of an address and storage keys")
        address, keys = entry
        if type(address) is not bytes or len(address) != ADDRESS_LEN:
            raise MalformedTransaction(
                f"access_list entry {n}: the address is not {ADDRESS_LEN} bytes")
        if type(keys) is not list:
            raise MalformedTransaction(f"access_list entry {n}: storage keys are not a list")
        for key in keys:
            if type(key) is not bytes or len(key) != _STORAGE_KEY_LEN:
                raise MalformedTransaction(
                    f"access_list entry {n}: a storage key is not {_STORAGE_KEY_LEN} bytes")
        entries.append((address, tuple(keys)))
    return tuple(entries)


def _signature(r_item: object, s_item: object) -> tuple[int, int]:
    r = _int(r_item, "r")
    s = _int(s_item, "s")
    if s > _HALF_N:
        raise MalformedTransaction(
            "s is above secp256k1n/2: a malleable signature, refused since EIP-2")
    return r, s


def _clamped(tip: int) -> int:
    return 0 if tip < 0 else U64_MAX if tip > U64_MAX else tip


# -- the transaction ------------------------------------------------------------------------------

class EthereumTransaction:
    """A decoded signed Ethereum transaction: immutable, equal and hashable by its raw bytes.

    Make one with ``EthereumFormat.decode`` (or ``decode_transaction``). Legacy transactions
    report ``tx_type`` 0 and have both ``max_priority_fee_per_gas`` and ``max_fee_per_gas``
    equal to their ``gasPrice`` (``gas_price``); ``chain_id`` is None for a pre-EIP-155 one.
    ``v`` is the legacy ``v`` or the EIP-1559 ``y_parity``.
    """

    __slots__ = ("_raw", "tx_type", "chain_id", "sequence_number", "max_priority_fee_per_gas",
                 "max_fee_per_gas", "max_gas_amount", "to", "value", "data", "access_list",
                 "v", "r", "s", "gas_unit_price", "max_cost", "_base_fee", "_sender", "_hash")

    _raw: bytes
    tx_type: int
    chain_id: int | None
    sequence_number: int
    max_priority_fee_per_gas: int
    max_fee_per_gas: int
    max_gas_amount: int
    to: bytes
    value: int
    data: bytes
    access_list: tuple[tuple[bytes, tuple[bytes, ...]], ...]
    v: int
    r: int
    s: int
    gas_unit_price: int
    max_cost: int
    _base_fee: int
    _sender: bytes | None
    _hash: bytes | None

    def __init__(self) -> None:
        raise TypeError("EthereumTransaction is made by EthereumFormat.decode(raw bytes)")

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("EthereumTransaction is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("EthereumTransaction is immutable")

    # -- what the cores index --
    @property
    def sender(self) -> bytes:
        """The 20-byte address that signed it (recovered on first use, then kept);
        ``InvalidSignature`` when the signature recovers no public key. (On Python 3.11,
        ``isinstance(txn, IndexedTransaction)`` reads this property, so it raises that too for
        such a transaction: ``verify`` first.)"""
        sender = self._sender
        if sender is None:
            sender = self._recover()
        if not sender:
            raise InvalidSignature(_UNRECOVERABLE)
        return sender

    @property
    def pointer(self) -> tuple[bytes, int]:
        """(sender, nonce): the transaction's place in the mempool."""
        return (self.sender, self.sequence_number)

    @property
    def expiration_time(self) -> int | None:
        """Always None: Ethereum transactions carry no expiration time."""
        return None

    @property
    def hash(self) -> bytes:
        """keccak-256 of the raw bytes (32 bytes): the Ethereum transaction hash."""
        digest = self._hash
        if digest is None:
            digest = load_dependencies().keccak256(self._raw)
            object.__setattr__(self, "_hash", digest)
        return digest

    def to_bytes(self) -> bytes:
        """The raw signed transaction, as decoded (type byte included for EIP-1559)."""
        return self._raw

    # -- Ethereum names --
    @property
    def nonce(self) -> int:
        return self.sequence_number

    @property
    def gas_limit(self) -> int:
        return self.max_gas_amount

    @property
    def gas_price(self) -> int | None:
        """A legacy transaction's ``gasPrice``; None for EIP-1559."""
        return self.max_fee_per_gas if self.tx_type == LEGACY else None

    @property
    def base_fee(self) -> int:
        """The base fee ``gas_unit_price`` was computed with (the decoding format's)."""
        return self._base_fee

    def effective_tip(self, base_fee: int) -> int:
        """``min(max_priority_fee_per_gas, max_fee_per_gas - base_fee)``, exact (negative when
        the fee cap does not cover `base_fee`)."""
        return min(self.max_priority_fee_per_gas, self.max_fee_per_gas - base_fee)

    def signing_hash(self) -> bytes:
        """keccak-256 of what the signature covers (the unsigned transaction; EIP-155 adds
        ``chain_id, 0, 0`` to a legacy one)."""
        return load_dependencies().keccak256(self._signing_payload())

    def _signing_payload(self) -> bytes:
        # The raw bytes are canonical RLP (decoding checked it), so the unsigned fields are the
        # raw list's contents without the encodings of v, r and s at its end.
        raw = self._raw
        start = 0 if self.tx_type == LEGACY else 1
        body_start = start + _list_header_len(raw[start])
        body_end = len(raw) - (_encoded_int_len(self.v) + _encoded_int_len(self.r)
                               + _encoded_int_len(self.s))
        body = raw[body_start:body_end]
        if self.tx_type == LEGACY:
            if self.chain_id is not None:  # EIP-155
                body += _encode_int(self.chain_id) + b"\x80\x80"
            return _list_prefix(len(body)) + body
        return b"\x02" + _list_prefix(len(body)) + body

    def _recovery_id(self) -> int:
        if self.tx_type != LEGACY:
            return self.v
        return self.v - 27 if self.chain_id is None else (self.v - 35) & 1

    def _recover(self) -> bytes:
        """Recover and keep the sender; _FAILED (kept too) when the signature recovers
        nothing."""
        deps = load_dependencies()
        signature = (self.r.to_bytes(32, "big") + self.s.to_bytes(32, "big")
                     + bytes((self._recovery_id(),)))
        try:
            public_key = deps.recover(signature, deps.keccak256(self._signing_payload()))
        except ValueError:
            sender = _FAILED
        else:
            sender = deps.keccak256(public_key[1:])[12:]
        object.__setattr__(self, "_sender", sender)
        return sender

    # -- identity --
    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, EthereumTransaction):
            return NotImplemented
        return self._raw == other._raw

    def __hash__(self) -> int:
        return hash(self._raw)

    def __reduce__(self) -> tuple[Callable[[bytes, int], EthereumTransaction], tuple[bytes, int]]:
        return (decode_transaction, (self._raw, self._base_fee))

    def __repr__(self) -> str:
        sender = self._sender
        who = ("<unverified>" if sender is None else "<unrecoverable>" if not sender
               else "0x" + sender.hex())
        kind = "legacy" if self.tx_type == LEGACY else "eip1559"
        return (f"EthereumTransaction({kind}, chain_id={self.chain_id}, sender={who}, "
                f"nonce={self.sequence_number}, tip={self.gas_unit_price}, "
                f"gas={self.max_gas_amount}, value={self.value}, {len(self._raw)} bytes)")


_UNRECOVERABLE = ("secp256k1 signature recovers no public key over the transaction's "
                  "signing hash")


def decode_transaction(data: bytes | bytearray | memoryview, base_fee: int = 0
                       ) -> EthereumTransaction:
    """Decode a raw signed legacy or EIP-1559 transaction; ``MalformedTransaction`` for
    anything else. `base_fee` is the one ``gas_unit_price`` (the effective tip) is computed
    with. The sender is not recovered here (see ``EthereumTransaction.sender``)."""
    deps = load_dependencies()
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise MalformedTransaction(f"expected bytes, got {type(data).__name__}")
    raw = data if type(data) is bytes else bytes(data)
    if not raw:
        raise MalformedTransaction("empty transaction")
    first = raw[0]
    if first >= 0xC0:
        tx_type, body = LEGACY, raw
    elif first == EIP1559:
        tx_type, body = EIP1559, raw[1:]
    elif first <= 0x7F:
        raise MalformedTransaction(
            f"unsupported transaction type 0x{first:02x} (supported: legacy and 0x02, "
            "EIP-1559)")
    else:
        raise MalformedTransaction(
            f"not a transaction: starts with an RLP string (0x{first:02x}), expected a list "
            "or a type byte")
    if tx_type == LEGACY:
        items = _rlp_fields(body, deps, "a legacy transaction", _LEGACY_FIELDS)
    else:
        items = _rlp_fields(body, deps, "an EIP-1559 transaction", _EIP1559_FIELDS)

    txn = object.__new__(EthereumTransaction)
    set_ = object.__setattr__
    if tx_type == LEGACY:
        nonce = _int(items[0], "nonce", 8)
        tip = fee_cap = _int(items[1], "gasPrice")
        gas = _int(items[2], "gas", 8)
        to = _to(items[3])
        value = _int(items[4], "value")
        payload = _data(items[5])
        v = _int(items[6], "v")
        if v in (27, 28):
            chain_id: int | None = None  # pre-EIP-155: verify refuses it
        elif v >= 35:
            chain_id = (v - 35) >> 1
        else:
            raise MalformedTransaction(
                f"invalid v {v}: a legacy transaction's v is 27/28 or chain_id * 2 + 35/36 "
                "(EIP-155)")
        r, s = _signature(items[7], items[8])
        access_list: tuple[tuple[bytes, tuple[bytes, ...]], ...] = ()
    else:
        chain_id = _int(items[0], "chain_id")
        nonce = _int(items[1], "nonce", 8)
        tip = _int(items[2], "max_priority_fee_per_gas")
        fee_cap = _int(items[3], "max_fee_per_gas")
        if tip > fee_cap:
            raise MalformedTransaction(
                f"max_priority_fee_per_gas {tip} is above max_fee_per_gas {fee_cap}")
        gas = _int(items[4], "gas", 8)
        to = _to(items[5])
        value = _int(items[6], "value")
        payload = _data(items[7])
        access_list = _access_list(items[8])
        v = _int(items[9], "y_parity")
        if v > 1:
            raise MalformedTransaction(f"invalid y_parity {v}: expected 0 or 1")
        r, s = _signature(items[10], items[11])

    set_(txn, "_raw", raw)
    set_(txn, "tx_type", tx_type)
    set_(txn, "chain_id", chain_id)
    set_(txn, "sequence_number", nonce)
    set_(txn, "max_priority_fee_per_gas", tip)
    set_(txn, "max_fee_per_gas", fee_cap)
    set_(txn, "max_gas_amount", gas)
    set_(txn, "to", to)
    set_(txn, "value", value)
    set_(txn, "data", payload)
    set_(txn, "access_list", access_list)
    set_(txn, "v", v)
    set_(txn, "r", r)
    set_(txn, "s", s)
    set_(txn, "gas_unit_price", _clamped(min(tip, fee_cap - base_fee)))
    set_(txn, "max_cost", value + gas * fee_cap)
    set_(txn, "_base_fee", base_fee)
    set_(txn, "_sender", None)
    set_(txn, "_hash", None)
    return txn


# -- the format ------------------------------------------------------------------------------

def _status(message: str) -> MempoolAddTransactionStatus:
    return MempoolAddTransactionStatus(Code.INVALID_SIGNATURE, message)


def _check_int(name: str, value: object, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


class EthereumFormat:
    """Ethereum's legacy (EIP-155) and EIP-1559 transactions on the chain `chain_id`.

    `base_fee` (wei per gas, default 0) is what ``gas_unit_price`` (the effective tip the pool
    orders by) is computed against; with 0 it is ``gasPrice`` / ``max_priority_fee_per_gas``.
    Making one imports the dependencies (ImportError naming the extra when missing).
    """

    name = "ethereum"
    sender_length = ADDRESS_LEN
    transaction_class = EthereumTransaction

    def __init__(self, chain_id: int, *, base_fee: int = 0,
                 max_size: int = MAX_TRANSACTION_BYTES) -> None:
        self.chain_id = _check_int("chain_id", chain_id, 1)
        self.base_fee = _check_int("base_fee", base_fee, 0)
        self.max_size = _check_int("max_size", max_size, 1)
        load_dependencies()

    def decode(self, wire: bytes, /) -> EthereumTransaction:
        """``decode_transaction(wire, self.base_fee)``."""
        return decode_transaction(wire, self.base_fee)

    def verify(self, txns: Sequence[EthereumTransaction], /
               ) -> list[MempoolAddTransactionStatus | None]:
        """None per transaction that is for this chain, within ``max_size`` and the cores' cost
        bound, and whose signature recovers a sender (kept on the transaction); else
        ``PAYLOAD_TOO_LARGE`` (more than ``max_size`` raw bytes), ``INSUFFICIENT_BALANCE``
        (``max_cost`` of 2**128 wei or more: no balance covers it, and the cores count costs
        in 128 bits) or ``INVALID_SIGNATURE`` saying why: another chain id, no chain id
        (pre-EIP-155), or a signature that recovers nothing."""
        chain_id, max_size = self.chain_id, self.max_size
        results: list[MempoolAddTransactionStatus | None] = []
        append = results.append
        for txn in txns:
            size = len(txn._raw)
            if size > max_size:
                append(MempoolAddTransactionStatus(
                    Code.PAYLOAD_TOO_LARGE,
                    f"transaction of {size} bytes exceeds the maximum of {max_size} bytes"))
                continue
            if txn.max_cost > MAX_COST:
                append(MempoolAddTransactionStatus(
                    Code.INSUFFICIENT_BALANCE,
                    f"max cost {txn.max_cost} wei (value + gas * fee cap) is 2**128 or more"))
                continue
            txn_chain = txn.chain_id
            if txn_chain != chain_id:
                if txn_chain is None:
                    append(_status(
                        f"legacy transaction without a chain id (v={txn.v}, pre-EIP-155): "
                        "replayable on any chain, refused"))
                else:
                    append(_status(
                        f"transaction is signed for chain id {txn_chain}, this chain's id is "
                        f"{chain_id}"))
                continue
            sender = txn._sender
            if sender is None:
                sender = txn._recover()
            append(None if sender else _status(_UNRECOVERABLE))
        return results

    @staticmethod
    def max_cost(txn: EthereumTransaction, /) -> int:
        """``txn.max_cost``: ``value + gas * fee cap``."""
        return txn.max_cost

    @staticmethod
    def can_replace(old: EthereumTransaction, new: EthereumTransaction, /) -> bool:
        """Always: as in geth, a replacement may change anything but its sender and nonce
        (the cores still require the price rule)."""
        return True

    def __repr__(self) -> str:
        return (f"EthereumFormat(chain_id={self.chain_id}, base_fee={self.base_fee}, "
                f"max_size={self.max_size})")


if TYPE_CHECKING:  # the Ethereum pieces conform, checked by mypy
    _txn: IndexedTransaction = decode_transaction(b"")
    _format: TransactionFormat[EthereumTransaction] = EthereumFormat(1)
