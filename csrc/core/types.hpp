// The data of the Cython core's indexes (csrc/core/core.hpp): entries, accounts, and the keys
// the ordered indexes hold. Entries live in a pool (entry_pool.hpp) and own a strong reference
// to their Python SignedTransaction; accounts hold their entries in a vector sorted by sequence
// number. Index keys carry what their order compares (price, expiry, an address prefix), so a
// search reads keys, not entries. Everything here runs with the GIL held.
#pragma once

#include <Python.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace mpf {

typedef unsigned __int128 u128;
// The same, aligned to 8 as a field (a typedef may lower alignment): keeps Account at 8-byte
// alignment, 16 bytes smaller.
typedef unsigned __int128 u128_field __attribute__((aligned(8)));

enum : uint8_t { ST_NOT_READY = 0, ST_READY = 1, ST_NON_QUALIFIED = 2 };
// Removal reasons of the removal feed (mempool_fast.types.RemovalReason).
enum : uint8_t {
    RM_COMMITTED = 1, RM_REJECTED = 2, RM_SYSTEM_TTL = 3, RM_EXPIRED = 4, RM_EVICTED = 5,
    RM_REPLACED = 6, RM_STALE = 7
};

// What each pending transaction counts beyond its wire size toward capacity_bytes
// (mempool_fast.types.ENTRY_OVERHEAD_BYTES: _core.pyx checks they agree at import).
constexpr uint64_t ENTRY_OVERHEAD_BYTES = 200;
// The wire form's bytes besides the payload (mempool_fast._wire.MIN_WIRE_LEN: checked at import).
constexpr uint64_t WIRE_FIXED_LEN = 164;
// The bytes of an internal address. A foreign format's shorter sender (sender_length bytes,
// e.g. Ethereum's 20) is padded with zero bytes at the end: equal-length senders then compare
// (memcmp, addr_prefix) as their real bytes do.
constexpr size_t ADDR_LEN = 32;

struct Addr {
    unsigned char b[ADDR_LEN];
};

// The first 8 bytes of an address as a big-endian integer: compares like memcmp of them.
inline uint64_t addr_prefix(const unsigned char* a) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | a[i];
    return v;
}

struct Account;
struct Entry;

// The entries of one client expiration time (whole seconds), an intrusive list in insertion order.
struct ExpBucket {
    uint64_t second;
    Entry* head = nullptr;
    Entry* tail = nullptr;
};

struct Entry {
    // what get_block's walks read first, together at the front
    PyObject* txn;         // strong reference
    Account* acct;
    Entry* prev;           // the account's entry at seq - 1, if present
    uint64_t seq;
    uint64_t price;
    uint32_t mark_epoch;   // get_block scratch marks, valid while equal to the walk's epoch
    uint32_t tl_idx;       // its slot in the timeline while READY
    uint8_t mark;
    uint8_t state;
    // one bit each, in one byte (the entry is 120 bytes on 64-bit platforms, the payload
    // length included)
    uint8_t ready : 1;       // in the priority index (else in the parking lot once placed)
    uint8_t placed : 1;      // in the priority index or the parking lot yet
    uint8_t ttl_late : 1;    // in the out-of-order TTL set (inserted after the clock went back)
    uint8_t head : 1;        // in the heads index (see core.hpp)
    uint8_t own_digest : 1;  // its hash is the Cython SignedTransaction's inline one (hash_index.hpp)
    uint8_t native_wire : 1;  // a native SignedTransaction: wire_len excludes WIRE_FIXED_LEN
    uint8_t bucket;        // its broadcast bucket's timeline while READY (timeline.hpp)
    // its wire size, less WIRE_FIXED_LEN for a native transaction (its payload length, a u32
    // by the native format; a foreign transaction's whole wire size, which the core checks
    // is below 2**32: it can be far smaller than WIRE_FIXED_LEN)
    uint32_t wire_len;
    // the rest
    u128_field cost;       // what the balance check charged: gas_amount * price, or max_cost
    double expiry;         // system expiry: clock() + system_transaction_timeout_secs
    uint64_t order;        // insertion number: GC removes in (expiry, order) order
    Entry* ttl_prev;       // system-TTL list, in insertion order
    Entry* ttl_next;
    Entry* exp_prev;       // its expiration bucket's list
    Entry* exp_next;
    ExpBucket* exp_bucket;  // nullptr: no client expiration (a foreign format's None)

