"""The MempoolConfig policies beyond Libra's 2019 rules (docs/design.md §4 "Policies"), on every
core: each test runs on the pure and the Cython core (mixed pairs included), at the policy's
boundaries. The defaults keep Libra's rules (tests/test_core.py runs them unchanged)."""

from __future__ import annotations

import pytest

from mempool_fast import MempoolConfig, TimelineState
from mempool_fast.errors import ConfigError
from mempool_fast.types import ENTRY_OVERHEAD_BYTES, RemovalReason
from mempool_fast.types import MempoolAddTransactionStatusCode as Code

NOT_READY = TimelineState.NOT_READY
NON_QUALIFIED = TimelineState.NON_QUALIFIED
READY = TimelineState.READY
RICH = 10**18


@pytest.fixture
def core_cls(impl_any):
    """Every implementation, mixed pairs included (as tests/test_core.py)."""
    return impl_any.core


def add(core, txn, *, gas=1, db=0, balance=RICH, state=NOT_READY):
    """add_txn with test defaults; returns the status."""
    return core.add_txn(txn, gas, db, balance, state)


def ptrs(txns):
    return [t.pointer for t in txns]


def by_address(accounts, *indices):
    """The given account indices sorted by address, lowest first."""
    return sorted(indices, key=accounts.address)


# ---------------------------------------------------------------- replacement_price_bump_percent
@pytest.mark.parametrize("bump, old_price, needed", [
    (0, 100, 101),  # Libra: strictly higher
    (10, 100, 110),  # exactly the bump
    (10, 1, 2),  # ceil(1.1) = 2: strictly higher decides
    (10, 0, 1),
    (50, 3, 5),  # ceil(4.5)
    (100, 7, 14),
    (10_000, 2, 202),
])
def test_replacement_needs_the_bump_exactly(make_core, accounts, bump, old_price, needed):
    core = make_core(replacement_price_bump_percent=bump)
    old = accounts.txn(0, 0, gas_price=old_price)
    assert add(core, old).code == Code.VALID
    # the highest price that is short of it (needed - 1 would be the same transaction when
    # the bump rounds to "strictly higher"), and a lower one
    for short in {p for p in (needed - 1, old_price - 1) if p >= 0 and p != old_price}:
        status = add(core, accounts.txn(0, 0, gas_price=short))
        assert status.code == Code.INVALID_UPDATE, short
        assert f"at least {needed}:" in status.message and f"pays {old_price}" in status.message
        assert f"replacement_price_bump_percent is {bump}" in status.message
        assert core.get(*old.pointer) is old and len(core) == 1
    enough = accounts.txn(0, 0, gas_price=needed)
    assert add(core, enough).code == Code.VALID
    assert core.get(*old.pointer) is enough and len(core) == 1
    assert core.timeline_state(*old.pointer) == (READY, 2)
    core._check()


def test_replacement_with_another_field_changed_is_the_plain_invalid_update(make_core,
                                                                             accounts):
    core = make_core(replacement_price_bump_percent=10)
    assert add(core, accounts.txn(0, 0, gas_price=10)).code == Code.VALID
    status = add(core, accounts.txn(0, 0, gas_price=1_000, payload=b"other"))
    assert status.code == Code.INVALID_UPDATE
    assert "same payload, max gas amount and expiration" in status.message


def test_replacement_bump_reported_as_replaced(make_core, accounts):
    core = make_core(replacement_price_bump_percent=25)
    core.removal_feed = True
    old = accounts.txn(0, 0, gas_price=4)
    assert add(core, old).code == Code.VALID
    new = accounts.txn(0, 0, gas_price=5)
    assert add(core, new).code == Code.VALID
    assert core.drain_removed() == [(old, RemovalReason.REPLACED)]


@pytest.mark.parametrize("value", [-1, 10_001, 1.5, True, "10"])
def test_replacement_bump_config_checked(value):
    with pytest.raises(ConfigError, match="replacement_price_bump_percent"):
        MempoolConfig(replacement_price_bump_percent=value)


# ---------------------------------------------------------------- capacity_bytes, size_bytes
def entry_bytes(txn) -> int:
    """What one pending transaction counts toward capacity_bytes."""
    return len(txn.to_bytes()) + ENTRY_OVERHEAD_BYTES


def test_capacity_bytes_default_is_aptos_2_gib():
    assert MempoolConfig().capacity_bytes == 2 * 1024 ** 3


def test_size_bytes_counts_wire_size_and_overhead(make_core, accounts, clock):
    core = make_core()
    assert core.size_bytes() == 0
    txns = [accounts.txn(0, 0), accounts.txn(0, 1, payload=b"x" * 300),
            accounts.txn(1, 5, payload=b"y" * 17)]  # the last one parked
    for txn in txns:
        assert add(core, txn).code == Code.VALID
    assert core.size_bytes() == sum(map(entry_bytes, txns))
    # a replacement counts the new one only
    dearer = accounts.txn(0, 1, payload=b"x" * 300, gas_price=2)
    assert add(core, dearer).code == Code.VALID
    assert core.size_bytes() == sum(map(entry_bytes, txns))
    core.remove_transaction(txns[0].sender, 0, False)
    assert core.size_bytes() == entry_bytes(dearer) + entry_bytes(txns[2])
    clock.advance(10**6)
    assert core.gc_by_system_ttl() == 2
    assert core.size_bytes() == 0
    core._check()


@pytest.mark.parametrize("slack, admitted", [(0, False), (1, True)])
def test_full_exactly_at_the_byte_capacity(make_core, accounts, slack, admitted):
    """Full once the byte size reaches capacity_bytes (>=), as Aptos: one byte more admits."""
    first, second, third = (accounts.txn(i, 0) for i in range(3))
    core = make_core(capacity_bytes=entry_bytes(first) + entry_bytes(second) + slack)
    assert add(core, first).code == Code.VALID
    assert add(core, second).code == Code.VALID
    assert core.health_check() is admitted  # nothing parked to evict
    status = add(core, third)
    if admitted:
        assert status.code == Code.VALID and len(core) == 3
    else:
        assert status.code == Code.MEMPOOL_IS_FULL and len(core) == 2
        assert f"capacity_bytes of {core.config.capacity_bytes} bytes" in status.message
    core._check()


