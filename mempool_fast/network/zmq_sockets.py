"""The transport's sockets: the ZAP socket, the CURVE-server ROUTER, one CURVE-client DEALER a
peer and their monitors, opened with `ZmqSettings`' options and closed in order.
"""

from __future__ import annotations

from typing import Mapping, cast

import zmq

from .link_monitor import DEALER_EVENTS, ROUTER_EVENTS
from .zap import ZAP_DOMAIN, ZAP_ENDPOINT
from .zmq_settings import PeerAddress, ZmqSettings, is_ipv6_endpoint

__all__ = ["TransportSockets"]


class TransportSockets:
    """Every socket of one node's transport; made, used and closed by its I/O thread only.

    `open` binds the ZAP socket and the ROUTER (its bound endpoint is returned) and connects a
    DEALER to each peer, each with a socket monitor (`router_monitor`; `monitors` maps a
    DEALER's monitor to its peer's name). If any step fails, what was opened is closed and the
    error raised. `close` stops the monitors and closes everything (linger 0); the context's
    owner terminates it afterwards.
    """

    def __init__(self, ctx: zmq.SyncContext, settings: ZmqSettings, public: bytes,
                 secret: bytes) -> None:
        self._ctx, self._settings = ctx, settings
        self._public, self._secret = public, secret
        self.zap: zmq.SyncSocket | None = None
        self.router: zmq.SyncSocket | None = None
        self.router_monitor: zmq.SyncSocket | None = None
        self.dealers: dict[str, zmq.SyncSocket] = {}
        self.monitors: dict[zmq.SyncSocket, str] = {}

    def open(self, listen_address: str, max_message_size: int,
             peers: Mapping[str, PeerAddress]) -> str:
        """Open every socket (the ROUTER drops links sending over `max_message_size`); the
        endpoint the ROUTER is bound to."""
        sockets: list[zmq.SyncSocket] = []  # in order of creation, closed in reverse if a step fails
        try:
            zap = self._ctx.socket(zmq.ROUTER)
            sockets.append(zap)
            zap.linger = 0
            zap.bind(ZAP_ENDPOINT)
            router = self._ctx.socket(zmq.ROUTER)
            sockets.append(router)
            self._configure(router)
            router.curve_server = True
            router.curve_publickey = self._public
            router.curve_secretkey = self._secret
            router.zap_domain = ZAP_DOMAIN
            router.maxmsgsize = max_message_size
            if is_ipv6_endpoint(listen_address):
                router.ipv6 = True
            router_monitor = router.get_monitor_socket(ROUTER_EVENTS)
            sockets.append(router_monitor)
            router.bind(listen_address)
            bound = router.getsockopt_string(zmq.LAST_ENDPOINT)
            dealers: dict[str, zmq.SyncSocket] = {}
            monitors: dict[zmq.SyncSocket, str] = {}
            for name, peer in peers.items():
                dealer = self._ctx.socket(zmq.DEALER)
                sockets.append(dealer)
                self._configure(dealer)
                dealer.immediate = 1
                if is_ipv6_endpoint(peer.address):
                    dealer.ipv6 = True
                dealer.curve_serverkey = peer.curve_public_key
                dealer.curve_publickey = self._public
                dealer.curve_secretkey = self._secret
                monitor = dealer.get_monitor_socket(DEALER_EVENTS)
                sockets.append(monitor)
                monitors[monitor] = name
                dealer.connect(peer.address)
                dealers[name] = dealer
        except BaseException:
            for s in reversed(sockets):
                s.close(linger=0)
            raise
        self.zap, self.router, self.router_monitor = zap, router, router_monitor
        self.dealers, self.monitors = dealers, monitors
        return bound

    def close(self) -> None:
        """Stop the monitors, then close every socket `open` made."""
        if self.router is None:
            return
        for sock in [self.router, *self.dealers.values()]:
            sock.disable_monitor()
        # `open` sets zap, router and router_monitor together: none is None here
        opened = cast("list[zmq.SyncSocket]", [self.router_monitor, *self.monitors,
                                                *self.dealers.values(), self.router, self.zap])
        for sock in opened:
            sock.close(linger=0)
        self.zap = self.router = self.router_monitor = None
        self.dealers, self.monitors = {}, {}

    def _configure(self, sock: zmq.SyncSocket) -> None:
        s = self._settings
        sock.linger = 0
        sock.sndhwm = s.sndhwm
        sock.rcvhwm = s.rcvhwm
        sock.heartbeat_ivl = s.heartbeat_ivl_ms
        sock.heartbeat_timeout = s.heartbeat_timeout_ms
        sock.heartbeat_ttl = s.heartbeat_timeout_ms
        sock.reconnect_ivl = s.reconnect_ivl_ms
        sock.reconnect_ivl_max = s.reconnect_ivl_max_ms
