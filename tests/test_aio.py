"""mempool_fast.aio (docs/design.md §5, asyncio): AsyncSharedMempool and AsyncNetwork under a
real event loop (`asyncio.run` in plain pytest tests), on every core where the core matters.

Nothing sleeps to wait for a condition: `until()` polls with a deadline (yielding to the loop);
the only sleeps are a ticker's, which measure that the loop keeps running. Slow storage and
validators block on a gate the test opens. Thread leaks are checked by comparing
`threading.enumerate()` with what ran before, polled with a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mempool_fast import MempoolConfig
from mempool_fast import TransactionEventKind as K
from mempool_fast import TransactionState as S
from mempool_fast import MempoolAddTransactionStatusCode as Code
from mempool_fast.aio import (AsyncNetwork, AsyncSharedMempool, EventKind, NetworkEvent,
                              TransactionLike)
from mempool_fast.network.inprocess import InProcessNetwork
from mempool_fast.shared import SharedMempool, SharedMempoolNotification as N
from mempool_fast.storage import InMemoryAccountStore

FOREVER_MS = 10**9
BALANCE = 10**12
DEADLINE = 10.0
ROOT = Path(__file__).resolve().parent.parent


def manual(**fields) -> MempoolConfig:
    """Nothing ticks on its own: rounds and GC happen when a test asks."""
    base = dict(shared_mempool_tick_interval_ms=FOREVER_MS,
                system_transaction_gc_interval_ms=FOREVER_MS,
                shared_mempool_poll_interval_ms=20)
    base.update(fields)
    return MempoolConfig(**base)


def ticking(**fields) -> MempoolConfig:
    """Broadcast every 20 ms, acks time out after 100 ms."""
    return manual(shared_mempool_tick_interval_ms=20, shared_mempool_ack_timeout_ms=100,
                  **fields)


def run(coro, timeout: float = 60.0):
    """Run a test's coroutine in a fresh event loop, bounded in time."""
    async def bounded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


async def until(predicate, timeout: float = DEADLINE, interval: float = 0.005) -> bool:
    """Poll `predicate` (sync, or a coroutine function) until true or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval)


def new_threads(before: set[threading.Thread]) -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t not in before and t.is_alive())


def named(prefix: str) -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(prefix)]


def feeders() -> list[str]:
    """The streams' threads (a facade's executor workers start as calls need them)."""
    return named("smp-aio-watch") + named("smp-aio-notify")


class Gate:
    """Makes a blocking collaborator wait until the test opens it; says when it was entered."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()
        self.calls = 0

    def pass_through(self) -> None:
        self.calls += 1
        self.entered.set()
        if not self.opened.wait(DEADLINE * 3):
            raise RuntimeError("the test never opened the gate")


class GatedStore(InMemoryAccountStore):
    """An account store whose reads wait at the gate (a slow database)."""

    def __init__(self, gate: Gate) -> None:
        super().__init__()
        self.gate = gate

    def get_account_states(self, addresses):
        self.gate.pass_through()
        return super().get_account_states(addresses)


