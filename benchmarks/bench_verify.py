"""Signature verification throughput, every route side by side on one batch.

    python -m pytest benchmarks/bench_verify.py --benchmark-enable \
        --benchmark-json=/tmp/verify.json -q && python benchmarks/bench_verify.py /tmp/verify.json
    python benchmarks/bench_verify.py --interleaved 15   # same rows, rounds taken in turn

Every benchmark verifies the same BATCH signed transactions (pre-generated, all valid; the
verified-transaction cache is disabled so nothing is skipped). Rows:

- ``raw C loop``: ``_verify.verify_into`` alone on 1 and 2 threads: libsodium's physical limit;
- ``validator``: ``BatchValidator.validate`` (bounds, SHA3 sender check, C loop, thread pool);
- ``pure validator``: ``PurePythonValidator.validate`` (PyNaCl per transaction);
- ``PyNaCl per call`` / ``cryptography per call``: one ``verify`` per transaction with the key
  objects and messages built beforehand (the most favourable baseline);
- ``blake2b digest`` / ``sha3 account_address``: the per-transaction hashing the validator adds.

``CPU ÷ wall`` is the process's CPU time over wall time per round: how many threads really ran
at once (about 2 for a 2-thread row on 2 idle cores; near 1 when other work holds a core).

The table printer (``__main__``) reports transactions per second from each benchmark's median
and the target ratios.
"""

from __future__ import annotations

import argparse
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

BATCH = 2_000
ROUNDS = 12
GROUP = "verify"

_verify = validation._verify
needs_c = pytest.mark.skipif(_verify is None, reason="mempool_fast._verify is not built")


def make_txns() -> list[SignedTransaction]:
    """BATCH valid transactions from 100 accounts, 100-byte payloads."""
    keys = [nacl.signing.SigningKey(i.to_bytes(32, "little")) for i in range(1, 101)]
    return [SignedTransaction.create(keys[i % len(keys)], i // len(keys), payload=b"p" * 100,
                                     max_gas_amount=1_000, gas_unit_price=1,
                                     expiration_time=4_000_000_000)
            for i in range(BATCH)]


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


@pytest.fixture(scope="module")
def txns() -> list[SignedTransaction]:
    return make_txns()


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


def run(benchmark, name: str, fn, *args):
    benchmark.group = GROUP
    samples: list[tuple[float, float]] = []
    result = benchmark.pedantic(cpu_tracked(fn, samples), args=args, rounds=ROUNDS,
                                iterations=1, warmup_rounds=1)
    benchmark.extra_info.update(name=name, txns=BATCH, **cpu_info(samples[1:]))
    return result


@needs_c
@pytest.mark.parametrize("threads", [1, 2])
def test_raw_c_loop(benchmark, wires, threads):
    with ThreadPoolExecutor(max_workers=max(1, threads - 1)) as pool:
        verify_all = raw_c_loop(wires, threads, pool)
        assert run(benchmark, f"raw C loop, {threads} thread(s)", verify_all) == len(wires)


@needs_c
@pytest.mark.parametrize("threads", [1, 2])
def test_batch_validator(benchmark, txns, threads):
    with validation.BatchValidator(MempoolConfig(), threads=threads, cache_size=0) as validator:
        results = run(benchmark, f"validator (batch), {threads} thread(s)", validator.validate,
                      txns)
        assert results == [None] * len(txns)
        assert validator.stats.cache_hits == 0


def test_pure_validator(benchmark, txns):
    validator = validation.PurePythonValidator(MempoolConfig(), cache_size=0)
    assert run(benchmark, "pure validator (PyNaCl per txn)", validator.validate,
               txns) == [None] * len(txns)


def test_pynacl_per_call(benchmark, txns):
    assert run(benchmark, "PyNaCl VerifyKey.verify per call", pynacl_per_call(txns)) == len(txns)


def test_cryptography_per_call(benchmark, txns):
    pytest.importorskip("cryptography")
    assert run(benchmark, "cryptography Ed25519PublicKey.verify per call",
               cryptography_per_call(txns)) == len(txns)


def test_digest_cost(benchmark, wires):
    digests = run(benchmark, "blake2b-256 cache digest per txn",
                  lambda: [validation.transaction_digest(w) for w in wires])
    assert len(set(digests)) == len(wires)


