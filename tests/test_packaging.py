"""What an installer and an embedder see: one version everywhere, the license, the typed
marker, and what a wheel may carry."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import mempool_fast

ROOT = Path(__file__).resolve().parent.parent


def test_version_is_single_sourced_and_printed_by_the_cli():
    out = subprocess.run([sys.executable, "-m", "mempool_fast.cli", "--version"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.split()[:2] == ["mempool-fast", mempool_fast.__version__]
    assert f"({mempool_fast.IMPLEMENTATION} core" in out.stdout
    from importlib.metadata import PackageNotFoundError, version
    try:
        assert version("mempool_fast") == mempool_fast.__version__
    except PackageNotFoundError:  # run from a source tree that is not installed
        pass


def test_the_package_is_typed():
    assert (Path(mempool_fast.__file__).parent / "py.typed").exists()


def test_project_metadata_when_run_from_the_source_tree():
    pyproject = ROOT / "pyproject.toml"
    if not pyproject.exists():  # installed from a wheel, tests from elsewhere
        return
    project = tomllib.loads(pyproject.read_text())["project"]
    assert project["license"] == "Apache-2.0"
    assert "version" in project["dynamic"]
    assert (ROOT / "LICENSE").read_text().lstrip().startswith("Apache License")
    assert mempool_fast.__version__ in (ROOT / "CHANGELOG.md").read_text()
    pythons = {c.rsplit(":: ", 1)[1] for c in project["classifiers"]
               if c.startswith("Programming Language :: Python :: 3.")}
    assert pythons == {"3.11", "3.12", "3.13"}


def test_every_public_name_resolves_and_the_pluggable_bases_are_exported():
    for name in mempool_fast.__all__:
        assert getattr(mempool_fast, name) is not None, name
    from mempool_fast.network.base import EventKind, Network, NetworkEvent
    from mempool_fast.storage import AccountStateReader

    assert (mempool_fast.Network, mempool_fast.NetworkEvent, mempool_fast.EventKind,
            mempool_fast.AccountStateReader) == (Network, NetworkEvent, EventKind,
                                                 AccountStateReader)


def test_the_node_config_reference_in_the_docs_is_what_config_default_prints():
    doc = ROOT / "docs" / "node-config.md"
    if not doc.exists():  # installed from a wheel, tests from elsewhere
        return
    out = subprocess.run([sys.executable, "-m", "mempool_fast.cli", "config", "default"],
                         capture_output=True, text=True, check=True).stdout
    fenced = doc.read_text().split("```toml\n", 1)[1].rsplit("```", 1)[0]
    assert fenced == out, "regenerate docs/node-config.md from `mempool-fast config default`"
