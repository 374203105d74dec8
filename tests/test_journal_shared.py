"""The journal wired into SharedMempool: what the client path acknowledges is on disk, what
commits, is rejected or leaves the core is forgotten, and a restart brings back exactly the
acknowledged, uncommitted transactions."""

from __future__ import annotations

import threading

import pytest

from conftest import wait_until
from mempool_fast import MempoolAddTransactionStatusCode as Code, MempoolConfig
from mempool_fast.journal import TransactionJournal, recover
from mempool_fast.network.inprocess import InProcessNetwork
from mempool_fast.shared import SharedMempool
from mempool_fast.storage import InMemoryAccountStore

BALANCE = 10**12


@pytest.fixture
def node_factory(core_cls, clock, accounts, tmp_path):
    """make() builds an unstarted SharedMempool with a journal at tmp_path/'j' (reopened on
    every call, as a restarted node would) and one account store shared by every call."""
    store = InMemoryAccountStore()
    for index in range(6):
        store.set_account(accounts.address(index), 0, BALANCE)
    opened = []

    def make(accounts_from=None, **fields):
        config = MempoolConfig(**{"journal_compact_min_bytes": 0, **fields})
        journal = TransactionJournal.from_config(tmp_path / "j", config, clock=clock)
        opened.append(journal)
        node = SharedMempool(config, InProcessNetwork().endpoint("a"),
                             accounts_from or store, journal=journal,
                             mempool=core_cls(config, clock=clock), clock=clock)
        return node, journal

    yield make, store
    for journal in opened:
        journal.close()


def pointers(txns):
    return {t.pointer for t in txns}


def test_only_valid_client_transactions_are_journaled(node_factory, accounts):
    make, _ = node_factory
    node, journal = make()
    good = [accounts.txn(0, 0), accounts.txn(0, 1), accounts.txn(1, 0)]
    unknown_sender = accounts.txn(9, 0)
    statuses = node.submit_transactions(good + [unknown_sender])
    assert [s.code for s in statuses] == [Code.VALID] * 3 + [Code.UNKNOWN_ACCOUNT]
    assert set(journal.pointers()) == pointers(good)


def test_commit_and_reject_forget(node_factory, accounts):
    make, store = node_factory
    node, journal = make()
    txns = [accounts.txn(0, 0), accounts.txn(1, 0), accounts.txn(2, 0)]
    node.submit_transactions(txns)
    node.commit_transactions([txns[0].pointer], 0, rejected=[txns[1].pointer])
    assert set(journal.pointers()) == {txns[2].pointer}


def test_gc_forgets_what_left_the_core_and_compacts(node_factory, accounts, clock):
    make, _ = node_factory
    node, journal = make(system_transaction_timeout_secs=10,
                         journal_compact_dead_fraction=0.5)
    old = [accounts.txn(0, s) for s in range(3)]
    node.submit_transactions(old)
    clock.advance(5)
    young = [accounts.txn(1, 0)]
    node.submit_transactions(young)
    size_before = journal.file_size()
    clock.advance(6)
    assert node.gc() == 3
    assert set(journal.pointers()) == pointers(young)
    assert journal.stats().compactions >= 1
    assert journal.file_size() < size_before


def test_restart_recovers_exactly_the_acknowledged_uncommitted(node_factory, accounts, clock):
    make, store = node_factory
    node, journal = make()
    txns = [accounts.txn(i, s) for i in range(4) for s in range(3)]
    assert all(s.code == Code.VALID for s in node.submit_transactions(txns))
    # account 0 commits two transactions (the store moves on); account 1's first is rejected,
    # which drops its successors from the core too
    node.commit_transactions([txns[1].pointer], 0, rejected=[txns[3].pointer])
    store.set_account(accounts.address(0), 2, BALANCE)
    replaced = accounts.txn(2, 1, gas_price=5)
    assert node.submit_transactions([replaced])[0].code == Code.VALID
    expected = {t.pointer: t for t in txns[2:] if t.sender != accounts.address(1)}
    expected[replaced.pointer] = replaced
    journal.close()  # the process ends; nothing else is written

    restarted, journal2 = make()
    report = recover(journal2, restarted.submit_transactions, store.get_account_states, clock)
    held = {p: restarted.mempool.get(*p) for p in expected}
    assert held == expected, report
    assert len(restarted.mempool) == len(expected)
    assert set(journal2.pointers()) == set(expected)


def test_failed_append_acknowledges_nothing(node_factory, accounts):
    make, _ = node_factory
    node, journal = make()
    journal.close()  # every later append raises
    with pytest.raises(Exception) as info:
        node.submit_transactions([accounts.txn(0, 0)])
    assert "closed" in str(info.value).lower()


def test_batch_policy_syncs_a_quiet_tail_on_a_timer(node_factory, accounts):
    make, _ = node_factory
    node, journal = make(journal_fsync="batch", journal_fsync_interval_ms=20)
    # the fake clock never moves, so the append itself does not fsync; the timer must
    with node:
        assert node.submit_transactions([accounts.txn(0, 0)])[0].code == Code.VALID
        assert journal.stats().fsyncs == 0
        assert wait_until(lambda: journal.stats().fsyncs >= 1, timeout=10)
    assert not any(t.name.startswith("smp-journal") for t in threading.enumerate())


