"""NodeHttpServer: routes, health/readiness callables, bounded threads and sockets, idle timeout, stop."""

from __future__ import annotations

import http.client
import json
import logging
import select
import socket
import threading
import time

import pytest
from conftest import wait_until
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter

from mempool_fast.node.http import LISTEN_BACKLOG, THREAD_NAME_PREFIX, NodeHttpServer

HOST = "127.0.0.1"
IDLE_S = 0.5  # the idle timeout of the tests that wait for it
IDLE_BATCH = 50  # idle connections opened at once: well under LISTEN_BACKLOG


def ok_check():
    return True, {"detail": "fine"}


@pytest.fixture
def registry():
    reg = CollectorRegistry()
    counter = Counter("node_http_test_events", "A metric only this test registers", registry=reg)
    counter.inc(3)
    return reg


@pytest.fixture
def make_server(registry):
    """make_server(**overrides) -> a started NodeHttpServer on an ephemeral port, stopped at teardown."""
    servers = []

    def make(**kw):
        kw.setdefault("health", ok_check)
        kw.setdefault("readiness", ok_check)
        server = NodeHttpServer(HOST, kw.pop("port", 0), kw.pop("registry", registry), **kw)
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        server.stop()


def request(port, path, method="GET", timeout=5.0):
    """One HTTP request -> (status, headers, body)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def server_threads(port=None):
    prefix = THREAD_NAME_PREFIX if port is None else f"{THREAD_NAME_PREFIX}-{port}-"
    return [t for t in threading.enumerate() if t.name.startswith(prefix)]


def closed_by_peer(sock) -> bool:
    """True if the server has closed this (non-blocking) client socket: EOF or a reset."""
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


# -- routes --

def test_metrics_route_serves_the_registry(make_server):
    server = make_server()
    status, headers, body = request(server.port, "/metrics")
    assert status == 200
    assert headers["Content-Type"] == CONTENT_TYPE_LATEST
    assert b"node_http_test_events_total 3.0" in body
    # query strings are ignored for routing
    status, _, body2 = request(server.port, "/metrics?name[]=x")
    assert status == 200 and b"node_http_test_events_total" in body2


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/healthz?verbose=1"])
def test_health_routes_answer_json(make_server, path):
    server = make_server()
    status, headers, body = request(server.port, path)
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"status": "ok", "detail": "fine"}


@pytest.mark.parametrize("path", ["/", "/metrics/", "/favicon.ico", "/healthzz"])
def test_unknown_path_is_404(make_server, path):
    server = make_server()
    status, headers, _ = request(server.port, path)
    assert status == 404
    assert headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "BREW"])
def test_methods_other_than_get_and_head_are_405(make_server, method):
    server = make_server()
    status, headers, _ = request(server.port, "/metrics", method=method)
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"


def test_head_sends_headers_without_body(make_server):
    server = make_server()
    _, _, full = request(server.port, "/metrics")
    status, headers, body = request(server.port, "/metrics", method="HEAD")
    assert status == 200 and body == b""
    assert headers["Content-Type"] == CONTENT_TYPE_LATEST
    assert int(headers["Content-Length"]) == len(full)


def test_requests_are_counted_and_logged_at_debug_not_to_stderr(make_server, caplog, capfd):
    server = make_server()
    with caplog.at_level(logging.DEBUG, logger="mempool_fast.node.http"):
        for path in ("/metrics", "/healthz", "/nope"):
            request(server.port, path)
        request(server.port, "/metrics", method="POST")
    assert server.requests == 4
    assert server.refused_busy == 0 and server.timeouts == 0
    lines = [r.getMessage() for r in caplog.records
             if r.name == "mempool_fast.node.http" and r.levelno == logging.DEBUG]
    assert any('"GET /healthz HTTP/1.1" 200' in line for line in lines)
    assert any('"POST /metrics HTTP/1.1" 405' in line for line in lines)
    assert "GET /healthz" not in capfd.readouterr().err


# -- health and readiness follow their callables --

@pytest.mark.parametrize("path, which", [("/healthz", "health"), ("/readyz", "readiness")])
def test_checks_follow_the_callables(make_server, path, which):
    state = {"mode": "ok"}

    def check():
        if state["mode"] == "raise":
            raise RuntimeError("storage unreachable")
        return state["mode"] == "ok", {"peers": 2}

    other = "readiness" if which == "health" else "health"
    server = make_server(**{which: check, other: ok_check})

    status, _, body = request(server.port, path)
    assert status == 200 and json.loads(body) == {"status": "ok", "peers": 2}

    state["mode"] = "fail"
    status, headers, body = request(server.port, path)
    assert status == 503 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"status": "unavailable", "peers": 2}

    state["mode"] = "raise"
    status, headers, body = request(server.port, path)
    assert status == 503 and headers["Content-Type"] == "application/json"
    payload = json.loads(body)
    assert payload["status"] == "error" and "storage unreachable" in payload["error"]

    # the worker survived the exception: the server still answers, and the other route is unaffected
    state["mode"] = "ok"
    assert request(server.port, path)[0] == 200
    other_path = "/readyz" if path == "/healthz" else "/healthz"
    assert request(server.port, other_path)[0] == 200


def test_bad_return_value_is_503_not_a_crash(make_server):
    server = make_server(health=lambda: None)
    status, _, body = request(server.port, "/healthz")
    assert status == 503 and json.loads(body)["status"] == "error"
    assert request(server.port, "/readyz")[0] == 200


# -- bounded resources and idle timeout --

def test_idle_connections_are_bounded_and_do_not_block_a_real_request(make_server):
    threads, backlog, n_idle = 4, 8, 300
    assert IDLE_BATCH < LISTEN_BACKLOG
    baseline = threading.active_count()
    server = make_server(threads=threads, backlog=backlog, idle_timeout_s=IDLE_S)
    idle = []
    peak_threads = peak_open = 0

    def sample():
        nonlocal peak_threads, peak_open
        peak_threads = max(peak_threads, threading.active_count())
        peak_open = max(peak_open, server.open_connections)

    def accounted():  # idle connections the server has accepted: refused, timed out, or held
        sample()
        return server.refused_busy + server.timeouts + server.open_connections

    try:
        # Non-blocking connects, in batches smaller than the listen backlog, each accepted before
        # the next: a burst that overflowed the kernel's accept queue would leave sockets in SYN
        # retransmission (1 s, 3 s, 7 s...) that the server never saw, which tests the kernel.
        for _ in range(0, n_idle, IDLE_BATCH):
            for _ in range(IDLE_BATCH):
                sock = socket.socket()
                sock.setblocking(False)
                sock.connect_ex((HOST, server.port))
                idle.append(sock)
                sample()
            assert wait_until(lambda: accounted() >= len(idle), timeout=5.0)

        answer = {}

        def answered():
            sample()
            try:
                answer["status"] = request(server.port, "/healthz", timeout=5.0)[0]
                return True
            except (OSError, http.client.HTTPException):  # refused while the queue was full
                return False

        started = time.monotonic()
        assert wait_until(answered, timeout=8.0, interval=0.01)
        assert answer["status"] == 200
        assert time.monotonic() - started < 8.0

        # every idle socket is closed by the server: refused at once, or after the idle timeout
        remaining = list(idle)

        def all_closed():
            sample()
            readable, _, _ = select.select(remaining, [], [], 0.05) if remaining else ([], [], [])
            for sock in readable:
                if closed_by_peer(sock):
                    remaining.remove(sock)
            return not remaining

        assert wait_until(all_closed, timeout=8.0, interval=0.0), f"{len(remaining)} still open"
    finally:
        for sock in idle:
            sock.close()

    assert peak_threads <= baseline + threads + 1  # the workers and the accept thread, no more
    assert peak_open <= threads + backlog
    assert server.refused_busy > 0
    assert server.timeouts > 0
    assert server.refused_busy + server.timeouts >= n_idle  # each idle one refused or timed out
    assert server.requests >= 1


def test_partial_request_times_out(make_server):
    server = make_server(idle_timeout_s=IDLE_S)
    with socket.create_connection((HOST, server.port), timeout=5.0) as sock:
        sock.sendall(b"GET /metrics HTTP/1.0\r\nHost: x\r\n")  # headers never finished
        started = time.monotonic()
        assert sock.recv(1024) == b""  # closed by the server, with no response
        elapsed = time.monotonic() - started
    assert IDLE_S * 0.5 <= elapsed < IDLE_S + 2.0
    assert wait_until(lambda: server.timeouts == 1, timeout=2.0)
    assert server.requests == 0


# -- stop and bind --

def test_stop_is_idempotent_joins_threads_and_frees_the_port(make_server, registry):
    server = make_server(threads=3, idle_timeout_s=30.0)
    port = server.port
    assert len(server_threads(port)) == 3 + 1
    assert request(port, "/healthz")[0] == 200
    with socket.create_connection((HOST, port)) as idle:  # an in-flight idle connection...
        assert wait_until(lambda: server.open_connections == 1, timeout=2.0)
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 2.0  # ...does not hold stop() for the idle timeout
        idle.settimeout(2.0)
        try:
            assert idle.recv(1) == b""  # closed by the server...
        except ConnectionResetError:
            pass  # ...or reset, when the close races the kernel's handling of the shutdown
    server.stop()
    assert server_threads(port) == []
    assert server.port == port  # still reported after stop

    again = make_server(port=port)
    assert again.port == port
    assert request(port, "/healthz")[0] == 200
    again.stop()
    again.stop()
    assert server_threads() == []


def test_stop_before_start_is_a_no_op(registry):
    server = NodeHttpServer(HOST, 0, registry, health=ok_check, readiness=ok_check)
    server.stop()
    with pytest.raises(RuntimeError):
        _ = server.port


def test_binding_a_port_in_use_raises_oserror(make_server, registry):
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = NodeHttpServer(HOST, port, registry, health=ok_check, readiness=ok_check)
        with pytest.raises(OSError, match=f"cannot listen on {HOST}:{port}"):
            server.start()
        assert server_threads(port) == []
        server.stop()  # harmless after a failed start

    running = make_server()
    with pytest.raises(OSError, match="already in use"):
        make_server(port=running.port)
    assert request(running.port, "/healthz")[0] == 200


def test_invalid_arguments(registry):
    for kw in ({"threads": 0}, {"backlog": 0}, {"idle_timeout_s": 0}):
        with pytest.raises(ValueError):
            NodeHttpServer(HOST, 0, registry, health=ok_check, readiness=ok_check, **kw)


# -- a real node's HTTP port: distinct routes, readiness, build and process metrics --

NODE_MEMPOOL = {"shared_mempool_tick_interval_ms": 20}
NODE_TRANSPORT = {"heartbeat_ivl_ms": 200, "heartbeat_timeout_ms": 1_000,
                  "reconnect_ivl_ms": 50, "reconnect_ivl_max_ms": 200}


def _node_files(tmp_path, count, **node_settings):
    """write_cluster's files with an HTTP port (and any other [node] settings) on each node;
    returns (specs, ports)."""
    from mempool_fast.cluster import free_port, write_cluster

    specs = write_cluster(tmp_path, count, mempool=NODE_MEMPOOL, transport=NODE_TRANSPORT)
    ports = []
    for spec in specs:
        ports.append(free_port())
        extra = "".join(f"\n{k} = {v}" for k, v in node_settings.items())
        spec.config.write_text(spec.config.read_text().replace(
            "metrics_port = 0", f"metrics_port = {ports[-1]}{extra}"))
    return specs, ports


@pytest.fixture
def running_nodes():
    """start(spec) -> a started in-process Node; every one is stopped at teardown."""
    from mempool_fast.node import Node, NodeConfig

    nodes = []

    def start(spec):
        node = Node(NodeConfig.load(spec.config))
        nodes.append(node)
        node.start()
        return node

    yield start
    for node in reversed(nodes):
        node.stop()
    assert all(node.failure is None for node in nodes)


def test_node_routes_are_distinct_and_unknown_paths_404(tmp_path, running_nodes):
    specs, ports = _node_files(tmp_path, 1)
    running_nodes(specs[0])
    port = ports[0]
    status, headers, body = request(port, "/healthz")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"status": "ok", "node": "node0", "problem": None}
    status, _, body = request(port, "/readyz")  # a lone node needs no peer by default
    assert status == 200
    assert json.loads(body) == {"status": "ok", "node": "node0", "links_alive": 0,
                                "links_needed": 0, "journal_replayed": True}
    status, headers, body = request(port, "/metrics")
    assert status == 200 and headers["Content-Type"] == CONTENT_TYPE_LATEST
    assert b"mempool_index_size" in body and b'"status"' not in body
    for path in ("/", "/metric", "/metrics/x", "/healthz/", "/ready", "/readyz/x"):
        assert request(port, path)[0] == 404, path


def test_node_readyz_is_503_with_a_reason_until_its_peers_are_up(tmp_path, running_nodes):
    specs, ports = _node_files(tmp_path, 2, ready_min_peers=1)
    running_nodes(specs[0])
    status, headers, body = request(ports[0], "/readyz")
    assert status == 503 and headers["Content-Type"] == "application/json"
    payload = json.loads(body)
    assert payload["status"] == "unavailable"
    assert payload["links_alive"] == 0 and payload["links_needed"] == 1
    assert payload["journal_replayed"] is True
    assert "0 of the 1 peer links" in payload["reason"]
    assert request(ports[0], "/healthz")[0] == 200  # alive all along

    running_nodes(specs[1])
    for port in ports:
        assert wait_until(lambda port=port: request(port, "/readyz")[0] == 200, timeout=15.0)
        status, _, body = request(port, "/readyz")
        payload = json.loads(body)
        assert payload["links_alive"] == 1 and "reason" not in payload


def test_node_metrics_carry_build_info_and_process_metrics(tmp_path, running_nodes):
    import platform

    import mempool_fast
    from mempool_fast.metrics import LATENCY_BUCKETS

    specs, ports = _node_files(tmp_path, 1)
    running_nodes(specs[0])
    _, _, body = request(ports[0], "/metrics")
    text = body.decode()
    build = next(line for line in text.splitlines()
                 if line.startswith("mempool_fast_build_info{"))
    assert f'version="{mempool_fast.__version__}"' in build
    assert f'implementation="{mempool_fast.IMPLEMENTATION}"' in build
    assert f'python_version="{platform.python_version()}"' in build
    for name in ("process_resident_memory_bytes", "process_cpu_seconds_total",
                 "process_open_fds", "python_info{", "python_gc_collections_total{"):
        assert name in text, name
    # the latency buckets resolve the figures of benchmarks/RESULTS.md
    assert 'mempool_stage_latency_seconds_bucket{le="0.05",stage="submitted_to_broadcast"}' \
        in text
    around_p50 = [b for b in LATENCY_BUCKETS if 0.025 <= b <= 0.1]
    assert len(around_p50) >= 8
    assert len([b for b in LATENCY_BUCKETS if b <= 0.005]) >= 6


def test_ready_min_peers_default_and_bounds(tmp_path):
    from mempool_fast.node import ConfigError, NodeConfig

    lone, _ = _node_files(tmp_path / "lone", 1)
    assert NodeConfig.load(lone[0].config).ready_min_peers == 0
    pair, _ = _node_files(tmp_path / "pair", 2)
    assert NodeConfig.load(pair[0].config).ready_min_peers == 1
    too_many, _ = _node_files(tmp_path / "many", 2, ready_min_peers=2)
    with pytest.raises(ConfigError, match=r"ready_min_peers is 2 but \[\[peers\]\] lists 1 "
                                          r"other validator"):
        NodeConfig.load(too_many[0].config)
    zero, _ = _node_files(tmp_path / "zero", 2, ready_min_peers=0)
    assert NodeConfig.load(zero[0].config).ready_min_peers == 0