def test_count_capacity_is_reported_first(make_core, accounts):
    core = make_core(capacity=1, capacity_bytes=1)
    assert add(core, accounts.txn(0, 0)).code == Code.VALID
    status = add(core, accounts.txn(1, 0))
    assert status.code == Code.MEMPOOL_IS_FULL and "1 transactions" in status.message


def test_byte_capacity_evicts_parked_until_not_full(make_core, accounts):
    """Over capacity_bytes, a would-be-ready newcomer evicts parked transactions, greatest
    pointer first, as many as it takes to be under it."""
    a, b = by_address(accounts, 0, 1)  # a's address is the lower
    parked_low, parked_high = accounts.txn(a, 3), accounts.txn(b, 3)
    big = accounts.txn(2, 0, payload=b"z" * 136)  # alone under the limit
    limit = entry_bytes(parked_low) + entry_bytes(parked_high) + 1  # both parked fit
    core = make_core(capacity_bytes=limit)
    core.removal_feed = True
    for txn in (parked_low, parked_high, big):
        assert add(core, txn).code == Code.VALID
    assert core.size_bytes() >= limit and core.parking_lot_size() == 2
    # evicting parked_high (the greater pointer) leaves big + parked_low >= limit: both go
    newcomer = accounts.txn(3, 0)
    assert add(core, newcomer).code == Code.VALID
    assert core.drain_removed() == [(parked_high, RemovalReason.EVICTED),
                                    (parked_low, RemovalReason.EVICTED)]
    assert len(core) == 2 and core.parking_lot_size() == 0
    core._check()


def test_byte_capacity_stops_evicting_when_it_helps(make_core, accounts):
    a, b = by_address(accounts, 0, 1)
    parked_low, parked_high = accounts.txn(a, 3), accounts.txn(b, 3)
    ready = accounts.txn(2, 0)
    core = make_core(capacity_bytes=entry_bytes(parked_low) * 3)
    core.removal_feed = True
    for txn in (parked_low, parked_high, ready):
        assert add(core, txn).code == Code.VALID
    assert add(core, accounts.txn(3, 0)).code == Code.VALID
    assert core.drain_removed() == [(parked_high, RemovalReason.EVICTED)]
    assert core.get(*parked_low.pointer) is parked_low


def test_byte_capacity_full_after_every_parked_is_evicted(make_core, accounts):
    """Evicting every parked one may not be enough: MEMPOOL_IS_FULL, the evictions stay (Aptos's
    loop)."""
    parked = accounts.txn(0, 3)
    big = accounts.txn(1, 0, payload=b"z" * 1_000)
    core = make_core(capacity_bytes=entry_bytes(parked) + 1)
    core.removal_feed = True
    assert add(core, parked).code == Code.VALID
    assert add(core, big).code == Code.VALID  # under the limit before it: admitted
    assert core.health_check()  # one parked could go
    status = add(core, accounts.txn(2, 0))
    assert status.code == Code.MEMPOOL_IS_FULL and "capacity_bytes" in status.message
    assert core.drain_removed() == [(parked, RemovalReason.EVICTED)]
    assert len(core) == 1 and not core.health_check()
    core._check()


def test_byte_full_pool_evicts_only_for_a_would_be_ready_newcomer(make_core, accounts):
    parked = accounts.txn(0, 3)
    core = make_core(capacity_bytes=entry_bytes(parked))
    assert add(core, parked).code == Code.VALID
    status = add(core, accounts.txn(1, 2))  # would be parked itself
    assert status.code == Code.MEMPOOL_IS_FULL
    assert core.get(*parked.pointer) is parked
    assert add(core, accounts.txn(1, 0)).code == Code.VALID  # ready: evicts it
    assert core.get(*parked.pointer) is None


@pytest.mark.parametrize("value", [0, -1, 1.5, None])
def test_capacity_bytes_config_checked(value):
    with pytest.raises(ConfigError, match="capacity_bytes"):
        MempoolConfig(capacity_bytes=value)


# ---------------------------------------------------------------- get_block max_bytes
def wire(txn) -> int:
    return len(txn.to_bytes())


@pytest.fixture
def three_by_price(make_core, accounts):
    """A core holding three ready transactions of different sizes, taken in this order."""
    core = make_core()
    txns = [accounts.txn(0, 0, gas_price=9, payload=b"a" * 10),
            accounts.txn(1, 0, gas_price=8, payload=b"b" * 500),
            accounts.txn(2, 0, gas_price=7, payload=b"c" * 20)]
    for txn in txns:
        assert add(core, txn).code == Code.VALID
    return core, txns


@pytest.mark.parametrize("max_bytes", [0, 1, 100])
def test_max_bytes_smaller_than_one_transaction_returns_the_first(three_by_price, max_bytes):
    core, txns = three_by_price
    assert wire(txns[0]) > max_bytes
    assert core.get_block(10, set(), max_bytes) == txns[:1]
    assert core.get_block(10, {txns[0].pointer}, max_bytes=max_bytes) == txns[1:2]


def test_max_bytes_boundary_is_inclusive(three_by_price):
    core, txns = three_by_price
    two = wire(txns[0]) + wire(txns[1])
    assert core.get_block(10, max_bytes=two) == txns[:2]
    assert core.get_block(10, max_bytes=two - 1) == txns[:1]
    assert core.get_block(10, max_bytes=two + wire(txns[2])) == txns
    assert core.get_block(10, max_bytes=None) == core.get_block(10) == txns
    assert core.get_block(2, max_bytes=10**9) == txns[:2]  # batch_size still applies


