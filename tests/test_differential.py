"""Differential test: the Cython core and the pure-Python core, driven by the same random
operations, return the same values and hold the same state after every step.

The state machine runs with the native format (`Differential`) and with Ethereum's
(`EthereumDifferential`: both cores built with `transaction_format=EthereumFormat(...)`, over a
pool of eth-account-signed transactions, each (account, nonce, price, variant) signed once per
module; skipped without the `ethereum` extra or eth-account). A foreign format of other sender
lengths, with senders that differ only in their last bytes or end in zero bytes (what the
Cython core's padding must keep apart and in order), is compared by
`test_foreign_senders_order_alike`."""

from __future__ import annotations

import functools
import hashlib
import sys

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test,
)

from mempool_fast import MempoolConfig, SignedTransaction, TimelineState
from mempool_fast import pure
from mempool_fast.types import STATUS_VALID, U64_MAX

_core = pytest.importorskip("mempool_fast._core")

N_ACCOUNTS = 6
MAX_SEQ = 10
ADDRESSES = [hashlib.sha3_256(bytes([i])).digest() for i in range(N_ACCOUNTS)]
POINTERS = [(a, s) for a in ADDRESSES for s in range(MAX_SEQ + 1)]
START = 1_000.0
PAYLOADS = (b"", b"p", b"other payload")
MAX_GAS = (1_000, 2_000)
EXPIRATIONS = (900, 1_000, 1_030, 1_100, 4_000_000_000)
GAS_AMOUNTS = st.sampled_from((0, 1, 7, 1_000, 2**32, U64_MAX))
RICH = 10**6
BALANCES = st.one_of(st.just(RICH), st.integers(0, 40), st.sampled_from(
    (RICH, 2**63, U64_MAX - 1, U64_MAX, 2**64, 2**130, -1, 12.5, 2.0**70)))
STATES = st.sampled_from((TimelineState.NOT_READY, TimelineState.NON_QUALIFIED))
SEQS = st.integers(0, MAX_SEQ)
ACCOUNT = st.integers(0, N_ACCOUNTS - 1)


@st.composite
def policies(draw) -> dict:
    """The MempoolConfig policies (docs/design.md §4 "Policies"), each drawn on or at its
    default independently, so both the default rules and every combination run."""
    return dict(
        replacement_price_bump_percent=draw(st.sampled_from((0, 0, 10, 50, 100))),
        # a transaction here counts ~370 bytes: full at 2-6 of them, or never
        capacity_bytes=draw(st.sampled_from((2 * 1024 ** 3, 2 * 1024 ** 3, 800, 1_500, 2_300))),
        # (threshold, time): off, or shedding at waits around the clock steps of `advance`
        **dict(zip(("eager_expire_threshold_ms", "eager_expire_time_ms"), draw(st.sampled_from(
            ((0, 0), (0, 0), (10_000, 30_000), (45_000, 100_000), (1, 200_000)))))),
        eviction_policy=draw(st.sampled_from(("parked", "lowest_price"))),
        protect_local_transactions=draw(st.booleans()),
        # prices here are 0..4: one bucket, two, three, or a top bucket of price 4 only
        broadcast_buckets=draw(st.sampled_from(((0,), (0,), (0, 2), (0, 1, 3), (0, 4)))),
    )


