"""Ethereum transactions through the node, its RPC and client, and `mempool-fast cluster --format
ethereum` (issue 16, the node/cluster part).

- the protocol with 20-byte senders: pointers padded with zero bytes to the 32-byte field, a
  field whose padding is not zero refused for that request, a sender of the wrong length refused
  by the encoder, a SUBMIT's wire bytes decoded by the node's format; native frames unchanged;
- an "ethereum" node as a real process: submit (transaction objects and raw bytes), status,
  transaction_status by hash and pointer, account_status, get_block and commit with 20-byte
  senders, what it refuses;
- the start-up of an "ethereum" node (and of an Ethereum cluster) without the extra: one line
  naming `pip install 'mempool_fast[ethereum]'`, exit 2, no traceback;
- a real `mempool-fast cluster --format ethereum` run converges: every accepted transaction
  reached every node and every node reports it committed by its hash.

Skipped without the `ethereum` extra (rlp, coincurve, eth-hash).
"""

from __future__ import annotations

import json
import sqlite3
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

for _module in ("rlp", "coincurve", "eth_hash"):
    pytest.importorskip(_module, reason="the ethereum extra is not installed: "
                                        "pip install 'mempool_fast[ethereum]'")

from conftest import poll as conftest_poll  # noqa: E402
from mempool_fast import rpc  # noqa: E402
from mempool_fast.client import NodeClient, RemoteError  # noqa: E402
from mempool_fast.cluster import (DEFAULT_CHAIN_ID, NodeProcess, wait_connected,  # noqa: E402
                                  write_cluster)
from mempool_fast.errors import RpcError  # noqa: E402
from mempool_fast.formats.ethereum import EthereumFormat, EthereumTransaction  # noqa: E402
from mempool_fast.formats.ethereum_signing import TRANSFER_GAS, EthereumKey  # noqa: E402
from mempool_fast.rpc import Op, TxnState  # noqa: E402
from mempool_fast.status import TransactionState  # noqa: E402
from mempool_fast.storage import SqliteAccountStore  # noqa: E402
from mempool_fast.types import MempoolAddTransactionStatusCode as Code  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "mempool_fast.cli"]
#: Longest a node start, a poll or a cluster run may take here.
DEADLINE = 60.0
RPC_TIMEOUT_S = 5.0
POLL_S = 0.02
CHAIN_ID = DEFAULT_CHAIN_ID
FMT = EthereumFormat(CHAIN_ID)
ADDRESS_LEN = 20
#: 1000 ether: above 2**64 wei, as the cluster funds its accounts.
BALANCE = 1000 * 10**18
GWEI = 10**9
KEYS = [EthereumKey(bytes([i + 1]) * 32) for i in range(3)]
HINT = "pip install 'mempool_fast[ethereum]'"
MEMPOOL = {"transaction_format": "ethereum", "chain_id": CHAIN_ID,
           "shared_mempool_tick_interval_ms": 20}
TRANSPORT = {"heartbeat_ivl_ms": 200, "heartbeat_timeout_ms": 1_000, "reconnect_ivl_ms": 50,
             "reconnect_ivl_max_ms": 200}
PENDING = {TxnState.NOT_READY, TxnState.READY, TxnState.NON_QUALIFIED}


def transfer(key: EthereumKey, nonce: int, *, eip1559: bool = False, tip: int = GWEI,
             chain_id: int = CHAIN_ID) -> EthereumTransaction:
    """A decoded 1-wei transfer of `key`'s account to the next key's."""
    to = KEYS[(KEYS.index(key) + 1) % len(KEYS)].address if key in KEYS else b"\x11" * 20
    if eip1559:
        raw = key.sign_eip1559(chain_id=chain_id, nonce=nonce, max_priority_fee_per_gas=tip,
                               max_fee_per_gas=2 * tip, to=to, value=1)
    else:
        raw = key.sign_legacy(chain_id=chain_id, nonce=nonce, gas_price=tip, to=to, value=1)
    return FMT.decode(raw)



def poll(predicate, what: str, deadline: float = DEADLINE):
    return conftest_poll(predicate, what, deadline)


