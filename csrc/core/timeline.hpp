// The broadcast timelines: one per broadcast bucket (`broadcast_buckets`, ascending gas-price
// lower bounds; one bucket by default), sharing one id counter, so ids are unique and increasing
// across buckets and a READY entry sits in the timeline of its price's bucket.
// Each is an append-only vector of (timeline id, entry) slots sorted by id, with
// tombstones for removed entries. Once tombstones outnumber the live slots the vector is
// compacted *incrementally*: every later timeline operation moves a few slots (COMPACT_STEP),
// so no single operation pays for the whole vector. While a compaction runs, slots [0, w) are
// compacted, [w, r) is a gap of spent slots that iteration jumps over (`next`), and [r, end) is
// not reached yet; ids increase along that order, so searches run on the two live regions.
#pragma once

#include "types.hpp"

namespace mpf {

struct TlSlot {
    uint64_t tid;
    Entry* e;  // nullptr: removed
};

// A compaction starts once there are more than this many tombstones (and more than live slots).
constexpr size_t TL_COMPACT_MIN_DEAD = 1024;
// Slots a compaction in progress moves per timeline operation.
constexpr size_t TL_COMPACT_STEP = 64;

// Most broadcast buckets (MempoolConfig checks the same bound; an entry's bucket is a byte).
constexpr size_t TL_MAX_BUCKETS = 64;

// One bucket's timeline.
struct Timeline {
    std::vector<TlSlot> tl;
    size_t tl_head = 0;  // first live slot (in iteration order), tl.size() if none
    size_t tl_live = 0;
    uint64_t tl_last = 0;  // the last id appended: no slot's id is greater (read inline)
    bool tl_compacting = false;
    size_t tl_w = 0;  // compacting: end of the compacted region
    size_t tl_r = 0;  // compacting: start of the region not reached yet

    // The slot index after `i` in iteration order (jumps over a compaction's gap).
    size_t tl_next(size_t i) const {
        ++i;
        return tl_compacting && i == tl_w ? tl_r : i;
    }

    // First slot index (in iteration order, from tl_head) with slot.tid >= tid; O(log n).
    size_t tl_lower(uint64_t tid) const {
        auto by_tid = [](const TlSlot& s, uint64_t t) { return s.tid < t; };
        if (tl_compacting && tl_head < tl_w) {
            auto it = std::lower_bound(tl.begin() + tl_head, tl.begin() + tl_w, tid, by_tid);
            if (it != tl.begin() + tl_w) return static_cast<size_t>(it - tl.begin());
            return static_cast<size_t>(
                std::lower_bound(tl.begin() + tl_r, tl.end(), tid, by_tid) - tl.begin());
        }
        auto it = std::lower_bound(tl.begin() + tl_head, tl.end(), tid, by_tid);
        return static_cast<size_t>(it - tl.begin());
    }

    void tl_append(Entry* e, uint64_t tid) {  // O(1) amortised
        e->tl_idx = static_cast<uint32_t>(tl.size());
        tl.push_back(TlSlot{tid, e});
        tl_last = tid;
        if (tl_live++ == 0) tl_head = e->tl_idx;
        if (tl_compacting) tl_compact_step();
    }

    // The timeline id of a READY entry.
    uint64_t tid_of(const Entry* e) const { return tl[e->tl_idx].tid; }

    void tl_remove(Entry* e) {  // O(1) amortised
        tl[e->tl_idx].e = nullptr;
        tl_live--;
        while (tl_head < tl.size() && tl[tl_head].e == nullptr) tl_head = tl_next(tl_head);
        if (tl_compacting) {
            tl_compact_step();
        } else {
            size_t dead = tl.size() - tl_live;
            if (dead > TL_COMPACT_MIN_DEAD && dead > tl_live) tl_compact_begin();
        }
    }

    void tl_compact_begin() {
        tl_compacting = true;
        tl_w = 0;
        tl_r = tl_head;  // everything before the first live slot is spent already
        tl_compact_step();
    }

