/* Function-pointer types of the libsodium entry points mempool_fast resolves at import time
 * from PyNaCl's bundled libsodium (no system header or library is needed to build). */
#ifndef MEMPOOL_FAST_SODIUM_FN_H
#define MEMPOOL_FAST_SODIUM_FN_H

#ifdef __cplusplus
extern "C" {
#endif

/* int crypto_sign_verify_detached(const unsigned char *sig, const unsigned char *m,
 *                                 unsigned long long mlen, const unsigned char *pk); */
typedef int (*mf_sign_verify_detached_fn)(const unsigned char *sig, const unsigned char *m,
                                          unsigned long long mlen, const unsigned char *pk);

/* int crypto_sign_open(unsigned char *m, unsigned long long *mlen_p, const unsigned char *sm,
 *                      unsigned long long smlen, const unsigned char *pk); */
typedef int (*mf_sign_open_fn)(unsigned char *m, unsigned long long *mlen_p,
                               const unsigned char *sm, unsigned long long smlen,
                               const unsigned char *pk);

#ifdef __cplusplus
}
#endif

#endif