def test_max_bytes_stops_rather_than_skips(three_by_price):
    """The walk stops at the first transaction that does not fit: a smaller one behind it is
    not taken (the block stays a prefix of the priority walk)."""
    core, txns = three_by_price
    assert core.get_block(10, max_bytes=wire(txns[0]) + wire(txns[2])) == txns[:1]


def test_max_bytes_inside_a_released_chain(make_core, accounts):
    core = make_core()
    chain = [accounts.txn(0, 0, gas_price=1), accounts.txn(0, 1, gas_price=9, payload=b"x" * 40),
             accounts.txn(0, 2, gas_price=8)]
    for txn in chain:
        assert add(core, txn).code == Code.VALID
    assert core.get_block(10, max_bytes=wire(chain[0]) + wire(chain[1])) == chain[:2]
    assert core.get_block(10, max_bytes=sum(map(wire, chain)) - 1) == chain[:2]
    assert core.get_block(10, max_bytes=sum(map(wire, chain))) == chain


@pytest.mark.parametrize("bad, error, message", [
    (-1, ValueError, "max_bytes must be at least 0, got -1"),
    (1.5, TypeError, "max_bytes must be None or an int, not float"),
    (True, TypeError, "max_bytes must be None or an int, not bool"),
    ("9", TypeError, "max_bytes must be None or an int, not str"),
])
def test_max_bytes_bad_arguments(three_by_price, bad, error, message):
    core, _ = three_by_price
    with pytest.raises(error) as raised:
        core.get_block(10, set(), bad)
    assert str(raised.value) == message


def test_shared_mempool_get_block_carries_max_bytes(core_cls, clock, accounts):
    from test_shared import Cluster, manual_config

    cluster = Cluster(core_cls, clock, accounts, names=("a",), config=manual_config(),
                      connect=False)
    try:
        node = cluster["a"]
        txns = [accounts.txn(i, 0, gas_price=10 - i, payload=bytes(40 * i)) for i in range(3)]
        assert [s.code for s in node.submit_transactions(txns)] == [Code.VALID] * 3
        budget = wire(txns[0]) + wire(txns[1])
        assert node.get_block(10, max_bytes=budget) == txns[:2]
        assert node.get_block(10, [txns[0].pointer], budget) == txns[1:2]
        assert node.get_block(10, max_bytes=0) == txns[:1]
        assert node.get_block(10) == txns
        with pytest.raises(ValueError, match="at least 0"):
            node.get_block(10, max_bytes=-5)
    finally:
        cluster.stop()


def test_get_block_request_encodes_max_bytes_only_when_given(accounts):
    from mempool_fast import rpc

    ptrs = [accounts.txn(0, 0).pointer]
    plain = rpc.encode_request(rpc.Op.GET_BLOCK, 5, (7, ptrs))
    assert rpc.encode_request(rpc.Op.GET_BLOCK, 5, (7, ptrs, None)) == plain
    assert rpc.decode_request(plain).body == (7, ptrs)  # the original request, unchanged
    limited = rpc.encode_request(rpc.Op.GET_BLOCK, 5, (7, ptrs, 1_234))
    assert limited == plain + (1_234).to_bytes(8, "little")
    assert rpc.decode_request(limited).body == (7, ptrs, 1_234)
    for bad_tail in (b"\0", bytes(7), bytes(9)):
        with pytest.raises(rpc.RpcError, match="trailing"):
            rpc.decode_request(plain + bad_tail)
    with pytest.raises(ValueError):
        rpc.encode_request(rpc.Op.GET_BLOCK, 5, (7, ptrs, 2**64))
    with pytest.raises(ValueError):
        rpc.encode_request(rpc.Op.GET_BLOCK, 5, (7, ptrs, -1))


def test_consensus_rpc_get_block_with_max_bytes(tmp_path, accounts):
    """A real node: NodeClient.get_block(..., max_bytes) over the consensus endpoint."""
    from mempool_fast.client import NodeClient
    from mempool_fast.node import Node, NodeConfig
    from test_node_endpoints import funded_cluster

    spec = funded_cluster(tmp_path, accounts)[0]
    node = Node(NodeConfig.load(spec.config))
    node.start()
    try:
        txns = [accounts.txn(i, 0, gas_price=10 - i, payload=bytes(30 * i)) for i in range(3)]
        with NodeClient(spec.client) as client, NodeClient(spec.consensus) as consensus:
            assert [s.code for s in client.submit(txns)] == [Code.VALID] * 3
            assert consensus.get_block(10) == txns
            assert consensus.get_block(10, max_bytes=wire(txns[0]) + wire(txns[1])) == txns[:2]
            assert consensus.get_block(10, max_bytes=1) == txns[:1]
            assert consensus.get_block(10, [txns[0].pointer], max_bytes=wire(txns[1])) == \
                txns[1:2]
    finally:
        node.stop()


# ---------------------------------------------------------------- eager expiry
EAGER = dict(eager_expire_threshold_ms=10_000, eager_expire_time_ms=6_000)


def test_eager_expiry_is_off_by_default(make_core, accounts, clock):
    core = make_core()
    assert (core.config.eager_expire_threshold_ms, core.config.eager_expire_time_ms) == (0, 0)
    soon = accounts.txn(0, 0, expiration=1_000_005)
    assert add(core, soon).code == Code.VALID
    clock.advance(10**5)  # a huge backlog, but eager expiry is off
    assert core.gc_by_expiration_time(1_000_000) == 0
    assert core.gc_by_expiration_time(1_000_006) == 1


