"""Transaction validation: signatures, sender, size and gas bounds, and a verified-txn cache.

``Ed25519Validator(config).validate(txns)`` returns, per transaction, ``None`` when it is valid or
a ``MempoolAddTransactionStatus`` saying why not. The checks run cheapest first and the first
failure is reported:

1. ``PAYLOAD_TOO_LARGE``: payload longer than ``config.max_payload_bytes``;
2. ``MAX_GAS_TOO_HIGH``: ``max_gas_amount`` above ``config.max_gas_amount``;
3. the verified-transaction cache: a hit is valid, nothing more runs;
4. ``INVALID_SENDER``: ``sender != account_address(public_key)`` (one SHA3-256);
5. ``INVALID_SIGNATURE``: Ed25519 over ``signing_message()`` (the expensive check, batched).

Two implementations share everything but step 5: ``BatchValidator`` verifies the whole batch in
C through libsodium with the GIL released (``_verify``), splitting large batches over a thread
pool; ``PurePythonValidator`` calls PyNaCl once per transaction. ``Ed25519Validator`` is the
batch one unless ``MEMPOOL_FAST_PUREPYTHON=1`` or the extension is missing.
"""

from __future__ import annotations

import collections
import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable, Sequence

import nacl.exceptions
import nacl.signing

from . import _impl
from ._wire import PUBLIC_KEY_LEN, SIGNATURE_LEN, SIGNING_PREFIX, account_address
from .config import MempoolConfig
from .transaction import SignedTransaction
from .types import MempoolAddTransactionStatus, MempoolAddTransactionStatusCode as Code

try:  # BatchValidator can be built explicitly even when pure Python is selected
    from . import _verify
except ImportError as _exc:  # the build or libsodium is missing: only the pure path remains
    _verify = None
    _VERIFY_IMPORT_ERROR: ImportError | None = _exc
else:
    _VERIFY_IMPORT_ERROR = None

__all__ = [
    "BatchValidator", "Ed25519Validator", "IMPLEMENTATION", "PurePythonValidator",
    "ValidatorStats", "VerifiedCache", "invalid_sender", "invalid_signature",
    "max_gas_too_high", "payload_too_large", "transaction_digest",
]

_DIGEST_SIZE = 32  # bytes of BLAKE2b: collision-resistant, so a hit may skip verification


# -- statuses -------------------------------------------------------------------------------------

def payload_too_large(size: int, limit: int) -> MempoolAddTransactionStatus:
    return MempoolAddTransactionStatus(
        Code.PAYLOAD_TOO_LARGE, f"payload of {size} bytes exceeds the maximum of {limit} bytes")


def max_gas_too_high(amount: int, limit: int) -> MempoolAddTransactionStatus:
    return MempoolAddTransactionStatus(
        Code.MAX_GAS_TOO_HIGH, f"max_gas_amount {amount} exceeds the maximum of {limit}")


def invalid_sender(sender: bytes, derived: bytes) -> MempoolAddTransactionStatus:
    return MempoolAddTransactionStatus(
        Code.INVALID_SENDER,
        f"sender {sender.hex()} is not the address of the public key ({derived.hex()})")


def invalid_signature() -> MempoolAddTransactionStatus:
    return MempoolAddTransactionStatus(
        Code.INVALID_SIGNATURE,
        "Ed25519 signature does not verify over the transaction's signing message")


def transaction_digest(wire: bytes) -> bytes:
    """Cache key of a transaction: BLAKE2b-256 of its wire bytes (collision resistant)."""
    return hashlib.blake2b(wire, digest_size=_DIGEST_SIZE).digest()


# -- the verified-transaction cache --------------------------------------------------------------

