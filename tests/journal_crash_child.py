"""Crash-test child for test_journal.py: appends batches to a journal until it is SIGKILLed.

Usage: journal_crash_child.py PATH SEED ROUND. Prints one line per event, flushed at once:
``O <torn> <regions> <bytes> <interrupted compaction>`` after opening; ``A <i>`` once batch
i's append returned (the acknowledgement); ``f <j>`` before and ``F <j>`` after forgetting
batch j, with ``c <j>`` between them when that forget will start a compaction. Batch contents
are a pure function of (seed, round, index): `batch_txns` rebuilds them in the parent.
"""

from __future__ import annotations

import hashlib
import random
import sys

from mempool_fast.journal import HEADER_LEN, REC_HEADER_LEN, TransactionJournal
from mempool_fast.transaction import SignedTransaction

#: Small compaction thresholds so kills also land in and around compactions.
COMPACT_MIN_BYTES = 16 * 1024
COMPACT_DEAD_FRACTION = 0.3
MAX_BATCH = 30
MAX_PAYLOAD = 200
FORGET_LAG = 2  # batch i forgets batch i - FORGET_LAG ...
KEEP_EVERY = 5  # ... unless that one's index is a multiple of KEEP_EVERY (stays live)
EXPIRATION = 4_000_000_000


def batch_txns(seed: int, round_: int, index: int) -> list[SignedTransaction]:
    """The transactions of one batch: one fresh sender, sequence numbers 0..n-1."""
    rng = random.Random(f"{seed}/{round_}/{index}")
    sender = hashlib.sha3_256(f"{seed}/{round_}/{index}".encode()).digest()
    return [
        SignedTransaction(sender=sender, sequence_number=seq,
                          payload=rng.randbytes(rng.randrange(MAX_PAYLOAD)),
                          max_gas_amount=1000, gas_unit_price=rng.randrange(10),
                          expiration_time=EXPIRATION, public_key=rng.randbytes(32),
                          signature=rng.randbytes(64))
        for seq in range(1 + rng.randrange(MAX_BATCH))
    ]


def forgotten_batch(index: int) -> int | None:
    """The batch that batch `index` forgets after its append, if any."""
    victim = index - FORGET_LAG
    if victim >= 0 and victim % KEEP_EVERY:
        return victim
    return None


def forget_compacts(journal: TransactionJournal, txns: list[SignedTransaction]) -> bool:
    """Whether forgetting `txns` will push the journal past its compaction threshold (lets
    the parent aim its kills at compactions)."""
    live = [t for t in txns if t.pointer in journal]
    if not live:
        return False
    body = journal.file_size() - HEADER_LEN
    dead = journal.dead_fraction() * body
    record = REC_HEADER_LEN + 40 * len(live)
    dead += record + sum(REC_HEADER_LEN + len(t.to_bytes()) for t in live)
    body += record
    return body >= COMPACT_MIN_BYTES and dead >= COMPACT_DEAD_FRACTION * body


def main(argv: list[str]) -> None:
    path, seed, round_ = argv[1], int(argv[2]), int(argv[3])
    out = sys.stdout
    with TransactionJournal(path, fsync="always", compact_min_bytes=COMPACT_MIN_BYTES,
                            compact_dead_fraction=COMPACT_DEAD_FRACTION) as journal:
        st = journal.stats()
        out.write(f"O {int(st.open_torn_tail)} {st.open_corrupt_regions} "
                  f"{st.open_corrupt_bytes} {int(st.open_interrupted_compaction)}\n")
        out.flush()
        index = 0
        while True:
            journal.append(batch_txns(seed, round_, index))
            out.write(f"A {index}\n")
            out.flush()
            victim = forgotten_batch(index)
            if victim is not None:
                doomed = batch_txns(seed, round_, victim)
                out.write(f"f {victim}\n")
                if forget_compacts(journal, doomed):
                    out.write(f"c {victim}\n")
                out.flush()
                journal.forget(t.pointer for t in doomed)
                out.write(f"F {victim}\n")
                out.flush()
            index += 1


if __name__ == "__main__":
    main(sys.argv)