    // Move up to TL_COMPACT_STEP slots from the unreached region to the compacted one.
    void tl_compact_step() {
        for (size_t k = 0; k < TL_COMPACT_STEP && tl_r < tl.size(); ++k, ++tl_r) {
            Entry* e = tl[tl_r].e;
            if (e == nullptr) continue;
            if (tl_w != tl_r) {  // a live prefix stays where it is
                if (tl_head == tl_r) tl_head = tl_w;
                tl[tl_w] = tl[tl_r];
                tl[tl_r].e = nullptr;
                e->tl_idx = static_cast<uint32_t>(tl_w);
            }
            tl_w++;
        }
        if (tl_r == tl.size()) {
            tl.resize(tl_w);
            tl_compacting = false;
            if (tl_live == 0) tl_head = 0;
        }
    }

    // The first live slot at or after `i` (in iteration order), tl.size() if none.
    size_t live_from(size_t i) const {
        while (i < tl.size() && tl[i].e == nullptr) i = tl_next(i);
        return i;
    }

    // Append up to `limit` entries with id > `after` to `out`, in id order; the last id read
    // (0: none). O(log n + read + tombstones passed).
    uint64_t read(uint64_t after, size_t limit, std::vector<Entry*>& out) const {
        uint64_t last = 0;
        if (after == UINT64_MAX) return last;
        out.reserve(out.size() + std::min(limit, tl_live));
        size_t taken = 0;
        for (size_t i = tl_lower(after + 1); i < tl.size() && taken < limit; i = tl_next(i)) {
            Entry* e = tl[i].e;
            if (e != nullptr) {
                out.push_back(e);
                last = tl[i].tid;
                taken++;
            }
        }
        return last;
    }

    // Append the entries with `after` < id <= `upto` to `out`, in id order.
    void range(uint64_t after, uint64_t upto, std::vector<Entry*>& out) const {
        if (after == UINT64_MAX) return;
        for (size_t i = tl_lower(after + 1); i < tl.size() && tl[i].tid <= upto; i = tl_next(i))
            if (tl[i].e != nullptr) out.push_back(tl[i].e);
    }

    // `in_tl`: READY entries the caller counted in this bucket.
    std::string check_timeline(size_t in_tl, uint8_t bucket) const {
        size_t live = 0;
        bool first = true;
        size_t i = tl_head;
        if (tl_compacting && (tl_w > tl_r || tl_r > tl.size())) return "timeline gap broken";
        for (size_t j = 0; j < tl.size(); j = tl_next(j)) {  // nothing live before the head
            if (j == tl_head) break;
            if (tl[j].e != nullptr) return "timeline head is not the first live slot";
        }
        for (size_t prev = 0; i < tl.size(); prev = i, i = tl_next(i)) {
            if (!first && tl[prev].tid >= tl[i].tid) return "timeline ids not increasing";
            first = false;
            if (tl[i].e != nullptr) {
                live++;
                if (tl[i].e->tl_idx != i || tl[i].e->state != ST_READY ||
                    tl[i].e->bucket != bucket)
                    return "timeline slot disagrees with its entry";
            }
        }
        if (tl_head < tl.size() && tl[tl_head].e == nullptr) return "timeline head is dead";
        if (live != tl_live || live != in_tl) return "timeline size mismatch";
        return std::string();
    }

    // Whether READY entry `e` sits in its slot (ids below `next_tid` were handed out).
    bool in_timeline(const Entry* e, uint64_t next_tid) const {
        size_t i = e->tl_idx;
        if (tl_compacting && i >= tl_w && i < tl_r) return false;
        return i < tl.size() && tl[i].e == e && tl[i].tid < next_tid;
    }
};

// Every bucket's timeline and the shared id counter (a mixin of Core).
struct Timelines {
    std::vector<Timeline> tls = std::vector<Timeline>(1);
    std::vector<uint64_t> bounds = std::vector<uint64_t>(1, 0);  // ascending, bounds[0] == 0
    uint64_t next_tid = 1;
    size_t tl_live = 0;  // READY entries in every bucket

    // Set the buckets' lower bounds (before the first entry; `b` ascending from 0).
    void set_buckets(const std::vector<uint64_t>& b) {
        bounds = b;
        tls.assign(b.size(), Timeline());
    }

    size_t n_buckets() const { return tls.size(); }

