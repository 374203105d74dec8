"""Libra's core mempool unit tests, ported by behaviour (docs/design.md §4); run on every core."""

from __future__ import annotations

import time

import pytest

from mempool_fast import MempoolConfig, SignedTransaction, TimelineState
from mempool_fast.types import U64_MAX, MempoolAddTransactionStatusCode as Code

NOT_READY = TimelineState.NOT_READY
NON_QUALIFIED = TimelineState.NON_QUALIFIED
READY = TimelineState.READY
RICH = 10**18


@pytest.fixture
def core_cls(impl_any):
    """The core's unit tests run on every implementation, mixed pairs included."""
    return impl_any.core


def add(core, txn, *, gas=1, db=0, balance=RICH, state=NOT_READY):
    """add_txn with test defaults; returns the status code."""
    return core.add_txn(txn, gas, db, balance, state).code


def ptrs(txns):
    return [t.pointer for t in txns]


def timeline(core, start=0):
    """Everything in the timeline after `start`: (pointers, last id)."""
    batch, last = core.read_timeline(start, 1_000_000)
    return ptrs(batch), last


def by_address(accounts, *indices):
    """The given account indices sorted by address, lowest first."""
    return sorted(indices, key=accounts.address)


@pytest.fixture
def core(make_core):
    return make_core()


# ---------------------------------------------------------------- ordering (get_block)
def test_get_block_orders_by_gas_price(core, accounts):
    for index, price in ((0, 1), (1, 3), (2, 2), (3, 0)):
        assert add(core, accounts.txn(index, 0, gas_price=price)) == Code.VALID
    block = core.get_block(10)
    assert [t.gas_unit_price for t in block] == [3, 2, 1, 0]


def test_equal_price_orders_by_insertion_time_before_address(core, accounts, clock):
    low, high = by_address(accounts, 0, 1)
    # the lower address inserted first must come first: time beats the address rule
    assert add(core, accounts.txn(low, 0)) == Code.VALID
    clock.advance(1)
    assert add(core, accounts.txn(high, 0)) == Code.VALID
    assert ptrs(core.get_block(10)) == [accounts.txn(low, 0).pointer,
                                        accounts.txn(high, 0).pointer]


def test_equal_price_later_insertion_comes_later_even_with_higher_address(core, accounts, clock):
    low, high = by_address(accounts, 0, 1)
    assert add(core, accounts.txn(high, 0)) == Code.VALID
    clock.advance(0.5)
    assert add(core, accounts.txn(low, 0)) == Code.VALID
    assert ptrs(core.get_block(10)) == [accounts.txn(high, 0).pointer,
                                        accounts.txn(low, 0).pointer]


def test_equal_price_and_time_orders_by_higher_address(core, accounts):
    order = by_address(accounts, 0, 1, 2, 3)
    for index in order:  # lowest address inserted first, same clock reading
        assert add(core, accounts.txn(index, 0)) == Code.VALID
    expected = [accounts.txn(i, 0).pointer for i in reversed(order)]
    assert ptrs(core.get_block(10)) == expected


def test_price_beats_insertion_time(core, accounts, clock):
    assert add(core, accounts.txn(0, 0, gas_price=1)) == Code.VALID
    clock.advance(10)
    assert add(core, accounts.txn(1, 0, gas_price=2)) == Code.VALID
    assert [t.gas_unit_price for t in core.get_block(10)] == [2, 1]


def test_get_block_takes_account_transactions_in_sequence_order(core, accounts):
    # A1 pays most but waits for A0; it is taken right after A0, before lower-priority B1
    a0, a1 = accounts.txn(0, 0, gas_price=1), accounts.txn(0, 1, gas_price=5)
    b0, b1 = accounts.txn(1, 0, gas_price=3), accounts.txn(1, 1, gas_price=0)
    for txn in (a0, a1, b0, b1):
        assert add(core, txn) == Code.VALID
    assert core.get_block(10) == [b0, a0, a1, b1]
    assert core.get_block(2) == [b0, a0]
    assert core.get_block(3) == [b0, a0, a1]


def test_get_block_skipped_chain_stops_at_batch_size(core, accounts):
    # A1 and A2 are skipped, then released by A0: the batch limit holds inside that chain
    txns = [accounts.txn(0, 0, gas_price=1), accounts.txn(0, 1, gas_price=9),
            accounts.txn(0, 2, gas_price=8)]
    for txn in txns:
        assert add(core, txn) == Code.VALID
    assert core.get_block(2) == txns[:2]
    assert core.get_block(3) == txns
    assert core.get_block(100) == txns


@pytest.mark.parametrize("batch_size", [0, -5])
def test_get_block_batch_size_below_one_behaves_as_one(core, accounts, batch_size):
    for index in range(3):
        assert add(core, accounts.txn(index, 0, gas_price=index)) == Code.VALID
    assert core.get_block(batch_size) == [accounts.txn(2, 0, gas_price=2)]


def test_get_block_stops_at_batch_size(core, accounts):
    for index in range(5):
        assert add(core, accounts.txn(index, 0, gas_price=index)) == Code.VALID
    assert [t.gas_unit_price for t in core.get_block(3)] == [4, 3, 2]
    assert len(core.get_block(5)) == 5
    assert len(core.get_block(6)) == 5


def test_get_block_does_not_remove_or_change_anything(core, accounts):
    for seq in range(3):
        assert add(core, accounts.txn(0, seq)) == Code.VALID
    before = (len(core), timeline(core), core.parking_lot_size())
    assert len(core.get_block(10)) == 3
    assert (len(core), timeline(core), core.parking_lot_size()) == before
    assert len(core.get_block(10)) == 3


# ---------------------------------------------------------------- get_block with seen
def test_get_block_skips_seen_and_takes_successor_of_seen(core, accounts):
    a0, a1, a2 = (accounts.txn(0, s, gas_price=p) for s, p in ((0, 1), (1, 5), (2, 4)))
    b0 = accounts.txn(1, 0, gas_price=3)
    for txn in (a0, a1, a2, b0):
        assert add(core, txn) == Code.VALID
    seen = {a0.pointer}
    # A1's predecessor is seen: it is taken at its own priority, and A2 after it
    assert core.get_block(10, seen) == [a1, a2, b0]
    assert seen == {a0.pointer}, "get_block must not modify seen"
    frozen = frozenset({a0.pointer, a1.pointer})
    assert core.get_block(10, frozen) == [a2, b0]
    assert core.get_block(10, {a0.pointer, a1.pointer, a2.pointer, b0.pointer}) == []


def test_get_block_seen_gap_blocks_successor_without_seen_predecessor(core, accounts):
    # A2 is seen; A3's predecessor is seen so it may go; A1 needs A0 taken first
    txns = [accounts.txn(0, s, gas_price=p) for s, p in ((0, 1), (1, 2), (2, 3), (3, 4))]
    for txn in txns:
        assert add(core, txn) == Code.VALID
    seen = {txns[2].pointer}
    assert core.get_block(10, seen) == [txns[3], txns[0], txns[1]]
    assert core.get_block(1, seen) == [txns[3]]
    assert core.get_block(2, seen) == [txns[3], txns[0]]


def test_get_block_seen_of_unknown_pointers_is_harmless(core, accounts):
    assert add(core, accounts.txn(0, 0)) == Code.VALID
    seen = {(b"\x00" * 32, 0), (accounts.address(5), 3)}
    assert core.get_block(10, seen) == [accounts.txn(0, 0)]


class _StashingSeen(set):
    """A seen set that keeps every key it is asked about, and can raise on the n-th question."""

    def __init__(self, items, raise_at=None):
        super().__init__(items)
        self.asked = []
        self.raise_at = raise_at

    def __contains__(self, key):
        self.asked.append((key, tuple(key)))
        if self.raise_at is not None and len(self.asked) >= self.raise_at:
            raise LookupError("seen failed")
        return super().__contains__(key)


