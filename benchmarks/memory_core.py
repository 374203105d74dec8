"""Memory of a core mempool: RSS at N pending transactions, and a leak check.

Run each core in a fresh process (RSS is per process):
    python benchmarks/memory_core.py --core python
    python benchmarks/memory_core.py --core cython
Options: --size (pending transactions for the RSS figure, default 1M), --cycles and
--cycle-size (leak check: add then remove that many transactions per cycle).

Transactions are decoded from wire bytes, as the inbound and client paths receive them
(distinct sender, key, signature and 100-byte payload objects per transaction). The report
separates the transactions' own memory from what the core adds on top of it. The leak check
removes each cycle's transactions through every path (commits, rejects, expiration GC, system
TTL GC) and prints RSS after each cycle; it must stay flat after the first cycle, and
malloc_trim shows the freed memory really goes back.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import random
import sys
import time

from mempool_fast import MempoolConfig, SignedTransaction, TimelineState
from mempool_fast.types import U64_MAX

PAYLOAD_BYTES = 100
MAX_TXNS_PER_ACCOUNT = 7
BALANCE = 1 << 62
T0 = 1_700_000_000.0
BLOCK = 1_000
MIB = 1 << 20
#: Growth of settled RSS from the end of cycle 1 to the end of the last cycle that counts as a
#: leak: the larger of this share of the pool's footprint and LEAK_FLOOR_BYTES.
LEAK_SHARE = 0.02
LEAK_FLOOR_BYTES = 8 * MIB


def rss_bytes() -> int:
    """Resident set size of this process (VmRSS from /proc/self/status)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("VmRSS missing from /proc/self/status")


def settled_rss(trim: bool = False) -> int:
    """RSS after a full cyclic GC (and, with `trim`, after glibc returns free heap pages)."""
    gc.collect()
    if trim and _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
    return rss_bytes()


def _load_malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _load_malloc_trim()


def core_class(name: str):
    if name == "python":
        from mempool_fast.pure import CoreMempool
        return CoreMempool
    try:
        from mempool_fast._core import CoreMempool
    except ImportError as exc:
        raise SystemExit(f"the Cython core is not built ({exc}); run "
                         "`python setup.py build_ext --inplace` first") from None
    return CoreMempool


def make_transactions(count: int, seed: int, decoded: bool = True) -> list:
    """`count` transactions, accounts of 1..7, sequence numbers from 0: decoded from wire bytes
    (the default), or constructed directly (`decoded=False`: no cached wire form, one sender
    and key object per account), to show what the transaction objects themselves cost."""
    rng = random.Random(seed)
    txns = []
    while len(txns) < count:
        n = min(rng.randint(1, MAX_TXNS_PER_ACCOUNT), count - len(txns))
        sender, public_key = rng.randbytes(32), rng.randbytes(32)
        for seq in range(n):
            txn = SignedTransaction(
                sender=sender, sequence_number=seq, payload=rng.randbytes(PAYLOAD_BYTES),
                max_gas_amount=rng.choice((1_000, 10_000, 100_000)),
                gas_unit_price=int(rng.lognormvariate(3.0, 1.0)) + 1,
                expiration_time=int(T0) + rng.randint(60, 3_600),
                public_key=public_key, signature=rng.randbytes(64))
            txns.append(SignedTransaction.from_bytes(txn.to_bytes()) if decoded else txn)
    return txns


