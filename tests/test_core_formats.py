"""Both cores indexing Ethereum transactions (`CoreMempool(config, clock,
transaction_format=EthereumFormat(...))`, docs/design.md §4 "Transaction formats").

Every transaction here is a real one, signed by eth-account (legacy EIP-155 and EIP-1559) and
decoded by `EthereumFormat`; signing costs about a millisecond, so each (key, nonce, price,
value, ...) is signed once per module (`sign`, cached). Each test runs on both cores (the
`impl` matrix of conftest.py: only the pure one without the extensions). Covered: nonce
order (a gap parks, filling it promotes), replacement by price (the bump boundary; Ethereum's
`can_replace` lets data and value change), the balance check charging `value + gas * fee cap`
(exactly enough, one wei short, over several pending transactions, balances past 2**64),
commit and reject by a 20-byte sender, GC by the system TTL, client-expiration GC never
removing an Ethereum transaction, capacity_bytes and get_block's max_bytes with wire sizes far
below the native fixed 164 bytes, wrong sender lengths and out-of-range `max_cost` refused with
nothing changed. Skipped as a whole without the `ethereum` extra or eth-account.
"""

from __future__ import annotations

import functools
import sys

import pytest

pytest.importorskip("coincurve", reason="the ethereum extra is not installed")
pytest.importorskip("rlp", reason="the ethereum extra is not installed")
_limit = sys.getrecursionlimit()
eth_account = pytest.importorskip("eth_account", reason="eth-account (signing) is not installed")
sys.setrecursionlimit(_limit)  # py_ecc, under eth-account, raises it at import (see test_ethereum)

from mempool_fast import MempoolConfig, RemovalReason, TimelineState  # noqa: E402
from mempool_fast._wire import MIN_WIRE_LEN  # noqa: E402
from mempool_fast.formats import NATIVE, NativeFormat  # noqa: E402
from mempool_fast.formats.ethereum import EthereumFormat  # noqa: E402
from mempool_fast.types import (  # noqa: E402
    ENTRY_OVERHEAD_BYTES, U64_MAX, MempoolAddTransactionStatusCode as Code,
)

NOT_READY = TimelineState.NOT_READY
NON_QUALIFIED = TimelineState.NON_QUALIFIED
CHAIN_ID = 1
FMT = EthereumFormat(CHAIN_ID)
KEYS = [bytes([i]) * 32 for i in range(1, 5)]
ACCOUNTS = [eth_account.Account.from_key(k) for k in KEYS]
TO = "0x" + "22" * 20
GAS = 21_000
#: A balance far above anything here.
RICH = 10**40
#: Ethereum's address length: what the cores must take as a sender.
SENDER_LEN = 20
#: The ttl the tests configure (seconds).
TTL = 100


@functools.lru_cache(maxsize=None)
def sign(key: int, nonce: int, price: int = 10, value: int = 0, *, data: bytes = b"",
         gas: int = GAS, fee_cap: int | None = None):
    """The decoded Ethereum transaction of account `key` (signed once per module): legacy with
    gas price `price`, or EIP-1559 with tip `price` and `fee_cap` when given."""
    if fee_cap is None:
        fields = dict(nonce=nonce, gasPrice=price, gas=gas, to=TO, value=value, data=data,
                      chainId=CHAIN_ID)
    else:
        fields = dict(type=2, chainId=CHAIN_ID, nonce=nonce, maxPriorityFeePerGas=price,
                      maxFeePerGas=fee_cap, gas=gas, to=TO, value=value, data=data,
                      accessList=[])
    txn = FMT.decode(bytes(ACCOUNTS[key].sign_transaction(fields).raw_transaction))
    assert FMT.verify([txn]) == [None]  # recovers (and keeps) its sender
    return txn


def sender(key: int) -> bytes:
    return bytes.fromhex(ACCOUNTS[key].address[2:])


@pytest.fixture
def make_core(impl, clock):
    """make_core(fmt=FMT, **config fields): a core of the parametrized implementation."""

    def make(fmt=FMT, removal_feed=True, **fields):
        fields.setdefault("system_transaction_timeout_secs", TTL)
        return impl.core(MempoolConfig(**fields), clock=clock, removal_feed=removal_feed,
                         transaction_format=fmt)

    return make


