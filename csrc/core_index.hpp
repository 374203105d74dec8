// The index structures of the Cython CoreMempool (mempool_fast/_core.pyx).
//
// Entries are heap structs owning a strong reference to their Python SignedTransaction;
// accounts hold their entries in a vector sorted by sequence number and double as the nodes
// of the intrusive LRU sequence-number cache; the priority index and parking lot are ordered
// sets of entry pointers; the system-TTL index is an insertion-ordered intrusive list (plus a
// set for entries inserted after the clock went back); the client-expiration index is a map of
// per-second intrusive lists; the timeline is an append-only sorted vector of (id, entry) slots
// with tombstones, compacted when they outnumber live slots.
// Everything here runs with the GIL held (Py_DECREF when an entry is freed).
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
enum : uint8_t { MARK_SEEN = 1, MARK_TAKEN = 2, MARK_SKIPPED = 4 };
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

struct TlSlot {
    uint64_t tid;
    Entry* e;  // nullptr: removed
};

// One entry of the removal feed: a strong reference to the removed transaction, and why.
struct Removal {
    PyObject* txn;
    uint8_t reason;
};

struct PtrKeyHash {
    size_t operator()(const std::pair<Account*, uint64_t>& k) const noexcept {
        return std::hash<const void*>()(k.first) ^ (k.second * 0x9E3779B97F4A7C15ULL);
    }
};

class Core {
public:
    uint64_t capacity;
    uint64_t cap_per_user;
    std::unordered_map<Addr, Account*, AddrHash, AddrEq> accounts;
    std::set<Entry*, PrioLess> priority;
    std::set<Entry*, ParkLess> parking;
    // System expiry is insertion time + a constant, so the TTL order is the insertion order:
    // a list appended at the tail in O(1). An entry older than the tail (the clock went back)
    // goes to an ordered set instead; GC reads both.
    Entry* ttl_head = nullptr;
    Entry* ttl_tail = nullptr;
    std::set<Entry*, TtlLess> ttl_late;
    // Client expiration times are whole seconds shared by many entries: one bucket per second
    // (a small map, hot in cache), O(1) list insert and removal within it.
    ExpMap expiration;
    std::vector<TlSlot> tl;
    size_t tl_head = 0;
    size_t tl_live = 0;
    uint64_t next_tid = 1;
    size_t size = 0;
    size_t n_accounts = 0;  // accounts holding at least one transaction
    Account* lru_head = nullptr;  // least recently used
    Account* lru_tail = nullptr;
    size_t lru_count = 0;
    uint32_t epoch = 0;
    std::unordered_set<std::pair<Account*, uint64_t>, PtrKeyHash> seen_absent;
    std::vector<Entry*> scratch;
    // Removed transactions not yet drained (only while `feed` is on).
    std::vector<Removal> removed;
    bool feed = false;

    Core(uint64_t capacity_, uint64_t cap_per_user_)
        : capacity(capacity_), cap_per_user(cap_per_user_) {}

    ~Core() {
        priority.clear();
        parking.clear();
        ttl_head = ttl_tail = nullptr;
        ttl_late.clear();
        expiration.clear();
        tl.clear();
        for (auto& kv : accounts) {
            Account* a = kv.second;
            for (Entry* e : a->txns) {
                PyObject* t = e->txn;
                delete e;
                Py_DECREF(t);
            }
            delete a;
        }
        accounts.clear();
        drop_removed();
    }

    // ------------------------------------------------------------------ removal feed
    void set_feed(bool on) {
        feed = on;
        if (!on) drop_removed();
    }

    void drop_removed() {
        for (Removal& r : removed) Py_DECREF(r.txn);
        removed.clear();
    }

    // ------------------------------------------------------------------ accounts
    Account* find(const unsigned char* addr) {
        Addr k;
        std::memcpy(k.b, addr, 32);
        auto it = accounts.find(k);
        return it == accounts.end() ? nullptr : it->second;
    }

    Account* get_or_create(const unsigned char* addr) {
        Addr k;
        std::memcpy(k.b, addr, 32);
        auto it = accounts.find(k);
        if (it != accounts.end()) return it->second;
        Account* a = new Account();
        a->addr = k;
        accounts.emplace(k, a);
        return a;
    }

