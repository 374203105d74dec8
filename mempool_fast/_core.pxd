# cython: language_level=3
"""C++ declarations (csrc/core/core.hpp) and the layout of the Cython CoreMempool."""

from cpython.ref cimport PyObject
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.string cimport string
from libcpp.vector cimport vector


cdef extern from "core_index.hpp" namespace "mpf" nogil:
    uint8_t ST_NOT_READY
    uint8_t ST_READY
    uint8_t ST_NON_QUALIFIED
    uint8_t RM_COMMITTED
    uint8_t RM_REJECTED
    uint8_t RM_STALE
    uint8_t RM_REPLACED
    uint64_t ENTRY_OVERHEAD_BYTES
    uint64_t WIRE_FIXED_LEN
    size_t ADDR_LEN
    size_t TL_MAX_BUCKETS

    cdef cppclass Account

    cdef cppclass SeenSet:
        SeenSet(PyObject* seen)

    cdef cppclass Entry:
        PyObject* txn
        Account* acct
        uint64_t seq
        uint64_t price
        double expiry
        uint8_t state
        uint8_t ready
        cbool has_expiration()
        uint64_t expiration()

    cdef cppclass Account:
        vector[Entry*] txns
        uint64_t cached_seq
        cbool in_cache

    cdef cppclass Removal:
        PyObject* txn
        uint8_t reason

    cdef cppclass HashIndex:
        size_t size()
        size_t slot_count()
        Entry* slot(size_t i)
        Entry* find(const unsigned char* digest)
        void set_digest_offset(size_t offset)
        void set_key_mask(uint64_t mask)

    cdef cppclass TlSlot:
        uint64_t tid
        Entry* e

    cdef cppclass Core:
        Core(uint64_t capacity, uint64_t cap_per_user, uint64_t capacity_bytes) except +
        uint64_t capacity
        uint64_t cap_per_user
        uint64_t capacity_bytes
        size_t sender_len
        uint64_t size_bytes
        cbool full()
        size_t tl_live
        uint64_t next_tid
        size_t size
        size_t n_accounts
        vector[Removal] removed
        HashIndex hashes
        cbool feed
        cbool age_on
        cbool tails_on
        cbool protect_local
        void set_feed(cbool on)
        void drop_removed()

        Account* find(const unsigned char* addr)
        Account* get_or_create(const unsigned char* addr) except +
        PyObject* sender_object(Account* a)
        void settle_accounts() except +
        Entry* lookup(const Account* a, uint64_t seq)
        void cache_put(Account* a, uint64_t value) except +
        void cache_forget(Account* a) except +
        @staticmethod
        int balance_insufficient(const Account* a, uint64_t gas, uint64_t price,
                                 uint64_t balance)
        @staticmethod
        int cost_insufficient(const Account* a, uint64_t cost_lo, uint64_t cost_hi,
                              uint64_t balance)
        @staticmethod
        void gas_words(const Account* a, uint64_t gas, uint64_t price, uint64_t* out)
        uint64_t tid_of(const Entry* e)
        void set_buckets(const vector[uint64_t]& bounds) except +
        size_t n_buckets()
        uint64_t tl_read_merged(uint64_t after, size_t limit, vector[Entry*]& out) except +
        void tl_range_merged(uint64_t after, uint64_t upto, vector[Entry*]& out) except +
        uint64_t tl_last_of(size_t b)
        uint64_t tl_read(size_t b, uint64_t after, size_t limit, vector[Entry*]& out) except +
        void tl_range(size_t bucket, uint64_t after, uint64_t upto,
                      vector[Entry*]& out) except +
        Entry* insert(Account* a, PyObject* txn, uint64_t seq, uint64_t gas, uint64_t price,
                      uint64_t expiration_time, double expiry, uint8_t state,
                      const unsigned char* foreign_digest, uint32_t payload_len) except +
        Entry* insert_foreign(Account* a, PyObject* txn, uint64_t seq, uint64_t cost_lo,
                              uint64_t cost_hi, uint64_t price, cbool has_expiration,
                              uint64_t expiration_time, double expiry, uint8_t state,
                              const unsigned char* digest, uint32_t wire_len) except +
        void settle(Entry* e) except +
        void remove_entry(Entry* e, uint8_t reason) except +
        void clean_committed(Account* a, uint64_t current, uint8_t reason) except +
        void remove_all(Account* a, uint8_t reason) except +
        void promote(Account* a, uint64_t current) except +
        void promote_inserted(Entry* e, uint64_t current) except +
        cbool would_be_ready(const Account* a, uint64_t seq, uint64_t current)
        cbool evict_parked() except +
        void evict_parked_while_full() except +
        cbool parking_empty()
        cbool oldest_ready_expiry(double* expiry)
        cbool tails_empty()
        void evict_tails_while_full(const Account* own, uint64_t price) except +
        size_t gc_system_ttl(double now, size_t limit) except +
        size_t gc_expiration(uint64_t threshold, cbool all, size_t limit) except +
        void block_begin() except +
        void block_bytes(uint64_t budget)
        void block_seen(const unsigned char* addr, uint64_t seq) except +
        void block_run_heads(size_t limit, vector[Entry*]& out) except +
        int block_run_probe(size_t limit, vector[Entry*]& out, SeenSet& seen) except +
        size_t parking_size "parking.size"()
        size_t priority_size "priority.size"()
        string check()
        size_t longest_account_probe "accounts.longest_probe"()


cdef class CoreMempool:
    cdef Core* _core
    cdef public object config
    cdef object _clock
    cdef object _ttl
    cdef bint _ttl_exact  # _ttl is a float, or an int a double holds exactly
    cdef double _ttl_d
    cdef object _capacity_obj
    cdef object _capacity_per_user_obj
    cdef object _capacity_bytes_obj
    cdef uint64_t _bump  # replacement_price_bump_percent
    cdef object _eager_threshold_s  # eager_expire_threshold_ms / 1000 (pure.py's arithmetic)
    cdef object _eager_time_s
    cdef int _walk  # get_block's walk: 0 chosen per call, 1 heads, 2 probe (tests)
    cdef object _format  # what `transaction_format` reports
    cdef object _foreign  # a foreign format, or None: native (today's paths)
    cdef Py_ssize_t _sender_len  # bytes of a sender: 32, or the foreign format's

    cdef object _add(self, object txn, object gas_amount, object db_sequence_number,
                     object balance, uint8_t state)
    cdef object _add_steps(self, object txn, object gas_amount, object db_sequence_number,
                           object balance, uint8_t state)
    cdef size_t _gc_expiration(self, object block_time, size_t limit) except? 0
    cdef bint _mostly_held(self, object seen) except -1
    cdef Entry* _entry(self, object sender, object seq) except? NULL
    cdef const unsigned char* _sender_addr(self, object sender, unsigned char* buf) except NULL
    cdef object _full_status(self)
    cdef bint _eager_backlog(self) except -1
