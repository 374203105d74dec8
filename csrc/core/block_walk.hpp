// get_block: the ready transactions Libra's walk takes, in the order it takes them.
//
// Libra's walk visits ready entries in priority order, skips the caller's `seen` pointers, takes
// an entry when it is its account's current one or its predecessor was seen or taken, and takes
// one passed over for that reason right after its predecessor. Equivalently, each entry e gets
// a release point R(e): its own position p(e) when it is a *head* (its account's current entry,
// or, for an account the sequence cache dropped, a ready entry without a predecessor) or when
// its predecessor is seen; otherwise max(R(pred), p(e)). The walk takes entries by (R, seq).
//
// Two ways to compute that:
// - `block_run_heads` merges, in priority order, the heads index (heads only), the successors of
//   seen entries, and a heap of released successors, so it visits O(block + heads passed over)
//   entries instead of every entry up to the last one taken (deep accounts cost what wide ones
//   do). It needs every seen pointer up front (`block_seen`): cheap when `seen` is small.
// - `block_run_probe` is Libra's walk itself, asking `seen` (seen_set.hpp) about the entries it
//   visits only, memoised per entry: for a `seen` far larger than the block, mostly stale or
//   not in the pool, it never reads all of it.
// Both stop before the block's summed wire size would exceed a byte budget (`block_bytes`;
// the first entry is taken whatever its size): a cut of the same sequence, so the same block.
// Scratch marks live in the entries, valid while their epoch equals the walk's (no clearing).
// A CRTP mixin of Core: it reads the indexes and the accounts through `core()`.
#pragma once

#include "seen_set.hpp"
#include "types.hpp"

namespace mpf {

enum : uint8_t { MARK_SEEN = 1, MARK_TAKEN = 2, MARK_SKIPPED = 4, MARK_PROBED = 8 };
// How many entries ahead of the probing walk its entries, then their predecessors and
// accounts, then the accounts' address objects are fetched (measured: benchmarks/core_workloads.py
// get_block_stale_seen).
enum { PREFETCH_ENTRY = 16, PREFETCH_ACCOUNT = 8, PREFETCH_SENDER = 4 };

template <class CoreT>
struct BlockWalk {
    uint32_t epoch = 0;
    std::vector<Entry*> seen_entries;                      // seen pointers the pool holds
    std::vector<std::pair<Account*, uint64_t>> seen_absent;  // seen (held account, other seq)
    std::vector<PrioKey> seen_successors;
    struct Released {
        Entry* key;  // the entry whose position is its release point
        Entry* e;
    };
    std::vector<Released> released;
    uint64_t bytes_left = UINT64_MAX;  // of get_block's max_bytes (block_bytes), or unlimited
    bool budgeted = false;             // a max_bytes was given: wire sizes are read

    CoreT& core() { return *static_cast<CoreT*>(this); }

    static bool marked(const Entry* e, uint32_t ep, uint8_t bit) {
        return e->mark_epoch == ep && (e->mark & bit);
    }

    void set_mark(Entry* e, uint8_t bit) {
        if (e->mark_epoch != epoch) {
            e->mark_epoch = epoch;
            e->mark = 0;
        }
        e->mark |= bit;
    }

    void block_begin() {
        seen_entries.clear();
        seen_absent.clear();
        bytes_left = UINT64_MAX;
        budgeted = false;
        if (++epoch == 0) {  // wrapped: forget every old mark
            core().accounts.for_each([](Account* a) {
                a->skip_epoch = 0;
                for (Entry* e : a->txns) e->mark_epoch = 0;
            });
            epoch = 1;
        }
    }

    // Record one pointer of the caller's `seen` (for block_run_heads). O(log k) per pointer.
    void block_seen(const unsigned char* addr, uint64_t seq) {
        Account* a = core().find(addr);
        if (a == nullptr || a->txns.empty()) return;  // cannot affect this block
        Entry* e = core().lookup(a, seq);
        if (e == nullptr) {
            seen_absent.emplace_back(a, seq);
        } else if (!marked(e, epoch, MARK_SEEN)) {
            set_mark(e, MARK_SEEN);
            seen_entries.push_back(e);
        }
    }

