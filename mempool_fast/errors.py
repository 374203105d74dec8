"""Every exception mempool_fast raises on purpose, under one base class.

``MempoolFastError`` catches them all. Errors about bad input data are also ``ValueError``
(decoding, configuration), so code written against the standard exceptions keeps working.
"""

from __future__ import annotations

__all__ = [
    "MempoolFastError", "MalformedTransaction", "MalformedMessage", "ConfigError", "StartupError",
    "JournalError", "JournalClosed", "JournalCorrupt", "FileLocked", "RpcError",
    "RemoteError", "MalformedResponse", "RpcTimeout",
]


class MempoolFastError(Exception):
    """Base class of every mempool_fast error."""


class MalformedTransaction(MempoolFastError, ValueError):
    """Bytes that do not decode to a transaction (short, long, or a lying length)."""


class MalformedMessage(MempoolFastError, ValueError):
    """Bytes that do not decode to a network message."""


class ConfigError(MempoolFastError, ValueError):
    """A configuration, key file or data directory that cannot be used; says which and why."""

    #: The name of the bad field, when one field is to blame (set by the config checks).
    field: str | None = None


class StartupError(MempoolFastError):
    """A node could not start (an address in use, a data file it cannot open); says which."""


class JournalError(MempoolFastError):
    """The journal file cannot be used."""


class JournalClosed(JournalError):
    """An operation on a closed journal."""


class JournalCorrupt(JournalError):
    """The journal file is damaged beyond a torn tail, or is not a journal; it is left as it
    is (``mempool-fast journal salvage`` keeps every record whose checksum holds)."""


class FileLocked(MempoolFastError):
    """Another process holds a data file (two nodes cannot share one data directory)."""


class RpcError(MempoolFastError):
    """A client-endpoint call failed: the node answered with an error, or sent bad bytes."""


class RemoteError(RpcError):
    """The node understood the request and answered with an error (its message)."""


class MalformedResponse(RpcError, MalformedMessage):
    """A request or response frame that does not decode."""


class RpcTimeout(RpcError, TimeoutError):
    """The node did not answer in time."""
