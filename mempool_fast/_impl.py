"""The one implementation switch: Cython extensions or their pure-Python twins.

``MEMPOOL_FAST_PUREPYTHON=1`` (or ``true``/``yes``) is read once, here, at first import, as
msgpack and multidict do. Every twin module asks ``extension(name)`` for its compiled half; a
package installed without its extensions (``MEMPOOL_FAST_NO_EXTENSIONS=1``, or a build whose
compiler failed, which warned then) is pure Python silently; an extension that exists but cannot
be imported falls back with one warning. ``PURE`` says whether the user
asked for pure Python; each public selector (``IMPLEMENTATION`` and its siblings) reports what
was actually loaded.
"""

from __future__ import annotations

import importlib
import os
import warnings
from dataclasses import dataclass
from types import ModuleType

__all__ = ["PURE", "extension", "Implementation", "matrix"]

PURE = os.environ.get("MEMPOOL_FAST_PUREPYTHON", "").strip().lower() in ("1", "true", "yes")


def extension(name: str, what: str) -> ModuleType | None:
    """The compiled module ``mempool_fast.<name>`` (`what` names it for people), or None when
    pure Python is wanted or the extension cannot be imported (then warn, naming the cause)."""
    if PURE:
        return None
    try:
        return importlib.import_module(f"mempool_fast.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"mempool_fast.{name}":  # installed without extensions: no noise
            return None
        warnings.warn(f"mempool_fast: {what} unavailable ({exc}); using pure Python",
                      RuntimeWarning, stacklevel=3)
        return None
    except ImportError as exc:
        warnings.warn(f"mempool_fast: {what} unavailable ({exc}); using pure Python",
                      RuntimeWarning, stacklevel=3)
        return None


@dataclass(frozen=True)
class Implementation:
    """One set of twins that work together: a core, a transaction class, a validator class."""

    name: str
    core: type
    transaction: type
    validator: type


def matrix(*, mixed: bool = False) -> dict[str, Implementation]:
    """Every implementation this build can load, whatever `PURE` says: "python" (what
    ``MEMPOOL_FAST_PUREPYTHON=1`` ships) and, when the extensions are built, "cython"; with
    `mixed`, also the pairs that can meet in one process (a Cython core holding pure
    transactions, and the reverse). For tests and benchmarks."""
    from . import pure, transaction, validation

    found = {"python": Implementation("python", pure.CoreMempool,
                                      transaction.PySignedTransaction,
                                      validation.PurePythonValidator)}
    try:
        core = importlib.import_module("mempool_fast._core").CoreMempool
        txn = importlib.import_module("mempool_fast._transaction").SignedTransaction
        importlib.import_module("mempool_fast._verify")
    except ImportError:
        return found
    found["cython"] = Implementation("cython", core, txn, validation.BatchValidator)
    if mixed:
        found["cython-core+python-txn"] = Implementation(
            "cython-core+python-txn", core, transaction.PySignedTransaction,
            validation.BatchValidator)
        found["python-core+cython-txn"] = Implementation(
            "python-core+cython-txn", pure.CoreMempool, txn, validation.PurePythonValidator)
    return found