    // Free an account record that holds no transaction and no cached sequence number.
    void release(Account* a) {
        if (a != nullptr && a->txns.empty() && !a->in_cache) {
            accounts.erase(a->addr);
            delete a;
        }
    }

    size_t lower_idx(const Account* a, uint64_t seq) const {
        auto it = std::lower_bound(a->txns.begin(), a->txns.end(), seq,
                                   [](const Entry* e, uint64_t s) { return e->seq < s; });
        return static_cast<size_t>(it - a->txns.begin());
    }

    Entry* lookup(const Account* a, uint64_t seq) const {
        if (a == nullptr) return nullptr;
        size_t i = lower_idx(a, seq);
        if (i < a->txns.size() && a->txns[i]->seq == seq) return a->txns[i];
        return nullptr;
    }

    // ------------------------------------------------------------------ LRU cache
    void lru_unlink(Account* a) {
        if (a->lru_prev) a->lru_prev->lru_next = a->lru_next; else lru_head = a->lru_next;
        if (a->lru_next) a->lru_next->lru_prev = a->lru_prev; else lru_tail = a->lru_prev;
        a->lru_prev = a->lru_next = nullptr;
    }

    void lru_append(Account* a) {
        a->lru_prev = lru_tail;
        a->lru_next = nullptr;
        if (lru_tail) lru_tail->lru_next = a; else lru_head = a;
        lru_tail = a;
    }

    // Put or refresh `a`'s cached value as most recently used, evicting the least recent.
    void cache_put(Account* a, uint64_t value) {
        if (a->in_cache) {
            if (lru_tail != a) {
                lru_unlink(a);
                lru_append(a);
            }
        } else {
            if (lru_count >= capacity && lru_head != nullptr) {
                Account* old = lru_head;
                lru_unlink(old);
                old->in_cache = false;
                lru_count--;
                release(old);
            }
            lru_append(a);
            a->in_cache = true;
            lru_count++;
        }
        a->cached_seq = value;
    }

    void cache_pop(Account* a) {
        if (a->in_cache) {
            lru_unlink(a);
            a->in_cache = false;
            lru_count--;
        }
    }

    // ------------------------------------------------------------------ gas totals
    static void gas_add(Account* a, u128 c) {
        u128 old = a->gas_lo;
        a->gas_lo += c;
        if (a->gas_lo < old) a->gas_hi++;
    }

    static void gas_sub(Account* a, u128 c) {
        if (a->gas_lo < c) a->gas_hi--;
        a->gas_lo -= c;
    }

    // 1: gas * price + the account's total exceeds `balance`; 0: it does not.
    static int balance_insufficient(const Account* a, uint64_t gas, uint64_t price,
                                    uint64_t balance) {
        u128 cost = static_cast<u128>(gas) * price;
        if (a == nullptr) return cost > balance;
        if (a->gas_hi) return 1;
        u128 req = cost + a->gas_lo;
        if (req < cost) return 1;
        return req > balance;
    }

    // Words (least significant first) of the cost (2) and the account total (3), for exact
    // comparison in Python against a balance outside 0..2**64-1.
    static void gas_words(const Account* a, uint64_t gas, uint64_t price, uint64_t* out) {
        u128 cost = static_cast<u128>(gas) * price;
        out[0] = static_cast<uint64_t>(cost);
        out[1] = static_cast<uint64_t>(cost >> 64);
        u128 lo = a ? a->gas_lo : 0;
        out[2] = static_cast<uint64_t>(lo);
        out[3] = static_cast<uint64_t>(lo >> 64);
        out[4] = a ? a->gas_hi : 0;
    }

    // ------------------------------------------------------------------ timeline
    size_t tl_lower(uint64_t tid) const {  // first slot index with slot.tid >= tid
        auto it = std::lower_bound(tl.begin() + tl_head, tl.end(), tid,
                                   [](const TlSlot& s, uint64_t t) { return s.tid < t; });
        return static_cast<size_t>(it - tl.begin());
    }

    void tl_append(Entry* e) {
        e->tid = next_tid++;
        e->tl_idx = tl.size();
        tl.push_back(TlSlot{e->tid, e});
        tl_live++;
    }

