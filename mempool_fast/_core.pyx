# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# cython: cdivision=True, nonecheck=False, embedsignature=True
# distutils: language = c++
"""The Cython CoreMempool: pure.CoreMempool's API and behaviour on C++ indexes (docs/design.md §4).

The index structures live in csrc/core/ (core.hpp composes them); this module converts
arguments, reads the transaction's C fields once per add, and builds the Python results and
statuses. Every public method ends with `settle_accounts()` (the accounts it touched).
Arguments that pure.py would take as any Python int are accepted here as unsigned 64-bit
integers (`gas_amount`, `db_sequence_number`, sequence numbers); `balance` may be any number
and is compared exactly.

With a foreign `transaction_format` (pure.CoreMempool's rules) the add reads the transaction's
attributes and the format's `max_cost`/`can_replace` (the native paths are untouched: one
test of `_foreign` where they differ); a sender of `sender_length` bytes is kept as a 32-byte
internal address padded with zero bytes at the end (`_pad`), and what the core hands back
(senders in the probe walk's keys) is the real `sender_length` bytes.
"""

import math
import time

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_Check, PyBytes_GET_SIZE
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_Check, PyFloat_CheckExact
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.long cimport PyLong_Check
from cpython.ref cimport Py_INCREF, PyObject
from cpython.tuple cimport PyTuple_Check, PyTuple_GET_ITEM, PyTuple_GET_SIZE, PyTuple_New, PyTuple_SET_ITEM
from libc.math cimport ceil, floor, isnan
from libc.string cimport memcpy, memset
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.string cimport string
from libcpp.vector cimport vector

from ._transaction cimport (
    SignedTransaction as CTxn, txn_expiration, txn_hash, txn_price, txn_seq, txn_wire,
)

from .includes.wire cimport MF_ADDRESS_LEN, MF_MIN_WIRE_LEN

from .config import MAX_BROADCAST_BUCKETS as _PY_MAX_BUCKETS, MempoolConfig
from .formats.core_checks import (
    MAX_CORE_SENDER_LENGTH as _PY_MAX_SENDER, check_core_cost, check_core_sender, check_core_wire,
    core_format, replacement_refused,
)
from .transaction import check_transaction_hash
from .types import (
    ENTRY_OVERHEAD_BYTES as _PY_ENTRY_OVERHEAD, STATUS_VALID, U64_MAX, RemovalReason,
    TimelineState, bucket_cursors_error, bucket_ranges_error, check_max_bytes,
    insufficient_balance, invalid_seq_number, invalid_update, mempool_is_full,
    mempool_is_full_bytes, replacement_underpriced, too_many_transactions,
)

__all__ = ["CoreMempool"]

cdef extern from "Python.h":
    unsigned long long _as_ull "PyLong_AsUnsignedLongLong"(object) noexcept
    PyObject* PyErr_Occurred() noexcept
    void PyErr_Clear() noexcept

cdef object _NOT_READY = TimelineState.NOT_READY
cdef object _READY = TimelineState.READY
cdef object _NON_QUALIFIED = TimelineState.NON_QUALIFIED
cdef tuple _ADD_STATES = (_NOT_READY, _NON_QUALIFIED)
cdef tuple _STATE_OBJECTS = (_NOT_READY, _READY, _NON_QUALIFIED)
cdef object _STATUS_VALID = STATUS_VALID
#: RemovalReason members by their C code (index 0 unused)
assert ENTRY_OVERHEAD_BYTES == _PY_ENTRY_OVERHEAD, "csrc/core/types.hpp disagrees with types.py"
assert WIRE_FIXED_LEN == MF_MIN_WIRE_LEN, "csrc/core/types.hpp disagrees with the wire layout"
assert TL_MAX_BUCKETS == _PY_MAX_BUCKETS == _MAX_BUCKETS, \
    "the most broadcast buckets disagree with config.py"
assert ADDR_LEN == MF_ADDRESS_LEN == _PY_MAX_SENDER == _ADDR_LEN, \
    "csrc/core/types.hpp disagrees with formats"
cdef tuple _REASONS = (None,) + tuple(sorted(RemovalReason, key=int))
assert all(int(r) == i for i, r in enumerate(_REASONS) if r is not None)
cdef double _TWO64 = 18446744073709551616.0
cdef uint64_t _U64MAX = 0xFFFFFFFFFFFFFFFF
cdef size_t _NO_LIMIT = <size_t>-1
cdef enum:
    _MAX_BUCKETS = 64  # csrc/core/timeline.hpp TL_MAX_BUCKETS, config.MAX_BROADCAST_BUCKETS
    _ADDR_LEN = 32  # csrc/core/types.hpp ADDR_LEN: an internal address (checked at import)