@pytest.mark.parametrize("waited, eager", [(10.0, False), (10.25, True)])
def test_eager_expiry_starts_past_the_threshold(make_core, accounts, clock, waited, eager):
    """block_time + eager_expire_time once the oldest ready transaction waited longer (>) than
    the threshold, by the core's clock."""
    core = make_core(**EAGER)
    old = accounts.txn(0, 0, expiration=4_000_000_000)
    soon = accounts.txn(1, 0, expiration=1_000_005)
    later = accounts.txn(2, 0, expiration=1_000_007)
    for txn in (old, soon, later):
        assert add(core, txn).code == Code.VALID
    clock.advance(waited)
    # expiring before 1_000_000 (+ 6 s when eager): only `soon`, and only when eager
    assert core.gc_by_expiration_time(1_000_000) == (1 if eager else 0)
    assert (core.get(*soon.pointer) is None) is eager
    assert core.get(*later.pointer) is later and core.get(*old.pointer) is old
    core._check()


def test_eager_expiry_judges_the_oldest_ready_not_parked(make_core, accounts, clock):
    core = make_core(**EAGER)
    assert add(core, accounts.txn(0, 5)).code == Code.VALID  # parked: never offered
    clock.advance(9)
    soon = accounts.txn(1, 0, expiration=1_000_003)
    assert add(core, soon, state=NON_QUALIFIED).code == Code.VALID  # a peer's: ready too
    clock.advance(9)  # the parked one waited 18 s, the oldest ready 9 s
    assert core.gc_by_expiration_time(1_000_000) == 0
    clock.advance(1.5)  # the oldest ready: 10.5 s
    assert core.gc_by_expiration_time(1_000_000) == 1
    assert core.get(*soon.pointer) is None


def test_eager_expiry_ends_when_the_backlog_is_consumed(make_core, accounts, clock):
    core = make_core(**EAGER)
    old = accounts.txn(0, 0)
    assert add(core, old).code == Code.VALID
    clock.advance(8)
    soon = accounts.txn(1, 0, expiration=1_000_005)
    assert add(core, soon).code == Code.VALID
    clock.advance(4)  # old waited 12 s: a backlog
    core.remove_transaction(old.sender, 0, False)  # consensus takes it: soon waited 4 s
    assert core.gc_by_expiration_time(1_000_000) == 0
    assert core.get(*soon.pointer) is soon


def test_eager_expiry_with_a_limit_and_gc_order(make_core, accounts, clock):
    core = make_core(**EAGER)
    txns = [accounts.txn(i, 0, expiration=1_000_001 + i) for i in range(4)]
    for txn in txns:
        assert add(core, txn).code == Code.VALID
    clock.advance(11)
    core.removal_feed = True
    assert core.gc_by_expiration_time(1_000_000, 2) == 2
    assert core.gc_by_expiration_time(1_000_000, 2) == 2
    assert [t for t, _ in core.drain_removed()] == txns


@pytest.mark.parametrize("fields, missing", [
    (dict(eager_expire_threshold_ms=1), "eager_expire_time_ms"),
    (dict(eager_expire_time_ms=1), "eager_expire_threshold_ms"),
])
def test_eager_expiry_needs_both_settings(fields, missing):
    with pytest.raises(ConfigError, match=f"{missing} must be set") as raised:
        MempoolConfig(**fields)
    assert raised.value.field == missing
    with pytest.raises(ConfigError, match="eager_expire_time_ms"):
        MempoolConfig(eager_expire_threshold_ms=1, eager_expire_time_ms=-1)


# ---------------------------------------------------------------- lowest_price eviction
LOWEST = dict(eviction_policy="lowest_price")


def fill(core, accounts, prices, *, state=NON_QUALIFIED, first=0):
    """One ready transaction per account (accounts first, first + 1, ...) at each price."""
    txns = [accounts.txn(first + i, 0, gas_price=p) for i, p in enumerate(prices)]
    for txn in txns:
        assert add(core, txn, state=state).code == Code.VALID
    return txns


def test_parked_policy_never_evicts_a_ready_transaction(make_core, accounts):
    core = make_core(capacity=2)
    assert core.config.eviction_policy == "parked" and core.config.protect_local_transactions
    fill(core, accounts, [1, 1])
    assert add(core, accounts.txn(5, 0, gas_price=100)).code == Code.MEMPOOL_IS_FULL
    assert not core.health_check()


def test_lowest_price_evicts_the_cheapest_tail(make_core, accounts):
    core = make_core(capacity=3, **LOWEST)
    core.removal_feed = True
    txns = fill(core, accounts, [5, 2, 7])
    assert core.health_check()  # full, nothing parked, but a tail could go
    newcomer = accounts.txn(9, 0, gas_price=3)
    assert add(core, newcomer).code == Code.VALID
    assert core.drain_removed() == [(txns[1], RemovalReason.EVICTED)]
    assert len(core) == 3 and core.get(*newcomer.pointer) is newcomer
    core._check()


@pytest.mark.parametrize("price, evicted", [(2, False), (3, True)])
def test_lowest_price_needs_a_strictly_higher_newcomer(make_core, accounts, price, evicted):
    core = make_core(capacity=2, **LOWEST)
    fill(core, accounts, [2, 4])
    status = add(core, accounts.txn(9, 0, gas_price=price))
    assert status.code == (Code.VALID if evicted else Code.MEMPOOL_IS_FULL)
    assert len(core) == 2
    assert (core.get(accounts.address(0), 0) is None) is evicted


def test_lowest_price_takes_tails_only_never_opening_a_gap(make_core, accounts):
    """An account's cheap head is not a tail: only its highest sequence number may go."""
    core = make_core(capacity=3, **LOWEST)
    core.removal_feed = True
    head, tail = accounts.txn(0, 0, gas_price=1), accounts.txn(0, 1, gas_price=9)
    other = accounts.txn(1, 0, gas_price=5)
    for txn in (head, tail, other):
        assert add(core, txn, state=NON_QUALIFIED).code == Code.VALID
    # the tails pay 9 and 5: a newcomer paying 4 beats neither (the head's 1 is not a tail)
    assert add(core, accounts.txn(2, 0, gas_price=4)).code == Code.MEMPOOL_IS_FULL
    assert core.drain_removed() == []
    assert add(core, accounts.txn(2, 0, gas_price=6)).code == Code.VALID
    assert core.drain_removed() == [(other, RemovalReason.EVICTED)]
    # now account 0's tail (9) and the newcomer (6): 10 beats 9, the tail goes, not the head
    assert add(core, accounts.txn(3, 0, gas_price=10)).code == Code.VALID
    assert core.drain_removed() == [(tail, RemovalReason.EVICTED)]
    assert core.get(*head.pointer) is head
    # the head is account 0's tail now
    assert add(core, accounts.txn(4, 0, gas_price=2)).code == Code.VALID
    assert core.drain_removed() == [(head, RemovalReason.EVICTED)]
    core._check()