    void tl_remove(Entry* e) {
        tl[e->tl_idx].e = nullptr;
        tl_live--;
        while (tl_head < tl.size() && tl[tl_head].e == nullptr) tl_head++;
        size_t dead = tl.size() - tl_live;
        if (dead > 1024 && dead > tl_live) tl_compact();
    }

    void tl_compact() {
        std::vector<TlSlot> fresh;
        fresh.reserve(tl_live + tl_live / 2 + 16);
        for (size_t i = tl_head; i < tl.size(); ++i)
            if (tl[i].e != nullptr) {
                tl[i].e->tl_idx = fresh.size();
                fresh.push_back(tl[i]);
            }
        tl.swap(fresh);
        tl_head = 0;
    }

    // ------------------------------------------------------------------ entries
    Entry* insert(Account* a, PyObject* txn, uint64_t seq, uint64_t gas, uint64_t price,
                  uint64_t expiration_time, double expiry, uint8_t state) {
        Entry* e = new Entry();
        e->txn = txn;
        e->acct = a;
        e->seq = seq;
        e->gas_amount = gas;
        e->price = price;
        e->expiration = expiration_time;
        e->tid = 0;
        e->expiry = expiry;
        e->mark_epoch = 0;
        e->mark = 0;
        e->state = state;
        e->ready = 0;
        e->placed = 0;
        e->prev = nullptr;
        size_t i = lower_idx(a, seq);
        if (i > 0 && a->txns[i - 1]->seq + 1 == seq) e->prev = a->txns[i - 1];
        if (i < a->txns.size() && a->txns[i]->seq == seq + 1) a->txns[i]->prev = e;
        if (a->txns.empty()) n_accounts++;
        a->txns.insert(a->txns.begin() + i, e);
        Py_INCREF(txn);
        gas_add(a, static_cast<u128>(gas) * price);
        ttl_link(e);
        exp_link(e);
        size++;
        return e;  // unplaced: promote() makes it ready, or settle() parks it
    }

    // Park a new entry that promote() did not make ready.
    void settle(Entry* e) {
        if (!e->placed) {
            e->pos_it = parking.insert(e).first;
            e->placed = 1;
        }
    }

    void ttl_link(Entry* e) {
        e->ttl_late = ttl_tail != nullptr && e->expiry < ttl_tail->expiry;
        if (e->ttl_late) {
            e->ttl_it = ttl_late.insert(e).first;
            return;
        }
        e->ttl_prev = ttl_tail;
        e->ttl_next = nullptr;
        if (ttl_tail != nullptr) ttl_tail->ttl_next = e; else ttl_head = e;
        ttl_tail = e;
    }

    void exp_link(Entry* e) {
        ExpMap::iterator it = expiration.try_emplace(e->expiration).first;
        ExpBucket& b = it->second;
        e->exp_it = it;
        e->exp_next = nullptr;
        e->exp_prev = b.tail;
        if (b.tail != nullptr) b.tail->exp_next = e; else b.head = e;
        b.tail = e;
    }

    void exp_unlink(Entry* e) {
        ExpBucket& b = e->exp_it->second;
        if (e->exp_prev != nullptr) e->exp_prev->exp_next = e->exp_next; else b.head = e->exp_next;
        if (e->exp_next != nullptr) e->exp_next->exp_prev = e->exp_prev; else b.tail = e->exp_prev;
        if (b.head == nullptr) expiration.erase(e->exp_it);
    }

    void ttl_unlink(Entry* e) {
        if (e->ttl_late) {
            ttl_late.erase(e->ttl_it);
            return;
        }
        if (e->ttl_prev != nullptr) e->ttl_prev->ttl_next = e->ttl_next; else ttl_head = e->ttl_next;
        if (e->ttl_next != nullptr) e->ttl_next->ttl_prev = e->ttl_prev; else ttl_tail = e->ttl_prev;
    }

    // Drop `e` from every index but its account's vector.
    void unlink(Entry* e) {
        gas_sub(e->acct, static_cast<u128>(e->gas_amount) * e->price);
        if (e->ready) priority.erase(e->pos_it); else if (e->placed) parking.erase(e->pos_it);
        if (e->state == ST_READY) tl_remove(e);
        ttl_unlink(e);
        exp_unlink(e);
        size--;
    }