class GatedValidator:
    """A validator that waits at the gate, then finds everything valid (a slow verifier)."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    def validate(self, txns):
        self.gate.pass_through()
        return [None] * len(txns)


def funded(store: InMemoryAccountStore, accounts, n: int = 4) -> InMemoryAccountStore:
    for i in range(n):
        store.set_account(accounts.address(i), 0, BALANCE)
    return store


def facade(impl, store, *, name: str = "a", config: MempoolConfig | None = None,
           network=None, **kwargs) -> AsyncSharedMempool:
    cfg = config or manual()
    net = network if network is not None else InProcessNetwork().endpoint(name)
    return AsyncSharedMempool(cfg, net, store, mempool=impl.core(cfg), **kwargs)


# ---------------------------------------------------------------- the asyncio transport stand-in
class QueueHub:
    """Links between AsyncNetworks: a bounded asyncio queue per node, a reader task each."""

    def __init__(self) -> None:
        self.inboxes: dict[str, asyncio.Queue] = {}
        self.nets: dict[str, QueueNetwork] = {}
        self.links: set[tuple[str, str]] = set()
        self.tasks: list[asyncio.Task] = []

    def add(self, name: str, **kwargs) -> QueueNetwork:
        net = self.nets[name] = QueueNetwork(self, name, **kwargs)
        self.inboxes[name] = asyncio.Queue(32)
        self.tasks.append(asyncio.create_task(self._read(name)))
        return net

    def connect(self, a: str, b: str) -> None:
        self.links |= {(a, b), (b, a)}
        assert self.nets[a].deliver(NetworkEvent(EventKind.NEW_PEER, b))
        assert self.nets[b].deliver(NetworkEvent(EventKind.NEW_PEER, a))

    async def _read(self, name: str) -> None:
        while True:
            sender, data = await self.inboxes[name].get()
            await self.nets[name].deliver_wait(NetworkEvent(EventKind.MESSAGE, sender, data))

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for net in self.nets.values():
            net.close()


class QueueNetwork(AsyncNetwork):
    """`send` puts on the peer's queue; `mode` makes it fail: "raise", "refuse" or "hang"."""

    def __init__(self, hub: QueueHub, name: str, **kwargs) -> None:
        super().__init__(name, **kwargs)
        self.hub = hub
        self.mode: str | None = None
        self.cancelled = 0

    async def send(self, peer_id: str, data: bytes) -> bool:
        if self.mode == "raise":
            raise ConnectionResetError("link reset by the test")
        if self.mode == "refuse":
            return False
        if self.mode == "hang":
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        if (self.peer_id, peer_id) not in self.hub.links:
            return False
        await self.hub.inboxes[peer_id].put((self.peer_id, data))
        return True


class Recorder(AsyncNetwork):
    """An AsyncNetwork that records what it is asked to send."""

    def __init__(self, name: str = "r", **kwargs) -> None:
        super().__init__(name, **kwargs)
        self.sent: list[tuple[str, bytes]] = []

    async def send(self, peer_id: str, data: bytes) -> None:
        self.sent.append((peer_id, data))


# ---------------------------------------------------------------- the client and consensus paths
def test_submit_get_block_commit_round_trip(impl, accounts):
    store = funded(InMemoryAccountStore(), accounts)
    t0, t1, u0 = accounts.txn(0, 0), accounts.txn(0, 1), accounts.txn(1, 0, gas_price=5)
    parked = accounts.txn(2, 1)

    async def main():
        async with facade(impl, store) as amp:
            statuses = await amp.submit_transactions(iter([t0, t1, u0, parked]))
            assert [s.code for s in statuses] == [Code.VALID] * 4
            assert (await amp.transaction_status(t0.hash)).state is S.READY
            assert (await amp.transaction_status(parked.pointer)).state is S.PARKED
            account = await amp.account_status(accounts.address(0))
            assert (account.sequence_number, account.ready) == (0, (0, 1))
            block = await amp.get_block(10, exclude=[t1.pointer])
            assert block == [u0, t0]  # by gas price; t1 excluded
            block = await amp.get_block(10)
            assert [txn.pointer for txn in block] == [u0.pointer, t0.pointer, t1.pointer]
            expired = await amp.commit_transactions([t.pointer for t in block], time.time(),
                                                    rejected=[parked.pointer])
            assert expired == 0
            states = await amp.transaction_statuses([t0.hash, t1.pointer, u0.hash,
                                                     parked.hash])
            assert [s.state for s in states] == [S.COMMITTED] * 3 + [S.DROPPED]
            view = await amp.inspect()
            assert view["pending"]["total"] == 0
            assert view["history"]["by_state"]["committed"] == 3
            assert await amp.call(amp.shared.sizes) == {
                "mempool_size": 0, "parking_lot_size": 0, "priority_index_size": 0,
                "timeline_size": 0}
    run(main())


def test_calls_run_concurrently_in_the_facades_own_bounded_executor(impl, accounts):
    gate = Gate()
    store = funded(GatedStore(gate), accounts)
    seen: list[str] = []

    async def main():
        async with facade(impl, store, workers=2) as amp:
            loop = asyncio.get_running_loop()

            def where() -> str:
                seen.append(threading.current_thread().name)
                return threading.current_thread().name

            first = asyncio.create_task(amp.submit_transactions([accounts.txn(0, 0)]))
            assert await until(gate.entered.is_set)
            # one worker is held by the slow store; the other still serves
            assert (await amp.call(where)).startswith("smp-aio-a")
            assert not first.done()
            gate.opened.set()
            assert [s.code for s in await first] == [Code.VALID]
            assert loop._default_executor is None  # the loop's own executor was never used
        assert amp.closed and seen
    run(main())


