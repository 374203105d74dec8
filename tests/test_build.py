"""The package picks the Cython core by default; a broken build must not pass silently."""

import os
import subprocess
import sys


import pytest

#: CI's pure install (`MEMPOOL_FAST_NO_EXTENSIONS=1 pip install .`) runs the suite with this set.
NO_EXTENSIONS = os.environ.get("MEMPOOL_FAST_NO_EXTENSIONS") == "1"
cython_build = pytest.mark.skipif(NO_EXTENSIONS, reason="installed without extensions")


@cython_build
def test_cython_core_is_built():
    from mempool_fast import _core  # noqa: F401  (fails when the extension was not built)
    from mempool_fast import _transaction  # noqa: F401


@pytest.mark.skipif(not NO_EXTENSIONS, reason="only for an install without extensions")
def test_an_install_without_extensions_is_pure_everywhere():
    import importlib

    import mempool_fast
    from mempool_fast import transaction, validation

    for name in ("_core", "_transaction", "_verify"):
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(f"mempool_fast.{name}")
    assert (mempool_fast.IMPLEMENTATION, transaction.TRANSACTION_IMPLEMENTATION,
            validation.IMPLEMENTATION) == ("python", "python", "python")


@cython_build
def test_default_core_is_cython_and_env_forces_pure():
    code = ("import mempool_fast, mempool_fast.transaction as t; "
            "print(mempool_fast.IMPLEMENTATION, t.TRANSACTION_IMPLEMENTATION, "
            "mempool_fast.SignedTransaction.__module__)")
    env = dict(os.environ)
    env.pop("MEMPOOL_FAST_PUREPYTHON", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["cython", "cython", "mempool_fast._transaction"], out.stderr
    env["MEMPOOL_FAST_PUREPYTHON"] = "1"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["python", "python", "mempool_fast.transaction"], out.stderr