class VerifiedCache:
    """A thread-safe, bounded LRU set of digests of transactions that passed every check."""

    def __init__(self, capacity: int) -> None:
        if not isinstance(capacity, int) or capacity < 0:
            raise ValueError(f"cache capacity must be a non-negative int, got {capacity!r}")
        self.capacity = capacity
        self._entries: collections.OrderedDict[bytes, None] = collections.OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, digest: bytes) -> bool:
        return digest in self._entries

    def hit(self, digest: bytes) -> bool:
        """True (and mark recently used) when ``digest`` is cached."""
        with self._lock:
            if digest in self._entries:
                self._entries.move_to_end(digest)
                return True
            return False

    def add_many(self, digests: Iterable[bytes]) -> None:
        """Remember ``digests``, evicting the least recently used beyond capacity."""
        if self.capacity == 0:
            return
        with self._lock:
            entries = self._entries
            for digest in digests:
                entries[digest] = None
                entries.move_to_end(digest)
            while len(entries) > self.capacity:
                entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


@dataclass
class ValidatorStats:
    """Counters of one validator (read them; the validator updates them under its lock)."""

    transactions: int = 0  #: transactions passed to validate()
    cache_hits: int = 0  #: served by the verified-transaction cache
    signatures_verified: int = 0  #: signatures actually checked by libsodium / PyNaCl
    rejected: int = 0  #: transactions that got a status


# -- the validators ---------------------------------------------------------------------------

class _BaseValidator:
    """Shared checks, cache and bookkeeping; subclasses verify a list of wire-form bytes."""

    #: "cython" or "python": how signatures are verified.
    implementation = ""

    def __init__(self, config: MempoolConfig | None = None, *, threads: int | None = None,
                 cache_size: int | None = None) -> None:
        self.config = config if config is not None else MempoolConfig()
        threads = self.config.verify_threads if threads is None else threads
        if not isinstance(threads, int) or threads < 0:
            raise ValueError(
                f"threads must be a non-negative int (0: one per core), got {threads!r}")
        self.threads = threads or os.cpu_count() or 1
        cache_size = self.config.verified_cache_size if cache_size is None else cache_size
        self.cache = VerifiedCache(cache_size)
        self.stats = ValidatorStats()
        self._stats_lock = threading.Lock()
        self._max_payload = self.config.max_payload_bytes
        self._max_gas = self.config.max_gas_amount

    def validate(self, txns: Sequence[SignedTransaction]
                 ) -> list[MempoolAddTransactionStatus | None]:
        """One result per transaction, in order: None when valid, else why it is not."""
        txns = list(txns)
        for index, txn in enumerate(txns):
            if not isinstance(txn, SignedTransaction):
                raise TypeError(f"item {index} is {type(txn).__name__}, not SignedTransaction")
        results: list[MempoolAddTransactionStatus | None] = [None] * len(txns)
        use_cache = self.cache.capacity > 0
        hits = rejected = 0
        # Transactions that still need a signature check; duplicates within the batch share one.
        wires: list[bytes] = []
        digests: list[bytes | None] = []
        slots: list[list[int]] = []
        first_slot: dict[bytes, int] = {}
        max_payload, max_gas = self._max_payload, self._max_gas
        for index, txn in enumerate(txns):
            if len(txn.payload) > max_payload:
                results[index] = payload_too_large(len(txn.payload), max_payload)
                rejected += 1
                continue
            if txn.max_gas_amount > max_gas:
                results[index] = max_gas_too_high(txn.max_gas_amount, max_gas)
                rejected += 1
                continue
            wire = txn.to_bytes()
            digest = None
            if use_cache:
                digest = transaction_digest(wire)
                if self.cache.hit(digest):
                    hits += 1
                    continue
            key = digest if digest is not None else wire
            slot = first_slot.get(key)
            if slot is not None:
                slots[slot].append(index)
                continue
            derived = account_address(txn.public_key)
            if derived != txn.sender:
                results[index] = invalid_sender(txn.sender, derived)
                rejected += 1
                continue
            first_slot[key] = len(wires)
            wires.append(wire)
            digests.append(digest)
            slots.append([index])
        valid = self._verify_wires(wires) if wires else b""
        verified: list[bytes] = []
        for ok, digest, indexes in zip(valid, digests, slots):
            if ok:
                if digest is not None:
                    verified.append(digest)
            else:
                status = invalid_signature()
                for index in indexes:
                    results[index] = status
                rejected += len(indexes)
        if verified:
            self.cache.add_many(verified)
        with self._stats_lock:
            stats = self.stats
            stats.transactions += len(txns)
            stats.cache_hits += hits
            stats.signatures_verified += len(wires)
            stats.rejected += rejected
        return results

    def _verify_wires(self, wires: list[bytes]) -> Sequence[int]:
        raise NotImplementedError

    def close(self) -> None:
        """Release threads (if any); the validator must not be used afterwards."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _pynacl_verify(wire: bytes) -> bool:
    """PyNaCl's verdict on one wire-form transaction (raw | public key | signature)."""
    raw_len = len(wire) - PUBLIC_KEY_LEN - SIGNATURE_LEN
    public_key = wire[raw_len:raw_len + PUBLIC_KEY_LEN]
    signature = wire[raw_len + PUBLIC_KEY_LEN:]
    try:
        nacl.signing.VerifyKey(public_key).verify(SIGNING_PREFIX + wire[:raw_len], signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError,
            nacl.exceptions.TypeError):
        return False
    return True


