"""SharedMempool over Ethereum transactions (formats.EthereumFormat), on every core.

The shared-mempool rules with real transactions signed by eth-account (legacy EIP-155 and
EIP-1559, signed once per module and cached): submission, nonce order, parking, replacement by
price, the balance check including the value, commit, GC, the status API and watches with
20-byte senders; a 3-node in-process cluster converging; a native node and an Ethereum node
refusing each other's link (HELLO format) with nothing exchanged; an Ethereum journal replayed
after a restart, and a native journal refused by an Ethereum node. Skipped as a whole without
the `ethereum` extra or eth-account.
"""

from __future__ import annotations

import functools
import logging
import sys
import time

import pytest

from mempool_fast.formats import ethereum as eth

try:
    eth.load_dependencies()
    _limit = sys.getrecursionlimit()
    import eth_account  # py_ecc, under it, raises the recursion limit at import:
    sys.setrecursionlimit(_limit)  # keep the suite's
except ImportError as _exc:
    pytest.skip(f"the ethereum extra or eth-account is not installed ({_exc}); "
                "pip install 'mempool_fast[ethereum]' eth-account", allow_module_level=True)

from conftest import FakeClock, wait_until
from mempool_fast import MempoolConfig, MempoolAddTransactionStatusCode as Code, TimelineState
from mempool_fast.journal import JournalFormatMismatch, TransactionJournal
from mempool_fast.network.base import EventKind, NetworkEvent
from mempool_fast.network.inprocess import InProcessNetwork
from mempool_fast.shared import SharedMempool
from mempool_fast.shared.protocol import (LEGACY_NATIVE_FORMAT, MSG_HELLO, BroadcastRequest,
                                          Hello, decode, encode, hello_format)
from mempool_fast.status import DropReason, TransactionEventKind, TransactionState
from mempool_fast.storage import InMemoryAccountStore, SqliteAccountStore
from mempool_fast.validation import Ed25519Validator

Account = eth_account.Account
EthereumFormat = eth.EthereumFormat
CHAIN = 1337
GWEI = 10**9
GAS = 21_000
TO = "0x" + "22" * 20
FOREVER_MS = 10**9
#: 1000 ether: far above 2**64 wei, so every balance read is a big one
BALANCE = 1000 * 10**18
ACCOUNTS = [Account.from_key(bytes([i + 1]) * 32) for i in range(6)]


def address(index: int) -> bytes:
    return bytes.fromhex(ACCOUNTS[index].address[2:])


@functools.cache
def _raw(index: int, nonce: int, price: int, value: int, kind: str, chain: int) -> bytes:
    account = ACCOUNTS[index]
    if kind == "legacy":
        fields = dict(nonce=nonce, gasPrice=price, gas=GAS, to=TO, value=value, chainId=chain)
    else:
        fields = dict(type=2, chainId=chain, nonce=nonce, maxPriorityFeePerGas=price,
                      maxFeePerGas=2 * price, gas=GAS, to=TO, value=value)
    return bytes(account.sign_transaction(fields).raw_transaction)


FORMAT = EthereumFormat(CHAIN)


def txn(index: int, nonce: int, *, price: int = GWEI, value: int = 1, kind: str = "legacy",
        chain: int = CHAIN) -> eth.EthereumTransaction:
    """A signed transaction (the signature cached per module), freshly decoded."""
    return FORMAT.decode(_raw(index, nonce, price, value, kind, chain))


def eth_config(**fields) -> MempoolConfig:
    base = dict(transaction_format="ethereum", chain_id=CHAIN,
                shared_mempool_tick_interval_ms=FOREVER_MS,
                system_transaction_gc_interval_ms=FOREVER_MS, shared_mempool_batch_size=2,
                shared_mempool_max_concurrent_inbound_syncs=4,
                shared_mempool_poll_interval_ms=20)
    base.update(fields)
    return MempoolConfig(**base)


def eth_store(accounts=range(len(ACCOUNTS)), balance: int = BALANCE) -> InMemoryAccountStore:
    store = InMemoryAccountStore(address_length=20)
    for index in accounts:
        store.set_account(address(index), 0, balance)
    return store


