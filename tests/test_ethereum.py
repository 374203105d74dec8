"""The Ethereum transaction format (mempool_fast.formats.ethereum) against eth-account.

Transactions are signed by eth-account (legacy EIP-155 and EIP-1559, several chain ids, values,
nonces); decoding must give its sender, nonce, tip, gas, max cost and hash, and a byte-exact
round trip. Signatures that do not recover and other chains' transactions are INVALID_SIGNATURE;
malformed bytes of every kind are MalformedTransaction, and random bytes never raise anything
else. Skipped as a whole without the `ethereum` extra (and eth-account, which signs).
"""

from __future__ import annotations

import pickle
import sys

import pytest

from mempool_fast.formats import ethereum as eth

try:
    eth.load_dependencies()
    _limit = sys.getrecursionlimit()
    import eth_account  # py_ecc, under it, raises the recursion limit to 100000 at import:
    sys.setrecursionlimit(_limit)  # keep the suite's (deep-JSON tests overflow the C stack)
    import rlp
except ImportError as _exc:
    pytest.skip(f"the ethereum extra or eth-account is not installed ({_exc}); "
                "pip install 'mempool_fast[ethereum]' eth-account", allow_module_level=True)

from hypothesis import HealthCheck, given, settings, strategies as st

from mempool_fast import MalformedTransaction
from mempool_fast.formats import IndexedTransaction, InvalidSignature, TransactionFormat
from mempool_fast.types import MempoolAddTransactionStatusCode as Code

Account = eth_account.Account
EthereumFormat, EthereumTransaction = eth.EthereumFormat, eth.EthereumTransaction
N = eth.SECP256K1_N
U64_MAX = (1 << 64) - 1
GWEI = 10**9
TO = "0x" + "11" * 20

KEYS = [bytes([i]) * 32 for i in (1, 2, 3)]
ACCOUNTS = [Account.from_key(k) for k in KEYS]


def address(account) -> bytes:
    return bytes.fromhex(account.address[2:])


def legacy(account=ACCOUNTS[0], *, chain_id: int | None = 1, nonce=0, gas_price=GWEI,
           gas=21_000, to: str | None = TO, value=0, data=b""):
    fields = dict(nonce=nonce, gasPrice=gas_price, gas=gas, value=value, data=data)
    if to is not None:
        fields["to"] = to
    if chain_id is not None:
        fields["chainId"] = chain_id
    return account.sign_transaction(fields)


def eip1559(account=ACCOUNTS[0], *, chain_id=1, nonce=0, tip=GWEI, fee_cap=2 * GWEI,
            gas=21_000, to: str | None = TO, value=0, data=b"", access_list=()):
    fields = dict(type=2, chainId=chain_id, nonce=nonce, maxPriorityFeePerGas=tip,
                  maxFeePerGas=fee_cap, gas=gas, value=value, data=data,
                  accessList=list(access_list))
    if to is not None:
        fields["to"] = to
    return account.sign_transaction(fields)


def raw(signed) -> bytes:
    return bytes(signed.raw_transaction)


def fields_of(data: bytes) -> tuple[bytes, list]:
    """(type prefix, decoded RLP list) of a raw transaction, to rebuild variants of it."""
    if data[0] < 0xC0:
        return data[:1], rlp.decode(data[1:])
    return b"", rlp.decode(data)


def rebuild(prefix: bytes, items: list) -> bytes:
    return prefix + rlp.encode(items)


