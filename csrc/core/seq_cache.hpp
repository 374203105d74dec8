// The LRU cache of accounts' current sequence numbers, at most `capacity` accounts. Accounts
// are its intrusive list nodes (Account::lru_prev/lru_next/in_cache/cached_seq).
#pragma once

#include "types.hpp"

namespace mpf {

struct SeqCache {
    Account* lru_head = nullptr;  // least recently used
    Account* lru_tail = nullptr;
    size_t lru_count = 0;

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

    // Put or refresh `a`'s value as most recently used; returns the account evicted to make
    // room (its record may now be released), or nullptr. O(1).
    Account* cache_touch(Account* a, uint64_t value, uint64_t capacity) {
        Account* evicted = nullptr;
        if (a->in_cache) {
            if (lru_tail != a) {
                lru_unlink(a);
                lru_append(a);
            }
        } else {
            if (lru_count >= capacity && lru_head != nullptr) {
                evicted = lru_head;
                lru_unlink(evicted);
                evicted->in_cache = false;
                lru_count--;
            }
            lru_append(a);
            a->in_cache = true;
            lru_count++;
        }
        a->cached_seq = value;
        return evicted;
    }

    void cache_pop(Account* a) {
        if (a->in_cache) {
            lru_unlink(a);
            a->in_cache = false;
            lru_count--;
        }
    }

    std::string check_cache(uint64_t capacity, const AccountMap& accounts) const {
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
