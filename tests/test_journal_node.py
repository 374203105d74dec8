"""A node process SIGKILLed at random moments under client load loses none of the
transactions it acknowledged: after each restart every VALID-acknowledged transaction is
pending again (replayed from the journal through validation)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading

import pytest

from conftest import wait_until
from mempool_fast import MempoolAddTransactionStatusCode as Code
from mempool_fast.client import NodeClient, RpcTimeout
from mempool_fast.cluster import NodeProcess, write_cluster
from mempool_fast.rpc import RpcError, TxnState
from mempool_fast.storage import SqliteAccountStore

PENDING = {TxnState.NOT_READY, TxnState.READY, TxnState.NON_QUALIFIED}
FUNDED = 200  # accounts; each client batch takes the next BATCH_ACCOUNTS of them in turn
BATCH_ACCOUNTS = 10
SEQS = 3  # consecutive sequence numbers per account per batch


class Workload:
    """Fresh signed batches on demand: each account's sequence numbers keep increasing."""

    def __init__(self, accounts) -> None:
        self.accounts = accounts
        self.next_seq = [0] * FUNDED
        self.batches = 0

    def addresses(self):
        return [self.accounts.address(i) for i in range(FUNDED)]

    def next_batch(self):
        first = self.batches * BATCH_ACCOUNTS % FUNDED
        self.batches += 1
        batch = []
        for a in range(first, first + BATCH_ACCOUNTS):
            batch += [self.accounts.txn(a, self.next_seq[a] + s) for s in range(SEQS)]
            self.next_seq[a] += SEQS
        return batch


class Load:
    """A client thread submitting fresh signed batches until stopped; records what was
    acknowledged VALID. Errors (the node died mid-request) acknowledge nothing."""

    def __init__(self, endpoint, workload: Workload) -> None:
        self.endpoint = endpoint
        self.workload = workload
        self.acked: list = []
        self.sent = 0
        self.error = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="journal-load")

    def start(self) -> "Load":
        self._thread.start()
        return self

    def _run(self) -> None:
        client = NodeClient(self.endpoint, timeout=2.0)
        try:
            while not self._stop.is_set():
                batch = self.workload.next_batch()
                self.sent += 1
                try:
                    statuses = client.submit(batch)
                except (RpcTimeout, RpcError) as exc:
                    self.error = exc
                    return  # the node is gone: this batch was never acknowledged
                self.acked += [t for t, s in zip(batch, statuses) if s.code == Code.VALID]
        finally:
            client.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def node_answers(endpoint) -> bool:
    with NodeClient(endpoint, timeout=0.5) as client:
        try:
            client.stats()
            return True
        except RpcTimeout:
            return False


def kill_and_recover(tmp_path, accounts, kills: int, seed: int):
    rng = random.Random(seed)
    [spec] = write_cluster(tmp_path, 1, mempool={"journal_fsync": "always",
                                                  "capacity_per_user": 1_000_000})
    workload = Workload(accounts)
    with SqliteAccountStore(spec.store) as store:
        store.set_accounts([(address, 0, 10**12) for address in workload.addresses()])
    acked: list = []
    lost: set = set()
    survived = 0
    proc = None
    try:
        for _ in range(kills):
            proc = NodeProcess(spec)
            assert wait_until(lambda: node_answers(spec.client), timeout=20), spec.log.read_text()
            with NodeClient(spec.client, timeout=5.0) as client:
                states = client.status([t.pointer for t in acked]) if acked else []
            lost |= {t.pointer for t, s in zip(acked, states) if s not in PENDING}
            load = Load(spec.client, workload).start()
            assert wait_until(lambda: load.sent >= 2, timeout=20), load.error
            threading.Event().wait(rng.uniform(0.0, 0.3))  # a random moment under load
            proc.kill()
            survived += 1
            load.stop()
            acked += load.acked
        proc = NodeProcess(spec)
        assert wait_until(lambda: node_answers(spec.client), timeout=20)
        with NodeClient(spec.client, timeout=5.0) as client:
            states = client.status([t.pointer for t in acked])
        lost |= {t.pointer for t, s in zip(acked, states) if s not in PENDING}
    finally:
        if proc is not None:
            proc.stop()
    return survived, len(acked), lost


def test_sigkill_under_load_loses_no_acknowledged_transaction(tmp_path, accounts):
    survived, acked, lost = kill_and_recover(tmp_path, accounts, kills=3, seed=7)
    print(f"kills survived: {survived}, acknowledged: {acked}, lost: {len(lost)}")
    assert survived == 3 and acked > 0
    assert not lost, f"{len(lost)} of {acked} acknowledged transactions lost"


@pytest.mark.slow
def test_sigkill_many_times_loses_nothing(tmp_path, accounts):
    kills = int(os.environ.get("JOURNAL_KILLS", "40"))
    survived, acked, lost = kill_and_recover(tmp_path, accounts, kills=kills, seed=11)
    print(f"kills survived: {survived}, acknowledged: {acked}, lost: {len(lost)}")
    assert survived == kills and not lost


ORCHESTRATOR = """
import sys
from pathlib import Path
from mempool_fast.cluster import NodeProcess, write_cluster
[spec] = write_cluster(Path(sys.argv[1]), 1)
print(NodeProcess(spec).pid, spec.client, flush=True)
sys.stdin.read()  # until the test kills this process
"""


def process_gone(pid: int) -> bool:
    """The process has exited (a zombie nobody reaped yet counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_sigkilled_orchestrator_leaves_no_node_behind(tmp_path):
    orchestrator = subprocess.Popen([sys.executable, "-c", ORCHESTRATOR, str(tmp_path)],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    node_pid = None
    try:
        node_pid, endpoint = orchestrator.stdout.readline().split()
        node_pid = int(node_pid)
        assert wait_until(lambda: node_answers(endpoint), timeout=20)
        orchestrator.kill()
        orchestrator.wait()
        assert wait_until(lambda: process_gone(node_pid), timeout=15)
    finally:
        if orchestrator.poll() is None:
            orchestrator.kill()
            orchestrator.wait()
        if node_pid is not None and not process_gone(node_pid):
            os.kill(node_pid, signal.SIGKILL)
        orchestrator.stdin.close()
        orchestrator.stdout.close()
