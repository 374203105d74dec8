"""Profile of the Cython add_txn's growth: cache misses, not instructions.

    valgrind --tool=callgrind --cache-sim=yes --LL=33554432,16,64 \
        --toggle-collect='*CoreMempool__add*' python benchmarks/callgrind_add.py N K

Builds a Cython core of N pending transactions, then adds K more ready ones; callgrind collects
only inside `CoreMempool._add` with a simulated 32 MiB L3 (this machine's). Compare N=10000 and
N=200000 (K=20000): instructions per add stay flat while last-level misses grow.
"""
import random
import struct
import sys

from mempool_fast import MempoolConfig, SignedTransaction, TimelineState
from mempool_fast._core import CoreMempool
N, K = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(1)
def wire(i, seq):
    # unsigned synthetic transactions are fine for the core (it never verifies)
    sender = i.to_bytes(32, "little")
    raw = struct.pack("<32sQQQQI", sender, seq, 1000, rng.randrange(1, 1000), 4_000_000_000, 100) + b"p" * 100
    return raw + b"k" * 32 + b"s" * 64
txns = [SignedTransaction.from_bytes(wire(i, 0)) for i in range(N + K)]
core = CoreMempool(MempoolConfig(capacity=N + K + 1), clock=lambda: 1.0)
for t in txns[:N]:
    core.add_txn(t, 1000, 0, 10**18, TimelineState.NOT_READY)
for t in txns[N:N + K]:
    core.add_txn(t, 1000, 0, 10**18, TimelineState.NOT_READY)
