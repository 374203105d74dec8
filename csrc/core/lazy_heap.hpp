// A heap with lazy deletion, for the indexes only a policy needs (core.hpp: the ready entries
// by age for eager expiry, the evictable account tails for lowest_price eviction).
//
// An item is pushed when its entry starts to qualify (it becomes ready; it becomes its
// account's tail); nothing is done when it stops (parked, removed, no longer the tail). A stale
// item is recognised by the caller's `valid` predicate (its entry's insertion number no longer
// matches: the entry was removed, its memory perhaps reused; or the entry no longer qualifies)
// and dropped when it reaches the top, and every stale one at once when the heap outgrows
// twice the qualifying entries (a rebuild: amortised O(1) per push). So the operations that
// change the pool pay O(log n) per push and nothing per removal; a query is amortised
// O(log n). An entry may have several valid items (it qualified, stopped, qualified again):
// harmless, they are equal.
#pragma once

#include <algorithm>
#include <vector>

namespace mpf {

// Stale items tolerated beyond twice the live ones before a rebuild.
constexpr size_t LAZY_HEAP_SLACK = 1024;

// `Less` orders items so the front is the greatest (std's heap functions).
template <class Item, class Less>
struct LazyHeap {
    std::vector<Item> items;

    template <class Valid>
    void push(const Item& x, size_t live, Valid valid) {
        items.push_back(x);
        std::push_heap(items.begin(), items.end(), Less());
        if (items.size() > 2 * live + LAZY_HEAP_SLACK) rebuild(valid);
    }

    // The greatest valid item, or nullptr; stale items above it are dropped.
    template <class Valid>
    const Item* top(Valid valid) {
        while (!items.empty() && !valid(items.front())) pop();
        return items.empty() ? nullptr : &items.front();
    }

    void pop() {
        std::pop_heap(items.begin(), items.end(), Less());
        items.pop_back();
    }

    template <class Valid>
    void rebuild(Valid valid) {
        items.erase(std::remove_if(items.begin(), items.end(),
                                   [&](const Item& x) { return !valid(x); }),
                    items.end());
        std::make_heap(items.begin(), items.end(), Less());
    }

    bool is_heap() const { return std::is_heap(items.begin(), items.end(), Less()); }
};

}  // namespace mpf
