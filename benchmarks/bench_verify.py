"""Signature verification throughput: the validator at batch 100 and 2000 against its bounds.

The numbers to quote come from the interleaved mode, every row measured in one process, one
round of each row in turn (so machine load hits all rows alike)::

    . .venv/bin/activate && python benchmarks/bench_verify.py --interleaved 15

Add ``--baseline PATH`` (a saved copy of ``mempool_fast/validation.py``) to measure that
validator in the same run, as ``baseline validator`` rows; the validator of this change against
the one before it (whose ``verify_min_batch_per_thread`` default was 64)::

    git show HEAD:mempool_fast/validation.py > /tmp/validation_before.py
    python benchmarks/bench_verify.py --interleaved 15 --baseline /tmp/validation_before.py \
        --baseline-min-batch-per-thread 64
 The pytest-benchmark mode measures
the same rows, one benchmark after another::

    python -m pytest benchmarks/bench_verify.py --benchmark-enable \
        --benchmark-json=/tmp/verify.json -q && python benchmarks/bench_verify.py /tmp/verify.json

Every round of every row verifies ``ROUND_TXNS`` = 2000 valid transactions (100 accounts,
100-byte payloads). Validator rows get **fresh transactions every round** (signed up front, never
seen by that validator before) and run with the verified-transaction cache off
(``cache_size=0``), so every signature is really checked. Rows:

- ``raw C loop``: ``_verify.verify_into`` alone over the 2000 wires on 1 and 2 threads (calling
  thread + one pool thread): libsodium's physical limit on this machine;
- ``validator, batch B``: ``BatchValidator.validate`` called on consecutive slices of B
  transactions (batch 100 = 20 calls per round, a node's ``shared_mempool_batch_size``; batch
  2000 = 1 call): bounds, sender check, C loop, thread pool, bookkeeping;
- ``PyNaCl per call``: one ``VerifyKey.verify(message, signature)`` per transaction on the
  calling thread, with the key objects and messages built beforehand (the most favourable
  single-thread baseline); ``cryptography per call`` likewise (interleaved mode only);
- ``pure validator``, ``blake2b digest``, ``sha3 account_address`` (pytest mode only): the
  pure-Python validator and the per-transaction hashing of the Python layer.

``CPU ÷ wall`` is the process's CPU time over wall time per round: how many threads really ran
at once (about 2 for a 2-thread row on 2 idle cores; lower when other jobs hold a core).

Ratios are rate ratios. Ratios to ``PyNaCl per call`` are bounded by the ``raw C loop 2 threads
/ PyNaCl per call`` row (the ceiling, about 2 when both cores are free): on a shared machine,
check it before reading the others; ratios to ``raw C loop 2 threads`` hold under any load. ``median`` is the ratio of the rows' median rounds; ``per-round`` is the
median and the range (min–max) of the ratio taken round by round (rows of one round ran
back-to-back, so this cancels slow drifts of the machine's load).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import nacl.exceptions
import nacl.signing
import pytest

from mempool_fast import MempoolConfig, SignedTransaction, account_address, validation

ROUND_TXNS = 2_000  #: transactions verified by every row in every round
BATCH_SIZES = (100, 2_000)  #: validator batch sizes
THREADS = 2
ROUNDS = 12  #: pytest-benchmark rounds (plus one warm-up round)
GROUP = "verify"
ACCOUNTS = 100

_verify = validation._verify
needs_c = pytest.mark.skipif(_verify is None, reason="mempool_fast._verify is not built")

_KEYS: list[nacl.signing.SigningKey] = []


def _keys() -> list[nacl.signing.SigningKey]:
    if not _KEYS:
        _KEYS.extend(nacl.signing.SigningKey(i.to_bytes(32, "little"))
                     for i in range(1, ACCOUNTS + 1))
    return _KEYS


class FreshTxns:
    """Distinct valid transactions, ``ROUND_TXNS`` at a time; never the same one twice."""

    def __init__(self) -> None:
        self._next_seq = 0

    def batch(self, count: int = ROUND_TXNS) -> list[SignedTransaction]:
        keys = _keys()
        first = self._next_seq
        self._next_seq += count
        return [SignedTransaction.create(keys[i % ACCOUNTS], i // ACCOUNTS, payload=b"p" * 100,
                                         max_gas_amount=1_000, gas_unit_price=1,
                                         expiration_time=4_000_000_000)
                for i in range(first, first + count)]


def slices(txns: list, size: int) -> list[list]:
    return [txns[i:i + size] for i in range(0, len(txns), size)]


def validate_all(validator, batches: list[list[SignedTransaction]]) -> int:
    """Run ``validator.validate`` on each batch in turn; how many transactions were valid."""
    valid = 0
    for batch in batches:
        valid += validator.validate(batch).count(None)
    return valid


def raw_c_loop(wires: list[bytes], threads: int, pool: ThreadPoolExecutor):
    """verify_into alone over ``wires``, split in ``threads`` chunks (caller runs the first)."""
    out = bytearray(len(wires))
    bounds = [len(wires) * i // threads for i in range(threads + 1)]

    def verify_all():
        futures = [pool.submit(_verify.verify_into, wires, out, bounds[i], bounds[i + 1])
                   for i in range(1, threads)]
        valid = _verify.verify_into(wires, out, bounds[0], bounds[1])
        return valid + sum(f.result() for f in futures)

    return verify_all


def pynacl_per_call(txns):
    items = [(nacl.signing.VerifyKey(t.public_key), t.signing_message(), t.signature)
             for t in txns]

    def verify_all():
        valid = 0
        for key, message, signature in items:
            try:
                key.verify(message, signature)
            except nacl.exceptions.BadSignatureError:
                continue
            valid += 1
        return valid

    return verify_all


def cryptography_per_call(txns):
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ed25519

    items = [(ed25519.Ed25519PublicKey.from_public_bytes(t.public_key), t.signing_message(),
              t.signature) for t in txns]

    def verify_all():
        valid = 0
        for key, message, signature in items:
            try:
                key.verify(signature, message)
            except InvalidSignature:
                continue
            valid += 1
        return valid

    return verify_all


def raw_name(threads: int) -> str:
    return f"raw C loop, {threads} thread(s)"


def validator_name(batch: int, threads: int, prefix: str = "validator") -> str:
    return f"{prefix}, batch {batch}, {threads} thread(s)"


PYNACL = "PyNaCl VerifyKey.verify per call"
CRYPTOGRAPHY = "cryptography Ed25519PublicKey.verify per call"


# -- pytest-benchmark mode -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def txns() -> list[SignedTransaction]:
    return FreshTxns().batch()


@pytest.fixture(scope="module")
def wires(txns) -> list[bytes]:
    return [txn.to_bytes() for txn in txns]


def cpu_tracked(fn, samples: list[tuple[float, float]]):
    """``fn`` that also appends (process CPU seconds, wall seconds) of each call."""

    def call(*args):
        cpu, wall = time.process_time(), time.perf_counter()
        result = fn(*args)
        samples.append((time.process_time() - cpu, time.perf_counter() - wall))
        return result

    return call


def cpu_info(samples: list[tuple[float, float]]) -> dict:
    """Median CPU seconds per round and median CPU ÷ wall (threads that really ran at once)."""
    return {"cpu_seconds": statistics.median(c for c, _ in samples),
            "cpu_per_wall": statistics.median(c / w for c, w in samples)}


def run(benchmark, name: str, fn, *args, setup=None):
    benchmark.group = GROUP
    samples: list[tuple[float, float]] = []
    if setup is None:
        result = benchmark.pedantic(cpu_tracked(fn, samples), args=args, rounds=ROUNDS,
                                    iterations=1, warmup_rounds=1)
    else:
        result = benchmark.pedantic(cpu_tracked(fn, samples), setup=setup, rounds=ROUNDS,
                                    iterations=1, warmup_rounds=1)
    # Without --benchmark-enable the function runs once: a smoke test, still recorded.
    benchmark.extra_info.update(name=name, txns=ROUND_TXNS, **cpu_info(samples[1:] or samples))
    return result


@needs_c
@pytest.mark.parametrize("threads", [1, 2])
def test_raw_c_loop(benchmark, wires, threads):
    with ThreadPoolExecutor(max_workers=max(1, threads - 1)) as pool:
        verify_all = raw_c_loop(wires, threads, pool)
        assert run(benchmark, raw_name(threads), verify_all) == len(wires)


@needs_c
@pytest.mark.parametrize("batch", BATCH_SIZES)
@pytest.mark.parametrize("threads", [1, 2])
def test_batch_validator(benchmark, threads, batch):
    fresh = FreshTxns()

    def setup():  # fresh transactions every round: nothing is served from a cache
        return (validator, slices(fresh.batch(), batch)), {}

    with validation.BatchValidator(MempoolConfig(), threads=threads, cache_size=0) as validator:
        valid = run(benchmark, validator_name(batch, threads), validate_all, setup=setup)
        assert valid == ROUND_TXNS
        assert validator.stats.cache_hits == 0
        assert validator.stats.signatures_verified == validator.stats.transactions


def test_pure_validator(benchmark, txns):
    validator = validation.PurePythonValidator(MempoolConfig(), cache_size=0)
    assert run(benchmark, "pure validator (PyNaCl per txn)", validator.validate,
               txns) == [None] * len(txns)


def test_pynacl_per_call(benchmark, txns):
    assert run(benchmark, PYNACL, pynacl_per_call(txns)) == len(txns)


def test_digest_cost(benchmark, wires):
    digests = run(benchmark, "blake2b-256 cache digest per txn",
                  lambda: [validation.transaction_digest(w) for w in wires])
    assert len(set(digests)) == len(wires)


def test_account_address_cost(benchmark, txns):
    addresses = run(benchmark, "sha3-256 account_address per txn",
                    lambda: [account_address(t.public_key) for t in txns])
    assert addresses == [t.sender for t in txns]


# -- interleaved mode ------------------------------------------------------------------------------

def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def load_validation(path: str):
    """A copy of ``validation.py`` at ``path`` imported as a module of the package."""
    name = "mempool_fast._bench_baseline_validation"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def interleaved(rounds: int, baseline: str | None = None,
                baseline_config: MempoolConfig | None = None) -> dict:
    """Every row, one round of each in turn; ``rounds`` rounds after one warm-up round.

    Returns a pytest-benchmark-shaped dict the table printer reads, with the wall seconds of
    every round (``stats.data``) for per-round ratios.
    """
    fresh = FreshTxns()
    txns = fresh.batch()
    wires = [t.to_bytes() for t in txns]
    pool = ThreadPoolExecutor(max_workers=THREADS - 1)
    modules = [("validator", validation, MempoolConfig())]
    if baseline:
        modules.append(("baseline validator", load_validation(baseline),
                        baseline_config or MempoolConfig()))
    # (name, validator, batch size): each gets its own fresh transactions every round.
    validator_rows = []
    for prefix, module, config in modules:
        for batch in BATCH_SIZES:
            validator_rows.append((validator_name(batch, THREADS, prefix),
                                   module.BatchValidator(config, threads=THREADS,
                                                         cache_size=0), batch))
    one_thread = validation.BatchValidator(MempoolConfig(), threads=1, cache_size=0)
    validator_rows.append((validator_name(BATCH_SIZES[-1], 1), one_thread, BATCH_SIZES[-1]))
    total = rounds + 1  # the first round warms up and is dropped
    started = time.perf_counter()
    inputs = {name: [slices(fresh.batch(), batch) for _ in range(total)]
              for name, _, batch in validator_rows}
    print(f"signed {fresh._next_seq:,} fresh transactions in "
          f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
    fixed = {raw_name(1): raw_c_loop(wires, 1, pool),
             raw_name(THREADS): raw_c_loop(wires, THREADS, pool),
             PYNACL: pynacl_per_call(txns)}
    try:
        fixed[CRYPTOGRAPHY] = cryptography_per_call(txns)
    except ImportError:
        pass
    samples: dict[str, list[tuple[float, float]]] = {}
    calls = []
    for name, fn in fixed.items():
        samples[name] = []
        calls.append((name, cpu_tracked(lambda _round, fn=fn: fn(), samples[name])))
    for name, validator, _ in validator_rows:
        samples[name] = []
        calls.append((name, cpu_tracked(
            lambda k, validator=validator, batches=inputs[name]: validate_all(validator,
                                                                              batches[k]),
            samples[name])))
    try:
        for k in range(total):
            for name, call in calls:
                valid = call(k)
                if valid != ROUND_TXNS:
                    raise AssertionError(f"{name}: {valid} of {ROUND_TXNS} valid")
    finally:
        for _, validator, _ in validator_rows:
            validator.close()
        pool.shutdown()
    return {"datetime": time.strftime("%Y-%m-%dT%H:%M:%S"), "interleaved": True,
            "machine_info": {"python_version": platform.python_version(),
                             "cpu": {"brand_raw": _cpu_name()}},
            "benchmarks": [{"group": GROUP,
                            "extra_info": {"name": name, "txns": ROUND_TXNS, **cpu_info(s[1:])},
                            "stats": {"median": statistics.median(w for _, w in s[1:]),
                                      "min": min(w for _, w in s[1:]),
                                      "data": [w for _, w in s[1:]]}}
                           for name, s in samples.items()]}


# -- table printer ---------------------------------------------------------------------------------

def ratios() -> list[tuple[str, str, str, float | None]]:
    """(label, numerator row, denominator row, target) of every reported rate ratio."""
    out = []
    for prefix in ("validator", "baseline validator"):
        for batch, target in zip(BATCH_SIZES, (1.7, 1.8)):
            name = validator_name(batch, THREADS, prefix)
            out.append((f"{prefix} batch {batch} ({THREADS} threads) / PyNaCl per call", name,
                        PYNACL, target if prefix == "validator" else None))
        for batch, target in zip(BATCH_SIZES, (0.85, 0.9)):
            name = validator_name(batch, THREADS, prefix)
            label = f"{prefix} batch {batch} ({THREADS} threads) / raw C loop {THREADS} threads"
            out.append((label, name, raw_name(THREADS),
                        target if prefix == "validator" else None))
    for batch in BATCH_SIZES:
        out.append((f"validator batch {batch} / baseline validator batch {batch}",
                    validator_name(batch, THREADS), validator_name(batch, THREADS,
                                                                   "baseline validator"), None))
    out += [
        (f"validator batch {BATCH_SIZES[-1]} (1 thread) / raw C loop 1 thread",
         validator_name(BATCH_SIZES[-1], 1), raw_name(1), 0.9),
        (f"validator batch {BATCH_SIZES[-1]} ({THREADS} threads) / cryptography per call",
         validator_name(BATCH_SIZES[-1], THREADS), CRYPTOGRAPHY, None),
        (f"raw C loop {THREADS} threads / PyNaCl per call (the ceiling)", raw_name(THREADS),
         PYNACL, None),
        ("raw C loop 1 thread / PyNaCl per call", raw_name(1), PYNACL, None),
        (f"raw C loop {THREADS} threads / 1 thread", raw_name(THREADS), raw_name(1), None),
    ]
    return out


def table(data: dict) -> str:
    """Markdown: transactions/s per benchmark (from the median round), then the ratios."""
    rate: dict[str, tuple[float, float, float, float]] = {}
    rounds: dict[str, list[float]] = {}
    for bench in data["benchmarks"]:
        info = bench.get("extra_info") or {}
        if bench.get("group") != GROUP or "name" not in info:
            continue
        txns = info["txns"]
        rate[info["name"]] = (txns / bench["stats"]["median"], txns / bench["stats"]["min"],
                              info.get("cpu_per_wall", float("nan")),
                              txns / info.get("cpu_seconds", float("nan")))
        rounds[info["name"]] = bench["stats"].get("data") or []
    lines = ["| benchmark | txns/s (median) | txns/s (best round) | µs per txn (median) "
             "| CPU ÷ wall | txns per CPU-second |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, (median, best, cpu_per_wall, per_cpu) in rate.items():
        lines.append(f"| {name} | {median:,.0f} | {best:,.0f} | {1e6 / median:.2f} "
                     f"| {cpu_per_wall:.2f} | {per_cpu:,.0f} |")
    lines += ["", "| ratio (rates) | median | per-round median [min–max] | target |",
              "| --- | ---: | ---: | ---: |"]
    for label, num, den, target in ratios():
        if num not in rate or den not in rate:
            continue
        value = rate[num][0] / rate[den][0]
        per_round = ""
        if data.get("interleaved") and len(rounds[num]) == len(rounds[den]):  # same rounds
            each = sorted(d / n for n, d in zip(rounds[num], rounds[den]))
            per_round = f"{statistics.median(each):.2f}× [{each[0]:.2f}–{each[-1]:.2f}]"
        verdict = "" if target is None else f"≥ {target} {'✓' if value >= target else '✗'}"
        lines.append(f"| {label} | {value:.2f}× | {per_round} | {verdict} |")
    lines += ["", "| CPU efficiency (txns per CPU-second) | ratio |", "| --- | ---: |"]
    for label, num, den, _ in ratios():
        if num in rate and den in rate:
            lines.append(f"| {label} | {rate[num][3] / rate[den][3]:.2f}× |")
    machine = data.get("machine_info", {})
    lines += ["", f"Machine: {machine.get('cpu', {}).get('brand_raw', '?')}, "
                  f"{os.cpu_count()} cores, Python {machine.get('python_version', '?')}; "
                  f"run {data.get('datetime', '?')}."]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("json", nargs="?", help="pytest-benchmark --benchmark-json output")
    parser.add_argument("--interleaved", type=int, metavar="ROUNDS",
                        help="instead, run every row in turn for ROUNDS rounds")
    parser.add_argument("--baseline", metavar="VALIDATION_PY",
                        help="with --interleaved: also measure the BatchValidator of this copy "
                             "of validation.py")
    parser.add_argument("--baseline-min-batch-per-thread", type=int, metavar="N",
                        help="the baseline's verify_min_batch_per_thread (default: the current "
                             "MempoolConfig default; 64 before it was lowered)")
    parser.add_argument("--save", metavar="JSON", help="with --interleaved: also write the data")
    args = parser.parse_args()
    if args.interleaved:
        baseline_config = None
        if args.baseline_min_batch_per_thread is not None:
            baseline_config = MempoolConfig(
                verify_min_batch_per_thread=args.baseline_min_batch_per_thread)
        result = interleaved(args.interleaved, args.baseline, baseline_config)
        if args.save:
            with open(args.save, "w", encoding="utf-8") as fh:
                json.dump(result, fh)
        print(table(result))
    elif args.json:
        with open(args.json, encoding="utf-8") as fh:
            print(table(json.load(fh)))
    else:
        parser.error("give a JSON file or --interleaved ROUNDS")
    sys.exit(0)