class PurePythonValidator(_BaseValidator):
    """The reference validator: one PyNaCl ``VerifyKey.verify`` per transaction."""

    implementation = "python"

    def _verify_wires(self, wires: list[bytes]) -> Sequence[int]:
        return [_pynacl_verify(wire) for wire in wires]


class BatchValidator(_BaseValidator):
    """Verifies a whole batch in C with the GIL released, split across a small thread pool.

    A batch is split into at most ``threads`` chunks of at least
    ``config.verify_min_batch_per_thread`` transactions; the calling thread verifies one chunk
    and pool threads the others. ``route`` picks the libsodium entry point (see ``_verify``).
    """

    implementation = "cython"

    def __init__(self, config: MempoolConfig | None = None, *, threads: int | None = None,
                 cache_size: int | None = None, route: str | None = None) -> None:
        if _verify is None:
            raise ImportError(f"mempool_fast._verify is unavailable: {_VERIFY_IMPORT_ERROR}")
        super().__init__(config, threads=threads, cache_size=cache_size)
        if route is not None and route not in _verify.ROUTES:
            raise ValueError(f"unknown verification route {route!r}; available: "
                             f"{_verify.ROUTES}")
        self.route = route or _verify.DEFAULT_ROUTE
        self._min_chunk = max(1, self.config.verify_min_batch_per_thread)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._closed = False

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._closed:
                raise RuntimeError("validator is closed")
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.threads - 1,
                                                thread_name_prefix="mempool-verify")
            return self._pool

    def _verify_wires(self, wires: list[bytes]) -> Sequence[int]:
        n = len(wires)
        out = bytearray(n)
        chunks = min(self.threads, n // self._min_chunk)
        if chunks <= 1:
            _verify.verify_into(wires, out, 0, n, route=self.route)
            return out
        bounds = [n * i // chunks for i in range(chunks + 1)]
        pool = self._executor()
        futures = [pool.submit(_verify.verify_into, wires, out, bounds[i], bounds[i + 1],
                               route=self.route) for i in range(1, chunks)]
        _verify.verify_into(wires, out, bounds[0], bounds[1], route=self.route)
        for future in futures:
            future.result()
        return out

    def close(self) -> None:
        """Stop the pool threads (waits for running chunks); idempotent."""
        with self._pool_lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)


Ed25519Validator: type[_BaseValidator] = (
    BatchValidator if _impl.extension("_verify", "batch verifier") is not None
    else PurePythonValidator)

#: "cython" (batch, GIL released) or "python" (PyNaCl per call): what Ed25519Validator is.
IMPLEMENTATION = Ed25519Validator.implementation
