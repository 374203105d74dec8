// The accounts by address: an open-addressing hash table (linear probing, backward-shift
// deletion, no tombstones) of {hash, Account*} slots, kept below 70% full. The hash mixes the
// whole address with a per-table random seed, so nobody can aim many addresses at one probe
// chain. Lookups read one slot line and then the account itself.
#pragma once

#include <random>

#include "types.hpp"

namespace mpf {

class AccountTable {
public:
    AccountTable() : seed_(std::random_device{}() | (uint64_t(std::random_device{}()) << 32)) {
        slots_.resize(MIN_SLOTS);
    }

    size_t size() const { return n_; }

    Account* find(const unsigned char* addr) const {
        uint64_t h = hash(addr);
        for (size_t i = h & mask(); ; i = (i + 1) & mask()) {
            const Slot& s = slots_[i];
            if (s.a == nullptr) return nullptr;
            if (s.h == h && std::memcmp(s.a->addr.b, addr, ADDR_LEN) == 0) return s.a;
        }
    }

    // Add an account whose address is not in the table.
    void insert(Account* a) {
        if ((n_ + 1) * 10 > slots_.size() * MAX_LOAD_TENTHS) grow();
        place(Slot{hash(a->addr.b), a});
        n_++;
    }

    void erase(const Account* a) {
        uint64_t h = hash(a->addr.b);
        size_t i = h & mask();
        while (slots_[i].a != a) i = (i + 1) & mask();
        // backward-shift: move later members of the chain into the hole
        size_t hole = i;
        for (size_t j = (hole + 1) & mask(); slots_[j].a != nullptr; j = (j + 1) & mask()) {
            size_t home = slots_[j].h & mask();
            // movable when the hole is no further back than its home: displacement >= gap
            if (((j - home) & mask()) >= ((j - hole) & mask())) {
                slots_[hole] = slots_[j];
                hole = j;
            }
        }
        slots_[hole] = Slot{};
        n_--;
    }

    template <class F>
    void for_each(F f) const {
        for (const Slot& s : slots_)
            if (s.a != nullptr) f(s.a);
    }

    // The longest run of occupied slots a lookup may walk (for tests of the hash's spread).
    size_t longest_probe() const {
        size_t longest = 0, run = 0;
        for (size_t i = 0; i < 2 * slots_.size(); ++i) {  // twice round: runs may wrap
            run = slots_[i & mask()].a != nullptr ? run + 1 : 0;
            longest = std::max(longest, std::min(run, slots_.size()));
        }
        return longest;
    }

    bool check() const {
        size_t count = 0;
        for (size_t i = 0; i < slots_.size(); ++i) {
            if (slots_[i].a == nullptr) continue;
            count++;
            if (slots_[i].h != hash(slots_[i].a->addr.b)) return false;
            if (find(slots_[i].a->addr.b) != slots_[i].a) return false;
        }
        return count == n_;
    }

private:
    struct Slot {
        uint64_t h = 0;
        Account* a = nullptr;
    };

    static constexpr size_t MIN_SLOTS = 64;
    static constexpr size_t MAX_LOAD_TENTHS = 7;

    size_t mask() const { return slots_.size() - 1; }

    // Every byte of the address counts (formats whose addresses share a prefix, such as
    // 20-byte addresses padded to 32, must not share probe chains): the murmur3 finaliser
    // chained over the four words, starting from the seed.
    uint64_t hash(const unsigned char* addr) const {
        uint64_t h = seed_;
        for (int i = 0; i < 4; ++i) {
            uint64_t w;
            std::memcpy(&w, addr + 8 * i, sizeof w);
            h = fmix64(h ^ w);
        }
        return h;
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
        size_t i = s.h & mask();
        while (slots_[i].a != nullptr) i = (i + 1) & mask();
        slots_[i] = s;
    }

    void grow() {
        std::vector<Slot> old;
        old.swap(slots_);
        slots_.assign(old.size() * 2, Slot{});
        for (const Slot& s : old)
            if (s.a != nullptr) place(s);
    }

    std::vector<Slot> slots_;
    size_t n_ = 0;
    uint64_t seed_;
};

}  // namespace mpf
