# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# cython: cdivision=True, nonecheck=False, embedsignature=True
# distutils: language = c++
"""The Cython SignedTransaction: transaction.PySignedTransaction's API and behaviour (docs/design.md §3)
in a compact object: the wire bytes and, once computed, their 32-byte SHA3-256 hash inline
(`hash`, `txn_hash` in the .pxd); every field is read from the wire bytes on access (the
sender is their first 32 bytes).

The core reads the integers through the inline accessors of `_transaction.pxd`; `payload`,
`public_key` and `signature` are sliced from the wire form on access. transaction.py picks this class unless
pure Python is selected. The layout and the argument checks are `mempool_fast._wire`'s.
"""

cimport cython
from cpython.bytes cimport (
    PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE,
)
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memcpy

from .includes.wire cimport (
    MF_ADDRESS_LEN, MF_EXPIRATION_OFFSET, MF_MAX_GAS_OFFSET, MF_MIN_WIRE_LEN,
    MF_PAYLOAD_LEN_OFFSET, MF_PRICE_OFFSET, MF_RAW_HEADER_LEN, MF_SEQ_OFFSET, MF_SIGNATURE_LEN,
    MF_WIRE_TAIL_LEN,
)

import hashlib

from . import _wire
from ._wire import SIGNING_PREFIX, checked_fields, describe, signed_fields
from .errors import MalformedTransaction

__all__ = ["SignedTransaction"]

cdef object _SHA3_256 = hashlib.sha3_256


cdef const unsigned char* txn_hash(SignedTransaction t) except NULL:
    """The hash kept in `t`, computed by hashlib on the first call."""
    cdef bytes digest
    if not t._digested:
        digest = _SHA3_256(t._wire).digest()
        memcpy(t._digest, PyBytes_AS_STRING(digest), 32)
        t._digested = 1
    return t._digest

if (_wire.RAW_HEADER_LEN, _wire.TAIL_LEN, _wire.MIN_WIRE_LEN, _wire.SEQ_OFFSET,
        _wire.MAX_GAS_OFFSET, _wire.PRICE_OFFSET, _wire.EXPIRATION_OFFSET,
        _wire.PAYLOAD_LEN_OFFSET, _wire.ADDRESS_LEN) != (
        MF_RAW_HEADER_LEN, MF_WIRE_TAIL_LEN, MF_MIN_WIRE_LEN, MF_SEQ_OFFSET, MF_MAX_GAS_OFFSET,
        MF_PRICE_OFFSET, MF_EXPIRATION_OFFSET, MF_PAYLOAD_LEN_OFFSET, MF_ADDRESS_LEN):
    raise ImportError("includes/wire.pxd and _wire.py disagree on the wire layout")


cdef inline uint32_t _le32(const unsigned char* p) noexcept:
    return (<uint32_t>p[0] | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16)
            | (<uint32_t>p[3] << 24))


cdef SignedTransaction _decoded(type cls, bytes data):
    """A transaction of `cls` over checked wire bytes `data` (its header is trusted)."""
    cdef SignedTransaction t
    if cls is SignedTransaction:
        t = SignedTransaction.__new__(SignedTransaction)
    else:
        t = cls.__new__(cls)
    t._wire = data
    return t