class Clock:
    """The shared fake clock of both cores."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def make_txn(account: int, seq: int, price: int, payload: bytes = b"", max_gas: int = 1_000,
             expiration: int = 4_000_000_000) -> SignedTransaction:
    """A transaction with a dummy signature: the core never checks signatures."""
    return SignedTransaction(sender=ADDRESSES[account], sequence_number=seq, payload=payload,
                             max_gas_amount=max_gas, gas_unit_price=price,
                             expiration_time=expiration, public_key=bytes(32),
                             signature=bytes(64))


def same_status(a, b) -> None:
    assert a == b, (a, b)
    assert (a is STATUS_VALID) == (b is STATUS_VALID)


def same_txns(a, b) -> None:
    assert [t.pointer for t in a] == [t.pointer for t in b]
    assert all(x is y for x, y in zip(a, b))


def same_removals(a, b) -> None:
    """The two cores reported the same removals: the same objects, for the same reasons, in the
    same order (GC removes in (expiry, insertion) order in both)."""
    assert [(t.pointer, r) for t, r in a] == [(t.pointer, r) for t, r in b]
    assert all(x is y for (x, _), (y, _) in zip(a, b))


class Differential(RuleBasedStateMachine):
    """Both cores side by side; every rule applies to both and compares the results.

    The transactions come from `txn` and `resubmit`, the senders from `addresses`, the
    balances through `balance`: a subclass changes these to run the same rules over another
    format's transactions (`EthereumDifferential`)."""

    #: keyword arguments of both cores (a subclass: its transaction_format)
    CORE_ARGUMENTS: dict = {}
    addresses = ADDRESSES
    pointers = POINTERS

    def txn(self, account: int, seq: int, price: int, payload: bytes = b"",
            max_gas: int = 1_000, expiration: int = 4_000_000_000):
        """The transaction these arguments describe."""
        return make_txn(account, seq, price, payload, max_gas, expiration)

    def resubmit(self, old, delta: int, change: bool, copy: bool):
        """A transaction at `old`'s pointer: its price moved by `delta`, changed otherwise when
        `change`, a new equal object when `copy` and nothing changes."""
        if delta == 0 and not change and not copy:
            return old
        return make_txn(ADDRESSES.index(old.sender), old.sequence_number,
                        max(0, old.gas_unit_price + delta),
                        old.payload + (b"!" if change else b""), old.max_gas_amount,
                        old.expiration_time)

    def balance(self, drawn):
        """The balance a drawn one stands for (native: itself)."""
        return drawn

    @initialize(capacity=st.integers(3, 12), per_user=st.integers(1, 5),
                ttl=st.sampled_from((30, 75.5, 1_000)), policy=policies())
    def setup(self, capacity, per_user, ttl, policy):
        self.clock = Clock()
        config = MempoolConfig(capacity=capacity, capacity_per_user=per_user,
                               system_transaction_timeout_secs=ttl, **policy)
        self.py = pure.CoreMempool(config, clock=self.clock, removal_feed=True,
                                   **self.CORE_ARGUMENTS)
        self.cy = _core.CoreMempool(config, clock=self.clock, removal_feed=True,
                                    **self.CORE_ARGUMENTS)
        #: every transaction offered or removed so far, by hash (get_by_hash is asked about
        #: them), and those since the last invariant check
        self.known: dict[bytes, SignedTransaction] = {}
        self.fresh: list[SignedTransaction] = []

    def note(self, *txns) -> None:
        """Remember transactions whose hashes get_by_hash is to be asked about."""
        for txn in txns:
            self.known.setdefault(txn.hash, txn)
            self.fresh.append(txn)

    def both(self, method, *args):
        a = getattr(self.py, method)(*args)
        b = getattr(self.cy, method)(*args)
        return a, b

    # ------------------------------------------------------------------ admission
    @rule(account=ACCOUNT, seq=SEQS, price=st.integers(0, 4),
          payload=st.sampled_from(PAYLOADS), max_gas=st.sampled_from(MAX_GAS),
          expiration=st.sampled_from(EXPIRATIONS), gas=GAS_AMOUNTS,
          db=st.sampled_from((0, 0, 1, 2, 4, 6)), balance=BALANCES, state=STATES)
    def add(self, account, seq, price, payload, max_gas, expiration, gas, db, balance, state):
        txn = self.txn(account, seq, price, payload, max_gas, expiration)
        same_status(*self.both("add_txn", txn, gas, db, self.balance(balance), state))
        self.note(txn)  # after the add: the add computes the hash

    @rule(account=ACCOUNT, offset=st.sampled_from((0, 0, 0, 1, 2)), price=st.integers(0, 4),
          expiration=st.sampled_from(EXPIRATIONS), db=st.sampled_from((0, 0, 0, 1, 2)),
          state=STATES)
    def add_next(self, account, offset, price, expiration, db, state):
        """Add at (or just past) the account's next free sequence number: builds chains."""
        address = self.addresses[account]
        seq = max(db, self.py.sequence_number(address) or 0)
        while (address, seq) in self.py and seq < MAX_SEQ:
            seq += 1
        txn = self.txn(account, min(seq + offset, MAX_SEQ), price, expiration=expiration)
        same_status(*self.both("add_txn", txn, 1, db, RICH, state))
        self.note(txn)  # after the add: the add computes the hash

    @rule(items=st.lists(st.tuples(ACCOUNT, st.integers(0, 4), STATES), min_size=1,
                         max_size=8))
    def add_ready_burst(self, items):
        """Ready transactions only (each at its account's next free sequence number), as a
        busy pool fills: full with nothing parked, where lowest_price eviction decides."""
        for account, price, state in items:
            address = self.addresses[account]
            seq = self.py.sequence_number(address) or 0
            while (address, seq) in self.py and seq < MAX_SEQ:
                seq += 1
            txn = self.txn(account, seq, price)
            same_status(*self.both("add_txn", txn, 1, 0, RICH, state))
            self.note(txn)

    @rule(data=st.data(), delta=st.sampled_from((-1, 0, 1, 2, 3)), change=st.booleans(),
          copy=st.booleans(), state=STATES, db=st.integers(0, 3))
    def replace(self, data, delta, change, copy, state, db):
        """Resubmit a pending transaction: identical, cheaper, dearer, or changed."""
        present = [p for p in self.pointers if self.py.get(*p) is not None]
        if not present:
            return
        old = self.py.get(*data.draw(st.sampled_from(present)))
        txn = self.resubmit(old, delta, change, copy)
        same_status(*self.both("add_txn", txn, 1, db, RICH, state))
        self.note(txn)  # after the add: the add computes the hash

    @rule(items=st.lists(st.tuples(ACCOUNT, SEQS, st.integers(0, 3), st.integers(0, 3)),
                         max_size=6), state=STATES)
    def add_batch(self, items, state):
        batch = [(self.txn(a, s, p), 1, db, RICH) for a, s, p, db in items]
        a, b = self.both("add_txns", batch, state)
        self.note(*(txn for txn, _, _, _ in batch))
        assert len(a) == len(b) == len(batch)
        for x, y in zip(a, b):
            same_status(x, y)

    @rule(state=st.sampled_from((TimelineState.READY, 7, None)))
    def bad_state(self, state):
        for core in (self.py, self.cy):
            with pytest.raises(ValueError):
                core.add_txn(self.txn(0, 0, 1), 1, 0, RICH, state)

    # ------------------------------------------------------------------ consensus
    @rule(batch=st.integers(-1, 12),
          seen=st.lists(st.tuples(ACCOUNT, st.integers(0, MAX_SEQ + 1)), max_size=10),
          as_list=st.booleans(),
          max_bytes=st.sampled_from((None, None, 0, 170, 340, 520, 700, 1_500, 2**70)))
    def get_block(self, batch, seen, as_list, max_bytes):
        pointers = [(self.addresses[a], s) for a, s in seen]
        container = pointers if as_list else set(pointers)
        before = list(container)
        a = self.py.get_block(batch, container, max_bytes)
        for walk in ("heads", "probe", "auto"):  # both of the Cython core's walks
            self.cy._walk_policy = walk
            same_txns(a, self.cy.get_block(batch, container, max_bytes))
        assert list(container) == before
        assert len(a) <= max(batch, 1)
        if max_bytes is not None and len(a) > 1:
            assert sum(len(t.to_bytes()) for t in a) <= max_bytes

    @rule(account=ACCOUNT, seq=st.sampled_from(list(range(MAX_SEQ + 2)) + [U64_MAX]),
          rejected=st.booleans())
    def remove(self, account, seq, rejected):
        a, b = self.both("remove_transaction", self.addresses[account], seq, rejected)
        assert a is None and b is None

    @rule(data=st.data(), rejected=st.booleans())
    def remove_pending(self, data, rejected):
        """Commit or reject a transaction the mempool holds (what consensus usually does)."""
        present = [p for p in self.pointers if p in self.py]
        if present:
            sender, seq = data.draw(st.sampled_from(present))
            a, b = self.both("remove_transaction", sender, seq, rejected)
            assert a is None and b is None

    @rule(data=st.data())
    def get_by_hash(self, data):
        """Ask both cores about a hash seen earlier (pending, removed, or never admitted)."""
        if self.known:
            digest = data.draw(st.sampled_from(sorted(self.known)))
            a, b = self.both("get_by_hash", digest)
            assert a is b
            assert a is None or a.hash == digest

    @rule(bad=st.sampled_from((b"", bytes(31), bytes(33), bytearray(32), "x" * 32, None, 7)))
    def get_by_hash_bad_argument(self, bad):
        errors = []
        for core in (self.py, self.cy):
            with pytest.raises((TypeError, ValueError)) as raised:
                core.get_by_hash(bad)
            errors.append((type(raised.value), str(raised.value)))
        assert errors[0] == errors[1]

    # ------------------------------------------------------------------ broadcast
    @rule(offset=st.integers(-2, 3), count=st.integers(-1, 6), use_float=st.booleans())
    def read_timeline(self, offset, count, use_float):
        start = max(-1, self.py.last_timeline_id() - 4 + offset)
        if use_float:
            start = start + 0.5
        (ta, la), (tb, lb) = self.both("read_timeline", start, count)
        same_txns(ta, tb)
        assert la == lb and type(la) is type(lb)

    @rule(data=st.data(), count=st.integers(-1, 8))
    def read_timeline_buckets(self, data, count):
        buckets = len(self.py.config.broadcast_buckets)
        top = self.py.last_timeline_id()
        cursors = tuple(data.draw(st.integers(-1, top + 1)) for _ in range(buckets))
        (ta, ca), (tb, cb) = self.both("read_timeline_buckets", cursors, count)
        same_txns(ta, tb)
        assert ca == cb and len(ca) == buckets
        assert len(ta) <= max(count, 0)

    @rule(data=st.data())
    def timeline_range_buckets(self, data):
        buckets = len(self.py.config.broadcast_buckets)
        top = self.py.last_timeline_id()
        ranges = tuple((data.draw(st.integers(-1, top)), data.draw(st.integers(-1, top + 1)))
                       for _ in range(buckets))
        same_txns(*self.both("timeline_range_buckets", ranges))

    @rule(start=st.integers(-1, 30), width=st.integers(-1, 10))
    def timeline_range(self, start, width):
        same_txns(*self.both("timeline_range", start, start + width))

    # ------------------------------------------------------------------ time and GC
    @rule(seconds=st.sampled_from((-3.0, -0.5, 0.0, 0.25, 10.0, 29.75, 45.0, 120.0, 900.0)))
    def advance(self, seconds):
        self.clock.now += seconds

    @rule(limit=st.sampled_from((None, None, 1, 2, 3)))
    def gc_system(self, limit):
        a, b = self.both("gc_by_system_ttl", limit)
        assert a == b

    @rule(block_time=st.one_of(st.sampled_from(EXPIRATIONS), st.integers(0, 1_200),
                               st.floats(899.0, 1_101.0), st.just(2**65), st.just(-5.0)))
    def gc_expiration(self, block_time):
        a, b = self.both("gc_by_expiration_time", block_time)
        assert a == b

    @rule(expiration=st.sampled_from(EXPIRATIONS[:-1]),
          offset=st.sampled_from((-1, -0.5, 0, 0.5, 1)), limit=st.sampled_from((None, 1, 2)))
    def gc_expiration_eager_edge(self, expiration, offset, limit):
        """A block time that, eager or not, falls just around a held expiration time."""
        eager_s = self.py.config.eager_expire_time_ms / 1000
        block_time = expiration + offset - (eager_s if self.eager_now() else 0)
        a, b = self.both("gc_by_expiration_time", block_time, limit)
        assert a == b

    def eager_now(self) -> bool:
        """Whether the next GC would be eager (both cores must agree: the removals say)."""
        return self.py._eager_backlog()

    @rule(block_time=st.sampled_from(EXPIRATIONS), limit=st.integers(1, 3))
    def gc_expiration_limited(self, block_time, limit):
        a, b = self.both("gc_by_expiration_time", block_time, limit)
        assert a == b <= limit

    # ------------------------------------------------------------------ state
    @invariant()
    def same_state(self):
        if not hasattr(self, "py"):
            return
        py, cy = self.py, self.cy
        assert len(py) == len(cy)
        for name in ("parking_lot_size", "priority_index_size", "timeline_size",
                     "health_check", "last_timeline_id", "account_count", "size_bytes"):
            assert getattr(py, name)() == getattr(cy, name)(), name
        for pointer in self.pointers:
            tp, tc = py.get(*pointer), cy.get(*pointer)
            assert tp is tc, pointer
            if tp is not None:  # every pending transaction is found by its hash
                assert py.get_by_hash(tp.hash) is tp and cy.get_by_hash(tp.hash) is tp
            assert (pointer in py) == (pointer in cy)
            assert py.timeline_state(*pointer) == cy.timeline_state(*pointer), pointer
        for address in self.addresses:
            assert py.sequence_number(address) == cy.sequence_number(address)
        zeros = (0,) * len(py.config.broadcast_buckets)
        (ta, ca), (tb, cb) = py.read_timeline_buckets(zeros, 1_000), \
            cy.read_timeline_buckets(zeros, 1_000)
        same_txns(ta, tb)
        assert ca == cb and len(ta) == py.timeline_size()
        removed = py.drain_removed()
        same_removals(removed, cy.drain_removed())
        assert py.drain_removed() == [] and cy.drain_removed() == []
        # what this step offered or removed: pending (the one at its pointer) or not found
        self.note(*(txn for txn, _ in removed))
        for txn in self.fresh:
            pending = py.get(*txn.pointer)
            expected = pending if pending is not None and pending.hash == txn.hash else None
            assert py.get_by_hash(txn.hash) is expected
            assert cy.get_by_hash(txn.hash) is expected
        self.fresh.clear()
        py._check()
        cy._check()


