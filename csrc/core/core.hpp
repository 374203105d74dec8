// The Cython core (mempool_fast/_core.pyx): pending transactions indexed for admission,
// broadcast and consensus. `Core` composes one small part per index, each in its own header:
//   types.hpp          entries, accounts, index keys and their orders
//   sorted_blocks.hpp  the ordered indexes' container (priority, heads, parking lot)
//   account_table.hpp  accounts by address
//   entry_pool.hpp     entries' memory
//   seq_cache.hpp      the LRU cache of accounts' current sequence numbers
//   gas.hpp            per-account gas totals and the balance check
//   timeline.hpp       the broadcast timelines (one per broadcast bucket)
//   ttl_indexes.hpp    system TTL and client expiration, for GC
//   block_walk.hpp     get_block's walks
//   hash_index.hpp     entries by transaction hash (get_by_hash)
// and, only while a policy needs it (docs/design.md §4 "Policies"), two lazy heaps
// (lazy_heap.hpp): the ready entries by age (`ready_age`, eager expiry's oldest ready
// transaction) and the evictable account tails (`tails`, lowest_price eviction's victims).
// and holds what ties them together: the priority index (ready entries), the heads index (the
// ready entries get_block may take first), the parking lot (the others), each entry's life
// (insert, promote, park, remove), GC, the removal feed, and the accounts an operation touched:
// `settle_accounts()`, called at the end of every public operation, brings their heads up to
// date and frees records that hold nothing. check() asserts every part's invariants.
// Costs, n pending transactions: an add, a commit of one transaction or a removal is
// O(log n) per index it touches (plus O(k) for the k transactions it promotes or parks).
#pragma once

#include "account_table.hpp"
#include "block_walk.hpp"
#include "entry_pool.hpp"
#include "gas.hpp"
#include "hash_index.hpp"
#include "lazy_heap.hpp"
#include "seq_cache.hpp"
#include "sorted_blocks.hpp"
#include "timeline.hpp"
#include "ttl_indexes.hpp"
#include "types.hpp"

