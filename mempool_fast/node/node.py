"""A validator node process: SharedMempool + ZeroMQ transport + SQLite accounts + endpoints.

Start-up takes, in order: the transaction format (``[mempool].transaction_format``: an
"ethereum" node without the ``ethereum`` extra stops here, one line naming ``pip install
'mempool_fast[ethereum]'``), the data-directory locks (store and journal: two nodes never share
one), the account store (its addresses the format's sender length) (a journal holding transactions with no store beside it is an error,
never an empty store), the journal (replayed before anyone is served), the peer link, the
shared mempool's threads, the client endpoint, the consensus endpoint, the HTTP port. Each
failure is one error naming the file or field (`StartupError`, `ConfigError`, `JournalCorrupt`,
`FileLocked`), after everything already started was stopped. While it runs, a thread that dies
takes the node down (`run_until_signal` returns 1) instead of leaving it half alive.
"""

from __future__ import annotations

import logging
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence, cast

import zmq
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from .. import IMPLEMENTATION, formats
from ..errors import ConfigError, StartupError
from ..file_lock import FileLock
from ..journal import HEADER_LEN, RecoveryReport, TransactionJournal
from ..metrics import register_process_metrics
from ..network.zmq import PeerAddress, ZmqNetwork, curve_public_from_ed25519
from .config import NodeConfig
from .endpoint import RequestEndpoint, curve_server
from .service import ClientService, ConsensusService

if TYPE_CHECKING:
    from ..formats import TransactionFormat
    from ..rpc import TxnState
    from ..storage import SqliteAccountStore
    from .http import NodeHttpServer

__all__ = ["Node"]

log = logging.getLogger(__name__)

#: How often a running node checks that every thread it depends on is alive.
_WATCH_INTERVAL_S = 0.5


class _TransportCollector:
    """Exposes the transport's counters (auth rejections, drops...) to Prometheus."""

    def __init__(self, network: ZmqNetwork) -> None:
        self.network = network

    def collect(self) -> Iterator[Metric]:
        counters = CounterMetricFamily("mempool_transport_events",
                                       "ZeroMQ transport events by kind", labels=["kind"])
        for kind, value in sorted(self.network.stats().items()):
            counters.add_metric([kind], value)
        yield counters
        alive = GaugeMetricFamily("mempool_transport_peers_alive", "Peers with a live link")
        alive.add_metric([], len(self.network.peers_alive()))
        yield alive


