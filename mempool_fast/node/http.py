"""The node's HTTP port (/metrics, /healthz, /readyz) with a fixed worker pool, a bounded accept
queue and an idle timeout, replacing prometheus_client's thread-per-connection server.
"""

from __future__ import annotations

import http.server
import json
import logging
import queue
import socket
import socketserver
import threading
from collections.abc import Callable, Mapping
from http import HTTPStatus
from io import BufferedIOBase
from typing import Any, cast
from urllib.parse import urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

__all__ = ["LISTEN_BACKLOG", "THREAD_NAME_PREFIX", "NodeHttpServer"]

log = logging.getLogger(__name__)

#: Every thread a NodeHttpServer starts has a name beginning with this.
THREAD_NAME_PREFIX = "node-http"

#: The kernel's listen() queue: connections the kernel has completed but we have not accepted.
#: They hold no file descriptor of ours.
LISTEN_BACKLOG = 128

#: How often the accept loop checks for a shutdown request, in seconds.
_POLL_INTERVAL_S = 0.05

_JSON = "application/json"
_TEXT = "text/plain; charset=utf-8"
_ALLOWED_METHODS = "GET, HEAD"

#: What `health` and `readiness` are: () -> (ok, detail), detail a JSON-able dict.
HealthCheck = Callable[[], tuple[bool, Mapping[str, object]]]
#: A queued connection: the accepted socket and the client's address (a worker's queue also
#: carries None, its signal to stop).
_Queued = tuple[socket.socket, object]


class _TimeoutCountingReader:
    """Wraps a handler's rfile so that a read timing out is counted (the stdlib swallows it)."""

    def __init__(self, raw: BufferedIOBase, on_timeout: Callable[[], None]) -> None:
        self._raw = raw
        self._on_timeout = on_timeout

    def readline(self, *args: int | None) -> bytes:
        try:
            return self._raw.readline(*args)
        except TimeoutError:
            self._on_timeout()
            raise

    def read(self, *args: int | None) -> bytes:
        try:
            return self._raw.read(*args)
        except TimeoutError:
            self._on_timeout()
            raise

    def __getattr__(self, name: str) -> Any:  # whatever the wrapped file has
        return getattr(self._raw, name)


class _Handler(http.server.BaseHTTPRequestHandler):
    """One HTTP/1.0 request per connection, routed to the owning NodeHttpServer."""

    server_version = "mempool-fast-node"
    sys_version = ""
    protocol_version = "HTTP/1.0"

    @property
    def _owner(self) -> NodeHttpServer:
        # a _Handler is made only by NodeHttpServer._work, with the owner's _TCPServer
        return cast(_TCPServer, self.server).owner

    def setup(self) -> None:
        # StreamRequestHandler applies it to the socket; typeshed declares it a ClassVar, but
        # an instance's value is what setup() reads
        self.timeout = self._owner.idle_timeout_s  # type: ignore[misc]
        super().setup()
        # a duck-typed wrapper (read/readline, the rest delegated), not a BufferedIOBase
        self.rfile = _TimeoutCountingReader(  # type: ignore[assignment]
            self.rfile, self._owner._count_timeout)

    # -- methods --
    def do_GET(self) -> None:
        self._owner._count_request()
        route = urlsplit(self.path).path
        if route == "/metrics":
            self._metrics()
        elif route == "/healthz":
            self._check(self._owner._health)
        elif route == "/readyz":
            self._check(self._owner._readiness)
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", _TEXT)

    do_HEAD = do_GET

    def _method_not_allowed(self) -> None:
        self._owner._count_request()
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, b"method not allowed\n", _TEXT,
                   (("Allow", _ALLOWED_METHODS),))

    def __getattr__(self, name: str) -> Callable[[], None]:
        # handle_one_request looks up do_<METHOD>; every method but GET/HEAD gets a 405
        # (instead of the stdlib's 501 for methods it has no do_ for).
        if name.startswith("do_"):
            return self._method_not_allowed
        raise AttributeError(name)

    # -- routes --
    def _metrics(self) -> None:
        try:
            body = generate_latest(self._owner._registry)
        except Exception as exc:  # a broken collector must not kill the worker
            log.warning("node HTTP: collecting metrics failed", exc_info=True)
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(exc).__name__}: {exc}\n".encode(),
                       _TEXT)
            return
        self._send(HTTPStatus.OK, body, CONTENT_TYPE_LATEST)

    def _check(self, check: HealthCheck) -> None:
        try:
            ok, detail = check()
            payload: dict[str, object] = {"status": "ok" if ok else "unavailable"}
            payload.update((k, v) for k, v in dict(detail or {}).items() if k != "status")
            body = json.dumps(payload, default=str).encode()
            status = HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE
        except Exception as exc:
            log.warning("node HTTP: %s check raised", self.path, exc_info=True)
            body = json.dumps({"status": "error", "error": f"{type(exc).__name__}: {exc}"}).encode()
            status = HTTPStatus.SERVICE_UNAVAILABLE
        self._send(status, body, _JSON)

    def _send(self, status: HTTPStatus, body: bytes, content_type: str,
              headers: tuple[tuple[str, str], ...] = ()) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except TimeoutError:  # the client stopped reading
            self._owner._count_timeout()
            raise

    # -- logging: through `log` at DEBUG, never the stdlib's stderr access log --
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("node HTTP %s: %s", self.address_string(), format % args)


