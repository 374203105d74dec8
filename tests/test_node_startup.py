"""Every bad start is one clear line and a non-zero exit, never a traceback; a node never
starts half broken; two nodes never share a data directory."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mempool_fast.cli import main
from mempool_fast.cluster import write_cluster
from mempool_fast.journal import HEADER_LEN, TransactionJournal
from mempool_fast.node import Node, NodeConfig

CLI = [sys.executable, "-m", "mempool_fast.cli"]
NOT_A_POINT = "02" + "00" * 31  # 32 bytes that are no Ed25519 public key (checked below)


def edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def in_node(text: str, line: str) -> str:
    return edit(text, "[node]\n", f"[node]\n{line}\n")


def in_section(text: str, section: str, line: str) -> str:
    return edit(text, f"[{section}]\n", f"[{section}]\n{line}\n")


def first_peer(text: str, key: str, value: str) -> str:
    head, _, rest = text.partition("[[peers]]\n")
    lines = rest.split("\n")
    for i, line in enumerate(lines):
        if line.startswith(f"{key} = "):
            lines[i] = f"{key} = {value}"
            break
    else:
        lines.insert(0, f"{key} = {value}")
    return head + "[[peers]]\n" + "\n".join(lines)


def drop(text: str, key: str) -> str:
    return re.sub(rf"(?m)^{key} = .*\n", "", text, count=1)


# (case id, how to break the config text, a word the one line must contain)
CONFIG_CASES = [
    ("not-toml", lambda t: t + "\n[[[", "not valid TOML"),
    ("not-utf8", None, "UTF-8"),  # written as bytes below
    ("no-node-table", lambda t: t.replace("[node]", "[nodes]"), "top-level key 'nodes'"),
    ("node-not-a-table", lambda t: 'node = 1\n' + t.replace("[node]", "[unused]"),
     "top-level key"),
    ("unknown-top-level", lambda t: "surprise = 1\n" + t, "surprise"),
    ("unknown-node-key", lambda t: in_node(t, "lisen = 'tcp://127.0.0.1:1'"), "lisen"),
    ("missing-name", lambda t: drop(t, "name"), "[node].name"),
    ("missing-store", lambda t: drop(t, "store"), "[node].store"),
    ("missing-listen", lambda t: drop(t, "listen"), "[node].listen"),
    ("name-not-a-string", lambda t: edit(t, 'name = "node0"', "name = 7"), "[node].name"),
    ("name-with-space", lambda t: edit(t, 'name = "node0"', 'name = "node 0"'), "[node].name"),
    ("key-file-missing", lambda t: edit(t, 'key_file = "node0.key"', 'key_file = "nope.key"'),
     "nope.key"),
    ("listen-no-scheme", lambda t: re.sub(r'listen = "tcp://', 'listen = "', t, count=1),
     "[node].listen"),
    ("listen-bad-port", lambda t: re.sub(r'listen = "tcp://127.0.0.1:\d+"',
                                         'listen = "tcp://127.0.0.1:99999"', t), "[node].listen"),
    ("listen-no-port", lambda t: re.sub(r'listen = "tcp://127.0.0.1:\d+"',
                                        'listen = "tcp://127.0.0.1"', t), "[node].listen"),
    ("client-not-loopback", lambda t: t.replace('client = "tcp://127.0.0.1',
                                                'client = "tcp://0.0.0.0'), "loopback"),
    ("client-garbage", lambda t: re.sub(r'client = ".*"', 'client = "here"', t, count=1),
     "[node].client"),
    ("consensus-garbage", lambda t: re.sub(r'consensus = ".*"', 'consensus = "udp://x"', t,
                                           count=1), "[node].consensus"),
    ("consensus-tcp-without-clients",
     lambda t: re.sub(r'consensus = ".*"', 'consensus = "tcp://127.0.0.1:1"', t, count=1),
     "consensus_clients"),
    ("consensus-client-not-hex", lambda t: in_node(t, 'consensus_clients = ["xyz"]'),
     "consensus_clients[0]"),
    ("metrics-port-negative", lambda t: edit(t, "metrics_port = 0", "metrics_port = -1"),
     "[node].metrics_port"),
    ("metrics-port-too-big", lambda t: edit(t, "metrics_port = 0", "metrics_port = 70000"),
     "[node].metrics_port"),
    ("metrics-port-string", lambda t: edit(t, "metrics_port = 0", 'metrics_port = "9100"'),
     "[node].metrics_port"),
    ("metrics-address-bad", lambda t: in_node(t, 'metrics_address = "everywhere"'),
     "[node].metrics_address"),
    ("client-max-transactions-zero", lambda t: in_node(t, "client_max_transactions = 0"),
     "client_max_transactions"),
    ("client-workers-zero", lambda t: in_node(t, "client_workers = 0"), "client_workers"),
    ("skew-not-a-number", lambda t: in_node(t, 'max_block_time_skew_s = "soon"'),
     "max_block_time_skew_s"),
    ("log-format-unknown", lambda t: in_node(t, 'log_format = "xml"'), "log_format"),
    ("curve-key-unknown", lambda t: edit(t, 'curve_key = "ed25519"', 'curve_key = "rsa"'),
     "curve_key"),
    ("peers-not-an-array", lambda t: "peers = 1\n" + t.replace("[[peers]]", "[[ignored]]"),
     "top-level key"),
    ("peer-missing-name", lambda t: re.sub(r'(?s)(\[\[peers\]\]\n)name = "[^"]*"\n', r"\1", t,
                                           count=1), "peers[0].name"),
    ("peer-unknown-key", lambda t: first_peer(t, "port", "1"), "peers[0]"),
    ("peer-key-not-hex", lambda t: first_peer(t, "public_key", '"zz"'), "peers[0].public_key"),
    ("peer-key-short", lambda t: first_peer(t, "public_key", '"abcd"'), "peers[0].public_key"),
    ("peer-key-not-a-point", lambda t: first_peer(t, "public_key", f'"{NOT_A_POINT}"'),
     "peers[0].public_key"),
    ("peer-address-typo", lambda t: first_peer(t, "address", '"tcp//127.0.0.1:7000"'),
     "peers[0].address"),
    ("peer-address-bad-port", lambda t: first_peer(t, "address", '"tcp://127.0.0.1:0x50"'),
     "peers[0].address"),
    ("peer-duplicate-name", lambda t: re.sub(r'name = "node1"', 'name = "node2"', t, count=1),
     "listed twice"),
    ("own-name-other-key", lambda t: re.sub(r'name = "node1"', 'name = "node0"', t, count=1),
     "this node's key"),
    ("mempool-unknown", lambda t: in_section(t, "mempool", "capacityy = 3"), "capacityy"),
    ("mempool-capacity-zero", lambda t: in_section(t, "mempool", "capacity = 0"), "capacity"),
    ("mempool-capacity-string", lambda t: in_section(t, "mempool", 'capacity = "big"'),
     "capacity"),
    ("mempool-capacity-float", lambda t: in_section(t, "mempool", "capacity = 1.5"), "capacity"),
    ("mempool-capacity-bool", lambda t: in_section(t, "mempool", "capacity = true"), "capacity"),
    ("mempool-rate-not-numeric", lambda t: in_section(t, "mempool",
                                                      'peer_rate_limit_per_sec = "fast"'),
     "peer_rate_limit_per_sec"),
    ("mempool-max-message-negative", lambda t: in_section(t, "mempool", "max_message_bytes = -1"),
     "max_message_bytes"),
    ("mempool-inbound-zero", lambda t: in_section(
        t, "mempool", "shared_mempool_max_concurrent_inbound_syncs = 0"),
     "shared_mempool_max_concurrent_inbound_syncs"),
    ("mempool-fsync-interval", lambda t: in_section(t, "mempool", 'journal_fsync = "interval"'),
     "journal_fsync"),
    ("mempool-not-a-table", lambda t: t.replace("[mempool]", "mempool = 3\n[unused_mempool]"),
     "unused_mempool"),
    ("transport-unknown", lambda t: in_section(t, "transport", "heartbeat = 1"), "heartbeat"),
    ("transport-queue-zero", lambda t: in_section(t, "transport", "inbound_queue_size = 0"),
     "inbound_queue_size"),
    ("transport-negative", lambda t: in_section(t, "transport", "heartbeat_ivl_ms = -5"),
     "heartbeat_ivl_ms"),
]


@pytest.fixture
def cluster_files(tmp_path):
    specs = write_cluster(tmp_path, 3)
    return specs


def run_node(config: Path, capsys) -> tuple[int, list[str]]:
    code = main(["node", "--config", str(config)])
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if line.strip()]


def one_clear_line(code: int, lines: list[str], word: str, config: Path) -> None:
    assert code != 0
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0]
    assert word in lines[0], lines[0]
    assert str(config) in lines[0] or config.name in lines[0], lines[0]


@pytest.mark.parametrize("case, change, word", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_every_bad_config_is_one_line_and_a_non_zero_exit(cluster_files, capsys, case, change,
                                                          word):
    spec = cluster_files[0]
    text = spec.config.read_text()
    if case == "not-utf8":
        spec.config.write_bytes(b"\xff\xfe" + text.encode())
    else:
        spec.config.write_text(change(text))
    code, lines = run_node(spec.config, capsys)
    one_clear_line(code, lines, word, spec.config)


def test_not_a_point_really_is_not_a_point():
    import nacl.bindings
    import nacl.exceptions
    with pytest.raises(nacl.exceptions.CryptoError):
        nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(bytes.fromhex(NOT_A_POINT))


KEY_CASES = [("binary", b"\x00\xff" * 32, "not hex"), ("short", b"abcd\n", "not a 32-byte seed"),
             ("not-hex", b"zz" * 32, "not hex")]


@pytest.mark.parametrize("case, content, word", KEY_CASES, ids=[c[0] for c in KEY_CASES])
def test_a_bad_key_file_is_one_line(cluster_files, capsys, case, content, word):
    spec = cluster_files[0]
    spec.key_file.write_bytes(content)
    code, lines = run_node(spec.config, capsys)
    one_clear_line(code, lines, word, spec.key_file)


def test_a_missing_config_file_is_one_line(tmp_path, capsys):
    code, lines = run_node(tmp_path / "absent.toml", capsys)
    one_clear_line(code, lines, "cannot read config", tmp_path / "absent.toml")


# -- start-up failures beyond the config file: a node is running, or the data is bad ----------
@pytest.fixture
def running(cluster_files):
    node = Node(NodeConfig.load(cluster_files[0].config))
    node.start()
    yield node, cluster_files
    node.stop()


def _retarget(spec, **fields) -> None:
    text = spec.config.read_text()
    for key, value in fields.items():
        text = re.sub(rf'(?m)^{key} = .*$', f"{key} = {value}", text, count=1)
    spec.config.write_text(text)


def test_the_same_config_started_twice_is_refused(running, capsys):
    node, specs = running
    code, lines = run_node(specs[0].config, capsys)
    one_clear_line(code, lines, "in use by another process", specs[0].store)
    assert node.shared is not None and node.failure is None  # the first one is untouched


def test_a_listen_port_in_use_is_one_line(running, capsys):
    node, specs = running
    _retarget(specs[1], listen=f'"{specs[0].listen}"')
    code, lines = run_node(specs[1].config, capsys)
    one_clear_line(code, lines, "[node].listen", specs[1].config)
    assert "in use" in lines[0].lower()


def test_a_client_port_in_use_is_one_line(running, capsys):
    node, specs = running
    _retarget(specs[1], client=f'"{specs[0].client}"')
    code, lines = run_node(specs[1].config, capsys)
    one_clear_line(code, lines, "[node].client", specs[1].config)


def test_a_metrics_port_in_use_is_one_line(cluster_files, capsys):
    spec = cluster_files[0]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        _retarget(spec, metrics_port=taken.getsockname()[1])
        code, lines = run_node(spec.config, capsys)
    one_clear_line(code, lines, "metrics_port", spec.config)


def test_a_corrupt_journal_is_refused_untouched(cluster_files, capsys, accounts):
    from mempool_fast.storage import SqliteAccountStore

    spec = cluster_files[0]
    SqliteAccountStore(spec.store).close()
    journal = spec.store.with_suffix(".journal")
    with TransactionJournal(journal, fsync="never") as j:
        j.append([accounts.txn(0, 0)])
    data = bytearray(journal.read_bytes())
    data[9] ^= 1  # the header's salt
    journal.write_bytes(bytes(data))
    code, lines = run_node(spec.config, capsys)
    one_clear_line(code, lines, "header", journal)
    assert journal.read_bytes() == bytes(data)


def test_a_store_that_is_not_sqlite_is_one_line(cluster_files, capsys):
    spec = cluster_files[0]
    spec.store.write_bytes(os.urandom(4096))
    code, lines = run_node(spec.config, capsys)
    one_clear_line(code, lines, "cannot be used", spec.store)


def test_a_missing_store_beside_a_journal_is_refused(cluster_files, capsys, accounts):
    spec = cluster_files[0]
    journal = spec.store.with_suffix(".journal")
    with TransactionJournal(journal, fsync="never") as j:
        j.append([accounts.txn(0, 0)])
    assert journal.stat().st_size > HEADER_LEN and not spec.store.exists()
    before = journal.read_bytes()
    code, lines = run_node(spec.config, capsys)
    one_clear_line(code, lines, "missing", spec.store)
    assert not spec.store.exists() and journal.read_bytes() == before


def test_a_consensus_socket_in_a_missing_directory_is_one_line(cluster_files, capsys):
    spec = cluster_files[0]
    _retarget(spec, consensus=f'"ipc://{spec.config.parent}/no/such/dir/c.sock"')
    code, lines = run_node(spec.config, capsys)
    one_clear_line(code, lines, "[node].consensus", spec.config)


def test_bad_starts_through_the_real_command_print_no_traceback(cluster_files):
    """The same, as an operator sees it: a separate process, its stderr and exit code."""
    spec = cluster_files[0]
    spec.config.write_text(in_section(spec.config.read_text(), "mempool",
                                      'peer_rate_limit_per_sec = "fast"'))
    proc = subprocess.run(CLI + ["node", "--config", str(spec.config)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "peer_rate_limit_per_sec" in lines[0], proc.stderr