def _bind(what: str, address: str, start: Callable[[], None]) -> None:
    try:
        start()
    except (zmq.ZMQError, OSError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise StartupError(f"cannot bind {what} {address}: {reason}") from None


def _journal_holds_records(path: Path) -> bool:
    try:
        return path.stat().st_size > HEADER_LEN
    except FileNotFoundError:
        return False


class Node:
    """One validator: owns its transport, shared mempool, account store and endpoints."""

    def __init__(self, config: NodeConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.storage: SqliteAccountStore | None = None
        self.journal: TransactionJournal | None = None
        self.network: ZmqNetwork | None = None
        self.shared: Any = None
        #: The transaction format of this node's pool (made by start()).
        self.transaction_format: TransactionFormat[Any] | None = None
        #: What the start-up replay of the journal did (set by start()).
        self.recovery: RecoveryReport | None = None
        self._locks: list[FileLock] = []
        self._ctx: zmq.SyncContext | None = None
        self._endpoints: list[RequestEndpoint] = []
        self._http: NodeHttpServer | None = None
        self._client_service: ClientService | None = None
        self._consensus_service: ConsensusService | None = None
        self._wake = threading.Event()
        self._stopped = False
        #: Why the node went down on its own (a dead thread), else None.
        self.failure: str | None = None

    # -- lifecycle --
    def start(self) -> None:
        """Open, replay, bind and start everything; raises (after cleaning up) if one fails."""
        try:
            self._open()
            self._serve()
        except BaseException:
            self.stop()
            raise
        cfg = self.config
        # _open made the network and replayed the journal (or raised)
        network = cast(ZmqNetwork, self.network)
        report = cast(RecoveryReport, self.recovery)
        log.info("%s started: %s core, peers on %s (%s), clients on %s, consensus on %s, "
                 "metrics on %s; journal %s: %d replayed, %d back in the pool, %d held",
                 cfg.name, IMPLEMENTATION, network.bound_address,
                 ", ".join(p.name for p in cfg.peers if p.name != cfg.name) or "no peers",
                 cfg.client, cfg.consensus or "-",
                 f"{cfg.metrics_address}:{self._http.port}" if self._http else "-",
                 cfg.journal_path, report.replayed, report.accepted, report.held)
        log.info("%s: listening on %s, clients on %s", cfg.name, network.bound_address,
                 cfg.client)

    def _open(self) -> None:
        cfg = self.config
        from ..shared import SharedMempool  # the heavy parts load only when a node starts

        fmt = self.transaction_format = _make_format(cfg)
        journal_path = cfg.journal_path
        if _journal_holds_records(journal_path) and not cfg.store.exists():
            raise ConfigError(
                f"store {cfg.store} is missing but journal {journal_path} holds transactions: "
                "restore the store (or move the journal away to start empty)")
        self._locks.append(FileLock(cfg.store, "store"))
        self.storage = _open_store(cfg.store, fmt.sender_length)
        self.journal = TransactionJournal.from_config(journal_path, cfg.mempool, clock=self.clock,
                                                      transaction_format=fmt)
        peers = {p.name: PeerAddress(p.address, curve_public_from_ed25519(p.public_key))
                 for p in cfg.peers}
        self.network = ZmqNetwork(cfg.name, cfg.seed, cfg.listen, peers, cfg.mempool,
                                  settings=cfg.transport, start=False)
        try:
            self.shared = SharedMempool(cfg.mempool, self.network, self.storage,
                                        transaction_format=fmt, journal=self.journal,
                                        clock=self.clock)
        except ValueError as exc:  # the store or the journal is another format's
            raise StartupError(f"the shared mempool cannot start: {exc}") from None
        self.shared.metrics.registry.register(_TransportCollector(self.network))
        register_process_metrics(self.shared.metrics.registry)  # build info, process, GC
        # acknowledged, uncommitted client transactions come back before anyone is served
        self.recovery = self.shared.recover_journal()

    def _serve(self) -> None:
        cfg = self.config
        # _open made the network (or raised)
        _bind("[node].listen", cfg.listen, cast(ZmqNetwork, self.network).start)
        self.shared.start()
        self._ctx = zmq.Context()
        # _open made the store (or raised)
        fmt = cast("TransactionFormat[Any]", self.transaction_format)  # made by _open
        self._client_service = ClientService(cfg.name, self.shared,
                                             cast("SqliteAccountStore", self.storage), self.stats,
                                             max_transactions=cfg.client_max_transactions,
                                             transaction_format=fmt)
        endpoint = RequestEndpoint(self._ctx, cfg.client, self._client_service,
                                   workers=cfg.client_workers,
                                   max_request_bytes=cfg.client_max_request_bytes,
                                   name=f"node-client-{cfg.name}")
        _bind("[node].client", cfg.client, endpoint.start)
        self._endpoints.append(endpoint)
        self._consensus_service = ConsensusService(
            cfg.name, self.shared, self.clock, max_block_time_skew_s=cfg.max_block_time_skew_s,
            transaction_format=fmt)
        if cfg.consensus:
            curve = None if cfg.consensus.startswith("ipc://") else \
                curve_server(cfg.seed, cfg.consensus_clients)
            endpoint = RequestEndpoint(self._ctx, cfg.consensus, self._consensus_service,
                                       workers=1, max_request_bytes=cfg.client_max_request_bytes,
                                       name=f"node-consensus-{cfg.name}", curve=curve)
            _bind("[node].consensus", cfg.consensus, endpoint.start)
            self._endpoints.append(endpoint)
        if cfg.metrics_port:
            from .http import NodeHttpServer
            self._http = NodeHttpServer(cfg.metrics_address, cfg.metrics_port,
                                        self.shared.metrics.registry, health=self.health,
                                        readiness=self.readiness)
            _bind("[node].metrics_port", f"{cfg.metrics_address}:{cfg.metrics_port}",
                  self._http.start)

    def stop(self) -> None:
        """Stop every thread and close every socket and file. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._wake.set()
        if self._http is not None:
            self._http.stop()
        for endpoint in self._endpoints:
            endpoint.stop()
        if self.shared is not None:
            self.shared.stop()
        close_format = getattr(self.transaction_format, "close", None)
        if close_format is not None:  # the native format's validator threads (idempotent)
            close_format()
        if self.network is not None:
            self.network.close()
        if self.journal is not None:
            self.journal.close()
        close = getattr(self.storage, "close", None)
        if close is not None:
            close()
        if self._ctx is not None:
            self._ctx.term()
        for lock in self._locks:
            lock.release()

    def run_until_signal(self) -> int:
        """Serve until SIGTERM or SIGINT (exit code 0), or until a thread the node depends on
        dies (1); then stop cleanly."""
        previous = {s: signal.signal(s, lambda *_: self._wake.set())
                    for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.start()
            self.wait_for_failure()
        finally:
            self.stop()
            for s, handler in previous.items():
                signal.signal(s, handler)
        return 0 if self.failure is None else 1

    def wait_for_failure(self, timeout: float | None = None) -> str | None:
        """Watch the node's threads until one dies (returns why, also in `failure`), `stop()`
        or a signal is requested, or `timeout` seconds pass (returns None)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = _WATCH_INTERVAL_S if deadline is None else \
                min(_WATCH_INTERVAL_S, deadline - time.monotonic())
            if left <= 0 or self._wake.wait(left):
                return None
            self.failure = self._dead_thread()
            if self.failure is not None:
                log.critical("%s: %s; stopping the node", self.config.name, self.failure)
                return self.failure

    def _dead_thread(self) -> str | None:
        shared = self.shared
        if shared.failed.is_set():
            role, exc = shared.failure
            return f"the shared mempool's {role} thread died ({exc!r})"
        # only a started node is watched (the network exists once _open ran)
        if not cast(ZmqNetwork, self.network).running():
            return "the network I/O thread died"
        for endpoint in self._endpoints:
            if not endpoint.alive():
                return f"the endpoint on {endpoint.address} died"
        if self._http is not None and not self._http.alive():
            return "the HTTP server thread died"
        return None

    # -- state for operators --
    def handle(self, data: bytes) -> bytes:
        """Answer one encoded client request (what the client endpoint serves)."""
        return cast(ClientService, self._client_service)(data)  # made by start()

    def handle_consensus(self, data: bytes) -> bytes:
        """Answer one encoded consensus request (what the consensus endpoint serves)."""
        return cast(ConsensusService, self._consensus_service)(data)  # made by start()

    def txn_states(self, pointers: Sequence[tuple[bytes, int]]) -> list[TxnState]:
        """Where each (sender, seq) stands here (see ClientService.txn_states)."""
        return cast(ClientService, self._client_service).txn_states(pointers)  # made by start()

    def health(self) -> tuple[bool, dict[str, object]]:
        """Alive: every thread the node depends on runs."""
        dead = None if self._stopped else self._dead_thread()
        return dead is None and not self._stopped, {"node": self.config.name,
                                                    "problem": dead}

    def readiness(self) -> tuple[bool, dict[str, object]]:
        """Ready: alive, the journal is replayed and links to `ready_min_peers` peers are up.
        When not ready, the detail's "reason" says why (the first failing condition)."""
        links = len(self.network.peers_alive()) if self.network is not None else 0
        need = self.config.ready_min_peers
        alive, health = self.health()
        replayed = self.recovery is not None
        reason = None
        if not alive:
            reason = f"not alive: {health['problem'] or 'stopped'}"
        elif not replayed:
            reason = "journal not replayed yet"
        elif links < need:
            reason = f"{links} of the {need} peer links needed are up ([node].ready_min_peers)"
        detail: dict[str, object] = {"node": self.config.name, "links_alive": links,
                                     "links_needed": need, "journal_replayed": replayed}
        if reason is not None:
            detail["reason"] = reason
        return reason is None, detail

    def stats(self) -> dict[str, Any]:
        """Sizes and peer/transport state, for the cluster summary and operators."""
        # a started node's (start() made the network and the journal)
        network = cast(ZmqNetwork, self.network)
        journal = cast(TransactionJournal, self.journal)
        peers = self.shared.peers()
        return {"name": self.config.name, **self.shared.sizes(),
                "transaction_format": _describe_format(
                    cast("TransactionFormat[Any]", self.transaction_format)),
                "peers": {p: {"timeline_id": s.timeline_id, "alive": s.is_alive}
                          for p, s in peers.items()},
                "links_alive": sorted(network.peers_alive()),
                "transport": network.stats(),
                "mempool_counters": self.shared.counters(),
                "journal": {"live": len(journal), "bytes": journal.file_size(),
                            "held": self.shared.held_transactions()},
                "implementation": IMPLEMENTATION}


def _make_format(cfg: NodeConfig) -> TransactionFormat[Any]:
    """The node's transaction format ([mempool].transaction_format); a StartupError naming
    the extra to install when the format's dependencies are missing."""
    try:
        return formats.from_config(cfg.mempool)
    except ImportError as exc:
        raise StartupError(f"[mempool].transaction_format = "
                           f"{cfg.mempool.transaction_format!r} cannot be used: {exc}") from None


def _describe_format(fmt: TransactionFormat[Any]) -> dict[str, object]:
    """What STATS says of the node's format, so that a client can speak it: its name and
    sender length, and the chain id of a format that has one."""
    described: dict[str, object] = {"name": fmt.name, "sender_length": fmt.sender_length}
    chain_id = getattr(fmt, "chain_id", None)
    if chain_id is not None:
        described["chain_id"] = chain_id
    return described


def _open_store(path: Path, address_length: int) -> SqliteAccountStore:
    """The node's account store, its addresses `address_length` bytes (the format's
    senders)."""
    from ..storage import SqliteAccountStore

    store: SqliteAccountStore | None = None
    try:
        store = SqliteAccountStore(str(path), address_length=address_length)
        len(store)  # reads the table: a file that is not an SQLite database fails here
    except sqlite3.Error as exc:
        if store is not None:
            store.close()
        raise ConfigError(f"store {path} cannot be used: {exc}") from None
    except ValueError as exc:  # its accounts' addresses are of another length
        raise ConfigError(f"store {path} cannot be used: {exc}") from None
    return store
