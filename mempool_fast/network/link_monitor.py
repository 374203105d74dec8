"""The transport's socket monitors: link events turned into NEW_PEER / LOST_PEER and counters.

Owns the event masks the monitor sockets subscribe to and what each event means: a DEALER's
handshake / disconnect is its peer coming up / going down; every ROUTER event is counted by
kind, so inbound links that never reach the ZAP handler still show in ``stats()``.
"""

from __future__ import annotations

import functools
import logging
import operator
from typing import Callable

import zmq
from zmq.utils.monitor import parse_monitor_message

from .base import EventKind, NetworkEvent

__all__ = ["LinkMonitor", "DEALER_EVENTS", "ROUTER_EVENTS", "ROUTER_COUNTERS"]

#: The transport's one logger (zmq.py's): operators and tests filter the transport on it.
log = logging.getLogger("mempool_fast.network.zmq")

_HANDSHAKE_FAILED = (zmq.EVENT_HANDSHAKE_FAILED_AUTH, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
                     zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
#: What a DEALER's (outbound link's) monitor reports.
DEALER_EVENTS = (zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED
                 | zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                 | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_MONITOR_STOPPED)
#: ROUTER (inbound) monitor events -> the counter each one increments (see `LinkMonitor`).
ROUTER_COUNTERS: dict[int, str] = {
    zmq.EVENT_ACCEPTED: "inbound_accepted",
    zmq.EVENT_ACCEPT_FAILED: "inbound_accept_failed",
    zmq.EVENT_HANDSHAKE_SUCCEEDED: "inbound_handshake_succeeded",
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "inbound_handshake_failed_protocol",
    zmq.EVENT_HANDSHAKE_FAILED_AUTH: "inbound_handshake_failed_auth",
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "inbound_handshake_failed_no_detail",
    zmq.EVENT_DISCONNECTED: "inbound_disconnected",
}
#: What the ROUTER's monitor reports.
ROUTER_EVENTS = functools.reduce(operator.or_, ROUTER_COUNTERS, zmq.EVENT_MONITOR_STOPPED)


class LinkMonitor:
    """Reads the monitor sockets for the I/O thread (no state of its own, no lock).

    Outbound links (a DEALER's monitor, `on_dealer_events`): handshake succeeded -> `link_up`
    (True if the peer was down: INFO "peer up" and a NEW_PEER event through `push`);
    disconnected -> `link_down` (True if it was up: INFO "peer down" and LOST_PEER); a failed
    handshake counts ``handshake_failed``.

    Inbound links (the ROUTER's monitor, `on_router_events`; one link can bump several
    counters):

    - ``inbound_accepted``: a TCP/IPC connection was accepted (every kind below starts so);
    - ``inbound_accept_failed``: accept() itself failed (e.g. out of file descriptors);
    - ``inbound_handshake_succeeded``: a validator's CURVE handshake completed;
    - ``inbound_handshake_failed_protocol``: the peer spoke ZMTP but not our CURVE handshake, e.g.
      a NULL/PLAIN client (mechanism mismatch) or a CURVE client with the wrong server key;
    - ``inbound_handshake_failed_auth``: CURVE handshake refused by the ZAP handler (the same
      refusals as ``auth_rejected``);
    - ``inbound_handshake_failed_no_detail``: the connection ended mid-handshake for another
      reason, e.g. a TCP client that connects and closes, or a handshake timeout;
    - ``inbound_disconnected``: an accepted link closed, whatever the cause: after each failed
      handshake above, raw TCP bytes that are not a ZMTP greeting (no handshake event at all:
      only accepted + disconnected), a validator's frame over ``maxmsgsize`` (ZeroMQ drops its
      established link; its DEALER then reconnects), a heartbeat timeout, a peer leaving.
    """

    def __init__(self, peer_id: str, count: Callable[[str], None],
                 link_up: Callable[[str], bool], link_down: Callable[[str], bool],
                 push: Callable[[NetworkEvent], None]) -> None:
        self._peer_id = peer_id
        self._count = count
        self._link_up, self._link_down = link_up, link_down
        self._push = push

    def on_router_events(self, mon: zmq.SyncSocket) -> None:
        """Count every pending inbound link event by kind (see the class docstring)."""
        while True:
            try:
                message = parse_monitor_message(mon.recv_multipart(zmq.NOBLOCK))
            except zmq.Again:
                return
            event = message["event"]
            name = ROUTER_COUNTERS.get(event)
            if name is None:
                continue  # EVENT_MONITOR_STOPPED
            self._count(name)
            if event in (zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, zmq.EVENT_ACCEPT_FAILED):
                log.debug("%s: %s (ZeroMQ code %#x)", self._peer_id, name, message["value"])

    def on_dealer_events(self, mon: zmq.SyncSocket, name: str) -> None:
        """Handle every pending event of the link to peer `name` (see the class docstring)."""
        while True:
            try:
                event = parse_monitor_message(mon.recv_multipart(zmq.NOBLOCK))["event"]
            except zmq.Again:
                return
            if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                if self._link_up(name):
                    log.info("%s: peer %s up", self._peer_id, name)
                    self._push(NetworkEvent(EventKind.NEW_PEER, name))
            elif event == zmq.EVENT_DISCONNECTED:
                if self._link_down(name):
                    log.info("%s: peer %s down", self._peer_id, name)
                    self._push(NetworkEvent(EventKind.LOST_PEER, name))
            elif event in _HANDSHAKE_FAILED:
                self._count("handshake_failed")
