"""MempoolConfig: Libra's defaults (docs/design.md §4), replace(), and rejected values."""

from __future__ import annotations

import dataclasses

import pytest

from mempool_fast import MempoolConfig

LIBRA_DEFAULTS = dict(
    capacity=1_000_000,
    capacity_per_user=100,
    system_transaction_timeout_secs=86400,
    system_transaction_gc_interval_ms=180_000,
    shared_mempool_tick_interval_ms=50,
    shared_mempool_batch_size=100,
    shared_mempool_max_concurrent_inbound_syncs=100,
)


def test_is_a_dataclass_with_libra_defaults():
    config = MempoolConfig()
    assert dataclasses.is_dataclass(config)
    for name, value in LIBRA_DEFAULTS.items():
        assert getattr(config, name) == value, name


def test_acknowledged_broadcast_fields_exist():
    config = MempoolConfig()
    for name in ("shared_mempool_ack_timeout_ms", "max_broadcasts_per_peer",
                 "shared_mempool_backoff_interval_ms"):
        assert getattr(config, name) > 0


def test_replace_returns_a_changed_copy():
    config = MempoolConfig()
    other = config.replace(capacity=10, capacity_per_user=2)
    assert (other.capacity, other.capacity_per_user) == (10, 2)
    assert config.capacity == 1_000_000 and config.capacity_per_user == 100
    assert other.system_transaction_timeout_secs == config.system_transaction_timeout_secs
    with pytest.raises(TypeError):
        config.replace(no_such_field=1)


@pytest.mark.parametrize("changes", [
    dict(capacity=0), dict(capacity=-1), dict(capacity_per_user=0),
    dict(shared_mempool_batch_size=0), dict(shared_mempool_max_concurrent_inbound_syncs=0),
    dict(max_broadcasts_per_peer=0), dict(system_transaction_timeout_secs=-1),
    dict(status_history_size=-1), dict(status_history_size=2.5), dict(watch_queue_size=0),
    dict(watch_queue_size=True),
])
def test_invalid_values_rejected(changes):
    with pytest.raises(ValueError):
        MempoolConfig(**changes)
    with pytest.raises(ValueError):
        MempoolConfig().replace(**changes)


def test_status_api_fields():
    config = MempoolConfig()
    assert (config.status_history_size, config.watch_queue_size) == (100_000, 10_000)
    assert MempoolConfig(status_history_size=0).status_history_size == 0  # disabled


def test_equal_by_value():
    assert MempoolConfig() == MempoolConfig()
    assert MempoolConfig(capacity=5) != MempoolConfig()