def _large_seen_pool(core, accounts):
    """Every account's seq 0 to 2 at mixed prices, and a `seen` of many unknown pointers plus
    two real ones (so a core may choose to ask it about visited entries only)."""
    txns = [accounts.txn(i, s, gas_price=(7 * i + 3 * s) % 11 + 1)
            for i in range(8) for s in range(3)]
    for txn in txns:
        assert add(core, txn) == Code.VALID
    stale = {(bytes([0xEE]) * 32, n) for n in range(2_000)}
    return txns, stale | {txns[0].pointer, txns[4].pointer}


def test_get_block_with_a_large_seen_of_any_kind_agrees(core, accounts):
    txns, seen = _large_seen_pool(core, accounts)
    expected = core.get_block(10, set(seen))
    assert txns[0] not in expected and txns[4] not in expected
    assert core.get_block(10, frozenset(seen)) == expected
    stashing = _StashingSeen(seen)
    assert core.get_block(10, stashing) == expected
    # a key a container kept is never changed afterwards
    assert all(tuple(key) == copy for key, copy in stashing.asked)


def test_get_block_propagates_an_error_of_seen_and_changes_nothing(core, accounts):
    txns, seen = _large_seen_pool(core, accounts)
    before = core.get_block(30, set(seen))
    with pytest.raises(LookupError, match="seen failed"):
        core.get_block(10, _StashingSeen(seen, raise_at=3))
    assert core.get_block(30, set(seen)) == before
    assert len(core) == len(txns)


def test_get_block_does_not_take_parked_transactions(core, accounts):
    assert add(core, accounts.txn(0, 1, gas_price=9)) == Code.VALID  # parked: seq 0 missing
    assert add(core, accounts.txn(1, 0)) == Code.VALID
    assert core.get_block(10) == [accounts.txn(1, 0)]
    # even with the missing predecessor "seen", a parked transaction is not offered
    assert core.get_block(10, {accounts.txn(0, 0).pointer}) == [accounts.txn(1, 0)]


# ---------------------------------------------------------------- updates
def test_update_with_strictly_higher_gas_price_replaces(core, accounts):
    old = accounts.txn(0, 0, gas_price=1, payload=b"p")
    follower = accounts.txn(0, 1, gas_price=1)
    new = accounts.txn(0, 0, gas_price=2, payload=b"p")
    assert add(core, old) == Code.VALID
    assert add(core, follower) == Code.VALID
    assert core.timeline_state(*old.pointer) == (READY, 1)
    assert add(core, new) == Code.VALID
    assert len(core) == 2
    assert core.get(*new.pointer) == new
    assert core.timeline_state(*new.pointer) == (READY, 3)  # a new id; 1 is gone for good
    assert core.timeline_state(*follower.pointer) == (READY, 2)
    assert timeline(core) == ([follower.pointer, new.pointer], 3)
    assert timeline(core, 2) == ([new.pointer], 3)
    assert core.get_block(10) == [new, follower]
    core._check()


def test_update_of_parked_transaction_stays_parked(core, accounts):
    old = accounts.txn(0, 3, gas_price=1)
    new = accounts.txn(0, 3, gas_price=7)
    assert add(core, old) == Code.VALID
    assert add(core, new) == Code.VALID
    assert core.get(*new.pointer) == new
    assert (len(core), core.parking_lot_size(), core.get_block(10)) == (1, 1, [])
    assert timeline(core) == ([], 0)
    for seq in range(3):
        assert add(core, accounts.txn(0, seq)) == Code.VALID
    assert core.get_block(10)[-1] == new
    core._check()


@pytest.mark.parametrize("change", [
    dict(signature=b"\x01" * 64),                # equal price, same fields, other bytes
    dict(gas_price=0),                           # lower price
    dict(gas_price=2, payload=b"other"),         # higher price, different payload
    dict(gas_price=2, max_gas=999),              # higher price, different max gas
    dict(gas_price=2, expiration=4_000_000_001),  # higher price, different expiration
    dict(gas_price=1, payload=b"other"),         # equal price, different payload
])
def test_rejected_updates(core, accounts, change):
    fields = dict(gas_price=1, payload=b"p", max_gas=1_000, expiration=4_000_000_000)
    old = accounts.txn(0, 0, **fields)
    if "signature" in change:
        candidate = SignedTransaction(
            sender=old.sender, sequence_number=0, payload=old.payload,
            max_gas_amount=old.max_gas_amount, gas_unit_price=old.gas_unit_price,
            expiration_time=old.expiration_time, public_key=old.public_key, **change)
    else:
        candidate = accounts.txn(0, 0, **{**fields, **change})
    assert candidate != old
    assert add(core, old) == Code.VALID
    status = core.add_txn(candidate, 1, 0, RICH, NOT_READY)
    assert status.code == Code.INVALID_UPDATE and status.message
    assert core.get(*old.pointer) == old
    assert core.timeline_state(*old.pointer) == (READY, 1)
    assert (len(core), timeline(core)) == (1, ([old.pointer], 1))
    core._check()


def test_identical_resubmission_is_valid_and_changes_nothing(core, accounts, clock):
    txn = accounts.txn(0, 0)
    parked = accounts.txn(0, 2)
    assert add(core, txn) == Code.VALID
    assert add(core, parked) == Code.VALID
    clock.advance(5)
    assert add(core, txn) == Code.VALID
    assert add(core, txn, state=NON_QUALIFIED) == Code.VALID
    assert add(core, parked) == Code.VALID
    assert len(core) == 2 and core.parking_lot_size() == 1
    assert core.timeline_state(*txn.pointer) == (READY, 1)
    assert timeline(core) == ([txn.pointer], 1)
    # the system expiry was not renewed: it still expires with the first insertion
    clock.advance(MempoolConfig().system_transaction_timeout_secs - 5 + 1)
    assert core.gc_by_system_ttl() == 2
    core._check()


def test_update_allowed_when_pool_is_full(make_core, accounts):
    core = make_core(capacity=1)
    assert add(core, accounts.txn(0, 0, gas_price=1)) == Code.VALID
    assert add(core, accounts.txn(0, 0, gas_price=1)) == Code.VALID  # identical
    assert add(core, accounts.txn(0, 0, gas_price=2)) == Code.VALID  # replacement
    assert core.get(accounts.address(0), 0).gas_unit_price == 2
    assert len(core) == 1


def test_update_allowed_when_account_is_at_its_cap(make_core, accounts):
    core = make_core(capacity_per_user=2)
    assert add(core, accounts.txn(0, 0)) == Code.VALID
    assert add(core, accounts.txn(0, 1)) == Code.VALID
    assert add(core, accounts.txn(0, 1, gas_price=3)) == Code.VALID
    assert core.get(accounts.address(0), 1).gas_unit_price == 3


# ---------------------------------------------------------------- balance
def test_balance_check_counts_pending_transactions(core, accounts):
    # every transaction costs gas 10 * price 2 = 20
    assert add(core, accounts.txn(0, 0, gas_price=2), gas=10, balance=40) == Code.VALID
    assert add(core, accounts.txn(0, 1, gas_price=2), gas=10, balance=40) == Code.VALID
    status = core.add_txn(accounts.txn(0, 2, gas_price=2), 10, 0, 59, NOT_READY)
    assert status.code == Code.INSUFFICIENT_BALANCE and status.message
    assert accounts.txn(0, 2).pointer not in core and len(core) == 2
    assert add(core, accounts.txn(0, 2, gas_price=2), gas=10, balance=60) == Code.VALID
    # another account's pending transactions do not count
    assert add(core, accounts.txn(1, 0, gas_price=2), gas=10, balance=20) == Code.VALID
    # free transactions pass with no balance
    assert add(core, accounts.txn(2, 0, gas_price=0), gas=10, balance=0) == Code.VALID


def test_insufficient_balance_changes_nothing_not_even_the_sequence_cache(core, accounts):
    # with db 5 the cache would learn 5; a rejected-for-balance add must not teach it
    assert add(core, accounts.txn(0, 5, gas_price=1), gas=10, db=5, balance=9) \
        == Code.INSUFFICIENT_BALANCE
    assert len(core) == 0 and core.parking_lot_size() == 0
    assert add(core, accounts.txn(0, 3), db=0) == Code.VALID


