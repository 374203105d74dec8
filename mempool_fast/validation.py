"""Transaction validation: signatures, sender, size and gas bounds, and a verified-txn cache.

``Ed25519Validator(config).validate(txns)`` returns, per transaction, ``None`` when it is valid or
a ``MempoolAddTransactionStatus`` saying why not. The checks run cheapest first and the first
failure is reported:

1. ``PAYLOAD_TOO_LARGE``: payload longer than ``config.max_payload_bytes`` (read off the wire
   length: payload = wire - 164 bytes);
2. ``MAX_GAS_TOO_HIGH``: ``max_gas_amount`` above ``config.max_gas_amount``;
3. the verified-transaction cache (only when it is on): a hit is valid, nothing more runs;
4. ``INVALID_SENDER``: ``sender != account_address(public_key)`` (one SHA3-256, memoized for
   recently seen public keys);
5. ``INVALID_SIGNATURE``: Ed25519 over ``signing_message()`` (the expensive check, batched).

Copies of one transaction (identical wire bytes) within a batch share one check. With the cache
off no digest is computed; with it on, the key is BLAKE2b-256 of the wire bytes, so a hit
implies byte-identical wire bytes.

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
from typing import Iterable, Self, Sequence

import nacl.exceptions
import nacl.signing

from . import _impl
from ._wire import (  # account_address: still importable from here, as before
    MIN_WIRE_LEN, PUBLIC_KEY_LEN, SIGNATURE_LEN, SIGNING_PREFIX, TAIL_LEN,
    account_address,  # noqa: F401
)
from .config import MempoolConfig
from .transaction import SignedTransaction
from .types import MempoolAddTransactionStatus, MempoolAddTransactionStatusCode as Code

try:  # BatchValidator can be built explicitly even when pure Python is selected
    from . import _verify
except ImportError as _exc:  # the build or libsodium is missing: only the pure path remains
    # the module's type is its stub (_verify.pyi); None stands for "not built" and every use
    # checks for it, which mypy cannot express for a module without losing the stub's types
    _verify = None  # type: ignore[assignment]
    _VERIFY_IMPORT_ERROR: ImportError | None = _exc
else:
    _VERIFY_IMPORT_ERROR = None

__all__ = [
    "BatchValidator", "Ed25519Validator", "IMPLEMENTATION", "PurePythonValidator",
    "ValidatorStats", "VerifiedCache", "invalid_sender", "invalid_signature",
    "max_gas_too_high", "payload_too_large", "transaction_digest",
]

_DIGEST_SIZE = 32  # bytes of BLAKE2b: collision-resistant, so a hit may skip verification
_blake2b = hashlib.blake2b
_sha3_256 = hashlib.sha3_256
#: The public key inside the wire form (raw | public key | signature).
_PUBLIC_KEY_START, _PUBLIC_KEY_END = -TAIL_LEN, -SIGNATURE_LEN
#: Public keys whose account address one validator remembers (emptied when full).
ADDRESS_MEMO_SIZE = 4096
_NOTHING = bytearray()


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
    return _blake2b(wire, digest_size=_DIGEST_SIZE).digest()


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
        #: Recent public key -> account address (SHA3-256 of the key, what `account_address`
        #: returns): an account sends many transactions, so most sender checks are one dict
        #: lookup (dict operations are atomic under the GIL; concurrent batches may share it).
        self._addresses: dict[bytes, bytes] = {}
        self._address_memo_size = ADDRESS_MEMO_SIZE

    def validate(self, txns: Sequence[SignedTransaction]
                 ) -> list[MempoolAddTransactionStatus | None]:
        """One result per transaction, in order: None when valid, else why it is not."""
        txns = list(txns)
        n = len(txns)
        results: list[MempoolAddTransactionStatus | None] = [None] * n
        use_cache = self.cache.capacity > 0
        cached = self.cache._entries  # probed without the lock: a lookup is atomic
        hits: list[bytes] = []
        rejected = 0
        # Transactions that still need a signature check, in order: their wire bytes, the index
        # of the first transaction with that wire (and its cache digest when the cache is on).
        # Later duplicates within the batch share the first one's check: (slot, index) pairs.
        wires: list[bytes] = []
        indexes: list[int] = []
        digests: list[bytes] = []
        duplicates: list[tuple[int, int]] = []
        first_slot: dict[bytes, int] = {}
        max_payload, max_gas = self._max_payload, self._max_gas
        max_wire = max_payload + MIN_WIRE_LEN  # payload length = wire length - MIN_WIRE_LEN
        addresses, memo_size = self._addresses, self._address_memo_size
        txn_type = SignedTransaction
        for index, txn in enumerate(txns):
            if type(txn) is not txn_type and not isinstance(txn, txn_type):
                # Nothing is changed before this point: stats, cache and LRU order are
                # updated only once the whole batch has been checked.
                raise TypeError(f"item {index} is {type(txn).__name__}, not SignedTransaction")
            wire = txn.to_bytes()
            if len(wire) > max_wire:
                results[index] = payload_too_large(len(wire) - MIN_WIRE_LEN, max_payload)
                rejected += 1
                continue
            if txn.max_gas_amount > max_gas:
                results[index] = max_gas_too_high(txn.max_gas_amount, max_gas)
                rejected += 1
                continue
            if use_cache:
                key = transaction_digest(wire)
                if key in cached:
                    hits.append(key)
                    continue
            else:
                key = wire
            slot = first_slot.setdefault(key, len(wires))
            if slot != len(wires):
                duplicates.append((slot, index))
                continue
            public_key = wire[_PUBLIC_KEY_START:_PUBLIC_KEY_END]
            derived = addresses.get(public_key)
            if derived is None:
                derived = _sha3_256(public_key).digest()
                if len(addresses) >= memo_size:
                    addresses.clear()
                addresses[public_key] = derived
            if derived != txn.sender:
                del first_slot[key]  # a later copy is checked (and rejected) on its own
                results[index] = invalid_sender(txn.sender, derived)
                rejected += 1
                continue
            wires.append(wire)
            indexes.append(index)
            if use_cache:
                digests.append(key)
        valid = self._verify_wires(wires) if wires else _NOTHING
        if type(valid) is not bytearray:  # a subclass may return any sequence of 1 / 0
            valid = bytearray(map(bool, valid))
        bad = valid.find(0)  # the common case, every signature valid, is one C scan
        all_valid = bad < 0
        if not all_valid:
            statuses: dict[int, MempoolAddTransactionStatus] = {}
            while bad >= 0:
                statuses[bad] = results[indexes[bad]] = invalid_signature()
                rejected += 1
                bad = valid.find(0, bad + 1)
            for slot, index in duplicates:
                status = statuses.get(slot)
                if status is not None:
                    results[index] = status
                    rejected += 1
        hit_count = len(hits)
        if use_cache and (hits or digests):
            # Hits become most recently used, then the newly verified are remembered.
            hits.extend(digests if all_valid else
                        [digest for digest, ok in zip(digests, valid) if ok])
            self.cache.add_many(hits)
        with self._stats_lock:
            stats = self.stats
            stats.transactions += n
            stats.cache_hits += hit_count
            stats.signatures_verified += len(wires)
            stats.rejected += rejected
        return results

    def _verify_wires(self, wires: list[bytes]) -> bytearray:
        """1 (valid) or 0 per wire-form transaction (any sequence of 1 / 0 is accepted)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release threads (if any); the validator must not be used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
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

    def _verify_wires(self, wires: list[bytes]) -> bytearray:
        return bytearray([_pynacl_verify(wire) for wire in wires])