@pytest.mark.parametrize("slow", ["storage", "validator"])
def test_the_loop_keeps_ticking_while_storage_or_validation_is_slow(impl, accounts, slow):
    gate = Gate()
    store = funded(GatedStore(gate) if slow == "storage" else InMemoryAccountStore(), accounts)
    validator = GatedValidator(gate) if slow == "validator" else None

    async def main():
        ticks: list[float] = []

        async def ticker() -> None:
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        async with facade(impl, store, validator=validator) as amp:
            tick_task = asyncio.create_task(ticker())
            submit = asyncio.create_task(amp.submit_transactions([accounts.txn(0, 0)]))
            assert await until(gate.entered.is_set)
            start = len(ticks)
            assert await until(lambda: len(ticks) >= start + 20), "the loop was blocked"
            assert not submit.done()
            gate.opened.set()
            assert [s.code for s in await submit] == [Code.VALID]
            tick_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await tick_task
        gaps = [b - a for a, b in itertools.pairwise(ticks)]
        assert max(gaps) < 1.0, max(gaps)
    run(main())


def test_closing_waits_for_a_running_call_without_blocking_the_loop(impl, accounts):
    gate = Gate()
    store = funded(GatedStore(gate), accounts)
    before = set(threading.enumerate())

    async def main():
        amp = await facade(impl, store).start()
        submit = asyncio.create_task(amp.submit_transactions([accounts.txn(0, 0)]))
        assert await until(gate.entered.is_set)
        closing = asyncio.create_task(amp.aclose())
        ticks = 0
        while ticks < 20:  # the loop runs while aclose waits for the stuck worker
            await asyncio.sleep(0.005)
            ticks += 1
        assert not closing.done()
        gate.opened.set()
        await closing
        assert [s.code for s in await submit] == [Code.VALID]
        with pytest.raises(RuntimeError, match="closed"):
            await amp.submit_transactions([accounts.txn(0, 1)])
        await amp.aclose()  # idempotent
        assert await until(lambda: not new_threads(before)), new_threads(before)
    run(main())


# ---------------------------------------------------------------- cancellation
def test_cancelled_calls_leave_the_mempool_consistent(impl, accounts):
    gate = Gate()
    store = funded(GatedStore(gate), accounts)
    running, queued, later = accounts.txn(0, 0), accounts.txn(1, 0), accounts.txn(2, 0)
    before = set(threading.enumerate())

    async def main():
        async with facade(impl, store, workers=1) as amp:
            first = asyncio.create_task(amp.submit_transactions([running]))
            assert await until(gate.entered.is_set)
            second = asyncio.create_task(amp.submit_transactions([queued]))
            await asyncio.sleep(0)  # let it reach the executor's queue
            first.cancel()
            second.cancel()
            for task in (first, second):
                with pytest.raises(asyncio.CancelledError):
                    await task
            gate.opened.set()
            # the running call finished in its worker; the queued one never ran
            assert await until(lambda: _state(amp, running.hash, S.READY))
            assert (await amp.transaction_status(queued.hash)).state is S.UNKNOWN
            assert gate.calls == 1
            # and the pool serves on, consistent
            assert [s.code for s in await amp.submit_transactions([queued, later])] == \
                [Code.VALID] * 2
            block = await amp.get_block(10)
            assert sorted(t.pointer for t in block) == sorted(
                t.pointer for t in (running, queued, later))
            commit = asyncio.create_task(amp.commit_transactions(
                [t.pointer for t in block], time.time()))
            await commit
            assert (await amp.inspect())["pending"]["total"] == 0
            await amp.call(checked, amp.shared)
        assert await until(lambda: not new_threads(before)), new_threads(before)
    run(main())


def checked(shared: SharedMempool) -> None:
    with shared.lock:
        shared.mempool._check()


async def _state(amp: AsyncSharedMempool, key, state: S) -> bool:
    return (await amp.transaction_status(key)).state is state


def test_cancelled_start_is_still_stopped_by_close(impl, accounts):
    store = funded(InMemoryAccountStore(), accounts)
    before = set(threading.enumerate())

    async def main():
        amp = facade(impl, store)
        starting = asyncio.create_task(amp.start())
        await asyncio.sleep(0)
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starting
        await amp.aclose()
        assert await until(lambda: not new_threads(before)), new_threads(before)
    run(main())


