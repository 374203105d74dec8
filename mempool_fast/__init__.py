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

__all__ = [
    "CoreMempool", "IMPLEMENTATION", "MalformedMessage", "MalformedTransaction",
    "MempoolAddTransactionStatus", "MempoolAddTransactionStatusCode", "MempoolConfig",
    "SignedTransaction", "TimelineState", "account_address",
]
