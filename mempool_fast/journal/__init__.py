"""Durable journal of locally submitted transactions, replayed after a restart.

`TransactionJournal` (journal.py) is the file and its index; format.py the bytes on disk;
compaction.py the rewrite; recovery.py the restart policy (what to resubmit, forget or hold);
salvage.py the way back from a file the node refused to open.
"""

from ..config import FSYNC_POLICIES
from ..errors import JournalClosed, JournalCorrupt, JournalError
from .format import (
    FILE_MAGIC, FILE_MAGIC_V1, HEADER_LEN, KIND_ADD, KIND_FORGET, KIND_FORMAT, KIND_KEYED_ADD,
    RECORD_MAGIC, REC_HEADER_LEN, JournalFormatMismatch,
)
from .format import frame as _frame, salt_seed as _salt_seed  # noqa: F401  (for tests)
from .journal import JournalStats, TransactionJournal
from .recovery import RecoveryReport, ReplayPartition, partition_replayed, recover
from .salvage import SalvageReport, salvage

__all__ = [
    "TransactionJournal", "JournalError", "JournalClosed", "JournalCorrupt", "JournalStats",
    "FSYNC_POLICIES", "ReplayPartition", "RecoveryReport", "partition_replayed", "recover",
    "SalvageReport", "salvage", "FILE_MAGIC", "FILE_MAGIC_V1", "HEADER_LEN", "KIND_ADD",
    "KIND_FORGET", "KIND_FORMAT", "KIND_KEYED_ADD", "JournalFormatMismatch", "RECORD_MAGIC",
    "REC_HEADER_LEN",
]
