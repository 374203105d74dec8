// get_block's walk (Libra's): ready entries in priority order, skipping the caller's `seen`
// pointers; an entry is taken when it is its account's current one or its predecessor was seen
// or taken, and one passed over for that reason is taken right after its predecessor.
// Scratch marks live in the entries, valid while their epoch equals the walk's (no clearing).
// A CRTP mixin of Core: it reads the priority index and the accounts through `core()`.
#pragma once

#include "types.hpp"

namespace mpf {

enum : uint8_t { MARK_SEEN = 1, MARK_TAKEN = 2, MARK_SKIPPED = 4 };

struct PtrKeyHash {
    size_t operator()(const std::pair<Account*, uint64_t>& k) const noexcept {
        return std::hash<const void*>()(k.first) ^ (k.second * 0x9E3779B97F4A7C15ULL);
    }
};

template <class CoreT>
struct BlockWalk {
    uint32_t epoch = 0;
    // `seen` pointers of held accounts whose sequence number the pool does not hold
    std::unordered_set<std::pair<Account*, uint64_t>, PtrKeyHash> seen_absent;

    CoreT& core() { return *static_cast<CoreT*>(this); }

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
            for (auto& kv : core().accounts)
                for (Entry* e : kv.second->txns) e->mark_epoch = 0;
            epoch = 1;
        }
    }

    // Record one pointer of the caller's `seen` set.
    void block_seen(const unsigned char* addr, uint64_t seq) {
        Account* a = core().find(addr);
        if (a == nullptr || a->txns.empty()) return;  // cannot affect this block
        Entry* e = core().lookup(a, seq);
        if (e != nullptr) set_mark(e, MARK_SEEN);
        else seen_absent.insert(std::make_pair(a, seq));
    }

    void block_take(Entry* e, std::vector<Entry*>& out) {
        set_mark(e, MARK_TAKEN);
        out.push_back(e);
    }

    void block_run(size_t limit, std::vector<Entry*>& out) {
        const uint32_t ep = epoch;
        auto& priority = core().priority;
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
                Entry* n = core().lookup(a, s);
                if (n == nullptr || n->prev == nullptr || !marked(n, ep, MARK_SKIPPED)) break;
                block_take(n, out);
                if (out.size() >= limit) return;
            }
        }
    }
};

}  // namespace mpf
