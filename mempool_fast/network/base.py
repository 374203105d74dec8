"""The network interface every transport implements (in-process, ZeroMQ).

A node's network handle sends opaque encoded messages (see `mempool_fast.shared.protocol`) to
peers and
yields a single ordered stream of events: NewPeer, LostPeer and Message. It is thread-safe:
`send` may be called from any thread; `recv` is called by one reader thread.
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass


class EventKind(enum.Enum):
    NEW_PEER = "new_peer"
    LOST_PEER = "lost_peer"
    MESSAGE = "message"


@dataclass(frozen=True, slots=True)
class NetworkEvent:
    """One event from the network: a peer came, went, or sent `data`."""

    kind: EventKind
    peer_id: str
    data: bytes = b""


class Network(abc.ABC):
    """A node's handle on the network."""

    #: This node's own peer id.
    peer_id: str

    @abc.abstractmethod
    def send(self, peer_id: str, data: bytes) -> bool:
        """Queue `data` for `peer_id`; False if it cannot be delivered (unknown or down peer,
        or the peer's queue stayed full for the transport's send timeout)."""

    @abc.abstractmethod
    def recv(self, timeout: float | None = None) -> NetworkEvent | None:
        """The next event, waiting at most `timeout` seconds (None: forever); None on timeout
        or once closed. Not reading is back-pressure: the transport's bounded queue fills and
        senders wait."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop delivering; a blocked `recv` returns None. Idempotent."""
