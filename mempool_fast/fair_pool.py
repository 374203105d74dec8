"""A bounded worker pool that is fair across keys (peers, clients).

At most `slots` jobs run at once and at most `share` of them for one key; a key's further jobs
wait in its own queue (at most `share` of them; past that `submit` refuses the job) and free
slots go to waiting keys round-robin. So one flooding peer or one client sending huge requests
cannot take every slot, and nobody waits behind more than one round of the others.
One condition variable guards the scheduling state; jobs run without it.
"""

from __future__ import annotations

import collections
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Hashable

__all__ = ["FairPool"]

log = logging.getLogger(__name__)


class FairPool:
    """Runs `run(key, job)` on pool threads, fairly across keys (see the module docstring)."""

    def __init__(self, run: Callable[[Any, Any], None], *, slots: int, share: int,
                 name: str) -> None:
        if slots < 1 or share < 1:
            raise ValueError("slots and share must be at least 1")
        self._run = run
        self._slots = slots
        self._share = share
        self._name = name
        self._cond = threading.Condition()
        self._running = 0
        self._per_key: collections.Counter[Hashable] = collections.Counter()
        self._waiting: collections.OrderedDict[Hashable, collections.deque[Any]] = \
            collections.OrderedDict()
        self._executor: ThreadPoolExecutor | None = None
        self._stopped = False
        #: The most jobs ever running at once, in all and for one key.
        self.max_running = 0
        self.max_per_key = 0

    def start(self) -> None:
        with self._cond:
            if self._executor is None and not self._stopped:
                self._executor = ThreadPoolExecutor(max_workers=self._slots,
                                                    thread_name_prefix=self._name)

    def stop(self) -> None:
        """Refuse new jobs, drop the waiting ones, wait for the running ones. Idempotent."""
        with self._cond:
            self._stopped = True
            self._waiting.clear()
            executor, self._executor = self._executor, None
            self._cond.notify_all()
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def submit(self, key: Hashable, job: Any) -> bool:
        """Queue a job behind the key's earlier ones and start what may start; False (nothing
        queued) when stopped or when the key already has `share` jobs waiting."""
        with self._cond:
            if self._stopped or self._executor is None:
                return False
            waiting = self._waiting.setdefault(key, collections.deque())
            if len(waiting) >= self._share:
                return False
            waiting.append(job)
            start = self._claim_locked()
        self._launch(start)
        return True

    def wait_for_slot(self, timeout: float) -> bool:
        """Wait until fewer than `slots` jobs run; False on timeout (then do not read more)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._running < self._slots or self._stopped,
                                       timeout=timeout)

    def drop_waiting(self, key: Hashable) -> None:
        """Forget a key's waiting jobs (its running ones finish)."""
        with self._cond:
            self._waiting.pop(key, None)

    def load(self) -> dict[Hashable, tuple[int, int]]:
        """Per key: (jobs running, jobs waiting)."""
        with self._cond:
            keys = set(self._per_key) | set(self._waiting)
            return {k: (self._per_key.get(k, 0), len(self._waiting.get(k, ()))) for k in keys}

    @property
    def running(self) -> int:
        with self._cond:
            return self._running

    # -- internals --
    def _claim_locked(self) -> list[tuple[Hashable, Any]]:
        """Claim free slots for waiting jobs, one key after another, each key below its share."""
        start: list[tuple[Hashable, Any]] = []
        waiting, per_key = self._waiting, self._per_key
        while self._running < self._slots:
            key = next((k for k in waiting if per_key[k] < self._share), None)
            if key is None:
                break
            queue = waiting[key]
            start.append((key, queue.popleft()))
            if queue:
                waiting.move_to_end(key)
            else:
                del waiting[key]
            per_key[key] += 1
            self._running += 1
            self.max_per_key = max(self.max_per_key, per_key[key])
        self.max_running = max(self.max_running, self._running)
        return start

    def _release_locked(self, key: Hashable) -> None:
        self._running -= 1
        self._per_key[key] -= 1
        if not self._per_key[key]:
            del self._per_key[key]
        self._cond.notify_all()

    def _launch(self, start: list[tuple[Hashable, Any]]) -> None:
        for i, (key, job) in enumerate(start):
            executor = self._executor
            try:
                if executor is None:
                    raise RuntimeError("pool stopped")
                executor.submit(self._job, key, job)
            except RuntimeError:  # stopped meanwhile: give the slots back
                with self._cond:
                    for k, _ in start[i:]:
                        self._release_locked(k)
                return

    def _job(self, key: Hashable, job: Any) -> None:
        try:
            self._run(key, job)
        except Exception:
            log.exception("%s: job of %s failed", self._name, key)
        finally:
            with self._cond:
                self._release_locked(key)
                start = [] if self._stopped else self._claim_locked()
            self._launch(start)
