"""Decode + verify rate of one core: Ethereum transactions (formats.ethereum) against native ones.

    . .venv/bin/activate && python benchmarks/bench_formats.py [--txns 2000] [--rounds 7]

Every row runs on the calling thread only (the native validator with ``threads=1`` and its
verified-transaction cache off), so the rates are per core. Each round decodes ``--txns`` wire
transactions of 100 accounts into fresh objects and verifies them as one batch (Ethereum: the
chain id check and the secp256k1 sender recovery; native: bounds, sender = SHA3 of the public
key, Ed25519). Rows: ``decode`` alone, ``verify`` alone (of freshly decoded objects: nothing
recovered yet), ``decode + verify``; the Ethereum part rows time the pieces of one
transaction's cost (the format's RLP walk, one keccak-256, one public-key recovery) the same
way, and ``rlp.decode`` of the same bytes for comparison (the format does not use it).
``admission, <core> core`` rows time the whole admission of the batch into a fresh core of
each implementation (decode + verify + ``add_txns``, every sender funded: what the shared
mempool's admission does, without its account-store read and lock). Printed: median µs per
transaction, transactions per second, and the ratio to native decode + verify.

Ethereum transactions are signed here with ``formats.ethereum_signing`` (coincurve), so only the
``ethereum`` extra is needed: ``pip install 'mempool_fast[ethereum]'``. Transfers with an empty
payload, legacy EIP-155 and EIP-1559 (no access list) on chain 1; native ones carry 100-byte
payloads (the other benchmarks' workload).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import nacl.signing

from mempool_fast import MempoolConfig, TimelineState, _impl
from mempool_fast.formats import NativeFormat
from mempool_fast.transaction import TRANSACTION_IMPLEMENTATION, SignedTransaction
from mempool_fast.validation import IMPLEMENTATION as VALIDATOR_IMPLEMENTATION
from mempool_fast.validation import Ed25519Validator

ACCOUNTS = 100
CHAIN_ID = 1
#: Every sender's balance in the admission rows: covers any cost here.
BALANCE = 10**30


def native_wires(count: int) -> list[bytes]:
    keys = [nacl.signing.SigningKey(bytes([i % 256, i // 256]) * 16) for i in range(ACCOUNTS)]
    return [SignedTransaction.create(keys[i % ACCOUNTS], i // ACCOUNTS, payload=bytes(100),
                                     gas_unit_price=1 + i % 50).to_bytes()
            for i in range(count)]


def ethereum_wires(count: int, kind: str) -> list[bytes]:
    from mempool_fast.formats.ethereum_signing import EthereumKey

    keys = [EthereumKey(bytes([1 + i % 255, i // 255]) * 16) for i in range(ACCOUNTS)]
    to = b"\x11" * 20
    wires = []
    for i in range(count):
        nonce, tip = i // ACCOUNTS, 10**9 + i % 50
        key = keys[i % ACCOUNTS]
        if kind == "legacy":
            wires.append(key.sign_legacy(chain_id=CHAIN_ID, nonce=nonce, gas_price=tip,
                                         to=to, value=10**15))
        else:
            wires.append(key.sign_eip1559(chain_id=CHAIN_ID, nonce=nonce,
                                          max_priority_fee_per_gas=tip,
                                          max_fee_per_gas=3 * 10**9, to=to, value=10**15))
    return wires


def admission(fmt: Any, wires: list[bytes], core_cls: Any, config: MempoolConfig) -> Callable[
        [Any], object]:
    """decode + verify + add of `wires` into the fresh core made by the setup (one batch, as
    the shared mempool's admission does it: every sender funded, sequence numbers from 0)."""
    decode, verify = fmt.decode, fmt.verify
    state = TimelineState.NOT_READY

    def run(core: Any) -> object:
        txns = [decode(w) for w in wires]
        if verify(txns).count(None) != len(txns):
            raise AssertionError("a benchmark transaction failed verification")
        statuses = core.add_txns([(t, t.max_gas_amount, 0, BALANCE) for t in txns], state)
        if len(core) != len(txns):
            raise AssertionError(f"admitted {len(core)} of {len(txns)}: {statuses[:3]}")
        return statuses
    return run


def timed(fn: Callable[[Any], object], rounds: int, count: int,
          setup: Callable[[], Any] = lambda: None) -> float:
    """Median µs per transaction of `fn(setup())` over `rounds` rounds (setup untimed)."""
    samples = []
    for _ in range(rounds):
        arg = setup()
        start = time.perf_counter()
        fn(arg)
        samples.append((time.perf_counter() - start) / count * 1e6)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--txns", type=int, default=2000, help="transactions per round")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    n, rounds = args.txns, args.rounds

    rows: list[tuple[str, float]] = []

    # -- native --
    validator = Ed25519Validator(threads=1, cache_size=0)
    native = NativeFormat(validator)
    wires = native_wires(n)
    decode = native.decode
    rows.append(("native decode", timed(lambda _: [decode(w) for w in wires], rounds, n)))
    rows.append(("native verify", timed(lambda txns: native.verify(txns), rounds, n,
                                        setup=lambda: [decode(w) for w in wires])))
    rows.append(("native decode + verify",
                 timed(lambda _: native.verify([decode(w) for w in wires]), rounds, n)))
    assert native.verify([decode(w) for w in wires]) == [None] * n
    native_total = rows[-1][1]
    cores = {name: impl.core for name, impl in _impl.matrix().items()}
    config = MempoolConfig(capacity=4 * n, capacity_per_user=n)
    for name, core_cls in sorted(cores.items()):
        rows.append((f"native admission, {name} core",
                     timed(admission(native, wires, core_cls, config), rounds, n,
                           setup=lambda c=core_cls: c(config))))

    # -- ethereum --
    try:
        import rlp

        from mempool_fast.formats.ethereum import EthereumFormat, load_dependencies
        from mempool_fast.formats.ethereum import _rlp_fields as rlp_fields
        deps = load_dependencies()
    except ImportError as exc:
        print(f"Ethereum rows skipped: {exc}", file=sys.stderr)
        deps = None
    if deps is not None:
        fmt = EthereumFormat(CHAIN_ID)
        for kind in ("legacy", "eip1559"):
            eth_wires = ethereum_wires(n, kind)
            edecode = fmt.decode
            checked = fmt.verify([edecode(w) for w in eth_wires])
            assert checked == [None] * n, checked[:3]
            rows.append((f"ethereum {kind} decode",
                         timed(lambda _: [edecode(w) for w in eth_wires], rounds, n)))
            rows.append((f"ethereum {kind} verify",
                         timed(lambda txns: fmt.verify(txns), rounds, n,
                               setup=lambda: [edecode(w) for w in eth_wires])))
            rows.append((f"ethereum {kind} decode + verify",
                         timed(lambda _: fmt.verify([edecode(w) for w in eth_wires]), rounds, n)))
            for name, core_cls in sorted(cores.items()):
                rows.append((f"ethereum {kind} admission, {name} core",
                             timed(admission(fmt, eth_wires, core_cls, config), rounds, n,
                                   setup=lambda c=core_cls: c(config, transaction_format=fmt))))
            body = [w[1:] if w[0] == 2 else w for w in eth_wires]
            count = 9 if kind == "legacy" else 12
            rows.append((f"  part: RLP walk ({kind})",
                         timed(lambda _: [rlp_fields(b, deps, kind, count) for b in body],
                               rounds, n)))
            rows.append((f"  (rlp.decode, not used: {kind})",
                         timed(lambda _: [rlp.decode(b) for b in body], rounds, n)))
        keccak = deps.keccak256
        rows.append(("  part: keccak-256 (100 bytes)",
                     timed(lambda _: [keccak(w) for w in eth_wires], rounds, n)))
        txns = [edecode(w) for w in eth_wires]
        sigs = [t.r.to_bytes(32, "big") + t.s.to_bytes(32, "big") + bytes((t.v,)) for t in txns]
        hashes = [t.signing_hash() for t in txns]
        recover = deps.recover
        rows.append(("  part: secp256k1 recover",
                     timed(lambda _: [recover(s, h) for s, h in zip(sigs, hashes)], rounds, n)))

    print(f"decode + verify on one core: {n} transactions per round, median of {rounds} rounds; "
          f"SignedTransaction {TRANSACTION_IMPLEMENTATION}, validator {VALIDATOR_IMPLEMENTATION}; "
          f"Python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs")
    print(f"{'row':40} {'µs/txn':>9} {'txn/s':>10} {'÷ native d+v':>13}")
    for name, us in rows:
        print(f"{name:40} {us:9.2f} {1e6 / us:10.0f} {us / native_total:13.2f}")
    validator.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
