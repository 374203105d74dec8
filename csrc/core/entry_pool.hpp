// Entries come from a pool: chunks of CHUNK entries, freed ones on a free list. No per-entry
// malloc header, entries of one period sit together, and a steady pool reuses its memory.
#pragma once

#include <memory>

#include "types.hpp"

namespace mpf {

class EntryPool {
public:
    static constexpr size_t CHUNK = 4096;

    Entry* alloc() {
        if (free_ == nullptr) refill();
        Entry* e = free_;
        free_ = *reinterpret_cast<Entry**>(e);
        live_++;
        return e;
    }

    void release(Entry* e) {
        *reinterpret_cast<Entry**>(e) = free_;
        free_ = e;
        live_--;
    }

    size_t live() const { return live_; }

private:
    void refill() {
        chunks_.emplace_back(new Entry[CHUNK]);
        Entry* chunk = chunks_.back().get();
        for (size_t i = CHUNK; i-- > 0;) release_fresh(&chunk[i]);
    }

    void release_fresh(Entry* e) {
        *reinterpret_cast<Entry**>(e) = free_;
        free_ = e;
    }

    std::vector<std::unique_ptr<Entry[]>> chunks_;
    Entry* free_ = nullptr;
    size_t live_ = 0;
};

}  // namespace mpf