# -- the protocol with 20-byte senders ---------------------------------------------------------

def test_a_20_byte_sender_travels_zero_padded_in_the_32_byte_field():
    sender = KEYS[0].address
    frame = rpc.encode_request(Op.STATUS, 1, [(sender, 7)], transaction_format=FMT)
    head = struct.calcsize("<BBI")
    assert frame[head:] == struct.pack("<I", 1) + sender + bytes(12) + struct.pack("<Q", 7)
    assert rpc.decode_request(frame, transaction_format=FMT).body == [(sender, 7)]
    # a native reader sees the padded field: the layout is the native one
    assert rpc.decode_request(frame).body == [(sender + bytes(12), 7)]


@pytest.mark.parametrize("op, body", [
    (Op.STATUS, [(KEYS[0].address, 1), (KEYS[1].address, 2)]),
    (Op.GET_BLOCK, (10, [(KEYS[0].address, 3)])),
    (Op.GET_BLOCK, (10, [(KEYS[0].address, 3)], 4096)),
    (Op.COMMIT, (12.5, [(KEYS[0].address, 0)], [(KEYS[1].address, 4)])),
    (Op.TXN_STATUS, [b"\x05" * 32, (KEYS[2].address, 9)]),
    (Op.ACCOUNT_STATUS, KEYS[1].address),
])
def test_requests_with_20_byte_senders_round_trip(op, body):
    frame = rpc.encode_request(op, 3, body, transaction_format=FMT)
    assert rpc.decode_request(frame, transaction_format=FMT).body == body


def test_submit_carries_wire_bytes_decoded_by_the_nodes_format():
    txns = [transfer(KEYS[0], 0), transfer(KEYS[1], 0, eip1559=True)]
    as_objects = rpc.encode_request(Op.SUBMIT, 1, txns, transaction_format=FMT)
    as_bytes = rpc.encode_request(Op.SUBMIT, 1, [t.to_bytes() for t in txns],
                                  transaction_format=FMT)
    assert as_objects == as_bytes
    decoded = rpc.decode_request(as_bytes, transaction_format=FMT).body
    assert decoded == txns and all(isinstance(t, EthereumTransaction) for t in decoded)
    with pytest.raises(RpcError, match="transaction 0"):  # not native wire bytes
        rpc.decode_request(as_bytes)
    with pytest.raises(TypeError, match="transaction 1"):
        rpc.encode_request(Op.SUBMIT, 1, [txns[0], 42], transaction_format=FMT)


def test_responses_with_20_byte_senders_round_trip():
    from mempool_fast.status import AccountStatus, TransactionStatus

    txns = [transfer(KEYS[0], 0), transfer(KEYS[0], 1, eip1559=True)]
    block = rpc.decode_response(rpc.encode_response(Op.GET_BLOCK, 1, txns,
                                                    transaction_format=FMT),
                                transaction_format=FMT).body
    assert block == txns and [t.sender for t in block] == [KEYS[0].address] * 2
    status = TransactionStatus(TransactionState.READY, None, txns[0].hash, txns[0].pointer,
                               12.0, "ready")
    account = AccountStatus(KEYS[0].address, 0, (0, 1), (), None)
    for op, body in ((Op.TXN_STATUS, [status]), (Op.ACCOUNT_STATUS, account)):
        frame = rpc.encode_response(op, 2, body, transaction_format=FMT)
        assert rpc.decode_response(frame, transaction_format=FMT).body == body


