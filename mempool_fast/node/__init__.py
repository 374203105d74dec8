"""A validator node: its configuration (config.py), endpoints (endpoint.py, service.py), HTTP
port (http.py) and lifecycle (node.py); `main` is `mempool-fast node --config FILE`.

The TOML config, relative paths relative to it (every key: `mempool-fast config default`)::

    [node]
    name = "node0"
    key_file = "node0.key"                 # Ed25519 seed, 64 hex characters
    listen = "tcp://127.0.0.1:7000"        # validator-to-validator link (CurveZMQ)
    client = "tcp://127.0.0.1:7100"        # client endpoint: loopback only, unauthenticated
    consensus = "ipc://node0-consensus.sock"   # get_block / commit, for consensus only
    store = "node0.sqlite"                 # SqliteAccountStore

    [[peers]]                              # the validator set (this node may be listed too)
    name = "node1"
    address = "tcp://127.0.0.1:7001"
    public_key = "…64 hex…"                # the peer's Ed25519 public key

    [mempool]                              # any MempoolConfig field, e.g.
    transaction_format = "ethereum"        # "native" (default) or "ethereum" (needs the extra)
    chain_id = 1337                        # an ethereum node's EIP-155 chain id
    [transport]                            # any ZmqSettings field
"""

from __future__ import annotations

import logging
import sys

from ..errors import ConfigError, MempoolFastError
from .config import CURVE_KEY_SOURCE, NodeConfig, PeerConfig, read_key_file, write_key_file
from .node import Node

__all__ = ["NodeConfig", "PeerConfig", "Node", "ConfigError", "read_key_file",
           "write_key_file", "CURVE_KEY_SOURCE", "main"]

log = logging.getLogger(__name__)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def main(config_path: str) -> int:
    """`mempool-fast node --config FILE`: run one node until SIGTERM/SIGINT. Returns the exit
    code: 0 after a signal, 1 when a thread died, 2 when it could not start (one line on
    stderr naming the file and what is wrong)."""
    import zmq

    try:
        config = NodeConfig.load(config_path)
    except ConfigError as exc:
        print(f"mempool-fast node: {_one_line(exc)}", file=sys.stderr)
        return 2
    node = Node(config)
    try:
        code = node.run_until_signal()
    except (MempoolFastError, OSError, zmq.ZMQError) as exc:
        print(f"mempool-fast node: config {config_path}: {_one_line(exc)}", file=sys.stderr)
        return 2
    if code:
        print(f"mempool-fast node: {config.name} stopped: {node.failure}", file=sys.stderr)
    log.info("%s: stopped", config.name)
    return code
