"""mempool_fast: a shared transaction mempool for blockchain validators.

The core mempool is the Cython one unless the environment sets ``MEMPOOL_FAST_PUREPYTHON=1``
(or the extension cannot be imported, which warns); ``IMPLEMENTATION`` says which is in use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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

from ._version import __version__ as __version__

_core_ext = _impl.extension("_core", "Cython core")
if TYPE_CHECKING:
    # The type checker sees the pure class; the Cython one has the same surface (_core.pyi,
    # which tests/test_stubs.py keeps equal to both).
    from .pure import CoreMempool
    IMPLEMENTATION: str
elif _core_ext is None:
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


if TYPE_CHECKING:  # what __getattr__ loads, for the type checker
    from .client import NodeClient
    from .journal import TransactionJournal
    from .network.base import EventKind, Network, NetworkEvent
    from .network.inprocess import InProcessNetwork
    from .network.zmq import ZmqNetwork
    from .shared import SharedMempool, SharedMempoolNotification
    from .shared.watch import TransactionWatch
    from .storage import AccountStateReader, InMemoryAccountStore, SqliteAccountStore
    from .validation import Ed25519Validator


def __getattr__(name: str) -> object:
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
