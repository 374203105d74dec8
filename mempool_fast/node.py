"""A validator node process: SharedMempool + ZeroMQ transport + SQLite accounts + endpoints.

Configured by a TOML file (standard-library ``tomllib``); relative paths are relative to it::

    [node]
    name = "node0"
    key_file = "node0.key"        # Ed25519 seed, 64 hex characters
    curve_key = "ed25519"         # the CurveZMQ key pair is derived from the Ed25519 key
    listen = "tcp://127.0.0.1:7000"        # validator-to-validator link (CurveZMQ)
    client = "tcp://127.0.0.1:7100"        # client endpoint: loopback only, unauthenticated
    store = "node0.sqlite"                 # SqliteAccountStore
    metrics_port = 0                       # Prometheus HTTP endpoint; 0 = off
    metrics_address = "127.0.0.1"

    [[peers]]                     # the validator set (this node may be listed too)
    name = "node1"
    address = "tcp://127.0.0.1:7001"
    public_key = "…64 hex…"       # the peer's Ed25519 public key

    [mempool]                     # any MempoolConfig field
    shared_mempool_tick_interval_ms = 50

    [transport]                   # any ZmqSettings field
    heartbeat_ivl_ms = 1000

The client endpoint is a ZeroMQ ROUTER without CurveZMQ: clients are local tools, so it only
binds loopback (or ipc://) addresses, and a node refuses any other.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import sys
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import nacl.signing
import zmq
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from . import rpc
from .config import MempoolConfig
from .network.zmq import PeerAddress, ZmqNetwork, ZmqSettings, curve_public_from_ed25519
from .rpc import Op, RpcError, TxnState
from .types import TimelineState

__all__ = ["NodeConfig", "Node", "ConfigError", "read_key_file", "write_key_file",
           "CURVE_KEY_SOURCE", "main"]

log = logging.getLogger(__name__)

#: The only supported origin of a node's CurveZMQ key pair (stated in every config).
CURVE_KEY_SOURCE = "ed25519"
_LOOPBACK_PREFIXES = ("tcp://127.", "tcp://localhost:", "tcp://[::1]:", "ipc://", "inproc://")
_TXN_STATE = {TimelineState.NOT_READY: TxnState.NOT_READY, TimelineState.READY: TxnState.READY,
              TimelineState.NON_QUALIFIED: TxnState.NON_QUALIFIED}
#: How long the client endpoint thread waits in one poll (it checks its stop flag between).
_RPC_POLL_MS = 200


class ConfigError(ValueError):
    """A node configuration or key file that cannot be used, with the reason."""


def read_key_file(path: str | Path) -> bytes:
    """The 32-byte Ed25519 seed stored hex-encoded in `path`."""
    try:
        text = Path(path).read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read key file {path}: {exc.strerror}") from None
    try:
        seed = bytes.fromhex(text)
    except ValueError:
        raise ConfigError(f"key file {path} is not hex") from None
    if len(seed) != 32:
        raise ConfigError(f"key file {path} holds {len(seed)} bytes, not a 32-byte seed")
    return seed


def write_key_file(path: str | Path, seed: bytes | None = None) -> nacl.signing.SigningKey:
    """Write a (new, unless `seed` is given) Ed25519 seed to `path`, readable by the owner only."""
    key = nacl.signing.SigningKey(seed) if seed is not None else nacl.signing.SigningKey.generate()
    path = Path(path)
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(bytes(key).hex() + "\n")
    return key


@dataclass
class PeerConfig:
    name: str
    address: str
    public_key: bytes  # Ed25519, 32 bytes


@dataclass
class NodeConfig:
    """Everything a node needs, read from its TOML file by `NodeConfig.load`."""

    name: str
    seed: bytes
    listen: str
    client: str
    store: Path
    peers: list[PeerConfig]
    mempool: MempoolConfig = field(default_factory=MempoolConfig)
    transport: ZmqSettings = field(default_factory=ZmqSettings)
    metrics_port: int = 0
    metrics_address: str = "127.0.0.1"
    #: Journal of client transactions, replayed at start ([node].journal; default: the store's
    #: path with the suffix ".journal").
    journal: Path | None = None

    @property
    def journal_path(self) -> Path:
        return self.journal if self.journal is not None else self.store.with_suffix(".journal")

    @classmethod
    def load(cls, path: str | Path) -> "NodeConfig":
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config {path} is not valid TOML: {exc}") from None
        return cls.from_dict(data, base=path.parent)

    @classmethod
    def from_dict(cls, data: dict, base: Path = Path(".")) -> "NodeConfig":
        node = data.get("node")
        if not isinstance(node, dict):
            raise ConfigError("config needs a [node] table")

        def need(key: str, kind=str):
            value = node.get(key)
            if not isinstance(value, kind):
                raise ConfigError(f"[node].{key} must be a {kind.__name__}")
            return value

        if node.get("curve_key", CURVE_KEY_SOURCE) != CURVE_KEY_SOURCE:
            raise ConfigError(f"[node].curve_key must be {CURVE_KEY_SOURCE!r}: the CurveZMQ "
                              "key pair derives from the node's Ed25519 key")
        client = need("client")
        if not client.startswith(_LOOPBACK_PREFIXES):
            raise ConfigError(f"[node].client {client!r} is not a loopback address: the client "
                              "endpoint is unauthenticated and must stay local")
        peers = []
        for i, p in enumerate(data.get("peers", [])):
            try:
                key = bytes.fromhex(p["public_key"])
                if len(key) != 32:
                    raise ValueError
                peers.append(PeerConfig(str(p["name"]), str(p["address"]), key))
            except (KeyError, TypeError, ValueError):
                raise ConfigError(f"peers[{i}] needs name, address and a 64-hex public_key") \
                    from None
        names = [p.name for p in peers]
        if len(set(names)) != len(names):
            raise ConfigError("peer names must be unique")
        mempool = _dataclass_from(MempoolConfig, data.get("mempool", {}), "mempool")
        transport = _dataclass_from(ZmqSettings, data.get("transport", {}), "transport")
        port = node.get("metrics_port", 0)
        if not isinstance(port, int) or not 0 <= port < 65536:
            raise ConfigError("[node].metrics_port must be a port number (0: off)")
        journal = node.get("journal")
        if journal is not None and not isinstance(journal, str):
            raise ConfigError("[node].journal must be a path")
        return cls(name=need("name"), seed=read_key_file(base / need("key_file")),
                   listen=need("listen"), client=client, store=base / need("store"),
                   peers=peers, mempool=mempool, transport=transport, metrics_port=port,
                   metrics_address=str(node.get("metrics_address", "127.0.0.1")),
                   journal=None if journal is None else base / journal)


def _dataclass_from(cls, table, section: str):
    if not isinstance(table, dict):
        raise ConfigError(f"[{section}] must be a table")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(table) - known
    if unknown:
        raise ConfigError(f"[{section}] has unknown settings: {', '.join(sorted(unknown))}")
    try:
        return cls(**table)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[{section}]: {exc}") from None


class _TransportCollector:
    """Exposes the transport's counters (auth rejections, drops...) to Prometheus."""

    def __init__(self, network: ZmqNetwork) -> None:
        self.network = network

    def collect(self):
        counters = CounterMetricFamily("mempool_transport_events",
                                       "ZeroMQ transport events by kind", labels=["kind"])
        for kind, value in sorted(self.network.stats().items()):
            counters.add_metric([kind], value)
        yield counters
        alive = GaugeMetricFamily("mempool_transport_peers_alive", "Peers with a live link")
        alive.add_metric([], len(self.network.peers_alive()))
        yield alive


