"""mempool_fast.formats.ethereum_signing against eth-account.

For the same key and fields, the signer's raw transaction is byte for byte eth-account's, and
EthereumFormat decodes it to the sender and hash eth-account gives (legacy EIP-155 and
EIP-1559, several chain ids, nonces, values, data, access lists, contract creation). Bad
arguments are a ValueError naming them. Skipped without the `ethereum` extra (and eth-account,
the reference).
"""

from __future__ import annotations

import random
import sys

import pytest

for _module in ("rlp", "coincurve", "eth_hash"):
    pytest.importorskip(_module, reason="the ethereum extra is not installed: "
                                        "pip install 'mempool_fast[ethereum]'")
_limit = sys.getrecursionlimit()
eth_account = pytest.importorskip("eth_account", reason="eth-account (the test extra) signs "
                                                        "the reference transactions")
sys.setrecursionlimit(_limit)  # py_ecc raises it at import (see tests/test_ethereum.py)

from hypothesis import given, settings, strategies as st  # noqa: E402

from mempool_fast.formats.ethereum import SECP256K1_N, EthereumFormat  # noqa: E402
from mempool_fast.formats.ethereum_signing import (  # noqa: E402
    MAX_U256, MAX_U64, TRANSFER_GAS, EthereumKey)

Account = eth_account.Account
KEYS = [bytes([i]) * 32 for i in (1, 2, 7)]
TO = b"\x11" * 20
GWEI = 10**9
#: Costs from here on are refused by EthereumFormat.verify (the cores count in 128 bits).
MAX_POOL_COST = 1 << 128


def reference_legacy(secret: bytes, *, chain_id, nonce, gas_price, gas, to, value, data):
    fields = dict(nonce=nonce, gasPrice=gas_price, gas=gas, value=value, data=data,
                  chainId=chain_id)
    if to:
        fields["to"] = "0x" + to.hex()
    return Account.from_key(secret).sign_transaction(fields)


def reference_eip1559(secret: bytes, *, chain_id, nonce, tip, fee_cap, gas, to, value, data,
                      access_list=()):
    fields = dict(type=2, chainId=chain_id, nonce=nonce, maxPriorityFeePerGas=tip,
                  maxFeePerGas=fee_cap, gas=gas, value=value, data=data,
                  accessList=[{"address": "0x" + a.hex(), "storageKeys": ["0x" + k.hex()
                                                                          for k in keys]}
                              for a, keys in access_list])
    if to:
        fields["to"] = "0x" + to.hex()
    return Account.from_key(secret).sign_transaction(fields)


def check_same(raw: bytes, reference, chain_id: int, key: EthereumKey) -> None:
    """Byte-identical to eth-account's, and decoded to its sender and hash."""
    assert raw == bytes(reference.raw_transaction)
    txn = EthereumFormat(chain_id).decode(raw)
    assert txn.sender == key.address  # recovered from the signature
    if txn.max_cost < MAX_POOL_COST:  # what the pool can count (EthereumFormat.verify)
        assert EthereumFormat(chain_id).verify([txn]) == [None]
    assert "0x" + txn.sender.hex() == Account.from_key(key.private_key).address.lower()
    assert txn.hash == bytes(reference.hash)


@pytest.mark.parametrize("secret", KEYS)
def test_the_address_is_eth_accounts(secret):
    key = EthereumKey(secret)
    assert key.address == bytes.fromhex(Account.from_key(secret).address[2:])
    assert key.private_key == secret
    assert key.address.hex() in repr(key)


@pytest.mark.parametrize("chain_id", [1, 1337, 2**32 + 5])
@pytest.mark.parametrize("to, data", [(TO, b""), (TO, b"\x00\x01payload"), (b"", b"\x60\x00")])
def test_legacy_transactions_match_eth_account(chain_id, to, data):
    for n, secret in enumerate(KEYS):
        key = EthereumKey(secret)
        fields = dict(chain_id=chain_id, nonce=n * 1000, gas_price=GWEI + n, gas=TRANSFER_GAS + n,
                      to=to, value=10**20 * n, data=data)
        check_same(key.sign_legacy(**fields), reference_legacy(secret, **fields), chain_id, key)