def test_non_zero_padding_or_a_wrong_length_sender_is_a_clear_error():
    native_sender = b"\x01" * 32  # its last 12 bytes are not zero
    frame = rpc.encode_request(Op.STATUS, 1, [(native_sender, 0)])
    with pytest.raises(RpcError, match="pointer 0: .*not zero"):
        rpc.decode_request(frame, transaction_format=FMT)
    frame = rpc.encode_request(Op.ACCOUNT_STATUS, 1, native_sender)
    with pytest.raises(RpcError, match="sender: .*not zero"):
        rpc.decode_request(frame, transaction_format=FMT)
    frame = rpc.encode_request(Op.TXN_STATUS, 1, [(native_sender, 3)])
    with pytest.raises(RpcError, match="status key 0: .*not zero"):
        rpc.decode_request(frame, transaction_format=FMT)
    for op, body in ((Op.STATUS, [(native_sender, 0)]), (Op.ACCOUNT_STATUS, native_sender),
                     (Op.COMMIT, (1.0, [], [(b"\x01" * 19, 0)]))):
        with pytest.raises(ValueError, match="must be 20 bytes"):
            rpc.encode_request(op, 1, body, transaction_format=FMT)
    with pytest.raises(ValueError, match="must be 32 bytes"):  # native: still 32
        rpc.encode_request(Op.STATUS, 1, [(KEYS[0].address, 0)])


@settings(max_examples=300, deadline=None)
@given(op=st.sampled_from(list(Op)), body=st.binary(max_size=200),
       flip=st.integers(0, 2**16))
def test_hostile_frames_decode_to_an_rpc_error_only(op, body, flip):
    """Random bodies behind a valid head, and valid frames with one byte changed, decode (with
    20-byte senders) or raise RpcError: never anything else."""
    head = struct.pack("<BBI", rpc.PROTOCOL_VERSION, op, 1)
    good = rpc.encode_request(Op.STATUS, 1, [(KEYS[0].address, 2)], transaction_format=FMT)
    changed = bytearray(good)
    changed[flip % len(good)] ^= 1 + flip // len(good) % 255
    for frame in (head + body, bytes(changed), head + b"\x01" + body):
        for decode in (rpc.decode_request, rpc.decode_response):
            try:
                decode(frame, transaction_format=FMT)
            except RpcError:
                pass


def test_the_client_speaks_its_format_and_checks_senders_before_sending():
    with NodeClient("tcp://127.0.0.1:9", timeout=0.1, transaction_format=FMT) as client:
        assert client.sender_length == ADDRESS_LEN
        with pytest.raises(ValueError, match="must be 20 bytes"):
            client.status([(b"\x01" * 32, 0)])
    with NodeClient("tcp://127.0.0.1:9", timeout=0.1) as client:
        assert client.sender_length == 32 and client.transaction_format is rpc.NATIVE


# -- an "ethereum" node as a process -------------------------------------------------------------

def funded_node(tmp_path):
    """The files of one "ethereum" node (chain CHAIN_ID), its KEYS funded with BALANCE each."""
    spec = write_cluster(tmp_path, 1, mempool=MEMPOOL, transport=TRANSPORT)[0]
    with SqliteAccountStore(spec.store, address_length=ADDRESS_LEN) as store:
        store.set_accounts([(k.address, 0, BALANCE) for k in KEYS])
    return spec


@pytest.fixture
def eth_node(tmp_path):
    """One started "ethereum" node (`funded_node`); yields (client, consensus client), both
    speaking the format."""
    spec = funded_node(tmp_path)
    proc = NodeProcess(spec)
    clients = []
    try:
        wait_connected([spec], [proc], DEADLINE, expect=0)
        clients = [NodeClient(spec.client, timeout=RPC_TIMEOUT_S, transaction_format=FMT),
                   NodeClient(spec.consensus, timeout=RPC_TIMEOUT_S, transaction_format=FMT)]
        yield clients[0], clients[1]
    finally:
        for c in clients:
            c.close()
        assert proc.stop() == 0, spec.log.read_text()


