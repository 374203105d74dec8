"""Three shared mempools under one asyncio loop, linked by an asyncio transport.

Each node is an `AsyncSharedMempool` whose peers are reached through `QueueTransport`, an
`AsyncNetwork` over asyncio queues (a stand-in for real asyncio streams: `send` is a coroutine
that puts a message on the peer's link queue, and a reader task per node delivers what arrives
with `await deliver_wait(...)`, so a busy mempool slows its link instead of growing a buffer).
Node "a" takes client transactions; the broadcast reaches "b" and "c", which see them admitted
through `events()`; "b" proposes a block, every node commits it and sees the commits.

    python examples/asyncio_node.py
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import nacl.signing

from mempool_fast import (IMPLEMENTATION, MempoolAddTransactionStatusCode, MempoolConfig,
                          SignedTransaction, TransactionEventKind)
from mempool_fast.aio import (AsyncNetwork, AsyncSharedMempool, EventKind, EventStream,
                              NetworkEvent, TransactionLike)
from mempool_fast.storage import InMemoryAccountStore

NODES = ("a", "b", "c")
ACCOUNTS = 3
TXNS_PER_ACCOUNT = 4
BALANCE = 10**12
DEADLINE_S = 20.0


class QueueHub:
    """The links between the nodes: one bounded asyncio queue of (sender, bytes) per node."""

    def __init__(self, link_size: int = 64) -> None:
        self.inboxes: dict[str, asyncio.Queue[tuple[str, bytes]]] = {}
        self.transports: dict[str, QueueTransport] = {}
        self.links: set[tuple[str, str]] = set()
        self._link_size = link_size
        self._readers: list[asyncio.Task[None]] = []

    def add(self, peer_id: str) -> QueueTransport:
        transport = QueueTransport(self, peer_id)
        self.inboxes[peer_id] = asyncio.Queue(self._link_size)
        self.transports[peer_id] = transport
        self._readers.append(asyncio.create_task(self._read(peer_id)))
        return transport

    def connect(self, a: str, b: str) -> None:
        """Link a and b; each end learns of the other (NEW_PEER)."""
        self.links |= {(a, b), (b, a)}
        self.transports[a].deliver(NetworkEvent(EventKind.NEW_PEER, b))
        self.transports[b].deliver(NetworkEvent(EventKind.NEW_PEER, a))

    async def _read(self, peer_id: str) -> None:
        inbox, transport = self.inboxes[peer_id], self.transports[peer_id]
        while True:
            sender, data = await inbox.get()
            await transport.deliver_wait(NetworkEvent(EventKind.MESSAGE, sender, data))

    async def close(self) -> None:
        for task in self._readers:
            task.cancel()
        for task in self._readers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for transport in self.transports.values():
            transport.close()


class QueueTransport(AsyncNetwork):
    """An `AsyncNetwork` whose `send` puts the message on the peer's link queue."""

    def __init__(self, hub: QueueHub, peer_id: str) -> None:
        super().__init__(peer_id, send_timeout=1.0)
        self.hub = hub

    async def send(self, peer_id: str, data: bytes) -> bool:
        if (self.peer_id, peer_id) not in self.hub.links:
            return False  # unknown or down peer
        await self.hub.inboxes[peer_id].put((self.peer_id, data))
        return True


async def wait_for_events(stream: EventStream, kind: TransactionEventKind,
                          hashes: set[bytes]) -> float:
    """Read `stream` until every hash in `hashes` had an event of `kind`; the seconds it took."""
    started = time.monotonic()
    missing = set(hashes)
    async with asyncio.timeout(DEADLINE_S):
        async for event in stream:
            if event.kind is kind:
                missing.discard(event.hash)
                if not missing:
                    break
    return time.monotonic() - started


async def main() -> int:
    keys = [nacl.signing.SigningKey(bytes([i + 1]) * 32) for i in range(ACCOUNTS)]
    txns: list[TransactionLike] = [
        SignedTransaction.create(key, seq, gas_unit_price=1 + i, max_gas_amount=1_000)
        for seq in range(TXNS_PER_ACCOUNT) for i, key in enumerate(keys)]
    senders = sorted({txn.sender for txn in txns})
    store = InMemoryAccountStore((sender, 0, BALANCE) for sender in senders)
    config = MempoolConfig(shared_mempool_tick_interval_ms=20, shared_mempool_batch_size=10,
                           shared_mempool_poll_interval_ms=20)

    hub = QueueHub()
    transports = {name: hub.add(name) for name in NODES}
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(hub.close)  # last: after the streams and the nodes closed
        nodes: dict[str, AsyncSharedMempool] = {}
        for name in NODES:
            nodes[name] = await stack.enter_async_context(
                AsyncSharedMempool(config, transports[name], store))
        streams = {name: await stack.enter_async_context(nodes[name].events(accounts=senders))
                   for name in NODES}
        for i, a in enumerate(NODES):
            for b in NODES[i + 1:]:
                hub.connect(a, b)

        statuses = await nodes["a"].submit_transactions(txns)
        accepted = sum(s.code is MempoolAddTransactionStatusCode.VALID for s in statuses)
        hashes = {txn.hash for txn in txns}
        await wait_for_events(streams["a"], TransactionEventKind.ADMITTED, hashes)
        converged = await asyncio.gather(*(
            wait_for_events(streams[name], TransactionEventKind.ADMITTED, hashes)
            for name in NODES[1:]))

        block = await nodes["b"].get_block(len(txns))
        committed = [txn.pointer for txn in block]
        block_time = time.time()
        await asyncio.gather(*(node.commit_transactions(committed, block_time)
                               for node in nodes.values()))
        await asyncio.gather(*(
            wait_for_events(streams[name], TransactionEventKind.COMMITTED, hashes)
            for name in NODES))
        pending = [(await node.inspect())["pending"]["total"] for node in nodes.values()]
        sent = sum(t.stats()["sent"] for t in transports.values())
        failures = sum(t.send_failures for t in transports.values())

    print(f"core: {IMPLEMENTATION}; nodes: {', '.join(NODES)} under one asyncio loop")
    print(f"submitted {len(txns)} to a: {accepted} accepted")
    print("converged on " + ", ".join(
        f"{name} in {seconds * 1000:.0f} ms" for name, seconds in zip(NODES[1:], converged)))
    print(f"block from b: {len(block)} transactions, committed on every node")
    print(f"pending after commit: {pending}; messages sent: {sent}, failed sends: {failures}")
    ok = accepted == len(txns) and len(block) == len(txns) and pending == [0] * len(NODES)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
