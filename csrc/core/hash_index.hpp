// Pending entries by transaction hash (SHA3-256 of the wire form): CoreMempool.get_by_hash.
// An open-addressing table (linear probing, backward-shift deletion, no tombstones) of
// {key, Entry*} slots, kept below 70% full: 16 bytes a slot, 23-46 bytes per pending
// transaction (33.5 at 1M: 2^21 slots). The key is the hash's first 8 bytes mixed with a
// per-table random seed (ground hashes cannot aim at one probe chain); equal keys mean equal
// prefixes, so a lookup then compares all 32 bytes, read where the hash already lives: in the
// Cython SignedTransaction (its inline digest, `digest_offset` bytes into the object, flagged
// by Entry::own_digest) or, for a transaction of another class, in a side map of copies.
// Keys in the slots mean that moving slots (a removal's backward shift, growth) reads no
// entry or transaction: growth at 1M is one sequential pass, and a removal reads only its own
// transaction's hash. Every operation is O(1) expected.
#pragma once

#include <random>
#include <unordered_map>

#include "types.hpp"

namespace mpf {

class HashIndex {
public:
    static constexpr size_t DIGEST_LEN = 32;

    HashIndex() : seed_(std::random_device{}() | (uint64_t(std::random_device{}()) << 32)) {
        slots_.resize(MIN_SLOTS);
    }

    // Where the Cython SignedTransaction keeps its digest, in bytes from the object's start.
    void set_digest_offset(size_t offset) { offset_ = offset; }

    // Tests only, on an empty index: keys are masked with `mask` (0: every entry collides).
    void set_key_mask(uint64_t mask) { key_mask_ = mask; }

    size_t size() const { return n_; }
    size_t slot_count() const { return slots_.size(); }
    Entry* slot(size_t i) const { return slots_[i].e; }

    const unsigned char* digest_of(const Entry* e) const {
        if (e->own_digest) return reinterpret_cast<const unsigned char*>(e->txn) + offset_;
        return foreign_.find(e)->second.b;
    }

    // Index `e` (not yet indexed; no pending entry has its hash). `foreign`: its digest when the
    // transaction is not a Cython SignedTransaction (copied), else nullptr and `e->own_digest`
    // set. May throw bad_alloc before anything changed.
    void insert(Entry* e, const unsigned char* foreign) {
        if ((n_ + 1) * 10 > slots_.size() * MAX_LOAD_TENTHS) grow();
        const unsigned char* digest = foreign;
        if (foreign != nullptr) {
            Digest d;
            std::memcpy(d.b, foreign, DIGEST_LEN);
            digest = foreign_.emplace(e, d).first->second.b;
        } else {
            digest = digest_of(e);
        }
        place(Slot{key(digest), e});
        n_++;
    }

    void erase(const Entry* e) {
        uint64_t k = key(digest_of(e));
        size_t i = k & mask();
        while (slots_[i].e != e) i = (i + 1) & mask();
        // backward-shift: move later members of the chain into the hole
        size_t hole = i;
        for (size_t j = (hole + 1) & mask(); slots_[j].e != nullptr; j = (j + 1) & mask()) {
            size_t home = slots_[j].k & mask();
            // movable when the hole is no further back than its home: displacement >= gap
            if (((j - home) & mask()) >= ((j - hole) & mask())) {
                slots_[hole] = slots_[j];
                hole = j;
            }
        }
        slots_[hole] = Slot{};
        if (!e->own_digest) foreign_.erase(e);
        n_--;
    }

    // Hints for a batch of removals (GC): bring an entry's hash, then its home slot, to cache.
    void prefetch_digest(const Entry* e) const {
        if (e->own_digest) __builtin_prefetch(digest_of(e));
    }
    void prefetch_slot(const Entry* e) const {
        if (e->own_digest) __builtin_prefetch(&slots_[key(digest_of(e)) & mask()]);
    }

    // The indexed entry whose digest is `digest` (32 bytes), or nullptr.
    Entry* find(const unsigned char* digest) const {
        uint64_t k = key(digest);
        for (size_t i = k & mask(); slots_[i].e != nullptr; i = (i + 1) & mask()) {
            const Slot& s = slots_[i];
            if (s.k == k && std::memcmp(digest_of(s.e), digest, DIGEST_LEN) == 0) return s.e;
        }
        return nullptr;
    }

    // Every slot's key is its entry's, each found by its digest; `expected` entries; the side
    // map in step.
    bool check(size_t expected) const {
        size_t count = 0, foreign = 0;
        for (const Slot& s : slots_) {
            if (s.e == nullptr) continue;
            count++;
            if (!s.e->own_digest) {
                foreign++;
                if (foreign_.find(s.e) == foreign_.end()) return false;
            }
            if (s.k != key(digest_of(s.e)) || find(digest_of(s.e)) != s.e) return false;
        }
        return count == n_ && n_ == expected && foreign == foreign_.size();
    }

private:
    struct Slot {
        uint64_t k = 0;
        Entry* e = nullptr;
    };
    struct Digest {
        unsigned char b[DIGEST_LEN];
    };

    static constexpr size_t MIN_SLOTS = 64;
    static constexpr size_t MAX_LOAD_TENTHS = 7;

    size_t mask() const { return slots_.size() - 1; }

    uint64_t key(const unsigned char* digest) const {
        uint64_t prefix;
        std::memcpy(&prefix, digest, sizeof prefix);
        return fmix64((prefix & key_mask_) ^ seed_);  // a bijection: equal keys, equal prefixes
    }

    static uint64_t fmix64(uint64_t x) {
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdULL;
        x ^= x >> 33;
        x *= 0xc4ceb9fe1a85ec53ULL;
        x ^= x >> 33;
        return x;
    }

    void place(Slot s) {
        size_t i = s.k & mask();
        while (slots_[i].e != nullptr) i = (i + 1) & mask();
        slots_[i] = s;
    }

    void grow() {
        std::vector<Slot> old(slots_.size() * 2);  // may throw: nothing changed yet
        old.swap(slots_);                          // `old` now holds the old slots
        for (const Slot& s : old)
            if (s.e != nullptr) place(s);
    }

    std::vector<Slot> slots_;
    std::unordered_map<const Entry*, Digest> foreign_;
    size_t n_ = 0;
    size_t offset_ = 0;
    uint64_t key_mask_ = ~uint64_t(0);
    uint64_t seed_;
};

}  // namespace mpf