def be(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


@pytest.fixture(scope="module")
def fmt() -> EthereumFormat:
    return EthereumFormat(1)


# -- decoding what eth-account signs ------------------------------------------------------------

CASES = [
    # (kind, chain id, nonce, value, data)
    ("legacy", 1, 0, 0, b""),
    ("legacy", 1, 7, 10**18, b"\x01\x02"),
    ("legacy", 5, 255, 1, b"\x00" * 100),
    ("legacy", 137, 2**32, 12345, b""),
    ("legacy", 1337, U64_MAX - 1, 2**255, b"\xff" * 60),
    ("legacy", 2**31 - 1, 1, 3, b""),
    ("eip1559", 1, 0, 0, b""),
    ("eip1559", 1, 9, 10**18, b"\xab" * 3),
    ("eip1559", 5, 128, 1, b""),
    ("eip1559", 137, 2**40, 999, b"\x00"),
    ("eip1559", 11155111, U64_MAX - 1, 2**200, b"\x42" * 300),
]


@pytest.mark.parametrize("kind, chain_id, nonce, value, data", CASES)
@pytest.mark.parametrize("who", range(len(ACCOUNTS)))
def test_decodes_what_eth_account_signs(kind, chain_id, nonce, value, data, who):
    account = ACCOUNTS[who]
    fmt = EthereumFormat(chain_id)
    if kind == "legacy":
        signed = legacy(account, chain_id=chain_id, nonce=nonce, gas_price=3 * GWEI + who,
                        gas=90_000, value=value, data=data)
        tip = fee_cap = 3 * GWEI + who
    else:
        signed = eip1559(account, chain_id=chain_id, nonce=nonce, tip=GWEI + who,
                         fee_cap=5 * GWEI, gas=90_000, value=value, data=data)
        tip, fee_cap = GWEI + who, 5 * GWEI
    txn = fmt.decode(raw(signed))
    assert isinstance(txn, IndexedTransaction) and isinstance(txn, fmt.transaction_class)
    assert txn.tx_type == (eth.LEGACY if kind == "legacy" else eth.EIP1559)
    assert txn.chain_id == chain_id
    if txn.max_cost > eth.MAX_COST:  # the cores count costs in 128 bits: no balance covers it
        [status] = fmt.verify([txn])
        assert status.code == Code.INSUFFICIENT_BALANCE and "2**128" in status.message
    else:
        assert fmt.verify([txn]) == [None]
    assert txn.sender == address(account) and len(txn.sender) == fmt.sender_length == 20
    assert txn.sequence_number == txn.nonce == nonce
    assert txn.pointer == (address(account), nonce)
    assert txn.gas_unit_price == tip
    assert txn.max_priority_fee_per_gas == tip and txn.max_fee_per_gas == fee_cap
    assert txn.max_gas_amount == txn.gas_limit == 90_000
    assert txn.value == value and txn.data == data and txn.to == bytes.fromhex(TO[2:])
    assert txn.max_cost == fmt.max_cost(txn) == value + 90_000 * fee_cap
    assert txn.expiration_time is None
    assert txn.hash == bytes(signed.hash) and len(txn.hash) == 32
    assert txn.to_bytes() == raw(signed)
    assert fmt.decode(txn.to_bytes()) == txn
    assert txn.gas_price == (tip if kind == "legacy" else None)


def test_verify_bounds_the_size_and_the_cost():
    small = EthereumFormat(1, max_size=200)
    fits, big = eth.decode_transaction(raw(legacy(data=b"\x01" * 10))), eth.decode_transaction(raw(legacy(data=b"\x01" * 200)))
    assert small.verify([fits]) == [None]
    [status] = small.verify([big])
    assert status.code == Code.PAYLOAD_TOO_LARGE
    assert f"transaction of {len(big.to_bytes())} bytes exceeds the maximum of 200" in \
        status.message
    fee_cap = 10**9
    edge = (eth.MAX_COST - 21_000 * fee_cap)
    at_bound = eth.decode_transaction(raw(legacy(gas_price=fee_cap, gas=21_000, value=edge)))
    over = eth.decode_transaction(raw(legacy(gas_price=fee_cap, gas=21_000, value=edge + 1)))
    assert at_bound.max_cost == eth.MAX_COST and EthereumFormat(1).verify([at_bound]) == [None]
    assert EthereumFormat(1).verify([over])[0].code == Code.INSUFFICIENT_BALANCE
    with pytest.raises(ValueError, match="max_size"):
        EthereumFormat(1, max_size=0)


def test_recovery_agrees_with_eth_account(fmt):
    for account in ACCOUNTS:
        for signed in (legacy(account, nonce=3), eip1559(account, nonce=4)):
            txn = fmt.decode(raw(signed))
            assert txn.sender.hex() == Account.recover_transaction(raw(signed))[2:].lower()


def test_contract_creation_and_access_list(fmt):
    created = fmt.decode(raw(legacy(to=None, gas=100_000, data=b"\x60\x00")))
    assert created.to == b"" and fmt.verify([created]) == [None]
    keys = ["0x" + "33" * 32, "0x" + "44" * 32]
    signed = eip1559(to=None, gas=100_000, access_list=[
        {"address": "0x" + "22" * 20, "storageKeys": keys},
        {"address": "0x" + "55" * 20, "storageKeys": []}])
    txn = fmt.decode(raw(signed))
    assert txn.to == b""
    assert txn.access_list == ((b"\x22" * 20, (b"\x33" * 32, b"\x44" * 32)),
                               (b"\x55" * 20, ()))
    assert fmt.verify([txn]) == [None] and txn.sender == address(ACCOUNTS[0])
    assert txn.hash == bytes(signed.hash)


def test_sender_is_recovered_lazily_and_kept(fmt):
    txn = fmt.decode(raw(eip1559()))
    assert "<unverified>" in repr(txn)
    assert txn.sender == address(ACCOUNTS[0])  # recovered on first read
    assert txn.sender is txn.sender and "0x" + ACCOUNTS[0].address[2:].lower() in repr(txn)
    assert fmt.verify([txn]) == [None]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.binary(min_size=32, max_size=32).filter(lambda k: 0 < int.from_bytes(k) < N),
       kind=st.sampled_from(["legacy", "eip1559"]),
       chain_id=st.integers(1, 2**40), nonce=st.integers(0, U64_MAX - 1),
       value=st.integers(0, 2**256 - 1), gas=st.integers(21_000, 30_000_000),
       tip=st.integers(0, 2**64), extra=st.integers(0, 2**64),
       data=st.binary(max_size=200))