    // Free an unlinked entry; its transaction reference goes to the feed when it is on.
    void free_entry(Entry* e, uint8_t reason) {
        PyObject* t = e->txn;
        delete e;
        if (feed) removed.push_back(Removal{t, reason});
        else Py_DECREF(t);
    }

    // Remove one entry; the caller releases the account record when done with it.
    void remove_entry(Entry* e, uint8_t reason) {
        Account* a = e->acct;
        size_t i = lower_idx(a, e->seq);
        unlink(e);
        if (i + 1 < a->txns.size() && a->txns[i + 1]->prev == e) a->txns[i + 1]->prev = nullptr;
        a->txns.erase(a->txns.begin() + i);
        if (a->txns.empty()) n_accounts--;
        free_entry(e, reason);
    }

    // Remove the account's entries with seq < current (committed, or stale at an add).
    void clean_committed(Account* a, uint64_t current, uint8_t reason) {
        size_t k = lower_idx(a, current);
        if (k == 0) return;
        scratch.assign(a->txns.begin(), a->txns.begin() + k);
        for (Entry* e : scratch) unlink(e);
        if (k < a->txns.size()) a->txns[k]->prev = nullptr;
        a->txns.erase(a->txns.begin(), a->txns.begin() + k);
        if (a->txns.empty()) n_accounts--;
        for (Entry* e : scratch) free_entry(e, reason);
        scratch.clear();
    }

    void remove_all(Account* a, uint8_t reason) {
        scratch.assign(a->txns.begin(), a->txns.end());
        for (Entry* e : scratch) unlink(e);
        if (!a->txns.empty()) n_accounts--;
        a->txns.clear();
        for (Entry* e : scratch) free_entry(e, reason);
        scratch.clear();
    }

    // Make every transaction from `current` up to the first gap ready.
    void promote(Account* a, uint64_t current) {
        size_t i = lower_idx(a, current);
        uint64_t s = current;
        while (i < a->txns.size() && a->txns[i]->seq == s) {
            Entry* e = a->txns[i];
            if (!e->ready) {
                e->ready = 1;
                if (e->placed) parking.erase(e->pos_it);
                e->placed = 1;
                e->pos_it = priority.insert(e).first;
                if (e->state == ST_NOT_READY) {
                    e->state = ST_READY;
                    tl_append(e);
                }
            }
            ++i;
            if (s == UINT64_MAX) break;
            ++s;
        }
    }

    void park(Entry* e) {
        if (e->ready) {
            e->ready = 0;
            priority.erase(e->pos_it);
            e->pos_it = parking.insert(e).first;
        }
        if (e->state == ST_READY) {
            tl_remove(e);
            e->state = ST_NOT_READY;
            e->tid = 0;
        }
    }

    bool would_be_ready(const Account* a, uint64_t seq, uint64_t current) const {
        if (seq == current) return true;
        if (a == nullptr || a->txns.empty() || seq - current > a->txns.size()) return false;
        size_t i = lower_idx(a, current);
        for (uint64_t s = current; s < seq; ++s, ++i)
            if (i >= a->txns.size() || a->txns[i]->seq != s) return false;
        return true;
    }

    // Evict the greatest parked pointer; false when nothing is parked.
    bool evict_parked() {
        if (parking.empty()) return false;
        Entry* victim = *parking.rbegin();
        Account* a = victim->acct;
        remove_entry(victim, RM_EVICTED);
        release(a);
        return true;
    }

    // ------------------------------------------------------------------ garbage collection
    // Remove `expired` entries, parking the later transactions of accounts whose ready run breaks.
    size_t gc_remove(std::vector<Entry*>& expired, uint8_t reason) {
        for (Entry* e : expired) {
            Account* a = e->acct;
            // a gap opens in the ready run (one below current is stale: the run stays)
            if (!a->in_cache || e->seq >= a->cached_seq) {
                size_t i = lower_idx(a, e->seq);
                for (size_t j = i + 1; j < a->txns.size(); ++j) park(a->txns[j]);
            }
            remove_entry(e, reason);
            release(a);
        }
        return expired.size();
    }

