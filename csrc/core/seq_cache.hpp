// The LRU cache of accounts' current sequence numbers, at most `capacity` accounts, exact LRU.
// A touch stamps the account and appends (account, stamp) to a queue; eviction pops the queue
// front, skipping entries whose stamp is no longer the account's (touched again since, or
// forgotten). So a touch writes only the account and the queue's tail, never its neighbours.
// The queue is rebuilt when stale entries outnumber live ones. An account named by the queue
// is not freed until the queue lets go of it (`lru_refs`, `zombie`).
#pragma once

#include <deque>

#include "types.hpp"

namespace mpf {

struct SeqCache {
    struct Use {
        Account* a;
        uint64_t stamp;
    };
    std::deque<Use> lru_queue;
    uint64_t lru_clock = 0;
    size_t lru_count = 0;  // accounts in the cache
    std::vector<Account*> lru_freed;  // zombies whose last queue entry was dropped: free them

    static constexpr size_t REBUILD_SLACK = 1024;

    // Put or refresh `a`'s value as most recently used; returns the account evicted to make
    // room (its record may now be released), or nullptr. O(1) amortised.
    Account* cache_touch(Account* a, uint64_t value, uint64_t capacity) {
        Account* evicted = nullptr;
        if (!a->in_cache) {
            if (lru_count >= capacity) evicted = evict_oldest();
            a->in_cache = true;
            lru_count++;
        }
        a->cached_seq = value;
        a->lru_stamp = ++lru_clock;
        lru_queue.push_back(Use{a, a->lru_stamp});
        a->lru_refs++;
        if (lru_queue.size() > 2 * lru_count + REBUILD_SLACK) rebuild();
        return evicted;
    }

    void cache_pop(Account* a) {
        if (a->in_cache) {
            a->in_cache = false;
            lru_count--;
        }
    }

    bool current(const Use& u) const { return u.a->in_cache && u.a->lru_stamp == u.stamp; }

    Account* evict_oldest() {
        while (!lru_queue.empty()) {
            Use u = lru_queue.front();
            lru_queue.pop_front();
            bool live = current(u);
            drop_ref(u.a);
            if (live) {
                u.a->in_cache = false;
                lru_count--;
                return u.a;
            }
        }
        return nullptr;
    }

    void drop_ref(Account* a) {
        if (--a->lru_refs == 0 && a->zombie) lru_freed.push_back(a);
    }

    void rebuild() {
        std::deque<Use> fresh;
        for (const Use& u : lru_queue) {
            if (current(u)) fresh.push_back(u);
            else drop_ref(u.a);
        }
        lru_queue.swap(fresh);
    }

    std::string check_cache(uint64_t capacity, size_t in_cache_accounts) const {
        size_t live = 0;
        uint64_t last = 0;
        for (const Use& u : lru_queue) {
            if (u.stamp <= last) return "LRU queue out of order";
            last = u.stamp;
            if (current(u)) live++;
        }
        if (live != lru_count || in_cache_accounts != lru_count) return "LRU count mismatch";
        if (lru_count > capacity) return "LRU over capacity";
        return std::string();
    }
};

}  // namespace mpf
