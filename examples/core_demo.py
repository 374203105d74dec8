"""A tour of the core mempool API: submit, park, fill a gap, pull a block, commit, GC."""

import nacl.signing

from mempool_fast import (
    IMPLEMENTATION, CoreMempool, MempoolConfig, SignedTransaction, TimelineState,
)


def main() -> None:
    key = nacl.signing.SigningKey.generate()
    mempool = CoreMempool(MempoolConfig(capacity=1000))
    balance = 10**12
    txns = [SignedTransaction.create(key, seq, gas_unit_price=10) for seq in range(3)]

    print(f"core: {IMPLEMENTATION}")
    for seq in (0, 2):  # seq 2 waits in the parking lot for seq 1
        status = mempool.add_txn(txns[seq], txns[seq].max_gas_amount, 0, balance,
                                 TimelineState.NOT_READY)
        print(f"add seq {seq}: {status.code.name}; parked: {mempool.parking_lot_size()}")
    mempool.add_txn(txns[1], txns[1].max_gas_amount, 0, balance, TimelineState.NOT_READY)
    print(f"add seq 1 fills the gap; parked: {mempool.parking_lot_size()}")

    broadcast, cursor = mempool.read_timeline(0, 100)
    print(f"timeline up to id {cursor}: seqs {[t.sequence_number for t in broadcast]}")
    block = mempool.get_block(100, set())
    print(f"block for consensus: seqs {[t.sequence_number for t in block]}")
    for txn in block:
        mempool.remove_transaction(txn.sender, txn.sequence_number, False)
    print(f"after commit: {len(mempool)} pending")


if __name__ == "__main__":
    main()
