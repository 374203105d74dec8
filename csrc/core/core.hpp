// The Cython core (mempool_fast/_core.pyx): pending transactions indexed for admission,
// broadcast and consensus. `Core` composes one small part per index, each in its own header:
//   types.hpp        entries, accounts and their orders
//   seq_cache.hpp    the LRU cache of accounts' current sequence numbers
//   gas.hpp          per-account gas totals and the balance check
//   timeline.hpp     the broadcast timeline
//   ttl_indexes.hpp  system TTL and client expiration, for GC
//   block_walk.hpp   get_block's walk
// and holds what ties them together: the account map, the priority index (ready entries) and
// the parking lot (the others), each entry's life (insert, promote, park, remove), GC, and the
// removal feed. check() asserts every part's invariants.
#pragma once

#include "block_walk.hpp"
#include "gas.hpp"
#include "seq_cache.hpp"
#include "timeline.hpp"
#include "ttl_indexes.hpp"
#include "types.hpp"

namespace mpf {

class Core : public SeqCache, public Gas, public Timeline, public TtlIndexes,
             public BlockWalk<Core> {
public:
    uint64_t capacity;
    uint64_t cap_per_user;
    AccountMap accounts;
    std::set<Entry*, PrioLess> priority;
    std::set<Entry*, ParkLess> parking;
    size_t size = 0;
    size_t n_accounts = 0;  // accounts holding at least one transaction
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

    // Put or refresh `a`'s cached current sequence number (LRU); an account evicted from the
    // cache is released if it holds nothing.
    void cache_put(Account* a, uint64_t value) {
        Account* evicted = cache_touch(a, value, capacity);
        if (evicted != nullptr) release(evicted);
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
        collect_system_expired(now, expired);
        return gc_remove(expired, RM_SYSTEM_TTL);
    }

    // Remove entries whose expiration time is below `threshold` (all of them if `all`).
    size_t gc_expiration(uint64_t threshold, bool all) {
        std::vector<Entry*> expired;
        collect_expired(threshold, all, expired);
        return gc_remove(expired, RM_EXPIRED);
    }

    // ------------------------------------------------------------------ invariants
    std::string check_account(const Account* a, size_t& ready, size_t& parked,
                              size_t& in_tl) const {
        if (a->txns.empty() && !a->in_cache) return "empty account record kept";
        if (a->txns.size() > cap_per_user) return "account over its cap";
        for (size_t i = 0; i < a->txns.size(); ++i) {
            const Entry* e = a->txns[i];
            if (e->acct != a) return "entry points to another account";
            const Entry* want_prev =
                (i > 0 && a->txns[i - 1]->seq + 1 == e->seq) ? a->txns[i - 1] : nullptr;
            if (e->prev != want_prev) return "predecessor link wrong";
            if (!e->placed || *e->pos_it != e || e->exp_it->first != e->expiration)
                return "stale index iterator";
            if (i > 0 && a->txns[i - 1]->seq >= e->seq) return "account txns not sorted";
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
                if (!in_timeline(e)) return "READY entry missing from the timeline";
                in_tl++;
            } else {
                if (e->tid != 0) return "timeline id outside READY";
                if (e->ready && e->state != ST_NON_QUALIFIED) return "ready NOT_READY transaction";
            }
        }
        return check_gas(a);
    }

    std::string check() const {
        size_t total = 0, ready = 0, parked = 0, accts = 0, in_tl = 0;
        for (auto& kv : accounts) {
            const Account* a = kv.second;
            if (std::memcmp(kv.first.b, a->addr.b, 32) != 0) return "account key mismatch";
            std::string problem = check_account(a, ready, parked, in_tl);
            if (!problem.empty()) return problem;
            if (!a->txns.empty()) accts++;
            total += a->txns.size();
        }
        if (accts != n_accounts) return "account count mismatch";
        if (total != size) return "size mismatch";
        if (priority.size() != ready) return "priority index size mismatch";
        if (parking.size() != parked) return "parking lot size mismatch";
        for (const std::string& problem :
             {check_ttl(size), check_timeline(in_tl), check_cache(capacity, accounts)})
            if (!problem.empty()) return problem;
        return std::string();
    }
};

}  // namespace mpf
