// The two expiry indexes GC reads, both in (expiry, insertion order) order, which is the order
// GC removes in (so a GC limited to k removals removes the same k in both cores).
// System TTL: expiry is insertion time + a constant, so the order is the insertion order: an
// intrusive list appended at the tail in O(1); an entry whose expiry is below the tail's (the
// clock went back) goes to an ordered set instead, and GC merges the two.
// Client expiration: whole seconds shared by many entries: one intrusive list per second in an
// ordered map (small, hot in cache), O(1) insert and removal within a bucket. An entry without
// a client expiration (a foreign format's expiration_time None) is in no bucket: only the
// system TTL removes it.
#pragma once

#include "types.hpp"

namespace mpf {

struct TtlIndexes {
    typedef std::pair<std::pair<double, uint64_t>, Entry*> LateKey;

    Entry* ttl_head = nullptr;
    Entry* ttl_tail = nullptr;
    std::set<LateKey> ttl_late;
    std::map<uint64_t, ExpBucket> expiration;
    size_t no_expiration = 0;  // entries in no bucket

    static LateKey late_key(Entry* e) { return LateKey{{e->expiry, e->order}, e}; }

    void ttl_link(Entry* e) {
        e->ttl_late = ttl_tail != nullptr && e->expiry < ttl_tail->expiry;
        if (e->ttl_late) {
            ttl_late.insert(late_key(e));
            return;
        }
        e->ttl_prev = ttl_tail;
        e->ttl_next = nullptr;
        if (ttl_tail != nullptr) ttl_tail->ttl_next = e; else ttl_head = e;
        ttl_tail = e;
    }

    void ttl_unlink(Entry* e) {
        if (e->ttl_late) {
            ttl_late.erase(late_key(e));
            return;
        }
        if (e->ttl_prev != nullptr) e->ttl_prev->ttl_next = e->ttl_next; else ttl_head = e->ttl_next;
        if (e->ttl_next != nullptr) e->ttl_next->ttl_prev = e->ttl_prev; else ttl_tail = e->ttl_prev;
    }

    void exp_link(Entry* e, uint64_t expiration_time) {
        ExpBucket& b = expiration.try_emplace(expiration_time).first->second;
        b.second = expiration_time;
        e->exp_bucket = &b;
        e->exp_next = nullptr;
        e->exp_prev = b.tail;
        if (b.tail != nullptr) b.tail->exp_next = e; else b.head = e;
        b.tail = e;
    }

    // An entry without a client expiration: in no bucket.
    void exp_link_none(Entry* e) {
        e->exp_bucket = nullptr;
        e->exp_prev = e->exp_next = nullptr;
        no_expiration++;
    }

    void exp_unlink(Entry* e) {
        if (e->exp_bucket == nullptr) {
            no_expiration--;
            return;
        }
        ExpBucket& b = *e->exp_bucket;
        if (e->exp_prev != nullptr) e->exp_prev->exp_next = e->exp_next; else b.head = e->exp_next;
        if (e->exp_next != nullptr) e->exp_next->exp_prev = e->exp_prev; else b.tail = e->exp_prev;
        if (b.head == nullptr) expiration.erase(b.second);
    }

    static bool before(const Entry* a, const Entry* b) {
        return a->expiry < b->expiry || (a->expiry == b->expiry && a->order < b->order);
    }

    // Up to `limit` entries whose system expiry is before `now`, in (expiry, order) order.
    void collect_system_expired(double now, size_t limit, std::vector<Entry*>& out) const {
        const Entry* e = ttl_head;
        auto late = ttl_late.begin();
        while (out.size() < limit) {
            bool list_ok = e != nullptr && e->expiry < now;
            bool late_ok = late != ttl_late.end() && late->second->expiry < now;
            if (!list_ok && !late_ok) return;
            if (list_ok && (!late_ok || before(e, late->second))) {
                out.push_back(const_cast<Entry*>(e));
                e = e->ttl_next;
            } else {
                out.push_back(late->second);
                ++late;
            }
        }
    }

    // Up to `limit` entries whose client expiration time is below `threshold` (every one if
    // `all`), by expiration second then insertion order.
    void collect_expired(uint64_t threshold, bool all, size_t limit,
                         std::vector<Entry*>& out) const {
        for (auto it = expiration.begin();
             it != expiration.end() && (all || it->first < threshold); ++it)
            for (Entry* e = it->second.head; e != nullptr; e = e->exp_next) {
                if (out.size() >= limit) return;
                out.push_back(e);
            }
    }

    std::string check_ttl(size_t size) const {
        size_t in_ttl = 0;
        for (const Entry* e = ttl_head; e != nullptr; e = e->ttl_next) {
            if (e->ttl_late) return "system TTL list holds a late entry";
            if (e->ttl_next != nullptr ? e->ttl_next->ttl_prev != e : ttl_tail != e)
                return "system TTL list broken";
            if (e->ttl_next != nullptr && before(e->ttl_next, e))
                return "system TTL list out of order";
            if (++in_ttl > size) break;
        }
        for (const LateKey& k : ttl_late)
            if (!k.second->ttl_late || k != late_key(k.second)) return "system TTL set broken";
        size_t in_exp = 0;
        for (const auto& kv : expiration) {
            const ExpBucket& b = kv.second;
            if (b.second != kv.first || b.head == nullptr || b.head->exp_prev != nullptr)
                return "expiration bucket broken";
            const Entry* last = nullptr;
            for (const Entry* x = b.head; x != nullptr; x = x->exp_next) {
                if (x->exp_bucket != &b || x->exp_prev != last) return "expiration bucket broken";
                if (last != nullptr && last->order >= x->order)
                    return "expiration bucket out of order";
                last = x;
                if (++in_exp > size) return "expiration buckets hold more than the pool";
            }
            if (b.tail != last) return "expiration bucket broken";
        }
        if (in_ttl + ttl_late.size() != size || in_exp + no_expiration != size)
            return "size mismatch";
        return std::string();
    }
};

}  // namespace mpf
