// Per-account gas totals: the sum of the costs of an account's pending transactions (native:
// gas_amount * gas_unit_price; a foreign format: its max_cost(txn), below 2**128), as a 192-bit
// number (it never wraps), and the admission balance check.
#pragma once

#include "types.hpp"

namespace mpf {

struct Gas {
    static void gas_add(Account* a, u128 c) {
        u128 old = a->gas_lo;
        a->gas_lo += c;
        if (a->gas_lo < old) a->gas_hi++;
    }

    static void gas_sub(Account* a, u128 c) {
        if (a->gas_lo < c) a->gas_hi--;
        a->gas_lo -= c;
    }

    // 1: gas * price + the account's total exceeds `balance`; 0: it does not.
    static int balance_insufficient(const Account* a, uint64_t gas, uint64_t price,
                                    uint64_t balance) {
        return cost_exceeds(a, static_cast<u128>(gas) * price, balance);
    }

    // The same for a cost given as its two 64-bit words (a foreign format's max_cost).
    static int cost_insufficient(const Account* a, uint64_t cost_lo, uint64_t cost_hi,
                                 uint64_t balance) {
        return cost_exceeds(a, (static_cast<u128>(cost_hi) << 64) | cost_lo, balance);
    }

    static int cost_exceeds(const Account* a, u128 cost, uint64_t balance) {
        if (a == nullptr) return cost > balance;
        if (a->gas_hi) return 1;
        u128 req = cost + a->gas_lo;
        if (req < cost) return 1;
        return req > balance;
    }

    // Words (least significant first) of the cost (2) and the account total (3), for exact
    // comparison in Python against a balance outside 0..2**64-1 (a foreign format's cost is
    // already a Python int: its caller passes gas = price = 0 and reads the total).
    static void gas_words(const Account* a, uint64_t gas, uint64_t price, uint64_t* out) {
        u128 cost = static_cast<u128>(gas) * price;
        out[0] = static_cast<uint64_t>(cost);
        out[1] = static_cast<uint64_t>(cost >> 64);
        u128 lo = a ? a->gas_lo : 0;
        out[2] = static_cast<uint64_t>(lo);
        out[3] = static_cast<uint64_t>(lo >> 64);
        out[4] = a ? a->gas_hi : 0;
    }

    static std::string check_gas(const Account* a) {
        u128 lo = 0;
        uint64_t hi = 0;
        for (const Entry* e : a->txns) {
            u128 c = e->cost;
            u128 old = lo;
            lo += c;
            if (lo < old) hi++;
        }
        return lo == a->gas_lo && hi == a->gas_hi ? std::string() : "gas total mismatch";
    }
};

}  // namespace mpf