def test_insufficient_balance_is_checked_before_sequence_number(core, accounts):
    assert add(core, accounts.txn(0, 1, gas_price=1), gas=10, db=5, balance=0) \
        == Code.INSUFFICIENT_BALANCE


def test_replacement_balance_counts_the_replaced_transaction(core, accounts):
    assert add(core, accounts.txn(0, 0, gas_price=1), gas=10, balance=100) == Code.VALID
    # held 10 + new 20 = 30
    assert add(core, accounts.txn(0, 0, gas_price=2), gas=10, balance=29) \
        == Code.INSUFFICIENT_BALANCE
    assert core.get(accounts.address(0), 0).gas_unit_price == 1
    assert add(core, accounts.txn(0, 0, gas_price=2), gas=10, balance=30) == Code.VALID
    # after the replacement only the new cost is held: 20 + 20 = 40
    assert add(core, accounts.txn(0, 1, gas_price=2), gas=10, balance=39) \
        == Code.INSUFFICIENT_BALANCE
    assert add(core, accounts.txn(0, 1, gas_price=2), gas=10, balance=40) == Code.VALID


def test_balance_product_does_not_wrap_at_64_bits(core, accounts):
    # 2**63 * 4 = 2**65: a 64-bit wrap would make it 0 and pass
    txn = accounts.txn(0, 0, gas_price=4)
    assert add(core, txn, gas=2**63, balance=U64_MAX) == Code.INSUFFICIENT_BALANCE
    assert add(core, txn, gas=2**62, balance=U64_MAX) == Code.INSUFFICIENT_BALANCE
    assert add(core, txn, gas=2**61, balance=U64_MAX) == Code.VALID
    # the held sum does not wrap either: 2**63 + 2**63 = 2**64 > U64_MAX
    assert add(core, accounts.txn(0, 1, gas_price=4), gas=2**61, balance=U64_MAX) \
        == Code.INSUFFICIENT_BALANCE


def test_gas_refunded_when_transactions_leave(core, accounts):
    assert add(core, accounts.txn(0, 0, gas_price=1), gas=10, balance=10) == Code.VALID
    core.remove_transaction(accounts.address(0), 0, False)
    assert add(core, accounts.txn(0, 1, gas_price=1), gas=10, balance=10) == Code.VALID


# ---------------------------------------------------------------- sequence numbers
def test_invalid_seq_number_below_db_value(core, accounts):
    status = core.add_txn(accounts.txn(0, 3), 1, 5, RICH, NOT_READY)
    assert status.code == Code.INVALID_SEQ_NUMBER and status.message
    assert len(core) == 0
    assert add(core, accounts.txn(0, 5), db=5) == Code.VALID


def test_invalid_seq_number_still_stores_the_cache(core, accounts):
    assert add(core, accounts.txn(0, 3), db=5) == Code.INVALID_SEQ_NUMBER
    # the cache now says 5: a stale db value of 0 no longer admits 4
    assert add(core, accounts.txn(0, 4), db=0) == Code.INVALID_SEQ_NUMBER
    assert add(core, accounts.txn(0, 5), db=0) == Code.VALID
    # and 5 is current, so it is ready right away
    assert core.get_block(10) == [accounts.txn(0, 5)]
    assert timeline(core) == ([accounts.txn(0, 5).pointer], 1)


def test_current_is_max_of_cache_and_db(core, accounts):
    assert add(core, accounts.txn(0, 2), db=2) == Code.VALID
    assert add(core, accounts.txn(0, 1), db=0) == Code.INVALID_SEQ_NUMBER  # cache 2 wins
    assert add(core, accounts.txn(0, 4), db=4) == Code.VALID  # db 4 wins; 2 is cleaned
    assert len(core) == 1 and core.get_block(10) == [accounts.txn(0, 4)]


def test_sequence_number_cache_on_empty_pool(core, accounts):
    # Libra: after a commit empties the pool, the cache still knows the account's sequence
    assert add(core, accounts.txn(0, 0)) == Code.VALID
    assert add(core, accounts.txn(0, 1)) == Code.VALID
    core.remove_transaction(accounts.address(0), 1, False)
    assert len(core) == 0
    assert add(core, accounts.txn(0, 1), db=0) == Code.INVALID_SEQ_NUMBER
    assert add(core, accounts.txn(0, 2), db=0) == Code.VALID
    assert core.get_block(10) == [accounts.txn(0, 2)]


def test_sequence_cache_is_least_recently_used_with_capacity_accounts(make_core, accounts):
    core = make_core(capacity=2)
    for index in (0, 1):
        assert add(core, accounts.txn(index, 0), db=5) == Code.INVALID_SEQ_NUMBER
    assert add(core, accounts.txn(0, 0), db=5) == Code.INVALID_SEQ_NUMBER  # touches account 0
    assert add(core, accounts.txn(2, 0), db=5) == Code.INVALID_SEQ_NUMBER  # evicts account 1
    assert add(core, accounts.txn(0, 4), db=0) == Code.INVALID_SEQ_NUMBER  # 0 still cached
    assert add(core, accounts.txn(1, 4), db=0) == Code.VALID  # 1 forgotten: db 0 rules


def test_clean_stuck_transactions_below_new_db_sequence_number(core, accounts):
    for seq in range(5):
        assert add(core, accounts.txn(0, seq)) == Code.VALID
    assert add(core, accounts.txn(0, 7)) == Code.VALID  # parked
    assert add(core, accounts.txn(0, 10), db=10) == Code.VALID
    assert len(core) == 1 and core.parking_lot_size() == 0
    assert core.get_block(1) == [accounts.txn(0, 10)]
    assert timeline(core) == ([accounts.txn(0, 10).pointer], 6)  # ids 1..5 left the timeline
    core._check()


def test_cleaning_stuck_transactions_makes_room_under_the_account_cap(make_core, accounts):
    core = make_core(capacity_per_user=2)
    assert add(core, accounts.txn(0, 0)) == Code.VALID
    assert add(core, accounts.txn(0, 1)) == Code.VALID
    assert add(core, accounts.txn(0, 2)) == Code.TOO_MANY_TRANSACTIONS
    assert add(core, accounts.txn(0, 2), db=1) == Code.VALID  # 0 dropped first
    assert ptrs(core.get_block(10)) == [accounts.txn(0, s).pointer for s in (1, 2)]


def test_cleaning_the_only_transactions_keeps_the_new_one_indexed(core, accounts):
    # a new db value drops all the account held; the new transaction must still be found
    assert add(core, accounts.txn(0, 5), db=5) == Code.VALID
    assert add(core, accounts.txn(0, 7), db=6) == Code.VALID
    assert accounts.txn(0, 7).pointer in core
    assert core.get(accounts.address(0), 7) == accounts.txn(0, 7)
    assert (len(core), core.parking_lot_size()) == (1, 1)
    assert add(core, accounts.txn(0, 6), db=6) == Code.VALID
    assert ptrs(core.get_block(10)) == [accounts.txn(0, s).pointer for s in (6, 7)]
    core._check()


# ---------------------------------------------------------------- commit / reject
def test_commit_removes_everything_up_to_it_and_promotes_followers(core, accounts):
    for seq in (0, 1, 2, 4):
        assert add(core, accounts.txn(0, seq)) == Code.VALID
    assert (core.parking_lot_size(), timeline(core)[1]) == (1, 3)
    core.remove_transaction(accounts.address(0), 1, False)
    assert [(accounts.address(0), s) in core for s in range(5)] == [False, False, True, False, True]
    assert core.get_block(10) == [accounts.txn(0, 2)]
    assert add(core, accounts.txn(0, 3)) == Code.VALID
    assert ptrs(core.get_block(10)) == [accounts.txn(0, s).pointer for s in (2, 3, 4)]
    assert core.parking_lot_size() == 0
    assert timeline(core, 3) == ([accounts.txn(0, s).pointer for s in (3, 4)], 5)
    core._check()