def test_lowest_price_evicts_parked_first(make_core, accounts):
    """A parked candidate goes before any tail, even a cheaper one (the parked rule first)."""
    core = make_core(capacity=3, **LOWEST)
    core.removal_feed = True
    cheap = fill(core, accounts, [1, 1])
    parked = accounts.txn(5, 3, gas_price=50)
    assert add(core, parked, state=NON_QUALIFIED).code == Code.VALID
    assert add(core, accounts.txn(6, 0, gas_price=2)).code == Code.VALID
    assert core.drain_removed() == [(parked, RemovalReason.EVICTED)]
    assert all(core.get(*t.pointer) is t for t in cheap)
    # nothing parked now: the next one takes a tail
    assert add(core, accounts.txn(7, 0, gas_price=2)).code == Code.VALID
    assert [r for _, r in core.drain_removed()] == [RemovalReason.EVICTED]


def test_lowest_price_after_parked_ones_are_not_enough(make_core, accounts):
    """Over capacity_bytes, the parked ones go first, then tails, as many as it takes."""
    parked = accounts.txn(0, 3, gas_price=50)
    a, b = accounts.txn(1, 0, gas_price=1), accounts.txn(2, 0, gas_price=2)
    limit = 3 * entry_bytes(a)
    core = make_core(capacity_bytes=limit, **LOWEST)
    core.removal_feed = True
    for txn in (parked, a, b):
        assert add(core, txn, state=NON_QUALIFIED).code == Code.VALID
    big = accounts.txn(3, 0, gas_price=3, payload=b"q" * (entry_bytes(a) + 10))
    # 3 entries = limit: full; evicting parked leaves 2 (not full): big is admitted
    assert add(core, big).code == Code.VALID
    assert core.drain_removed() == [(parked, RemovalReason.EVICTED)]
    assert core.size_bytes() >= limit
    newcomer = accounts.txn(4, 0, gas_price=3)
    assert add(core, newcomer).code == Code.VALID  # nothing parked: the tails paying 1, 2
    assert core.drain_removed() == [(a, RemovalReason.EVICTED), (b, RemovalReason.EVICTED)]
    core._check()


@pytest.mark.parametrize("protect", [True, False])
def test_lowest_price_protects_local_transactions(make_core, accounts, protect):
    core = make_core(capacity=2, protect_local_transactions=protect, **LOWEST)
    core.removal_feed = True
    local = fill(core, accounts, [1], state=NOT_READY)[0]
    peer = fill(core, accounts, [5], first=1)[0]
    assert core.timeline_state(*local.pointer) == (READY, 1)
    newcomer = accounts.txn(9, 0, gas_price=8)
    assert add(core, newcomer).code == Code.VALID
    # protected, the local one (cheapest) stays and the peer's goes
    assert core.drain_removed() == [(peer if protect else local, RemovalReason.EVICTED)]
    core._check()


def test_protected_local_transactions_fill_the_pool(make_core, accounts):
    core = make_core(capacity=2, **LOWEST)
    fill(core, accounts, [1, 1], state=NOT_READY)
    assert not core.health_check()  # nothing parked, no evictable tail
    assert add(core, accounts.txn(9, 0, gas_price=100)).code == Code.MEMPOOL_IS_FULL
    # a local tail above a peer's head keeps the whole account: its head is no tail
    core = make_core(capacity=2, **LOWEST)
    assert add(core, accounts.txn(0, 0, gas_price=1), state=NON_QUALIFIED).code == Code.VALID
    assert add(core, accounts.txn(0, 1, gas_price=1)).code == Code.VALID
    assert add(core, accounts.txn(9, 0, gas_price=100)).code == Code.MEMPOOL_IS_FULL


def test_lowest_price_spares_the_newcomers_own_account(make_core, accounts):
    """Evicting the newcomer's own tail would leave it a gap: the next cheapest goes, or
    nothing."""
    core = make_core(capacity=2, **LOWEST)
    core.removal_feed = True
    mine, other = fill(core, accounts, [1, 2])
    assert add(core, accounts.txn(0, 1, gas_price=5), state=NON_QUALIFIED).code == Code.VALID
    assert core.drain_removed() == [(other, RemovalReason.EVICTED)]
    assert add(core, accounts.txn(0, 2, gas_price=9), state=NON_QUALIFIED).code == \
        Code.MEMPOOL_IS_FULL  # only its own account is left
    assert core.get(*mine.pointer) is mine


def test_lowest_price_ties_take_the_latest_expiry_then_the_latest_insertion(make_core,
                                                                           accounts, clock):
    core = make_core(capacity=3, **LOWEST)
    core.removal_feed = True
    high, low = by_address(accounts, 0, 1)[::-1]
    first = accounts.txn(2, 0, gas_price=4)
    assert add(core, first, state=NON_QUALIFIED).code == Code.VALID
    clock.advance(1)
    # one clock reading: the same system expiry; the address does not matter, the insertion does
    pair = [accounts.txn(high, 0, gas_price=4), accounts.txn(low, 0, gas_price=4)]
    for txn in pair:
        assert add(core, txn, state=NON_QUALIFIED).code == Code.VALID
    assert add(core, accounts.txn(5, 0, gas_price=5)).code == Code.VALID
    assert core.drain_removed() == [(pair[1], RemovalReason.EVICTED)]  # inserted last
    assert add(core, accounts.txn(6, 0, gas_price=5)).code == Code.VALID
    assert core.drain_removed() == [(pair[0], RemovalReason.EVICTED)]
    assert add(core, accounts.txn(7, 0, gas_price=5)).code == Code.VALID
    assert core.drain_removed() == [(first, RemovalReason.EVICTED)]