class BatchValidator(_BaseValidator):
    """Verifies a whole batch in C with the GIL released, split across a small thread pool.

    A batch of ``n`` signatures is split into ``min(threads, n // min_chunk)`` chunks, where
    ``min_chunk`` is ``config.verify_min_batch_per_thread``: so a node's broadcast batch of 100
    already runs on two cores. The calling thread verifies alongside the threads of a
    persistent pool (``threads - 1`` of them, started on first use); they share the batch
    through a ``_verify.Cursor``, each taking the next unverified transaction, so the work
    balances itself. ``route`` picks the libsodium entry point (see ``_verify``).
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
        self._verify_into = _verify.verify_into
        self._cursor_type = getattr(_verify, "Cursor", None)
        self._min_chunk = max(1, self.config.verify_min_batch_per_thread)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._closed = False

    def _executor(self) -> ThreadPoolExecutor:
        pool = self._pool
        if pool is not None:
            return pool
        with self._pool_lock:
            if self._closed:
                raise RuntimeError("validator is closed")
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.threads - 1,
                                                thread_name_prefix="mempool-verify")
            return self._pool

    def _verify_wires(self, wires: list[bytes]) -> bytearray:
        n = len(wires)
        out = bytearray(n)
        verify_into, route = self._verify_into, self.route
        chunks = min(self.threads, n // self._min_chunk)
        if chunks <= 1:
            verify_into(wires, out, 0, n, route=route)
            return out
        submit = self._executor().submit
        cursor_type = self._cursor_type
        if cursor_type is not None:
            # The threads share the whole batch through a cursor, each verifying the next
            # unclaimed transaction: a pool thread that wakes late, or whose core is busy with
            # other work, just verifies fewer, and all finish within about one signature.
            cursor = cursor_type()
            futures = [submit(verify_into, wires, out, 0, n, route=route, cursor=cursor)
                       for _ in range(chunks - 1)]
            verify_into(wires, out, 0, n, route=route, cursor=cursor)
        else:  # a verify_into without cursors: fixed chunks, the first (largest) one here
            first = -(-n // chunks)
            bounds = [first + (n - first) * i // (chunks - 1) for i in range(chunks)]
            futures = [submit(verify_into, wires, out, bounds[i], bounds[i + 1], route=route)
                       for i in range(chunks - 1)]
            verify_into(wires, out, 0, first, route=route)
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