def test_commits_compact_the_journal_once_mostly_dead(node_factory, accounts):
    make, _ = node_factory
    node, journal = make(journal_compact_dead_fraction=0.5)
    txns = [accounts.txn(i, 0) for i in range(4)]
    node.submit_transactions(txns)
    size_before = journal.file_size()
    node.commit_transactions([t.pointer for t in txns[:3]], 0)
    assert journal.stats().compactions == 1
    assert journal.file_size() < size_before
    assert journal.replay() == [txns[3]]


def test_a_replay_the_store_cannot_vouch_for_is_held_not_forgotten(node_factory, accounts,
                                                                   clock):
    """A restart with an account store that does not know an account (replaced, or not yet
    synced) keeps its journaled transactions and offers them again once it does."""
    make, store = node_factory
    node, journal = make()
    txns = [accounts.txn(0, 0), accounts.txn(1, 0)]
    assert all(s.code == Code.VALID for s in node.submit_transactions(txns))
    journal.close()

    stranger = InMemoryAccountStore()  # the restarted node reads another store
    stranger.set_account(accounts.address(1), 0, BALANCE)
    node2, journal2 = make(accounts_from=stranger, journal_held_retry_interval_ms=20)
    report = node2.recover_journal()
    assert (report.unknown_account, report.held, report.accepted) == (1, 1, 1)
    assert node2.held_transactions() == 1
    assert set(journal2.pointers()) == pointers(txns)  # nothing acknowledged was forgotten
    assert txns[0].pointer not in node2.mempool
    stranger.set_account(accounts.address(0), 0, BALANCE)  # the account appears
    with node2:
        assert wait_until(lambda: txns[0].pointer in node2.mempool)
        assert wait_until(lambda: node2.held_transactions() == 0)
    assert set(journal2.pointers()) == pointers(txns)


def test_removals_forget_exactly_what_left_even_below_the_committed_one(node_factory,
                                                                       accounts):
    """A commit that names only the highest sequence number forgets the lower ones too."""
    make, _ = node_factory
    node, journal = make()
    txns = [accounts.txn(0, s) for s in range(5)]
    node.submit_transactions(txns)
    node.commit_transactions([txns[3].pointer], 0)
    assert set(journal.pointers()) == {txns[4].pointer}


def test_a_replaced_transaction_is_forgotten_but_not_its_replacement(node_factory, accounts):
    make, _ = node_factory
    node, journal = make()
    cheap, dear = accounts.txn(0, 0, gas_price=1), accounts.txn(0, 0, gas_price=9)
    node.submit_transactions([cheap])
    assert node.submit_transactions([dear])[0].code == Code.VALID
    assert journal.replay() == [dear]


def test_a_peer_replacing_a_client_transaction_forgets_the_journaled_one(node_factory,
                                                                        accounts):
    from mempool_fast.shared.protocol import BroadcastRequest

    make, _ = node_factory
    node, journal = make()
    cheap, dear = accounts.txn(0, 0, gas_price=1), accounts.txn(0, 0, gas_price=9)
    node.submit_transactions([cheap])
    node.process_broadcast("peer", BroadcastRequest(0, 1, (dear.to_bytes(),)))
    assert node.mempool.get(*dear.pointer) == dear
    assert journal.replay() == []  # the journaled one left the pool; the peer's is not ours


def test_compaction_never_runs_inside_a_request_of_a_running_node(node_factory, accounts):
    make, _ = node_factory
    node, journal = make(journal_compact_dead_fraction=0.5)
    callers = []
    compact = journal.compact_if_due

    def recording():
        callers.append(threading.current_thread().name)
        return compact()

    journal.compact_if_due = recording
    txns = [accounts.txn(i, 0) for i in range(4)]
    with node:
        node.submit_transactions(txns)
        node.commit_transactions([t.pointer for t in txns[:3]], 0)  # mostly dead now
        assert wait_until(lambda: journal.stats().compactions == 1)
    assert callers and all(name.startswith("smp-journal") for name in callers), callers
    assert journal.replay() == [txns[3]]


# -- the binding's in-flight bookkeeping (removals racing an append) --
def _binding(tmp_path, name="b"):
    from mempool_fast.shared.durability import JournalBinding

    journal = TransactionJournal(tmp_path / name, fsync="never")
    return JournalBinding(journal, retry_interval_s=1.0), journal


class _Worker:
    """One thread of its own that runs calls in order (the binding registers per thread):
    `call(fn, *args)` waits for the result, `start(fn, *args)` does not."""

    def __init__(self):
        import queue

        self._jobs = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, args, done, out = job
            try:
                out.append(fn(*args))
            finally:
                done.set()

    def start(self, fn, *args):
        done, out = threading.Event(), []
        self._jobs.put((fn, args, done, out))
        return done, out

    def call(self, fn, *args):
        done, out = self.start(fn, *args)
        assert done.wait(10)
        return out[0] if out else None

    def close(self):
        self._jobs.put(None)
        self._thread.join()