@pytest.mark.parametrize("chain_id", [1, 1337])
@pytest.mark.parametrize("to, data", [(TO, b""), (b"", b"\x60\x00")])
def test_eip1559_transactions_match_eth_account(chain_id, to, data):
    access_list = [(b"\x22" * 20, [b"\x01" * 32, b"\x02" * 32]), (b"\x33" * 20, [])]
    for n, secret in enumerate(KEYS):
        key = EthereumKey(secret)
        fields = dict(chain_id=chain_id, nonce=n, gas=TRANSFER_GAS, to=to, value=n, data=data)
        raw = key.sign_eip1559(max_priority_fee_per_gas=n, max_fee_per_gas=2 * GWEI,
                               access_list=access_list if n else (), **fields)
        reference = reference_eip1559(secret, tip=n, fee_cap=2 * GWEI,
                                      access_list=access_list if n else (), **fields)
        check_same(raw, reference, chain_id, key)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), nonce=st.integers(0, MAX_U64), value=st.integers(0, MAX_U256),
       price=st.integers(0, 2**80), chain_id=st.integers(1, 2**40), eip1559=st.booleans())
def test_random_fields_match_eth_account(seed, nonce, value, price, chain_id, eip1559):
    key = EthereumKey.generate(random.Random(seed))
    common = dict(chain_id=chain_id, nonce=nonce, gas=TRANSFER_GAS, to=TO, value=value,
                  data=b"")
    if eip1559:
        raw = key.sign_eip1559(max_priority_fee_per_gas=price // 2, max_fee_per_gas=price,
                               **common)
        reference = reference_eip1559(key.private_key, tip=price // 2, fee_cap=price, **common)
    else:
        raw = key.sign_legacy(gas_price=price, **common)
        reference = reference_legacy(key.private_key, gas_price=price, **common)
    check_same(raw, reference, chain_id, key)


def test_generate_is_reproducible_from_a_seeded_rng():
    first = [EthereumKey.generate(random.Random(5)).address for _ in range(2)]
    assert first[0] == first[1]
    assert EthereumKey.generate().address != EthereumKey.generate().address


@pytest.mark.parametrize("secret, match", [
    (b"\x01" * 31, "32 bytes"), (bytes(32), "1..n-1"),
    (SECP256K1_N.to_bytes(32, "big"), "1..n-1"), ("01" * 32, "bytes")])
def test_bad_private_keys_are_refused(secret, match):
    with pytest.raises(ValueError, match=match):
        EthereumKey(secret)


@pytest.mark.parametrize("changes, match", [
    ({"chain_id": 0}, "chain_id"), ({"nonce": MAX_U64 + 1}, "nonce"), ({"gas": -1}, "gas"),
    ({"to": b"\x11" * 19}, "to must be a 20-byte"), ({"value": MAX_U256 + 1}, "value"),
    ({"data": "text"}, "data must be bytes"), ({"nonce": True}, "nonce")])
def test_bad_fields_are_refused(changes, match):
    key = EthereumKey(KEYS[0])
    legacy = dict(chain_id=1, nonce=0, gas_price=1, gas=TRANSFER_GAS, to=TO) | changes
    with pytest.raises(ValueError, match=match):
        key.sign_legacy(**legacy)
    eip1559 = dict(chain_id=1, nonce=0, max_priority_fee_per_gas=1, max_fee_per_gas=1,
                   gas=TRANSFER_GAS, to=TO) | changes
    with pytest.raises(ValueError, match=match):
        key.sign_eip1559(**eip1559)


def test_a_tip_above_the_fee_cap_or_a_bad_access_list_is_refused():
    key = EthereumKey(KEYS[0])
    with pytest.raises(ValueError, match="above max_fee_per_gas"):
        key.sign_eip1559(chain_id=1, nonce=0, max_priority_fee_per_gas=2, max_fee_per_gas=1)
    for access_list, match in (([(b"\x22" * 19, [])], "address must be 20"),
                               ([(b"\x22" * 20, [b"\x01" * 31])], "storage key must be 32"),
                               ([b"\x22" * 20], "must be \\(address, storage keys\\)")):
        with pytest.raises(ValueError, match=match):
            key.sign_eip1559(chain_id=1, nonce=0, max_priority_fee_per_gas=1, max_fee_per_gas=1,
                             access_list=access_list)
