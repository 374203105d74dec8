"""An exclusive, advisory lock on a data file, held for a process's use of it.

The lock is ``flock`` on a companion file ``<path>.lock`` (which survives the data file being
replaced by a rewrite); the kernel drops it when the process dies, however it dies. Two nodes
started on one data directory cannot both hold it: the second gets a clear error naming the file.
"""

from __future__ import annotations

import fcntl
import os

from .errors import FileLocked

__all__ = ["FileLock"]


class FileLock:
    """Holds ``flock(LOCK_EX)`` on ``<path>.lock`` until `release()`."""

    def __init__(self, path: str | os.PathLike[str], what: str = "file") -> None:
        self.path = os.fspath(path) + ".lock"
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FileLocked(f"{what} {os.fspath(path)} is in use by another process (it "
                                f"holds {self.path}); two nodes cannot share one data "
                                "directory") from None
        except OSError:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (idempotent); the lock file stays, harmlessly."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "FileLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
