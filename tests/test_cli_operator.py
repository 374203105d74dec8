"""The operator commands (submit, status, account, txpool, config default) against a real node:
their --json output, and every start-up mistake as one line on stderr with a non-zero exit."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import tomllib

import pytest
from conftest import wait_until

from mempool_fast.cli import main
from mempool_fast.cluster import free_port, write_cluster
from mempool_fast.config import MempoolConfig
from mempool_fast.network.zmq import ZmqSettings
from mempool_fast.node import Node, NodeConfig
from mempool_fast.node.config import NODE_DEFAULTS
from mempool_fast.operator_cli.inputs import (
    cluster_account_keys,
    generate_transactions,
    transaction_hash,
)
from mempool_fast.operator_cli.views import jsonable
from mempool_fast.storage import SqliteAccountStore
from mempool_fast.transaction import account_address

CLI = [sys.executable, "-m", "mempool_fast.cli"]
DEADLINE = 30.0
SEED, ACCOUNTS = 7, 4


def address(index: int) -> bytes:
    return account_address(bytes(cluster_account_keys(SEED, ACCOUNTS)[index].verify_key))


@pytest.fixture
def node(tmp_path):
    """A started node whose store funds the cluster's test accounts of seed SEED (as
    `mempool-fast cluster --seed SEED` funds them); yields (node, client endpoint)."""
    spec = write_cluster(tmp_path, 1, mempool={"shared_mempool_tick_interval_ms": 20})[0]
    with SqliteAccountStore(spec.store) as store:
        store.set_accounts([(address(i), 0, 10**12) for i in range(ACCOUNTS)])
    n = Node(NodeConfig.load(spec.config))
    n.start()
    yield n, spec.client
    n.stop()
    assert n.failure is None


def cli_json(capsys, *argv) -> dict:
    """Run `mempool-fast ARGV --json` in this process; its exit code must be 0."""
    code = main([*argv, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def one_line_failure(capsys, argv, expect: str) -> int:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code != 0
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("mempool-fast ") and expect in lines[0], lines[0]
    return code


def txns_file(tmp_path, txns, name="txns.hex"):
    path = tmp_path / name
    path.write_text("# three transactions\n\n" + "".join(f"  {t.to_bytes().hex()}\n"
                                                         for t in txns))
    return path


# -- submit, status, account, txpool --------------------------------------------------------------

def test_submit_a_file_then_status_says_ready_or_parked(node, tmp_path, capsys):
    _, client = node
    keys = cluster_account_keys(SEED, ACCOUNTS)
    # account 0: sequence numbers 0 and 1 (ready); account 1: 3 (parked behind 0, 1, 2)
    txns = generate_transactions(keys[:1], 2, [0]) + generate_transactions(keys[1:2], 1, [3])
    submitted = cli_json(capsys, "submit", str(txns_file(tmp_path, txns)), "--client", client)
    assert submitted["submitted"] == submitted["accepted"] == 3
    assert [r["code"] for r in submitted["results"]] == ["VALID"] * 3
    assert [(r["hash"], r["sender"], r["sequence_number"]) for r in submitted["results"]] == [
        (transaction_hash(t).hex(), t.sender.hex(), t.sequence_number) for t in txns]
    assert set(submitted["results"][0]) == {"hash", "sender", "sequence_number", "code",
                                            "message"}

    queries = [transaction_hash(txns[0]).hex(), f"{txns[1].sender.hex()}:1",
               f"{txns[2].sender.hex()}:3", f"{txns[2].sender.hex()}:9"]
    status = cli_json(capsys, "status", *queries, "--client", client)
    results = status["results"]
    assert [r["query"] for r in results] == queries
    assert [r["state"] for r in results] == ["READY", "READY", "PARKED", "UNKNOWN"]
    assert set(results[0]) == {"query", "state", "reason", "hash", "sender", "sequence_number",
                               "at", "detail"}
    assert results[0]["hash"] == transaction_hash(txns[0]).hex()
    assert (results[0]["sender"], results[0]["sequence_number"]) == (txns[0].sender.hex(), 0)
    assert results[1]["hash"] == transaction_hash(txns[1]).hex()  # found by its pointer
    assert results[2]["reason"] is None and results[2]["detail"]
    assert results[3]["hash"] is None


def test_status_after_a_commit_says_committed_and_when(node, tmp_path, capsys):
    from mempool_fast.client import NodeClient

    n, client = node
    keys = cluster_account_keys(SEED, ACCOUNTS)
    txns = generate_transactions(keys[3:4], 2, [0])
    assert cli_json(capsys, "submit", str(txns_file(tmp_path, txns)),
                    "--client", client)["accepted"] == 2
    before = time.time()
    with NodeClient(n.config.consensus, timeout=5.0) as consensus:
        consensus.commit([txns[0].pointer], time.time())
    queries = [transaction_hash(t).hex() for t in txns]
    results = cli_json(capsys, "status", *queries, "--client", client)["results"]
    assert [r["state"] for r in results] == ["COMMITTED", "READY"]
    assert before - 1 <= results[0]["at"] <= time.time() + 1 and results[1]["at"] is None
    assert main(["status", *queries, "--client", client]) == 0  # and the table
    table = capsys.readouterr().out
    assert "COMMITTED" in table and "READY" in table


def test_account_lists_ready_parked_and_what_blocks_them(node, tmp_path, capsys):
    _, client = node
    keys = cluster_account_keys(SEED, ACCOUNTS)
    txns = generate_transactions(keys[2:3], 2, [0]) + generate_transactions(keys[2:3], 1, [4])
    assert cli_json(capsys, "submit", str(txns_file(tmp_path, txns)),
                    "--client", client)["accepted"] == 3
    account = cli_json(capsys, "account", address(2).hex(), "--client", client)
    assert account == {"address": address(2).hex(), "sequence_number": 0, "ready": [0, 1],
                       "parked": [4], "blocked_on": 2}
    empty = cli_json(capsys, "account", address(3).hex(), "--client", client)
    assert empty == {"address": address(3).hex(), "sequence_number": 0, "ready": [],
                     "parked": [], "blocked_on": None}


def test_generate_signs_for_the_cluster_accounts_and_continues_where_the_node_is(node, capsys):
    _, client = node
    first = cli_json(capsys, "submit", "--generate", "6", "--accounts", "3", "--seed",
                     str(SEED), "--client", client)
    assert first["accepted"] == 6
    assert [(r["sender"], r["sequence_number"]) for r in first["results"]] == [
        (address(i % 3).hex(), i // 3) for i in range(6)]
    again = cli_json(capsys, "submit", "--generate", "3", "--accounts", "3", "--seed",
                     str(SEED), "--client", client)  # --first-seq auto: after what is held
    assert again["accepted"] == 3
    assert [r["sequence_number"] for r in again["results"]] == [2, 2, 2]
    status = cli_json(capsys, "status", *(r["hash"] for r in again["results"]),
                      "--client", client)
    assert {r["state"] for r in status["results"]} == {"READY"}


def test_generate_write_makes_a_file_submit_reads(node, tmp_path, capsys):
    _, client = node
    path = tmp_path / "generated.hex"
    assert main(["submit", "--generate", "4", "--accounts", "2", "--seed", str(SEED),
                 "--write", str(path)]) == 0
    assert len(path.read_text().splitlines()) == 4
    submitted = cli_json(capsys, "submit", str(path), "--client", client)
    assert submitted["accepted"] == 4
    assert {r["sender"] for r in submitted["results"]} == {address(0).hex(), address(1).hex()}


def test_txpool_json_and_watch_refreshes(node, capsys):
    _, client = node
    cli_json(capsys, "submit", "--generate", "3", "--accounts", "3", "--seed", str(SEED),
             "--client", client)
    pool = cli_json(capsys, "txpool", "--client", client)
    assert pool["pending"] == {"ready": 3, "parked": 0, "total": 3}
    assert pool["core"]["mempool_size"] == 3 and pool["peers"] == {}
    n, _ = node
    assert pool == jsonable(n.shared.inspect())  # the node's inspect(), as JSON

    code = main(["txpool", "--client", client, "--watch", "--json", "--count", "3",
                 "--interval", "0.05"])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 3 and all(isinstance(json.loads(line), dict) for line in lines)


def test_txpool_watch_runs_until_ctrl_c_and_exits_cleanly(node):
    _, client = node
    proc = subprocess.Popen(CLI + ["txpool", "--client", client, "--watch", "--json",
                                   "--interval", "0.05"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        end = time.monotonic() + DEADLINE
        while len(lines) < 2:  # two refreshes seen: it is watching
            assert proc.poll() is None and time.monotonic() < end, proc.stderr.read()
            lines.append(proc.stdout.readline())
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=DEADLINE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert all(isinstance(json.loads(line), dict) for line in lines + out.splitlines())


def test_txpool_table_view_prints(node, capsys):
    _, client = node
    assert main(["txpool", "--client", client]) == 0
    assert "txpool" in capsys.readouterr().out
    assert main(["txpool", "--client", client, "--watch", "--count", "2",
                 "--interval", "0.05"]) == 0
    assert "txpool" in capsys.readouterr().out


def test_the_client_endpoint_can_come_from_the_node_config(node, capsys):
    n, client = node
    assert n.config.client == client
    pool = cli_json(capsys, "txpool", "--config", str(n.config.source))
    assert pool["incarnation"] == n.shared.inspect()["incarnation"]


# -- config default -------------------------------------------------------------------------------

def test_config_default_is_complete_and_a_node_starts_from_it(tmp_path, capsys):
    assert main(["config", "default"]) == 0
    text = capsys.readouterr().out
    path = tmp_path / "node.toml"
    path.write_text(text)
    assert main(["keygen", "--out", str(tmp_path / "node.key")]) == 0  # as its comment says
    capsys.readouterr()

    config = NodeConfig.load(path)  # accepted as printed
    assert config.mempool == MempoolConfig() and config.transport == ZmqSettings()
    for key, (default, *_rest) in NODE_DEFAULTS.items():
        expected = 0 if key == "ready_min_peers" else default  # no other validator listed
        value = getattr(config, key, None) if key != "curve_key" else "ed25519"
        if key == "journal":
            assert config.journal is None and config.journal_path == tmp_path / "node.journal"
        elif key == "consensus_clients":
            assert config.consensus_clients == ()
        else:
            assert value == expected, key
    assert (config.name, config.store, config.peers) == ("node0", tmp_path / "node.sqlite", [])
    data = tomllib.loads(text)
    assert set(data["mempool"]) == {f for f in MempoolConfig.__dataclass_fields__}
    assert set(data["transport"]) == {f for f in ZmqSettings.__dataclass_fields__}
    assert sum(line.startswith("#") for line in text.splitlines()) > len(data["mempool"])

    # --json is the same values
    assert cli_json(capsys, "config", "default") == data

    # and a node runs from it (on free ports, since 7000/7100 may be taken here)
    path.write_text(text.replace("tcp://127.0.0.1:7000", f"tcp://127.0.0.1:{free_port()}")
                    .replace("tcp://127.0.0.1:7100", f"tcp://127.0.0.1:{free_port()}"))
    running = Node(NodeConfig.load(path))
    running.start()
    try:
        assert running.readiness()[0] and running.health()[0]
        endpoint = NodeConfig.load(path).client
        assert wait_until(lambda: main(["txpool", "--client", endpoint, "--json"]) == 0,
                          timeout=DEADLINE)
    finally:
        running.stop()
    assert running.failure is None


# -- start-up mistakes: one line, non-zero exit -------------------------------------------------

@pytest.mark.parametrize("argv, expect", [
    (["status", "zz"], "transaction hash 'zz' is not hex"),
    (["status", "ab" * 31], "is 31 bytes, not 32"),
    (["status", "ab" * 32 + ":x"], "sequence number 'x'"),
    (["status", "cd" * 32 + ":-1"], "sequence number '-1'"),
    (["status", "nothex:3"], "sender 'nothex' is not hex"),
    (["account", "12345"], "address '12345' is not hex"),
    (["account", "00" * 20], "is 20 bytes, not 32"),
    (["submit", "/no/such/file.hex"], "cannot read /no/such/file.hex"),
    (["submit", "--generate", "0"], "at least 1"),
    (["submit", "--generate", "2", "--first-seq", "soon"], "--first-seq must be auto or a"),
    (["txpool", "--client", "nonsense://x"], "cannot use endpoint nonsense://x"),
    (["txpool", "--config", "/no/such/node.toml"], "cannot read config /no/such/node.toml"),
    (["txpool", "--timeout", "0"], "--timeout must be positive"),
])
def test_bad_arguments_are_one_line_and_exit_2(capsys, argv, expect):
    assert one_line_failure(capsys, argv, expect) == 2


def test_bad_transaction_files_name_the_line(tmp_path, capsys):
    good = generate_transactions(cluster_account_keys(SEED, 1), 1, [0])[0].to_bytes().hex()
    for name, content, expect in [
        ("hex", f"{good}\nnot hex at all\n", "line 2: not hex"),
        ("short", f"# c\n{good[:-10]}\n", "line 2: transaction is"),
        ("empty", "# only a comment\n\n", "holds no transaction"),
    ]:
        path = tmp_path / f"{name}.hex"
        path.write_text(content)
        assert one_line_failure(capsys, ["submit", str(path)], expect) == 2
    binary = tmp_path / "binary.hex"
    binary.write_bytes(b"\xff\xfe\x00")
    assert one_line_failure(capsys, ["submit", str(binary)], "is not UTF-8") == 2


def test_a_node_that_does_not_answer_is_one_line_within_the_timeout(tmp_path, capsys):
    silent = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    for argv in (["status", "ab" * 32], ["account", "ab" * 32], ["txpool"],
                 ["submit", "--generate", "1", "--first-seq", "0"]):
        code = one_line_failure(capsys, [*argv, "--client", silent, "--timeout", "0.3"],
                                f"no reply from {silent} within 0.3 s")
        assert code == 1
    assert time.monotonic() - started < 4 * 0.3 + 5.0


def test_mistakes_never_print_a_traceback(tmp_path):
    """The same mistakes in a real process: nothing but the one line on stderr."""
    bad = tmp_path / "bad.hex"
    bad.write_text("zz\n")
    for argv in (["status", "zz"], ["submit", str(bad)],
                 ["txpool", "--client", f"tcp://127.0.0.1:{free_port()}", "--timeout", "0.2"]):
        proc = subprocess.run(CLI + argv, capture_output=True, text=True, timeout=DEADLINE,
                              check=False)
        assert proc.returncode in (1, 2)
        assert proc.stdout == "" and len(proc.stderr.splitlines()) == 1, proc.stderr
        assert "Traceback" not in proc.stderr
