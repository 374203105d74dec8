"""The package version, in one place (pyproject.toml reads it; `mempool-fast --version` prints it)."""

__version__ = "0.2.0"