# ---------------------------------------------------------------- streams
def test_notifications_and_events_see_an_admission_and_a_commit(impl, accounts):
    store = funded(InMemoryAccountStore(), accounts)
    t0, other = accounts.txn(0, 0), accounts.txn(1, 0)

    async def main():
        async with facade(impl, store) as amp:
            async with amp.notifications() as notes, \
                    amp.events(accounts=[accounts.address(0)]) as mine, \
                    amp.events([other.hash]) as by_key, amp.events() as everything:
                assert [s.code for s in await amp.submit_transactions([t0, other])] == \
                    [Code.VALID] * 2
                first = await anext(mine)
                assert (first.kind, first.hash, first.state) == (K.ADMITTED, t0.hash, S.READY)
                assert (await anext(by_key)).hash == other.hash
                await amp.get_block(10)
                await amp.commit_transactions([t0.pointer], time.time())
                kinds = []
                async for event in mine:
                    kinds.append(event.kind)
                    if event.kind is K.COMMITTED:
                        break
                assert kinds == [K.PULLED, K.COMMITTED]
                async for note in notes:
                    if note is N.COMMIT:
                        break
                seen = set()
                async for event in everything:
                    seen.add((event.kind, event.hash))
                    if (K.COMMITTED, t0.hash) in seen:
                        break
                assert {(K.ADMITTED, t0.hash), (K.ADMITTED, other.hash),
                        (K.PULLED, other.hash)} <= seen
                assert await mine.get(timeout=0.01) is None  # a timeout closes nothing
                assert not mine.closed and mine.lost == 0
                assert (await amp.inspect())["watches"]["open"] == 3
            assert mine.closed and await anext(mine, None) is None
            assert await until(lambda: _watches_open(amp, 0))
    run(main())


async def _watches_open(amp: AsyncSharedMempool, n: int) -> bool:
    return (await amp.inspect())["watches"]["open"] == n


def test_bad_watch_arguments_are_refused(impl, accounts):
    store = funded(InMemoryAccountStore(), accounts)

    async def main():
        async with facade(impl, store) as amp:
            with pytest.raises(TypeError, match="is a list"):
                amp.events(accounts=accounts.address(0))
            stream = amp.events([b"short"])
            with pytest.raises((TypeError, ValueError)):
                await stream.open()
            assert stream.closed
            with pytest.raises(StopAsyncIteration):
                await anext(stream)
            assert await until(lambda: not feeders())
    run(main())


def test_cancelling_an_iterating_task_frees_its_thread_and_watch(impl, accounts):
    store = funded(InMemoryAccountStore(), accounts)

    async def main():
        async with facade(impl, store) as amp:
            got: list = []

            async def consume(stream) -> None:
                async for item in stream:
                    got.append(item)

            events = asyncio.create_task(consume(amp.events(accounts=[accounts.address(0)])))
            notes = asyncio.create_task(consume(amp.notifications()))
            assert await until(lambda: len(named("smp-aio-watch")) == 1
                               and len(named("smp-aio-notify")) == 1)
            assert await until(lambda: _watches_open(amp, 1))
            await amp.submit_transactions([accounts.txn(0, 0)])
            assert await until(lambda: got)
            for task in (events, notes):
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            assert await until(lambda: not feeders()), feeders()
            assert await until(lambda: _watches_open(amp, 0))
    run(main())


def test_breaking_out_of_an_unmanaged_iterator_frees_it(impl, accounts):
    store = funded(InMemoryAccountStore(), accounts)

    async def main():
        async with facade(impl, store) as amp:
            async def poke() -> None:  # once the first step opened the watch, make an event
                assert await until(lambda: _watches_open(amp, 1))
                await amp.submit_transactions([accounts.txn(0, 0)])

            poker = asyncio.create_task(poke())
            async for event in amp.events():
                assert event.kind is K.ADMITTED
                break
            await poker
            # the dropped stream's finalizer stopped its feeder, which closed the watch
            assert await until(lambda: not feeders()), feeders()
            assert await until(lambda: _watches_open(amp, 0))
    run(main())


