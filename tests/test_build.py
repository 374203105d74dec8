"""The package picks the Cython core by default; a broken build must not pass silently."""

import os
import subprocess
import sys


def test_cython_core_is_built():
    from mempool_fast import _core  # noqa: F401  (fails when the extension was not built)


def test_default_core_is_cython_and_env_forces_pure():
    code = "import mempool_fast; print(mempool_fast.IMPLEMENTATION)"
    env = dict(os.environ)
    env.pop("MEMPOOL_FAST_PUREPYTHON", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "cython", out.stderr
    env["MEMPOOL_FAST_PUREPYTHON"] = "1"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "python", out.stderr