@pytest.fixture
def core(make_core):
    return make_core()


def add(core, txn, *, balance=RICH, db=0, gas=None, state=NOT_READY):
    """add_txn's status code (the gas amount argument defaults to the gas limit, as the shared
    mempool passes it; a foreign format's balance check does not read it)."""
    gas = txn.max_gas_amount if gas is None else gas
    return core.add_txn(txn, gas, db, balance, state).code


def pointers(txns):
    return [t.pointer for t in txns]


def state_of(core):
    """What a refused call must leave as it was."""
    return (len(core), core.size_bytes(), core.parking_lot_size(), core.priority_index_size(),
            core.timeline_size(), core.account_count(), core.last_timeline_id(),
            [core.sequence_number(sender(k)) for k in range(len(KEYS))])


# ---------------------------------------------------------------- construction
def test_the_core_reports_its_format(make_core, impl, clock):
    core = make_core()
    assert core.transaction_format is FMT
    with pytest.raises(AttributeError):
        core.transaction_format = None
    native = impl.core(MempoolConfig(), clock=clock)
    assert native.transaction_format is NATIVE
    assert (NATIVE.name, NATIVE.sender_length) == ("native", 32)
    given = NativeFormat(validator=object.__new__(type("V", (), {"validate": None})))
    assert impl.core(MempoolConfig(), clock=clock,
                     transaction_format=given).transaction_format is given


class _Length(EthereumFormat):
    """An Ethereum format claiming another sender length (to test the constructor's check)."""

    def __init__(self, length):
        super().__init__(CHAIN_ID)
        self.sender_length = length


@pytest.mark.parametrize("length", [0, 33, 64, -1, "20", 20.0, None, True])
def test_sender_lengths_outside_1_to_32_are_refused(impl, clock, length):
    with pytest.raises((ValueError, TypeError), match="sender_length|sender"):
        impl.core(MempoolConfig(), clock=clock, transaction_format=_Length(length))


@pytest.mark.parametrize("bad", [object(), "ethereum", 7])
def test_a_format_without_the_interface_is_refused(impl, clock, bad):
    with pytest.raises((TypeError, ValueError)):
        impl.core(MempoolConfig(), clock=clock, transaction_format=bad)


# ---------------------------------------------------------------- nonce order, parking
def test_a_gap_parks_and_filling_it_makes_the_run_ready(core):
    assert add(core, sign(0, 1)) == Code.VALID
    assert add(core, sign(0, 2)) == Code.VALID
    assert core.parking_lot_size() == 2 and core.get_block(10) == []
    assert core.timeline_state(sender(0), 1) == (NOT_READY, 0)
    assert add(core, sign(0, 0)) == Code.VALID
    assert core.parking_lot_size() == 0 and core.priority_index_size() == 3
    assert pointers(core.get_block(10)) == [(sender(0), n) for n in range(3)]
    txns, last = core.read_timeline(0, 10)
    assert pointers(txns) == [(sender(0), n) for n in range(3)] and last == 3
    assert all(len(t.sender) == SENDER_LEN for t in txns)
    core._check()


def test_below_the_account_nonce_is_refused(core):
    assert add(core, sign(0, 0), db=1) == Code.INVALID_SEQ_NUMBER
    assert core.sequence_number(sender(0)) == 1
    assert add(core, sign(0, 1), db=1) == Code.VALID
    assert pointers(core.get_block(5)) == [(sender(0), 1)]


def test_get_block_orders_by_tip_then_age_then_nonce(core, clock):
    assert add(core, sign(0, 0, price=5)) == Code.VALID
    clock.advance(1)
    assert add(core, sign(1, 0, price=9)) == Code.VALID
    clock.advance(1)
    assert add(core, sign(1, 1, price=20)) == Code.VALID  # after its predecessor only
    eip = sign(2, 0, price=7, fee_cap=50)  # ordered by its tip, not its fee cap
    assert add(core, eip) == Code.VALID
    block = core.get_block(10)
    assert pointers(block) == [(sender(1), 0), (sender(1), 1), (sender(2), 0), (sender(0), 0)]