@pytest.fixture
def make_node(core_cls, clock):
    """make_node(name="a", hub=None, store=None, config=None, **kwargs) -> SharedMempool of
    the test's core over Ethereum transactions (stopped at the end)."""
    made = []

    def make(name="a", *, hub=None, store=None, config=None, start=False, clock=clock,
             **kwargs):
        cfg = config or eth_config()
        hub = hub if hub is not None else InProcessNetwork()
        node = SharedMempool(cfg, hub.endpoint(name), store if store is not None else eth_store(),
                             transaction_format=FORMAT,
                             mempool=core_cls(cfg, clock=clock, transaction_format=FORMAT),
                             clock=clock, **kwargs)
        made.append(node)
        if start:
            node.start()
        return node

    yield make
    for node in made:
        node.stop()


def codes(statuses):
    return [s.code for s in statuses]


# ------------------------------------------------------------------------ the client path
def test_nonce_order_parking_and_promotion(make_node):
    node = make_node()
    t0, t1, t2 = txn(0, 0), txn(0, 1), txn(0, 2)
    assert codes(node.submit_transactions([t0, t2])) == [Code.VALID, Code.VALID]
    assert node.transaction_status(t2.hash).state is TransactionState.PARKED
    assert "waiting for sequence number 1" in node.transaction_status(t2.hash).detail
    account = node.account_status(address(0))
    assert (account.ready, account.parked, account.blocked_on) == ((0,), (2,), 1)
    assert node.get_block(10) == [t0]
    assert codes(node.submit_transactions([t1])) == [Code.VALID]
    assert node.get_block(10) == [t0, t1, t2]
    assert node.transaction_status((address(0), 2)).state is TransactionState.READY
    assert node.mempool.parking_lot_size() == 0


def test_get_block_orders_accounts_by_tip(make_node):
    node = make_node()
    cheap, dear, mid = txn(1, 0, price=GWEI), txn(2, 0, price=5 * GWEI, kind="eip1559"), \
        txn(3, 0, price=3 * GWEI)
    assert codes(node.submit_transactions([cheap, dear, mid])) == [Code.VALID] * 3
    assert dear.gas_unit_price == 5 * GWEI  # EIP-1559: the tip (base fee 0)
    assert node.get_block(10) == [dear, mid, cheap]
    assert node.get_block(1, exclude=[(address(2), 0)]) == [mid]


def test_replacement_by_price_and_its_status(make_node):
    node = make_node()
    old = txn(0, 0, price=GWEI, value=1)
    assert codes(node.submit_transactions([old])) == [Code.VALID]
    # Ethereum may replace anything (geth): another value, a higher price
    new = txn(0, 0, price=2 * GWEI, value=7)
    assert codes(node.submit_transactions([txn(0, 0, price=GWEI, value=9)])) == \
        [Code.INVALID_UPDATE]
    assert codes(node.submit_transactions([new])) == [Code.VALID]
    assert node.mempool.get(address(0), 0) == new
    status = node.transaction_status(old.hash)
    assert (status.state, status.reason) == (TransactionState.DROPPED, DropReason.REPLACED)
    assert new.hash.hex() in status.detail
    assert node.transaction_status((address(0), 0)).hash == new.hash
    assert codes(node.submit_transactions([new])) == [Code.VALID]  # identical: no change
    assert len(node.mempool) == 1


def test_balance_covers_value_and_gas_exactly(make_node):
    price, value = 2 * GWEI, 3 * 10**20  # both far above u64 together
    cost = value + GAS * price
    store = eth_store([0], balance=cost)
    store.set_account(address(1), 0, cost - 1)
    node = make_node(store=store)
    assert codes(node.submit_transactions([txn(0, 0, price=price, value=value),
                                           txn(1, 0, price=price, value=value)])) == \
        [Code.VALID, Code.INSUFFICIENT_BALANCE]
    # the account's pending cost counts: one more of any value is too much
    assert codes(node.submit_transactions([txn(0, 1, price=price, value=0)])) == \
        [Code.INSUFFICIENT_BALANCE]
    assert FORMAT.max_cost(txn(0, 0, price=price, value=value)) == cost


def test_commit_gc_and_no_client_expiration(make_node, clock):
    cfg = eth_config(system_transaction_timeout_secs=100)
    node = make_node(config=cfg)
    txns = [txn(0, n) for n in range(3)] + [txn(1, 0)]
    assert codes(node.submit_transactions(txns)) == [Code.VALID] * 4
    assert all(t.expiration_time is None for t in txns)
    # a block time far in the future expires nothing: Ethereum transactions have no
    # client expiration
    assert node.commit_transactions([(address(0), 0)], block_time=4e9) == 0
    assert node.transaction_status(txns[0].hash).state is TransactionState.COMMITTED
    assert len(node.mempool) == 3
    assert node.mempool.sequence_number(address(0)) == 1
    clock.advance(101)
    assert node.gc() == 3
    status = node.transaction_status(txns[3].hash)
    assert (status.state, status.reason) == (TransactionState.DROPPED, DropReason.SYSTEM_TTL)
    assert node.inspect()["history"]["by_reason"] == {"system_ttl": 3}
    assert node.commit_transactions([], 0, rejected=[(address(1), 0)]) == 0


