// A sorted sequence of small keys in blocks (the shape of sortedcontainers' SortedList, in C++):
// each block is a sorted vector of at most 2 * LOAD keys, and `maxes` holds every block's last
// key, so a search is a binary search over `maxes` then one over a block, and iteration walks
// memory in order. Insert and erase cost O(log n + LOAD) (a memmove inside one block); keys are
// unique (they end with their entry's address); the comparator decides the order.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace mpf {

template <class Key, class Less, size_t LOAD = 64>
class SortedBlocks {
public:
    struct Pos {
        size_t block;
        size_t index;
    };

    size_t size() const { return n_; }
    bool empty() const { return n_ == 0; }

    void clear() {
        blocks_.clear();
        maxes_.clear();
        n_ = 0;
    }

    void insert(const Key& k) {
        if (blocks_.empty()) {
            blocks_.emplace_back();
            blocks_.back().reserve(2 * LOAD + 1);
            blocks_.back().push_back(k);
            maxes_.push_back(k);
            n_ = 1;
            return;
        }
        size_t b = block_for(k);
        if (b == blocks_.size()) b--;  // past every key: the last block
        std::vector<Key>& v = blocks_[b];
        v.insert(std::lower_bound(v.begin(), v.end(), k, less_), k);
        maxes_[b] = v.back();
        n_++;
        if (v.size() > 2 * LOAD) split(b);
    }

    // Remove the key equal to `k` (same entry); false when absent.
    bool erase(const Key& k) {
        size_t b = block_for(k);
        if (b == blocks_.size()) return false;
        std::vector<Key>& v = blocks_[b];
        auto it = std::lower_bound(v.begin(), v.end(), k, less_);
        if (it == v.end() || it->e != k.e) return false;
        v.erase(it);
        n_--;
        if (v.empty()) {
            blocks_.erase(blocks_.begin() + b);
            maxes_.erase(maxes_.begin() + b);
        } else {
            maxes_[b] = v.back();
            if (v.size() < LOAD / 4) merge(b);
        }
        return true;
    }

    bool contains(const Key& k) const {
        size_t b = block_for(k);
        if (b == blocks_.size()) return false;
        const std::vector<Key>& v = blocks_[b];
        auto it = std::lower_bound(v.begin(), v.end(), k, less_);
        return it != v.end() && it->e == k.e;
    }

    // -- iteration in order: begin(), valid(p), at(p), next(p) --
    Pos begin() const { return Pos{0, 0}; }
    bool valid(const Pos& p) const { return p.block < blocks_.size(); }
    const Key& at(const Pos& p) const { return blocks_[p.block][p.index]; }
    void next(Pos& p) const {
        if (++p.index >= blocks_[p.block].size()) {
            p.block++;
            p.index = 0;
        }
    }

    const Key& back() const { return maxes_.back(); }
    const Key& front() const { return blocks_.front().front(); }

    // The key `k` places before the last (0: the last), or nullptr when there are not that many.
    // O(k / LOAD).
    const Key* from_back(size_t k) const {
        for (size_t b = blocks_.size(); b-- > 0;) {
            const std::vector<Key>& v = blocks_[b];
            if (k < v.size()) return &v[v.size() - 1 - k];
            k -= v.size();
        }
        return nullptr;
    }

    // Every block sorted and non-empty, maxes right, the count right, the order strict.
    bool check() const {
        size_t count = 0;
        const Key* last = nullptr;
        if (blocks_.size() != maxes_.size()) return false;
        for (size_t b = 0; b < blocks_.size(); ++b) {
            const std::vector<Key>& v = blocks_[b];
            if (v.empty() || v.size() > 2 * LOAD || v.back().e != maxes_[b].e) return false;
            for (const Key& k : v) {
                if (last != nullptr && !less_(*last, k)) return false;
                last = &k;
                count++;
            }
        }
        return count == n_;
    }

private:
    // The first block whose last key is not below `k` (blocks_.size() if none).
    size_t block_for(const Key& k) const {
        return static_cast<size_t>(std::lower_bound(maxes_.begin(), maxes_.end(), k, less_) -
                                   maxes_.begin());
    }

    void split(size_t b) {
        std::vector<Key>& v = blocks_[b];
        std::vector<Key> upper;
        upper.reserve(2 * LOAD + 1);  // a block never reallocates: capacity stays 2 * LOAD + 1
        upper.assign(v.begin() + LOAD, v.end());
        v.resize(LOAD);
        maxes_[b] = v.back();
        maxes_.insert(maxes_.begin() + b + 1, upper.back());
        blocks_.insert(blocks_.begin() + b + 1, std::move(upper));
    }

    void merge(size_t b) {
        size_t other = b + 1 < blocks_.size() ? b + 1 : b;
        if (other == b) {
            if (b == 0) return;
            other = b;
            b = b - 1;
        }
        if (blocks_[b].size() + blocks_[other].size() > 2 * LOAD) return;
        std::vector<Key>& v = blocks_[b];
        v.insert(v.end(), blocks_[other].begin(), blocks_[other].end());
        maxes_[b] = v.back();
        blocks_.erase(blocks_.begin() + other);
        maxes_.erase(maxes_.begin() + other);
    }

    std::vector<std::vector<Key>> blocks_;
    std::vector<Key> maxes_;
    size_t n_ = 0;
    Less less_;
};

}  // namespace mpf