def test_an_ethereum_node_serves_every_operation_with_20_byte_senders(eth_node):
    client, consensus = eth_node
    assert client.stats()["transaction_format"] == {"name": "ethereum", "sender_length": 20,
                                                    "chain_id": CHAIN_ID}
    first = [transfer(KEYS[0], 0), transfer(KEYS[1], 0, eip1559=True)]
    later = [transfer(KEYS[0], 1, eip1559=True), transfer(KEYS[1], 2)]  # KEYS[1] 2: parked
    assert [s.code for s in client.submit(first)] == [Code.VALID, Code.VALID]
    raw = [t.to_bytes() for t in later]  # raw wire bytes are submitted as they are
    assert [s.code for s in client.submit(raw)] == [Code.VALID, Code.VALID]

    txns = first + later
    assert client.status([t.pointer for t in txns])[:3] == [TxnState.READY] * 3
    assert client.status([later[1].pointer]) == [TxnState.NOT_READY]
    by_hash = client.transaction_status([t.hash for t in txns])
    assert [s.state for s in by_hash] == [TransactionState.READY] * 3 + [TransactionState.PARKED]
    assert [s.pointer for s in by_hash] == [t.pointer for t in txns]
    by_pointer = client.transaction_status([t.pointer for t in txns])
    assert [s.hash for s in by_pointer] == [t.hash for t in txns]
    account = client.account_status(KEYS[1].address)
    assert (account.sender, account.ready, account.parked, account.blocked_on) == \
        (KEYS[1].address, (0,), (2,), 1)

    block = consensus.get_block(10)
    assert all(isinstance(t, EthereumTransaction) for t in block)
    assert sorted(t.hash for t in block) == sorted(t.hash for t in txns[:3])
    excluded = consensus.get_block(10, exclude=[first[0].pointer])
    assert sorted(t.hash for t in excluded) == sorted(t.hash for t in txns[1:3])

    consensus.commit([first[0].pointer, first[1].pointer], time.time())
    poll(lambda: all(s.state is TransactionState.COMMITTED
                     for s in client.transaction_status([t.hash for t in first])),
         "both transactions committed")
    assert client.status([t.pointer for t in first]) == [TxnState.COMMITTED] * 2 or \
        client.status([t.pointer for t in first]) == [TxnState.UNKNOWN] * 2
    assert [t.hash for t in consensus.get_block(10)] == [later[0].hash]


def test_an_ethereum_node_refuses_what_is_not_its_format_and_changes_nothing(eth_node):
    client, consensus = eth_node
    good = transfer(KEYS[2], 0)
    with pytest.raises(RemoteError, match="transaction 1"):  # bytes that do not decode
        client.submit([good, b"\x02\xc0"])
    assert client.status([good.pointer]) == [TxnState.UNKNOWN]  # nothing was submitted
    other_chain = transfer(KEYS[2], 0, chain_id=CHAIN_ID + 1)
    (status,) = client.submit([other_chain])
    assert status.code == Code.INVALID_SIGNATURE and str(CHAIN_ID) in status.message
    with NodeClient(client.endpoint, timeout=RPC_TIMEOUT_S) as native:  # 32-byte senders
        with pytest.raises(RemoteError, match="not zero"):
            native.status([(b"\x01" * 32, 0)])
        with pytest.raises(RemoteError, match="not zero"):
            native.account_status(b"\x01" * 32)
        # a native transaction's bytes are not an Ethereum transaction
        from mempool_fast import SignedTransaction
        import nacl.signing
        txn = SignedTransaction.create(nacl.signing.SigningKey(b"\x01" * 32), 0)
        with pytest.raises(RemoteError, match="transaction 0"):
            native.submit([txn])
    with NodeClient(consensus.endpoint, timeout=RPC_TIMEOUT_S) as native:
        with pytest.raises(RemoteError, match="not zero"):
            native.commit([(b"\x01" * 32, 0)], time.time())
    assert client.stats()["mempool_size"] == 0


def test_a_killed_ethereum_node_gets_its_transactions_back_from_its_journal(tmp_path):
    spec = funded_node(tmp_path)
    txns = [transfer(KEYS[0], 0), transfer(KEYS[0], 1, eip1559=True), transfer(KEYS[1], 3)]
    proc = NodeProcess(spec)
    try:
        wait_connected([spec], [proc], DEADLINE, expect=0)
        with NodeClient(spec.client, timeout=RPC_TIMEOUT_S, transaction_format=FMT) as client:
            assert [s.code for s in client.submit(txns)] == [Code.VALID] * 3
        proc.kill()  # no clean shutdown: the journal is all there is
        proc.stop()
        proc = NodeProcess(spec)
        wait_connected([spec], [proc], DEADLINE, expect=0)
        with NodeClient(spec.client, timeout=RPC_TIMEOUT_S, transaction_format=FMT) as client:
            assert client.status([t.pointer for t in txns]) == \
                [TxnState.READY, TxnState.READY, TxnState.NOT_READY]
            assert [s.hash for s in client.transaction_status([t.pointer for t in txns])] == \
                [t.hash for t in txns]
            assert client.account_status(KEYS[1].address).parked == (3,)
    finally:
        assert proc.stop() == 0, spec.log.read_text()


