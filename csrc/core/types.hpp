// The data of the Cython core's indexes: entries, accounts, their orders (csrc/core/core.hpp).
// Entries are heap structs owning a strong reference to their Python SignedTransaction;
// accounts hold their entries in a vector sorted by sequence number. Everything here runs
// with the GIL held (Py_DECREF when an entry is freed).
#pragma once

#include <Python.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace mpf {


typedef unsigned __int128 u128;

enum : uint8_t { ST_NOT_READY = 0, ST_READY = 1, ST_NON_QUALIFIED = 2 };
// Removal reasons of the removal feed (mempool_fast.types.RemovalReason).
enum : uint8_t {
    RM_COMMITTED = 1, RM_REJECTED = 2, RM_SYSTEM_TTL = 3, RM_EXPIRED = 4, RM_EVICTED = 5,
    RM_REPLACED = 6, RM_STALE = 7
};

struct Addr {
    unsigned char b[32];
};

struct AddrHash {
    // Addresses are SHA3-256 outputs: their first 8 bytes are already uniform.
    size_t operator()(const Addr& a) const noexcept {
        uint64_t h;
        std::memcpy(&h, a.b, sizeof h);
        return static_cast<size_t>(h);
    }
};

struct AddrEq {
    bool operator()(const Addr& x, const Addr& y) const noexcept {
        return std::memcmp(x.b, y.b, 32) == 0;
    }
};

struct Account;
struct Entry;

// The entries of one client expiration time (whole seconds), an intrusive list in insertion order.
struct ExpBucket {
    Entry* head = nullptr;
    Entry* tail = nullptr;
};
typedef std::map<uint64_t, ExpBucket> ExpMap;

typedef std::set<Entry*>::const_iterator SetIt;

struct Entry {
    PyObject* txn;  // strong reference
    Account* acct;
    Entry* prev;          // the account's entry at seq - 1, if present
    SetIt pos_it;         // in the priority index when ready, else in the parking lot
    Entry* ttl_prev;      // system-TTL list, ordered by expiry (insertion order on ties)
    Entry* ttl_next;
    SetIt ttl_it;         // in the out-of-order TTL set instead, when ttl_late
    ExpMap::iterator exp_it;  // the expiration-time bucket holding this entry
    Entry* exp_prev;
    Entry* exp_next;
    uint64_t seq;
    uint64_t gas_amount;
    uint64_t price;
    uint64_t expiration;  // client expiration time, seconds
    uint64_t tid;         // timeline id while READY, else 0
    size_t tl_idx;        // its slot in Core::tl while READY (kept by tl_compact)
    double expiry;        // system expiry: clock() + system_transaction_timeout_secs
    uint32_t mark_epoch;  // get_block scratch marks, valid while equal to Core::epoch
    uint8_t mark;
    uint8_t state;
    uint8_t ready;
    uint8_t placed;       // in the priority index or the parking lot yet
    uint8_t ttl_late;     // inserted with an expiry below the list's tail (clock went back)
};

struct Account {
    Addr addr;
    std::vector<Entry*> txns;  // sorted by seq
    u128 gas_lo = 0;           // sum of gas_amount * price over txns, as a 192-bit number
    uint64_t gas_hi = 0;
    uint64_t cached_seq = 0;   // LRU sequence-number cache value, valid when in_cache
    bool in_cache = false;
    Account* lru_prev = nullptr;
    Account* lru_next = nullptr;
};

inline int addr_cmp(const Entry* a, const Entry* b) {
    return a->acct == b->acct ? 0 : std::memcmp(a->acct->addr.b, b->acct->addr.b, 32);
}

// gas price high->low, system expiry early->late, address high->low, seq low->high
struct PrioLess {
    bool operator()(const Entry* a, const Entry* b) const noexcept {
        if (a->price != b->price) return a->price > b->price;
        if (a->expiry < b->expiry) return true;
        if (b->expiry < a->expiry) return false;
        int c = addr_cmp(a, b);
        if (c) return c > 0;
        return a->seq < b->seq;
    }
};

// (sender, seq) ascending: eviction takes the greatest
struct ParkLess {
    bool operator()(const Entry* a, const Entry* b) const noexcept {
        int c = addr_cmp(a, b);
        if (c) return c < 0;
        return a->seq < b->seq;
    }
};

// Only the set of expired entries matters to GC, so ties break by address of the entry.
struct TtlLess {
    bool operator()(const Entry* a, const Entry* b) const noexcept {
        if (a->expiry < b->expiry) return true;
        if (b->expiry < a->expiry) return false;
        return a < b;
    }
};

static_assert(std::is_same<std::set<Entry*, PrioLess>::const_iterator, SetIt>::value &&
              std::is_same<std::set<Entry*, ParkLess>::const_iterator, SetIt>::value &&
              std::is_same<std::set<Entry*, TtlLess>::const_iterator, SetIt>::value,
              "entry iterators are stored as one type");



// One entry of the removal feed: a strong reference to the removed transaction, and why.
struct Removal {
    PyObject* txn;
    uint8_t reason;
};

typedef std::unordered_map<Addr, Account*, AddrHash, AddrEq> AccountMap;

}  // namespace mpf