class Node:
    """One validator: owns its transport, shared mempool, account store and endpoints."""

    def __init__(self, config: NodeConfig, *, clock=time.time) -> None:
        from .journal import TransactionJournal
        from .shared import SharedMempool  # the heavy parts load only when a node is built
        from .storage import SqliteAccountStore
        from .validation import Ed25519Validator

        self.config = config
        self.clock = clock
        self.storage = SqliteAccountStore(str(config.store))
        peers = {p.name: PeerAddress(p.address, curve_public_from_ed25519(p.public_key))
                 for p in config.peers}
        self.network = ZmqNetwork(config.name, config.seed, config.listen, peers, config.mempool,
                                  settings=config.transport, start=False)
        self.journal = TransactionJournal.from_config(config.journal_path, config.mempool,
                                                      clock=clock)
        self.shared = SharedMempool(config.mempool, self.network, self.storage,
                                    validator=Ed25519Validator(config.mempool),
                                    journal=self.journal, clock=clock)
        #: What the start-up replay of the journal did (set by start()).
        self.recovery = None
        self.shared.metrics.registry.register(_TransportCollector(self.network))
        self._stop = threading.Event()
        self._rpc_thread = threading.Thread(target=self._serve_clients, name="node-rpc",
                                            daemon=True)
        self._rpc_ready = threading.Event()
        self._rpc_error: BaseException | None = None
        self._http = None
        self._ctx = zmq.Context()

    # -- lifecycle --
    def start(self) -> None:
        """Bind everything and start the threads; raises (after cleaning up) if one fails."""
        from .journal import recover
        try:
            # acknowledged, uncommitted client transactions come back before anyone is served
            self.recovery = recover(self.journal, self.shared.submit_transactions,
                                    self.storage.get_account_states, self.clock)
            self.network.start()
            self.shared.start()
            self._rpc_thread.start()
            self._rpc_ready.wait()
            if self._rpc_error is not None:
                raise self._rpc_error
            if self.config.metrics_port:
                from prometheus_client import start_http_server
                self._http = start_http_server(self.config.metrics_port,
                                               addr=self.config.metrics_address,
                                               registry=self.shared.metrics.registry)
        except BaseException:
            self.stop()
            raise
        log.info("%s: listening on %s, clients on %s", self.config.name,
                 self.network.bound_address, self.config.client)

    def stop(self) -> None:
        """Stop every thread and close every socket and file. Idempotent."""
        self._stop.set()
        if self._rpc_thread.is_alive():
            self._rpc_thread.join()
        if self._http is not None:
            server, thread = self._http
            server.shutdown()
            server.server_close()
            thread.join()
            self._http = None
        self.shared.stop()
        self.network.close()
        self.journal.close()
        close = getattr(self.storage, "close", None)
        if close is not None:
            close()
        self._ctx.term()

    def run_until_signal(self) -> None:
        """Serve until SIGTERM or SIGINT, then stop cleanly."""
        previous = {s: signal.signal(s, lambda *_: self._stop.set())
                    for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.start()
            self._stop.wait()
        finally:
            self.stop()
            for s, handler in previous.items():
                signal.signal(s, handler)

    # -- the client endpoint --
    def _serve_clients(self) -> None:
        sock = self._ctx.socket(zmq.ROUTER)
        sock.linger = 0
        try:
            sock.bind(self.config.client)
        except zmq.ZMQError as exc:
            self._rpc_error = exc
            sock.close(0)
            self._rpc_ready.set()
            return
        self._rpc_ready.set()
        try:
            while not self._stop.is_set():
                if not sock.poll(_RPC_POLL_MS):
                    continue
                frames = sock.recv_multipart()
                if len(frames) != 2:
                    log.warning("client sent a %d-frame message; ignored", len(frames) - 1)
                    continue
                sock.send_multipart([frames[0], self.handle(frames[1])])
        finally:
            sock.close(0)

    def handle(self, data: bytes) -> bytes:
        """Answer one encoded request: a response, or an error reply for anything wrong."""
        try:
            req = rpc.decode_request(data)
        except RpcError as exc:
            op, rid = rpc.request_head(data)
            return rpc.error_response(op, rid, f"bad request: {exc}")
        try:
            return rpc.encode_response(req.op, req.request_id, self._dispatch(req))
        except (ValueError, TypeError) as exc:
            return rpc.error_response(req.op, req.request_id, f"{req.op.name} failed: {exc}")
        except Exception as exc:  # noqa: BLE001 - a client must not kill the endpoint
            log.exception("%s: %s request failed", self.config.name, req.op.name)
            return rpc.error_response(req.op, req.request_id,
                                      f"{req.op.name} failed: internal error {exc!r}")

    def _dispatch(self, req: rpc.Request):
        shared = self.shared
        if req.op == Op.SUBMIT:
            return shared.submit_transactions(req.body)
        if req.op == Op.GET_BLOCK:
            batch, exclude = req.body
            return shared.get_block(batch, exclude)
        if req.op == Op.COMMIT:
            block_time, committed, rejected = req.body
            shared.commit_transactions(committed, block_time, rejected)
            return None
        if req.op == Op.STATUS:
            return self.txn_states(req.body)
        return self.stats()

    def txn_states(self, pointers) -> list[TxnState]:
        """Where each (sender, seq) stands here: pending (and how), committed, or unknown."""
        mempool = self.shared.mempool
        states: list[TxnState | None] = []
        with self.shared.lock:
            for sender, seq in pointers:
                found = mempool.timeline_state(sender, seq)
                states.append(None if found is None else _TXN_STATE[found[0]])
        missing = [i for i, s in enumerate(states) if s is None]
        if missing:
            accounts = self.storage.get_account_states([pointers[i][0] for i in missing])
            for i, account in zip(missing, accounts):
                committed = account is not None and pointers[i][1] < account[0]
                states[i] = TxnState.COMMITTED if committed else TxnState.UNKNOWN
        return states

    def stats(self) -> dict:
        """Sizes and peer/transport state, for the cluster summary and operators."""
        mempool = self.shared.mempool
        with self.shared.lock:
            sizes = {"mempool_size": len(mempool),
                     "parking_lot_size": mempool.parking_lot_size(),
                     "priority_index_size": mempool.priority_index_size(),
                     "timeline_size": mempool.timeline_size()}
        peers = self.shared.peers()
        return {"name": self.config.name, **sizes,
                "peers": {p: {"timeline_id": s.timeline_id, "alive": s.is_alive}
                          for p, s in peers.items()},
                "links_alive": sorted(self.network.peers_alive()),
                "transport": self.network.stats(),
                "mempool_counters": self.shared.counters(),
                "journal": {"live": len(self.journal), "bytes": self.journal.file_size()}}


def main(config_path: str) -> int:
    """`mempool-fast node --config FILE`: run one node until SIGTERM/SIGINT."""
    try:
        config = NodeConfig.load(config_path)
    except ConfigError as exc:
        print(f"mempool-fast node: {exc}", file=sys.stderr)
        return 2
    node = Node(config)
    node.run_until_signal()
    log.info("%s: stopped", config.name)
    return 0