namespace mpf {

class Core : public SeqCache, public Gas, public Timelines, public TtlIndexes,
             public BlockWalk<Core> {
public:
    uint64_t capacity;
    uint64_t cap_per_user;
    uint64_t capacity_bytes;
    // bytes of the senders the core hands back (Account::sender): 32 native, a foreign
    // format's sender_length (its internal addresses are padded to ADDR_LEN with zero bytes)
    size_t sender_len = ADDR_LEN;
    // wire sizes of the pending transactions plus ENTRY_OVERHEAD_BYTES each
    uint64_t size_bytes = 0;
    AccountTable accounts;
    SortedBlocks<PrioKey, PrioLess> priority;
    SortedBlocks<PrioKey, PrioLess> heads;
    SortedBlocks<ParkKey, ParkLess> parking;
    // Ready entries by age, kept only while `age_on` (eager expiry): its front is the oldest
    // ready transaction. An item is valid while its entry holds its insertion number (a freed
    // entry's is cleared) and is ready.
    LazyHeap<AgeItem, AgeLater> ready_age;
    bool age_on = false;
    // Each account's tail (highest sequence number) that lowest_price eviction may take, kept
    // only while `tails_on`: its front is the victim. With `protect_local` only tails received
    // from peers (NON_QUALIFIED) are pushed. Valid while its entry holds its insertion number
    // and is its account's tail.
    LazyHeap<TailItem, TailSpared> tails;
    bool tails_on = false;
    bool protect_local = true;
    static constexpr uint64_t NO_ORDER = UINT64_MAX;  // a freed entry's insertion number
    EntryPool pool;
    HashIndex hashes;
    size_t size = 0;
    size_t n_accounts = 0;  // accounts holding at least one transaction
    uint64_t next_order = 0;
    std::vector<Entry*> scratch;
    std::vector<Account*> dirty;
    // Removed transactions not yet drained (only while `feed` is on).
    std::vector<Removal> removed;
    bool feed = false;
    static constexpr size_t HASH_PREFETCH = 8;

    Core(uint64_t capacity_, uint64_t cap_per_user_, uint64_t capacity_bytes_)
        : capacity(capacity_), cap_per_user(cap_per_user_), capacity_bytes(capacity_bytes_) {}

    // Full: len >= capacity, or the byte size reached capacity_bytes.
    bool full() const { return size >= capacity || size_bytes >= capacity_bytes; }

    ~Core() {
        // the zombies first: the cache's queue also names accounts of the table, which the
        // loop below frees (reading their `zombie` flag after it was a use after free)
        std::set<Account*> zombies;
        for (const Use& u : lru_queue)
            if (u.a->zombie) zombies.insert(u.a);
        for (Account* a : lru_freed) zombies.insert(a);
        std::vector<Account*> all;
        accounts.for_each([&](Account* a) { all.push_back(a); });
        for (Account* a : all) {
            for (Entry* e : a->txns) Py_DECREF(e->txn);
            Py_XDECREF(a->sender);
            delete a;
        }
        for (Account* a : zombies) {
            Py_XDECREF(a->sender);
            delete a;
        }
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
    Account* find(const unsigned char* addr) const { return accounts.find(addr); }

    Account* get_or_create(const unsigned char* addr) {
        Account* a = accounts.find(addr);
        if (a != nullptr) return a;
        a = new Account();
        std::memcpy(a->addr.b, addr, ADDR_LEN);
        a->prefix = addr_prefix(addr);
        accounts.insert(a);
        touch(a);
        return a;
    }

    // The account's sender as a bytes object of `sender_len` bytes (its address without the
    // padding; made once; borrowed), or nullptr (MemoryError).
    PyObject* sender_object(Account* a) {
        if (a->sender == nullptr)
            a->sender = PyBytes_FromStringAndSize(reinterpret_cast<const char*>(a->addr.b),
                                                  static_cast<Py_ssize_t>(sender_len));
        return a->sender;
    }

    void touch(Account* a) {
        if (!a->dirty) {
            a->dirty = true;
            dirty.push_back(a);
        }
    }

    // End of a public operation: every touched account's heads are brought up to date, and a
    // record that holds no transaction and no cached sequence number is freed.
    void settle_accounts() {
        for (size_t i = 0; i < dirty.size(); ++i) {
            Account* a = dirty[i];
            a->dirty = false;
            if (a->txns.empty()) a->run_unsure = false;
            if (a->txns.empty() && !a->in_cache) {
                accounts.erase(a);
                if (a->lru_refs == 0) {
                    Py_XDECREF(a->sender);
                    delete a;
                } else {
                    a->zombie = true;  // freed when the cache's queue lets go of it
                }
            } else {
                refresh_heads(a);
            }
        }
        dirty.clear();
        for (Account* a : lru_freed) {
            Py_XDECREF(a->sender);
            delete a;
        }
        lru_freed.clear();
    }

    // The index of the first of `a`'s entries with a sequence number >= `seq`. An account's
    // sequence numbers are mostly contiguous, so the guess from the first one usually hits
    // (two entry reads); else a binary search.
    size_t lower_idx(const Account* a, uint64_t seq) const {
        const std::vector<Entry*>& v = a->txns;
        if (v.empty()) return 0;
        uint64_t first = v[0]->seq;
        if (seq <= first) return 0;
        uint64_t guess = seq - first;
        if (guess < v.size() && v[guess]->seq == seq && v[guess - 1]->seq < seq) return guess;
        auto it = std::lower_bound(v.begin(), v.end(), seq,
                                   [](const Entry* e, uint64_t s) { return e->seq < s; });
        return static_cast<size_t>(it - v.begin());
    }

    Entry* lookup(const Account* a, uint64_t seq) const {
        if (a == nullptr) return nullptr;
        size_t i = lower_idx(a, seq);
        if (i < a->txns.size() && a->txns[i]->seq == seq) return a->txns[i];
        return nullptr;
    }

    // Put or refresh `a`'s cached current sequence number (LRU).
    void cache_put(Account* a, uint64_t value) {
        Account* evicted = cache_touch(a, value, capacity);
        touch(a);
        if (evicted != nullptr) {
            if (!evicted->txns.empty()) evicted->run_unsure = true;
            touch(evicted);
        }
    }

    void cache_forget(Account* a) {
        cache_pop(a);
        touch(a);
    }

    // ------------------------------------------------------------------ heads
    // A head is a ready entry get_block may take at its own position: its account's current
    // one, or, for an account the sequence cache dropped, one without a predecessor.
    bool is_head(const Entry* e) const {
        if (!e->ready) return false;
        const Account* a = e->acct;
        return a->in_cache ? a->cached_seq == e->seq : e->prev == nullptr;
    }

    void set_head(Entry* e, bool on) {
        if (on == (e->head != 0)) return;
        Account* a = e->acct;
        e->head = on;
        if (on) {
            heads.insert(prio_key(e));
            a->n_heads++;
            a->head_entry = e;
        } else {
            heads.erase(prio_key(e));
            a->n_heads--;
            if (a->head_entry == e) {
                a->head_entry = nullptr;
                if (a->n_heads == 1) {  // an account out of the cache had several: the other
                    for (Entry* x : a->txns) {
                        if (x->head) {
                            a->head_entry = x;
                            break;
                        }
                    }
                }
            }
        }
    }

    void refresh_heads(Account* a) {
        if (!a->in_cache) {
            for (Entry* e : a->txns) set_head(e, is_head(e));
            return;
        }
        // the only possible head is the entry at the current sequence number
        Entry* want = lookup(a, a->cached_seq);
        if (want != nullptr && !want->ready) want = nullptr;
        if (a->n_heads == 1 && a->head_entry == want) return;
        if (a->n_heads == 1 && a->head_entry != nullptr) {
            set_head(a->head_entry, false);
        } else if (a->n_heads > 0) {  // several, from a time out of the cache
            for (Entry* e : a->txns)
                if (e != want) set_head(e, false);
        }
        if (want != nullptr) set_head(want, true);
    }

    // ------------------------------------------------------------------ entries
    // A native transaction: its cost is gas * price, its wire size WIRE_FIXED_LEN +
    // `payload_len`. `foreign_digest`: the transaction's hash when it is not a Cython
    // SignedTransaction (whose inline hash, already computed, the index reads in place), else
    // nullptr.
    Entry* insert(Account* a, PyObject* txn, uint64_t seq, uint64_t gas, uint64_t price,
                  uint64_t expiration_time, double expiry, uint8_t state,
                  const unsigned char* foreign_digest, uint32_t payload_len) {
        return insert_entry(a, txn, seq, static_cast<u128>(gas) * price, price, true,
                            expiration_time, expiry, state, foreign_digest, payload_len, true);
    }

    // A foreign format's transaction: its cost (max_cost) as two 64-bit words, whether it has
    // a client expiration, its whole wire size, its hash (`digest`, 32 bytes, copied).
    Entry* insert_foreign(Account* a, PyObject* txn, uint64_t seq, uint64_t cost_lo,
                          uint64_t cost_hi, uint64_t price, bool has_expiration,
                          uint64_t expiration_time, double expiry, uint8_t state,
                          const unsigned char* digest, uint32_t wire_len) {
        return insert_entry(a, txn, seq, (static_cast<u128>(cost_hi) << 64) | cost_lo, price,
                            has_expiration, expiration_time, expiry, state, digest, wire_len,
                            false);
    }

    Entry* insert_entry(Account* a, PyObject* txn, uint64_t seq, u128 cost, uint64_t price,
                        bool has_expiration, uint64_t expiration_time, double expiry,
                        uint8_t state, const unsigned char* foreign_digest, uint32_t wire_len,
                        bool native_wire) {
        Entry* e = pool.alloc();
        e->txn = txn;
        e->own_digest = foreign_digest == nullptr;
        try {
            hashes.insert(e, foreign_digest);
        } catch (...) {
            pool.release(e);
            throw;
        }
        e->acct = a;
        e->seq = seq;
        e->cost = cost;
        e->wire_len = wire_len;
        e->native_wire = native_wire;
        e->price = price;
        e->expiry = expiry;
        e->order = next_order++;
        e->tl_idx = 0;
        e->bucket = 0;
        e->mark_epoch = 0;
        e->mark = 0;
        e->state = state;
        e->ready = 0;
        e->placed = 0;
        e->ttl_late = 0;
        e->head = 0;
        e->prev = nullptr;
        size_t i = lower_idx(a, seq);
        if (i > 0 && a->txns[i - 1]->seq + 1 == seq) e->prev = a->txns[i - 1];
        if (i < a->txns.size() && a->txns[i]->seq == seq + 1) a->txns[i]->prev = e;
        bool new_tail = i == a->txns.size();
        if (a->txns.empty()) n_accounts++;
        a->txns.insert(a->txns.begin() + i, e);
        if (tails_on && new_tail) push_tail(e);
        Py_INCREF(txn);
        gas_add(a, cost);
        ttl_link(e);
        if (has_expiration) exp_link(e, expiration_time);
        else exp_link_none(e);
        size++;
        size_bytes += e->wire_size() + ENTRY_OVERHEAD_BYTES;
        touch(a);
        return e;  // unplaced: promote_from() makes it ready, or settle() parks it
    }

    // Park a new entry that promote_from() did not make ready.
    void settle(Entry* e) {
        if (!e->placed) {
            parking.insert(park_key(e));
            e->placed = 1;
        }
    }

    // Drop `e` from every index but its account's vector.
    void unlink(Entry* e) {
        gas_sub(e->acct, e->cost);
        set_head(e, false);
        if (e->ready) priority.erase(prio_key(e));
        else if (e->placed) parking.erase(park_key(e));
        if (e->state == ST_READY) tl_remove(e);
        ttl_unlink(e);
        exp_unlink(e);
        hashes.erase(e);
        size--;
        size_bytes -= e->wire_size() + ENTRY_OVERHEAD_BYTES;
        touch(e->acct);
    }

    // Free an unlinked entry; its transaction reference goes to the feed when it is on.
    void free_entry(Entry* e, uint8_t reason) {
        PyObject* t = e->txn;
        e->order = NO_ORDER;  // the lazy heaps' items of it are stale from now on
        pool.release(e);
        if (feed) removed.push_back(Removal{t, reason});
        else Py_DECREF(t);
    }

    void remove_entry(Entry* e, uint8_t reason) {
        Account* a = e->acct;
        size_t i = lower_idx(a, e->seq);
        unlink(e);
        if (i + 1 < a->txns.size() && a->txns[i + 1]->prev == e) a->txns[i + 1]->prev = nullptr;
        a->txns.erase(a->txns.begin() + i);
        if (a->txns.empty()) n_accounts--;
        else if (tails_on && i == a->txns.size()) push_tail(a->txns.back());  // the new tail
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
        touch(a);
    }

    void make_ready(Entry* e) {
        e->ready = 1;
        if (e->placed) parking.erase(park_key(e));
        e->placed = 1;
        priority.insert(prio_key(e));
        if (age_on) ready_age.push(AgeItem{e->expiry, e->order, e}, priority.size(), age_valid);
        if (e->state == ST_NOT_READY) {
            e->state = ST_READY;
            tl_append(e);
        }
    }

    // Make every transaction from `seq` up to the first gap ready. While the account's runs
    // are maximal (it never left the cache holding transactions) the walk stops at the first
    // entry already ready: O(promoted); otherwise it walks the whole run, as the pure core.
    void promote_from(Account* a, uint64_t seq) {
        size_t i = lower_idx(a, seq);
        uint64_t s = seq;
        while (i < a->txns.size() && a->txns[i]->seq == s) {
            Entry* e = a->txns[i];
            if (e->ready) {
                if (!a->run_unsure) break;
            } else {
                make_ready(e);
            }
            ++i;
            if (s == UINT64_MAX) break;
            ++s;
        }
        touch(a);
    }

    // Make every transaction from `current` up to the first gap ready.
    void promote(Account* a, uint64_t current) { promote_from(a, current); }

    // After inserting `e` at or above `current`: make the run it completes ready. It completes
    // one when every sequence number from `current` to it is held (with maximal runs: when it
    // is current or its predecessor is a ready one at or above `current`).
    void promote_inserted(Entry* e, uint64_t current) {
        Account* a = e->acct;
        if (a->run_unsure) {
            promote_from(a, current);  // what the pure core does after every insert
            return;
        }
        Entry* p = e->prev;
        if (e->seq == current || (p != nullptr && p->ready && p->seq >= current))
            promote_from(a, e->seq);
    }

    void park(Entry* e) {
        set_head(e, false);
        if (e->ready) {
            e->ready = 0;
            priority.erase(prio_key(e));
            parking.insert(park_key(e));
        }
        if (e->state == ST_READY) {
            tl_remove(e);
            e->state = ST_NOT_READY;
        }
        touch(e->acct);
    }

    bool would_be_ready(const Account* a, uint64_t seq, uint64_t current) const {
        if (seq == current) return true;
        if (a == nullptr || a->txns.empty() || seq - current > a->txns.size()) return false;
        size_t i = lower_idx(a, current);
        for (uint64_t s = current; s < seq; ++s, ++i)
            if (i >= a->txns.size() || a->txns[i]->seq != s) return false;
        return true;
    }

    bool parking_empty() const { return parking.empty(); }

    // ------------------------------------------------------------------ lowest_price eviction
    // Whether lowest_price eviction may take `e` when it is its account's tail.
    bool evictable(const Entry* e) const {
        return !protect_local || e->state == ST_NON_QUALIFIED;
    }

    static bool age_valid(const AgeItem& x) { return x.e->order == x.order && x.e->ready; }

    static bool tail_valid(const TailItem& x) {
        return x.e->order == x.order && x.e->acct->txns.back() == x.e;
    }

    // `e` just became its account's tail.
    void push_tail(Entry* e) {
        if (evictable(e)) tails.push(TailItem{e->price, e->expiry, e->order, e}, n_accounts,
                                     tail_valid);
    }

    // Whether some account's tail may be evicted (amortised O(log n): drops stale items).
    bool tails_empty() { return tails.top(tail_valid) == nullptr; }

    // While full, evict the next victim tail (lowest price, latest expiry, latest insertion)
    // of an account other than `own`, if it pays strictly less than `price`. Amortised
    // O(log n) per eviction.
    void evict_tails_while_full(const Account* own, uint64_t price) {
        std::vector<TailItem> own_items;  // set aside while looking past them
        while (full()) {
            const TailItem* t = tails.top(tail_valid);
            while (t != nullptr && t->e->acct == own) {
                own_items.push_back(*t);
                tails.pop();
                t = tails.top(tail_valid);
            }
            if (t == nullptr || t->price >= price) break;
            remove_entry(t->e, RM_EVICTED);
        }
        for (const TailItem& x : own_items) tails.push(x, n_accounts, tail_valid);
    }

    // The system expiry of the oldest ready entry (eager expiry); false when none or off.
    // Amortised O(log n) (drops stale items).
    bool oldest_ready_expiry(double* expiry) {
        const AgeItem* x = ready_age.top(age_valid);
        if (x == nullptr) return false;
        *expiry = x->expiry;
        return true;
    }

    // Evict the greatest parked pointer; false when nothing is parked.
    bool evict_parked() {
        if (parking.empty()) return false;
        remove_entry(parking.back().e, RM_EVICTED);
        return true;
    }

    // Evict parked entries, the greatest pointer first, until the pool is not full or nothing
    // is parked (with capacity alone: one). O(k log n) for k evicted.
    void evict_parked_while_full() {
        while (full() && !parking.empty()) remove_entry(parking.back().e, RM_EVICTED);
    }

    // ------------------------------------------------------------------ garbage collection
    // Remove `expired` entries, parking the later transactions of accounts whose ready run breaks.
    // The hash index's slots are fetched a few removals ahead (its hash, further ahead).
    size_t gc_remove(std::vector<Entry*>& expired, uint8_t reason) {
        const size_t n = expired.size();
        for (size_t k = 0; k < n; ++k) {
            if (k + 2 * HASH_PREFETCH < n) hashes.prefetch_digest(expired[k + 2 * HASH_PREFETCH]);
            if (k + HASH_PREFETCH < n) hashes.prefetch_slot(expired[k + HASH_PREFETCH]);
            Entry* e = expired[k];
            Account* a = e->acct;
            // a gap opens in the ready run (one below current is stale: the run stays)
            if (!a->in_cache || e->seq >= a->cached_seq) {
                size_t i = lower_idx(a, e->seq);
                for (size_t j = i + 1; j < a->txns.size(); ++j) park(a->txns[j]);
            }
            remove_entry(e, reason);
        }
        return expired.size();
    }

    // At most `limit` removals per call, oldest first, so a caller can release its lock between.
    size_t gc_system_ttl(double now, size_t limit) {
        std::vector<Entry*> expired;
        collect_system_expired(now, limit, expired);
        return gc_remove(expired, RM_SYSTEM_TTL);
    }

    // Remove entries whose expiration time is below `threshold` (all of them if `all`).
    size_t gc_expiration(uint64_t threshold, bool all, size_t limit) {
        std::vector<Entry*> expired;
        collect_expired(threshold, all, limit, expired);
        return gc_remove(expired, RM_EXPIRED);
    }

    // ------------------------------------------------------------------ invariants
    std::string check_account(const Account* a, size_t& ready, size_t& parked, size_t& in_tl,
                              size_t& n_heads, uint64_t& bytes, size_t& n_tails) const {
        if (a->txns.empty() && !a->in_cache) return "empty account record kept";
        if (a->txns.size() > cap_per_user) return "account over its cap";
        if (a->prefix != addr_prefix(a->addr.b) || a->zombie || a->dirty)
            return "account record broken";
        for (size_t i = sender_len; i < ADDR_LEN; ++i)
            if (a->addr.b[i] != 0) return "address padding not zero";
        for (size_t i = 0; i < a->txns.size(); ++i) {
            const Entry* e = a->txns[i];
            if (e->acct != a) return "entry points to another account";
            const Entry* want_prev =
                (i > 0 && a->txns[i - 1]->seq + 1 == e->seq) ? a->txns[i - 1] : nullptr;
            if (e->prev != want_prev) return "predecessor link wrong";
            if (!e->placed) return "entry not placed";
            bytes += e->wire_size() + ENTRY_OVERHEAD_BYTES;
            if (hashes.find(hashes.digest_of(e)) != e) return "entry missing from the hash index";
            if (i > 0 && a->txns[i - 1]->seq >= e->seq) return "account txns not sorted";
            Entry* me = const_cast<Entry*>(e);
            if (e->ready) {
                ready++;
                if (!priority.contains(prio_key(me))) return "ready entry missing from priority";

            } else {
                parked++;
                if (!parking.contains(park_key(me))) return "parked entry missing from parking";
            }
            if (e->head != is_head(e)) return "heads index out of date";
            if (tails_on && evictable(e) && i + 1 == a->txns.size()) n_tails++;
            if (e->head && a->n_heads == 1 && a->head_entry != e) return "head entry wrong";
            if (e->head) {
                n_heads++;
                if (!heads.contains(prio_key(me))) return "head missing from the heads index";
            }
            if (e->state == ST_READY) {
                if (!e->ready) return "READY state outside the priority index";
                if (!in_timeline(e)) return "READY entry missing from the timeline";
                in_tl++;
            } else if (e->ready && e->state != ST_NON_QUALIFIED) {
                return "ready NOT_READY transaction";
            }
        }
        return check_gas(a);
    }

    std::string check() const {
        size_t total = 0, ready = 0, parked = 0, accts = 0, in_tl = 0, n_heads = 0, cached = 0;
        uint64_t bytes = 0;
        size_t n_tails = 0;
        std::string problem;
        if (!accounts.check()) return "account table broken";
        accounts.for_each([&](Account* a) {
            if (!problem.empty()) return;
            problem = check_account(a, ready, parked, in_tl, n_heads, bytes, n_tails);
            if (!a->txns.empty()) accts++;
            if (a->in_cache) cached++;
            total += a->txns.size();
        });
        if (!problem.empty()) return problem;
        if (accts != n_accounts) return "account count mismatch";
        if (total != size || pool.live() != size) return "size mismatch";
        if (bytes != size_bytes) return "byte size mismatch";
        if (!priority.check() || !heads.check() || !parking.check()) return "index order broken";
        if (!hashes.check(size)) return "hash index broken";
        if (priority.size() != ready) return "priority index size mismatch";
        {  // every ready entry (tail that may be evicted) has a valid item, and only those do
            std::set<const Entry*> aged, tailed;
            for (const AgeItem& x : ready_age.items)
                if (age_valid(x)) aged.insert(x.e);
            for (const TailItem& x : tails.items)
                if (tail_valid(x)) tailed.insert(x.e);
            if (!ready_age.is_heap() || aged.size() != (age_on ? ready : 0))
                return "age heap broken";
            if (!tails.is_heap() || tailed.size() != n_tails) return "tails heap broken";
        }
        if (parking.size() != parked) return "parking lot size mismatch";
        if (heads.size() != n_heads) return "heads index size mismatch";
        if (!dirty.empty()) return "accounts left unsettled";
        for (const std::string& p :
             {check_ttl(size), check_timeline(in_tl), check_cache(capacity, cached)})
            if (!p.empty()) return p;
        return std::string();
    }
};

}  // namespace mpf