# -- start-up without the extra ----------------------------------------------------------------

@pytest.mark.parametrize("missing", ["rlp", "coincurve", "eth_hash"])
def test_an_ethereum_node_without_the_extra_fails_with_one_line(tmp_path, missing):
    spec = write_cluster(tmp_path, 1, mempool=MEMPOOL)[0]
    code = textwrap.dedent(f"""
        import sys
        sys.modules[{missing!r}] = None  # as if it were not installed
        from mempool_fast.cli import main
        sys.exit(main(["node", "--config", {str(spec.config)!r}]))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=DEADLINE)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert HINT in lines[0] and missing in lines[0] and "transaction_format" in lines[0]
    assert "Traceback" not in proc.stderr
    assert not spec.store.exists()  # it stopped before opening anything


def test_an_ethereum_cluster_without_the_extra_fails_with_one_line(tmp_path):
    code = textwrap.dedent("""
        import sys
        sys.modules["coincurve"] = None  # as if it were not installed
        from mempool_fast.cli import main
        sys.exit(main(["cluster", "--format", "ethereum", "--nodes", "2", "--txns", "5"]))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=DEADLINE)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and HINT in proc.stderr, proc.stderr


@pytest.mark.parametrize("flags, message", [
    (["--format", "ethereum", "--chain-id", "0"], "chain_id"),
    (["--format", "bitcoin"], "invalid choice"),
])
def test_bad_cluster_flags_are_one_line_and_exit_2(tmp_path, flags, message):
    proc = subprocess.run(CLI + ["cluster", "--nodes", "2", "--txns", "5", *flags],
                          capture_output=True, text=True, cwd=tmp_path, timeout=DEADLINE)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


# -- the cluster ---------------------------------------------------------------------------------

