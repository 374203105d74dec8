"""Internals of the Cython core that the shared rules cannot see (the differential tests prove
its behaviour identical to the pure core's; these pin how it gets there)."""

from __future__ import annotations

import pytest

from mempool_fast import MempoolConfig, SignedTransaction, TimelineState

_core = pytest.importorskip("mempool_fast._core", reason="the Cython core is not built")


def _txn(sender: bytes) -> SignedTransaction:
    return SignedTransaction(sender=sender, sequence_number=0, payload=b"", max_gas_amount=1,
                             gas_unit_price=1, expiration_time=2**40, public_key=bytes(32),
                             signature=bytes(64))


@pytest.mark.parametrize("layout", ["big-endian counter", "20-byte address, zero padded",
                                    "shared suffix"])
def test_accounts_sharing_most_of_their_address_spread_over_the_account_table(layout):
    """Addresses equal in all but a few bytes (a counter, Ethereum-style 20-byte addresses
    padded to 32) must not pile onto one probe chain: every byte goes into the hash."""
    core = _core.CoreMempool(MempoolConfig(capacity=100_000))
    for i in range(20_000):
        if layout == "big-endian counter":
            sender = i.to_bytes(32, "big")
        elif layout == "20-byte address, zero padded":
            sender = bytes(12) + (i * 2654435761 % 2**160).to_bytes(20, "big")
        else:
            sender = i.to_bytes(4, "big") + bytes(28)
        status = core.add_txn(_txn(sender), 1, 0, 10**9, TimelineState.NOT_READY)
        assert status.code == 0
    core._check()
    # 20k accounts in a table kept below 70% full: a good spread leaves runs of a few dozen
    # at most (one shared chain would be 20,000 long)
    assert core._longest_account_probe() < 200


@pytest.mark.parametrize("txn_class", ["cython", "python"])
def test_hash_index_tells_apart_hashes_whose_keys_collide(txn_class):
    """With every 8-byte key masked to 0 all transactions share one probe chain: lookups must
    compare the full 32 bytes, and removals from the middle of the chain keep the rest found.
    Both the Cython class's inline hash and another class's (copied) are covered."""
    from mempool_fast.transaction import PySignedTransaction

    cls = SignedTransaction if txn_class == "cython" else PySignedTransaction
    core = _core.CoreMempool(MempoolConfig(capacity=1_000, capacity_per_user=3),
                             clock=lambda: 1_000.0)
    core._set_hash_key_mask(0)
    txns = [cls(sender=i.to_bytes(32, "big"), sequence_number=s, payload=b"", max_gas_amount=1,
                gas_unit_price=1, expiration_time=100 + i, public_key=bytes(32),
                signature=bytes(64)) for i in range(60) for s in range(3)]
    for txn in txns:
        assert core.add_txn(txn, 1, 0, 10**9, TimelineState.NOT_READY).code == 0
    core._check()
    assert all(core.get_by_hash(t.hash) is t for t in txns)
    # same first 8 bytes (the key), different rest: not pending
    for txn in txns[:5]:
        assert core.get_by_hash(txn.hash[:8] + bytes(24)) is None
        assert core.get_by_hash(txn.hash[:31] + bytes([txn.hash[31] ^ 1])) is None
    with pytest.raises(ValueError):
        core._set_hash_key_mask(2**64 - 1)  # only on an empty core
    # remove from all over the chain: commits, a reject, expiration GC
    for i in range(0, 60, 3):
        core.remove_transaction(i.to_bytes(32, "big"), 0, False)
    core.remove_transaction((1).to_bytes(32, "big"), 0, True)
    assert core.gc_by_expiration_time(120) > 0
    core._check()

    def all_found():
        for txn in txns:
            assert core.get_by_hash(txn.hash) is (txn if txn.pointer in core else None)

    all_found()
    assert sum(t.pointer in core for t in txns) == len(core) > 0
    # then every account, one at a time: the chain's first slot is emptied while others remain
    for i in range(59, -1, -1):
        core.remove_transaction(i.to_bytes(32, "big"), 5, False)
        all_found()
    assert len(core) == 0
    core._check()


def test_a_replacement_reuses_the_freed_entry_and_reindexes_it():
    """The replaced entry's memory is reused by the new one at once (the pool's free list):
    the index must hold the new transaction's hash, not the old one's."""
    core = _core.CoreMempool(MempoolConfig(capacity=10))
    old = _txn(bytes(32))
    new = SignedTransaction(sender=bytes(32), sequence_number=0, payload=b"", max_gas_amount=1,
                            gas_unit_price=2, expiration_time=2**40, public_key=bytes(32),
                            signature=bytes(64))
    assert core.add_txn(old, 1, 0, 10**9, TimelineState.NOT_READY).code == 0
    assert core.add_txn(new, 1, 0, 10**9, TimelineState.NOT_READY).code == 0
    assert core.get_by_hash(new.hash) is new and core.get_by_hash(old.hash) is None
    core._check()
