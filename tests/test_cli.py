"""The `mempool-fast` command: keygen, node, and the cluster main job (as real processes)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import nacl.signing

from mempool_fast.cli import main
from mempool_fast.network.zmq import curve_keypair_from_seed
from mempool_fast.node import read_key_file

CLI = [sys.executable, "-m", "mempool_fast.cli"]
DEADLINE = 60.0


def test_keygen_writes_a_key_and_prints_its_public_keys(tmp_path, capsys):
    out = tmp_path / "node.key"
    assert main(["keygen", "--out", str(out)]) == 0
    seed = read_key_file(out)
    printed = capsys.readouterr().out
    assert bytes(nacl.signing.SigningKey(seed).verify_key).hex() in printed
    assert curve_keypair_from_seed(seed)[0].decode() in printed
    assert out.stat().st_mode & 0o077 == 0
    assert main(["keygen", "--out", str(out)]) == 2  # never overwrites silently
    assert read_key_file(out) == seed


def test_node_with_a_bad_config_exits_2_with_the_reason(tmp_path, capsys):
    config = tmp_path / "node.toml"
    config.write_text("[node]\nname = 'x'\n")
    assert main(["node", "--config", str(config)]) == 2
    assert "[node].client" in capsys.readouterr().err


def test_cluster_json_small_run_is_consistent(tmp_path):
    proc = subprocess.run(
        CLI + ["cluster", "--nodes", "3", "--accounts", "30", "--txns", "600", "--json",
               "--seed", "1"], capture_output=True, text=True, timeout=DEADLINE, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["ok"] is True
    assert summary["submitted"] == 600
    assert summary["accepted"] == summary["statuses"]["VALID"] == 600
    assert summary["reached_all"] == summary["accepted"] == summary["committed"]
    assert summary["not_reached"] == 0
    assert summary["latency_ms"]["samples"] == 600
    assert 0 < summary["latency_ms"]["p50"] <= summary["latency_ms"]["p99"]
    assert set(summary["nodes_final"]) == {"node0", "node1", "node2"}
    assert all(n["mempool_size"] == 0 for n in summary["nodes_final"].values())
    assert summary["node_exit_codes"] == [0, 0, 0]


def test_cluster_ctrl_c_stops_every_node(tmp_path):
    workdir = tmp_path / "run"
    proc = subprocess.Popen(
        CLI + ["--log-level", "INFO", "cluster", "--nodes", "2", "--accounts", "10",
               "--txns", "5000", "--rate", "50", "--json", "--workdir", str(workdir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        logs = [workdir / "node0.log", workdir / "node1.log"]
        end = time.monotonic() + DEADLINE
        while not all(p.exists() and "listening on" in p.read_text() for p in logs):
            assert proc.poll() is None and time.monotonic() < end, "nodes never came up"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=DEADLINE)
        assert proc.returncode == 130, err
        assert "every node stopped" in err
        assert all("stopped" in p.read_text().splitlines()[-1] for p in logs)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_keygen_force_writes_the_new_key_owner_only_whatever_the_old_mode(tmp_path):
    import os

    out = tmp_path / "node.key"
    assert main(["keygen", "--out", str(out)]) == 0
    old = read_key_file(out)
    os.chmod(out, 0o644)
    assert main(["keygen", "--out", str(out), "--force"]) == 0
    assert read_key_file(out) != old
    assert out.stat().st_mode & 0o777 == 0o600


def test_log_level_is_accepted_after_the_subcommand(tmp_path, capsys):
    config = tmp_path / "node.toml"
    config.write_text("[node]\nname = 'x'\n")
    assert main(["node", "--config", str(config), "--log-level", "DEBUG"]) == 2
    assert main(["node", "--log-level", "nonsense", "--config", str(config)]) == 2
    assert "unknown log level" in capsys.readouterr().err


def test_the_readme_operator_commands_exist_as_written():
    """Every `mempool-fast ...` command of README's "Operating a node" parses as written (the
    placeholders filled in), so the section stays true."""
    import re
    from pathlib import Path

    from mempool_fast.cli import build_parser

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("## Operating a node", 1)[1].split("\n## ", 1)[0]
    section = section.replace("HASH\\|SENDER:SEQ", "HASH")  # one key, either form
    commands = re.findall(r"mempool-fast ([a-z][^`\n&>#|]*?)\s*(?:`|&&|>|#|\n)", section)
    fill = {"FILE": "txns.hex", "N": "3", "S": "1", "HASH": "ab" * 32,
            "ADDRESS": "cd" * 32, "...": "", "[--watch]": "--watch"}
    seen = set()
    for command in commands:
        argv = [fill.get(word, word) for word in command.split()]
        argv = [a for a in argv if a]
        args = build_parser().parse_args(argv)
        seen.add(args.command)
    assert {"node", "keygen", "submit", "status", "account", "txpool", "config"} <= seen


def test_json_log_format_writes_one_json_object_a_line():
    import json
    import subprocess
    import sys

    code = ("import logging; from mempool_fast.cli import _configure_logging\n"
            "_configure_logging(logging.INFO, 'json')\n"
            "log = logging.getLogger('mempool_fast.node')\n"
            "log.info('started: %s core', 'cython')\n"
            "try:\n    1 / 0\nexcept ZeroDivisionError:\n    log.exception('it failed')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    first, second = [json.loads(line) for line in out.stderr.splitlines()
                     if line.startswith("{")]
    assert (first["level"], first["logger"], first["message"]) == (
        "INFO", "mempool_fast.node", "started: cython core")
    assert first["time"].endswith("+00:00")
    assert second["level"] == "ERROR" and "ZeroDivisionError" in second["exception"]


def test_log_format_is_accepted_before_and_after_the_subcommand():
    from mempool_fast.cli import build_parser

    for argv in (["--log-format", "json", "node", "--config", "x.toml"],
                 ["node", "--config", "x.toml", "--log-format", "json"]):
        assert build_parser().parse_args(argv).log_format == "json"