def test_equal_tips_and_expiries_order_by_address_high_to_low(make_core, clock):
    core = make_core()
    for key in range(len(KEYS)):
        assert add(core, sign(key, 0, price=3)) == Code.VALID  # one clock reading
    assert [t.sender for t in core.get_block(10)] == sorted(map(sender, range(len(KEYS))),
                                                            reverse=True)


def test_a_full_pool_evicts_the_greatest_parked_pointer(make_core):
    core = make_core(capacity=3)
    for key, nonce in ((0, 4), (1, 4), (2, 0)):
        assert add(core, sign(key, nonce)) == Code.VALID
    assert add(core, sign(3, 0)) == Code.VALID  # would be ready: a parked one goes
    evicted = max((sender(0), 4), (sender(1), 4))
    assert evicted not in core and len(core) == 3
    assert [(t.pointer, r) for t, r in core.drain_removed()] == [(evicted, RemovalReason.EVICTED)]
    assert add(core, sign(3, 5)) == Code.MEMPOOL_IS_FULL  # a parked newcomer evicts nothing
    core._check()


# ---------------------------------------------------------------- replacement
def test_identical_resubmission_is_a_no_op(core):
    txn = sign(0, 0)
    assert add(core, txn) == Code.VALID
    copy = FMT.decode(txn.to_bytes())
    assert copy is not txn and copy == txn
    assert add(core, copy) == Code.VALID and core.get(sender(0), 0) is txn
    assert core.drain_removed() == [] and core.last_timeline_id() == 1


@pytest.mark.parametrize("bump, price, code", [
    (0, 100, Code.INVALID_UPDATE), (0, 101, Code.VALID), (0, 99, Code.INVALID_UPDATE),
    (10, 109, Code.INVALID_UPDATE), (10, 110, Code.VALID), (25, 124, Code.INVALID_UPDATE),
    (25, 125, Code.VALID),
])
def test_replacement_by_price_with_the_bump(make_core, bump, price, code):
    core = make_core(replacement_price_bump_percent=bump)
    old = sign(0, 0, price=100)
    assert add(core, old) == Code.VALID
    new = sign(0, 0, price=price, value=7, data=b"changed")  # data and value may change
    status = core.add_txn(new, GAS, 0, RICH, NOT_READY)
    assert status.code == code
    if code == Code.VALID:
        assert core.get(sender(0), 0) is new and core.get_by_hash(old.hash) is None
        assert core.drain_removed() == [(old, RemovalReason.REPLACED)]
        assert core.timeline_state(sender(0), 0) == (TimelineState.READY, 2)
    else:
        assert "at least" in status.message  # says the price needed
        assert core.get(sender(0), 0) is old
    core._check()


def test_an_eip1559_replacement_of_a_legacy_one(core):
    old = sign(1, 0, price=10)
    new = sign(1, 0, price=11, fee_cap=30)
    assert add(core, old) == Code.VALID and add(core, new) == Code.VALID
    assert core.get(sender(1), 0) is new


class _NoReplacement(EthereumFormat):
    """An Ethereum format whose transactions are never replaced."""

    name = "ethereum-final"

    @staticmethod
    def can_replace(old, new, /):
        return False


def test_can_replace_false_is_invalid_update(make_core):
    core = make_core(fmt=_NoReplacement(CHAIN_ID))
    old = sign(0, 0, price=10)
    assert add(core, old) == Code.VALID
    status = core.add_txn(sign(0, 0, price=1_000), GAS, 0, RICH, NOT_READY)
    assert status.code == Code.INVALID_UPDATE and "ethereum-final" in status.message
    assert core.get(sender(0), 0) is old and core.drain_removed() == []
    assert add(core, FMT.decode(old.to_bytes())) == Code.VALID  # an equal one still is


# ---------------------------------------------------------------- balance
def test_the_balance_covers_value_plus_gas_times_fee_cap(core):
    txn = sign(0, 0, price=10, value=12_345)
    cost = 12_345 + GAS * 10
    assert txn.max_cost == cost
    assert add(core, txn, balance=cost - 1) == Code.INSUFFICIENT_BALANCE
    assert len(core) == 0
    assert add(core, txn, balance=cost) == Code.VALID


