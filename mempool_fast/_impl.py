"""The one implementation switch: Cython extensions or their pure-Python twins.

``MEMPOOL_FAST_PUREPYTHON=1`` (or ``true``/``yes``) is read once, here, at first import, as
msgpack and multidict do. Every twin module asks ``extension(name)`` for its compiled half; a
missing extension falls back to pure Python with one warning. ``PURE`` says whether the user
asked for pure Python; each public selector (``IMPLEMENTATION`` and its siblings) reports what
was actually loaded.
"""

from __future__ import annotations

import importlib
import os
import warnings
from types import ModuleType

__all__ = ["PURE", "extension"]

PURE = os.environ.get("MEMPOOL_FAST_PUREPYTHON", "").strip().lower() in ("1", "true", "yes")


def extension(name: str, what: str) -> ModuleType | None:
    """The compiled module ``mempool_fast.<name>`` (`what` names it for people), or None when
    pure Python is wanted or the extension cannot be imported (then warn, naming the cause)."""
    if PURE:
        return None
    try:
        return importlib.import_module(f"mempool_fast.{name}")
    except ImportError as exc:
        warnings.warn(f"mempool_fast: {what} unavailable ({exc}); using pure Python",
                      RuntimeWarning, stacklevel=3)
        return None