    size_t gc_system_ttl(double now) {
        std::vector<Entry*> expired;
        for (Entry* e = ttl_head; e != nullptr && e->expiry < now; e = e->ttl_next)
            expired.push_back(e);
        for (auto it = ttl_late.begin(); it != ttl_late.end() && (*it)->expiry < now; ++it)
            expired.push_back(*it);
        return gc_remove(expired, RM_SYSTEM_TTL);
    }

    // Remove entries whose expiration time is below `threshold` (all of them if `all`).
    size_t gc_expiration(uint64_t threshold, bool all) {
        std::vector<Entry*> expired;
        for (auto it = expiration.begin();
             it != expiration.end() && (all || it->first < threshold); ++it)
            for (Entry* e = it->second.head; e != nullptr; e = e->exp_next) expired.push_back(e);
        return gc_remove(expired, RM_EXPIRED);
    }

    // ------------------------------------------------------------------ get_block
    static bool marked(const Entry* e, uint32_t ep, uint8_t bit) {
        return e->mark_epoch == ep && (e->mark & bit);
    }

    void set_mark(Entry* e, uint8_t bit) {
        if (e->mark_epoch != epoch) {
            e->mark_epoch = epoch;
            e->mark = 0;
        }
        e->mark |= bit;
    }

    void block_begin() {
        seen_absent.clear();
        if (++epoch == 0) {  // wrapped: forget every old mark
            for (auto& kv : accounts)
                for (Entry* e : kv.second->txns) e->mark_epoch = 0;
            epoch = 1;
        }
    }

    // Record one pointer of the caller's `seen` set.
    void block_seen(const unsigned char* addr, uint64_t seq) {
        Account* a = find(addr);
        if (a == nullptr || a->txns.empty()) return;  // cannot affect this block
        Entry* e = lookup(a, seq);
        if (e != nullptr) set_mark(e, MARK_SEEN);
        else seen_absent.insert(std::make_pair(a, seq));
    }

    void block_take(Entry* e, std::vector<Entry*>& out) {
        set_mark(e, MARK_TAKEN);
        out.push_back(e);
    }

    void block_run(size_t limit, std::vector<Entry*>& out) {
        const uint32_t ep = epoch;
        for (auto it = priority.begin(); it != priority.end(); ++it) {
            Entry* e = *it;
            if (marked(e, ep, MARK_SEEN)) continue;
            Account* a = e->acct;
            // an account the LRU cache dropped starts at its first pending ready transaction
            bool ok = a->in_cache ? a->cached_seq == e->seq : e->prev == nullptr;
            if (!ok && e->seq > 0) {
                Entry* p = e->prev;
                if (p != nullptr) ok = marked(p, ep, MARK_SEEN) || marked(p, ep, MARK_TAKEN);
                else ok = !seen_absent.empty() &&
                          seen_absent.count(std::make_pair(a, e->seq - 1)) != 0;
            }
            if (!ok) {
                set_mark(e, MARK_SKIPPED);
                continue;
            }
            block_take(e, out);
            if (out.size() >= limit) break;
            uint64_t s = e->seq;
            while (s != UINT64_MAX) {
                ++s;
                Entry* n = lookup(a, s);
                if (n == nullptr || n->prev == nullptr || !marked(n, ep, MARK_SKIPPED)) break;
                block_take(n, out);
                if (out.size() >= limit) return;
            }
        }
    }