def _remove(binding, removals):
    """What GuardedCore does with a removal: mark it under the core lock, deliver it after."""
    binding.removed_locked(removals)
    binding.removed(removals)


def test_a_removal_while_the_batch_is_in_flight_is_forgotten_right_after_the_write(tmp_path,
                                                                                   accounts):
    from mempool_fast.types import RemovalReason

    binding, journal = _binding(tmp_path)
    with journal:
        x, y, z = accounts.txn(0, 0), accounts.txn(1, 0), accounts.txn(2, 0)
        journal.append([z])
        binding.accepted_locked([x, y])
        _remove(binding, [(x, RemovalReason.COMMITTED), (z, RemovalReason.COMMITTED)])
        assert set(journal.pointers()) == set()  # z (not in flight) at once; x waits
        binding.append([x, y])
        assert set(journal.pointers()) == {y.pointer}
        _remove(binding, [(y, RemovalReason.REJECTED)])  # nothing in flight: at once
        assert len(journal) == 0


def test_a_transaction_accepted_again_before_the_write_is_not_forgotten(tmp_path, accounts):
    """Removed while its batch is in flight, then accepted again by another request (it is back
    in the pool): neither append may drop it."""
    from mempool_fast.types import RemovalReason

    binding, journal = _binding(tmp_path)
    with journal:
        x = accounts.txn(0, 0)
        other = _Worker()
        binding.accepted_locked([x])
        _remove(binding, [(x, RemovalReason.REJECTED)])
        other.call(binding.accepted_locked, [x])  # resubmitted, back in the pool
        binding.append([x])
        other.call(binding.append, [x])
        other.close()
        assert journal.replay() == [x]
        _remove(binding, [(x, RemovalReason.COMMITTED)])  # its later removal forgets it
        assert len(journal) == 0


def test_a_removal_delivered_after_the_transaction_was_admitted_again_keeps_it(tmp_path,
                                                                               accounts):
    """The core removes x, releases its lock, and before the removal reaches the binding a
    client admits x again: the late delivery must not drop the journaled x from the pool."""
    from mempool_fast.types import RemovalReason

    binding, journal = _binding(tmp_path)
    with journal:
        x = accounts.txn(0, 0)
        binding.accepted_locked([x])
        binding.append([x])
        removal = [(x, RemovalReason.COMMITTED)]
        binding.removed_locked(removal)  # under the core lock
        binding.accepted_locked([x])  # the next holder of the core lock admits it again
        binding.append([x])
        binding.removed(removal)  # the first removal is delivered only now
        assert journal.replay() == [x]
        _remove(binding, [(x, RemovalReason.REJECTED)])  # its own removal forgets it
        assert len(journal) == 0


def test_concurrent_batches_holding_one_transaction_all_see_its_removal(tmp_path, accounts):
    from mempool_fast.types import RemovalReason

    binding, journal = _binding(tmp_path)
    with journal:
        x, y = accounts.txn(0, 0), accounts.txn(1, 0)
        other = _Worker()
        other.call(binding.accepted_locked, [x, y])
        binding.accepted_locked([x])
        _remove(binding, [(x, RemovalReason.EVICTED)])
        binding.append([x])  # forgets x after writing it...
        assert set(journal.pointers()) == set()
        other.call(binding.append, [x, y])  # ...and so does the other appender after its write
        other.close()
        assert journal.replay() == [y]
        assert journal.stats().appended_txns == 3 and journal.stats().forgotten == 2


def test_a_batch_accepted_but_never_appended_does_not_keep_removals_forever(tmp_path,
                                                                            accounts):
    """A request that failed between admission and its append leaves a registration behind;
    the thread's next batch drops it and forgets what left the pool meanwhile."""
    from mempool_fast.types import RemovalReason

    binding, journal = _binding(tmp_path)
    with journal:
        x, w = accounts.txn(0, 0), accounts.txn(1, 0)
        journal.append([x])  # journaled by an earlier request
        binding.accepted_locked([x])  # resubmitted; this request then fails before appending
        _remove(binding, [(x, RemovalReason.COMMITTED)])
        assert x.pointer in journal
        binding.accepted_locked([w])
        assert x.pointer not in journal
        binding.append([w])
        _remove(binding, [(w, RemovalReason.COMMITTED)])
        assert len(journal) == 0


def test_a_commit_between_admission_and_append_forgets_after_the_write(node_factory, accounts):
    """Through the shared mempool: a transaction committed after the core admitted it but
    before its batch reached the journal is written, then forgotten; its batch-mate stays."""
    make, _ = node_factory
    node, journal = make()
    x, y = accounts.txn(0, 0), accounts.txn(1, 0)
    append_unsynced = journal.append_unsynced
    commits = []

    def commit_first(txns):
        if not commits:
            commits.append(node.commit_transactions([x.pointer], 0))
        return append_unsynced(txns)

    journal.append_unsynced = commit_first
    assert [s.code for s in node.submit_transactions([x, y])] == [Code.VALID] * 2
    assert commits == [0] and x.pointer not in node.mempool
    assert journal.replay() == [y]
    assert journal.stats().appended_txns == 2 and journal.stats().forgotten == 1
