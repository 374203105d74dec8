"""The open journal file: descriptor, salt seed, size, write lock, group commit and the
exclusive lock that keeps another process off it. It writes, truncates a torn tail, maps
snapshots and swaps in a rewrite; what the records mean is the journal's business."""

from __future__ import annotations

import logging
import os
import threading
from typing import Callable

from ..file_lock import FileLock
from .compaction import Rewrite
from .format import Mapped, fdatasync, fsync_dir, write_all
from .group_commit import GroupCommit
from .loading import Loaded, load_index, open_file

__all__ = ["JournalFile"]

log = logging.getLogger(__name__)


class JournalFile:
    """See the module docstring. `lock` guards the descriptor, the size and every write."""

    def __init__(self, path: str, *, fsync: str, fsync_interval_s: float,
                 clock: Callable[[], float], format_name: str | None = None) -> None:
        """`format_name`: the FORMAT record a new file starts with (None: a native journal,
        untagged)."""
        self.path = path
        self.tmp_path = path + ".compact"
        self.lock = threading.Lock()
        self.fd = -1
        self.commit = GroupCommit(fsync, fsync_interval_s, clock, lambda: self.fd)
        self._file_lock = FileLock(path, "journal")
        try:
            self.fd, header, self.interrupted_compaction = open_file(path, self.tmp_path,
                                                                     format_name)
            self.seed = header.seed
            self.size = os.fstat(self.fd).st_size
            #: What the scan at open found (the index of live records, damage).
            self.loaded: Loaded = load_index(self.fd, self.size, header, path)
        except BaseException:
            if self.fd >= 0:
                os.close(self.fd)
            self._file_lock.release()
            raise

    def write_locked(self, data: bytes) -> None:
        """Append `data` (hold `lock`); on an error the file is cut back and the error raised."""
        try:
            write_all(self.fd, data)
        except BaseException:
            try:
                os.ftruncate(self.fd, self.size)
            except OSError:
                log.exception("journal %s: cannot cut back a failed write", self.path)
            raise
        self.size += len(data)
        self.commit.wrote()

    def truncate(self, offset: int) -> None:
        """Cut the file at `offset` (a torn tail), durably."""
        os.ftruncate(self.fd, offset)
        os.fsync(self.fd)
        self.size = offset

    def mapped(self, start: int = 0) -> Mapped | None:
        """The bytes [0, size) mapped read-only (hold `lock`); None when `start` is the end."""
        return Mapped(self.fd, self.size) if self.size > start else None

    def install_locked(self, rewrite: Rewrite) -> None:
        """Make `rewrite` the journal file (hold `lock` and `commit.lock`): fsync it, rename it
        over the journal, fsync the directory, and continue on its descriptor."""
        fdatasync(rewrite.fd)
        os.replace(self.tmp_path, self.path)
        os.close(self.fd)
        self.fd = rewrite.fd
        self.seed = rewrite.seed
        self.size = rewrite.pos
        self.commit.all_durable()
        fsync_dir(self.path)

    def discard(self, rewrite: Rewrite) -> None:
        """Drop a rewrite that was not installed."""
        os.close(rewrite.fd)
        try:
            os.unlink(self.tmp_path)
        except FileNotFoundError:
            pass

    def close_locked(self) -> None:
        """Flush (unless the policy is "never"), close, release the file lock (hold `lock` and
        `commit.lock`)."""
        try:
            if self.commit.policy != "never":
                self.commit.sync_locked(self.commit.ticket)
        finally:
            os.close(self.fd)
            self.fd = -1
            self._file_lock.release()