Differential.TestCase.settings = settings(
    max_examples=250, stateful_step_count=80, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
TestDifferential = Differential.TestCase


# ---------------------------------------------------------------- the Ethereum format
try:
    from mempool_fast.formats import ethereum as _eth
    _eth.load_dependencies()
    _limit = sys.getrecursionlimit()
    import eth_account as _eth_account  # py_ecc, under it, raises the recursion limit
    sys.setrecursionlimit(_limit)
    _ETH_MISSING = None
except ImportError as _exc:
    _ETH_MISSING = f"the ethereum extra or eth-account is not installed ({_exc})"

ETH_CHAIN_ID = 1
ETH_GAS = 21_000
#: the EIP-1559 variant's gas limit and fee cap above its tip
ETH_1559_GAS, ETH_1559_FEE_CAP_ABOVE_TIP = 30_000, 3
#: a value past 64 bits (the exact balance path)
ETH_BIG_VALUE = 2**64
#: (data, value, EIP-1559) of each variant of an (account, nonce, price)
ETH_VARIANTS = ((b"", 0, False), (b"p", 1, False), (b"", 0, True),
                (b"other payload", ETH_BIG_VALUE, False))
#: a drawn small balance b stands for ETH_GAS * (b // 4) + b % 4 - 1 wei: just around the cost
#: of b // 4 price units of plain transactions (an exact fit, a wei short, a wei or two over)
ETH_BALANCE_STEP = 4


if _ETH_MISSING is None:
    ETH_FORMAT = _eth.EthereumFormat(ETH_CHAIN_ID)
    ETH_ACCOUNTS = [_eth_account.Account.from_key(bytes([i + 1]) * 32)
                    for i in range(N_ACCOUNTS)]
    ETH_ADDRESSES = [bytes.fromhex(a.address[2:]) for a in ETH_ACCOUNTS]
    ETH_POINTERS = [(a, s) for a in ETH_ADDRESSES for s in range(MAX_SEQ + 1)]
    #: what each pooled transaction was signed from, by its hash
    ETH_KEYS: dict[bytes, tuple[int, int, int, int]] = {}

    @functools.lru_cache(maxsize=None)
    def eth_txn(account: int, seq: int, price: int, variant: int):
        """The pooled signed transaction (signed once per module, on first use)."""
        data, value, dynamic = ETH_VARIANTS[variant]
        if dynamic:
            fields = dict(type=2, chainId=ETH_CHAIN_ID, nonce=seq, maxPriorityFeePerGas=price,
                          maxFeePerGas=price + ETH_1559_FEE_CAP_ABOVE_TIP, gas=ETH_1559_GAS,
                          to="0x" + "33" * 20, value=value, data=data, accessList=[])
        else:
            fields = dict(nonce=seq, gasPrice=price, gas=ETH_GAS, to="0x" + "33" * 20,
                          value=value, data=data, chainId=ETH_CHAIN_ID)
        signed = ETH_ACCOUNTS[account].sign_transaction(fields)
        txn = ETH_FORMAT.decode(bytes(signed.raw_transaction))
        assert ETH_FORMAT.verify([txn]) == [None] and txn.sender == ETH_ADDRESSES[account]
        ETH_KEYS[txn.hash] = (account, seq, price, variant)
        return txn


class EthereumDifferential(Differential):
    """The same rules over Ethereum transactions: both cores built with an EthereumFormat.

    A native add's payload and max gas pick a variant (data, value, legacy or EIP-1559); the
    expiration time has no counterpart (Ethereum transactions have none: the client-expiration
    GC rules must remove nothing); a replacement that changes something takes the next
    variant (Ethereum's can_replace allows any change)."""

    CORE_ARGUMENTS = {"transaction_format": ETH_FORMAT} if _ETH_MISSING is None else {}
    addresses = ETH_ADDRESSES if _ETH_MISSING is None else []
    pointers = ETH_POINTERS if _ETH_MISSING is None else []

    def txn(self, account, seq, price, payload=b"", max_gas=1_000, expiration=0):
        variant = (PAYLOADS.index(payload) * 2 + (max_gas != MAX_GAS[0])) % len(ETH_VARIANTS)
        return eth_txn(account, seq, price, variant)

    def resubmit(self, old, delta, change, copy):
        account, seq, price, variant = ETH_KEYS[old.hash]
        if change:
            variant = (variant + 1) % len(ETH_VARIANTS)
        txn = eth_txn(account, seq, max(0, price + delta), variant)
        if copy and txn is old:  # an equal, new object
            txn = ETH_FORMAT.decode(old.to_bytes())
        return txn

    def balance(self, drawn):
        if isinstance(drawn, int) and 0 <= drawn <= 40:
            return ETH_GAS * (drawn // ETH_BALANCE_STEP) + drawn % ETH_BALANCE_STEP - 1
        return drawn


EthereumDifferential.TestCase.settings = settings(
    max_examples=150, stateful_step_count=60, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
TestEthereumDifferential = pytest.mark.skipif(
    _ETH_MISSING is not None, reason=_ETH_MISSING or "")(EthereumDifferential.TestCase)


# ---------------------------------------------------------------- senders of other lengths
class _FakeTxn:
    """A transaction of `_FakeFormat`: the attributes a core reads, equal by its bytes."""

    def __init__(self, sender: bytes, seq: int, price: int, expiration, size: int) -> None:
        self.sender, self.sequence_number, self.gas_unit_price = sender, seq, price
        self.max_gas_amount, self.expiration_time, self.cost = 1, expiration, price
        self._raw = sender + seq.to_bytes(8, "big") + price.to_bytes(8, "big") + bytes(size)
        self.hash = hashlib.sha3_256(self._raw).digest()
        self.pointer = (sender, seq)

    def to_bytes(self) -> bytes:
        return self._raw

    def __eq__(self, other) -> bool:
        return isinstance(other, _FakeTxn) and other._raw == self._raw

    def __hash__(self) -> int:
        return hash(self._raw)


class _FakeFormat:
    """A foreign format of `sender_length`-byte senders; max_cost is the price."""

    name = "fake"
    transaction_class = _FakeTxn

    def __init__(self, sender_length: int) -> None:
        self.sender_length = sender_length

    @staticmethod
    def max_cost(txn, /) -> int:
        return txn.cost

    @staticmethod
    def can_replace(old, new, /) -> bool:
        return True


def _senders(length: int) -> list[bytes]:
    """Senders that tie on long prefixes and end in zero bytes (the Cython core's padding)."""
    top, mid = b"\xff" * length, b"\xaa" * length
    found = {top, mid, bytes(length), mid[:-1] + b"\x00", mid[:-1] + b"\x01",
             b"\x01" + bytes(length - 1), bytes(length - 1) + b"\x01",
             (b"\xaa" * 8 + bytes(length))[:length], top[:-1] + b"\xfe"}
    return sorted(found)


@pytest.mark.parametrize("length", [1, 8, 20, 31, 32])
def test_foreign_senders_order_alike(length):
    """Equal prices and expiries order by address high to low, the same in both cores; the
    greatest parked pointer is evicted first in both; a client expiration of a foreign format
    (an int) is collected as a native one, None never; wire sizes of a few bytes count."""
    fmt = _FakeFormat(length)
    clock = Clock()
    senders = _senders(length)
    config = MempoolConfig(capacity=len(senders) * 2, capacity_per_user=4)
    py = pure.CoreMempool(config, clock=clock, removal_feed=True, transaction_format=fmt)
    cy = _core.CoreMempool(config, clock=clock, removal_feed=True, transaction_format=fmt)
    txns = []
    for n, sender in enumerate(senders):
        expiration = None if n % 2 else 1_000 + n
        txns.append(_FakeTxn(sender, 0, 5, expiration, n % 3))
        txns.append(_FakeTxn(sender, 2, 5, None, 1))  # parked
    for txn in txns:
        same_status(py.add_txn(txn, 0, 0, RICH, TimelineState.NOT_READY),
                    cy.add_txn(txn, 0, 0, RICH, TimelineState.NOT_READY))
    block = py.get_block(100)
    same_txns(block, cy.get_block(100))
    assert [t.sender for t in block] == sorted(senders, reverse=True)
    assert all(t.sender in senders for t in cy.read_timeline(0, 100)[0])
    assert py.size_bytes() == cy.size_bytes()
    # full: each ready newcomer evicts the greatest parked pointer
    for n, sender in enumerate(senders[:3]):
        txn = _FakeTxn(sender, 1, 7, None, 0)
        same_status(py.add_txn(txn, 0, 0, RICH, TimelineState.NOT_READY),
                    cy.add_txn(txn, 0, 0, RICH, TimelineState.NOT_READY))
    removed = py.drain_removed()
    same_removals(removed, cy.drain_removed())
    assert [t.pointer for t, _ in removed] == sorted(
        ((s, 2) for s in senders), reverse=True)[:3]
    assert py.gc_by_expiration_time(2**64) == cy.gc_by_expiration_time(2**64) == sum(
        t.expiration_time is not None for t in txns)
    same_removals(py.drain_removed(), cy.drain_removed())
    with pytest.raises(ValueError) as a:
        py.get(bytes(length + 1), 0)
    with pytest.raises(ValueError) as b:
        cy.get(bytes(length + 1), 0)
    assert str(a.value) == str(b.value)
    py._check()
    cy._check()


@pytest.mark.slow
def test_differential_long():
    """Many more and longer runs than CI's (run with -m slow)."""
    run_state_machine_as_test(Differential, settings=settings(
        max_examples=3_000, stateful_step_count=120, deadline=None,
        suppress_health_check=[HealthCheck.too_slow]))


@pytest.mark.slow
@pytest.mark.skipif(_ETH_MISSING is not None, reason=_ETH_MISSING or "")
def test_ethereum_differential_long():
    """The Ethereum machine's longer runs (run with -m slow)."""
    run_state_machine_as_test(EthereumDifferential, settings=settings(
        max_examples=1_000, stateful_step_count=120, deadline=None,
        suppress_health_check=[HealthCheck.too_slow]))


@pytest.mark.parametrize("balance", [0, U64_MAX - 1, U64_MAX, 2**64, U64_MAX**2, 2 * U64_MAX**2,
                                     2**128, 3 * U64_MAX**2, 2**200, -1, 1.5e38, 1e60])
def test_balance_at_integer_extremes(balance):
    """Gas products up to (2**64-1)**2 and account totals past 2**128 compare exactly."""
    clock = Clock()
    config = MempoolConfig(capacity=20, capacity_per_user=5)
    py, cy = pure.CoreMempool(config, clock=clock), _core.CoreMempool(config, clock=clock)
    for seq in range(4):
        txn = make_txn(0, seq, U64_MAX)
        for gas in (U64_MAX, U64_MAX - 1, 1):
            same_status(py.add_txn(txn, gas, 0, balance, TimelineState.NOT_READY),
                        cy.add_txn(txn, gas, 0, balance, TimelineState.NOT_READY))
        assert len(py) == len(cy)
    py.remove_transaction(ADDRESSES[0], 1, False)
    cy.remove_transaction(ADDRESSES[0], 1, False)
    txn = make_txn(0, 5, U64_MAX)
    same_status(py.add_txn(txn, U64_MAX, 0, balance, TimelineState.NOT_READY),
                cy.add_txn(txn, U64_MAX, 0, balance, TimelineState.NOT_READY))
    assert len(py) == len(cy)
    py._check()
    cy._check()


def test_commit_at_u64_max_saturates():
    clock = Clock()
    py, cy = pure.CoreMempool(clock=clock), _core.CoreMempool(clock=clock)
    for core in (py, cy):
        core.add_txn(make_txn(1, U64_MAX, 1), 1, U64_MAX, RICH, TimelineState.NOT_READY)
        core.remove_transaction(ADDRESSES[1], U64_MAX, False)
    assert py.sequence_number(ADDRESSES[1]) == cy.sequence_number(ADDRESSES[1]) == U64_MAX
    assert len(py) == len(cy) == 1
    assert [t.pointer for t in py.get_block(5)] == [t.pointer for t in cy.get_block(5)]


@pytest.mark.parametrize("gas, db", [(-1, 0), (2**64, 0), (1, -1), (1, 2**64), (1.0, 0)])
def test_cython_rejects_out_of_range_integers(gas, db):
    """The Cython core takes gas amounts and db sequence numbers as u64: else ValueError,
    and nothing changes."""
    cy = _core.CoreMempool(MempoolConfig(capacity=3), clock=Clock())
    with pytest.raises(ValueError):
        cy.add_txn(make_txn(0, 0, 1), gas, db, RICH, TimelineState.NOT_READY)
    assert len(cy) == 0 and cy.sequence_number(ADDRESSES[0]) is None
    cy._check()
