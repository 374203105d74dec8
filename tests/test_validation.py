"""Ed25519Validator: batch (C, threaded) and pure paths agree, catch every corruption, cache."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time

import nacl.signing
import pytest

from mempool_fast import MempoolConfig, SignedTransaction, account_address, validation
from mempool_fast.transaction import SIGNING_PREFIX
from mempool_fast.types import MalformedTransaction, MempoolAddTransactionStatusCode as Code

_verify = validation._verify

# RFC 8032 §7.1 tests 1-3: (secret key, public key, message, signature), hex.
RFC8032 = [
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9"
     "b46bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f1"
     "1d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984d"
     "c6594a7c15e9716ed28dc027beceea1ec40a"),
]

ROUTES = list(_verify.ROUTES) if _verify is not None else []

# Each validator flavour: (name, factory(config) -> validator).
FLAVOURS = {"pure": lambda config, **kw: validation.PurePythonValidator(config, **kw)}
if _verify is not None:
    FLAVOURS["batch-1thread"] = lambda config, **kw: validation.BatchValidator(
        config, threads=1, **kw)
    FLAVOURS["batch-2threads"] = lambda config, **kw: validation.BatchValidator(
        config.replace(verify_min_batch_per_thread=4), threads=2, **kw)
    FLAVOURS["batch-3threads-open"] = lambda config, **kw: validation.BatchValidator(
        config.replace(verify_min_batch_per_thread=4), threads=3, route="open", **kw)


@pytest.fixture(params=sorted(FLAVOURS))
def make_validator(request):
    """Build a validator of each flavour: make_validator(config=None, **kwargs); closed after."""
    made = []

    def make(config=None, **kwargs):
        validator = FLAVOURS[request.param](config or MempoolConfig(), **kwargs)
        made.append(validator)
        return validator

    yield make
    for validator in made:
        validator.close()


def all_results(txns, config=None, **kwargs):
    """Results of every flavour on the same batch: {flavour: results}."""
    out = {}
    for name, factory in FLAVOURS.items():
        with factory(config or MempoolConfig(), **kwargs) as validator:
            out[name] = validator.validate(txns)
    return out


def flip_bit(data: bytes, bit: int) -> bytes:
    buf = bytearray(data)
    buf[bit // 8] ^= 1 << (bit % 8)
    return bytes(buf)


def corrupt_signature(txn: SignedTransaction, bit: int) -> SignedTransaction:
    """``txn`` with signature bit ``bit`` (0..511, from the end of the wire) flipped."""
    wire = txn.to_bytes()
    return SignedTransaction.from_bytes(flip_bit(wire, len(wire) * 8 - 1 - bit))


def resign(key: nacl.signing.SigningKey, txn: SignedTransaction, **changes) -> SignedTransaction:
    """``txn`` with fields changed and a fresh valid signature by ``key`` (sender kept)."""
    fields = dict(sender=txn.sender, sequence_number=txn.sequence_number, payload=txn.payload,
                  max_gas_amount=txn.max_gas_amount, gas_unit_price=txn.gas_unit_price,
                  expiration_time=txn.expiration_time, public_key=bytes(key.verify_key),
                  signature=bytes(64))
    fields.update(changes)
    unsigned = SignedTransaction(**fields)
    fields["signature"] = key.sign(SIGNING_PREFIX + unsigned.raw_bytes()).signature
    return SignedTransaction(**fields)


# -- the extension and its libsodium routes ------------------------------------------------------

_NO_EXTENSIONS = pytest.mark.skipif(os.environ.get("MEMPOOL_FAST_NO_EXTENSIONS") == "1",
                                    reason="installed without extensions")


@_NO_EXTENSIONS
def test_batch_verifier_is_built_and_default():
    assert _verify is not None, validation._VERIFY_IMPORT_ERROR
    assert "detached" in _verify.ROUTES and "open" in _verify.ROUTES
    if not os.environ.get("MEMPOOL_FAST_PUREPYTHON"):
        assert validation.Ed25519Validator is validation.BatchValidator
        assert validation.IMPLEMENTATION == "cython"


@_NO_EXTENSIONS
def test_environment_forces_pure_validator():
    code = "from mempool_fast import validation as v; print(v.IMPLEMENTATION)"
    env = dict(os.environ, MEMPOOL_FAST_PUREPYTHON="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "python", out.stderr
    env.pop("MEMPOOL_FAST_PUREPYTHON")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "cython", out.stderr


_BREAK_VERIFY = (
    "import sys\n"
    "class Broken:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name == 'mempool_fast._verify':\n"
    "            raise ImportError('undefined symbol: simulated broken build')\n"
    "sys.meta_path.insert(0, Broken())\n")


def test_a_broken_extension_falls_back_to_pure_with_a_warning():
    code = (_BREAK_VERIFY + "import warnings\n"
            "with warnings.catch_warnings(record=True) as caught:\n"
            "    warnings.simplefilter('always')\n"
            "    from mempool_fast import validation as v\n"
            "print(v.IMPLEMENTATION, any('batch verifier unavailable' in str(w.message) "
            "for w in caught))\n"
            "try:\n    v.BatchValidator()\nexcept ImportError as exc:\n    print('ImportError')")
    env = dict(os.environ)
    env.pop("MEMPOOL_FAST_PUREPYTHON", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["python", "True", "ImportError"], out.stderr


def test_an_install_without_extensions_is_pure_python_silently():
    """MEMPOOL_FAST_NO_EXTENSIONS=1 installs no extension modules: nothing to warn about."""
    code = ("import sys, warnings; sys.modules['mempool_fast._verify'] = None\n"
            "with warnings.catch_warnings(record=True) as caught:\n"
            "    warnings.simplefilter('always')\n"
            "    from mempool_fast import validation as v\n"
            "print(v.IMPLEMENTATION, len([w for w in caught if 'mempool_fast' in str(w.message)]))")
    env = dict(os.environ)
    env.pop("MEMPOOL_FAST_PUREPYTHON", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["python", "0"], out.stderr


@pytest.mark.parametrize("vector", RFC8032, ids=["test1", "test2", "test3"])
def test_rfc8032_vectors(vector):
    secret, public, message, signature = (bytes.fromhex(x) for x in vector)
    key = nacl.signing.SigningKey(secret)
    assert bytes(key.verify_key) == public
    assert key.sign(message).signature == signature
    nacl.signing.VerifyKey(public).verify(message, signature)
    for route in ROUTES:
        assert _verify.verify_message(message, signature, public, route=route) is True
        assert _verify.verify_message(message + b"\0", signature, public, route=route) is False
        assert _verify.verify_message(message, flip_bit(signature, 300), public,
                                      route=route) is False


def test_unknown_route_and_bad_input_are_clear_errors():
    if _verify is None:
        pytest.skip("extension not built (test_batch_verifier_is_built_and_default fails)")
    with pytest.raises(ValueError, match="route"):
        _verify.verify([], route="nope")
    with pytest.raises(ValueError, match="route"):
        validation.BatchValidator(route="nope")
    with pytest.raises(TypeError, match="not bytes"):
        _verify.verify(["x" * 200])
    with pytest.raises(ValueError, match="shorter"):
        _verify.verify([b"x" * 95])
    out = bytearray(1)
    with pytest.raises(ValueError, match="needs 2"):
        _verify.verify_into([b"x" * 100] * 2, out)
    with pytest.raises(ValueError, match="outside"):
        _verify.verify_into([b"x" * 100], out, 1, 3)


# -- every corruption is caught ------------------------------------------------------------------

@pytest.mark.parametrize("route", ROUTES)
def test_c_loop_catches_every_single_bit_flip(accounts, route):
    wire = accounts.txn(1, 3, payload=b"flip me!" * 2).to_bytes()
    flipped = [flip_bit(wire, bit) for bit in range(len(wire) * 8)]
    assert _verify.verify([wire], route=route) == bytearray([1])
    assert _verify.verify(flipped, route=route) == bytearray(len(flipped))


def test_validator_catches_every_single_bit_flip(accounts, make_validator):
    txn = accounts.txn(1, 3, payload=b"flip me!" * 2)
    wire = txn.to_bytes()
    raw_len = len(wire) - 96
    corrupted, regions = [], []
    for bit in range(len(wire) * 8):
        try:
            corrupted.append(SignedTransaction.from_bytes(flip_bit(wire, bit)))
        except MalformedTransaction:  # a flip in payload_len no longer decodes
            assert 64 * 8 <= bit < 68 * 8
            continue
        byte = bit // 8
        regions.append("sender" if byte < 32 else "key" if raw_len <= byte < raw_len + 32
                       else "message" if byte < raw_len else "signature")
    validator = make_validator(MempoolConfig(max_gas_amount=(1 << 64) - 1))
    results = validator.validate([txn] + corrupted)
    assert results[0] is None
    for status, region in zip(results[1:], regions):
        expected = Code.INVALID_SENDER if region in ("sender", "key") else Code.INVALID_SIGNATURE
        assert status is not None and status.code == expected, region
    assert regions.count("signature") == 512 and regions.count("key") == 256


# -- the individual checks ------------------------------------------------------------------------

def test_sender_mismatch_reports_both_addresses(accounts, make_validator):
    other = accounts.address(2)
    txn = resign(accounts.key(1), accounts.txn(1, 0), sender=other)
    [status] = make_validator().validate([txn])
    derived = account_address(bytes(accounts.key(1).verify_key))
    assert status.code == Code.INVALID_SENDER
    assert other.hex() in status.message and derived.hex() in status.message


def test_payload_and_gas_bounds_at_limit_and_above(accounts, make_validator):
    config = MempoolConfig(max_payload_bytes=100, max_gas_amount=5_000)
    txns = [accounts.txn(3, 0, payload=b"p" * 100, max_gas=5_000),
            accounts.txn(3, 1, payload=b"p" * 101),
            accounts.txn(3, 2, max_gas=5_001)]
    ok, big, greedy = make_validator(config).validate(txns)
    assert ok is None
    assert big.code == Code.PAYLOAD_TOO_LARGE and "101 bytes" in big.message
    assert "100 bytes" in big.message
    assert greedy.code == Code.MAX_GAS_TOO_HIGH and "5001" in greedy.message


def test_check_order_is_payload_gas_sender_signature(accounts, make_validator):
    config = MempoolConfig(max_payload_bytes=10, max_gas_amount=100)

    def bad_signature(txn):
        return SignedTransaction.from_bytes(flip_bit(txn.to_bytes(), len(txn.to_bytes()) * 8 - 1))

    key, stranger = accounts.key(4), accounts.address(5)
    everything = bad_signature(resign(key, accounts.txn(4, 0, payload=b"x" * 11, max_gas=101),
                                      sender=stranger))
    gas_sender_sig = bad_signature(resign(key, accounts.txn(4, 0, max_gas=101), sender=stranger))
    sender_sig = bad_signature(resign(key, accounts.txn(4, 0, max_gas=100), sender=stranger))
    sig_only = bad_signature(accounts.txn(4, 0, payload=b"x" * 10, max_gas=100))
    results = make_validator(config).validate([everything, gas_sender_sig, sender_sig, sig_only])
    assert [r.code for r in results] == [Code.PAYLOAD_TOO_LARGE, Code.MAX_GAS_TOO_HIGH,
                                         Code.INVALID_SENDER, Code.INVALID_SIGNATURE]


def test_empty_batch(make_validator):
    validator = make_validator()
    assert validator.validate([]) == []
    assert validator.stats.transactions == 0


def test_non_transaction_input_is_rejected_and_changes_nothing(accounts, make_validator):
    validator = make_validator()
    with pytest.raises(TypeError, match="item 1 is bytes"):
        validator.validate([accounts.txn(1, 0), accounts.txn(1, 1).to_bytes()])
    assert validator.stats.transactions == 0 and len(validator.cache) == 0


def test_bad_threads_argument():
    with pytest.raises(ValueError, match="threads"):
        validation.PurePythonValidator(threads=-1)


# -- the flavours agree ---------------------------------------------------------------------------

def random_batch(accounts, rng: random.Random, size: int) -> tuple[list, list]:
    """A shuffled mix of valid and broken transactions, with the expected code of each."""
    config = MempoolConfig()
    txns, expected = [], []
    for i in range(size):
        index = rng.randrange(1, 8)
        txn = accounts.txn(index, i, payload=rng.randbytes(rng.randrange(0, 40)),
                           gas_price=rng.randrange(0, 5))
        kind = rng.choice(["valid", "valid", "signature", "message", "sender", "payload", "gas",
                           "duplicate"])
        code = None
        if kind == "signature":
            txn = SignedTransaction.from_bytes(
                flip_bit(txn.to_bytes(), len(txn.to_bytes()) * 8 - rng.randrange(512) - 1))
            code = Code.INVALID_SIGNATURE
        elif kind == "message":
            wire = flip_bit(txn.to_bytes(), 56 * 8 + rng.randrange(64))  # expiration_time
            txn, code = SignedTransaction.from_bytes(wire), Code.INVALID_SIGNATURE
        elif kind == "sender":
            txn = resign(accounts.key(index), txn, sender=accounts.address(index + 1))
            code = Code.INVALID_SENDER
        elif kind == "payload":
            txn = accounts.txn(index, i, payload=b"z" * (config.max_payload_bytes + 1))
            code = Code.PAYLOAD_TOO_LARGE
        elif kind == "gas":
            txn = accounts.txn(index, i, max_gas=config.max_gas_amount + 1)
            code = Code.MAX_GAS_TOO_HIGH
        elif kind == "duplicate" and txns:
            j = rng.randrange(len(txns))
            txn, code = txns[j], expected[j]
        txns.append(txn)
        expected.append(code)
    return txns, expected


@pytest.mark.parametrize("cache_size", [0, 1000])
@pytest.mark.parametrize("seed", [1, 2])
def test_random_batches_identical_in_every_flavour(accounts, seed, cache_size):
    txns, expected = random_batch(accounts, random.Random(seed), 120)
    results = all_results(txns, cache_size=cache_size)
    reference = results.pop("pure")
    assert [None if r is None else r.code for r in reference] == expected
    for name, got in results.items():
        assert got == reference, name


@pytest.fixture(scope="module")
def big_batch(default_accounts):
    """10k transactions, every 7th with a corrupted signature (built once: signing is slow)."""
    txns, expected = [], []
    for i in range(10_000):
        txn = default_accounts.txn(i % 50, i // 50)
        if i % 7 == 3:
            txn = corrupt_signature(txn, 70)
        txns.append(txn)
        expected.append(Code.INVALID_SIGNATURE if i % 7 == 3 else None)
    return txns, expected


def test_batch_of_10k_in_every_flavour(big_batch):
    txns, expected = big_batch
    results = all_results(txns, cache_size=0)
    for name, got in results.items():
        assert [None if r is None else r.code for r in got] == expected, name
    assert len({tuple(r) for r in results.values()}) == 1


def test_large_batch_is_split_across_pool_threads(big_batch, monkeypatch):
    if _verify is None:
        pytest.skip("extension not built (test_batch_verifier_is_built_and_default fails)")
    txns, expected = big_batch
    seen = set()
    verify_into = _verify.verify_into

    class Spy:  # records which threads ran the C loop
        ROUTES = _verify.ROUTES
        DEFAULT_ROUTE = _verify.DEFAULT_ROUTE

        @staticmethod
        def verify_into(*args, **kwargs):
            seen.add(threading.get_ident())
            return verify_into(*args, **kwargs)

    monkeypatch.setattr(validation, "_verify", Spy)
    with validation.BatchValidator(threads=2, cache_size=0) as validator:
        results = validator.validate(txns[:1000])
    assert len(seen) == 2 and threading.get_ident() in seen
    assert [None if r is None else r.code for r in results] == expected[:1000]


def test_broadcast_batch_of_100_is_shared_by_two_threads_by_default(accounts, monkeypatch):
    """The default split threshold lets a batch of 100 use both threads, through one cursor."""
    if _verify is None:
        pytest.skip("extension not built (test_batch_verifier_is_built_and_default fails)")
    calls = []
    verify_into = _verify.verify_into

    class Spy:  # records which threads ran the C loop, and with which cursor
        ROUTES = _verify.ROUTES
        DEFAULT_ROUTE = _verify.DEFAULT_ROUTE
        Cursor = _verify.Cursor

        @staticmethod
        def verify_into(*args, **kwargs):
            valid = verify_into(*args, **kwargs)
            calls.append((threading.get_ident(), kwargs.get("cursor"), valid))
            return valid

    monkeypatch.setattr(validation, "_verify", Spy)
    txns = [accounts.txn(2, i) for i in range(100)]
    txns[37] = corrupt_signature(txns[37], 9)
    with validation.BatchValidator(threads=2, cache_size=0) as validator:
        results = validator.validate(txns)
    assert len({ident for ident, _, _ in calls}) == 2
    assert threading.get_ident() in {ident for ident, _, _ in calls}
    assert len({id(cursor) for _, cursor, _ in calls}) == 1 and calls[0][1] is not None
    assert sum(valid for _, _, valid in calls) == 99  # each transaction verified once
    assert [i for i, r in enumerate(results) if r is not None] == [37]
    assert results[37].code == Code.INVALID_SIGNATURE
    assert validator.stats.signatures_verified == 100


@pytest.mark.parametrize("route", ROUTES)
def test_cursor_shares_one_range_between_threads(accounts, route):
    wires = [accounts.txn(3, i).to_bytes() for i in range(60)]
    for i in (0, 17, 59):
        wires[i] = flip_bit(wires[i], 8 * len(wires[i]) - 5)
    expected = _verify.verify(wires, route=route)
    assert expected.count(0) == 3
    out = bytearray(len(wires) + 5)
    out[len(wires):] = b"\x07" * 5  # beyond the range: untouched
    cursor = _verify.Cursor()
    counts = []
    threads = [threading.Thread(target=lambda: counts.append(_verify.verify_into(
        wires, out, 0, len(wires), route=route, cursor=cursor))) for _ in range(3)]
    for thread in threads:
        thread.start()
    counts.append(_verify.verify_into(wires, out, 0, len(wires), route=route, cursor=cursor))
    for thread in threads:
        thread.join()
    assert out[:len(wires)] == expected and out[len(wires):] == b"\x07" * 5
    assert sum(counts) == 57 and len(counts) == 4
    assert cursor.claimed >= len(wires)
    # A spent cursor hands out nothing more; a sub-range counts from its own start.
    assert _verify.verify_into(wires, bytearray(len(wires)), 0, len(wires), route=route,
                               cursor=cursor) == 0
    sub = bytearray(len(wires))
    assert _verify.verify_into(wires, sub, 10, 20, route=route, cursor=_verify.Cursor()) == 9
    assert sub[10:20] == expected[10:20] and sub.count(0) == len(wires) - 9


def test_cache_off_computes_no_digest(accounts, make_validator, monkeypatch):
    def no_digest(wire):
        raise AssertionError("digest computed with the cache off")

    monkeypatch.setattr(validation, "transaction_digest", no_digest)
    validator = make_validator(cache_size=0)
    txn = accounts.txn(6, 4)
    bad = corrupt_signature(txn, 33)
    results = validator.validate([txn, txn, bad, bad, txn])
    assert results[0] is results[1] is results[4] is None
    assert results[2] == results[3] and results[2].code == Code.INVALID_SIGNATURE
    stats = validator.stats
    assert (stats.transactions, stats.signatures_verified, stats.rejected) == (5, 2, 2)


def test_copies_of_a_bad_sender_are_each_rejected(accounts, make_validator):
    txn = resign(accounts.key(1), accounts.txn(1, 9), sender=accounts.address(3))
    validator = make_validator()
    first, second = validator.validate([txn, SignedTransaction.from_bytes(txn.to_bytes())])
    assert first == second and first.code == Code.INVALID_SENDER
    assert validator.stats.rejected == 2 and validator.stats.signatures_verified == 0


def test_sender_check_is_right_past_the_address_memo(accounts, make_validator, monkeypatch):
    validator = make_validator(cache_size=0)
    validator._address_memo_size = 3
    good = [accounts.txn(i, 0) for i in range(1, 9)]
    forged = [resign(accounts.key(i), accounts.txn(i, 1), sender=accounts.address(i + 1))
              for i in range(1, 9)]
    for _ in range(2):  # the second time most keys were memoized, some evicted
        results = validator.validate(good + forged)
        assert results[:8] == [None] * 8
        for i, status in enumerate(results[8:], start=1):
            assert status.code == Code.INVALID_SENDER
            assert account_address(bytes(accounts.key(i).verify_key)).hex() in status.message
        assert 0 < len(validator._addresses) <= 3


def test_c_loop_releases_the_gil(big_batch):
    """While one thread verifies 10k signatures, this thread keeps running Python code."""
    if _verify is None:
        pytest.skip("extension not built (test_batch_verifier_is_built_and_default fails)")
    wires = [txn.to_bytes() for txn in big_batch[0]]
    span: list[float] = []
    done = threading.Event()

    def worker():
        span.append(time.perf_counter())
        _verify.verify(wires)
        span.append(time.perf_counter())
        done.set()

    thread = threading.Thread(target=worker)
    previous = time.perf_counter()
    longest_pause = 0.0
    thread.start()
    deadline = time.monotonic() + 120
    while not done.is_set() and time.monotonic() < deadline:
        now = time.perf_counter()
        longest_pause = max(longest_pause, now - previous)
        previous = now
    thread.join()
    start, end = span
    # Were the GIL held during the C loop, this thread would stall for all of it.
    assert longest_pause < 0.5 * (end - start)


def test_close_stops_pool_threads(accounts):
    if _verify is None:
        pytest.skip("extension not built (test_batch_verifier_is_built_and_default fails)")
    config = MempoolConfig(verify_min_batch_per_thread=1)
    validator = validation.BatchValidator(config, threads=2, cache_size=0)
    assert validator.validate([accounts.txn(1, 0), accounts.txn(1, 1)]) == [None, None]
    workers = [t for t in threading.enumerate() if t.name.startswith("mempool-verify")]
    assert workers
    validator.close()
    assert not any(t.is_alive() for t in workers)
    with pytest.raises(RuntimeError, match="closed"):
        validator.validate([accounts.txn(1, 0), accounts.txn(1, 1)])


def test_concurrent_callers_share_one_validator(accounts, make_validator):
    validator = make_validator(MempoolConfig(verify_min_batch_per_thread=2), cache_size=0)
    good = [accounts.txn(9, i) for i in range(20)]
    bad = corrupt_signature(good[0], 4)
    batch = good + [bad]
    outcomes = []

    def worker():
        outcomes.append(validator.validate(batch))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == 4
    for results in outcomes:
        assert results[:20] == [None] * 20 and results[20].code == Code.INVALID_SIGNATURE
    assert validator.stats.signatures_verified == 4 * 21


# -- the verified-transaction cache --------------------------------------------------------------

def test_cache_skips_second_verification(accounts, make_validator):
    validator = make_validator()
    txn = accounts.txn(6, 0)
    assert validator.validate([txn]) == [None]
    assert validator.stats.signatures_verified == 1
    # A retry (even decoded afresh from the wire) is served by the cache.
    assert validator.validate([txn, SignedTransaction.from_bytes(txn.to_bytes())]) == [None, None]
    assert validator.stats.signatures_verified == 1 and validator.stats.cache_hits == 2
    # One signature bit away is a different transaction: verified, and rejected.
    forged = corrupt_signature(txn, 19)
    [status] = validator.validate([forged])
    assert status.code == Code.INVALID_SIGNATURE
    assert validator.stats.signatures_verified == 2


def test_cache_keeps_only_valid_and_dedupes_within_batch(accounts, make_validator):
    validator = make_validator()
    txn = accounts.txn(6, 1)
    bad = corrupt_signature(txn, 2)
    results = validator.validate([txn, txn, bad, bad])
    assert results[:2] == [None, None] and results[2] == results[3] is not None
    assert validator.stats.signatures_verified == 2
    assert len(validator.cache) == 1
    validator.validate([bad])
    assert validator.stats.signatures_verified == 3


def test_cache_is_bounded_lru(accounts, make_validator):
    validator = make_validator(cache_size=2)
    a, b, c = (accounts.txn(7, i) for i in range(3))
    validator.validate([a, b])
    validator.validate([a])  # a becomes most recently used
    validator.validate([c])  # evicts b
    assert len(validator.cache) == 2
    verified = validator.stats.signatures_verified
    validator.validate([a, c])
    assert validator.stats.signatures_verified == verified
    validator.validate([b])
    assert validator.stats.signatures_verified == verified + 1


def test_cache_disabled_verifies_every_time(accounts, make_validator):
    validator = make_validator(cache_size=0)
    txn = accounts.txn(6, 2)
    validator.validate([txn])
    validator.validate([txn])
    assert validator.stats.signatures_verified == 2 and len(validator.cache) == 0


def test_cache_key_is_a_256_bit_digest_of_the_wire(accounts):
    txn = accounts.txn(6, 3)
    digest = validation.transaction_digest(txn.to_bytes())
    assert len(digest) == 32
    assert digest != validation.transaction_digest(flip_bit(txn.to_bytes(), 0))
    with pytest.raises(ValueError):
        validation.VerifiedCache(-1)
