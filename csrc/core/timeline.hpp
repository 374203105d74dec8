// The broadcast timeline: an append-only vector of (timeline id, entry) slots sorted by id, with
// tombstones for removed entries, compacted when they outnumber the live slots.
#pragma once

#include "types.hpp"

namespace mpf {

struct TlSlot {
    uint64_t tid;
    Entry* e;  // nullptr: removed
};

// Tombstones are compacted away once there are more than this many (and more than live slots).
constexpr size_t TL_COMPACT_MIN_DEAD = 1024;

struct Timeline {
    std::vector<TlSlot> tl;
    size_t tl_head = 0;  // first live slot
    size_t tl_live = 0;
    uint64_t next_tid = 1;

    size_t tl_lower(uint64_t tid) const {  // first slot index with slot.tid >= tid; O(log n)
        auto it = std::lower_bound(tl.begin() + tl_head, tl.end(), tid,
                                   [](const TlSlot& s, uint64_t t) { return s.tid < t; });
        return static_cast<size_t>(it - tl.begin());
    }

    void tl_append(Entry* e) {  // O(1) amortised
        e->tl_idx = static_cast<uint32_t>(tl.size());
        tl.push_back(TlSlot{next_tid++, e});
        tl_live++;
    }

    // The timeline id of a READY entry.
    uint64_t tid_of(const Entry* e) const { return tl[e->tl_idx].tid; }

    void tl_remove(Entry* e) {  // O(1) amortised
        tl[e->tl_idx].e = nullptr;
        tl_live--;
        while (tl_head < tl.size() && tl[tl_head].e == nullptr) tl_head++;
        size_t dead = tl.size() - tl_live;
        if (dead > TL_COMPACT_MIN_DEAD && dead > tl_live) tl_compact();
    }

    void tl_compact() {
        std::vector<TlSlot> fresh;
        fresh.reserve(tl_live + tl_live / 2 + 16);
        for (size_t i = tl_head; i < tl.size(); ++i)
            if (tl[i].e != nullptr) {
                tl[i].e->tl_idx = static_cast<uint32_t>(fresh.size());
                fresh.push_back(tl[i]);
            }
        tl.swap(fresh);
        tl_head = 0;
    }

    // `in_tl`: READY entries the caller counted.
    std::string check_timeline(size_t in_tl) const {
        size_t live = 0;
        for (size_t i = tl_head; i < tl.size(); ++i) {
            if (i > tl_head && tl[i - 1].tid >= tl[i].tid) return "timeline ids not increasing";
            if (tl[i].e != nullptr) {
                live++;
                if (tl[i].e->tl_idx != i || tl[i].e->state != ST_READY)
                    return "timeline slot disagrees with its entry";
            }
        }
        if (tl_head < tl.size() && tl[tl_head].e == nullptr) return "timeline head is dead";
        if (live != tl_live || live != in_tl) return "timeline size mismatch";
        return std::string();
    }

    // Whether READY entry `e` sits in its slot.
    bool in_timeline(const Entry* e) const {
        return e->tl_idx >= tl_head && e->tl_idx < tl.size() && tl[e->tl_idx].e == e &&
               tl[e->tl_idx].tid < next_tid;
    }
};

}  // namespace mpf