def test_bad_inputs_are_clear_errors_and_change_nothing(make_node, core_cls, clock):
    node = make_node()
    t = txn(0, 0)
    with pytest.raises(TypeError, match="EthereumTransaction.*decode"):
        node.submit_transactions([t, t.to_bytes()])
    with pytest.raises(TypeError, match="EthereumTransaction"):
        node.submit_transactions([object()])
    assert len(node.mempool) == 0
    with pytest.raises(ValueError, match="20 bytes"):
        node.commit_transactions([(b"\x01" * 32, 0)], 0)
    with pytest.raises(ValueError, match="20 bytes"):
        node.account_status(b"\x01" * 32)
    with pytest.raises(ValueError, match="20 bytes"):
        node.transaction_status((b"\x01" * 32, 0))
    cfg = eth_config()
    hub = InProcessNetwork()
    validator = Ed25519Validator()
    try:
        with pytest.raises(ValueError, match="validator= is for the native"):
            SharedMempool(cfg, hub.endpoint("x1"), eth_store(), transaction_format=FORMAT,
                          validator=validator)
    finally:
        validator.close()
    with pytest.raises(ValueError, match="indexes transaction format 'native'"):
        SharedMempool(cfg, hub.endpoint("x2"), eth_store(), transaction_format=FORMAT,
                      mempool=core_cls(MempoolConfig(), clock=clock))
    with pytest.raises(ValueError, match="32-byte addresses"):
        SharedMempool(cfg, hub.endpoint("x3"), InMemoryAccountStore(),
                      transaction_format=FORMAT)
    with pytest.raises(ValueError, match="must agree"):
        SharedMempool(MempoolConfig(), hub.endpoint("x4"), eth_store(),
                      transaction_format=FORMAT)
    with pytest.raises(ValueError, match="20-byte addresses"):  # a native pool, Ethereum store
        SharedMempool(MempoolConfig(), hub.endpoint("x5"), eth_store())


def test_the_config_alone_makes_an_ethereum_pool(tmp_path):
    cfg = eth_config()
    store = SqliteAccountStore(tmp_path / "accounts.db", address_length=20)
    store.set_account(address(0), 0, BALANCE)
    node = SharedMempool(cfg, InProcessNetwork().endpoint("a"), store)
    try:
        assert node.transaction_format.name == "ethereum"
        assert node.validator is None
        assert node.mempool.transaction_format.sender_length == 20
        assert codes(node.submit_transactions([txn(0, 0), txn(0, 1, chain=1)])) == \
            [Code.VALID, Code.INVALID_SIGNATURE]
        assert node.get_block(5) == [txn(0, 0)]
    finally:
        node.stop()
        store.close()


def test_the_async_facade_forwards_the_format(core_cls, clock):
    import asyncio

    from mempool_fast.aio import AsyncSharedMempool

    cfg = eth_config()

    async def scenario():
        async with AsyncSharedMempool(
                cfg, InProcessNetwork().endpoint("a"), eth_store(), transaction_format=FORMAT,
                mempool=core_cls(cfg, clock=clock, transaction_format=FORMAT),
                clock=clock) as amp:
            assert amp.shared.transaction_format is FORMAT
            assert codes(await amp.submit_transactions([txn(0, 0)])) == [Code.VALID]
            assert await amp.get_block(5) == [txn(0, 0)]

    asyncio.run(scenario())


def test_watch_with_20_byte_senders(make_node):
    node = make_node()
    t0, t1 = txn(4, 0), txn(4, 1)
    with node.watch(accounts=[address(4)]) as watch, node.watch([(address(4), 1)]) as one:
        assert codes(node.submit_transactions([t1, t0])) == [Code.VALID] * 2
        node.commit_transactions([(address(4), 0)], 0)
        kinds = [(e.kind, e.pointer[1]) for e in iter(lambda: watch.get(timeout=0), None)]
        assert (TransactionEventKind.ADMITTED, 0) in kinds
        assert (TransactionEventKind.COMMITTED, 0) in kinds
        events = list(iter(lambda: one.get(timeout=0), None))
        assert [e.kind for e in events][:1] == [TransactionEventKind.ADMITTED]
        assert {e.pointer for e in events} == {(address(4), 1)}


