"""The ZeroMQ transport's configuration: `ZmqSettings` (its tunables) and `PeerAddress` (where
a validator listens, and its curve key), each checked where it is made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import zmq.utils.z85

from ..config import check_settings, setting
from ..errors import ConfigError
from .curve_keys import CURVE_KEY_BYTES

__all__ = ["ZmqSettings", "PeerAddress", "is_ipv6_endpoint"]

_MAX_MS = 10 ** 9            # about 11.6 days: past it an interval is a typo
_MAX_HEARTBEAT_MS = 6_553_500  # ZMQ_HEARTBEAT_TTL (set to the timeout) is 16-bit deciseconds
_MAX_INT = (1 << 31) - 1     # ZeroMQ int socket options
_MAX_QUEUE = 1 << 30         # messages in one transport queue
_MAX_SIZE_FACTOR = 1 << 10
_MAX_S = 86_400              # one day: the longest wait or log interval
_MAX_POLL_MS = 60_000
_TCP_ENDPOINT = re.compile(r"tcp://(\[[^\[\]\s/]+\]|[A-Za-z0-9_.-]+):(\d{1,5})")
_MAX_PORT = 65_535
_IPC_PATH_MAX = 107          # sockaddr_un.sun_path, less its terminating NUL


def _config_error(message: str, field: str) -> ConfigError:
    error = ConfigError(message)
    error.field = field
    return error


def is_ipv6_endpoint(address: str) -> bool:
    """A tcp:// endpoint whose host is a bracketed IPv6 literal (needs ZMQ_IPV6 on the socket)."""
    return address.startswith("tcp://[")


@dataclass(frozen=True)
class PeerAddress:
    """Where a validator listens and the z85 curve public key it must prove.

    `address` is a ZeroMQ endpoint a DEALER can connect to: ``tcp://HOST:PORT`` (HOST a name,
    an IPv4 address or a bracketed IPv6 address; PORT 1..65535) or ``ipc://PATH``;
    `curve_public_key` is 40 z85 characters (bytes) that decode to a 32-byte key. Anything else
    raises ConfigError (`.field` names the bad field) where the PeerAddress is made.
    """

    address: str
    curve_public_key: bytes

    def __post_init__(self) -> None:
        address = self.address
        if not isinstance(address, str):
            raise _config_error(f"PeerAddress.address must be a str, got {address!r}", "address")
        if address.startswith("ipc://"):
            path = address[len("ipc://"):]
            if not path or "\0" in path or len(path.encode(errors="surrogateescape")) > \
                    _IPC_PATH_MAX:
                raise _config_error(
                    f"PeerAddress.address {address!r} is not a usable ipc:// endpoint (the path "
                    f"must be 1..{_IPC_PATH_MAX} bytes)", "address")
        else:
            match = _TCP_ENDPOINT.fullmatch(address)
            if match is None or not 1 <= int(match.group(2)) <= _MAX_PORT:
                raise _config_error(
                    f"PeerAddress.address {address!r} is not a ZeroMQ endpoint this transport "
                    "can connect to (tcp://HOST:PORT with PORT 1..65535, or ipc://PATH)",
                    "address")
        key = self.curve_public_key
        try:
            ok = isinstance(key, bytes) and len(zmq.utils.z85.decode(key)) == CURVE_KEY_BYTES
        except Exception:  # noqa: BLE001 - z85 raises KeyError/ValueError/struct.error
            ok = False
        if not ok:
            raise _config_error(
                f"PeerAddress.curve_public_key must be a z85-encoded 32-byte key (40 bytes), "
                f"got {key!r}", "curve_public_key")


@dataclass(frozen=True)
class ZmqSettings:
    """Transport tunables that are ZeroMQ-specific (the mempool-wide ones are MempoolConfig's).

    Every field is checked where the settings are made (kind and range, see `setting`, plus
    heartbeat_timeout_ms > heartbeat_ivl_ms and reconnect_ivl_max_ms >= reconnect_ivl_ms);
    a bad value raises ConfigError naming the field (`.field`).
    """

    #: Heartbeat ping interval; a link silent for `heartbeat_timeout_ms` is dropped.
    heartbeat_ivl_ms: int = setting(1_000, lo=1, hi=_MAX_HEARTBEAT_MS)
    heartbeat_timeout_ms: int = setting(3_000, lo=1, hi=_MAX_HEARTBEAT_MS)
    #: Reconnect interval (first try) and its exponential back-off cap.
    reconnect_ivl_ms: int = setting(100, lo=1, hi=_MAX_MS)
    reconnect_ivl_max_ms: int = setting(2_000, lo=1, hi=_MAX_MS)
    #: ZeroMQ high-water marks (messages) on each socket.
    sndhwm: int = setting(1_000, lo=1, hi=_MAX_INT)
    rcvhwm: int = setting(1_000, lo=1, hi=_MAX_INT)
    #: Inbound events buffered for `recv`; when full the ROUTER is no longer read.
    inbound_queue_size: int = setting(1_000, lo=1, hi=_MAX_QUEUE)
    #: Outbound messages queued per peer in the transport before `send` waits.
    outbound_queue_size: int = setting(1_000, lo=1, hi=_MAX_QUEUE)
    #: How long `send` waits for room in a full per-peer queue before returning False
    #: (0: never wait).
    send_timeout_s: float = setting(0.5, lo=0, hi=_MAX_S, kind=float)
    #: ZeroMQ MAXMSGSIZE = this factor x max_message_bytes: a message between the two limits is
    #: dropped and counted by the transport; a larger one makes ZeroMQ drop the link.
    hard_size_factor: int = setting(2, lo=1, hi=_MAX_SIZE_FACTOR)
    #: Longest single poll, so a stop request is seen even if the wake-up is lost.
    poll_ms: int = setting(1_000, lo=1, hi=_MAX_POLL_MS)
    #: At most one WARNING per remote address per this many seconds for refused handshakes
    #: (the next one says how many were suppressed); 0 logs every refusal. The counters count
    #: every refusal regardless.
    refused_log_interval_s: float = setting(10.0, lo=0, hi=_MAX_S, kind=float)

    def __post_init__(self) -> None:
        check_settings(self)
        if self.heartbeat_timeout_ms <= self.heartbeat_ivl_ms:
            raise _config_error(
                f"ZmqSettings.heartbeat_timeout_ms must be more than heartbeat_ivl_ms "
                f"({self.heartbeat_ivl_ms}), got {self.heartbeat_timeout_ms!r}",
                "heartbeat_timeout_ms")
        if self.reconnect_ivl_max_ms < self.reconnect_ivl_ms:
            raise _config_error(
                f"ZmqSettings.reconnect_ivl_max_ms must be at least reconnect_ivl_ms "
                f"({self.reconnect_ivl_ms}), got {self.reconnect_ivl_max_ms!r}",
                "reconnect_ivl_max_ms")