class _TCPServer(socketserver.TCPServer):
    """Accepts on one thread and hands connections to the owner's bounded queue."""

    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, owner: NodeHttpServer, address: tuple[str, int],
                 family: socket.AddressFamily) -> None:
        self.owner = owner
        self.address_family = family
        super().__init__(address, _Handler, bind_and_activate=False)

    def process_request(self, request: socket.socket | tuple[bytes, socket.socket],
                        client_address: object) -> None:
        # a TCPServer's requests are its accepted sockets (get_request)
        self.owner._enqueue(cast(socket.socket, request), client_address)

    def handle_error(self, request: socket.socket | tuple[bytes, socket.socket],
                     client_address: object) -> None:
        # instead of socketserver's traceback on stderr; called inside its except block
        log.exception("node HTTP: error accepting %s", client_address)


class NodeHttpServer:
    """The node's HTTP port: /metrics, /healthz, /readyz; other paths 404."""

    def __init__(self, address: str, port: int, registry: Collector, *, health: HealthCheck,
                 readiness: HealthCheck, threads: int = 4, backlog: int = 16,
                 idle_timeout_s: float = 5.0) -> None:
        """Configure, without binding; `start()` binds. `health`/`readiness` return (ok, detail)."""
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        if backlog < 1:
            raise ValueError(f"backlog must be at least 1, got {backlog}")
        if not idle_timeout_s > 0:
            raise ValueError(f"idle_timeout_s must be positive, got {idle_timeout_s}")
        self.address = address
        self.requested_port = port
        self.threads = threads
        self.backlog = backlog
        self.idle_timeout_s = idle_timeout_s
        self._registry = registry
        self._health = health
        self._readiness = readiness
        self._lock = threading.Lock()
        #: Requests routed (any status); connections closed because the queue was full;
        #: connections closed because a read or write timed out.
        self.requests = 0
        self.refused_busy = 0
        self.timeouts = 0
        self._server: _TCPServer | None = None
        self._queue: queue.Queue[_Queued | None] | None = None
        self._workers: list[threading.Thread] = []
        self._acceptor: threading.Thread | None = None
        self._active: set[socket.socket] = set()
        self._stopping = False  # under _lock: workers close what they take instead of serving it
        self._stopped = False
        self._bound_port: int | None = None

    # -- lifecycle --
    def start(self) -> None:
        """Bind and listen, then serve in background threads.

        Raises OSError naming the address if it cannot bind (e.g. the port is taken); nothing
        is left open then, and start() may be retried. A server that started cannot restart.
        """
        if self._server is not None:
            raise RuntimeError("NodeHttpServer.start() may be called only once")
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        server = _TCPServer(self, (self.address, self.requested_port), family)
        try:
            server.server_bind()
            server.server_activate()
        except OSError as exc:
            server.server_close()
            raise OSError(exc.errno, f"node HTTP server cannot listen on "
                                     f"{self.address}:{self.requested_port}: {exc.strerror or exc}"
                                     f" (is the port already in use?)") from exc
        self._server = server
        self._bound_port = server.server_address[1]
        self._queue = queue.Queue(maxsize=self.backlog)
        name = f"{THREAD_NAME_PREFIX}-{self._bound_port}"
        self._workers = [threading.Thread(target=self._work, name=f"{name}-worker-{i}", daemon=True)
                         for i in range(self.threads)]
        self._acceptor = threading.Thread(target=server.serve_forever, args=(_POLL_INTERVAL_S,),
                                          name=f"{name}-accept", daemon=True)
        for thread in self._workers:
            thread.start()
        self._acceptor.start()
        log.info("node HTTP server listening on %s:%d", self.address, self._bound_port)

    def stop(self) -> None:
        """Stop accepting, close queued and in-flight connections, join every thread, close the
        listening socket. Idempotent; a no-op if never started."""
        if self._server is None or self._stopped:
            return
        self._stopped = True
        self._server.shutdown()  # the accept loop has returned: nothing is enqueued after this
        cast(threading.Thread, self._acceptor).join()  # started with the server
        with self._lock:
            self._stopping = True
            for sock in self._active:  # wake workers blocked on a read; they close the socket
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        work_queue = cast("queue.Queue[_Queued | None]", self._queue)  # made with the server
        for _ in self._workers:
            work_queue.put(None)  # workers first drain (and close) what is queued before these
        for thread in self._workers:
            thread.join()
        self._server.server_close()
        log.info("node HTTP server on port %d stopped", self._bound_port)

    def alive(self) -> bool:
        """Whether the accept thread and every worker still run (False once stopped)."""
        return (self._acceptor is not None and self._acceptor.is_alive()
                and all(t.is_alive() for t in self._workers))

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with port=0); kept after stop()."""
        if self._bound_port is None:
            raise RuntimeError("NodeHttpServer is not started")
        return self._bound_port

    @property
    def open_connections(self) -> int:
        """Accepted connections this server holds now: queued plus being handled."""
        with self._lock:
            active = len(self._active)
        return active + (self._queue.qsize() if self._queue is not None else 0)

    # -- internals --
    def _enqueue(self, request: socket.socket, client_address: object) -> None:
        """On the accept thread: queue the connection for a worker, or close it when full."""
        try:
            # accepting starts after start() made the queue
            cast("queue.Queue[_Queued | None]", self._queue).put_nowait((request, client_address))
        except queue.Full:
            with self._lock:
                self.refused_busy += 1
            log.debug("node HTTP: busy, closing connection from %s", client_address)
            request.close()

    def _work(self) -> None:
        """A worker thread: handle queued connections one at a time until it gets None."""
        while True:
            # workers start after start() made the queue and the server
            item = cast("queue.Queue[_Queued | None]", self._queue).get()
            if item is None:
                return
            request, client_address = item
            with self._lock:
                skip = self._stopping
                if not skip:
                    self._active.add(request)
            try:
                if not skip:
                    _Handler(request, client_address, cast(_TCPServer, self._server))
            except OSError:  # the client went away mid-request
                log.debug("node HTTP: connection from %s failed", client_address, exc_info=True)
            except Exception:
                log.exception("node HTTP: handler failed for %s", client_address)
            finally:
                with self._lock:
                    self._active.discard(request)
                _close(request)

    def _count_request(self) -> None:
        with self._lock:
            self.requests += 1

    def _count_timeout(self) -> None:
        with self._lock:
            self.timeouts += 1


def _close(sock: socket.socket) -> None:
    """Half-close for writing (flushes our response), then close; errors ignored."""
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    sock.close()