def test_lowest_price_only_for_a_would_be_ready_newcomer(make_core, accounts):
    core = make_core(capacity=2, **LOWEST)
    fill(core, accounts, [1, 1])
    assert add(core, accounts.txn(9, 1, gas_price=100)).code == Code.MEMPOOL_IS_FULL
    assert len(core) == 2


def test_lowest_price_eviction_of_a_broadcast_transaction_leaves_the_timeline(make_core,
                                                                           accounts):
    core = make_core(capacity=1, protect_local_transactions=False, **LOWEST)
    local = fill(core, accounts, [1], state=NOT_READY)[0]
    assert core.read_timeline(0, 10) == ([local], 1)
    newcomer = accounts.txn(1, 0, gas_price=2)
    assert add(core, newcomer).code == Code.VALID
    assert core.read_timeline(0, 10) == ([newcomer], 2)
    assert core.get_by_hash(local.hash) is None
    core._check()


@pytest.mark.parametrize("fields, name", [
    (dict(eviction_policy="cheapest"), "eviction_policy"),
    (dict(eviction_policy=None), "eviction_policy"),
    (dict(protect_local_transactions=1), "protect_local_transactions"),
    (dict(protect_local_transactions="yes"), "protect_local_transactions"),
])
def test_eviction_config_checked(fields, name):
    with pytest.raises(ConfigError, match=name):
        MempoolConfig(**fields)


# ---------------------------------------------------------------- broadcast buckets
def test_one_bucket_is_todays_timeline(make_core, accounts):
    core = make_core()
    assert core.config.broadcast_buckets == (0,)
    txns = [accounts.txn(i, 0, gas_price=p) for i, p in enumerate((5, 500, 0))]
    for txn in txns:
        assert add(core, txn).code == Code.VALID
    assert core.read_timeline(0, 10) == (txns, 3)
    assert core.read_timeline_buckets((0,), 10) == (txns, (3,))
    assert core.read_timeline_buckets((1,), 1) == (txns[1:2], (2,))
    assert core.read_timeline_buckets((3,), 10) == ([], (3,))
    assert core.timeline_range_buckets(((0, 2),)) == txns[:2]


BUCKETS = (0, 10, 100)


@pytest.fixture
def bucketed(make_core, accounts):
    """Buckets [0, 10), [10, 100), [100, ...): transactions at the bounds and between."""
    core = make_core(broadcast_buckets=BUCKETS)
    prices = (5, 50, 500, 10, 100, 0, 9, 99)  # ids 1..8
    txns = [accounts.txn(i, 0, gas_price=p) for i, p in enumerate(prices)]
    for txn in txns:
        assert add(core, txn).code == Code.VALID
    return core, txns


def test_buckets_read_the_highest_first(bucketed):
    core, t = bucketed
    high, mid, low = [t[2], t[4]], [t[1], t[3], t[7]], [t[0], t[5], t[6]]
    assert core.read_timeline_buckets((0, 0, 0), 100) == (high + mid + low, (7, 8, 5))
    # count runs out in the middle bucket: the lowest keeps its cursor
    assert core.read_timeline_buckets((0, 0, 0), 3) == (high + mid[:1], (0, 2, 5))
    assert core.read_timeline_buckets((0, 2, 5), 3) == (mid[1:] + low[:1], (1, 8, 5))
    assert core.read_timeline_buckets((1, 8, 5), 3) == (low[1:], (7, 8, 5))
    assert core.read_timeline_buckets((7, 8, 5), 3) == ([], (7, 8, 5))
    # read_timeline stays the merged timeline in id order; ids are global
    assert core.read_timeline(0, 100) == (t, 8)
    assert core.timeline_state(*t[4].pointer) == (READY, 5)
    assert core.timeline_size() == 8 and core.last_timeline_id() == 8
    core._check()


def test_buckets_with_equal_and_extreme_prices(make_core, accounts):
    top = 2**64 - 1
    core = make_core(broadcast_buckets=(0, top))
    same = [accounts.txn(i, 0, gas_price=7) for i in range(3)]
    extremes = [accounts.txn(3, 0, gas_price=top), accounts.txn(4, 0, gas_price=top - 1),
                accounts.txn(5, 0, gas_price=0)]
    for txn in same + extremes:
        assert add(core, txn, balance=2**70).code == Code.VALID
    # equal prices keep their order in one bucket; only top itself reaches the top bucket
    assert core.read_timeline_buckets((0, 0), 100) == (
        [extremes[0]] + same + extremes[1:], (6, 4))
    core._check()


def test_buckets_follow_replacement_and_removals(bucketed, accounts, clock):
    core, t = bucketed
    # a replacement at a higher price moves to its new bucket with a new id
    dearer = accounts.txn(0, 0, gas_price=150)
    assert add(core, dearer).code == Code.VALID
    assert core.timeline_state(*dearer.pointer) == (READY, 9)
    assert core.read_timeline_buckets((0, 0, 0), 100)[0] == [t[2], t[4], dearer, t[1], t[3],
                                                              t[7], t[5], t[6]]
    # a resend reads the batch's ranges again: what left since drops out
    ranges = ((0, 7), (0, 8), (0, 9))
    core.remove_transaction(t[2].sender, 0, False)
    core.remove_transaction(t[3].sender, 0, True)
    assert core.timeline_range_buckets(ranges) == [t[4], dearer, t[1], t[7], t[5], t[6]]
    assert core.timeline_range_buckets(((0, 0), (2, 2), (5, 9))) == [dearer]
    assert core.timeline_range(0, 100) == [t[1], t[4], t[5], t[6], t[7], dearer]
    clock.advance(10**6)
    assert core.gc_by_system_ttl() == 6
    assert core.read_timeline_buckets((0, 0, 0), 100) == ([], (0, 0, 0))
    core._check()