# ------------------------------------------------------------------------ peers
def test_three_nodes_converge_on_ethereum_transactions(make_node):
    hub = InProcessNetwork()
    cfg = eth_config(shared_mempool_tick_interval_ms=5, shared_mempool_ack_timeout_ms=200)
    store = eth_store()
    names = ("e0", "e1", "e2")
    nodes = {n: make_node(n, hub=hub, store=store, config=cfg, clock=time.time, start=True)
             for n in names}
    hub.connect_all(names)
    accepted = []
    for nonce in range(4):
        for index in range(len(ACCOUNTS)):
            t = txn(index, nonce, kind="eip1559" if (index + nonce) % 2 else "legacy")
            node = nodes[names[(index + nonce) % 3]]
            assert codes(node.submit_transactions([t])) == [Code.VALID]
            accepted.append(t)

    def converged():
        return all(all(node.mempool.get(t.sender, t.sequence_number) == t for t in accepted)
                   for node in nodes.values())

    assert wait_until(converged, timeout=30)
    for node in nodes.values():
        assert len(node.mempool) == len(accepted)
        assert node.counters()["refused_peer_messages"] == 0
        assert node.counters()["malformed_transactions"] == 0
        block = node.get_block(len(accepted))
        assert sorted((t.sender, t.nonce) for t in block) == \
            sorted((t.sender, t.nonce) for t in accepted)


def test_native_and_ethereum_nodes_refuse_each_other(make_node, core_cls, clock, accounts,
                                                    caplog):
    hub = InProcessNetwork()
    native_cfg = MempoolConfig(shared_mempool_tick_interval_ms=FOREVER_MS,
                               system_transaction_gc_interval_ms=FOREVER_MS,
                               shared_mempool_poll_interval_ms=20)
    native_store = InMemoryAccountStore()
    native_store.set_account(accounts.address(0), 0, 10**12)
    native = SharedMempool(native_cfg, hub.endpoint("n"), native_store,
                           mempool=core_cls(native_cfg, clock=clock), clock=clock)
    ether = make_node("e", hub=hub)
    caplog.set_level(logging.WARNING, logger="mempool_fast.shared.peer_messages")
    with native:
        ether.start()
        hub.connect("n", "e")
        assert wait_until(lambda: native.counters()["refused_peer_messages"] >= 1
                          and ether.counters()["refused_peer_messages"] >= 1)
        assert codes(native.submit_transactions([accounts.txn(0, 0)])) == [Code.VALID]
        assert codes(ether.submit_transactions([txn(0, 0)])) == [Code.VALID]
        for _ in range(3):
            native.sync_with_peers()
            ether.sync_with_peers()
        # nothing but the HELLOs went over the link, either way
        for node in (native, ether):
            counts = node.counters()
            assert (counts["sent_batches"], counts["received_batches"],
                    counts["acks_received"]) == (0, 0, 0), counts
            assert len(node.mempool) == 1
        assert native.inspect()["peers"]["e"]["refused_format"] == "ethereum"
        assert ether.inspect()["peers"]["n"]["refused_format"] == "native"
        assert native.in_flight("e") == [] and ether.in_flight("n") == []
        # a second link-up and HELLO of the same peer: still refused, logged only once
        hub.disconnect("n", "e")
        hub.connect("n", "e")
        assert wait_until(lambda: native.counters()["refused_peer_messages"] >= 2
                          and ether.counters()["refused_peer_messages"] >= 2)
        native.sync_with_peers()
        assert native.counters()["sent_batches"] == 0
    warnings = [r for r in caplog.records if "link refused" in r.getMessage()]
    assert len(warnings) == 2  # one per node
    assert any("'native'" in r.getMessage() and "'ethereum'" in r.getMessage()
               for r in warnings)


def test_a_matching_hello_lifts_the_refusal(make_node):
    node = make_node()  # driven by hand: nothing started
    node._messages.on_event(NetworkEvent(EventKind.NEW_PEER, "p"), node.process_broadcast)
    node._messages.on_event(NetworkEvent(EventKind.MESSAGE, "p", encode(Hello(5, "native"))),
                            node.process_broadcast)
    assert node.inspect()["peers"]["p"]["refused_format"] == "native"
    assert codes(node.submit_transactions([txn(0, 0)])) == [Code.VALID]
    node.sync_with_peers()
    assert node.counters()["sent_batches"] == 0
    node._messages.on_event(NetworkEvent(EventKind.MESSAGE, "p", encode(Hello(6, "ethereum"))),
                            node.process_broadcast)
    assert "refused_format" not in node.inspect()["peers"]["p"]
    node.sync_with_peers()
    assert node.counters()["sent_batches"] == 1


