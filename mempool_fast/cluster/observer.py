"""The observer thread of a cluster run: it polls every node's STATUS to see when each accepted
transaction has reached every node, drives the proposer that commits those transactions, and at
the end audits every node's TXN_STATUS by hash. Pointers and hashes are the cluster's
transaction format's (20-byte senders for Ethereum)."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self, cast

from ..client import NodeClient, RpcTimeout
from ..rpc import NATIVE, Op, TxnState, check_sender_length
from ..status import DropReason, TransactionState, TransactionStatus
from .nodes import NodeSpec
from .run_stats import RunStats, run_reporting_errors

if TYPE_CHECKING:
    from ..rpc import WireFormat
    from ..storage import SqliteAccountStore

__all__ = ["Observer", "Proposer"]

log = logging.getLogger(__name__)

#: The states in which a node holds a transaction (pending, or already committed).
HELD_STATES = frozenset({TxnState.NOT_READY, TxnState.READY, TxnState.NON_QUALIFIED,
                         TxnState.COMMITTED})
#: Period of the observer's STATS polling (mempool sizes for the progress view and summary).
STATS_PERIOD_S = 0.5
#: Hashes per TXN_STATUS request of the final audit (below a node's default
#: client_max_transactions, 2000).
AUDIT_CHUNK = 1_000

Pointer = tuple[bytes, int]  # (sender, sequence number)


class Proposer:
    """The stand-in for consensus: every `block_ms`, pulls a block of at most `block_size` from
    node 0's consensus endpoint, keeps the transactions that reached every node and follow their
    account's committed sequence number, applies them to every node's account store (sequence
    number + 1, balance - `cost(txn)`, the format's max cost; accounts start with `balance`),
    and commits them on every node's consensus endpoint. Its clients and stores speak
    `transaction_format` (None: native).

    Use it as a context manager in the thread that calls it: it opens its clients and SQLite
    stores on entry (a SQLite connection belongs to its thread) and closes them on exit.
    """

    def __init__(self, specs: list[NodeSpec], stats: RunStats, *, block_ms: int,
                 block_size: int, balance: int, cost: Callable[[Any], int] | None = None,
                 transaction_format: WireFormat | None = None) -> None:
        self.specs = specs
        self.transaction_format = transaction_format
        #: What a committed transaction takes from its sender's balance (default: native's
        #: max_gas_amount x gas_unit_price).
        self.cost: Callable[[Any], int] = cost or _native_cost
        self.stats = stats
        self.period_s = block_ms / 1000
        self.block_size = block_size
        self.balance = balance
        self._consensus: list[NodeClient] = []
        self._stores: list[SqliteAccountStore] = []
        #: sender -> (next sequence number, balance), as committed.
        self._ledger: dict[bytes, tuple[int, int]] = {}
        self._next_block = 0.0

    def __enter__(self) -> Self:
        from ..storage import SqliteAccountStore

        try:
            for spec in self.specs:
                self._consensus.append(NodeClient(spec.consensus,
                                                  transaction_format=self.transaction_format))
            length = check_sender_length(self.transaction_format or NATIVE)
            for spec in self.specs:
                self._stores.append(SqliteAccountStore(spec.store, address_length=length))
        except BaseException:
            self.__exit__()
            raise
        self._next_block = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        for c in self._consensus:
            c.close()
        for s in self._stores:
            s.close()
        self._consensus, self._stores = [], []

    def propose_if_due(self, ready: dict[Pointer, Any], now: float) -> list[Pointer]:
        """A block out of `ready` if one is due and `ready` is not empty; returns the pointers
        committed (the caller forgets them)."""
        if now < self._next_block or not ready:
            return []
        self._next_block = now + self.period_s
        return self._propose(ready)

    def _propose(self, ready: dict[Pointer, Any]) -> list[Pointer]:
        block = self._consensus[0].get_block(self.block_size)
        chosen = []
        for txn in block:
            ptr = txn.pointer
            if ptr not in ready:
                continue
            seq, balance = self._ledger.get(txn.sender, (0, self.balance))
            if txn.sequence_number != seq:
                continue
            self._ledger[txn.sender] = (seq + 1, balance - self.cost(txn))
            chosen.append(ptr)
        if not chosen:
            return []
        rows = [(sender, *self._ledger[sender]) for sender in {p[0] for p in chosen}]
        for store in self._stores:
            store.set_accounts(rows)
        block_time = time.time()
        rids = [(c, c.send(Op.COMMIT, (block_time, chosen, []))) for c in self._consensus]
        for c, rid in rids:
            resp = c.wait(rid)
            if not resp.ok:
                raise RuntimeError(f"COMMIT failed on {c.endpoint}: {resp.body}")
        self.stats.record_committed(len(chosen))
        return chosen


def _native_cost(txn: Any) -> int:
    """A native transaction's max cost (``NativeFormat.max_cost``)."""
    cost: int = txn.max_gas_amount * txn.gas_unit_price
    return cost


@dataclass
class _Tracked:
    """An accepted transaction not yet committed: when it was sent and which nodes hold it."""

    sent_at: float
    txn: Any  # the format's transaction class
    held_by: int = 0  # bit i: node i holds it


class Observer:
    """Every `poll_ms`, asks each node the STATUS of (at most `max_query` of) the accepted
    transactions it has not yet shown it holds; a transaction *reached every node* the first time
    all of them hold it (the latency from submission is recorded), and is then ready for the
    proposer. Every STATS_PERIOD_S it records each node's mempool sizes.

    It ends when the load is `load_done` and every accepted transaction is committed, or on
    `stop`; then it records the transactions that never reached every node. When everything
    was committed it audits every node: the TXN_STATUS, by hash, of every accepted
    transaction must be COMMITTED there (`RunStats.record_audit`).
    """

    def __init__(self, specs: list[NodeSpec], stats: RunStats, stop: threading.Event, *,
                 accepted: queue.SimpleQueue[tuple[float, list[Any]]],
                 load_done: threading.Event, proposer: Proposer,
                 poll_ms: int, max_query: int,
                 transaction_format: WireFormat | None = None) -> None:
        self.specs = specs
        self.transaction_format = transaction_format
        self.stats = stats
        self.stop = stop
        self.accepted = accepted
        self.load_done = load_done
        self.proposer = proposer
        self.poll_s = poll_ms / 1000
        self.max_query = max(1, max_query)
        self._everyone = (1 << len(specs)) - 1
        self._tracked: dict[Pointer, _Tracked] = {}
        #: Per node, the pointers it has not shown yet (a dict: ordered, oldest first).
        self._unseen: list[dict[Pointer, None]] = [{} for _ in specs]
        #: Reached every node, not yet committed.
        self._ready: dict[Pointer, Any] = {}
        #: The hash of every accepted transaction, for the final audit.
        self._hashes: list[bytes] = []

    def run(self) -> None:
        """The thread's body."""
        run_reporting_errors(self.stats, "observer", self._observe)

    def _observe(self) -> None:
        clients = [NodeClient(s.client, transaction_format=self.transaction_format)
                   for s in self.specs]
        next_stats = 0.0
        try:
            with self.proposer:
                try:
                    while not self.stop.is_set():
                        self._take_accepted()
                        self._ask_status(clients)
                        now = time.monotonic()
                        self._forget(self.proposer.propose_if_due(self._ready, now))
                        if now >= next_stats:
                            next_stats = now + STATS_PERIOD_S
                            self._poll_stats(clients)
                        if self._drained():
                            self._audit(clients)
                            return
                        self.stop.wait(self.poll_s)
                finally:
                    self.stats.record_unreached({p for p, t in self._tracked.items()
                                                 if t.held_by != self._everyone})
                    try:
                        self._poll_stats(clients)  # final sizes, after the last commit
                    except RpcTimeout:
                        log.warning("a node did not answer the final stats request")
        finally:
            for c in clients:
                c.close()

    def _take_accepted(self) -> None:
        """Track what the load generator reported accepted since the last round."""
        while True:
            try:
                sent_at, accepted = self.accepted.get_nowait()
            except queue.Empty:
                return
            for txn in accepted:
                ptr = txn.pointer
                self._tracked[ptr] = _Tracked(sent_at, txn)
                self._hashes.append(txn.hash)
                for unseen in self._unseen:
                    unseen[ptr] = None

    def _ask_status(self, clients: list[NodeClient]) -> None:
        """STATUS of what each node has not shown yet, pipelined over the nodes."""
        asked = {}
        for i, unseen in enumerate(self._unseen):
            if unseen:
                ptrs = list(unseen)[:self.max_query]
                asked[i] = (ptrs, clients[i].send(Op.STATUS, ptrs))
        reached_now = []
        for i, (ptrs, rid) in asked.items():
            resp = clients[i].wait(rid)
            if not resp.ok:
                raise RuntimeError(f"{self.specs[i].name}: STATUS failed: {resp.body}")
            now = time.monotonic()
            bit = 1 << i
            # an ok STATUS answer's body is one TxnState per pointer (rpc.Response)
            for ptr, state in zip(ptrs, cast("list[TxnState]", resp.body)):
                if state in HELD_STATES:
                    del self._unseen[i][ptr]
                    tracked = self._tracked[ptr]
                    tracked.held_by |= bit
                    if tracked.held_by == self._everyone:
                        reached_now.append(now - tracked.sent_at)
                        self._ready[ptr] = tracked.txn
        if reached_now:
            self.stats.record_reached(reached_now)

    def _forget(self, committed: list[Pointer]) -> None:
        for ptr in committed:
            del self._ready[ptr]
            del self._tracked[ptr]

    def _drained(self) -> bool:
        """The load is over and everything it got accepted is committed. (`load_done` is set
        after the last hand-over, so an empty queue then means nothing more will come.)"""
        return self.load_done.is_set() and not self._tracked and self.accepted.empty()

    def _audit(self, clients: list[NodeClient]) -> None:
        """Every node's TXN_STATUS of every accepted transaction by its hash: how many each
        reports committed (all of them, when the run converged), and the first hash one does
        not, with its state there. Committed is COMMITTED, or DROPPED as STALE: the proposer
        writes the account stores before it sends COMMIT, and a node that admits another
        transaction of the account in between sees its sequence number past the transaction
        first (the same outcome, labelled by the order the node learnt it)."""
        committed: dict[str, int] = {}
        first_miss: str | None = None
        for spec, client in zip(self.specs, clients):
            count = 0
            for base in range(0, len(self._hashes), AUDIT_CHUNK):
                chunk = self._hashes[base:base + AUDIT_CHUNK]
                statuses = cast("list[TransactionStatus]",
                                client.call(Op.TXN_STATUS, chunk))
                for h, status in zip(chunk, statuses):
                    if status.state is TransactionState.COMMITTED or \
                            status.reason is DropReason.STALE:
                        count += 1
                    elif first_miss is None:
                        first_miss = (f"{spec.name}: 0x{h.hex()} is {status.state.name}"
                                      + (f" ({status.reason.name}: {status.detail})"
                                         if status.reason is not None else ""))
            committed[spec.name] = count
        self.stats.record_audit(committed, first_miss)

    def _poll_stats(self, clients: list[NodeClient]) -> None:
        rids = [(spec, c, c.send(Op.STATS)) for spec, c in zip(self.specs, clients)]
        for spec, c, rid in rids:
            resp = c.wait(rid)
            if resp.ok:
                # an ok STATS answer's body is the node's stats object (rpc.Response)
                self.stats.record_node_stats(spec.name, cast("dict[str, Any]", resp.body))
