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