def test_an_eip1559_transaction_is_charged_its_fee_cap_not_its_tip(core):
    txn = sign(0, 0, price=2, fee_cap=9, value=5)
    cost = 5 + GAS * 9
    assert add(core, txn, balance=cost - 1) == Code.INSUFFICIENT_BALANCE
    assert add(core, txn, balance=cost) == Code.VALID


@pytest.mark.parametrize("gas", [0, 1, U64_MAX])
def test_the_gas_amount_argument_is_not_what_is_charged(core, gas):
    txn = sign(0, 0, price=10, value=1)
    assert add(core, txn, gas=gas, balance=txn.max_cost - 1) == Code.INSUFFICIENT_BALANCE
    assert add(core, txn, gas=gas, balance=txn.max_cost) == Code.VALID


@pytest.mark.parametrize("value", [0, 3, 2**64, 2**70 + 1, 2**100])
def test_the_pending_total_sums_every_cost(make_core, value):
    """Exactly enough for three pending transactions is enough; a wei short is not (balances
    past 2**64 included: the exact path)."""
    txns = [sign(0, n, price=10 + n, value=value) for n in range(3)]
    total = sum(t.max_cost for t in txns)
    short = make_core()
    assert [add(short, t, balance=total - 1) for t in txns] == [Code.VALID] * 2 + [
        Code.INSUFFICIENT_BALANCE]
    enough = make_core()
    assert [add(enough, t, balance=total) for t in txns] == [Code.VALID] * 3
    # a commit frees its cost: the next one fits a balance of what is left
    enough.remove_transaction(sender(0), 0, False)
    later = sign(0, 3, price=10, value=value)
    left = total - txns[0].max_cost + later.max_cost
    assert add(enough, later, balance=left - 1) == Code.INSUFFICIENT_BALANCE
    assert add(enough, later, balance=left) == Code.VALID
    enough._check()


@pytest.mark.parametrize("balance", [-1, 0.5, 2.0**200, 10**60])
def test_odd_balances_compare_exactly(core, balance):
    txn = sign(0, 0, price=1, value=2**90)
    expected = Code.VALID if balance >= txn.max_cost else Code.INSUFFICIENT_BALANCE
    assert add(core, txn, balance=balance) == expected


class _Cost(EthereumFormat):
    """An Ethereum format whose max_cost is a given value."""

    def __init__(self, cost):
        super().__init__(CHAIN_ID)
        self.cost = cost

    def max_cost(self, txn, /):  # type: ignore[override]
        return self.cost


@pytest.mark.parametrize("cost, error", [
    (2**128, ValueError), (-1, ValueError), (2**200, ValueError), (1.0, TypeError),
    (True, TypeError), ("1", TypeError), (None, TypeError),
])
def test_max_cost_out_of_range_is_refused_and_changes_nothing(make_core, cost, error):
    core = make_core(fmt=_Cost(cost))
    before = state_of(core)
    with pytest.raises(error, match="max_cost"):
        core.add_txn(sign(0, 0), GAS, 5, RICH, NOT_READY)
    assert state_of(core) == before and core.sequence_number(sender(0)) is None
    core._check()


def test_the_largest_cost_is_accepted(make_core):
    core = make_core(fmt=_Cost(2**128 - 1))
    assert add(core, sign(0, 0), balance=2**128 - 2) == Code.INSUFFICIENT_BALANCE
    assert add(core, sign(0, 0), balance=2**128 - 1) == Code.VALID
    assert add(core, sign(0, 1), balance=2**129 - 2) == Code.VALID  # a total past 128 bits
    assert add(core, sign(0, 2), balance=2**129) == Code.INSUFFICIENT_BALANCE
    core._check()


# ---------------------------------------------------------------- senders
class _Proxy:
    """An Ethereum transaction whose sender reads as something else."""

    def __init__(self, txn, sender):
        self._txn, self.sender = txn, sender

    def __getattr__(self, name):
        return getattr(self._txn, name)


