"""Signing Ethereum transactions with the ``ethereum`` extra's own libraries, for tools and tests.

``EthereumKey(private_key)`` is one secp256k1 account: its 20-byte ``address`` and two signers
that return raw signed transactions, the bytes ``EthereumFormat.decode`` reads:

- ``sign_legacy(chain_id=, nonce=, gas_price=, gas=, to=, value=, data=)``: a legacy EIP-155
  transaction, ``rlp([nonce, gasPrice, gas, to, value, data, v, r, s])`` with
  ``v = chain_id * 2 + 35 + recovery id``, signed over keccak-256 of
  ``rlp([nonce, gasPrice, gas, to, value, data, chain_id, 0, 0])``;
- ``sign_eip1559(chain_id=, nonce=, max_priority_fee_per_gas=, max_fee_per_gas=, gas=, to=,
  value=, data=, access_list=)``: ``0x02 || rlp([chain_id, nonce, tip, fee_cap, gas, to, value,
  data, access_list, y_parity, r, s])``, signed over keccak-256 of the same without the last
  three.

Why not eth-account: it is a heavy test-only dependency (``test`` extra), and the cluster's load
generator must run where only ``pip install 'mempool_fast[ethereum]'`` was done. This module
needs exactly what decoding needs: ``coincurve`` (``sign_recoverable``: libsecp256k1's
deterministic RFC 6979 signatures, always low-s as EIP-2 requires), ``rlp`` and ``eth-hash``'s
keccak-256. They are imported on first use (an ImportError naming the extra when missing),
never at import of this module.

Arguments are checked before anything is signed; a bad one is a ``ValueError`` naming it.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from .ethereum import ADDRESS_LEN, EIP1559, SECP256K1_N, load_dependencies

__all__ = ["EthereumKey", "PRIVATE_KEY_LEN", "TRANSFER_GAS", "MAX_U256", "MAX_U64",
           "load_signing_dependencies"]

#: Bytes of a secp256k1 private key.
PRIVATE_KEY_LEN = 32
#: Bytes of a storage key in an access list.
STORAGE_KEY_LEN = 32
#: Gas of a plain value transfer (the intrinsic gas of a transaction without data).
TRANSFER_GAS = 21_000
#: Largest value of a 256-bit field (value, gas prices).
MAX_U256 = (1 << 256) - 1
#: Largest nonce and gas (EIP-2681: 64 bits).
MAX_U64 = (1 << 64) - 1
#: Bytes of a compact recoverable signature: r (32) | s (32) | recovery id (1).
_RECOVERABLE_SIGNATURE_LEN = 65
_SCALAR_LEN = 32
#: EIP-155: v = chain_id * 2 + this + recovery id.
_EIP155_V_OFFSET = 35

AccessList = Sequence[tuple[bytes, Sequence[bytes]]]


#: The extra's libraries, imported on first use (shared with the format: one import, one
#: error message naming the extra).
load_signing_dependencies = load_dependencies


def _uint(name: str, value: object, maximum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        raise ValueError(f"{name} must be an int in 0..{maximum}, got {value!r}")
    return value


def _chain_id(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_U64:
        raise ValueError(f"chain_id must be an int in 1..{MAX_U64}, got {value!r}")
    return value


def _bytes(name: str, value: object) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise ValueError(f"{name} must be bytes, got {type(value).__name__}")
    return bytes(value)


def _to(value: object) -> bytes:
    to = _bytes("to", value)
    if len(to) not in (0, ADDRESS_LEN):
        raise ValueError(f"to must be a {ADDRESS_LEN}-byte address or empty (contract "
                         f"creation), got {len(to)} bytes")
    return to


def _access_list(entries: Iterable[tuple[bytes, Iterable[bytes]]]) -> list[list[object]]:
    out: list[list[object]] = []
    for n, entry in enumerate(entries):
        try:
            address, keys = entry
        except (TypeError, ValueError):
            raise ValueError(f"access_list entry {n} must be (address, storage keys)") from None
        address = _bytes(f"access_list entry {n} address", address)
        if len(address) != ADDRESS_LEN:
            raise ValueError(f"access_list entry {n}: the address must be {ADDRESS_LEN} bytes, "
                             f"got {len(address)}")
        checked: list[object] = []
        for key in keys:
            key = _bytes(f"access_list entry {n} storage key", key)
            if len(key) != STORAGE_KEY_LEN:
                raise ValueError(f"access_list entry {n}: a storage key must be "
                                 f"{STORAGE_KEY_LEN} bytes, got {len(key)}")
            checked.append(key)
        out.append([address, checked])
    return out


class EthereumKey:
    """One secp256k1 account: ``address`` (20 bytes: the last 20 bytes of keccak-256 of the
    uncompressed public key) and the signers of its transactions. `private_key` is 32 bytes,
    a scalar in 1..n-1 of the secp256k1 group (ValueError otherwise)."""

    __slots__ = ("_key", "address")

    def __init__(self, private_key: bytes) -> None:
        secret = _bytes("private_key", private_key)
        if len(secret) != PRIVATE_KEY_LEN:
            raise ValueError(f"private_key must be {PRIVATE_KEY_LEN} bytes, got {len(secret)}")
        if not 0 < int.from_bytes(secret, "big") < SECP256K1_N:
            raise ValueError("private_key is not a secp256k1 private key (it must be in "
                             "1..n-1 of the group order n)")
        deps = load_signing_dependencies()
        self._key = deps.private_key(secret)
        public: bytes = self._key.public_key.format(compressed=False)
        #: The account's 20-byte address (the sender its transactions recover to).
        self.address: bytes = deps.keccak256(public[1:])[-ADDRESS_LEN:]

    @classmethod
    def generate(cls, rng: random.Random | None = None) -> EthereumKey:
        """A new key: 32 bytes of `rng` (a seeded ``random.Random`` makes it reproducible;
        default: the system's CSPRNG), drawn again in the negligible case that they are not a
        valid private key."""
        source = rng if rng is not None else random.SystemRandom()
        while True:
            secret = source.randbytes(PRIVATE_KEY_LEN)
            if 0 < int.from_bytes(secret, "big") < SECP256K1_N:
                return cls(secret)

    @property
    def private_key(self) -> bytes:
        """The 32-byte secret (for tools that hand it to another signer)."""
        secret: bytes = self._key.secret
        return secret

    def _sign(self, unsigned: bytes) -> tuple[int, int, int]:
        """(recovery id, r, s) of libsecp256k1's signature over keccak-256 of `unsigned`."""
        deps = load_signing_dependencies()
        signature: bytes = self._key.sign_recoverable(deps.keccak256(unsigned), hasher=None)
        assert len(signature) == _RECOVERABLE_SIGNATURE_LEN
        r = int.from_bytes(signature[:_SCALAR_LEN], "big")
        s = int.from_bytes(signature[_SCALAR_LEN:2 * _SCALAR_LEN], "big")
        return signature[2 * _SCALAR_LEN], r, s

    def sign_legacy(self, *, chain_id: int, nonce: int, gas_price: int, gas: int = TRANSFER_GAS,
                    to: bytes = b"", value: int = 0, data: bytes = b"") -> bytes:
        """A raw signed legacy EIP-155 transaction for `chain_id` (``to`` empty: a contract
        creation)."""
        chain = _chain_id(chain_id)
        fields: list[object] = [_uint("nonce", nonce, MAX_U64),
                                _uint("gas_price", gas_price, MAX_U256),
                                _uint("gas", gas, MAX_U64), _to(to),
                                _uint("value", value, MAX_U256), _bytes("data", data)]
        deps = load_signing_dependencies()
        recovery_id, r, s = self._sign(deps.rlp_encode([*fields, chain, 0, 0]))
        return deps.rlp_encode([*fields, chain * 2 + _EIP155_V_OFFSET + recovery_id, r, s])

    def sign_eip1559(self, *, chain_id: int, nonce: int, max_priority_fee_per_gas: int,
                     max_fee_per_gas: int, gas: int = TRANSFER_GAS, to: bytes = b"",
                     value: int = 0, data: bytes = b"", access_list: AccessList = ()) -> bytes:
        """A raw signed EIP-1559 (type 2) transaction for `chain_id`; the tip cap must not
        exceed the fee cap."""
        tip = _uint("max_priority_fee_per_gas", max_priority_fee_per_gas, MAX_U256)
        fee_cap = _uint("max_fee_per_gas", max_fee_per_gas, MAX_U256)
        if tip > fee_cap:
            raise ValueError(f"max_priority_fee_per_gas {tip} is above max_fee_per_gas "
                             f"{fee_cap}")
        fields: list[object] = [_chain_id(chain_id), _uint("nonce", nonce, MAX_U64), tip,
                                fee_cap, _uint("gas", gas, MAX_U64), _to(to),
                                _uint("value", value, MAX_U256), _bytes("data", data),
                                _access_list(access_list)]
        deps = load_signing_dependencies()
        prefix = bytes((EIP1559,))
        y_parity, r, s = self._sign(prefix + deps.rlp_encode(fields))
        return prefix + deps.rlp_encode([*fields, y_parity, r, s])

    def __repr__(self) -> str:
        return f"EthereumKey(address=0x{self.address.hex()})"