    bool has_expiration() const { return exp_bucket != nullptr; }
    uint64_t expiration() const { return exp_bucket->second; }  // (has_expiration() only)
    // bytes of its wire form (capacity_bytes, get_block's max_bytes)
    uint64_t wire_size() const { return uint64_t(wire_len) + native_wire * WIRE_FIXED_LEN; }
};

static_assert(sizeof(void*) != 8 || sizeof(Entry) <= 128, "an entry fits two cache lines");

struct Account {
    Addr addr;
    uint64_t prefix;           // addr_prefix(addr)
    std::vector<Entry*> txns;  // sorted by seq
    u128_field gas_lo = 0;     // sum of the entries' costs over txns, as a 192-bit number
    uint64_t gas_hi = 0;
    uint64_t cached_seq = 0;   // LRU sequence-number cache value, valid when in_cache
    uint64_t lru_stamp = 0;    // the cache's stamp of its latest use
    PyObject* sender = nullptr;  // its address as a bytes object, made when first needed
    Entry* head_entry = nullptr;  // its head while it has exactly one (core.hpp: heads)
    uint32_t n_heads = 0;
    uint32_t lru_refs = 0;     // the cache's queue entries naming it (it may not be freed before)
    uint32_t skip_epoch = 0;   // get_block's probing walk passed over one of its entries
    bool in_cache = false;
    bool dirty = false;        // touched by the current operation (core.hpp: settle_accounts)
    bool zombie = false;       // released while the cache's queue still names it
    // Left the cache while holding transactions: its ready entries at or above the current
    // sequence number may then differ from the run starting at it, so promotion walks the
    // whole run (as the pure core does) instead of stopping at the first ready entry.
    bool run_unsure = false;
};

inline int addr_cmp(const Account* a, const Account* b) {
    return a == b ? 0 : std::memcmp(a->addr.b, b->addr.b, ADDR_LEN);
}

// A ready entry in the priority index (and the heads index): gas price high->low, system expiry
// early->late, address high->low, sequence number low->high.
// Price and expiry are inline (ties on both are rare: expiry is the insertion time plus the TTL);
// a tie reads the accounts.
struct PrioKey {
    uint64_t price;
    double expiry;
    Entry* e;
};

inline PrioKey prio_key(Entry* e) { return PrioKey{e->price, e->expiry, e}; }

struct PrioLess {
    bool operator()(const PrioKey& a, const PrioKey& b) const noexcept {
        if (a.price != b.price) return a.price > b.price;
        if (a.expiry < b.expiry) return true;
        if (b.expiry < a.expiry) return false;
        if (a.e == b.e) return false;
        int c = addr_cmp(a.e->acct, b.e->acct);
        if (c) return c > 0;
        return a.e->seq < b.e->seq;
    }
};

// A parked entry: (sender, seq) ascending; eviction takes the greatest.
struct ParkKey {
    uint64_t prefix;
    uint64_t seq;
    Entry* e;
};

inline ParkKey park_key(Entry* e) { return ParkKey{e->acct->prefix, e->seq, e}; }

struct ParkLess {
    bool operator()(const ParkKey& a, const ParkKey& b) const noexcept {
        if (a.prefix != b.prefix) return a.prefix < b.prefix;
        if (a.e->acct != b.e->acct) {
            int c = addr_cmp(a.e->acct, b.e->acct);
            if (c) return c < 0;
        }
        return a.seq < b.seq;
    }
};

// A ready entry by age, in eager expiry's lazy heap (lazy_heap.hpp): its system expiry and
// insertion number; the front is the oldest (the least expiry, then the least number).
struct AgeItem {
    double expiry;
    uint64_t order;
    Entry* e;
};

struct AgeLater {
    bool operator()(const AgeItem& a, const AgeItem& b) const noexcept {
        if (a.expiry != b.expiry) return a.expiry > b.expiry;
        return a.order > b.order;
    }
};

// An account's tail in lowest_price eviction's lazy heap; the front is the next victim: the
// lowest price, then the latest system expiry, then the latest insertion.
struct TailItem {
    uint64_t price;
    double expiry;
    uint64_t order;
    Entry* e;
};

struct TailSpared {  // a is spared longer than b
    bool operator()(const TailItem& a, const TailItem& b) const noexcept {
        if (a.price != b.price) return a.price > b.price;
        if (a.expiry != b.expiry) return a.expiry < b.expiry;
        return a.order < b.order;
    }
};

// One entry of the removal feed: a strong reference to the removed transaction, and why.
struct Removal {
    PyObject* txn;
    uint8_t reason;
};

}  // namespace mpf
