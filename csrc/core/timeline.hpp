// The broadcast timeline: an append-only vector of (timeline id, entry) slots sorted by id, with
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

struct Timeline {
    std::vector<TlSlot> tl;
    size_t tl_head = 0;  // first live slot (in iteration order), tl.size() if none
    size_t tl_live = 0;
    uint64_t next_tid = 1;
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

    void tl_append(Entry* e) {  // O(1) amortised
        e->tl_idx = static_cast<uint32_t>(tl.size());
        tl.push_back(TlSlot{next_tid++, e});
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

    // `in_tl`: READY entries the caller counted.
    std::string check_timeline(size_t in_tl) const {
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
        size_t i = e->tl_idx;
        if (tl_compacting && i >= tl_w && i < tl_r) return false;
        return i < tl.size() && tl[i].e == e && tl[i].tid < next_tid;
    }
};

}  // namespace mpf
