// The two expiry indexes GC reads.
// System TTL: expiry is insertion time + a constant, so its order is the insertion order: an
// intrusive list appended at the tail in O(1); an entry older than the tail (the clock went
// back) goes to an ordered set instead, and GC reads both.
// Client expiration: whole seconds shared by many entries: one intrusive list per second in an
// ordered map (small, hot in cache), O(1) insert and removal within a bucket.
#pragma once

#include "types.hpp"

namespace mpf {

struct TtlIndexes {
    Entry* ttl_head = nullptr;
    Entry* ttl_tail = nullptr;
    std::set<Entry*, TtlLess> ttl_late;
    ExpMap expiration;

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

    void ttl_unlink(Entry* e) {
        if (e->ttl_late) {
            ttl_late.erase(e->ttl_it);
            return;
        }
        if (e->ttl_prev != nullptr) e->ttl_prev->ttl_next = e->ttl_next; else ttl_head = e->ttl_next;
        if (e->ttl_next != nullptr) e->ttl_next->ttl_prev = e->ttl_prev; else ttl_tail = e->ttl_prev;
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

    // Entries whose system expiry is before `now`. O(expired).
    void collect_system_expired(double now, std::vector<Entry*>& out) const {
        for (Entry* e = ttl_head; e != nullptr && e->expiry < now; e = e->ttl_next)
            out.push_back(e);
        for (auto it = ttl_late.begin(); it != ttl_late.end() && (*it)->expiry < now; ++it)
            out.push_back(*it);
    }

    // Entries whose client expiration time is below `threshold` (all of them if `all`).
    void collect_expired(uint64_t threshold, bool all, std::vector<Entry*>& out) const {
        for (auto it = expiration.begin();
             it != expiration.end() && (all || it->first < threshold); ++it)
            for (Entry* e = it->second.head; e != nullptr; e = e->exp_next) out.push_back(e);
    }

    std::string check_ttl(size_t size) const {
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
                if (x->expiration != kv.first || x->exp_prev != last)
                    return "expiration bucket broken";
                last = x;
                if (++in_exp > size) return "expiration buckets hold more than the pool";
            }
            if (kv.second.tail != last) return "expiration bucket broken";
        }
        if (in_ttl + ttl_late.size() != size || in_exp != size) return "size mismatch";
        return std::string();
    }
};

}  // namespace mpf
