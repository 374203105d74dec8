# cython: language_level=3
"""The C layout of the Cython SignedTransaction, so other extensions read its fields directly."""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.stdint cimport uint64_t

from .includes.wire cimport (
    MF_EXPIRATION_OFFSET, MF_MAX_GAS_OFFSET, MF_PRICE_OFFSET, MF_SEQ_OFFSET,
)


cdef class SignedTransaction:
    # The wire form: the sender is its first 32 bytes and the integers are read from it on
    # access (txn_* below), so a pending transaction costs one small object and its bytes.
    cdef bytes _wire
    # Its hash (SHA3-256 of _wire), inline once computed (txn_hash): 57 bytes of struct,
    # allocated as 64 (32 before), so the cache adds 32 bytes per transaction and no object.
    cdef unsigned char _digest[32]
    cdef unsigned char _digested


cdef inline uint64_t le64(const unsigned char* p) noexcept:
    return (<uint64_t>p[0] | (<uint64_t>p[1] << 8) | (<uint64_t>p[2] << 16)
            | (<uint64_t>p[3] << 24) | (<uint64_t>p[4] << 32) | (<uint64_t>p[5] << 40)
            | (<uint64_t>p[6] << 48) | (<uint64_t>p[7] << 56))


cdef inline const unsigned char* txn_wire(SignedTransaction t) noexcept:
    return <const unsigned char*>PyBytes_AS_STRING(t._wire)


cdef inline uint64_t txn_seq(SignedTransaction t) noexcept:
    return le64(txn_wire(t) + MF_SEQ_OFFSET)


cdef inline uint64_t txn_max_gas(SignedTransaction t) noexcept:
    return le64(txn_wire(t) + MF_MAX_GAS_OFFSET)


cdef inline uint64_t txn_price(SignedTransaction t) noexcept:
    return le64(txn_wire(t) + MF_PRICE_OFFSET)


cdef inline uint64_t txn_expiration(SignedTransaction t) noexcept:
    return le64(txn_wire(t) + MF_EXPIRATION_OFFSET)


# The transaction's 32-byte SHA3-256 hash (hashlib's), computed on the first call and kept in
# the object; O(len(wire)) once, then O(1). Defined in _transaction.pyx.
cdef const unsigned char* txn_hash(SignedTransaction t) except NULL
