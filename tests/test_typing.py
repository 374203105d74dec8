"""The typed public surface passes `mypy --strict`.

Runs `python -m mypy` from the repository root with pyproject.toml's `[tool.mypy]` (strict, the
checked `files`, the Cython stubs), its cache in a temporary directory. Skipped when mypy is not
installed (it is in the `test` extra) or when the tests run against an installed package
rather than the source tree (no sources to check).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _skip_reason() -> str | None:
    if importlib.util.find_spec("mypy") is None:
        return "mypy is not installed (pip install -e '.[test]' brings it)"
    pyproject = ROOT / "pyproject.toml"
    if not pyproject.exists() or not (ROOT / "mempool_fast" / "__init__.py").exists():
        return "not run from the source tree: no sources to type-check"
    if "mypy" not in tomllib.loads(pyproject.read_text()).get("tool", {}):
        return "pyproject.toml has no [tool.mypy] section"
    return None


@pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason()))
def test_mypy_strict_passes(tmp_path):
    env = dict(os.environ, MYPY_FORCE_COLOR="0")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy_cache"),
         "--no-error-summary", "--hide-error-context"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, (
        f"mypy --strict failed (exit {result.returncode}):\n{result.stdout}{result.stderr}")


def test_mypy_checks_the_public_modules():
    """The configuration names the modules that are typed, the stubs among them."""
    pyproject = ROOT / "pyproject.toml"
    if not pyproject.exists() or not (ROOT / "mempool_fast" / "__init__.py").exists():
        pytest.skip("not run from the source tree: no sources to type-check")
    config = tomllib.loads(pyproject.read_text())["tool"]["mypy"]
    assert config["strict"] is True
    files = set(config["files"])
    for name in ("__init__", "errors", "types", "status", "transaction", "storage",
                 "validation", "_wire", "_impl", "metrics"):
        assert f"mempool_fast/{name}.py" in files, name
    for name in ("_core", "_transaction", "_verify"):
        assert f"mempool_fast/{name}.pyi" in files, name
    assert "examples/core_demo.py" in files
    missing = sorted(f for f in files if not (ROOT / f).exists())
    assert not missing, f"[tool.mypy] files that do not exist: {missing}"
