"""The network reader: takes events in order and hands them on, with back-pressure.

It reads only while the inbound pool has a free slot, so a busy node stops draining its bounded
network queue and its senders wait. A `recv()` that raises is retried after a growing pause
(counted and logged, never a busy loop).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from ..fair_pool import FairPool
from ..network.base import Network, NetworkEvent

__all__ = ["NetworkReader"]

log = logging.getLogger(__name__)

#: Pauses after a failing recv(): first, then doubled up to the last.
_ERROR_PAUSE_S = (0.01, 1.0)


class NetworkReader:
    """One reader thread's loop over `network.recv` (see the module docstring)."""

    def __init__(self, network: Network, pool: FairPool,
                 on_event: Callable[[NetworkEvent], None], *, poll_s: float,
                 on_error: Callable[[], None]) -> None:
        self._network = network
        self._pool = pool
        self._on_event = on_event
        self._poll = poll_s
        self._on_error = on_error

    def run(self, stop: threading.Event) -> None:
        """Read until `stop` is set."""
        poll = self._poll
        recv = self._network.recv
        pause = 0.0
        while not stop.is_set():
            if not self._pool.wait_for_slot(poll):
                continue  # every inbound slot busy: do not read (back-pressure)
            try:
                started = time.monotonic()
                event = recv(timeout=poll)
            except Exception:
                pause = min(max(pause * 2, _ERROR_PAUSE_S[0]), _ERROR_PAUSE_S[1])
                self._on_error()
                log.exception("network recv() failed; retrying in %.2f s", pause)
                stop.wait(pause)
                continue
            pause = 0.0
            if event is None:
                if time.monotonic() - started < poll / 2:
                    stop.wait(poll)  # the network is closed: idle until stop()
                continue
            try:
                self._on_event(event)
            except Exception:
                log.exception("network event handling failed")