def test_gc_parks_and_returns_to_the_bucket(make_core, accounts):
    core = make_core(broadcast_buckets=BUCKETS)
    chain = [accounts.txn(0, 0, gas_price=500, expiration=1_000), accounts.txn(0, 1, gas_price=50)]
    for txn in chain:
        assert add(core, txn).code == Code.VALID
    assert core.gc_by_expiration_time(2_000) == 1  # the gap parks the second
    assert core.read_timeline_buckets((0, 0, 0), 10) == ([], (0, 0, 0))
    refill = accounts.txn(0, 0, gas_price=5)
    assert add(core, refill).code == Code.VALID
    # the refill (id 3, bucket 0) promotes the parked one (id 4, bucket 1 again)
    assert core.read_timeline_buckets((0, 0, 0), 10) == ([chain[1], refill], (3, 4, 0))


@pytest.mark.parametrize("bad", [(0, 0), [0, 0, 0], (0,), None, 3])
def test_bucket_cursors_must_be_one_per_bucket(bucketed, bad):
    core, _ = bucketed
    with pytest.raises(ValueError, match=r"cursors must be a tuple of 3 timeline ids"):
        core.read_timeline_buckets(bad, 10)
    with pytest.raises(ValueError, match=r"ranges must be a tuple of 3 \(start, end\)"):
        core.timeline_range_buckets(bad)


@pytest.mark.parametrize("value, need", [
    ((), "a tuple of 1 to 64"), ((1, 5), "gas-price lower bounds starting at 0"), ((0, 5, 5), "strictly ascending"),
    ((0, 2**64), "a tuple of 1 to 64"), ((0, 1.5), "a tuple of 1 to 64"),
    (tuple(range(65)), "a tuple of 1 to 64"), ("0", "a tuple"),
])
def test_broadcast_buckets_config_checked(value, need):
    with pytest.raises(ConfigError, match=f"broadcast_buckets must be {need}"):
        MempoolConfig(broadcast_buckets=value)
    assert MempoolConfig(broadcast_buckets=[0, 5]).broadcast_buckets == (0, 5)  # TOML arrays


# ---------------------------------------------------------------- broadcast buckets: the peers
def _shared(core_cls, clock, accounts, configs, **kw):
    from test_shared import Cluster

    return Cluster(core_cls, clock, accounts, names=tuple(configs), configs=configs,
                   funded=range(40), **kw)


def _bucket_config(**fields):
    from test_shared import manual_config

    return manual_config(**fields)


@pytest.mark.parametrize("buckets", [(0,), (0, 100)])
def test_high_fees_reach_peers_first_under_a_backlog(core_cls, clock, accounts, buckets):
    """30 low-fee transactions wait, then 5 high-fee ones arrive: with buckets on, the first
    batch a peer gets is the high-fee one (the highest bucket is read first); with one bucket
    it is the oldest low-fee ones. The receiver runs the default config (one bucket): it only
    echoes the ranges."""
    from conftest import wait_until

    sender = _bucket_config(broadcast_buckets=buckets, shared_mempool_batch_size=5)
    c = _shared(core_cls, clock, accounts, {"a": sender, "b": _bucket_config()})
    try:
        low = [accounts.txn(i, 0, gas_price=1) for i in range(30)]
        high = [accounts.txn(30 + i, 0, gas_price=500) for i in range(5)]
        assert all(s.code == Code.VALID for s in c["a"].submit_transactions(low + high))
        first = high if buckets != (0,) else low[:5]
        c["a"].sync_with_peers()  # one batch of 5
        assert wait_until(lambda: len(c["b"].mempool) == 5)
        assert sorted(ptrs(c["b"].get_block(100))) == sorted(ptrs(first))
        assert wait_until(lambda: c["a"].in_flight("b") == [])  # acknowledged
        for _ in range(6):  # the backlog drains: everything arrives, the low fees in order
            c["a"].sync_with_peers()
        assert wait_until(lambda: len(c["b"].mempool) == 35)
        state = c["a"].peers()["b"]
        if buckets == (0,):
            assert state.cursors is None and state.timeline_id == 35
        else:
            assert state.cursors == (30, 35) and state.timeline_id == 35
            assert c["a"].inspect()["peers"]["b"]["cursors"] == [30, 35]
    finally:
        c.stop()


def test_bucketed_batches_are_named_by_their_ranges_and_resent(core_cls, clock, accounts):
    """A bucket node's batch is a BUCKET broadcast named by its per-bucket ranges; unacked it
    is resent after the ack timeout re-reading those ranges (committed ones drop out); the
    peer's BUCKET ack of the same ranges clears it."""
    from conftest import wait_until
    from mempool_fast.network.base import EventKind
    from mempool_fast.shared.protocol import (BucketAck, BucketBroadcastRequest, Hello,
                                              decode, encode)

    cfg = _bucket_config(broadcast_buckets=(0, 10, 100), shared_mempool_batch_size=10)
    c = _shared(core_cls, clock, accounts, {"a": cfg}, connect=False)
    try:
        raw = c.hub.endpoint("raw")
        c.hub.connect("a", "raw")
        c.wait_peers("a", {"raw"})
        txns = [accounts.txn(0, 0, gas_price=5), accounts.txn(1, 0, gas_price=50),
                accounts.txn(2, 0, gas_price=500), accounts.txn(3, 0, gas_price=7)]
        assert all(s.code == Code.VALID for s in c["a"].submit_transactions(txns))

        def next_batch():
            while True:
                event = raw.recv(timeout=5)
                assert event is not None
                if event.kind is EventKind.MESSAGE:
                    message = decode(event.data)
                    if not isinstance(message, Hello):
                        return message

        c["a"].sync_with_peers()
        batch = next_batch()
        assert isinstance(batch, BucketBroadcastRequest)
        assert batch.ranges == (0, 4, 0, 2, 0, 3)  # bucket 0: ids 1, 4; 1: id 2; 2: id 3
        assert [t.pointer for t in batch.transactions()[0]] == ptrs([txns[2], txns[1], txns[0],
                                                                    txns[3]])
        assert c["a"].in_flight("raw") == [batch.ranges]
        c["a"].commit_transactions([txns[1].pointer], block_time=0)
        clock.advance(cfg.shared_mempool_ack_timeout_ms / 1000)
        c["a"].sync_with_peers()
        again = next_batch()
        assert again.ranges == batch.ranges
        assert [t.pointer for t in again.transactions()[0]] == ptrs([txns[2], txns[0], txns[3]])
        assert raw.send("a", encode(BucketAck(batch.ranges, incarnation=7)))
        assert wait_until(lambda: c["a"].in_flight("raw") == [])
        assert c["a"].counters()["stale_acks"] == 0
    finally:
        c.stop()


