"""Embedding mistakes fail loudly and clearly: what an embedder's pluggable parts get told."""

from __future__ import annotations

import logging

import pytest

from conftest import wait_until
from mempool_fast import MempoolConfig
from mempool_fast.network.inprocess import InProcessNetwork
from mempool_fast.shared import NO_PEER_WARNING_S, SharedMempool
from mempool_fast.storage import InMemoryAccountStore


@pytest.mark.parametrize("peers", [0, 1], ids=["no NEW_PEER ever", "a peer joined"])
def test_a_network_that_never_reports_a_peer_gets_one_warning(core_cls, clock, caplog, peers):
    caplog.set_level(logging.WARNING, logger="mempool_fast.shared")
    config = MempoolConfig(shared_mempool_tick_interval_ms=5)
    hub = InProcessNetwork()
    names = ["a", "b"][:1 + peers]
    nodes = [SharedMempool(config, hub.endpoint(n), InMemoryAccountStore(),
                           mempool=core_cls(config, clock=clock), clock=clock) for n in names]
    try:
        for node in nodes:
            node.start()
        if peers:
            hub.connect_all(names)
            assert wait_until(lambda: "b" in nodes[0].peers())
        clock.advance(NO_PEER_WARNING_S + 1)
        # the outbound thread ticks every 5 ms; give it many rounds past the deadline
        seen = wait_until(lambda: any("nothing will be broadcast" in r.getMessage()
                                      for r in caplog.records), timeout=1.0 if peers else 10.0)
        warnings = [r for r in caplog.records if "nothing will be broadcast" in r.getMessage()]
        if peers:
            assert not seen and warnings == []
        else:
            assert seen and len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    finally:
        for node in nodes:
            node.stop()