    // The bucket of a gas price: the last whose lower bound is <= it. O(log buckets).
    uint8_t bucket_of(uint64_t price) const {
        if (bounds.size() == 1) return 0;
        return static_cast<uint8_t>(
            std::upper_bound(bounds.begin(), bounds.end(), price) - bounds.begin() - 1);
    }

    void tl_append(Entry* e) {
        e->bucket = bucket_of(e->price);
        tls[e->bucket].tl_append(e, next_tid++);
        tl_live++;
    }

    void tl_remove(Entry* e) {
        tls[e->bucket].tl_remove(e);
        tl_live--;
    }

    // The timeline id of a READY entry.
    uint64_t tid_of(const Entry* e) const { return tls[e->bucket].tid_of(e); }

    bool in_timeline(const Entry* e) const { return tls[e->bucket].in_timeline(e, next_tid); }

    // Up to `limit` entries of every bucket with id > `after`, in id order (a merge of the
    // buckets); the last id read (0: none). O(buckets) per entry read.
    uint64_t tl_read_merged(uint64_t after, size_t limit, std::vector<Entry*>& out) const {
        if (tls.size() == 1) return tls[0].read(after, limit, out);
        uint64_t last = 0;
        if (after == UINT64_MAX) return last;
        out.reserve(out.size() + std::min(limit, tl_live));
        size_t pos[TL_MAX_BUCKETS];
        for (size_t b = 0; b < tls.size(); ++b) pos[b] = tls[b].live_from(tls[b].tl_lower(after + 1));
        for (size_t taken = 0; taken < limit; ++taken) {
            size_t best = tls.size();
            for (size_t b = 0; b < tls.size(); ++b)
                if (pos[b] < tls[b].tl.size() &&
                    (best == tls.size() || tls[b].tl[pos[b]].tid < tls[best].tl[pos[best]].tid))
                    best = b;
            if (best == tls.size()) break;
            const Timeline& t = tls[best];
            out.push_back(t.tl[pos[best]].e);
            last = t.tl[pos[best]].tid;
            pos[best] = t.live_from(t.tl_next(pos[best]));
        }
        return last;
    }

    // The entries of every bucket with `after` < id <= `upto`, in id order.
    void tl_range_merged(uint64_t after, uint64_t upto, std::vector<Entry*>& out) const {
        if (tls.size() == 1) {
            tls[0].range(after, upto, out);
            return;
        }
        size_t start = out.size();
        for (const Timeline& t : tls) t.range(after, upto, out);
        std::sort(out.begin() + static_cast<std::ptrdiff_t>(start), out.end(),
                  [this](const Entry* a, const Entry* b) { return tid_of(a) < tid_of(b); });
    }

    // The last id bucket `b` was given (no id of it is greater; 0: none yet). O(1).
    uint64_t tl_last_of(size_t b) const { return tls[b].tl_last; }

    // Append up to `limit` entries of bucket `b` with id > `after` to `out`; the last id read.
    uint64_t tl_read(size_t b, uint64_t after, size_t limit, std::vector<Entry*>& out) const {
        return tls[b].read(after, limit, out);
    }

    void tl_range(size_t bucket, uint64_t after, uint64_t upto, std::vector<Entry*>& out) const {
        tls[bucket].range(after, upto, out);
    }

    // `in_tl`: READY entries the caller counted, in all buckets.
    std::string check_timeline(size_t in_tl) const {
        size_t live = 0;
        if (tls.empty() || tls.size() != bounds.size() || tls.size() > TL_MAX_BUCKETS ||
            bounds[0] != 0)
            return "timeline buckets broken";
        for (size_t b = 0; b < tls.size(); ++b) {
            if (b > 0 && bounds[b - 1] >= bounds[b]) return "bucket bounds not ascending";
            std::string p = tls[b].check_timeline(tls[b].tl_live, static_cast<uint8_t>(b));
            if (!p.empty()) return p;
            for (const TlSlot& s : tls[b].tl)
                if (s.e != nullptr && (s.tid >= next_tid || s.tid > tls[b].tl_last ||
                                       bucket_of(s.e->price) != b))
                    return "timeline entry in the wrong bucket";
            live += tls[b].tl_live;
        }
        if (live != tl_live || live != in_tl) return "timeline size mismatch";
        return std::string();
    }
};

}  // namespace mpf