    // ------------------------------------------------------------------ invariants
    std::string check() const {
        size_t total = 0, ready = 0, parked = 0, accts = 0, in_tl = 0;
        for (auto& kv : accounts) {
            const Account* a = kv.second;
            if (std::memcmp(kv.first.b, a->addr.b, 32) != 0) return "account key mismatch";
            if (a->txns.empty() && !a->in_cache) return "empty account record kept";
            if (!a->txns.empty()) accts++;
            if (a->txns.size() > cap_per_user) return "account over its cap";
            u128 lo = 0;
            uint64_t hi = 0;
            for (size_t i = 0; i < a->txns.size(); ++i) {
                const Entry* e = a->txns[i];
                if (e->acct != a) return "entry points to another account";
                const Entry* want_prev =
                    (i > 0 && a->txns[i - 1]->seq + 1 == e->seq) ? a->txns[i - 1] : nullptr;
                if (e->prev != want_prev) return "predecessor link wrong";
                if (!e->placed || *e->pos_it != e || e->exp_it->first != e->expiration)
                    return "stale index iterator";
                if (i > 0 && a->txns[i - 1]->seq >= e->seq) return "account txns not sorted";
                u128 c = static_cast<u128>(e->gas_amount) * e->price;
                u128 old = lo;
                lo += c;
                if (lo < old) hi++;
                total++;
                if (e->ready) {
                    ready++;
                    if (priority.find(const_cast<Entry*>(e)) == priority.end())
                        return "ready entry missing from priority index";
                } else {
                    parked++;
                    if (parking.find(const_cast<Entry*>(e)) == parking.end())
                        return "parked entry missing from parking lot";
                }
                if (e->state == ST_READY) {
                    if (!e->ready) return "READY state outside the priority index";
                    if (e->tid == 0 || e->tid >= next_tid) return "bad timeline id";
                    size_t j = tl_lower(e->tid);
                    if (j >= tl.size() || tl[j].tid != e->tid || tl[j].e != e || j != e->tl_idx)
                        return "READY entry missing from the timeline";
                    in_tl++;
                } else {
                    if (e->tid != 0) return "timeline id outside READY";
                    if (e->ready && e->state != ST_NON_QUALIFIED)
                        return "ready NOT_READY transaction";
                }
            }
            if (lo != a->gas_lo || hi != a->gas_hi) return "gas total mismatch";
        }
        if (accts != n_accounts) return "account count mismatch";
        size_t in_ttl = 0;
        for (const Entry* e = ttl_head; e != nullptr; e = e->ttl_next) {
            if (e->ttl_next != nullptr ? e->ttl_next->ttl_prev != e : ttl_tail != e)
                return "system TTL list broken";
            if (e->ttl_next != nullptr && e->ttl_next->expiry < e->expiry)
                return "system TTL list out of order";
            if (++in_ttl > size) break;
        }
        for (const Entry* e : ttl_late)
            if (!e->ttl_late) return "system TTL set holds a list entry";
        size_t in_exp = 0;
        for (const auto& kv : expiration) {
            if (kv.second.head == nullptr || kv.second.head->exp_prev != nullptr)
                return "expiration bucket broken";
            const Entry* last = nullptr;
            for (const Entry* x = kv.second.head; x != nullptr; x = x->exp_next) {
                if (x->expiration != kv.first || x->exp_prev != last) return "expiration bucket broken";
                last = x;
                if (++in_exp > size) return "expiration buckets hold more than the pool";
            }
            if (kv.second.tail != last) return "expiration bucket broken";
        }
        if (total != size || in_ttl + ttl_late.size() != size || in_exp != size)
            return "size mismatch";
        if (priority.size() != ready) return "priority index size mismatch";
        if (parking.size() != parked) return "parking lot size mismatch";
        size_t live = 0;
        for (size_t i = tl_head; i < tl.size(); ++i) {
            if (i > tl_head && tl[i - 1].tid >= tl[i].tid) return "timeline ids not increasing";
            if (tl[i].e != nullptr) {
                live++;
                if (tl[i].e->tid != tl[i].tid || tl[i].e->state != ST_READY)
                    return "timeline slot disagrees with its entry";
            }
        }
        if (tl_head < tl.size() && tl[tl_head].e == nullptr) return "timeline head is dead";
        if (live != tl_live || live != in_tl) return "timeline size mismatch";
        size_t n = 0;
        const Account* prev = nullptr;
        for (const Account* a = lru_head; a != nullptr; a = a->lru_next) {
            if (!a->in_cache || a->lru_prev != prev) return "LRU list broken";
            if (accounts.find(a->addr) == accounts.end()) return "LRU account not registered";
            prev = a;
            if (++n > lru_count) return "LRU list longer than its count";
        }
        if (prev != lru_tail || n != lru_count) return "LRU count mismatch";
        if (lru_count > capacity) return "LRU over capacity";
        return std::string();
    }
};

}  // namespace mpf
