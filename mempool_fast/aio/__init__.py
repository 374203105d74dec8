"""mempool_fast.aio: the shared mempool for asyncio programs (docs/design.md §5, asyncio).

- `AsyncSharedMempool`: the SharedMempool API as coroutines (`await submit_transactions(...)`,
  `get_block`, `commit_transactions`, `transaction_status`, `account_status`, `inspect`),
  `async with` to start and stop, `async for` over `notifications()` and `events(keys,
  accounts)`. Blocking work runs in a bounded executor the facade owns (`mempool.py`); each
  open stream is fed by one thread of its own, released when the stream closes
  (`_streams.py`).
- `AsyncNetwork`: the base of an asyncio transport: implement `async def send(peer_id,
  data)`, push what arrives with `deliver(event)` / `await deliver_wait(event)`; its
  `.network` is the synchronous `Network` the mempool's threads use (`network.py`).

`import mempool_fast.aio` (the top-level package does not import it).
"""

from __future__ import annotations

from ..network.base import EventKind, NetworkEvent
from ._streams import EventStream, NotificationStream, Stream
from .mempool import AsyncSharedMempool, Pointer, TransactionKey, TransactionLike
from .network import AsyncNetwork, AsyncNetworkAdapter

__all__ = ["AsyncSharedMempool", "AsyncNetwork", "AsyncNetworkAdapter", "Stream",
           "NotificationStream", "EventStream", "TransactionLike", "TransactionKey", "Pointer",
           "NetworkEvent", "EventKind"]