@pytest.mark.parametrize("bad", [bytes(32), bytes(19), bytes(21), b"", bytearray(20), "a" * 20])
def test_wrong_sender_lengths_are_refused_and_change_nothing(core, bad):
    assert add(core, sign(0, 0)) == Code.VALID
    before = state_of(core)
    calls = [
        lambda: core.add_txn(_Proxy(sign(1, 0), bad), GAS, 0, RICH, NOT_READY),
        lambda: core.remove_transaction(bad, 0, False),
        lambda: core.remove_transaction(bad, 0, True),
        lambda: core.get(bad, 0),
        lambda: (bad, 0) in core,
        lambda: core.timeline_state(bad, 0),
        lambda: core.sequence_number(bad),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="20 bytes"):
            call()
    assert state_of(core) == before
    core._check()


def test_senders_handed_back_are_20_bytes(core):
    """The pointers both cores build (the probing walk's keys over a large `seen` of stale
    pointers included) carry the real 20-byte sender."""
    for key in range(3):
        assert add(core, sign(key, 0)) == Code.VALID
    held = sign(1, 0).pointer
    stale = {(sender(3), n) for n in range(5_000)}  # far more than 8 per transaction asked
    block = core.get_block(2, stale | {held})
    assert held not in pointers(block) and len(block) == 2
    assert all(len(t.sender) == SENDER_LEN for t in block)
    assert core.get_block(1, [held] + sorted(stale))[0].pointer != held


# ---------------------------------------------------------------- commit and reject
def test_commit_by_a_20_byte_sender_promotes_the_followers(core):
    for nonce in (0, 2, 3):
        assert add(core, sign(0, nonce)) == Code.VALID
    assert core.parking_lot_size() == 2
    core.remove_transaction(sender(0), 1, False)  # nonce 1 committed elsewhere
    assert core.sequence_number(sender(0)) == 2
    assert pointers(core.get_block(5)) == [(sender(0), 2), (sender(0), 3)]
    assert [(t.pointer, r) for t, r in core.drain_removed()] == [
        ((sender(0), 0), RemovalReason.COMMITTED)]
    core._check()


def test_reject_drops_the_account(core):
    for nonce in range(3):
        assert add(core, sign(0, nonce)) == Code.VALID
    assert add(core, sign(1, 0)) == Code.VALID
    core.remove_transaction(sender(0), 1, True)
    assert len(core) == 1 and core.sequence_number(sender(0)) is None
    assert {r for _, r in core.drain_removed()} == {RemovalReason.REJECTED}
    assert core.get_by_hash(sign(0, 0).hash) is None
    assert core.get_by_hash(sign(1, 0).hash) is sign(1, 0)


# ---------------------------------------------------------------- GC
def test_the_system_ttl_removes_and_parks_the_followers(core, clock):
    assert add(core, sign(0, 0)) == Code.VALID
    clock.advance(TTL / 2)
    assert add(core, sign(0, 1)) == Code.VALID
    clock.advance(TTL / 2 + 1)
    assert core.gc_by_system_ttl() == 1
    assert core.drain_removed() == [(sign(0, 0), RemovalReason.SYSTEM_TTL)]
    assert core.parking_lot_size() == 1 and core.get_block(5) == []
    assert core.timeline_state(sender(0), 1) == (NOT_READY, 0)
    clock.advance(TTL)
    assert core.gc_by_system_ttl() == 1 and len(core) == 0
    core._check()


@pytest.mark.parametrize("eager", [False, True])
def test_client_expiration_gc_never_removes_an_ethereum_transaction(make_core, clock, eager):
    policy = dict(eager_expire_threshold_ms=1, eager_expire_time_ms=10**9) if eager else {}
    core = make_core(**policy)
    assert add(core, sign(0, 0)) == Code.VALID
    assert add(core, sign(1, 3)) == Code.VALID  # parked
    clock.advance(TTL / 2)  # a backlog by the eager threshold
    assert sign(0, 0).expiration_time is None
    for block_time in (0, 10**6, 4_000_000_000, 2**64, 2**70, 1e30):
        assert core.gc_by_expiration_time(block_time) == 0
        assert core.gc_by_expiration_time(block_time, 1) == 0
    assert len(core) == 2 and core.drain_removed() == []
    core._check()