    // Limit this walk's block to `budget` bytes of wire form (after block_begin).
    void block_bytes(uint64_t budget) {
        bytes_left = budget;
        budgeted = true;
    }

    // Whether `e` may join a block of `taken` entries under the byte budget (the first may);
    // if so its wire size is spent. Unlimited, no wire size is read (one branch).
    bool spend(const Entry* e, size_t taken) {
        if (!budgeted) return true;
        uint64_t w = e->wire_size();
        if (w > bytes_left && taken != 0) return false;
        bytes_left = w < bytes_left ? bytes_left - w : 0;
        return true;
    }

    // Take `e` into the block (after `spend`).
    void append(Entry* e, std::vector<Entry*>& out) {
        set_mark(e, MARK_TAKEN);
        __builtin_prefetch(e->txn, 1);  // the result list takes a reference to it next
        out.push_back(e);
    }

    static bool earlier(Entry* a, Entry* b) { return PrioLess()(prio_key(a), prio_key(b)); }

    // Heap order: the smallest release point first, then the lower sequence number.
    static bool later_released(const Released& x, const Released& y) {
        if (x.key != y.key) return earlier(y.key, x.key);
        return x.e->seq > y.e->seq;
    }

    // The ready successor of `a`'s sequence number `seq` that may be released, or nullptr.
    Entry* releasable_successor(Account* a, uint64_t seq) {
        if (seq == UINT64_MAX) return nullptr;
        Entry* n = core().lookup(a, seq + 1);
        if (n == nullptr || !n->ready || marked(n, epoch, MARK_SEEN | MARK_TAKEN)) return nullptr;
        return n;
    }

    // A successor of a seen pointer is taken at its own position; a head is anyway (the
    // heads index holds it), so only the others are kept, by priority.
    void add_seen_successor(Account* a, uint64_t seq) {
        Entry* n = releasable_successor(a, seq);
        if (n != nullptr && !n->head) seen_successors.push_back(prio_key(n));
    }

    void block_run_heads(size_t limit, std::vector<Entry*>& out) {
        const uint32_t ep = epoch;
        seen_successors.clear();
        for (Entry* s : seen_entries) add_seen_successor(s->acct, s->seq);
        for (auto& p : seen_absent) add_seen_successor(p.first, p.second);
        std::sort(seen_successors.begin(), seen_successors.end(), PrioLess());
        released.clear();
        auto& heads = core().heads;
        auto h = heads.begin();
        size_t x = 0;
        while (out.size() < limit) {
            while (heads.valid(h) && marked(heads.at(h).e, ep, MARK_SEEN | MARK_TAKEN))
                heads.next(h);
            while (x < seen_successors.size() && marked(seen_successors[x].e, ep, MARK_TAKEN))
                x++;
            while (!released.empty() && marked(released.front().e, ep, MARK_TAKEN)) {
                std::pop_heap(released.begin(), released.end(), later_released);
                released.pop_back();
            }
            Entry* best = heads.valid(h) ? heads.at(h).e : nullptr;
            Entry* best_key = best;
            int source = 0;
            if (x < seen_successors.size() &&
                (best == nullptr || earlier(seen_successors[x].e, best_key))) {
                best = best_key = seen_successors[x].e;
                source = 1;
            }
            if (!released.empty()) {
                const Released& r = released.front();
                if (best == nullptr || earlier(r.key, best_key) ||
                    (r.key == best_key && r.e->seq < best->seq)) {
                    best = r.e;
                    best_key = r.key;
                    source = 2;
                }
            }
            if (best == nullptr || !spend(best, out.size())) return;
            if (source == 0) heads.next(h);
            else if (source == 1) x++;
            else {
                std::pop_heap(released.begin(), released.end(), later_released);
                released.pop_back();
            }
            append(best, out);
            if (Entry* n = releasable_successor(best->acct, best->seq)) {
                released.push_back(Released{earlier(best_key, n) ? n : best_key, n});
                std::push_heap(released.begin(), released.end(), later_released);
            }
        }
    }