#: get_block reads the whole `seen` up front (and walks heads only) while it holds at most this
#: many pointers per transaction asked for, or when most of a sample of it is pending here
#: (in-flight transactions: a walk would visit them all anyway); otherwise (a large `seen` of
#: mostly stale pointers) it asks `seen` only about the entries it visits.
SEEN_PER_TAKE = 8
SEEN_SAMPLE = 64
cdef Py_ssize_t _SEEN_PER_TAKE = SEEN_PER_TAKE
cdef Py_ssize_t _SEEN_SAMPLE = SEEN_SAMPLE
_WALKS = {"auto": 0, "heads": 1, "probe": 2}


cdef inline bint _int_u64(object v, uint64_t* out) noexcept:
    """True and `*out` set when `v` is an int in 0..2**64-1."""
    cdef unsigned long long r
    if not PyLong_Check(v):
        return False
    r = _as_ull(v)
    if r == <unsigned long long>-1 and PyErr_Occurred() != NULL:
        PyErr_Clear()
        return False
    out[0] = r
    return True


cdef inline uint64_t _arg_u64(object v, str name) except? 0:
    """An unsigned 64-bit integer argument, or ValueError."""
    cdef uint64_t r
    if not _int_u64(v, &r):
        raise ValueError(f"{name} must be an unsigned 64-bit integer, got {v!r}")
    return r


cdef inline bint _key_u64(object v, uint64_t* out) noexcept:
    """Whether `v` equals (as a dict key) some unsigned 64-bit integer, stored in `*out`."""
    cdef double d
    if _int_u64(v, out):
        return True
    if PyFloat_Check(v):
        d = PyFloat_AS_DOUBLE(v)
        if d >= 0.0 and d < _TWO64 and floor(d) == d:
            out[0] = <uint64_t>d
            return True
    return False


cdef inline const unsigned char* _addr(object sender) noexcept:
    """The 32 bytes of an address, or NULL when `sender` is not 32 bytes."""
    if PyBytes_Check(sender) and PyBytes_GET_SIZE(sender) == 32:
        return <const unsigned char*>PyBytes_AS_STRING(sender)
    return NULL


cdef inline const unsigned char* _pad(object sender, Py_ssize_t length,
                                     unsigned char* buf) noexcept:
    """The internal address of a `length`-byte sender: the bytes themselves when `length` is 32,
    else them padded with zero bytes at the end in `buf` (32 bytes); NULL when `sender` is not
    `length` bytes. O(32)."""
    if not (PyBytes_Check(sender) and PyBytes_GET_SIZE(sender) == length):
        return NULL
    if length == ADDR_LEN:
        return <const unsigned char*>PyBytes_AS_STRING(sender)
    memset(buf, 0, ADDR_LEN)
    memcpy(buf, PyBytes_AS_STRING(sender), <size_t>length)
    return buf


cdef inline const unsigned char* _arg_addr(object sender) except NULL:
    cdef const unsigned char* a = _addr(sender)
    if a == NULL:
        raise ValueError(f"sender must be 32 bytes, got {sender!r}")
    return a


cdef uint64_t _after(object bound, bint* none_after):
    """For an id bound b, the largest u64 L with (tid > b) == (tid > L) for every tid >= 1."""
    cdef double d
    cdef uint64_t r
    none_after[0] = False
    if _int_u64(bound, &r):
        return r
    if PyFloat_Check(bound):
        d = PyFloat_AS_DOUBLE(bound)
        if isnan(d) or d >= _TWO64:
            none_after[0] = True
            return 0
        if d < 0.0:
            return 0
        return <uint64_t>floor(d)
    if not PyLong_Check(bound):
        return _after(math.floor(bound), none_after)
    if bound < 0:
        return 0
    none_after[0] = True
    return 0


cdef Py_ssize_t _limit(object n):
    """How many items `len(result) >= n` admits (n > 0 already checked)."""
    if PyLong_Check(n):
        return n if n < <object>(1 << 62) else (1 << 62)
    if PyFloat_Check(n):
        d = PyFloat_AS_DOUBLE(n)
        return <Py_ssize_t>ceil(d) if d < 4.0e18 else (1 << 62)
    return math.ceil(n)


cdef size_t _gc_limit(object limit) except? 0:
    """The removals a GC call may make: every one (None) or at least one."""
    if limit is None:
        return _NO_LIMIT
    if not PyLong_Check(limit) or limit < 1:
        raise ValueError(f"limit must be a positive int or None, got {limit!r}")
    return _NO_LIMIT if limit >= <object>_NO_LIMIT else <size_t>limit


