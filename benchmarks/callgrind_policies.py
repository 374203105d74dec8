"""What the policies cost in instructions: each core operation under the default config and under
every policy on, counted by callgrind (deterministic: no timer noise, no memory-layout luck).

    python benchmarks/callgrind_policies.py [--pending 10000] [--ops 2000] [--cores cython,python]

Wall-clock ratios of two pools (benchmarks/bench_policies.py) move by ±10 % between two pools of
the *same* config on this machine (its `control` row), so they cannot resolve a cost of a few
per cent. Instructions can. For every core, config and operation this runs, under
``valgrind --tool=callgrind``, a child that builds the same pool (``--pending`` transactions of
distinct senders, random prices, deterministic) and then performs the operation ``--ops`` times;
a child that only builds the pool is the baseline subtracted. Printed: instructions per
operation and the ratio `all` ÷ `default`. Configs: `default`, and `all` (eager expiry on with a
threshold the workload never reaches, lowest-price eviction, Aptos's ten broadcast buckets, a
10 % replacement bump and a get_block ``max_bytes`` that never binds). Exit status 1 when a
ratio exceeds 1 + ``--limit`` (10 %). Needs valgrind (``apt-get install valgrind``).
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from typing import Any

#: The operations a child can perform after building its pool.
OPERATIONS = ("add_ready", "get_block", "outbound_read", "commit", "gc_system_ttl",
              "gc_expiration")
#: Aptos's ten broadcast buckets (gas-price lower bounds).
APTOS_BUCKETS = (0, 150, 300, 500, 1000, 3000, 5000, 10000, 100000, 1000000)
#: An eager-expiry threshold the workload never reaches (the index and its check still run).
NEVER_MS = 10**9
CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    "all": dict(eager_expire_threshold_ms=NEVER_MS, eager_expire_time_ms=6_000,
                eviction_policy="lowest_price", broadcast_buckets=APTOS_BUCKETS,
                replacement_price_bump_percent=10),
}
#: get_block's max_bytes under `all` (1 GiB: never binds).
ALL_MAX_BYTES = 1 << 30
BLOCK = 1000
#: --ops per get_block(1000) call (a block costs about 100 adds)
BLOCKS_PER = 100
TIMELINE_BATCH = 100
MAX_GAS = 1000
BALANCE = 10**18
PAYLOAD = b"p" * 100
KEY_AND_SIGNATURE = b"k" * 32 + b"s" * 64
HEADER = struct.Struct("<32sQQQQI")
#: Client expirations spread over this many seconds from EXPIRATION_BASE.
EXPIRATION_BASE = 4_000_000_000
EXPIRATION_SPREAD = 100
START = 1.0
AGES_S = 3_600  # insertion times spread over an hour: the TTL GC removes the oldest


def child(core_name: str, config_name: str, op: str, pending: int, ops: int) -> None:
    """Build the pool, then perform `op` `ops` times (`op` "none": build only)."""
    from mempool_fast import MempoolConfig, SignedTransaction, TimelineState, _impl

    rng = random.Random(1)
    total = pending + ops
    txns = [SignedTransaction.from_bytes(
        HEADER.pack(i.to_bytes(32, "little"), 0, MAX_GAS, rng.randrange(1, 2_000_000),
                    EXPIRATION_BASE + i % EXPIRATION_SPREAD, len(PAYLOAD))
        + PAYLOAD + KEY_AND_SIGNATURE) for i in range(total)]
    for txn in txns:
        txn.hash  # noqa: B018  (computed now, outside every operation)
    now = [START]
    core_cls = _impl.matrix()[core_name].core
    config = MempoolConfig(capacity=total + 1, capacity_per_user=10,
                           system_transaction_timeout_secs=AGES_S, **CONFIGS[config_name])
    core = core_cls(config, clock=lambda: now[0])
    state = TimelineState.NOT_READY
    for i, txn in enumerate(txns[:pending]):
        now[0] = START + AGES_S * i / pending
        core.add_txn(txn, MAX_GAS, 0, BALANCE, state)
    gc.collect()
    gc.disable()  # a collection of the built pool would land in one operation's count
    buckets = len(config.broadcast_buckets)
    max_bytes = ALL_MAX_BYTES if config_name == "all" else None
    if op == "add_ready":
        for txn in txns[pending:]:
            core.add_txn(txn, MAX_GAS, 0, BALANCE, state)
    elif op == "get_block":
        for _ in range(max(1, ops // BLOCKS_PER)):
            core.get_block(BLOCK, set(), max_bytes)
    elif op == "outbound_read":  # `ops` reads of 100, a peer's cursor going round the log
        start: Any = 0 if buckets == 1 else (0,) * buckets
        cursor = start
        for _ in range(ops):
            if buckets == 1:
                got, cursor = core.read_timeline(cursor, TIMELINE_BATCH)
            else:
                got, cursor = core.read_timeline_buckets(cursor, TIMELINE_BATCH)
            if not got:
                cursor = start
    elif op == "commit":
        for txn in txns[:ops]:
            core.remove_transaction(txn.sender, 0, False)
    elif op == "gc_system_ttl":
        now[0] = START + AGES_S + AGES_S * ops / pending  # the oldest `ops` are past the TTL
        core.gc_by_system_ttl()
    elif op == "gc_expiration":
        core.gc_by_expiration_time(EXPIRATION_BASE + EXPIRATION_SPREAD * ops // pending)
    elif op != "none":
        raise ValueError(f"unknown operation {op!r}")


def per_operation(op: str, ops: int) -> int:
    """How many of `op` a child performs for `--ops` (get_block: one block per BLOCKS_PER)."""
    if op == "get_block":
        return max(1, ops // BLOCKS_PER)
    return ops


def instructions(args: list[str], workdir: str) -> int:
    """Instructions callgrind counts for `python this_script args...` (the whole run)."""
    out = os.path.join(workdir, "callgrind.out")
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
           sys.executable, os.path.abspath(__file__), *args]
    done = subprocess.run(cmd, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONHASHSEED="0"))
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count in callgrind's output:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--ops", type=int, default=2_000)
    parser.add_argument("--cores", default=None, help="comma-separated; default: every built")
    parser.add_argument("--limit", type=float, default=0.10)
    parser.add_argument("--child", nargs=3, metavar=("CORE", "CONFIG", "OP"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.pending, args.ops)
        return 0
    if shutil.which("valgrind") is None:
        print("callgrind_policies: valgrind is not installed (apt-get install valgrind)",
              file=sys.stderr)
        return 2
    from mempool_fast import _impl

    cores = args.cores.split(",") if args.cores else sorted(_impl.matrix())
    sizes = ["--pending", str(args.pending), "--ops", str(args.ops)]
    worst = 0.0
    print(f"instructions per operation (callgrind), pool of {args.pending}, {args.ops} "
          f"operations a run; Python {sys.version.split()[0]}")
    print(f"{'operation':<14} {'core':<7} {'default':>12} {'all':>12} {'all ÷ default':>14}")
    with tempfile.TemporaryDirectory() as workdir:
        for core in cores:
            base = {name: instructions([*sizes, "--child", core, name, "none"], workdir)
                    for name in CONFIGS}
            for op in OPERATIONS:
                n = per_operation(op, args.ops)
                counts = {name: (instructions([*sizes, "--child", core, name, op], workdir)
                                 - base[name]) / n for name in CONFIGS}
                ratio = counts["all"] / counts["default"]
                worst = max(worst, ratio)
                print(f"{op:<14} {core:<7} {counts['default']:>12.0f} {counts['all']:>12.0f} "
                      f"{ratio:>13.3f}×", flush=True)
    print(f"\nworst all ÷ default: {worst:.3f}× (limit {1 + args.limit:.2f}×)")
    return 1 if worst > 1 + args.limit else 0


if __name__ == "__main__":
    sys.exit(main())
