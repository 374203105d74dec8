"""The cost of a commit (one committed and one rejected transaction) and of a GC tick with
nothing to expire, against the number of journaled pending client transactions.

A shared mempool with a journal (fsync "never": the disk is not what is measured) holds N
client transactions, one per account; then each sample commits one account's transaction and
rejects another's (`commit_transactions([a], t, rejected=[b])`), or runs one GC tick (`gc()`)
that expires nothing. Signatures are not what is measured either: the validator accepts every
transaction, which carries a dummy signature. Both cores.

    python benchmarks/journal_scaling.py --sizes 2000,100000,1000000 [--json]

The same script runs against an older checkout (it uses only the public API), which is how the
before/after figures in RESULTS.md were taken side by side.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from mempool_fast import MempoolConfig, SignedTransaction
from mempool_fast.journal import TransactionJournal
from mempool_fast.network.inprocess import InProcessNetwork
from mempool_fast.shared import SharedMempool
from mempool_fast.storage import InMemoryAccountStore

SAMPLES = 41
FAR_FUTURE = 4_000_000_000
BATCH = 10_000


class AcceptAll:
    """A validator that finds every transaction valid (signatures are not measured here)."""

    def validate(self, txns):
        return [None] * len(txns)


def address(i: int) -> bytes:
    return hashlib.sha3_256(i.to_bytes(8, "little")).digest()


def txn(i: int) -> SignedTransaction:
    return SignedTransaction(sender=address(i), sequence_number=0, payload=bytes(100),
                             max_gas_amount=1_000, gas_unit_price=1 + i % 50,
                             expiration_time=FAR_FUTURE, public_key=bytes(32),
                             signature=bytes(64))


def cores():
    found = {}
    try:
        from mempool_fast._core import CoreMempool
        found["cython"] = CoreMempool
    except ImportError:
        pass
    from mempool_fast.pure import CoreMempool as Pure
    found["python"] = Pure
    return found


def measure(core_cls, n: int, workdir: Path) -> dict:
    config = MempoolConfig(capacity=2 * n + 10, capacity_per_user=10, journal_fsync="never",
                           journal_compact_min_bytes=1 << 40)
    store = InMemoryAccountStore()
    store.set_accounts([(address(i), 0, 10**15) for i in range(n + 2 * SAMPLES)])
    journal = TransactionJournal.from_config(workdir / f"{core_cls.__module__}-{n}.journal",
                                             config)
    node = SharedMempool(config, InProcessNetwork().endpoint("a"), store, validator=AcceptAll(),
                         mempool=core_cls(config), journal=journal)
    for start in range(0, n + 2 * SAMPLES, BATCH):
        node.submit_transactions([txn(i) for i in range(start, min(start + BATCH,
                                                                   n + 2 * SAMPLES))])
    gc.collect()
    commit, tick = [], []
    now = time.time()
    for k in range(SAMPLES):
        a, b = n + 2 * k, n + 2 * k + 1
        t0 = time.perf_counter()
        node.commit_transactions([(address(a), 0)], now, rejected=[(address(b), 0)])
        commit.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        node.gc()
        tick.append(time.perf_counter() - t0)
    assert len(node.mempool) == n, len(node.mempool)
    journal.close()
    return {"journaled": n, "commit_ms": statistics.median(commit) * 1e3,
            "gc_tick_ms": statistics.median(tick) * 1e3}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="2000,100000")
    parser.add_argument("--cores", default="cython,python")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    available = cores()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.cores.split(","):
            if name not in available:
                continue
            for n in sizes:
                row = {"core": name, **measure(available[name], n, Path(tmp))}
                rows.append(row)
                if not args.json:
                    print(f"{name:7} {n:>9,} journaled: commit+reject {row['commit_ms']:8.3f} ms"
                          f"   gc tick {row['gc_tick_ms']:8.3f} ms", flush=True)
    for name in {r["core"] for r in rows}:
        mine = [r for r in rows if r["core"] == name]
        if len(mine) > 1:
            lo, hi = mine[0], mine[-1]
            growth = (hi["commit_ms"] / lo["commit_ms"], hi["gc_tick_ms"] / lo["gc_tick_ms"])
            if not args.json:
                print(f"{name}: growth {lo['journaled']:,} -> {hi['journaled']:,}: commit "
                      f"{growth[0]:.2f}x, gc tick {growth[1]:.2f}x")
    if args.json:
        json.dump(rows, sys.stdout)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