def test_closing_the_facade_ends_open_streams_and_leaves_no_thread(impl, accounts):
    store = funded(InMemoryAccountStore(), accounts)
    before = set(threading.enumerate())

    async def main():
        amp = await facade(impl, store).start()
        stream = await amp.events().open()
        notes = await amp.notifications().open()
        waiting = asyncio.create_task(anext(stream, "ended"))
        await asyncio.sleep(0)
        await amp.aclose()
        assert await waiting == "ended"
        assert await notes.get() is None
        with pytest.raises(RuntimeError, match="closed"):
            amp.events()
        assert await until(lambda: not new_threads(before)), new_threads(before)
    run(main())


def test_a_wrapped_mempool_the_caller_started_keeps_running(impl, accounts):
    store = funded(InMemoryAccountStore(), accounts)
    cfg = manual()
    shared = SharedMempool(cfg, InProcessNetwork().endpoint("w"), store,
                           mempool=impl.core(cfg)).start()
    try:
        async def main():
            amp = AsyncSharedMempool(shared, workers=1)
            assert amp.shared is shared
            assert [s.code for s in await amp.submit_transactions([accounts.txn(0, 0)])] == \
                [Code.VALID]
            await amp.aclose()
            with pytest.raises(RuntimeError, match="already started"):
                async with AsyncSharedMempool(shared):
                    pass  # pragma: no cover
        run(main())
        assert named("smp-outbound-w") and not shared.failed.is_set()
    finally:
        shared.stop()
    with pytest.raises(TypeError):
        AsyncSharedMempool(shared, InProcessNetwork().endpoint("x"))
    with pytest.raises(ValueError):
        AsyncSharedMempool(shared, workers=0)


# ---------------------------------------------------------------- AsyncNetwork
def test_async_network_nodes_converge(impl, accounts):
    store = funded(InMemoryAccountStore(), accounts)
    txns = [accounts.txn(i, seq) for i in range(3) for seq in range(3)]
    before = set(threading.enumerate())

    async def main():
        hub = QueueHub()
        nets = {name: hub.add(name) for name in "abc"}
        nodes = {name: facade(impl, store, name=name, config=ticking(), network=nets[name])
                 for name in "abc"}
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(hub.close)
            for node in nodes.values():
                await stack.enter_async_context(node)
            watches = {name: await stack.enter_async_context(nodes[name].events())
                       for name in "bc"}
            notes = await stack.enter_async_context(nodes["b"].notifications())
            hub.connect("a", "b")
            hub.connect("a", "c")
            statuses = await nodes["a"].submit_transactions(txns)
            assert [s.code for s in statuses] == [Code.VALID] * len(txns)
            for stream in watches.values():
                missing = {t.hash for t in txns}
                async with asyncio.timeout(DEADLINE):
                    async for event in stream:
                        if event.kind is K.ADMITTED:
                            missing.discard(event.hash)
                        if not missing:
                            break
            async with asyncio.timeout(DEADLINE):
                async for note in notes:
                    if note is N.NEW_TRANSACTIONS:
                        break
            block = await nodes["c"].get_block(100)
            assert sorted(t.pointer for t in block) == sorted(t.pointer for t in txns)
            assert await until(lambda: all(
                p.timeline_id == len(txns) for p in nodes["a"].shared.peers().values()))
            assert nets["a"].stats()["sent"] >= 2 and nets["a"].send_failures == 0
            assert nets["b"].stats()["delivered"] >= 2
        assert await until(lambda: not new_threads(before)), new_threads(before)
    run(main())


def test_a_failing_async_send_is_counted_and_the_node_goes_on(impl, accounts):
    store = funded(InMemoryAccountStore(), accounts)
    t0 = accounts.txn(0, 0)

    async def main():
        hub = QueueHub()
        nets = {name: hub.add(name, send_timeout=0.1) for name in "ab"}
        a = facade(impl, store, name="a", config=ticking(), network=nets["a"])
        b = facade(impl, store, name="b", config=ticking(), network=nets["b"])
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(hub.close)
            await stack.enter_async_context(a)
            await stack.enter_async_context(b)
            nets["a"].mode = "raise"
            hub.connect("a", "b")
            await a.submit_transactions([t0])
            for mode, counter in (("raise", "send_errors"), ("refuse", "send_refused"),
                                  ("hang", "send_timeouts")):
                nets["a"].mode = mode
                assert await until(lambda c=counter: nets["a"].stats()[c] >= 2), nets["a"].stats()
            assert await until(lambda: nets["a"].cancelled >= 1)  # a timed-out send is cancelled
            counters = a.shared.counters()
            assert counters["failed_sends"] >= 6
            assert not a.shared.failed.is_set()
            assert (await b.transaction_status(t0.hash)).state is S.UNKNOWN
            nets["a"].mode = None  # the link heals: the unacknowledged batch is resent
            assert await until(lambda: _state(b, t0.hash, S.READY))
            assert await until(lambda: a.shared.in_flight("b") == [])
            assert not a.shared.failed.is_set() and not b.shared.failed.is_set()
    run(main())