@cython.no_gc
cdef class SignedTransaction:
    """An immutable signed transaction; equal and hashable by content.

    Equal to a transaction.PySignedTransaction with the same wire form (same hash too).
    """

    def __init__(self, *, sender, sequence_number, payload, max_gas_amount, gas_unit_price,
                 expiration_time, public_key, signature):
        fields = checked_fields(sender, sequence_number, payload, max_gas_amount,
                                gas_unit_price, expiration_time, public_key, signature)
        self._wire = fields[len(fields) - 1]  # (sender, the four integers, wire bytes)
        self._digested = 0  # (a repeated __init__ must not keep the old hash)

    def __setattr__(self, name, value):
        raise AttributeError("SignedTransaction is immutable")

    def __delattr__(self, name):
        raise AttributeError("SignedTransaction is immutable")

    @property
    def sequence_number(self):
        return txn_seq(self)

    @property
    def max_gas_amount(self):
        return txn_max_gas(self)

    @property
    def gas_unit_price(self):
        return txn_price(self)

    @property
    def expiration_time(self):
        return txn_expiration(self)

    @property
    def sender(self):
        """The sender's 32-byte address (the wire form's first 32 bytes)."""
        return self._wire[:MF_ADDRESS_LEN]

    @property
    def payload(self):
        return self._wire[MF_RAW_HEADER_LEN:PyBytes_GET_SIZE(self._wire) - MF_WIRE_TAIL_LEN]

    @property
    def public_key(self):
        cdef Py_ssize_t n = PyBytes_GET_SIZE(self._wire)
        return self._wire[n - MF_WIRE_TAIL_LEN:n - MF_SIGNATURE_LEN]

    @property
    def signature(self):
        cdef Py_ssize_t n = PyBytes_GET_SIZE(self._wire)
        return self._wire[n - MF_SIGNATURE_LEN:]

    # -- construction --
    @classmethod
    def create(cls, signing_key, sequence_number, *, payload=b"", max_gas_amount=1_000_000,
               gas_unit_price=0, expiration_time=None):
        """Build and sign a transaction with a `nacl.signing.SigningKey`."""
        return cls(**signed_fields(signing_key, sequence_number, payload, max_gas_amount,
                                    gas_unit_price, expiration_time))

    # -- encoding --
    def raw_bytes(self):
        """The signed part: sender | seq | max_gas | gas_price | expiration | len | payload."""
        return self._wire[:PyBytes_GET_SIZE(self._wire) - MF_WIRE_TAIL_LEN]

    def signing_message(self):
        """What the signature covers: SHA3-256 domain prefix followed by the raw bytes."""
        return SIGNING_PREFIX + self.raw_bytes()

    def to_bytes(self):
        """Wire form: raw bytes | public key | signature."""
        return self._wire

    @classmethod
    def from_bytes(cls, data):
        """Decode the wire form; raises MalformedTransaction on any inconsistency."""
        cdef Py_ssize_t n
        cdef uint64_t expected
        if not PyBytes_CheckExact(data):
            if not isinstance(data, (bytes, bytearray, memoryview)):  # bytes(n): n zeros
                raise MalformedTransaction(f"expected bytes, got {type(data).__name__}")
            data = bytes(data)
        n = PyBytes_GET_SIZE(data)
        expected = <uint64_t>MF_MIN_WIRE_LEN
        if n >= MF_MIN_WIRE_LEN:
            expected += _le32(<const unsigned char*>PyBytes_AS_STRING(data)
                              + MF_PAYLOAD_LEN_OFFSET)
        if <uint64_t>n != expected:
            _wire.parse_header(data)  # raises the shared, explanatory MalformedTransaction
        return _decoded(cls, data)

    # -- identity --
    @property
    def pointer(self):
        """(sender, sequence_number): the transaction's place in the mempool."""
        return (self._wire[:MF_ADDRESS_LEN], txn_seq(self))

    @property
    def hash(self):
        """SHA3-256 of the wire form (32 bytes): the transaction's id, what
        `CoreMempool.get_by_hash` finds it by. Computed on first use and kept in the object
        (each access returns a new bytes object of it). O(1) after the first."""
        return PyBytes_FromStringAndSize(<const char*>txn_hash(self), 32)

    def __eq__(self, other):
        if self is other:
            return True
        if isinstance(other, SignedTransaction):
            return self._wire == (<SignedTransaction>other)._wire
        return NotImplemented  # a PySignedTransaction answers the reflected comparison

    def __hash__(self):
        return hash(self._wire)  # bytes keep their hash once computed

    def __reduce__(self):
        return (_from_wire, (self._wire,))

    def __repr__(self):
        return describe(self)


def _from_wire(data):
    """Unpickle: the transaction of a wire form."""
    return SignedTransaction.from_bytes(data)