def test_a_peer_acks_a_bucketed_batch_with_its_ranges(core_cls, clock, accounts):
    from mempool_fast.shared.protocol import BucketAck, BucketBroadcastRequest

    c = _shared(core_cls, clock, accounts, {"b": _bucket_config()}, connect=False)
    try:
        txn = accounts.txn(0, 0)
        ack = c["b"].process_broadcast("x", BucketBroadcastRequest((3, 3, 0, 9),
                                                                   (txn.to_bytes(),)))
        assert isinstance(ack, BucketAck) and ack.ranges == (3, 3, 0, 9)
        assert not ack.retry and ack.incarnation == c["b"].incarnation
        assert c["b"].mempool.get(*txn.pointer) == txn
    finally:
        c.stop()


def test_a_restarted_peer_starts_every_bucket_over():
    from mempool_fast.shared.peers import PeerBook

    book = PeerBook(ack_timeout_s=1, backoff_interval_s=1, max_in_flight=4, buckets=3)
    book.new_peer("p")
    assert book.cursor_for_new_batch("p") == (0, 0, 0)
    assert book.sent("p", (0, 0, 0), (0, 5, 7), now=0.0)
    assert not book.sent("p", (0, 0, 0), (0, 9, 9), now=0.0)  # the cursor moved: not sent
    assert book.in_flight("p") == [(0, 0, 0, 5, 0, 7)]
    assert book.snapshot()["p"].cursors == (0, 5, 7)
    assert book.observe_incarnation("p", 1) is False
    assert book.observe_incarnation("p", 2) is True  # restarted
    assert book.cursor_for_new_batch("p") == (0, 0, 0) and book.in_flight("p") == []


def test_bucketed_messages_round_trip():
    from mempool_fast.shared.protocol import (MSG_ACK_BUCKETS, MSG_BROADCAST_BUCKETS, VERSION,
                                              BucketAck, BucketBroadcastRequest, decode, encode)

    for value, kind in ((BucketBroadcastRequest((0, 4, 0, 2, 0, 3), (b"ab", b"")),
                         MSG_BROADCAST_BUCKETS),
                        (BucketBroadcastRequest((2**64 - 2, 2**64 - 1), ()),
                         MSG_BROADCAST_BUCKETS),
                        (BucketAck((0, 1) * 64, True, True, 2**64 - 1), MSG_ACK_BUCKETS)):
        data = encode(value)
        assert data[:2] == bytes([VERSION, kind])
        assert decode(data) == value
    with pytest.raises(ValueError, match="every range is empty"):
        BucketAck((3, 3))
    with pytest.raises(ValueError, match="1 to 64"):
        BucketAck((0, 1) * 65)


@pytest.mark.parametrize("data, reason", [
    (b"\x02\x04", "no range count"),
    (b"\x02\x04\x00", "0 bucket ranges"),
    (b"\x02\x05\x41" + bytes(65 * 16), "65 bucket ranges"),
    (b"\x02\x04\x01" + bytes(8), "need 19 bytes"),
    (b"\x02\x04\x01" + bytes(16) + bytes(4), "every range is empty"),
    (b"\x02\x04\x01" + (5).to_bytes(8, "little") + (4).to_bytes(8, "little") + bytes(4),
     "ends before it starts"),
    (b"\x02\x04\x01" + bytes(8) + (1).to_bytes(8, "little"), "before its transaction count"),
    (b"\x02\x04\x01" + bytes(8) + (1).to_bytes(8, "little") + bytes(4) + b"x", "trailing"),
    (b"\x02\x05\x01" + bytes(8) + (1).to_bytes(8, "little") + bytes(8), "expected 28"),
    (b"\x02\x05\x01" + bytes(8) + (1).to_bytes(8, "little") + bytes(8) + b"\x04", "flags"),
])
def test_malformed_bucketed_messages(data, reason):
    from mempool_fast.errors import MalformedMessage
    from mempool_fast.shared.protocol import decode

    with pytest.raises(MalformedMessage, match=reason):
        decode(data)


def test_single_bucket_messages_are_unchanged(accounts):
    """The default config sends exactly the version-2 BROADCAST and ACK it always did."""
    from mempool_fast.shared.protocol import Ack, encode, encode_broadcast

    txn = accounts.txn(0, 0)
    wire = txn.to_bytes()
    assert encode_broadcast(0, 1, [txn]) == (bytes([2, 1]) + (0).to_bytes(8, "little")
                                             + (1).to_bytes(8, "little")
                                             + (1).to_bytes(4, "little")
                                             + len(wire).to_bytes(4, "little") + wire)
    assert encode(Ack(0, 1, True, False, 5)) == (bytes([2, 2]) + (0).to_bytes(8, "little")
                                                 + (1).to_bytes(8, "little")
                                                 + (5).to_bytes(8, "little") + b"\x01")
