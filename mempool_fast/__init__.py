"""mempool_fast: a shared transaction mempool for blockchain validators.

The core mempool is the Cython one unless the environment sets ``MEMPOOL_FAST_PUREPYTHON=1``
(or the extension cannot be imported, which warns); ``IMPLEMENTATION`` says which is in use.
"""

from __future__ import annotations

from . import _impl
from .config import MempoolConfig
from .errors import MempoolFastError
from .status import (
    AccountStatus, DropReason, TransactionEvent, TransactionEventKind, TransactionState,
    TransactionStatus,
)
from .transaction import SignedTransaction, account_address
from .types import (
    MalformedMessage, MalformedTransaction, MempoolAddTransactionStatus,
    MempoolAddTransactionStatusCode, RemovalReason, TimelineState,
)

from ._version import __version__

_core_ext = _impl.extension("_core", "Cython core")
if _core_ext is None:
    from .pure import CoreMempool
    #: "cython" or "python": which CoreMempool this is.
    IMPLEMENTATION = "python"
else:
    CoreMempool = _core_ext.CoreMempool
    IMPLEMENTATION = "cython"

#: Public names loaded on first use (PEP 562), so importing the package stays light.
_LAZY = {
    "SharedMempool": "shared",
    "SharedMempoolNotification": "shared",
    "InProcessNetwork": "network.inprocess",
    "InMemoryAccountStore": "storage",
    "SqliteAccountStore": "storage",
    "Ed25519Validator": "validation",
    "NodeClient": "client",
    "ZmqNetwork": "network.zmq",
    "TransactionJournal": "journal",
    "TransactionWatch": "shared.watch",
    # the pluggable parts' bases: an embedder implements these
    "Network": "network.base",
    "NetworkEvent": "network.base",
    "EventKind": "network.base",
    "AccountStateReader": "storage",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mempool_fast' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "AccountStateReader", "AccountStatus", "EventKind", "Network", "NetworkEvent", "CoreMempool", "DropReason", "Ed25519Validator", "IMPLEMENTATION",
    "InMemoryAccountStore", "InProcessNetwork", "MalformedMessage", "MalformedTransaction", "MempoolAddTransactionStatus",
    "MempoolAddTransactionStatusCode", "MempoolConfig", "MempoolFastError", "NodeClient",
    "RemovalReason", "SharedMempool",
    "SharedMempoolNotification", "SignedTransaction", "SqliteAccountStore", "TimelineState",
    "TransactionEvent", "TransactionEventKind", "TransactionJournal", "TransactionState",
    "TransactionStatus", "TransactionWatch", "ZmqNetwork", "account_address",
]