def test_a_peers_batch_is_decoded_with_the_nodes_format(make_node, accounts):
    node = make_node()  # driven by hand
    good = txn(5, 0)
    wires = (accounts.txn(0, 0).to_bytes(), good.to_bytes(), b"\xc0", good.to_bytes()[:-1])
    ack = node.process_broadcast("p", BroadcastRequest(0, 4, wires))
    assert (ack.batch_id, ack.retry) == ((0, 4), False)
    assert node.mempool.get(address(5), 0) == good
    assert node.timeline_states([(address(5), 0)])[0][0] == TimelineState.NON_QUALIFIED
    counts = node.counters()
    assert (counts["received_batches"], counts["malformed_transactions"]) == (1, 3)


def test_hello_carries_the_format_name():
    assert Hello(1).format == "native"
    for name in ("ethereum", "native", "a", "x" * 32, "my-chain_2"):
        data = encode(Hello(7, name))
        assert data[1] == MSG_HELLO and decode(data) == Hello(7, name)
    for bad in ("", "Ethereum", "1chain", "x" * 33, "a b", "é"):
        with pytest.raises(ValueError, match="format"):
            Hello(1, bad)
    assert hello_format(LEGACY_NATIVE_FORMAT) == "native" == hello_format("native")
    assert hello_format("ethereum") == "ethereum"


# ------------------------------------------------------------------------ journal
def test_an_ethereum_journal_replays_after_a_restart(make_node, tmp_path, clock):
    path = tmp_path / "journal"
    cfg = eth_config()
    store = eth_store()
    txns = [txn(0, n, kind="eip1559") for n in range(3)] + [txn(1, 0), txn(2, 0)]
    with TransactionJournal.from_config(path, cfg, clock=clock) as journal:
        assert journal.format_name == "ethereum"
        node = make_node(store=store, journal=journal)
        assert codes(node.submit_transactions(txns)) == [Code.VALID] * 5
        node.commit_transactions([(address(1), 0)], 0)  # forgotten: not replayed
        replaced = txn(2, 0, price=3 * GWEI)
        assert codes(node.submit_transactions([replaced])) == [Code.VALID]
        node.stop()
    store.apply_committed([(address(1), 0)])
    with TransactionJournal(path, transaction_format=FORMAT, clock=clock) as journal:
        assert sorted(journal.pointers()) == sorted(
            [(address(0), n) for n in range(3)] + [(address(2), 0)])
        node = make_node(store=store, journal=journal)
        report = node.recover_journal()
        assert (report.replayed, report.accepted, report.held) == (4, 4, 0)
        assert node.mempool.get(address(2), 0) == replaced
        assert node.get_block(10) == [replaced] + txns[:3]
        assert len(node.mempool) == 4
        # compaction keeps the tag and the records
        assert journal.compact()
    with TransactionJournal(path, transaction_format=FORMAT, clock=clock) as journal:
        assert len(journal.replay()) == 4


def test_a_native_journal_is_refused_by_an_ethereum_node(tmp_path, accounts, clock):
    path = tmp_path / "journal"
    with TransactionJournal(path) as journal:
        journal.append([accounts.txn(0, 0)])
    before = path.read_bytes()
    with pytest.raises(JournalFormatMismatch) as caught:
        TransactionJournal.from_config(path, eth_config(), clock=clock)
    message = str(caught.value)
    assert "'native'" in message and "'ethereum'" in message and str(path) in message
    assert "\n" not in message
    assert isinstance(caught.value, ValueError)  # a ConfigError: the config and data disagree
    assert path.read_bytes() == before  # untouched
    with TransactionJournal(path) as journal:  # still a good native journal
        assert journal.replay() == [accounts.txn(0, 0)]
    # and an Ethereum pool refuses a journal opened for another format
    with TransactionJournal(path) as journal:
        with pytest.raises(ValueError, match="opened for transaction format 'native'"):
            SharedMempool(eth_config(), InProcessNetwork().endpoint("a"), eth_store(),
                          transaction_format=FORMAT, journal=journal)
