# cython: language_level=3
"""The C layout of the Cython SignedTransaction, so other extensions read its fields directly."""

from libc.stdint cimport uint64_t


cdef class SignedTransaction:
    # the sender is the wire form's first 32 bytes (the `sender` property slices them)
    cdef readonly uint64_t sequence_number
    cdef readonly uint64_t max_gas_amount
    cdef readonly uint64_t gas_unit_price
    cdef readonly uint64_t expiration_time
    cdef bytes _wire
    cdef Py_hash_t _hash  # -1: not computed yet (a Python hash is never -1)