cdef list _txn_list(vector[Entry*]& v):
    """The transactions of `v`'s entries, a new list (one reference each)."""
    cdef Py_ssize_t i, n = <Py_ssize_t>v.size()
    result = PyList_New(n)
    for i in range(n):
        t = <object>v[i].txn
        Py_INCREF(t)
        PyList_SET_ITEM(result, i, t)
    return result


cdef bint _id_range(object start_id, object end_id, uint64_t* after, uint64_t* upto):
    """The u64 bounds of the ids with `start_id < id <= end_id`; False when none can be."""
    cdef bint none_after, end_none
    after[0] = _after(start_id, &none_after)
    if none_after or after[0] == _U64MAX:
        return False
    # tid <= end_id  <=>  not (tid > end_id)
    upto[0] = _after(end_id, &end_none)
    if end_none:
        upto[0] = _U64MAX
    if isinstance(end_id, float) and isnan(<double>end_id):
        return False
    return True


cdef size_t _digest_offset():
    """Where a Cython SignedTransaction keeps its hash, in bytes from the object's start (the
    hash index reads it there: csrc/core/hash_index.hpp)."""
    cdef CTxn probe = CTxn.__new__(CTxn)
    return <size_t>(<char*>probe._digest - <char*><PyObject*>probe)


cdef size_t _DIGEST_OFFSET = _digest_offset()


cdef int _raise_current() except -1:
    """Propagate the Python error a C++ call left set (its return value said so)."""
    return -1


