"""The MempoolConfig policies beyond Libra's 2019 rules (docs/design.md §4 "Policies"), on every
core: each test runs on the pure and the Cython core (mixed pairs included), at the policy's
boundaries. The defaults keep Libra's rules (tests/test_core.py runs them unchanged)."""

from __future__ import annotations

import pytest

from mempool_fast import MempoolConfig, TimelineState
from mempool_fast.errors import ConfigError
from mempool_fast.types import MempoolAddTransactionStatusCode as Code
from mempool_fast.types import RemovalReason

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
