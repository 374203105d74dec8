"""Profile of the Cython add_txn's growth: cache misses, not instructions.

    valgrind --tool=callgrind --cache-sim=yes --LL=33554432,16,64 \\
        --toggle-collect='*CoreMempool__add*' python benchmarks/callgrind_add.py N K

Builds a Cython core of N pending transactions, then adds K more ready ones; callgrind collects
only inside `CoreMempool._add` with a simulated 32 MiB L3 (this machine's). Compare N=10000 and
N=200000 (K=20000): instructions per add stay flat while last-level misses grow. Needs the
extensions built in place (`python setup.py build_ext --inplace` keeps their symbols, which
`--toggle-collect` matches; wheels ship stripped).
"""

from __future__ import annotations

import argparse
import random
import struct

from mempool_fast import MempoolConfig, SignedTransaction, TimelineState

#: Synthetic wire fields: max_gas_amount, expiration_time, payload length; prices are random.
MAX_GAS = 1000
EXPIRATION = 4_000_000_000
PAYLOAD_LEN = 100
BALANCE = 10**18
HEADER = struct.Struct("<32sQQQQI")
KEY_AND_SIGNATURE = b"k" * 32 + b"s" * 64


def transactions(count: int, rng: random.Random) -> list[SignedTransaction]:
    """`count` unsigned synthetic transactions of distinct senders at sequence number 0 (the
    core never verifies signatures)."""
    return [SignedTransaction.from_bytes(
        HEADER.pack(i.to_bytes(32, "little"), 0, MAX_GAS, rng.randrange(1, 1000), EXPIRATION,
                    PAYLOAD_LEN) + b"p" * PAYLOAD_LEN + KEY_AND_SIGNATURE)
        for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pending", type=int, help="N: transactions in the core first")
    parser.add_argument("added", type=int, help="K: ready transactions added while profiled")
    args = parser.parse_args()
    from mempool_fast._core import CoreMempool  # the Cython core: this profiles its C++

    txns = transactions(args.pending + args.added, random.Random(1))
    core = CoreMempool(MempoolConfig(capacity=args.pending + args.added + 1), clock=lambda: 1.0)
    for txn in txns:
        core.add_txn(txn, MAX_GAS, 0, BALANCE, TimelineState.NOT_READY)


if __name__ == "__main__":
    main()