    // Whether `e`'s pointer is seen (asks `seen` once per entry per walk); -1 on a Python error.
    int seen_entry(Entry* e, SeenSet& seen) {
        if (marked(e, epoch, MARK_PROBED)) return marked(e, epoch, MARK_SEEN);
        PyObject* sender = core().sender_object(e->acct);
        int r = sender == nullptr ? -1 : seen.contains(sender, e->seq);
        if (r < 0) return r;
        set_mark(e, r ? (MARK_PROBED | MARK_SEEN) : MARK_PROBED);
        return r;
    }

    // Libra's walk, asking `seen` only about the entries it visits; -1 on a Python error (set).
    // An entry's own pointer is asked about only once it may be taken: one passed over for its
    // predecessor is asked about if that predecessor is taken later.
    int block_run_probe(size_t limit, std::vector<Entry*>& out, SeenSet& seen) {
        const uint32_t ep = epoch;
        auto& priority = core().priority;
        // The walk is bound by memory latency (entry, predecessor, account, its address object,
        // all scattered): three cursors ahead of it fetch them in stages, so each is in cache
        // by the time the walk reads it.
        auto ahead_entry = priority.begin(), ahead_account = ahead_entry,
             ahead_sender = ahead_entry;
        for (int i = 0; i < PREFETCH_ENTRY && priority.valid(ahead_entry); ++i) {
            __builtin_prefetch(priority.at(ahead_entry).e);
            priority.next(ahead_entry);
        }
        for (int i = 0; i < PREFETCH_ACCOUNT && priority.valid(ahead_account); ++i)
            priority.next(ahead_account);
        for (int i = 0; i < PREFETCH_SENDER && priority.valid(ahead_sender); ++i)
            priority.next(ahead_sender);
        for (auto it = priority.begin(); priority.valid(it); priority.next(it)) {
            if (priority.valid(ahead_entry)) {
                __builtin_prefetch(priority.at(ahead_entry).e);
                priority.next(ahead_entry);
            }
            if (priority.valid(ahead_account)) {
                const Entry* f = priority.at(ahead_account).e;
                __builtin_prefetch(f->acct);
                if (f->prev != nullptr) __builtin_prefetch(f->prev);
                priority.next(ahead_account);
            }
            if (priority.valid(ahead_sender)) {
                const PyObject* sender = priority.at(ahead_sender).e->acct->sender;
                if (sender != nullptr) __builtin_prefetch(sender);
                priority.next(ahead_sender);
            }
            Entry* e = priority.at(it).e;
            bool ok = e->head;  // its account's current entry (see Core::is_head)
            if (!ok && e->seq > 0) {
                Entry* p = e->prev;
                if (p != nullptr && marked(p, ep, MARK_TAKEN)) {
                    ok = true;
                } else {
                    int r;
                    if (p != nullptr) {
                        r = seen_entry(p, seen);
                    } else {
                        PyObject* sender = core().sender_object(e->acct);
                        r = sender == nullptr ? -1 : seen.contains(sender, e->seq - 1);
                    }
                    if (r < 0) return -1;
                    ok = r != 0;
                }
            }
            if (!ok) {
                set_mark(e, MARK_SKIPPED);
                e->acct->skip_epoch = ep;
                continue;
            }
            int r = seen_entry(e, seen);
            if (r < 0) return -1;
            if (r) continue;
            if (!spend(e, out.size())) return 0;
            append(e, out);
            if (out.size() >= limit) return 0;
            if (e->acct->skip_epoch != ep) continue;  // no successor waits for it
            uint64_t s = e->seq;
            while (s != UINT64_MAX) {
                ++s;
                Entry* n = core().lookup(e->acct, s);
                if (n == nullptr || n->prev == nullptr || !marked(n, ep, MARK_SKIPPED)) break;
                r = seen_entry(n, seen);
                if (r < 0) return -1;
                if (r) break;  // seen: its successors were judged at their own positions
                if (!spend(n, out.size())) return 0;
                append(n, out);
                if (out.size() >= limit) return 0;
            }
        }
        return 0;
    }
};

}  // namespace mpf