def test_commit_below_current_changes_nothing(core, accounts):
    for seq in range(3):
        assert add(core, accounts.txn(0, seq)) == Code.VALID
    core.remove_transaction(accounts.address(0), 1, False)
    core.remove_transaction(accounts.address(0), 0, False)  # late, lower commit
    assert len(core) == 1
    assert add(core, accounts.txn(0, 1), db=0) == Code.INVALID_SEQ_NUMBER  # cache stays 2
    assert core.get_block(10) == [accounts.txn(0, 2)]


def test_commit_beyond_held_transactions(core, accounts):
    for seq in range(3):
        assert add(core, accounts.txn(0, seq)) == Code.VALID
    core.remove_transaction(accounts.address(0), 9, False)
    assert len(core) == 0 and timeline(core) == ([], 0)
    assert add(core, accounts.txn(0, 9), db=0) == Code.INVALID_SEQ_NUMBER
    assert add(core, accounts.txn(0, 10), db=0) == Code.VALID
    assert core.get_block(10) == [accounts.txn(0, 10)]


def test_commit_callback_unblocks_future_sequence_number(core, accounts):
    # Libra: a commit of seq 0 for an account with nothing in the pool makes seq 1 ready
    assert add(core, accounts.txn(0, 1)) == Code.VALID
    assert core.get_block(10) == [] and core.parking_lot_size() == 1
    core.remove_transaction(accounts.address(0), 0, False)
    assert core.get_block(10) == [accounts.txn(0, 1)]
    assert core.parking_lot_size() == 0
    assert timeline(core) == ([accounts.txn(0, 1).pointer], 1)


def test_commit_on_empty_pool_sets_the_current_sequence(core, accounts):
    core.remove_transaction(accounts.address(0), 4, False)
    assert len(core) == 0
    assert add(core, accounts.txn(0, 4)) == Code.INVALID_SEQ_NUMBER
    assert add(core, accounts.txn(0, 5)) == Code.VALID
    assert core.get_block(10) == [accounts.txn(0, 5)]


def test_commit_at_u64_max_does_not_wrap(core, accounts):
    assert add(core, accounts.txn(0, 0)) == Code.VALID
    assert add(core, accounts.txn(0, 3)) == Code.VALID
    core.remove_transaction(accounts.address(0), U64_MAX, False)
    assert len(core) == 0
    assert add(core, accounts.txn(0, 5)) == Code.INVALID_SEQ_NUMBER
    core._check()


def test_commit_leaves_other_accounts_alone(core, accounts):
    assert add(core, accounts.txn(0, 0)) == Code.VALID
    assert add(core, accounts.txn(1, 0)) == Code.VALID
    core.remove_transaction(accounts.address(0), 0, False)
    assert core.get_block(10) == [accounts.txn(1, 0)]


def test_reject_below_current_changes_nothing(core, accounts):
    for seq in range(3):
        assert add(core, accounts.txn(0, seq)) == Code.VALID
    core.remove_transaction(accounts.address(0), 0, False)  # current becomes 1
    core.remove_transaction(accounts.address(0), 0, True)
    assert len(core) == 2
    assert ptrs(core.get_block(10)) == [accounts.txn(0, s).pointer for s in (1, 2)]
    assert add(core, accounts.txn(0, 0), db=0) == Code.INVALID_SEQ_NUMBER  # cache kept


def test_reject_removes_all_account_transactions_and_resets_the_cache(core, accounts):
    for seq in (3, 4, 6):
        assert add(core, accounts.txn(0, seq), db=3) == Code.VALID
    assert add(core, accounts.txn(1, 0)) == Code.VALID
    core.remove_transaction(accounts.address(0), 4, True)
    assert len(core) == 1 and core.parking_lot_size() == 0
    assert all((accounts.address(0), s) not in core for s in (3, 4, 6))
    assert timeline(core, 0)[0] == [accounts.txn(1, 0).pointer]
    # reset after rejection: the next add starts from the db value, not the cached 3
    assert add(core, accounts.txn(0, 1), db=1) == Code.VALID
    assert accounts.txn(0, 1) in core.get_block(10)
    core._check()


def test_reject_with_nothing_cached_removes_all(core, accounts):
    core.remove_transaction(accounts.address(0), 0, True)  # nothing there: no error
    assert len(core) == 0
    assert add(core, accounts.txn(0, 2), db=2) == Code.VALID
    assert add(core, accounts.txn(0, 3), db=2) == Code.VALID
    core.remove_transaction(accounts.address(0), 2, True)
    assert len(core) == 0
    assert add(core, accounts.txn(0, 0), db=0) == Code.VALID


def test_reject_above_held_transactions_still_removes_all(core, accounts):
    assert add(core, accounts.txn(0, 0)) == Code.VALID
    assert add(core, accounts.txn(0, 1)) == Code.VALID
    core.remove_transaction(accounts.address(0), 7, True)
    assert len(core) == 0 and timeline(core) == ([], 0)


# ---------------------------------------------------------------- garbage collection
def test_gc_by_system_ttl_uses_the_clock_strictly(make_core, accounts, clock):
    core = make_core(system_transaction_timeout_secs=10)
    assert add(core, accounts.txn(0, 0)) == Code.VALID
    clock.advance(4)
    assert add(core, accounts.txn(1, 0)) == Code.VALID
    assert add(core, accounts.txn(2, 0)) == Code.VALID
    clock.advance(6)  # first expiry == now: not strictly before
    assert core.gc_by_system_ttl() == 0 and len(core) == 3
    clock.advance(0.001)
    assert core.gc_by_system_ttl() == 1
    assert accounts.txn(0, 0).pointer not in core and len(core) == 2
    assert core.gc_by_system_ttl() == 0
    clock.advance(4)
    assert core.gc_by_system_ttl() == 2 and len(core) == 0
    core._check()


def test_gc_by_system_ttl_counts_parked_too(make_core, accounts, clock):
    core = make_core(system_transaction_timeout_secs=10)
    assert add(core, accounts.txn(0, 3)) == Code.VALID
    assert add(core, accounts.txn(1, 0)) == Code.VALID
    clock.advance(11)
    assert core.gc_by_system_ttl() == 2
    assert (len(core), core.parking_lot_size(), core.get_block(10)) == (0, 0, [])


def test_gc_by_expiration_time_uses_block_time_strictly(core, accounts):
    assert add(core, accounts.txn(0, 0, expiration=100)) == Code.VALID
    assert add(core, accounts.txn(1, 0, expiration=200)) == Code.VALID
    assert add(core, accounts.txn(2, 0, expiration=300)) == Code.VALID
    assert core.gc_by_expiration_time(100) == 0
    assert core.gc_by_expiration_time(100.5) == 1
    assert accounts.txn(0, 0, expiration=100).pointer not in core
    assert core.gc_by_expiration_time(150) == 0
    assert core.gc_by_expiration_time(10**6) == 2 and len(core) == 0
    core._check()


@pytest.mark.parametrize("gc", ["system_ttl", "expiration"])
def test_gc_of_ready_transaction_parks_successors_until_gap_refilled(
        make_core, accounts, clock, gc):
    core = make_core(system_transaction_timeout_secs=10)
    first = accounts.txn(0, 0, expiration=100)
    assert add(core, first) == Code.VALID
    clock.advance(5)
    follower = accounts.txn(0, 1)
    peer_txn = accounts.txn(0, 2)
    last = accounts.txn(0, 3)
    assert add(core, follower) == Code.VALID
    assert add(core, peer_txn, state=NON_QUALIFIED) == Code.VALID
    assert add(core, last) == Code.VALID
    assert timeline(core) == ([first.pointer, follower.pointer, last.pointer], 3)
    if gc == "system_ttl":
        clock.advance(6)
        assert core.gc_by_system_ttl() == 1
    else:
        assert core.gc_by_expiration_time(101) == 1
    assert first.pointer not in core
    assert (len(core), core.parking_lot_size(), core.priority_index_size()) == (3, 3, 0)
    assert core.get_block(10) == []
    assert timeline(core) == ([], 0)
    assert core.timeline_state(*follower.pointer) == (NOT_READY, 0)
    assert core.timeline_state(*peer_txn.pointer) == (NON_QUALIFIED, 0)
    core._check()
    # the gap is refilled: successors are ready again and broadcast again, with new ids
    again = accounts.txn(0, 0)
    assert add(core, again) == Code.VALID
    assert core.parking_lot_size() == 0
    assert core.get_block(10) == [again, follower, peer_txn, last]
    assert timeline(core) == ([again.pointer, follower.pointer, last.pointer], 6)
    assert core.timeline_state(*follower.pointer) == (READY, 5)
    assert core.timeline_state(*peer_txn.pointer) == (NON_QUALIFIED, 0)
    core._check()


