"""mempool_fast: a shared transaction mempool for blockchain validators.

The core mempool is the Cython one unless the environment sets ``MEMPOOL_FAST_PUREPYTHON=1``
(or the extension cannot be imported, which warns); ``IMPLEMENTATION`` says which is in use.
"""

from __future__ import annotations

import os
import warnings

from .config import MempoolConfig
from .transaction import SignedTransaction, account_address
from .types import (
    MalformedMessage, MalformedTransaction, MempoolAddTransactionStatus,
    MempoolAddTransactionStatusCode, TimelineState,
)

__version__ = "0.1.0"


def _want_pure() -> bool:
    return os.environ.get("MEMPOOL_FAST_PUREPYTHON", "").strip().lower() in ("1", "true", "yes")


if _want_pure():
    from .pure import CoreMempool
    IMPLEMENTATION = "python"
else:
    try:
        from ._core import CoreMempool
        IMPLEMENTATION = "cython"
    except ImportError as exc:  # pragma: no cover - depends on the build
        warnings.warn(f"mempool_fast: Cython core unavailable ({exc}); using pure Python",
                      RuntimeWarning, stacklevel=2)
        from .pure import CoreMempool
        IMPLEMENTATION = "python"

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
    "CoreMempool", "Ed25519Validator", "IMPLEMENTATION", "InMemoryAccountStore",
    "InProcessNetwork", "MalformedMessage", "MalformedTransaction", "MempoolAddTransactionStatus",
    "MempoolAddTransactionStatusCode", "MempoolConfig", "NodeClient", "SharedMempool",
    "SharedMempoolNotification", "SignedTransaction", "SqliteAccountStore", "TimelineState",
    "TransactionJournal", "ZmqNetwork", "account_address",
]