class Clock:
    """Injected clock, moved by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def fill(pool, txns, clock: Clock, start: float) -> None:
    """Add `txns` in order (half the accounts local, half from peers), arrivals 1 µs apart."""
    add = pool.add_txn
    states = (TimelineState.NOT_READY, TimelineState.NON_QUALIFIED)
    for i, txn in enumerate(txns):
        clock.now = start + i * 1e-6
        status = add(txn, txn.max_gas_amount, 0, BALANCE, states[txn.sender[0] & 1])
        if status.code:
            raise RuntimeError(f"transaction {i} rejected: {status!r}")


def empty_by_every_path(pool, txns, clock: Clock, ttl: float) -> dict:
    """Remove everything: ~25% by committed blocks, ~25% by rejects, ~25% by expiration GC,
    the rest by system TTL GC; then forget every account's cached sequence number."""
    target = len(pool)
    removed = {"commit": 0, "reject": 0, "expiration_gc": 0, "system_ttl_gc": 0}
    while target - len(pool) < target // 4:
        before = len(pool)
        for txn in pool.get_block(BLOCK, set()):
            pool.remove_transaction(txn.sender, txn.sequence_number, False)
        removed["commit"] += before - len(pool)
    senders = list(dict.fromkeys(t.sender for t in txns))
    before = len(pool)
    for sender in senders[: len(senders) // 4]:
        pool.remove_transaction(sender, 0, True)
    removed["reject"] = before - len(pool)
    expirations = sorted(t.expiration_time for t in txns)
    removed["expiration_gc"] = pool.gc_by_expiration_time(expirations[len(expirations) // 2])
    clock.now += ttl + 1.0
    removed["system_ttl_gc"] = pool.gc_by_system_ttl()
    for sender in senders:
        pool.remove_transaction(sender, U64_MAX, True)
    if len(pool):
        raise RuntimeError(f"{len(pool)} transactions left after emptying the pool")
    return removed


def mib(value: float) -> str:
    return f"{value / MIB:,.1f} MiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--core", choices=("python", "cython"), required=True)
    parser.add_argument("--size", type=int, default=1_000_000,
                        help="pending transactions for the RSS figure (default 1,000,000)")
    parser.add_argument("--cycles", type=int, default=5, help="leak-check cycles (default 5)")
    parser.add_argument("--cycle-size", type=int, default=250_000,
                        help="transactions added and removed per cycle (default 250,000)")
    parser.add_argument("--txns", choices=("decoded", "direct"), default="decoded",
                        help="decoded from wire bytes as received (default), or constructed "
                             "directly (smaller objects: no cached wire form)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.size < 1 or args.cycles < 1 or not 1 <= args.cycle_size:
        parser.error("--size, --cycles and --cycle-size must be positive")

    cls = core_class(args.core)
    config = MempoolConfig(capacity=max(args.size, args.cycle_size))
    ttl = config.system_transaction_timeout_secs
    print(f"core={args.core} size={args.size:,} payload={PAYLOAD_BYTES} B txns={args.txns} "
          f"cycles={args.cycles} cycle_size={args.cycle_size:,} python={sys.version.split()[0]}")

    base = settled_rss(trim=True)
    started = time.perf_counter()
    txns = make_transactions(max(args.size, args.cycle_size), args.seed,
                             decoded=args.txns == "decoded")
    data = settled_rss()
    print(f"baseline (interpreter + imports)      {mib(base)}")
    print(f"+ {len(txns):,} {args.txns} transactions    {mib(data)}   "
          f"({(data - base) / len(txns):,.0f} B/txn, {time.perf_counter() - started:.1f} s)")

    clock = Clock(T0)
    pool = cls(config, clock=clock)
    started = time.perf_counter()
    fill(pool, txns[: args.size], clock, T0)
    fill_secs = time.perf_counter() - started
    full = settled_rss()
    core_bytes = full - data
    print(f"+ pool of {len(pool):,} pending             {mib(full)}   "
          f"(core: {mib(core_bytes)}, {core_bytes / len(pool):,.0f} B/txn; "
          f"filled in {fill_secs:.1f} s)")
    print(f"RSS at {len(pool):,} pending transactions: {mib(full)} "
          f"({full / (1 << 30):.2f} GiB; target <= 0.6 GiB on the Cython core)")

    clock.now += ttl + 1.0
    pool.gc_by_system_ttl()
    del pool
    after_drop = settled_rss(trim=True)
    print(f"pool emptied and dropped               {mib(after_drop)}   "
          f"(+{mib(after_drop - data)} over the data)")

    print(f"\nleak check: {args.cycles} cycles of {args.cycle_size:,} added then removed "
          "(commit, reject, expiration GC, system TTL GC)")
    pool = cls(config, clock=clock)
    batch = txns[: args.cycle_size]
    settled = []
    for cycle in range(1, args.cycles + 1):
        started = time.perf_counter()
        fill(pool, batch, clock, clock.now + 1.0)
        peak = rss_bytes()
        removed = empty_by_every_path(pool, batch, clock, ttl)
        after = settled_rss()
        trimmed = settled_rss(trim=True)
        settled.append(trimmed)
        print(f"  cycle {cycle}: full {mib(peak)}, emptied {mib(after)}, trimmed "
              f"{mib(trimmed)} ({time.perf_counter() - started:.1f} s; removed {removed})")
    growth = settled[-1] - settled[0]
    limit = max(LEAK_FLOOR_BYTES, LEAK_SHARE * max(core_bytes, 1))
    verdict = "no leak" if growth <= limit else "LEAK SUSPECTED"
    print(f"settled RSS after the last cycle vs after cycle 1: {growth / MIB:+,.1f} MiB "
          f"(limit {mib(limit)}); over the data alone: {mib(settled[-1] - data)} -> {verdict}")
    return 0 if growth <= limit else 1


if __name__ == "__main__":
    sys.exit(main())