cdef class CoreMempool:
    """Pending transactions indexed for admission, broadcast (timeline) and consensus (priority)."""

    def __cinit__(self, config=None, clock=time.time, *, removal_feed=False,
                  transaction_format=None):
        self._format, self._foreign = core_format(transaction_format)
        self._sender_len = ADDR_LEN if self._foreign is None else self._foreign.sender_length
        cfg = config if config is not None else MempoolConfig()
        cdef uint64_t cap = min(max(cfg.capacity, 1), U64_MAX)
        cdef uint64_t per_user = min(max(cfg.capacity_per_user, 1), U64_MAX)
        cdef uint64_t cap_bytes = min(max(cfg.capacity_bytes, 1), U64_MAX)
        self._core = new Core(cap, per_user, cap_bytes)
        self._core.hashes.set_digest_offset(_DIGEST_OFFSET)
        self._core.sender_len = <size_t>self._sender_len
        self.config = cfg
        self._clock = clock
        self._ttl = cfg.system_transaction_timeout_secs
        # an int TTL below 2**53 converts to a double exactly, as float + int does
        self._ttl_exact = (PyLong_Check(self._ttl) and -(1 << 53) < self._ttl < (1 << 53)) or (
            PyFloat_CheckExact(self._ttl))
        self._ttl_d = self._ttl if self._ttl_exact else 0.0
        self._capacity_obj = cfg.capacity
        self._capacity_per_user_obj = cfg.capacity_per_user
        self._capacity_bytes_obj = cfg.capacity_bytes
        self._bump = cfg.replacement_price_bump_percent
        self._eager_threshold_s = cfg.eager_expire_threshold_ms / 1000
        self._eager_time_s = cfg.eager_expire_time_ms / 1000
        self._core.age_on = cfg.eager_expire_threshold_ms > 0
        self._core.tails_on = cfg.eviction_policy == "lowest_price"
        self._core.protect_local = bool(cfg.protect_local_transactions)
        cdef vector[uint64_t] bounds = cfg.broadcast_buckets
        self._core.set_buckets(bounds)
        self._core.set_feed(bool(removal_feed))
        self._walk = 0

    def __dealloc__(self):
        if self._core != NULL:
            del self._core
            self._core = NULL

    @property
    def transaction_format(self):
        """The format this core indexes: ``formats.NATIVE`` (built with None), the given
        ``NativeFormat``, or the given foreign format. Read-only."""
        return self._format

    cdef const unsigned char* _sender_addr(self, object sender, unsigned char* buf) except NULL:
        """The internal address of a sender argument (`buf`: 32 bytes of scratch), or the
        ValueError of a sender of another length (pure.py's message for a foreign format)."""
        cdef const unsigned char* a = _pad(sender, self._sender_len, buf)
        if a != NULL:
            return a
        if self._foreign is None:
            return _arg_addr(sender)  # raises
        check_core_sender(sender, self._foreign)  # raises
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ removal feed
    @property
    def removal_feed(self):
        """Whether removals are recorded for `drain_removed` (turning it off drops the record)."""
        return self._core.feed

    @removal_feed.setter
    def removal_feed(self, enabled):
        self._core.set_feed(bool(enabled))

    def drain_removed(self):
        """Every transaction removed since the last call, with why, each reported once (in
        removal order; within one GC call the order is the core's own). O(removed)."""
        cdef Core* core = self._core
        cdef size_t i, n = core.removed.size()
        cdef object item, txn, reason
        result = PyList_New(<Py_ssize_t>n)
        for i in range(n):
            item = PyTuple_New(2)
            txn = <object>core.removed[i].txn
            Py_INCREF(txn)  # SET_ITEM steals a reference
            PyTuple_SET_ITEM(item, 0, txn)
            reason = _REASONS[core.removed[i].reason]
            Py_INCREF(reason)
            PyTuple_SET_ITEM(item, 1, reason)
            Py_INCREF(item)
            PyList_SET_ITEM(result, <Py_ssize_t>i, item)
        core.drop_removed()  # the feed's own references; the tuples hold theirs
        return result

    # ------------------------------------------------------------------ admission
    def add_txn(self, txn, gas_amount, db_sequence_number, balance, timeline_state):
        """Admit one transaction; the rules and their order are docs/design.md §4."""
        cdef uint8_t state
        if timeline_state is _NOT_READY:
            state = ST_NOT_READY
        elif timeline_state is _NON_QUALIFIED:
            state = ST_NON_QUALIFIED
        elif timeline_state in _ADD_STATES:
            state = ST_NOT_READY if timeline_state == _NOT_READY else ST_NON_QUALIFIED
        else:
            raise ValueError("timeline_state must be NOT_READY or NON_QUALIFIED")
        return self._add(txn, gas_amount, db_sequence_number, balance, state)

    def add_txns(self, batch, timeline_state):
        """`add_txn` over `(txn, gas_amount, db_sequence_number, balance)` tuples, in order."""
        return [self.add_txn(txn, gas, db_seq, bal, timeline_state)
                for txn, gas, db_seq, bal in batch]

    cdef object _add(self, object txn, object gas_amount, object db_sequence_number,
                     object balance, uint8_t state):
        try:
            return self._add_steps(txn, gas_amount, db_sequence_number, balance, state)
        finally:
            self._core.settle_accounts()

    cdef object _add_steps(self, object txn, object gas_amount, object db_sequence_number,
                           object balance, uint8_t state):
        cdef Core* core = self._core
        cdef uint64_t gas = _arg_u64(gas_amount, "gas_amount")
        cdef uint64_t db = _arg_u64(db_sequence_number, "db_sequence_number")
        cdef const unsigned char* addr
        cdef uint64_t seq, price, expiration = 0
        cdef CTxn ct
        cdef object foreign = self._foreign
        cdef unsigned char padded[_ADDR_LEN]
        cdef bint has_expiration = True
        cdef uint64_t cost_lo = 0, cost_hi = 0
        cdef uint32_t wire_len = 0
        cdef object cost = None, digest = None
        if foreign is not None:  # pure.py's checks, in its order, before anything changes
            addr = self._sender_addr(txn.sender, padded)
            seq = _arg_u64(txn.sequence_number, "sequence_number")
            price = _arg_u64(txn.gas_unit_price, "gas_unit_price")
            exp_obj = txn.expiration_time
            has_expiration = exp_obj is not None
            if has_expiration:
                expiration = _arg_u64(exp_obj, "expiration_time")
            digest = check_transaction_hash(txn.hash)
            cost = check_core_cost(foreign.max_cost(txn), foreign)
            cost_lo = <uint64_t>(cost & _U64MAX)
            cost_hi = <uint64_t>(cost >> 64)
            wire_len = <uint32_t>check_core_wire(txn)
        elif isinstance(txn, CTxn):  # the C fields, no attribute lookups
            ct = <CTxn>txn
            addr = txn_wire(ct)
            seq = txn_seq(ct)
            price = txn_price(ct)
            expiration = txn_expiration(ct)
        else:
            addr = _arg_addr(txn.sender)
            seq = _arg_u64(txn.sequence_number, "sequence_number")
            price = _arg_u64(txn.gas_unit_price, "gas_unit_price")
            expiration = _arg_u64(txn.expiration_time, "expiration_time")
        cdef Account* acct = core.find(addr)
        cdef uint64_t bal
        cdef uint64_t w[5]
        cdef bint insufficient
        cdef uint64_t current
        cdef Entry* old
        cdef double expiry

        # 1. balance covers this and every pending transaction of the account
        if foreign is not None:
            if _int_u64(balance, &bal):
                insufficient = Core.cost_insufficient(acct, cost_lo, cost_hi, bal)
            else:  # exact: the cost is an int already, the total three words
                Core.gas_words(acct, 0, 0, w)
                insufficient = cost + (((<object>w[4]) << 128) | ((<object>w[3]) << 64)
                                       | w[2]) > balance
        elif _int_u64(balance, &bal):
            insufficient = Core.balance_insufficient(acct, gas, price, bal)
        else:
            Core.gas_words(acct, gas, price, w)
            required = (((<object>w[1]) << 64) | w[0]) + (
                ((<object>w[4]) << 128) | ((<object>w[3]) << 64) | w[2])
            insufficient = required > balance
        if insufficient:
            return insufficient_balance(balance)

        # 2. current sequence number = max(cache, db), cached even if we reject below
        cdef bint raised = acct == NULL or not acct.in_cache or acct.cached_seq < db
        if raised:
            current = db
        else:
            current = acct.cached_seq
        if acct == NULL:
            acct = core.get_or_create(addr)
        core.cache_put(acct, current)
        if raised and not acct.txns.empty():
            # a higher current makes parked transactions ready now, whatever happens next
            core.promote(acct, current)
        if seq < current:
            return invalid_seq_number(seq, current)

        # 3. same pointer present: identical is a no-op, a better price replaces (strictly
        # higher, and by replacement_price_bump_percent)
        old = core.lookup(acct, seq)
        if old != NULL:
            old_txn = <object>old.txn
            if old_txn is txn or old_txn == txn:
                return _STATUS_VALID
            if foreign is not None:
                if not foreign.can_replace(old_txn, txn):
                    return replacement_refused(foreign)
            elif (txn.payload != old_txn.payload
                    or txn.max_gas_amount != old_txn.max_gas_amount
                    or expiration != old.expiration()):
                return invalid_update()
            if price <= old.price or (self._bump != 0 and <object>price * 100 <
                                      <object>old.price * (100 + self._bump)):
                return replacement_underpriced(old.price, self._bump)
            core.remove_entry(old, RM_REPLACED)

        # 4. full (capacity or capacity_bytes): evict parked transactions (the greatest parked
        # pointer first), then with lowest_price the cheapest account tails, but only to
        # admit a would-be-ready one
        if core.full():
            if (core.parking_empty() and core.tails_empty()) or not core.would_be_ready(
                    acct, seq, current):
                return self._full_status()
            core.evict_parked_while_full()
            if core.tails_on:
                core.evict_tails_while_full(acct, price)
            if core.full():  # nothing more may be evicted
                return self._full_status()

        # 5. drop what is below the current sequence number (already committed)
        core.clean_committed(acct, current, RM_STALE)
        # 6. per-account limit
        if acct.txns.size() >= core.cap_per_user:
            return too_many_transactions(self._capacity_per_user_obj)

        # 7. insert, then promote what became ready
        now = self._clock()
        if PyFloat_CheckExact(now) and self._ttl_exact:
            expiry = PyFloat_AS_DOUBLE(now) + self._ttl_d  # what float + int computes
        else:
            expiry = now + self._ttl
        cdef Entry* entry
        if foreign is not None:
            entry = core.insert_foreign(acct, <PyObject*>txn, seq, cost_lo, cost_hi, price,
                                        has_expiration, expiration, expiry, state,
                                        <const unsigned char*>PyBytes_AS_STRING(digest),
                                        wire_len)
            core.promote_inserted(entry, current)
            core.settle(entry)
            return _STATUS_VALID
        # its hash: a Cython transaction's is computed now unless cached, and read in place
        cdef const unsigned char* foreign_digest = NULL
        cdef Py_ssize_t wire_size
        if isinstance(txn, CTxn):
            txn_hash(<CTxn>txn)
            wire_size = PyBytes_GET_SIZE((<CTxn>txn)._wire)
        else:
            digest = check_transaction_hash(txn.hash)
            foreign_digest = <const unsigned char*>PyBytes_AS_STRING(digest)
            wire_size = len(txn.to_bytes())
        # a wire form is MF_MIN_WIRE_LEN bytes and a payload of a u32 length (the format's)
        entry = core.insert(acct, <PyObject*>txn, seq, gas, price, expiration, expiry, state,
                            foreign_digest, <uint32_t>(wire_size - MF_MIN_WIRE_LEN))
        core.promote_inserted(entry, current)
        core.settle(entry)
        return _STATUS_VALID

    # ------------------------------------------------------------------ consensus
    def get_block(self, batch_size, seen=frozenset(), max_bytes=None):
        """Ready transactions by priority, each after its predecessor, skipping `seen`; at
        most `max(batch_size, 1)`, and stopping before the summed wire size would exceed
        `max_bytes` (the first one is taken whatever its size).

        O(b log b + h) for a block of b with h heads passed over when `seen` is empty or small
        (it is read whole, O(|seen|)); past `SEEN_PER_TAKE` pointers per transaction asked for,
        O(w) for the w entries Libra's walk visits, asking `seen` about those only."""
        cdef Core* core = self._core
        cdef vector[Entry*] out
        cdef Py_ssize_t limit = _limit(max(batch_size, 1))
        cdef uint64_t s
        cdef const unsigned char* a
        cdef unsigned char padded[_ADDR_LEN]
        cdef Py_ssize_t sender_len = self._sender_len
        cdef PyObject* p0
        cdef SeenSet* probe
        cdef int walked
        if max_bytes is not None:
            check_max_bytes(max_bytes)
        core.block_begin()
        if max_bytes is not None:
            core.block_bytes(<uint64_t>min(max_bytes, U64_MAX))
        if not seen:
            core.block_run_heads(<size_t>limit, out)
        elif self._walk == 1 or (self._walk == 0 and (len(seen) <= _SEEN_PER_TAKE * limit
                                                      or self._mostly_held(seen))):
            for item in seen:
                if not PyTuple_Check(item) or PyTuple_GET_SIZE(item) != 2:
                    continue
                p0 = PyTuple_GET_ITEM(item, 0)
                a = _pad(<object>p0, sender_len, padded)  # NULL: not a pending sender's
                if a != NULL and _key_u64(<object>PyTuple_GET_ITEM(item, 1), &s):
                    core.block_seen(a, s)
            core.block_run_heads(<size_t>limit, out)
        else:
            probe = new SeenSet(<PyObject*>seen)
            try:
                walked = core.block_run_probe(<size_t>limit, out, probe[0])
            finally:
                del probe
            if walked < 0:
                _raise_current()
        return _txn_list(out)

    cdef bint _mostly_held(self, object seen) except -1:
        """Whether at least half of a sample of `seen` is pending here."""
        cdef Py_ssize_t sampled = 0, held = 0
        cdef uint64_t s
        cdef const unsigned char* a
        cdef unsigned char padded[_ADDR_LEN]
        for item in seen:
            if sampled >= _SEEN_SAMPLE:
                break
            sampled += 1
            if PyTuple_Check(item) and PyTuple_GET_SIZE(item) == 2:
                a = _pad(<object>PyTuple_GET_ITEM(item, 0), self._sender_len, padded)
                if a != NULL and _key_u64(<object>PyTuple_GET_ITEM(item, 1), &s) and \
                        self._core.lookup(self._core.find(a), s) != NULL:
                    held += 1
        return 2 * held >= sampled

    @property
    def _walk_policy(self):
        """get_block's walk: "auto" (chosen per call), "heads" or "probe" (for tests)."""
        return {v: k for k, v in _WALKS.items()}[self._walk]

    @_walk_policy.setter
    def _walk_policy(self, name):
        self._walk = _WALKS[name]

    def remove_transaction(self, sender, sequence_number, is_rejected):
        """Commit (`is_rejected=False`) or reject a transaction of `sender`."""
        cdef Core* core = self._core
        cdef unsigned char padded[_ADDR_LEN]
        cdef const unsigned char* addr = self._sender_addr(sender, padded)
        cdef uint64_t seq = _arg_u64(sequence_number, "sequence_number")
        cdef Account* acct = core.find(addr)
        cdef uint64_t current
        try:
            if is_rejected:
                if acct != NULL and acct.in_cache and seq < acct.cached_seq:
                    return
                if acct != NULL:
                    core.remove_all(acct, RM_REJECTED)
                    core.cache_forget(acct)
                return
            current = seq + 1 if seq != _U64MAX else seq
            if acct != NULL and acct.in_cache and acct.cached_seq > current:
                current = acct.cached_seq
            acct = core.get_or_create(addr)
            core.cache_put(acct, current)
            if not acct.txns.empty():
                core.clean_committed(acct, current, RM_COMMITTED)
                core.promote(acct, current)
        finally:
            core.settle_accounts()

    # ------------------------------------------------------------------ broadcast
    def read_timeline(self, timeline_id, count):
        """Up to `count` transactions with timeline id > `timeline_id`, and the last id read.
        With several broadcast buckets, of every bucket in id order (a merge)."""
        cdef vector[Entry*] out
        cdef bint none_after
        cdef uint64_t after, last
        if count <= 0:
            return [], timeline_id
        after = _after(timeline_id, &none_after)
        if none_after or after == _U64MAX:
            return [], timeline_id
        last = self._core.tl_read_merged(after, <size_t>_limit(count), out)
        if out.empty():
            return [], timeline_id
        return _txn_list(out), last

    def read_timeline_buckets(self, cursors, count):
        """Up to `count` transactions from the broadcast buckets' timelines, the highest bucket
        first, each after its cursor (`cursors`: one timeline id per bucket, lowest bucket
        first); and the cursors advanced to the last id read in each (a bucket that gave
        nothing keeps its cursor). O(buckets + log n + read): a bucket with nothing after its
        cursor costs O(1)."""
        cdef Core* core = self._core
        cdef vector[Entry*] out
        cdef uint64_t after, last, top
        cdef bint none_after
        cdef Py_ssize_t b, n = <Py_ssize_t>core.n_buckets()
        cdef size_t limit, before
        cdef uint64_t lasts[_MAX_BUCKETS]
        cdef cbool moved[_MAX_BUCKETS]
        cdef bint any_moved = False
        cdef object item
        if not PyTuple_Check(cursors) or PyTuple_GET_SIZE(cursors) != n:
            raise ValueError(bucket_cursors_error(n, cursors))
        if count <= 0:
            return [], cursors
        limit = <size_t>_limit(count)
        b = n
        while b > 0:
            b -= 1
            moved[b] = False
        b = n
        while b > 0 and out.size() < limit:
            b -= 1
            top = core.tl_last_of(b)
            if top == 0:  # never given an id
                continue
            after = _after(<object>PyTuple_GET_ITEM(cursors, b), &none_after)
            if none_after or after >= top:
                continue
            before = out.size()
            last = core.tl_read(b, after, limit - before, out)
            if out.size() > before:
                lasts[b] = last
                moved[b] = any_moved = True
        if not any_moved:
            return _txn_list(out), cursors
        advanced = PyTuple_New(n)
        for b in range(n):
            item = lasts[b] if moved[b] else <object>PyTuple_GET_ITEM(cursors, b)
            Py_INCREF(item)  # SET_ITEM steals a reference
            PyTuple_SET_ITEM(advanced, b, item)
        return _txn_list(out), advanced

    def timeline_range(self, start_id, end_id):
        """Transactions still in the timeline with `start_id < id <= end_id`, in id order (of
        every bucket)."""
        cdef vector[Entry*] out
        cdef bint none_after
        cdef uint64_t after, upto
        if not _id_range(start_id, end_id, &after, &upto):
            return []
        self._core.tl_range_merged(after, upto, out)
        return _txn_list(out)

    def timeline_range_buckets(self, ranges):
        """The transactions still in each bucket's timeline range: `ranges` holds one (start,
        end) pair per bucket, lowest bucket first (a batch `read_timeline_buckets` read: the
        cursors before and after); the highest bucket first, each `start < id <= end` in id
        order."""
        cdef Core* core = self._core
        cdef vector[Entry*] out
        cdef uint64_t after, upto
        cdef Py_ssize_t b, n = <Py_ssize_t>core.n_buckets()
        if not PyTuple_Check(ranges) or PyTuple_GET_SIZE(ranges) != n or not all(
                isinstance(r, tuple) and len(r) == 2 for r in ranges):
            raise ValueError(bucket_ranges_error(n, ranges))
        for b in reversed(range(n)):
            start_id, end_id = ranges[b]
            if _id_range(start_id, end_id, &after, &upto):
                core.tl_range(b, after, upto, out)
        return _txn_list(out)

    # ------------------------------------------------------------------ garbage collection
    def gc_by_system_ttl(self, limit=None):
        """Remove transactions whose system expiry is before `clock()`; return how many.

        At most `limit` (oldest first) when given, so a caller can release its lock between
        steps. O(r log n) for r removed."""
        cdef double now = self._clock()
        try:
            return self._core.gc_system_ttl(now, _gc_limit(limit))
        finally:
            self._core.settle_accounts()

    def gc_by_expiration_time(self, block_time, limit=None):
        """Remove transactions whose client expiration time is before `block_time` (at most
        `limit`, earliest first, when given); with eager expiry on and a backlog (the oldest
        ready transaction waited longer than `eager_expire_threshold_ms`), before
        `block_time + eager_expire_time_ms`. O(r log n) for r removed."""
        if self._core.age_on and self._eager_backlog():
            block_time = block_time + self._eager_time_s
        try:
            return self._gc_expiration(block_time, _gc_limit(limit))
        finally:
            self._core.settle_accounts()

    cdef bint _eager_backlog(self) except -1:
        """Whether the oldest ready transaction waited longer than the eager threshold (by the
        clock, since its insertion: system expiry - system TTL; pure.py's arithmetic). O(1)."""
        cdef double oldest
        if not self._core.oldest_ready_expiry(&oldest):
            return False
        return self._clock() - (oldest - self._ttl) > self._eager_threshold_s

    cdef size_t _gc_expiration(self, object block_time, size_t limit) except? 0:
        cdef uint64_t t
        cdef double d
        if _int_u64(block_time, &t):
            return self._core.gc_expiration(t, False, limit)
        if PyFloat_Check(block_time):
            d = PyFloat_AS_DOUBLE(block_time)
            if isnan(d) or d <= 0.0:
                return 0
            if d >= _TWO64:
                return self._core.gc_expiration(0, True, limit)
            d = ceil(d)
            if d >= _TWO64:
                return self._core.gc_expiration(0, True, limit)
            return self._core.gc_expiration(<uint64_t>d, False, limit)
        if block_time <= 0:
            return 0
        if block_time > U64_MAX:
            return self._core.gc_expiration(0, True, limit)
        return self._core.gc_expiration(<uint64_t>math.ceil(block_time), False, limit)

    cdef object _full_status(self):
        if self._core.size >= self._core.capacity:
            return mempool_is_full(self._capacity_obj)
        return mempool_is_full_bytes(self._capacity_bytes_obj)

    # ------------------------------------------------------------------ queries
    def health_check(self):
        """False when the pool is full and holds nothing it could evict."""
        return (not self._core.full() or not self._core.parking_empty()
                or not self._core.tails_empty())

    def size_bytes(self):
        """The pool's byte size: the wire size of every pending transaction plus
        `ENTRY_OVERHEAD_BYTES` each (what `capacity_bytes` bounds). O(1)."""
        return self._core.size_bytes

    def __len__(self):
        return self._core.size

    def __contains__(self, pointer):
        sender, seq = pointer
        return self._entry(sender, seq) != NULL

    cdef Entry* _entry(self, object sender, object seq) except? NULL:
        """The entry at a pointer, or NULL; a foreign format's sender of another length is its
        ValueError (a native one is simply not found, as before)."""
        cdef unsigned char padded[_ADDR_LEN]
        cdef const unsigned char* a = _pad(sender, self._sender_len, padded)
        cdef uint64_t s
        if a == NULL and self._foreign is not None:
            check_core_sender(sender, self._foreign)  # raises
        if a == NULL or not _key_u64(seq, &s):
            return NULL
        return self._core.lookup(self._core.find(a), s)

    def get(self, sender, sequence_number):
        """The transaction at a pointer, or None."""
        cdef Entry* e = self._entry(sender, sequence_number)
        return <object>e.txn if e != NULL else None

    def get_by_hash(self, hash):
        """The pending transaction whose `hash` (SHA3-256 of its wire form) is `hash`, or None.
        TypeError unless bytes, ValueError unless 32 of them. O(1) expected."""
        cdef Entry* e
        if not (PyBytes_Check(hash) and PyBytes_GET_SIZE(hash) == 32):
            check_transaction_hash(hash)  # raises
        e = self._core.hashes.find(<const unsigned char*>PyBytes_AS_STRING(hash))
        return <object>e.txn if e != NULL else None

    def _set_hash_key_mask(self, mask):
        """Tests only: mask the hash index's 8-byte keys (0: every transaction's key collides),
        on an empty core, to exercise the full 32-byte comparison."""
        if self._core.size:
            raise ValueError("the hash key mask can only change on an empty core")
        self._core.hashes.set_key_mask(<uint64_t>mask)

    def timeline_state(self, sender, sequence_number):
        """(state, timeline id) of a pending transaction, or None."""
        cdef Entry* e = self._entry(sender, sequence_number)
        if e == NULL:
            return None
        return (_STATE_OBJECTS[e.state], self._core.tid_of(e) if e.state == ST_READY else 0)

    def sequence_number(self, sender):
        """The cached current sequence number of an account, or None (does not touch the LRU)."""
        cdef unsigned char padded[_ADDR_LEN]
        cdef const unsigned char* a = _pad(sender, self._sender_len, padded)
        cdef Account* acct
        if a == NULL:
            if self._foreign is not None:
                check_core_sender(sender, self._foreign)  # raises
            return None
        acct = self._core.find(a)
        if acct == NULL or not acct.in_cache:
            return None
        return acct.cached_seq

    def parking_lot_size(self):
        return self._core.parking_size()

    def priority_index_size(self):
        return self._core.priority_size()

    def timeline_size(self):
        return self._core.tl_live

    def last_timeline_id(self):
        """The highest timeline id ever assigned (0 before the first)."""
        return self._core.next_tid - 1

    def account_count(self):
        return self._core.n_accounts

    def _longest_account_probe(self):
        """The longest run of occupied slots in the account table (for tests)."""
        return self._core.longest_account_probe()

    def _check(self):
        """Raise AssertionError when an internal invariant does not hold (for tests)."""
        cdef string problem = self._core.check()
        if problem.size():
            raise AssertionError(problem.decode("utf-8"))
        # what the C++ check cannot see: each indexed entry's key is its transaction's hash
        cdef HashIndex* hashes = &self._core.hashes
        cdef size_t i
        cdef Entry* e
        for i in range(hashes.slot_count()):
            e = hashes.slot(i)
            if e != NULL and self.get_by_hash((<object>e.txn).hash) is not <object>e.txn:
                raise AssertionError("hash index: a transaction is not found by its hash")