def test_account_address_cost(benchmark, txns):
    addresses = run(benchmark, "sha3-256 account_address per txn",
                    lambda: [account_address(t.public_key) for t in txns])
    assert addresses == [t.sender for t in txns]


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def interleaved(rounds: int) -> dict:
    """The signature rows again, one round of each in turn, so machine load hits all alike.

    Returns a pytest-benchmark-shaped dict the table printer reads.
    """
    txns = make_txns()
    wires = [t.to_bytes() for t in txns]
    pool = ThreadPoolExecutor(max_workers=1)
    validators = [validation.BatchValidator(MempoolConfig(), threads=n, cache_size=0)
                  for n in (1, 2)]
    variants = {
        "raw C loop, 1 thread(s)": raw_c_loop(wires, 1, pool),
        "raw C loop, 2 thread(s)": raw_c_loop(wires, 2, pool),
        "validator (batch), 1 thread(s)": lambda: validators[0].validate(txns),
        "validator (batch), 2 thread(s)": lambda: validators[1].validate(txns),
        "PyNaCl VerifyKey.verify per call": pynacl_per_call(txns),
        "cryptography Ed25519PublicKey.verify per call": cryptography_per_call(txns),
    }
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    calls = {name: cpu_tracked(fn, samples[name]) for name, fn in variants.items()}
    try:
        for _ in range(rounds + 1):  # the first round warms up and is dropped
            for call in calls.values():
                call()
    finally:
        for validator in validators:
            validator.close()
        pool.shutdown()
    return {"datetime": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "machine_info": {"python_version": platform.python_version(),
                             "cpu": {"brand_raw": _cpu_name()}},
            "benchmarks": [{"group": GROUP,
                            "extra_info": {"name": name, "txns": BATCH, **cpu_info(s[1:])},
                            "stats": {"median": statistics.median(w for _, w in s[1:]),
                                      "min": min(w for _, w in s[1:])}}
                           for name, s in samples.items()]}


# -- table printer ---------------------------------------------------------------------------------

RATIOS = [  # (label, numerator, denominator, target)
    ("validator 2 threads / PyNaCl per call", "validator (batch), 2 thread(s)",
     "PyNaCl VerifyKey.verify per call", 1.6),
    ("validator 2 threads / cryptography per call", "validator (batch), 2 thread(s)",
     "cryptography Ed25519PublicKey.verify per call", 3.0),
    ("validator 2 threads / raw C loop 2 threads", "validator (batch), 2 thread(s)",
     "raw C loop, 2 thread(s)", 0.9),
    ("validator 1 thread / raw C loop 1 thread", "validator (batch), 1 thread(s)",
     "raw C loop, 1 thread(s)", 0.9),
    ("raw C loop 2 threads / 1 thread", "raw C loop, 2 thread(s)", "raw C loop, 1 thread(s)",
     None),
]


def table(data: dict) -> str:
    """Markdown: transactions/s per benchmark (from the median round), then the ratios."""
    rate: dict[str, tuple[float, float, float, float]] = {}
    for bench in data["benchmarks"]:
        info = bench.get("extra_info") or {}
        if bench.get("group") != GROUP or "name" not in info:
            continue
        txns = info["txns"]
        rate[info["name"]] = (txns / bench["stats"]["median"], txns / bench["stats"]["min"],
                              info.get("cpu_per_wall", float("nan")),
                              txns / info.get("cpu_seconds", float("nan")))
    lines = ["| benchmark | txns/s (median) | txns/s (best round) | µs per txn (median) "
             "| CPU ÷ wall | txns per CPU-second |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, (median, best, cpu_per_wall, per_cpu) in rate.items():
        lines.append(f"| {name} | {median:,.0f} | {best:,.0f} | {1e6 / median:.2f} "
                     f"| {cpu_per_wall:.2f} | {per_cpu:,.0f} |")
    lines += ["", "| ratio (median) | value | target |", "| --- | ---: | ---: |"]
    for label, num, den, target in RATIOS:
        if num in rate and den in rate:
            value = rate[num][0] / rate[den][0]
            verdict = "" if target is None else f"≥ {target} {'✓' if value >= target else '✗'}"
            lines.append(f"| {label} | {value:.2f}× | {verdict} |")
    lines += ["", "| CPU efficiency (txns per CPU-second) | ratio |", "| --- | ---: |"]
    for label, num, den, _ in RATIOS:
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
                        help="instead, run the signature rows in turn for ROUNDS rounds")
    args = parser.parse_args()
    if args.interleaved:
        print(table(interleaved(args.interleaved)))
    elif args.json:
        with open(args.json, encoding="utf-8") as fh:
            print(table(json.load(fh)))
    else:
        parser.error("give a JSON file or --interleaved ROUNDS")
    sys.exit(0)