def test_gc_leaves_earlier_transactions_of_the_account_ready(make_core, accounts):
    core = make_core()
    assert add(core, accounts.txn(0, 0)) == Code.VALID
    assert add(core, accounts.txn(0, 1, expiration=50)) == Code.VALID
    assert add(core, accounts.txn(0, 2)) == Code.VALID
    assert core.gc_by_expiration_time(60) == 1
    assert core.get_block(10) == [accounts.txn(0, 0)]
    assert core.parking_lot_size() == 1
    assert timeline(core) == ([accounts.txn(0, 0).pointer], 1)


# ---------------------------------------------------------------- timeline and parking lot
def test_timeline_and_parking_lot_as_gaps_fill_and_commits_land(core, accounts):
    a = [accounts.txn(0, s) for s in range(6)]
    assert add(core, a[1]) == Code.VALID
    assert add(core, a[2]) == Code.VALID
    assert (len(core), core.parking_lot_size(), timeline(core)) == (2, 2, ([], 0))
    assert add(core, a[0]) == Code.VALID  # fills the gap: 0, 1, 2 ready in sequence order
    assert (core.parking_lot_size(), timeline(core)) == (0, (ptrs(a[:3]), 3))
    assert add(core, a[4]) == Code.VALID
    assert (core.parking_lot_size(), timeline(core)[1]) == (1, 3)
    core.remove_transaction(accounts.address(0), 3, False)  # 0..2 gone, 4 becomes ready
    assert (len(core), core.parking_lot_size()) == (1, 0)
    assert timeline(core) == ([a[4].pointer], 4)
    assert add(core, a[5]) == Code.VALID
    assert timeline(core, 4) == ([a[5].pointer], 5)
    core._check()


def test_read_timeline_cursor_and_count(core, accounts):
    txns = [accounts.txn(0, 0), accounts.txn(0, 1), accounts.txn(1, 0), accounts.txn(2, 0)]
    for txn in txns:
        assert add(core, txn) == Code.VALID
    assert core.read_timeline(0, 10) == (txns, 4)
    assert core.read_timeline(0, 2) == (txns[:2], 2)
    assert core.read_timeline(2, 1) == (txns[2:3], 3)
    assert core.read_timeline(3, 10) == (txns[3:], 4)
    assert core.read_timeline(4, 10) == ([], 4)
    assert core.read_timeline(99, 10) == ([], 99)
    assert core.read_timeline(1, 0) == ([], 1)


def test_timeline_ids_start_at_one_and_are_never_reused(core, accounts):
    assert add(core, accounts.txn(0, 0)) == Code.VALID
    assert add(core, accounts.txn(1, 0)) == Code.VALID
    assert core.timeline_state(*accounts.txn(0, 0).pointer) == (READY, 1)
    core.remove_transaction(accounts.address(0), 0, False)
    core.remove_transaction(accounts.address(1), 0, True)
    assert (len(core), timeline(core)) == (0, ([], 0))
    assert add(core, accounts.txn(2, 0)) == Code.VALID
    assert core.read_timeline(0, 10) == ([accounts.txn(2, 0)], 3)
    assert core.timeline_state(*accounts.txn(2, 0).pointer) == (READY, 3)
    # a peer holding cursor 2 sees only the new one
    assert core.read_timeline(2, 10) == ([accounts.txn(2, 0)], 3)


def test_timeline_skips_removed_ids(core, accounts):
    for index in range(3):
        assert add(core, accounts.txn(index, 0)) == Code.VALID
    core.remove_transaction(accounts.address(1), 0, False)
    assert core.read_timeline(0, 10) == ([accounts.txn(0, 0), accounts.txn(2, 0)], 3)
    assert core.read_timeline(1, 1) == ([accounts.txn(2, 0)], 3)


