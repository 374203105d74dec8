# C declarations of the libsodium entry points used by _verify.pyx. The functions are not linked:
# their addresses are resolved at import from PyNaCl's bundled libsodium (see _verify.pyx).

cdef extern from "sodium_fn.h" nogil:
    ctypedef int (*mf_sign_verify_detached_fn)(const unsigned char *sig, const unsigned char *m,
                                               unsigned long long mlen,
                                               const unsigned char *pk) noexcept nogil
    ctypedef int (*mf_sign_open_fn)(unsigned char *m, unsigned long long *mlen_p,
                                    const unsigned char *sm, unsigned long long smlen,
                                    const unsigned char *pk) noexcept nogil
