"""The transport's ZAP handler (RFC 27): which CURVE clients the ROUTER admits.

Owns the allow-list (the configured validators' curve keys, each naming its peer in the ZAP
User-Id) and the rate-limited WARNING for refused handshakes. It serves the ZAP socket the
I/O thread opens on `ZAP_ENDPOINT`; the ROUTER asks it by setting `ZAP_DOMAIN`.
"""

from __future__ import annotations

import logging
from typing import Callable, Mapping, cast

import zmq
import zmq.utils.z85

from .zmq_settings import PeerAddress

__all__ = ["ZapHandler", "ZAP_ENDPOINT", "ZAP_DOMAIN"]

#: The transport's one logger (zmq.py's): operators and tests filter the transport on it.
log = logging.getLogger("mempool_fast.network.zmq")

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
ZAP_DOMAIN = b"mempool_fast"
#: A ZAP request's fixed frames: version, request id, domain, address, identity, mechanism;
#: the credentials (for CURVE: the client's raw public key) follow.
_ZAP_REQUEST_FRAMES = 6
_ZAP_OK = b"200"
_ZAP_DENIED = b"400"
#: Distinct addresses whose refusals are rate-limited separately; past it, one shared entry.
_MAX_REFUSAL_ADDRESSES = 1024
_OTHER_ADDRESSES = "other addresses"


class _RefusalLog:
    """Rate limit of the refused-handshake WARNING: per address, at most one per `interval`.

    `refused(address, now)` returns how many refusals from `address` went unlogged since its
    last warning when one is due now, else None (and counts this one as suppressed).
    `sweep(now)` returns (address, suppressed) for every address whose interval ran out with
    refusals still unreported (each such report counts as that address's warning), and forgets
    the addresses quiet for a whole interval. Past `limit` addresses, new ones share one entry.
    """

    __slots__ = ("entries", "interval", "limit", "next_sweep")

    def __init__(self, interval: float, limit: int = _MAX_REFUSAL_ADDRESSES) -> None:
        self.interval, self.limit = interval, limit
        #: address -> [time of last warning, suppressed (an int)]
        self.entries: dict[str, list[float]] = {}
        self.next_sweep = float("inf")

    def refused(self, address: str, now: float) -> int | None:
        if address not in self.entries and len(self.entries) >= self.limit:
            address = _OTHER_ADDRESSES
        entry = self.entries.get(address)
        if entry is not None and now - entry[0] < self.interval:
            entry[1] += 1
            return None
        suppressed = cast(int, entry[1]) if entry is not None else 0
        self.entries[address] = [now, 0]
        self.next_sweep = min(self.next_sweep, now + self.interval)
        return suppressed

    def sweep(self, now: float) -> list[tuple[str, int]]:
        if now < self.next_sweep:
            return []
        due: list[tuple[str, int]] = []
        for address, entry in list(self.entries.items()):
            if now - entry[0] < self.interval:
                continue
            if entry[1]:
                due.append((address, cast(int, entry[1])))
                entry[0], entry[1] = now, 0
            else:
                del self.entries[address]
        self.next_sweep = min((e[0] + self.interval for e in self.entries.values()),
                              default=float("inf"))
        return due


class ZapHandler:
    """Admits a CURVE client only if its key is one of `peers`' and names it by that peer.

    Used by the I/O thread only (no lock). Each decision bumps ``auth_accepted`` or
    ``auth_rejected`` through `count`; a refusal logs a WARNING at most once per remote address
    per `refused_log_interval_s` (on `clock`; 0: every refusal), and `report_suppressed`, called
    on every turn of the I/O loop, logs how many were held back once an address's interval ran
    out.
    """

    def __init__(self, peer_id: str, peers: Mapping[str, PeerAddress],
                 refused_log_interval_s: float, clock: Callable[[], float],
                 count: Callable[[str], None]) -> None:
        self._peer_id = peer_id
        self._interval = refused_log_interval_s
        self._clock = clock
        self._count = count
        #: authorised curve key (raw 32 bytes) -> peer name: the ZAP allow-list.
        self._allowed = {zmq.utils.z85.decode(p.curve_public_key): name
                         for name, p in peers.items()}
        self._refusals = _RefusalLog(refused_log_interval_s)

    def serve(self, zap: zmq.SyncSocket) -> None:
        """Answer every pending ZAP request on `zap` (RFC 27) without blocking."""
        while True:
            try:
                frames = zap.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                sep = frames.index(b"")
            except ValueError:
                continue
            envelope, request = frames[:sep + 1], frames[sep + 1:]
            if len(request) < _ZAP_REQUEST_FRAMES:
                continue
            version, request_id, _domain, address, _identity, mechanism = \
                request[:_ZAP_REQUEST_FRAMES]
            key = request[_ZAP_REQUEST_FRAMES] if len(request) > _ZAP_REQUEST_FRAMES else b""
            name = self._allowed.get(key) if mechanism == b"CURVE" else None
            if name is None:
                self._count("auth_rejected")
                self._log_refusal(address.decode(errors="replace") or "(unknown address)",
                                  mechanism.decode(errors="replace"))
                reply = [version, request_id, _ZAP_DENIED, b"not a validator", b"", b""]
            else:
                self._count("auth_accepted")
                reply = [version, request_id, _ZAP_OK, b"OK", name.encode(), b""]
            zap.send_multipart(envelope + reply)

    def report_suppressed(self) -> None:
        """Log the refusals held back from addresses whose interval has run out."""
        for address, suppressed in self._refusals.sweep(self._clock()):
            log.warning("%s: rejected %d more %s from %s (key not in the validator set) since "
                        "the last warning", self._peer_id, suppressed,
                        "connection" if suppressed == 1 else "connections", address)

    def _log_refusal(self, address: str, mechanism: str) -> None:
        suppressed = self._refusals.refused(address, self._clock())
        if suppressed is None:
            return
        interval = self._interval
        log.warning("%s: rejected %s connection from %s (key not in the validator set)%s",
                    self._peer_id, mechanism, address,
                    f"; {suppressed} more rejected from this address since the last warning"
                    if suppressed else
                    f"; further rejections from this address are logged at most every "
                    f"{interval:g}s" if interval > 0 else "")