def test_timeline_reads_stay_exact_while_tombstones_are_compacted(make_core, accounts):
    """Thousands of removals in random order, with adds and reads between them, drive the
    timeline through its compactions: every read returns exactly the live entries, in id
    order, from any cursor."""
    import random

    rng = random.Random(12)
    core = make_core(capacity=100_000)
    txn_cls = accounts.txn_cls

    def txn(i):
        return txn_cls(sender=i.to_bytes(32, "big"), sequence_number=0, payload=b"",
                       max_gas_amount=1, gas_unit_price=1, expiration_time=4_000_000_000,
                       public_key=bytes(32), signature=bytes(64))

    live = {}  # timeline id -> sender index, in id order
    next_sender = 0

    def add_some(n):
        nonlocal next_sender
        for _ in range(n):
            assert add(core, txn(next_sender)) == Code.VALID
            _, last = core.read_timeline(max(live, default=0), 1_000_000)
            live[last] = next_sender
            next_sender += 1

    add_some(5_000)
    for round_ in range(60):
        for tid in rng.sample(sorted(live), min(len(live), rng.randrange(20, 200))):
            core.remove_transaction(live.pop(tid).to_bytes(32, "big"), 0, False)
        add_some(rng.randrange(0, 40))
        ids = sorted(live)
        batch, last = core.read_timeline(0, 1_000_000)
        assert [int.from_bytes(t.sender, "big") for t in batch] == [live[i] for i in ids]
        assert last == (ids[-1] if ids else 0)
        cursor = ids[len(ids) // 3] if ids else 0
        batch, _ = core.read_timeline(cursor, 7)
        assert [int.from_bytes(t.sender, "big") for t in batch] == [
            live[i] for i in ids if i > cursor][:7]
        lo, hi = (ids[len(ids) // 4], ids[3 * len(ids) // 4]) if ids else (0, 0)
        assert [int.from_bytes(t.sender, "big") for t in core.timeline_range(lo, hi)] == [
            live[i] for i in ids if lo < i <= hi]
        if round_ % 10 == 0:
            core._check()
    core._check()


def test_non_qualified_never_in_timeline_but_in_get_block(core, accounts):
    peer0 = accounts.txn(0, 0)
    peer2 = accounts.txn(0, 2)
    local1 = accounts.txn(0, 1)
    assert add(core, peer0, state=NON_QUALIFIED) == Code.VALID
    assert add(core, peer2, state=NON_QUALIFIED) == Code.VALID
    assert timeline(core) == ([], 0)
    assert core.timeline_state(*peer0.pointer) == (NON_QUALIFIED, 0)
    assert core.get_block(10) == [peer0]
    assert core.parking_lot_size() == 1
    assert add(core, local1) == Code.VALID  # fills the gap: only the local one is broadcast
    assert timeline(core) == ([local1.pointer], 1)
    assert core.get_block(10) == [peer0, local1, peer2]
    assert core.parking_lot_size() == 0
    core._check()


@pytest.mark.parametrize("state", [TimelineState.READY, 7, "NOT_READY", None])
def test_add_txn_rejects_bad_timeline_state(core, accounts, state):
    with pytest.raises(ValueError):
        core.add_txn(accounts.txn(0, 3), 1, 3, RICH, state)
    assert len(core) == 0
    # nothing was cached either: db 0 still admits seq 0
    assert add(core, accounts.txn(0, 0), db=0) == Code.VALID


# ---------------------------------------------------------------- capacity
def test_mempool_is_full(make_core, accounts):
    core = make_core(capacity=2)
    assert add(core, accounts.txn(0, 0)) == Code.VALID
    assert add(core, accounts.txn(1, 0)) == Code.VALID
    assert core.health_check() is False
    status = core.add_txn(accounts.txn(2, 0), 1, 0, RICH, NOT_READY)
    assert status.code == Code.MEMPOOL_IS_FULL and status.message
    assert len(core) == 2 and accounts.txn(2, 0).pointer not in core
    core.remove_transaction(accounts.address(0), 0, False)
    assert core.health_check() is True
    assert add(core, accounts.txn(2, 0)) == Code.VALID


def test_sequence_check_comes_before_full(make_core, accounts):
    core = make_core(capacity=1)
    assert add(core, accounts.txn(0, 0)) == Code.VALID
    assert add(core, accounts.txn(1, 0), db=1) == Code.INVALID_SEQ_NUMBER


def test_parking_lot_eviction_takes_greatest_parked_pointer(make_core, accounts):
    low, high = by_address(accounts, 1, 2)
    core = make_core(capacity=5)
    assert add(core, accounts.txn(0, 0)) == Code.VALID
    assert add(core, accounts.txn(low, 3)) == Code.VALID
    assert add(core, accounts.txn(high, 3)) == Code.VALID
    assert add(core, accounts.txn(high, 4)) == Code.VALID
    assert add(core, accounts.txn(low, 5)) == Code.VALID
    assert (len(core), core.parking_lot_size(), core.health_check()) == (5, 4, True)
    expected_victims = [(high, 4), (high, 3), (low, 5), (low, 3)]
    for n, (index, seq) in enumerate(expected_victims):
        newcomer = accounts.txn(3 + n, 0)
        assert add(core, newcomer) == Code.VALID
        assert accounts.txn(index, seq).pointer not in core
        assert newcomer.pointer in core and len(core) == 5
        assert core.parking_lot_size() == 3 - n
        core._check()
    assert core.health_check() is False
    assert add(core, accounts.txn(9, 0)) == Code.MEMPOOL_IS_FULL


def test_eviction_for_a_transaction_ready_after_a_run(make_core, accounts):
    core = make_core(capacity=3)
    assert add(core, accounts.txn(0, 0)) == Code.VALID
    assert add(core, accounts.txn(0, 1)) == Code.VALID
    assert add(core, accounts.txn(1, 5)) == Code.VALID  # parked
    assert add(core, accounts.txn(0, 2)) == Code.VALID  # would be ready: evicts (1, 5)
    assert accounts.txn(1, 5).pointer not in core
    assert len(core.get_block(10)) == 3


def test_evict_only_for_a_ready_transaction(make_core, accounts):
    core = make_core(capacity=3)
    assert add(core, accounts.txn(0, 0)) == Code.VALID
    assert add(core, accounts.txn(1, 2)) == Code.VALID  # parked
    assert add(core, accounts.txn(2, 2)) == Code.VALID  # parked
    before = (len(core), core.parking_lot_size())
    # would-be-parked newcomers, new account or gap in an existing one: no eviction
    assert add(core, accounts.txn(3, 1)) == Code.MEMPOOL_IS_FULL
    assert add(core, accounts.txn(0, 2)) == Code.MEMPOOL_IS_FULL
    assert (len(core), core.parking_lot_size()) == before
    assert accounts.txn(1, 2).pointer in core and accounts.txn(2, 2).pointer in core
    # a would-be-ready one (current sequence of its account) does evict
    assert add(core, accounts.txn(0, 1)) == Code.VALID
    assert (len(core), core.parking_lot_size()) == (3, 1)


def test_eviction_uses_the_db_sequence_to_judge_readiness(make_core, accounts):
    core = make_core(capacity=2)
    assert add(core, accounts.txn(0, 4)) == Code.VALID  # parked (current 0)
    assert add(core, accounts.txn(1, 4)) == Code.VALID  # parked
    # with db 7 the newcomer is current: it evicts, then lands ready
    assert add(core, accounts.txn(2, 7), db=7) == Code.VALID
    assert core.get_block(10) == [accounts.txn(2, 7)]
    assert len(core) == 2 and core.parking_lot_size() == 1


def test_too_many_transactions_per_account(make_core, accounts):
    core = make_core(capacity_per_user=3)
    for seq in range(3):
        assert add(core, accounts.txn(0, seq)) == Code.VALID
    status = core.add_txn(accounts.txn(0, 3), 1, 0, RICH, NOT_READY)
    assert status.code == Code.TOO_MANY_TRANSACTIONS and status.message
    assert add(core, accounts.txn(0, 9)) == Code.TOO_MANY_TRANSACTIONS  # parked ones count too
    assert len(core) == 3
    assert add(core, accounts.txn(1, 0)) == Code.VALID  # the cap is per account
    core.remove_transaction(accounts.address(0), 0, False)
    assert add(core, accounts.txn(0, 3)) == Code.VALID


# ---------------------------------------------------------------- queries
def test_health_check(make_core, accounts):
    core = make_core(capacity=2)
    assert core.health_check() is True
    assert add(core, accounts.txn(0, 0)) == Code.VALID
    assert core.health_check() is True
    assert add(core, accounts.txn(1, 1)) == Code.VALID  # parked, full
    assert core.health_check() is True  # something can be evicted
    core.remove_transaction(accounts.address(1), 1, True)
    assert add(core, accounts.txn(1, 0)) == Code.VALID
    assert core.health_check() is False


def test_contains_get_len_parking_lot_size(core, accounts):
    assert len(core) == 0 and core.parking_lot_size() == 0
    assert (accounts.address(0), 0) not in core
    assert core.get(accounts.address(0), 0) is None
    assert add(core, accounts.txn(0, 0)) == Code.VALID
    assert add(core, accounts.txn(0, 2)) == Code.VALID
    assert (accounts.address(0), 0) in core and (accounts.address(0), 2) in core
    assert (accounts.address(0), 1) not in core and (accounts.address(1), 0) not in core
    assert core.get(accounts.address(0), 2) == accounts.txn(0, 2)
    assert core.get(accounts.address(0), 1) is None
    assert len(core) == 2 and core.parking_lot_size() == 1
    assert core.priority_index_size() == 1


# ---------------------------------------------------------------- time comes only from the clock
class StrictClock:
    """A clock that counts calls and raises unless a call is expected."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.calls = 0
        self.allowed = False

    def __call__(self) -> float:
        if not self.allowed:
            raise AssertionError("clock read at an unexpected time")
        self.calls += 1
        return self.now


def test_clock_is_the_only_time_source(core_cls, accounts, monkeypatch):
    clock = StrictClock(5_000.0)  # far from real time: a time.time() expiry would not expire
    core = core_cls(MempoolConfig(system_transaction_timeout_secs=10), clock=clock)

    def no_real_time():
        raise AssertionError("the core read real time")

    monkeypatch.setattr(time, "time", no_real_time)
    monkeypatch.setattr(time, "monotonic", no_real_time)
    clock.allowed = True
    assert add(core, accounts.txn(0, 0)) == Code.VALID
    assert add(core, accounts.txn(0, 1, expiration=50)) == Code.VALID
    assert clock.calls >= 1
    clock.allowed = False
    # reading, committing and expiring by block time need no clock
    assert len(core.get_block(10)) == 2
    assert core.read_timeline(0, 10)[1] == 2
    assert core.gc_by_expiration_time(60) == 1
    core.remove_transaction(accounts.address(1), 0, False)
    assert core.health_check() and len(core) == 1
    clock.allowed = True
    clock.now = 5_011.0
    assert core.gc_by_system_ttl() == 1
    assert len(core) == 0


def test_default_clock_and_config(core_cls, accounts):
    core = core_cls(MempoolConfig())
    assert add(core, accounts.txn(0, 0)) == Code.VALID
    assert core.gc_by_system_ttl() == 0
    assert core.get_block(1) == [accounts.txn(0, 0)]


# ---------------------------------------------------------------- a raised current, and stale entries
def test_raised_current_promotes_parked_even_when_the_add_is_rejected(core, accounts):
    # the cache learns 2 from a rejected add: seq 2, present, is ready from that moment
    assert add(core, accounts.txn(0, 2)) == Code.VALID
    assert add(core, accounts.txn(0, 3), state=NON_QUALIFIED) == Code.VALID
    assert core.parking_lot_size() == 2
    assert add(core, accounts.txn(0, 0), db=2) == Code.INVALID_SEQ_NUMBER
    assert core.parking_lot_size() == 0
    assert ptrs(core.get_block(10)) == [accounts.txn(0, s).pointer for s in (2, 3)]
    assert timeline(core) == ([accounts.txn(0, 2).pointer], 1)
    core._check()


def test_raised_current_readies_run_before_eviction_is_judged(make_core, accounts):
    # with db 2, seq 2 and 3 are ready: they are not eviction candidates for seq 4
    low, high = by_address(accounts, 0, 1)  # were (high, 3) parked, it would be the victim
    core = make_core(capacity=3)
    assert add(core, accounts.txn(high, 2)) == Code.VALID
    assert add(core, accounts.txn(high, 3)) == Code.VALID
    assert add(core, accounts.txn(low, 5)) == Code.VALID
    assert add(core, accounts.txn(high, 4), db=2) == Code.VALID
    assert accounts.txn(low, 5).pointer not in core
    assert ptrs(core.get_block(10)) == [accounts.txn(high, s).pointer for s in (2, 3, 4)]
    assert core.parking_lot_size() == 0


def test_gc_of_stale_transaction_below_current_keeps_the_run_ready(core, accounts):
    stale = accounts.txn(0, 0, expiration=150)
    assert add(core, stale) == Code.VALID
    assert add(core, accounts.txn(0, 1)) == Code.VALID
    assert add(core, accounts.txn(0, 2)) == Code.VALID
    # a rejected add teaches current 1: seq 0 stays held (stale) until the next admitted add
    assert add(core, accounts.txn(0, 0), db=1) == Code.INVALID_SEQ_NUMBER
    assert core.gc_by_expiration_time(151) == 1
    assert stale.pointer not in core
    assert core.parking_lot_size() == 0
    assert ptrs(core.get_block(10)) == [accounts.txn(0, s).pointer for s in (1, 2)]
    assert timeline(core) == ([accounts.txn(0, s).pointer for s in (1, 2)], 3)
    core._check()


# ---------------------------------------------------------------- public names (docs/design.md §4 header)
def test_public_names_and_status_codes():
    import mempool_fast
    from mempool_fast import (CoreMempool, IMPLEMENTATION, MempoolAddTransactionStatus,
                              MempoolAddTransactionStatusCode)
    from mempool_fast.pure import CoreMempool as PyCoreMempool

    assert IMPLEMENTATION in ("cython", "python")
    assert (CoreMempool is PyCoreMempool) == (IMPLEMENTATION == "python")
    assert mempool_fast.MempoolConfig is MempoolConfig
    assert {s.name for s in TimelineState} == {"NOT_READY", "READY", "NON_QUALIFIED"}
    assert {c.name for c in MempoolAddTransactionStatusCode} >= {
        "VALID", "INSUFFICIENT_BALANCE", "INVALID_SEQ_NUMBER", "MEMPOOL_IS_FULL",
        "TOO_MANY_TRANSACTIONS", "INVALID_UPDATE", "INVALID_SIGNATURE", "INVALID_SENDER",
        "PAYLOAD_TOO_LARGE", "MAX_GAS_TOO_HIGH", "UNKNOWN_ACCOUNT"}
    status = MempoolAddTransactionStatus(MempoolAddTransactionStatusCode.VALID, "ok")
    assert (status.code, status.message) == (MempoolAddTransactionStatusCode.VALID, "ok")


def test_get_block_serves_accounts_the_sequence_cache_dropped(make_core, accounts):
    # Libra defect fixed: the LRU cache (capacity = mempool capacity) forgets accounts that
    # still have ready transactions when many others are touched; they must stay pullable.
    core = make_core(capacity=2)
    first = [accounts.txn(0, 0), accounts.txn(1, 0)]
    assert [add(core, t) for t in first] == [Code.VALID] * 2
    assert add(core, accounts.txn(2, 0)) == Code.MEMPOOL_IS_FULL  # caches 2, drops 0
    assert add(core, accounts.txn(3, 0)) == Code.MEMPOOL_IS_FULL  # caches 3, drops 1
    assert core.sequence_number(accounts.address(0)) is None
    assert sorted(ptrs(core.get_block(10))) == sorted(ptrs(first))


def test_get_block_after_cache_drop_still_orders_an_account(make_core, accounts):
    core = make_core(capacity=3)
    run = [accounts.txn(0, 0), accounts.txn(0, 1)]
    assert [add(core, t) for t in run] == [Code.VALID] * 2
    assert add(core, accounts.txn(1, 0)) == Code.VALID
    for i in range(2, 6):  # rejected adds push account 0 out of the cache
        assert add(core, accounts.txn(i, 0)) == Code.MEMPOOL_IS_FULL
    assert core.sequence_number(accounts.address(0)) is None
    block = core.get_block(10)
    assert len(block) == 3
    assert ptrs(block).index(run[0].pointer) < ptrs(block).index(run[1].pointer)
    assert ptrs(core.get_block(10, seen={run[0].pointer})).count(run[1].pointer) == 1


def test_system_ttl_gc_when_the_clock_went_back(make_core, clock, accounts):
    core = make_core(system_transaction_timeout_secs=100)
    late = accounts.txn(0, 0)
    assert add(core, late) == Code.VALID  # expires at now + 100
    clock.advance(-50)  # the wall clock was stepped back
    early = [accounts.txn(1, 0), accounts.txn(2, 0)]
    assert [add(core, t) for t in early] == [Code.VALID] * 2  # expire at now + 50
    clock.advance(120)  # past the early ones' expiry, not the late one's
    assert core.gc_by_system_ttl() == 2
    assert ptrs(core.get_block(10)) == [late.pointer]
    core._check()


# ------------------------------------------------------------------ order of the admission steps
def test_capacity_is_checked_before_committed_ones_are_cleaned(make_core, accounts):
    # step 4 before step 5: a full pool refuses even if cleaning would have made room
    core = make_core(capacity=2)
    assert add(core, accounts.txn(0, 0)) == Code.VALID
    assert add(core, accounts.txn(1, 0)) == Code.VALID
    assert add(core, accounts.txn(0, 1), db=1) == Code.MEMPOOL_IS_FULL
    assert accounts.txn(0, 0).pointer in core and len(core) == 2


def test_eviction_happens_before_the_per_account_limit(make_core, accounts):
    # step 4 before step 6: the parked victim is evicted, then the newcomer hits its cap
    core = make_core(capacity=3, capacity_per_user=2)
    assert [add(core, accounts.txn(0, s)) for s in (0, 1)] == [Code.VALID] * 2
    parked = accounts.txn(1, 5)
    assert add(core, parked) == Code.VALID and core.parking_lot_size() == 1
    assert add(core, accounts.txn(0, 2)) == Code.TOO_MANY_TRANSACTIONS
    assert parked.pointer not in core and len(core) == 2


def test_full_pool_answers_full_before_the_per_account_limit(make_core, accounts):
    core = make_core(capacity=2, capacity_per_user=2)
    assert [add(core, accounts.txn(0, s)) for s in (0, 1)] == [Code.VALID] * 2
    assert add(core, accounts.txn(0, 2)) == Code.MEMPOOL_IS_FULL


def test_reject_removes_everything_when_the_cache_dropped_the_account(make_core, accounts):
    core = make_core(capacity=2)
    assert [add(core, accounts.txn(0, s)) for s in (0, 1)] == [Code.VALID] * 2
    for i in (1, 2):  # refused adds push account 0 out of the sequence-number cache
        assert add(core, accounts.txn(i, 0)) == Code.MEMPOOL_IS_FULL
    assert core.sequence_number(accounts.address(0)) is None
    core.remove_transaction(accounts.address(0), 0, True)
    assert len(core) == 0
    core._check()


def test_gc_parks_successors_when_the_cache_dropped_the_account(make_core, clock, accounts):
    core = make_core(capacity=3, system_transaction_timeout_secs=15)
    first = accounts.txn(0, 0)
    assert add(core, first) == Code.VALID
    clock.advance(10)
    second = accounts.txn(0, 1)
    assert add(core, second) == Code.VALID and add(core, accounts.txn(1, 0)) == Code.VALID
    for i in (2, 3, 4):
        assert add(core, accounts.txn(i, 0)) == Code.MEMPOOL_IS_FULL
    assert core.sequence_number(accounts.address(0)) is None
    clock.advance(6)  # only the first has expired
    assert core.gc_by_system_ttl() == 1
    assert core.timeline_state(*second.pointer) == (TimelineState.NOT_READY, 0)
    assert core.parking_lot_size() == 1
    core._check()


def test_identical_parked_resubmission_keeps_its_timeline_state(make_core, accounts):
    core = make_core()
    later = accounts.txn(0, 1)
    assert add(core, later) == Code.VALID  # parked, local
    assert add(core, later, state=NON_QUALIFIED) == Code.VALID  # the same, from a peer
    assert core.timeline_state(*later.pointer) == (TimelineState.NOT_READY, 0)
    assert add(core, accounts.txn(0, 0)) == Code.VALID
    state, tid = core.timeline_state(*later.pointer)
    assert state == TimelineState.READY and tid > 0  # still local: it entered the timeline


# ---------------------------------------------------------------- get_by_hash
def found_by_hash(core, pending=(), gone=()):
    """Each of `pending` is what get_by_hash gives for its hash; each of `gone` gives None."""
    for txn in pending:
        assert core.get_by_hash(txn.hash) is txn, txn
    for txn in gone:
        assert core.get_by_hash(txn.hash) is None, txn
    core._check()


def test_get_by_hash_finds_what_add_admitted(core, accounts):
    ready = accounts.txn(0, 0)
    parked = accounts.txn(0, 2)
    peer = accounts.txn(1, 0)
    never = accounts.txn(2, 0)
    assert core.get_by_hash(ready.hash) is None
    assert add(core, ready) == Code.VALID
    assert add(core, parked) == Code.VALID
    assert add(core, peer, state=NON_QUALIFIED) == Code.VALID
    assert add(core, accounts.txn(3, 0), db=1) == Code.INVALID_SEQ_NUMBER
    assert add(core, accounts.txn(4, 0), balance=0) == Code.INSUFFICIENT_BALANCE
    found_by_hash(core, [ready, parked, peer],
                  [never, accounts.txn(3, 0), accounts.txn(4, 0), accounts.txn(0, 1)])
    # an equal resubmission changes nothing: the hash still gives the first object
    again = accounts.txn(0, 0)
    assert again is not ready and again.hash == ready.hash
    assert add(core, again) == Code.VALID
    assert core.get_by_hash(again.hash) is ready


def test_get_by_hash_after_a_replacement(core, accounts):
    old = accounts.txn(0, 0, gas_price=1)
    new = accounts.txn(0, 0, gas_price=2)
    assert add(core, old) == Code.VALID
    assert add(core, accounts.txn(0, 0, gas_price=1, payload=b"x")) == Code.INVALID_UPDATE
    found_by_hash(core, [old], [accounts.txn(0, 0, gas_price=1, payload=b"x")])
    assert add(core, new) == Code.VALID
    found_by_hash(core, [new], [old])


def test_get_by_hash_after_commit_and_stale_cleaning(core, accounts):
    txns = [accounts.txn(0, seq) for seq in range(5)]
    for txn in txns:
        assert add(core, txn) == Code.VALID
    core.remove_transaction(accounts.address(0), 1, False)  # commits 0 and 1
    found_by_hash(core, txns[2:], txns[:2])
    sixth = accounts.txn(0, 6)
    assert add(core, sixth, db=4) == Code.VALID  # 2 and 3 are stale: cleaned
    found_by_hash(core, [txns[4], sixth], txns[:4])


def test_get_by_hash_after_reject(core, accounts):
    mine = [accounts.txn(0, seq) for seq in (0, 1, 3)]
    other = accounts.txn(1, 0)
    for txn in mine + [other]:
        assert add(core, txn) == Code.VALID
    core.remove_transaction(accounts.address(0), 1, True)
    found_by_hash(core, [other], mine)


@pytest.mark.parametrize("gc", ["system_ttl", "expiration"])
def test_get_by_hash_after_gc(make_core, accounts, clock, gc):
    core = make_core(system_transaction_timeout_secs=10)
    first = accounts.txn(0, 0, expiration=100)
    assert add(core, first) == Code.VALID
    clock.advance(5)
    later = [accounts.txn(0, 1), accounts.txn(1, 0)]
    for txn in later:
        assert add(core, txn) == Code.VALID
    clock.advance(5.5)  # only the first is past its system TTL
    removed = core.gc_by_system_ttl() if gc == "system_ttl" else core.gc_by_expiration_time(150)
    assert removed == 1
    found_by_hash(core, later, [first])
    # limited steps: the rest, one at a time
    clock.advance(100)
    if gc == "system_ttl":
        assert core.gc_by_system_ttl(limit=1) == 1
    else:
        assert core.gc_by_expiration_time(5_000_000_000, limit=1) == 1
    left = [t for t in later if t.pointer in core]
    assert len(left) == 1
    found_by_hash(core, left, [first] + [t for t in later if t not in left])


def test_get_by_hash_after_eviction(make_core, accounts):
    core = make_core(capacity=2)
    parked = accounts.txn(0, 3)
    ready = accounts.txn(1, 0)
    newcomer = accounts.txn(2, 0)
    assert add(core, parked) == Code.VALID
    assert add(core, ready) == Code.VALID
    assert add(core, newcomer) == Code.VALID  # full: evicts the parked one
    found_by_hash(core, [ready, newcomer], [parked])
    assert add(core, accounts.txn(3, 0)) == Code.MEMPOOL_IS_FULL
    found_by_hash(core, [ready, newcomer], [accounts.txn(3, 0)])


def test_get_by_hash_of_a_transaction_of_the_other_class(core, accounts):
    """The hash is the wire form's: an equal transaction of either class finds it."""
    from mempool_fast.transaction import PySignedTransaction

    txn = accounts.txn(0, 0)
    assert add(core, txn) == Code.VALID
    twin = PySignedTransaction.from_bytes(txn.to_bytes())
    assert core.get_by_hash(twin.hash) is txn
    if type(txn) is not PySignedTransaction:
        assert core.get_by_hash(type(txn).from_bytes(txn.to_bytes()).hash) is txn


@pytest.mark.parametrize("bad, error, message", [
    (b"", ValueError, "transaction hash must be 32 bytes, got 0"),
    (bytes(31), ValueError, "transaction hash must be 32 bytes, got 31"),
    (bytes(33), ValueError, "transaction hash must be 32 bytes, got 33"),
    ("x" * 32, TypeError, "transaction hash must be bytes, not str"),
    (bytearray(32), TypeError, "transaction hash must be bytes, not bytearray"),
    (memoryview(bytes(32)), TypeError, "transaction hash must be bytes, not memoryview"),
    (None, TypeError, "transaction hash must be bytes, not NoneType"),
    (32, TypeError, "transaction hash must be bytes, not int"),
])
def test_get_by_hash_rejects_anything_but_32_bytes(core, accounts, bad, error, message):
    assert add(core, accounts.txn(0, 0)) == Code.VALID
    with pytest.raises(error) as raised:
        core.get_by_hash(bad)
    assert str(raised.value) == message
    assert core.get_by_hash(bytes(32)) is None  # 32 bytes of no pending transaction
