# cython: boundscheck=False, wraparound=False, cdivision=True
"""Batched Ed25519 verification of wire-form transactions through libsodium, GIL released.

libsodium is PyNaCl's bundled copy: at import the address of ``crypto_sign_verify_detached`` is
taken through ctypes (route ``"detached"``) and the address of ``crypto_sign_open`` through
PyNaCl's cffi declarations (route ``"open"``). Each route is kept only if it passes RFC 8032
known-answer tests; importing fails with a clear ImportError when neither does. The routes are
fixed after import.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_Check, PyBytes_GET_SIZE
from libc.stdint cimport uintptr_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from .includes.wire cimport MF_PREFIX_LEN, MF_PUBLIC_KEY_LEN, MF_SIGNATURE_LEN, MF_WIRE_TAIL_LEN

from ._wire import SIGNING_PREFIX

__all__ = ["ROUTES", "DEFAULT_ROUTE", "Cursor", "verify_into", "verify", "verify_message"]

cdef mf_sign_verify_detached_fn _detached = NULL
cdef mf_sign_open_fn _open = NULL
cdef unsigned char _prefix[MF_PREFIX_LEN]

#: RFC 8032 §7.1, tests 1-3: (public key, message, signature), hex.
RFC8032_VECTORS = (
    ("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9"
     "b46bd25bf5f0595bbe24655141438e7a100b"),
    ("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f1"
     "1d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984d"
     "c6594a7c15e9716ed28dc027beceea1ec40a"),
)


cdef extern from *:
    """
    /* Claim the next index of a range shared by several threads (a relaxed fetch-and-add:
     * each index is handed out exactly once; the results are read after the threads join). */
    static inline Py_ssize_t mf_claim(Py_ssize_t *counter) {
        return __atomic_fetch_add(counter, (Py_ssize_t)1, __ATOMIC_RELAXED);
    }
    """
    Py_ssize_t mf_claim(Py_ssize_t *counter) noexcept nogil


cdef inline Py_ssize_t _next(Py_ssize_t i, Py_ssize_t *claimed) noexcept nogil:
    """The index to verify after ``i`` (``i = -1``: the first): in order, or the next unclaimed."""
    if claimed == NULL:
        return i + 1
    return mf_claim(claimed)


cdef Py_ssize_t _loop_detached(mf_sign_verify_detached_fn fn, const unsigned char **wires,
                               const Py_ssize_t *lens, Py_ssize_t n, unsigned char *out,
                               unsigned char *msg, Py_ssize_t *claimed) noexcept nogil:
    # msg holds the signing prefix at [0:32]; each raw part is copied right after it (the
    # signed message is prefix | raw, and the prefix is not in the wire form).
    cdef Py_ssize_t i, raw_len, valid = 0
    cdef const unsigned char *w
    i = _next(-1, claimed)
    while i < n:
        w = wires[i]
        raw_len = lens[i] - MF_WIRE_TAIL_LEN
        memcpy(msg + MF_PREFIX_LEN, w, <size_t>raw_len)
        out[i] = fn(w + raw_len + MF_PUBLIC_KEY_LEN, msg,
                    <unsigned long long>(MF_PREFIX_LEN + raw_len), w + raw_len) == 0
        valid += out[i]
        i = _next(i, claimed)
    return valid


cdef Py_ssize_t _loop_open(mf_sign_open_fn fn, const unsigned char **wires,
                           const Py_ssize_t *lens, Py_ssize_t n, unsigned char *out,
                           unsigned char *sm, unsigned char *m,
                           Py_ssize_t *claimed) noexcept nogil:
    # sm = signature | prefix | raw (prefix fixed at [64:96]); m receives the opened message.
    cdef Py_ssize_t i, raw_len, valid = 0
    cdef unsigned long long mlen = 0
    cdef const unsigned char *w
    i = _next(-1, claimed)
    while i < n:
        w = wires[i]
        raw_len = lens[i] - MF_WIRE_TAIL_LEN
        memcpy(sm, w + raw_len + MF_PUBLIC_KEY_LEN, MF_SIGNATURE_LEN)
        memcpy(sm + MF_SIGNATURE_LEN + MF_PREFIX_LEN, w, <size_t>raw_len)
        out[i] = fn(m, &mlen, sm,
                    <unsigned long long>(MF_SIGNATURE_LEN + MF_PREFIX_LEN + raw_len),
                    w + raw_len) == 0
        valid += out[i]
        i = _next(i, claimed)
    return valid


cdef int _route_code(route) except -1:
    if route is None:
        route = DEFAULT_ROUTE
    if route == "detached" and _detached != NULL:
        return 0
    if route == "open" and _open != NULL:
        return 1
    raise ValueError(f"unknown or unavailable verification route {route!r}; available: {ROUTES}")


cdef class Cursor:
    """Shares one range of ``verify_into`` between threads: pass the same cursor (and the same
    ``wires``, ``out``, ``start`` and ``stop``) to each; every thread then verifies the next
    transaction nobody has claimed yet, until none is left. A cursor serves one range once."""

    cdef Py_ssize_t _claimed

    def __cinit__(self):
        self._claimed = 0

    @property
    def claimed(self):
        """Transactions handed out so far (it may overshoot the range by one per thread)."""
        return self._claimed


def verify_into(wires, unsigned char[::1] out not None, Py_ssize_t start=0, stop=None, *,
                route=None, Cursor cursor=None):
    """Verify ``wires[start:stop]`` (wire-form transactions, bytes) with the GIL released.

    Writes 1 (valid) or 0 into ``out[start:stop]`` and returns how many are valid. Threads may
    verify disjoint ranges of the same ``wires`` and ``out`` at once. With a ``cursor`` the
    range is shared instead: threads given the same range and cursor split it dynamically (each
    takes the next unclaimed transaction), and each returns how many of those it verified are
    valid. A thread that starts late, or whose core is busy, then simply verifies fewer.
    """
    cdef int code = _route_code(route)
    cdef Py_ssize_t total = len(wires)
    cdef Py_ssize_t end = total if stop is None else stop
    if not 0 <= start <= end <= total:
        raise ValueError(f"range [{start}, {end}) is outside the {total} wires")
    if out.shape[0] < end:
        raise ValueError(f"out holds {out.shape[0]} results, needs {end}")
    cdef Py_ssize_t n = end - start
    if n == 0:
        return 0
    # A private list of references keeps every bytes object alive while the GIL is released
    # (slicing a list already copies it; anything else is copied into a list once).
    cdef list refs = wires[start:end] if type(wires) is list else list(wires[start:end])
    if len(refs) != n:
        raise ValueError(f"wires[{start}:{end}] holds {len(refs)} items, not {n}")
    cdef const unsigned char **ptrs = <const unsigned char **>malloc(n * sizeof(void *))
    cdef Py_ssize_t *lens = <Py_ssize_t *>malloc(n * sizeof(Py_ssize_t))
    cdef Py_ssize_t *claimed = <Py_ssize_t *>NULL if cursor is None else &cursor._claimed
    cdef unsigned char *buf = NULL
    cdef unsigned char *res = &out[start]
    cdef Py_ssize_t i, length, max_raw = 0, valid = 0
    cdef object w
    try:
        if ptrs == NULL or lens == NULL:
            raise MemoryError()
        for i in range(n):
            w = refs[i]
            if not PyBytes_Check(w):
                raise TypeError(f"wire {start + i} is {type(w).__name__}, not bytes")
            length = PyBytes_GET_SIZE(w)
            if length < MF_WIRE_TAIL_LEN:
                raise ValueError(f"wire {start + i} is {length} bytes, shorter than public key "
                                 f"and signature ({MF_WIRE_TAIL_LEN})")
            ptrs[i] = <const unsigned char *>PyBytes_AS_STRING(w)
            lens[i] = length
            if length - MF_WIRE_TAIL_LEN > max_raw:
                max_raw = length - MF_WIRE_TAIL_LEN
        if code == 0:
            buf = <unsigned char *>malloc(MF_PREFIX_LEN + max_raw)
            if buf == NULL:
                raise MemoryError()
            memcpy(buf, _prefix, MF_PREFIX_LEN)
            with nogil:
                valid = _loop_detached(_detached, ptrs, lens, n, res, buf, claimed)
        else:
            length = MF_SIGNATURE_LEN + MF_PREFIX_LEN + max_raw
            buf = <unsigned char *>malloc(2 * length)
            if buf == NULL:
                raise MemoryError()
            memcpy(buf + MF_SIGNATURE_LEN, _prefix, MF_PREFIX_LEN)
            with nogil:
                valid = _loop_open(_open, ptrs, lens, n, res, buf, buf + length, claimed)
    finally:
        free(buf)
        free(lens)
        free(<void *>ptrs)
    return valid


def verify(wires, *, route=None):
    """Verify every wire-form transaction in ``wires``; a bytearray of 1 (valid) / 0."""
    out = bytearray(len(wires))
    verify_into(wires, out, route=route)
    return out


def verify_message(const unsigned char[::1] message, const unsigned char[::1] signature,
                   const unsigned char[::1] public_key, *, route=None):
    """Plain Ed25519 check of ``signature`` over ``message`` (no prefix): True when valid."""
    cdef int code = _route_code(route)
    if signature.shape[0] != MF_SIGNATURE_LEN or public_key.shape[0] != MF_PUBLIC_KEY_LEN:
        raise ValueError("signature must be 64 bytes and public_key 32 bytes")
    cdef Py_ssize_t mlen = message.shape[0]
    cdef const unsigned char *mp = &message[0] if mlen else <const unsigned char *>b""
    cdef unsigned char *buf
    cdef unsigned long long out_len = 0
    cdef int rc
    if code == 0:
        with nogil:
            rc = _detached(&signature[0], mp, <unsigned long long>mlen, &public_key[0])
        return rc == 0
    buf = <unsigned char *>malloc(2 * (MF_SIGNATURE_LEN + mlen))
    if buf == NULL:
        raise MemoryError()
    try:
        memcpy(buf, &signature[0], MF_SIGNATURE_LEN)
        memcpy(buf + MF_SIGNATURE_LEN, mp, <size_t>mlen)
        with nogil:
            rc = _open(buf + MF_SIGNATURE_LEN + mlen, &out_len, buf,
                       <unsigned long long>(MF_SIGNATURE_LEN + mlen), &public_key[0])
    finally:
        free(buf)
    return rc == 0


def _passes_known_answers(route):
    """True when ``route`` accepts RFC 8032 tests 1-3 and rejects each with one bit flipped."""
    for pk_hex, msg_hex, sig_hex in RFC8032_VECTORS:
        pk, msg, sig = bytes.fromhex(pk_hex), bytes.fromhex(msg_hex), bytes.fromhex(sig_hex)
        if not verify_message(msg, sig, pk, route=route):
            return False
        bad = bytearray(sig)
        bad[0] ^= 1
        if verify_message(msg, bytes(bad), pk, route=route):
            return False
    return True


def _resolve():
    """Find both routes in PyNaCl's libsodium, keep those passing the known-answer tests."""
    global _detached, _open
    errors = []
    try:
        import nacl.bindings  # noqa: F401  (runs sodium_init)
        import nacl._sodium as sodium
    except ImportError as exc:
        raise ImportError(f"mempool_fast._verify needs PyNaCl's bundled libsodium: {exc}") from exc
    cdef bytes prefix = SIGNING_PREFIX
    if len(prefix) != MF_PREFIX_LEN:
        raise ImportError(f"SIGNING_PREFIX must be {MF_PREFIX_LEN} bytes, got {len(prefix)}")
    memcpy(_prefix, <const unsigned char *>prefix, MF_PREFIX_LEN)
    handles = []
    try:
        import ctypes
        lib = ctypes.CDLL(sodium.__file__)
        address = ctypes.cast(lib.crypto_sign_verify_detached, ctypes.c_void_p).value
        if not address:
            raise OSError("null address")
        handles.append(lib)
        _detached = <mf_sign_verify_detached_fn><uintptr_t>address
    except (OSError, AttributeError) as exc:
        errors.append(f"crypto_sign_verify_detached through ctypes: {exc}")
    try:
        address = int(sodium.ffi.cast("uintptr_t", sodium.ffi.addressof(sodium.lib,
                                                                        "crypto_sign_open")))
        if not address:
            raise AttributeError("null address")
        _open = <mf_sign_open_fn><uintptr_t>address
    except (AttributeError, TypeError) as exc:
        errors.append(f"crypto_sign_open through PyNaCl's cffi: {exc}")
    routes = []
    for name in ("detached", "open"):
        if (name == "detached" and _detached == NULL) or (name == "open" and _open == NULL):
            continue
        if _passes_known_answers(name):
            routes.append(name)
        else:
            errors.append(f"route {name!r} failed the RFC 8032 known-answer tests")
            if name == "detached":
                _detached = NULL
            else:
                _open = NULL
    if not routes:
        raise ImportError("mempool_fast._verify: no working libsodium Ed25519 verify in PyNaCl's "
                          "bundled libsodium (" + "; ".join(errors) + ")")
    return tuple(routes), tuple(handles), tuple(errors)


ROUTES, _HANDLES, RESOLVE_ERRORS = _resolve()
#: The route used when none is named: the detached verify when it works (no extra copy).
DEFAULT_ROUTE = ROUTES[0]
