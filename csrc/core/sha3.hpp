// SHA3-256 (FIPS 202) of one buffer: what the Cython SignedTransaction's `hash` computes over its
// wire form, in C with no Python call and no GIL needed (hashlib's path adds a few hundred ns of
// object and context set-up per call). Keccak-f[1600] on local lanes, its five-lane steps
// unrolled; one permutation per 136 input bytes (a 264-byte wire form: two, ~0.9 µs here).
// Compiled twice, with and without BMI1, the CPU picking at the first call. Checked against
// hashlib.sha3_256 at the block boundaries and on random transactions (tests/test_transaction.py).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace mpf {

namespace sha3_detail {

constexpr size_t RATE = 136;  // SHA3-256: 1600 - 2 * 256 bits

inline uint64_t rol(uint64_t x, unsigned s) { return (x << s) | (x >> ((64 - s) & 63)); }

inline uint64_t load_le(const unsigned char* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

inline void store_le(unsigned char* p, uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}

constexpr uint64_t RC[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808AULL, 0x8000000080008000ULL,
    0x000000000000808BULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008AULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000AULL,
    0x000000008000808BULL, 0x800000000000008BULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800AULL, 0x800000008000000AULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

// Lane (x, y) is a[x + 5y]. One round: theta, rho and pi into b, chi back into a, iota.
#define MPF_K_THETA_RHO_PI(X, Y, R) b[(Y) + 5 * ((2 * (X) + 3 * (Y)) % 5)] = \
    rol(a[(X) + 5 * (Y)] ^ d[X], R)
#define MPF_K_CHI(Y)                                                      \
    a[0 + 5 * (Y)] = b[0 + 5 * (Y)] ^ (~b[1 + 5 * (Y)] & b[2 + 5 * (Y)]); \
    a[1 + 5 * (Y)] = b[1 + 5 * (Y)] ^ (~b[2 + 5 * (Y)] & b[3 + 5 * (Y)]); \
    a[2 + 5 * (Y)] = b[2 + 5 * (Y)] ^ (~b[3 + 5 * (Y)] & b[4 + 5 * (Y)]); \
    a[3 + 5 * (Y)] = b[3 + 5 * (Y)] ^ (~b[4 + 5 * (Y)] & b[0 + 5 * (Y)]); \
    a[4 + 5 * (Y)] = b[4 + 5 * (Y)] ^ (~b[0 + 5 * (Y)] & b[1 + 5 * (Y)])

__attribute__((always_inline)) inline void keccak_body(uint64_t state[25]) {
    uint64_t a[25], b[25], c[5], d[5];
#pragma GCC unroll 25
    for (int i = 0; i < 25; ++i) a[i] = state[i];
#pragma GCC unroll 2
    for (int round = 0; round < 24; ++round) {
#pragma GCC unroll 5
        for (int x = 0; x < 5; ++x) c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
#pragma GCC unroll 5
        for (int x = 0; x < 5; ++x) d[x] = c[(x + 4) % 5] ^ rol(c[(x + 1) % 5], 1);
        MPF_K_THETA_RHO_PI(0, 0, 0);
        MPF_K_THETA_RHO_PI(1, 0, 1);
        MPF_K_THETA_RHO_PI(2, 0, 62);
        MPF_K_THETA_RHO_PI(3, 0, 28);
        MPF_K_THETA_RHO_PI(4, 0, 27);
        MPF_K_THETA_RHO_PI(0, 1, 36);
        MPF_K_THETA_RHO_PI(1, 1, 44);
        MPF_K_THETA_RHO_PI(2, 1, 6);
        MPF_K_THETA_RHO_PI(3, 1, 55);
        MPF_K_THETA_RHO_PI(4, 1, 20);
        MPF_K_THETA_RHO_PI(0, 2, 3);
        MPF_K_THETA_RHO_PI(1, 2, 10);
        MPF_K_THETA_RHO_PI(2, 2, 43);
        MPF_K_THETA_RHO_PI(3, 2, 25);
        MPF_K_THETA_RHO_PI(4, 2, 39);
        MPF_K_THETA_RHO_PI(0, 3, 41);
        MPF_K_THETA_RHO_PI(1, 3, 45);
        MPF_K_THETA_RHO_PI(2, 3, 15);
        MPF_K_THETA_RHO_PI(3, 3, 21);
        MPF_K_THETA_RHO_PI(4, 3, 8);
        MPF_K_THETA_RHO_PI(0, 4, 18);
        MPF_K_THETA_RHO_PI(1, 4, 2);
        MPF_K_THETA_RHO_PI(2, 4, 61);
        MPF_K_THETA_RHO_PI(3, 4, 56);
        MPF_K_THETA_RHO_PI(4, 4, 14);
        MPF_K_CHI(0);
        MPF_K_CHI(1);
        MPF_K_CHI(2);
        MPF_K_CHI(3);
        MPF_K_CHI(4);
        a[0] ^= RC[round];
    }
#pragma GCC unroll 25
    for (int i = 0; i < 25; ++i) state[i] = a[i];
}

#undef MPF_K_THETA_RHO_PI
#undef MPF_K_CHI

__attribute__((always_inline)) inline void sha3_256_body(const unsigned char* data, size_t n,
                                                         unsigned char out[32]) {
    uint64_t a[25] = {0};
    while (n >= RATE) {
        for (size_t i = 0; i < RATE / 8; ++i) a[i] ^= load_le(data + 8 * i);
        keccak_body(a);
        data += RATE;
        n -= RATE;
    }
    unsigned char last[RATE] = {0};
    std::memcpy(last, data, n);
    last[n] ^= 0x06;          // SHA3 domain bits and the first padding bit
    last[RATE - 1] ^= 0x80;   // the last padding bit
    for (size_t i = 0; i < RATE / 8; ++i) a[i] ^= load_le(last + 8 * i);
    keccak_body(a);
    for (int i = 0; i < 4; ++i) store_le(out + 8 * i, a[i]);
}

// The same code compiled twice: chi's `~x & y` is one ANDN with BMI1 (~20% faster); the
// first call picks the version this CPU runs.
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
__attribute__((target("bmi"), noinline)) inline void sha3_256_bmi(
        const unsigned char* data, size_t n, unsigned char out[32]) {
    sha3_256_body(data, n, out);
}
__attribute__((noinline)) inline void sha3_256_base(const unsigned char* data, size_t n,
                                                    unsigned char out[32]) {
    sha3_256_body(data, n, out);
}
#endif

}  // namespace sha3_detail

// out[0..32) = SHA3-256(data[0..n)). Needs no GIL.
inline void sha3_256(const unsigned char* data, size_t n, unsigned char out[32]) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    static void (*const fn)(const unsigned char*, size_t, unsigned char*) =
        __builtin_cpu_supports("bmi") ? sha3_detail::sha3_256_bmi : sha3_detail::sha3_256_base;
    fn(data, n, out);
#else
    sha3_detail::sha3_256_body(data, n, out);
#endif
}

}  // namespace mpf