def test_random_signed_transactions(key, kind, chain_id, nonce, value, gas, tip, extra, data):
    account = Account.from_key(key)
    fmt = EthereumFormat(chain_id)
    if kind == "legacy":
        signed = legacy(account, chain_id=chain_id, nonce=nonce, gas_price=tip, gas=gas,
                        value=value, data=data)
        fee_cap = tip
    else:
        fee_cap = tip + extra
        signed = eip1559(account, chain_id=chain_id, nonce=nonce, tip=tip, fee_cap=fee_cap,
                         gas=gas, value=value, data=data)
    txn = fmt.decode(raw(signed))
    [status] = fmt.verify([txn])
    if value + gas * fee_cap > eth.MAX_COST:
        assert status is not None and status.code == Code.INSUFFICIENT_BALANCE
    else:
        assert status is None
    assert txn.pointer == (address(account), nonce)
    assert txn.gas_unit_price == min(tip, U64_MAX)  # clamped for the cores
    assert txn.effective_tip(0) == tip
    assert txn.max_gas_amount == gas and txn.max_cost == value + gas * fee_cap
    assert txn.hash == bytes(signed.hash) and txn.to_bytes() == raw(signed)


# -- the effective tip --------------------------------------------------------------------------

@pytest.mark.parametrize("base_fee, expected", [
    (0, GWEI),  # max_priority_fee_per_gas
    (GWEI, GWEI),  # fee cap - base = 2 gwei, tip 1 gwei
    (int(1.5 * GWEI), GWEI // 2),  # the fee cap binds
    (2 * GWEI, 0),
    (3 * GWEI, 0),  # below zero: clamped (not includable at this base fee)
])
def test_eip1559_priority_is_the_effective_tip(base_fee, expected):
    txn = EthereumFormat(1, base_fee=base_fee).decode(raw(eip1559(tip=GWEI, fee_cap=2 * GWEI)))
    assert txn.gas_unit_price == expected
    assert txn.base_fee == base_fee
    assert txn.effective_tip(base_fee) == min(GWEI, 2 * GWEI - base_fee)
    assert txn.max_cost == 21_000 * 2 * GWEI  # the fee cap, whatever the base fee


def test_legacy_priority_is_gas_price_less_the_base_fee():
    data = raw(legacy(gas_price=3 * GWEI))
    assert EthereumFormat(1).decode(data).gas_unit_price == 3 * GWEI
    assert EthereumFormat(1, base_fee=GWEI).decode(data).gas_unit_price == 2 * GWEI
    assert EthereumFormat(1, base_fee=4 * GWEI).decode(data).gas_unit_price == 0


def test_huge_gas_price_is_clamped_for_the_cores(fmt):
    txn = fmt.decode(raw(legacy(gas_price=2**100)))
    assert txn.gas_unit_price == U64_MAX and txn.effective_tip(0) == 2**100
    assert txn.max_cost == 21_000 * 2**100


@pytest.mark.parametrize("chain_id, base_fee", [(0, 0), (-1, 0), (1, -1), (True, 0), ("1", 0)])
def test_format_arguments_are_checked(chain_id, base_fee):
    with pytest.raises(ValueError):
        EthereumFormat(chain_id, base_fee=base_fee)


# -- signatures -----------------------------------------------------------------------------------

def with_signature(data: bytes, *, v=None, r=None, s=None) -> bytes:
    prefix, items = fields_of(data)
    if v is not None:
        items[-3] = be(v)
    if r is not None:
        items[-2] = be(r)
    if s is not None:
        items[-1] = be(s)
    return rebuild(prefix, items)


@pytest.mark.parametrize("make", [legacy, eip1559])
@pytest.mark.parametrize("field, value", [("r", 0), ("s", 0), ("r", N), ("r", 2**256 - 1)])
def test_signature_that_does_not_recover_is_invalid_signature(fmt, make, field, value):
    txn = fmt.decode(with_signature(raw(make()), **{field: value}))
    [status] = fmt.verify([txn])
    assert status is not None and status.code == Code.INVALID_SIGNATURE
    assert "recovers no public key" in status.message
    with pytest.raises(InvalidSignature, match="recovers no public key"):
        txn.sender
    with pytest.raises(InvalidSignature):
        txn.pointer
    assert "<unrecoverable>" in repr(txn)
    assert fmt.verify([txn]) == [status]  # the failure is kept too


@pytest.mark.parametrize("make", [legacy, eip1559])
def test_a_tampered_signature_never_recovers_the_signer(fmt, make):
    """Any bit of r or s flipped: INVALID_SIGNATURE, or (ECDSA recovery always yields some key
    when r is a point's x) another address, never the signer's."""
    data = raw(make(nonce=11))
    prefix, items = fields_of(data)
    r, s = int.from_bytes(items[-2]), int.from_bytes(items[-1])
    invalid = 0
    for bit in range(0, 256, 5):
        for kw in ({"r": r ^ (1 << bit)}, {"s": s ^ (1 << bit)}):
            try:
                txn = fmt.decode(with_signature(data, **kw))
            except MalformedTransaction:  # s flipped above n/2 (EIP-2)
                continue
            [status] = fmt.verify([txn])
            if status is None:
                assert txn.sender != address(ACCOUNTS[0])
            else:
                assert status.code == Code.INVALID_SIGNATURE
                invalid += 1
    assert invalid > 0


@pytest.mark.parametrize("make", [legacy, eip1559])
def test_a_tampered_body_is_not_attributed_to_the_signer(fmt, make):
    prefix, items = fields_of(raw(make(value=10)))
    value_index = 4 if not prefix else 6
    items[value_index] = be(10**18)
    txn = fmt.decode(rebuild(prefix, items))
    [status] = fmt.verify([txn])
    assert status is not None or txn.sender != address(ACCOUNTS[0])


@pytest.mark.parametrize("make", [legacy, eip1559])
@pytest.mark.parametrize("signed_for", [5, 137, 2**31 - 1])
def test_another_chains_transaction_is_invalid_signature(make, signed_for):
    txn = EthereumFormat(1).decode(raw(make(chain_id=signed_for)))
    [status] = EthereumFormat(1).verify([txn])
    assert status is not None and status.code == Code.INVALID_SIGNATURE
    assert status.message == (f"transaction is signed for chain id {signed_for}, "
                              "this chain's id is 1")
    assert txn.sender == address(ACCOUNTS[0])  # the signature is sound, for its own chain
    assert EthereumFormat(signed_for).verify([txn]) == [None]


def test_pre_eip155_legacy_is_refused():
    signed = legacy(chain_id=None)
    txn = EthereumFormat(1).decode(raw(signed))
    assert txn.chain_id is None and txn.v in (27, 28)
    [status] = EthereumFormat(1).verify([txn])
    assert status is not None and status.code == Code.INVALID_SIGNATURE
    assert "without a chain id" in status.message and "pre-EIP-155" in status.message
    assert txn.sender == address(ACCOUNTS[0])  # it decodes and recovers; it is refused
    assert txn.hash == bytes(signed.hash)


def test_verify_keeps_order_in_a_mixed_batch(fmt):
    good = [fmt.decode(raw(eip1559(a, nonce=n))) for n, a in enumerate(ACCOUNTS)]
    other_chain = fmt.decode(raw(legacy(chain_id=5)))
    broken = fmt.decode(with_signature(raw(legacy()), r=0))
    batch = [good[0], other_chain, good[1], broken, good[2], good[0]]
    results = fmt.verify(batch)
    assert [r is None for r in results] == [True, False, True, False, True, True]
    assert fmt.verify([]) == []


# -- malformed bytes ----------------------------------------------------------------------------

VALID = {"legacy": raw(legacy(nonce=5, value=7, data=b"abc")),
         "eip1559": raw(eip1559(nonce=5, value=7, data=b"abc",
                                access_list=[{"address": "0x" + "22" * 20,
                                              "storageKeys": ["0x" + "33" * 32]}]))}


def malformed(fmt, data, match: str | None = None):
    with pytest.raises(MalformedTransaction, match=match):
        fmt.decode(data)


@pytest.mark.parametrize("kind", sorted(VALID))
def test_every_truncation_is_malformed(fmt, kind):
    data = VALID[kind]
    for end in range(len(data)):
        malformed(fmt, data[:end])


@pytest.mark.parametrize("kind", sorted(VALID))
@pytest.mark.parametrize("extra", [b"\x00", b"\x80", b"\xc0", b"\x01\x02"])
def test_appended_bytes_are_malformed(fmt, kind, extra):
    malformed(fmt, VALID[kind] + extra, "invalid RLP")


@pytest.mark.parametrize("kind", sorted(VALID))
def test_wrong_field_counts_are_malformed(fmt, kind):
    prefix, items = fields_of(VALID[kind])
    want = len(items)
    malformed(fmt, rebuild(prefix, items + [b""]), f"has {want} fields, got more")
    malformed(fmt, rebuild(prefix, items[:-1]), f"has {want} fields, got {want - 1}")
    malformed(fmt, rebuild(prefix, []), "fields, got 0")


@pytest.mark.parametrize("type_byte", [0x00, 0x01, 0x03, 0x04, 0x7F])
def test_unsupported_type_bytes_are_malformed(fmt, type_byte):
    body = VALID["eip1559"][1:]
    malformed(fmt, bytes((type_byte,)) + body, f"unsupported transaction type 0x{type_byte:02x}")


@pytest.mark.parametrize("first", [0x80, 0x81, 0xB8, 0xBF])
def test_an_rlp_string_is_not_a_transaction(fmt, first):
    malformed(fmt, bytes((first,)) + b"\x00" * 70, "starts with an RLP string")


def test_type_2_payload_must_be_a_list(fmt):
    malformed(fmt, b"\x02" + rlp.encode(b"hello"), "not an RLP list")


@pytest.mark.parametrize("data", [b"", bytearray(), "f8", 5, None])
def test_empty_or_not_bytes(fmt, data):
    malformed(fmt, data)


def test_bytes_like_input_decodes(fmt):
    data = VALID["legacy"]
    assert fmt.decode(bytearray(data)) == fmt.decode(memoryview(data)) == fmt.decode(data)
    assert type(fmt.decode(bytearray(data)).to_bytes()) is bytes


@pytest.mark.parametrize("make", [legacy, eip1559])
def test_high_s_is_malformed_eip2(fmt, make):
    """The malleable twin (n - s, the other parity) of a valid signature is refused."""
    data = raw(make())
    prefix, items = fields_of(data)
    s = int.from_bytes(items[-1])
    v = int.from_bytes(items[-3]) if items[-3] else 0
    flipped = v ^ 1 if prefix else (v ^ 1 if v < 35 else 35 + ((v - 35) ^ 1))
    malformed(fmt, with_signature(data, v=flipped, s=N - s), "EIP-2")
    malformed(fmt, with_signature(data, s=N // 2 + 1), "EIP-2")
    fmt.decode(with_signature(data, s=N // 2))  # the bound itself is allowed


@pytest.mark.parametrize("v", [0, 1, 26, 29, 30, 34])
def test_invalid_legacy_v_is_malformed(fmt, v):
    malformed(fmt, with_signature(VALID["legacy"], v=v), f"invalid v {v}")


@pytest.mark.parametrize("y", [2, 27, 37])
def test_invalid_y_parity_is_malformed(fmt, y):
    malformed(fmt, with_signature(VALID["eip1559"], v=y), f"invalid y_parity {y}")


NONCE = {"legacy": 0, "eip1559": 1}
GAS = {"legacy": 2, "eip1559": 4}
TO_INDEX = {"legacy": 3, "eip1559": 5}


@pytest.mark.parametrize("kind", sorted(VALID))
def test_non_canonical_integers_are_malformed(fmt, kind):
    prefix, items = fields_of(VALID[kind])
    for index in (NONCE[kind], GAS[kind], -2, -1):
        changed = list(items)
        changed[index] = b"\x00" + changed[index]
        malformed(fmt, rebuild(prefix, changed), "leading zero byte")
    zero = list(items)
    zero[NONCE[kind]] = b"\x00"  # 0 is the empty string, not a zero byte
    malformed(fmt, rebuild(prefix, zero), "leading zero byte")


def test_non_canonical_rlp_is_malformed(fmt):
    prefix, items = fields_of(VALID["legacy"])
    assert items[0] == b"\x05"
    encoded = rlp.encode(items)
    # the nonce 5 as a one-byte string (0x81 0x05) instead of the byte itself
    header = 1 if encoded[0] <= 0xF7 else 1 + encoded[0] - 0xF7
    body = b"\x81\x05" + encoded[header + 1:]
    malformed(fmt, rlp.codec.length_prefix(len(body), 0xC0) + body, "invalid RLP")


@pytest.mark.parametrize("kind", sorted(VALID))
def test_too_long_fields_are_malformed(fmt, kind):
    prefix, items = fields_of(VALID[kind])
    for index, size, name in ((NONCE[kind], 9, "nonce"), (GAS[kind], 9, "gas"),
                              (-2, 33, "r"), (-1, 33, "s")):
        changed = list(items)
        changed[index] = b"\x01" * size
        malformed(fmt, rebuild(prefix, changed), f"{name} is {size} bytes")
    changed = list(items)
    changed[TO_INDEX[kind]] = b"\x01" * 19
    malformed(fmt, rebuild(prefix, changed), "to is 19 bytes")
    changed[TO_INDEX[kind]] = [b"\x01" * 20]
    malformed(fmt, rebuild(prefix, changed), "to is an RLP list")


def test_nonce_at_the_eip2681_bound(fmt):
    prefix, items = fields_of(VALID["legacy"])
    items[0] = be(U64_MAX)
    assert fmt.decode(rebuild(prefix, items)).sequence_number == U64_MAX  # decodes (unsigned)


@pytest.mark.parametrize("access_list, message", [
    (b"", "access_list is not an RLP list"),
    ([[b"\x22" * 20]], "entry 0 is not a list"),
    ([[b"\x22" * 19, []]], "address is not 20 bytes"),
    ([[b"\x22" * 20, []], [b"\x22" * 20, b"\x33" * 32]], "entry 1: storage keys are not"),
    ([[b"\x22" * 20, [b"\x33" * 31]]], "storage key is not 32 bytes"),
])
def test_bad_access_lists_are_malformed(fmt, access_list, message):
    prefix, items = fields_of(VALID["eip1559"])
    items[8] = access_list
    malformed(fmt, rebuild(prefix, items), message)


def test_tip_above_fee_cap_is_malformed(fmt):
    prefix, items = fields_of(VALID["eip1559"])
    items[2], items[3] = be(3 * GWEI), be(2 * GWEI)
    malformed(fmt, rebuild(prefix, items), "max_priority_fee_per_gas .* above max_fee_per_gas")


def test_list_where_an_integer_belongs_is_malformed(fmt):
    prefix, items = fields_of(VALID["legacy"])
    items[4] = [b"\x01"]
    malformed(fmt, rebuild(prefix, items), "value is an RLP list")
    prefix, items = fields_of(VALID["legacy"])
    items[5] = []
    malformed(fmt, rebuild(prefix, items), "data is an RLP list")


def test_deep_nesting_is_malformed_not_a_recursion_error(fmt):
    prefixes, length = [], 0
    for _ in range(sys.getrecursionlimit() + 2000):  # lists in lists, built inside out
        prefix = rlp.codec.length_prefix(length, 0xC0)
        prefixes.append(prefix)
        length += len(prefix)
    data = b"".join(reversed(prefixes))
    with pytest.raises(RecursionError):
        rlp.decode(data)  # what the format does not use
    malformed(fmt, data, "nested deeper than a transaction's")
    malformed(fmt, b"\x02" + data, "nested deeper than a transaction's")
    prefix, items = fields_of(VALID["eip1559"])
    items[8] = [[b"\x22" * 20, [[b"\x33" * 32]]]]  # lists one level below storage keys
    malformed(fmt, rebuild(prefix, items), "nested deeper")


def test_decoding_is_linear_in_the_input(fmt):
    """rlp.decode is quadratic in a flat list's length (~20 s for 1 MB here); the format's walk
    stops after one field too many, and an access list of 100k entries takes well under 1 s."""
    import time

    flat = rlp.encode([b"\x01"] * 1_000_000)
    start = time.perf_counter()
    malformed(fmt, flat, "has 9 fields, got more")
    malformed(fmt, b"\x02" + flat, "has 12 fields, got more")
    assert time.perf_counter() - start < 0.5
    prefix, items = fields_of(VALID["eip1559"])
    items[8] = [[bytes([i % 256]) * 20, []] for i in range(100_000)]
    big = rebuild(prefix, items)
    start = time.perf_counter()
    txn = fmt.decode(big)
    assert time.perf_counter() - start < 3
    assert len(txn.access_list) == 100_000


# -- the object ----------------------------------------------------------------------------------

def test_immutable_equal_hashable_picklable():
    fmt = EthereumFormat(1, base_fee=GWEI // 2)
    txn = fmt.decode(VALID["eip1559"])
    with pytest.raises(AttributeError, match="immutable"):
        txn.sequence_number = 9
    with pytest.raises(AttributeError, match="immutable"):
        del txn.value
    with pytest.raises(AttributeError):
        txn.anything = 1
    with pytest.raises(TypeError, match="EthereumFormat.decode"):
        EthereumTransaction()
    twin = fmt.decode(bytes(VALID["eip1559"]))
    assert twin == txn and hash(twin) == hash(txn) and twin is not txn
    assert txn != fmt.decode(VALID["legacy"]) and txn != VALID["eip1559"]
    copy = pickle.loads(pickle.dumps(txn))
    assert copy == txn and copy.gas_unit_price == txn.gas_unit_price and copy.base_fee == GWEI // 2
    assert copy.sender == txn.sender


def test_signing_hash_is_what_the_key_signed():
    for data in VALID.values():
        txn = EthereumFormat(1).decode(data)
        recovered = Account._recover_hash(txn.signing_hash(), vrs=(
            txn.v if txn.tx_type == eth.EIP1559 else 27 + ((txn.v - 35) & 1), txn.r, txn.s))
        assert bytes.fromhex(recovered[2:]) == txn.sender


# -- fuzz ----------------------------------------------------------------------------------------

def check_only_malformed(fmt, data: bytes) -> None:
    try:
        txn = fmt.decode(data)
    except MalformedTransaction:
        return
    [status] = fmt.verify([txn])
    assert status is None or status.code in (Code.INVALID_SIGNATURE, Code.INSUFFICIENT_BALANCE,
                                             Code.PAYLOAD_TOO_LARGE)
    try:
        sender = txn.sender
    except InvalidSignature:
        assert status is not None
    else:
        assert len(sender) == 20
    assert txn.to_bytes() == bytes(data) and len(txn.hash) == 32
    assert 0 <= txn.gas_unit_price <= U64_MAX and txn.max_cost >= 0
    repr(txn)


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_malformed_transaction(data):
    check_only_malformed(EthereumFormat(1), data)


@settings(max_examples=800, deadline=None)
@given(prefix=st.sampled_from([b"", b"\x02", b"\x01"]),
       tree=st.recursive(st.binary(max_size=40), lambda kids: st.lists(kids, max_size=14),
                         max_leaves=30))
def test_random_rlp_raises_only_malformed_transaction(prefix, tree):
    check_only_malformed(EthereumFormat(1), prefix + rlp.encode(tree))


@settings(max_examples=800, deadline=None)
@given(kind=st.sampled_from(sorted(VALID)), data=st.data())
def test_mutated_transactions_raise_only_malformed_transaction(kind, data):
    wire = bytearray(VALID[kind])
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "set"]))
        at = data.draw(st.integers(0, max(len(wire) - 1, 0)))
        if op == "flip" and wire:
            wire[at] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "insert":
            wire.insert(at, data.draw(st.integers(0, 255)))
        elif op == "delete" and wire:
            del wire[at]
        elif wire:
            wire[at] = data.draw(st.integers(0, 255))
    fmt = EthereumFormat(1)
    check_only_malformed(fmt, bytes(wire))
    try:
        txn = fmt.decode(bytes(wire))
    except MalformedTransaction:
        return
    if fmt.verify([txn]) == [None]:  # eth-account recovers the same sender
        assert Account.recover_transaction(bytes(wire))[2:].lower() == txn.sender.hex()


def test_protocol_members_of_a_decoded_transaction(fmt):
    assert isinstance(fmt, TransactionFormat)
    txn = fmt.decode(VALID["legacy"])
    fmt.verify([txn])
    assert isinstance(txn, IndexedTransaction)