def test_cluster_format_ethereum_converges(tmp_path):
    """A real run: 3 nodes, 40 accounts (legacy and EIP-1559), 400 transactions, chain 31337."""
    txns, accounts, chain_id = 400, 40, 31337
    workdir = tmp_path / "run"
    proc = subprocess.run(
        CLI + ["cluster", "--format", "ethereum", "--chain-id", str(chain_id), "--nodes", "3",
               "--accounts", str(accounts), "--txns", str(txns), "--json", "--seed", "3",
               "--workdir", str(workdir)],
        capture_output=True, text=True, timeout=DEADLINE, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    summary = json.loads(proc.stdout)
    assert summary["ok"] is True and summary["errors"] == []
    assert (summary["transaction_format"], summary["chain_id"]) == ("ethereum", chain_id)
    assert summary["submitted"] == summary["accepted"] == summary["statuses"]["VALID"] == txns
    assert summary["reached_all"] == summary["committed"] == txns
    assert summary["not_reached"] == 0 and summary["audit_miss"] is None
    assert summary["committed_by_hash"] == {f"node{i}": txns for i in range(3)}
    assert all(n["mempool_size"] == 0 for n in summary["nodes_final"].values())
    assert summary["node_exit_codes"] == [0, 0, 0]
    config = (workdir / "node0.toml").read_text()
    assert 'transaction_format = "ethereum"' in config and f"chain_id = {chain_id}" in config
    # every account paid for what it sent: 1 wei and 21000 gas at 1 wei, per transaction
    per_account = txns // accounts
    with sqlite3.connect(workdir / "node1.sqlite") as db:
        addresses = [address for address, in db.execute("SELECT address FROM accounts")]
    db.close()
    assert len(addresses) == accounts and {len(a) for a in addresses} == {ADDRESS_LEN}
    with SqliteAccountStore(workdir / "node1.sqlite", address_length=ADDRESS_LEN) as store:
        rows = store.get_account_states(addresses)
    assert set(rows) == {(per_account, BALANCE - per_account * (TRANSFER_GAS + 1))}


# -- the operator commands on an ethereum node -----------------------------------------------------

def cli_json(capsys, *argv) -> dict:
    """Run `mempool-fast ARGV --json` in this process; its exit code must be 0."""
    from mempool_fast.cli import main

    code = main([*argv, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def eth_operator_node(tmp_path):
    """A started "ethereum" node whose store funds the accounts `mempool-fast cluster --format
    ethereum --seed 7` funds (its first 3); yields its config file."""
    from mempool_fast.operator_cli.inputs import cluster_ethereum_keys

    spec = write_cluster(tmp_path, 1, mempool=MEMPOOL, transport=TRANSPORT)[0]
    with SqliteAccountStore(spec.store, address_length=ADDRESS_LEN) as store:
        store.set_accounts([(k.address, 0, BALANCE) for k in cluster_ethereum_keys(7, 3)])
    proc = NodeProcess(spec)
    try:
        wait_connected([spec], [proc], DEADLINE, expect=0)
        yield spec
    finally:
        assert proc.stop() == 0, spec.log.read_text()


def test_operator_commands_speak_the_nodes_format_from_its_config(eth_operator_node, capsys,
                                                                  tmp_path):
    from mempool_fast.cli import main
    from mempool_fast.operator_cli.inputs import cluster_ethereum_keys

    spec = eth_operator_node
    keys = cluster_ethereum_keys(7, 3)
    where = ["--config", str(spec.config)]  # its [mempool] says ethereum, chain CHAIN_ID
    sent = cli_json(capsys, "submit", "--generate", "6", "--accounts", "3", "--seed", "7", *where)
    assert sent["accepted"] == 6
    assert [(r["sender"], r["sequence_number"]) for r in sent["results"]] == [
        (keys[i % 3].address.hex(), i // 3) for i in range(6)]
    by_hash = cli_json(capsys, "status", *(r["hash"] for r in sent["results"]), *where)
    assert {r["state"] for r in by_hash["results"]} == {"READY"}
    pointer = f"0x{keys[1].address.hex()}:1"
    (by_pointer,) = cli_json(capsys, "status", pointer, *where)["results"]
    assert (by_pointer["state"], by_pointer["hash"]) == ("READY", sent["results"][4]["hash"])
    account = cli_json(capsys, "account", keys[2].address.hex(), *where)
    assert (account["sequence_number"], account["ready"]) == (0, [0, 1])
    # a file of raw transactions (0x-prefixed here), as --generate --write writes them
    path = tmp_path / "eth.hex"
    assert main(["submit", "--generate", "3", "--accounts", "3", "--seed", "7",
                 "--first-seq", "2", "--write", str(path), *where]) == 0
    path.write_text("".join("0x" + line + "\n" for line in path.read_text().split()))
    from_file = cli_json(capsys, "submit", str(path), *where)
    assert from_file["accepted"] == 3
    assert {r["sequence_number"] for r in from_file["results"]} == {2}
    # the same node through --client and explicit flags
    explicit = ["--client", spec.client, "--format", "ethereum", "--chain-id", str(CHAIN_ID)]
    again = cli_json(capsys, "status", pointer, *explicit)["results"][0]
    assert again["hash"] == by_pointer["hash"]
    assert cli_json(capsys, "txpool", *where)["pending"]


@pytest.mark.parametrize("argv, expect", [
    (["account", "00" * 32, "--format", "ethereum"], "is 32 bytes, not 20"),
    (["status", "ab" * 20 + ":1"], "is 20 bytes, not 32"),  # native by default
    (["status", "ab" * 32, "--chain-id", "5"], "--chain-id is for an ethereum node"),
    (["status", "ab" * 32, "--format", "ethereum", "--chain-id", "0"], "--chain-id must be"),
])
def test_operator_format_mistakes_are_one_line_and_exit_2(capsys, argv, expect):
    from mempool_fast.cli import main

    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and expect in err, err