def test_deliver_is_bounded_and_deliver_wait_waits_for_room():
    async def main():
        net = Recorder(queue_size=2)
        adapter = net.network
        message = NetworkEvent(EventKind.MESSAGE, "p", b"x")
        assert net.deliver(message) and net.deliver(message)
        assert not net.deliver(message)  # full
        assert net.deliver(NetworkEvent(EventKind.NEW_PEER, "p"))  # peer events never wait
        assert await net.deliver_wait(message, timeout=0.02) is False
        assert net.stats()["refused"] == 2
        waiting = asyncio.create_task(net.deliver_wait(message))
        await asyncio.sleep(0)
        assert not waiting.done()
        loop = asyncio.get_running_loop()
        got: list = []
        reader = threading.Thread(target=lambda: got.append(adapter.recv(1.0)))
        reader.start()
        assert await waiting is True  # a recv in another thread made room
        reader.join()
        assert got == [message]
        kinds = [adapter.recv(0).kind for _ in range(3)]
        assert kinds == [EventKind.MESSAGE, EventKind.NEW_PEER, EventKind.MESSAGE]
        assert adapter.recv(0) is None
        with pytest.raises(TypeError):
            net.deliver(b"not an event")
        # close: a blocked recv returns None; deliveries and sends are refused
        blocked: list = []
        reader = threading.Thread(target=lambda: blocked.append(adapter.recv(None)))
        reader.start()
        await until(lambda: reader.is_alive())
        adapter.close()
        await loop.run_in_executor(None, reader.join, DEADLINE)
        assert blocked == [None]
        assert not net.deliver(message) and await net.deliver_wait(message) is False
        assert await loop.run_in_executor(None, adapter.send, "p", b"x") is False
        assert net.stats()["send_closed"] == 1 and net.closed
        adapter.close()  # idempotent
    run(main())


def test_send_from_a_thread_waits_for_the_coroutine_and_from_the_loop_does_not_deadlock():
    async def main():
        net = Recorder(send_timeout=2.0)
        loop = asyncio.get_running_loop()
        ok = await loop.run_in_executor(None, net.network.send, "p", bytearray(b"one"))
        assert ok is True and net.sent == [("p", b"one")]
        assert net.network.send("p", b"two") is True  # on the loop: scheduled, not awaited
        assert await until(lambda: len(net.sent) == 2)
        assert net.stats()["sent"] == 2
        with pytest.raises(TypeError):
            net.network.send("p", "text")
        net.close()
    run(main())


def test_async_network_needs_its_loop_and_valid_arguments():
    with pytest.raises(RuntimeError, match="event loop"):
        Recorder()
    loop = asyncio.new_event_loop()
    try:
        net = Recorder(loop=loop)
        assert net.loop is loop and net.network.peer_id == "r"
        with pytest.raises(ValueError):
            Recorder(loop=loop, queue_size=0)
        with pytest.raises(ValueError):
            Recorder("", loop=loop)
    finally:
        loop.close()
    assert net.network.send("p", b"x") is False  # its loop is gone: a failure, not an error
    assert net.stats()["send_closed"] == 1


def test_the_facade_takes_an_async_network(impl, accounts):
    store = funded(InMemoryAccountStore(), accounts)

    async def main():
        net = Recorder("solo")
        async with AsyncSharedMempool(manual(), net, store, mempool=impl.core(manual())) as amp:
            assert amp.shared.network is net.network
            txn: TransactionLike = accounts.txn(0, 0)
            assert [s.code for s in await amp.submit_transactions([txn])] == [Code.VALID]
        net.close()
    run(main())


# ---------------------------------------------------------------- the example
def test_the_asyncio_example_runs():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "asyncio_node.py")],
                            check=False, capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "committed on every node" in result.stdout
    assert "pending after commit: [0, 0, 0]" in result.stdout
