"""What a node answers on its endpoints: the client operations and the consensus operations.

`ClientService` (submit, status, stats, transaction status, account status, inspect) is for
local tools on the unauthenticated client
endpoint; `ConsensusService` (get_block, commit) only for consensus, on the consensus endpoint.
Each decodes a request, refuses an operation it does not serve, checks the node's own limits
(transactions per request, how far ahead of the node's clock a block time may be), calls the
shared mempool and encodes the reply. Every failure is an error reply, never an exception.

Both speak the node's transaction format (`transaction_format`, default native): a SUBMIT's
wire bytes are decoded with it (bytes it does not decode refuse the whole request, naming the
transaction: nothing is submitted), and every sender on the wire is that format's length, padded
with zero bytes to the 32-byte field (a pointer with non-zero padding is a bad request).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from .. import rpc
from ..errors import MempoolFastError
from ..rpc import Op, RpcError, TxnState
from ..storage import AccountStateReader
from ..types import TimelineState

if TYPE_CHECKING:
    from ..rpc import WireFormat
    from ..shared import SharedMempool

__all__ = ["ClientService", "ConsensusService"]

log = logging.getLogger(__name__)

_TXN_STATE = {TimelineState.NOT_READY: TxnState.NOT_READY, TimelineState.READY: TxnState.READY,
              TimelineState.NON_QUALIFIED: TxnState.NON_QUALIFIED}


class _Service:
    """Request bytes -> reply bytes for a fixed set of operations."""

    #: The operations this endpoint serves, and where the others are.
    OPS: frozenset[Op] = frozenset()
    ELSEWHERE = ""

    def __init__(self, name: str, transaction_format: WireFormat | None = None) -> None:
        self._name = name
        #: The node's transaction format (what SUBMIT decodes, how long senders are).
        self.transaction_format: WireFormat = (rpc.NATIVE if transaction_format is None
                                               else transaction_format)

    def __call__(self, data: bytes) -> bytes:
        fmt = self.transaction_format
        try:
            req = rpc.decode_request(data, transaction_format=fmt)
        except RpcError as exc:
            op, rid = rpc.request_head(data)
            return rpc.error_response(op, rid, f"bad request: {exc}")
        if req.op not in self.OPS:
            return rpc.error_response(req.op, req.request_id,
                                      f"{req.op.name} is not served here: {self.ELSEWHERE}")
        try:
            return rpc.encode_response(req.op, req.request_id, self.dispatch(req),
                                       transaction_format=fmt)
        except (ValueError, TypeError, MempoolFastError) as exc:
            return rpc.error_response(req.op, req.request_id, f"{req.op.name} failed: {exc}")
        except Exception as exc:  # noqa: BLE001 - a request must not kill the endpoint
            log.exception("%s: %s request failed", self._name, req.op.name)
            return rpc.error_response(req.op, req.request_id,
                                      f"{req.op.name} failed: internal error {exc!r}")

    def dispatch(self, req: rpc.Request) -> object:
        """The reply body for `req` (what rpc.encode_response takes for its op)."""
        raise NotImplementedError


class ClientService(_Service):
    """SUBMIT, STATUS, STATS, TXN_STATUS, ACCOUNT_STATUS, INSPECT for local clients."""

    OPS = frozenset({Op.SUBMIT, Op.STATUS, Op.STATS, Op.TXN_STATUS, Op.ACCOUNT_STATUS,
                     Op.INSPECT})
    ELSEWHERE = "GET_BLOCK and COMMIT are consensus operations, on the consensus endpoint"

    def __init__(self, name: str, shared: SharedMempool, storage: AccountStateReader,
                 stats: Callable[[], dict[str, Any]], *, max_transactions: int,
                 transaction_format: WireFormat | None = None) -> None:
        super().__init__(name, transaction_format)
        self._shared = shared
        self._storage = storage
        self._stats = stats
        self._max_transactions = max_transactions

    def dispatch(self, req: rpc.Request) -> object:
        # The casts: the body rpc.decode_request builds for each op (rpc.Request.body).
        if req.op == Op.SUBMIT:
            txns = cast("list[object]", req.body)  # the format's transactions
            if len(txns) > self._max_transactions:
                raise ValueError(f"{len(txns)} transactions in one request; the limit is "
                                 f"{self._max_transactions} ([node].client_max_transactions)")
            return self._shared.submit_transactions(txns)
        if req.op == Op.STATUS:
            return self.txn_states(cast("list[tuple[bytes, int]]", req.body))
        if req.op == Op.TXN_STATUS:
            keys = cast("list[bytes | tuple[bytes, int]]", req.body)
            if len(keys) > self._max_transactions:
                raise ValueError(f"{len(keys)} keys in one request; the limit is "
                                 f"{self._max_transactions} ([node].client_max_transactions)")
            return self._shared.transaction_statuses(keys)
        if req.op == Op.ACCOUNT_STATUS:
            return self._shared.account_status(cast(bytes, req.body))
        if req.op == Op.INSPECT:
            return self._shared.inspect()
        return self._stats()

    def txn_states(self, pointers: Sequence[tuple[bytes, int]]) -> list[TxnState]:
        """Where each (sender, seq) stands here: pending (and how), committed, or unknown."""
        found = self._shared.timeline_states(pointers)
        states: list[TxnState | None] = [None if f is None else _TXN_STATE[f[0]] for f in found]
        missing = [i for i, s in enumerate(states) if s is None]
        if missing:
            accounts = self._storage.get_account_states([pointers[i][0] for i in missing])
            for i, account in zip(missing, accounts):
                committed = account is not None and pointers[i][1] < account[0]
                states[i] = TxnState.COMMITTED if committed else TxnState.UNKNOWN
        return cast("list[TxnState]", states)  # every None (missing) was filled in above


class ConsensusService(_Service):
    """GET_BLOCK and COMMIT, for consensus only."""

    OPS = frozenset({Op.GET_BLOCK, Op.COMMIT})
    ELSEWHERE = "client operations are on the client endpoint"

    def __init__(self, name: str, shared: SharedMempool, clock: Callable[[], float], *,
                 max_block_time_skew_s: float,
                 transaction_format: WireFormat | None = None) -> None:
        super().__init__(name, transaction_format)
        self._shared = shared
        self._clock = clock
        self._skew = max_block_time_skew_s

    def dispatch(self, req: rpc.Request) -> object:
        # The casts: the body rpc.decode_request builds for each op (rpc.Request.body).
        if req.op == Op.GET_BLOCK:
            batch, exclude, *rest = cast("tuple[int, list[tuple[bytes, int]], *tuple[int, ...]]",
                                         req.body)
            return self._shared.get_block(batch, exclude, max_bytes=rest[0] if rest else None)
        block_time, committed, rejected = cast(
            "tuple[float, list[tuple[bytes, int]], list[tuple[bytes, int]]]", req.body)
        ahead = block_time - self._clock()
        if ahead > self._skew:
            raise ValueError(f"block_time {block_time} is {ahead:.0f} s ahead of this node's "
                             f"clock; at most {self._skew:g} s is accepted "
                             "([node].max_block_time_skew_s)")
        self._shared.commit_transactions(committed, block_time, rejected)
        return None