# ---------------------------------------------------------------- byte sizes
def test_capacity_bytes_counts_the_small_wire_sizes(make_core):
    txns = [sign(k, 0) for k in range(3)]
    sizes = [len(t.to_bytes()) for t in txns]
    assert max(sizes) < MIN_WIRE_LEN  # smaller than any native transaction
    core = make_core(capacity_bytes=sizes[0] + sizes[1] + 2 * ENTRY_OVERHEAD_BYTES + 1)
    assert add(core, txns[0]) == Code.VALID and add(core, txns[1]) == Code.VALID
    assert core.size_bytes() == sizes[0] + sizes[1] + 2 * ENTRY_OVERHEAD_BYTES
    assert core.health_check()
    assert add(core, txns[2]) == Code.VALID  # below the limit before it: admitted
    status = core.add_txn(sign(3, 0), GAS, 0, RICH, NOT_READY)
    assert status.code == Code.MEMPOOL_IS_FULL and "capacity_bytes" in status.message
    core.remove_transaction(sender(0), 0, False)
    assert core.size_bytes() == sizes[1] + sizes[2] + 2 * ENTRY_OVERHEAD_BYTES
    core._check()


def test_get_block_max_bytes_counts_the_small_wire_sizes(core, clock):
    txns = [sign(k, 0, price=50 - k) for k in range(3)]
    for txn in txns:
        assert add(core, txn) == Code.VALID
    first, second = (len(t.to_bytes()) for t in txns[:2])
    assert pointers(core.get_block(10, max_bytes=first + second)) == pointers(txns[:2])
    assert pointers(core.get_block(10, max_bytes=first + second - 1)) == pointers(txns[:1])
    assert pointers(core.get_block(10, max_bytes=0)) == pointers(txns[:1])
    assert pointers(core.get_block(10, max_bytes=MIN_WIRE_LEN)) == pointers(txns[:1])
    assert len(core.get_block(10, max_bytes=3 * MIN_WIRE_LEN)) == 3


# ---------------------------------------------------------------- the rest, unchanged
def test_hash_index_and_timeline_states(core):
    txn = sign(2, 0)
    assert add(core, txn, state=NON_QUALIFIED) == Code.VALID
    assert core.get_by_hash(txn.hash) is txn and len(txn.hash) == 32
    assert core.timeline_state(sender(2), 0) == (NON_QUALIFIED, 0)
    assert core.read_timeline(0, 10) == ([], 0)  # a peer's: never broadcast
    assert pointers(core.get_block(5)) == [txn.pointer]
    assert (txn.pointer in core) and core.get(*txn.pointer) is txn


def test_lowest_price_eviction(make_core):
    core = make_core(capacity=2, eviction_policy="lowest_price",
                     protect_local_transactions=False)
    assert add(core, sign(0, 0, price=5)) == Code.VALID
    assert add(core, sign(1, 0, price=9)) == Code.VALID
    assert add(core, sign(2, 0, price=7)) == Code.VALID
    assert [(t.pointer, r) for t, r in core.drain_removed()] == [
        ((sender(0), 0), RemovalReason.EVICTED)]
    assert add(core, sign(3, 0, price=1)) == Code.MEMPOOL_IS_FULL
    core._check()


def test_capacity_per_user(make_core):
    core = make_core(capacity_per_user=2)
    assert [add(core, sign(0, n)) for n in range(3)] == [Code.VALID] * 2 + [
        Code.TOO_MANY_TRANSACTIONS]


#: CPython 3.11 keeps attribute reads of an instance on their fastest path only while it has at
#: most this many attributes (measured: one more costs the pure core ~20 ns per read).
SHARED_KEYS_FAST_LIMIT = 29


@pytest.mark.parametrize("fmt", [None, FMT])
def test_the_pure_core_stays_within_the_fast_attribute_limit(clock, fmt):
    """What the transaction format added to the pure core costs its native paths nothing: no
    instance attribute beyond CPython's fast limit (the foreign checks live in a subclass)."""
    from mempool_fast.pure import CoreMempool
    core = CoreMempool(MempoolConfig(), clock=clock, transaction_format=fmt)
    assert len(vars(core)) <= SHARED_KEYS_FAST_LIMIT
    assert isinstance(core, CoreMempool) and (type(core) is CoreMempool) == (fmt is None)
