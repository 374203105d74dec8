"""What the operator commands read: transaction keys and addresses in hex, transaction files,
and generated test transactions. Every mistake is an `InputError` whose message is one line
naming the bad value (or file and line); nothing here talks to a node.

Transaction file format (``mempool-fast submit FILE``): UTF-8 text, one transaction per line,
the hex of its wire form in the node's transaction format (native, docs/design.md §3: raw bytes
| public_key | signature; Ethereum: the raw signed transaction, as ``eth_sendRawTransaction``
takes it); an optional ``0x`` prefix and surrounding whitespace are ignored, as are blank lines
and lines whose first non-blank character is ``#``. ``-`` reads standard input. ``mempool-fast
submit --generate N --write FILE`` writes this format.

Addresses and senders are the format's length: 32 bytes (64 hex) native, 20 bytes (40 hex)
Ethereum, with or without ``0x``.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import nacl.signing

from .._wire import ADDRESS_LEN, U64_MAX
from ..errors import MalformedTransaction
from ..transaction import SignedTransaction

if TYPE_CHECKING:
    from ..formats.ethereum import EthereumTransaction
    from ..formats.ethereum_signing import EthereumKey

__all__ = ["InputError", "parse_address", "parse_key", "read_transactions",
           "write_transactions", "cluster_account_keys", "generate_transactions",
           "cluster_ethereum_keys", "generate_ethereum_transactions",
           "transaction_hash", "HASH_LEN", "GENERATED_MAX_GAS", "GENERATED_GAS_PRICE",
           "GENERATED_LIFETIME_S"]

#: Bytes of a transaction hash (SHA3-256 of its wire form).
HASH_LEN = 32
#: Generated transactions: the gas and lifetime of `mempool-fast cluster`'s load.
GENERATED_MAX_GAS = 1_000
GENERATED_GAS_PRICE = 1
GENERATED_LIFETIME_S = 3_600


class InputError(ValueError):
    """A bad command-line value or input file (one line: what and where)."""


_HEX_PREFIX = "0x"


def _hex(text: str, length: int, what: str) -> bytes:
    digits = text[len(_HEX_PREFIX):] if text.lower().startswith(_HEX_PREFIX) else text
    try:
        value = bytes.fromhex(digits)
    except ValueError:
        raise InputError(f"{what} {text!r} is not hex") from None
    if len(value) != length:
        raise InputError(f"{what} {text!r} is {len(value)} bytes, not {length} "
                         f"({2 * length} hex characters)")
    return value


def parse_address(text: str, length: int = ADDRESS_LEN) -> bytes:
    """An account address of `length` bytes (the format's: 64 hex characters native, 40
    Ethereum)."""
    return _hex(text.strip(), length, "address")


def parse_key(text: str, sender_length: int = ADDRESS_LEN) -> bytes | tuple[bytes, int]:
    """A transaction key: its hash (64 hex characters) -> bytes, or SENDER:SEQ (a sender of
    `sender_length` bytes in hex, ':', a decimal sequence number) -> (sender, seq)."""
    text = text.strip()
    if ":" not in text:
        return _hex(text, HASH_LEN, "transaction hash")
    sender, _, seq = text.partition(":")
    address = _hex(sender, sender_length, "sender")
    if not seq.isdecimal() or int(seq) > U64_MAX:
        raise InputError(f"sequence number {seq!r} in {text!r} is not a decimal number "
                         f"in 0..{U64_MAX}")
    return address, int(seq)


def read_transactions(source: str, decode: Callable[[bytes], Any] = SignedTransaction.from_bytes
                      ) -> list[Any]:
    """The transactions of a file in the format above (`source` "-" is standard input),
    decoded by `decode` (the node's format's; default native: ``SignedTransaction``)."""
    name = "<stdin>" if source == "-" else source
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"{name} is not UTF-8 text (one hex transaction a line)") from None
    txns = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.lower().startswith(_HEX_PREFIX):
            line = line[len(_HEX_PREFIX):]
        try:
            txns.append(decode(bytes.fromhex(line)))
        except ValueError as exc:  # bad hex, or MalformedTransaction (a ValueError)
            why = str(exc) if isinstance(exc, MalformedTransaction) else "not hex"
            raise InputError(f"{name} line {number}: {why}") from None
    if not txns:
        raise InputError(f"{name} holds no transaction (one hex wire form a line)")
    return txns


def write_transactions(path: str, txns: Iterable[Any]) -> None:
    """Write `txns` in the file format above (`path` "-" is standard output)."""
    text = "".join(t.to_bytes().hex() + "\n" for t in txns)
    if path == "-":
        sys.stdout.write(text)
        return
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None


def cluster_account_keys(seed: int, accounts: int) -> list[nacl.signing.SigningKey]:
    """The signing keys of the test accounts of ``mempool-fast cluster --seed SEED --accounts
    N``: each made from 32 bytes drawn in turn from ``random.Random(seed)``, so the first k
    keys of any count are the same k accounts."""
    from ..cluster import KEY_SEED_BYTES

    rng = random.Random(seed)
    return [nacl.signing.SigningKey(rng.randbytes(KEY_SEED_BYTES)) for _ in range(accounts)]


def generate_transactions(keys: list[nacl.signing.SigningKey], count: int,
                          first_seq: list[int]) -> list[SignedTransaction]:
    """`count` signed test transactions, sequence-major over `keys` as the cluster's load is
    (every account's next one, then the one after...), account i starting at `first_seq[i]`;
    the cluster's gas (max 1 000 at price 1) and an hour's lifetime."""
    expiration = int(time.time()) + GENERATED_LIFETIME_S
    n = len(keys)
    return [SignedTransaction.create(keys[i % n], first_seq[i % n] + i // n,
                                     max_gas_amount=GENERATED_MAX_GAS,
                                     gas_unit_price=GENERATED_GAS_PRICE,
                                     expiration_time=expiration)
            for i in range(count)]


def cluster_ethereum_keys(seed: int, accounts: int) -> list[EthereumKey]:
    """The keys of the test accounts of ``mempool-fast cluster --format ethereum --seed SEED
    --accounts N``: drawn in turn from ``random.Random(seed)`` as the cluster draws them
    (``EthereumKey.generate``), so the first k keys of any count are the same k accounts."""
    from ..formats.ethereum_signing import EthereumKey

    rng = random.Random(seed)
    return [EthereumKey.generate(rng) for _ in range(accounts)]


def generate_ethereum_transactions(keys: Sequence[EthereumKey], count: int,
                                   first_seq: Sequence[int], chain_id: int
                                   ) -> list[EthereumTransaction]:
    """`count` signed Ethereum test transactions for the chain `chain_id`, as the cluster's
    Ethereum load is (sequence-major, legacy from even accounts and EIP-1559 from odd ones,
    21000 gas at GENERATED_GAS_PRICE wei, 1 wei to the next account), account i's nonces from
    `first_seq[i]`."""
    from ..cluster.nodes import sign_ethereum_transactions
    from ..formats.ethereum_signing import TRANSFER_GAS

    return sign_ethereum_transactions(keys, count, chain_id=chain_id, gas=TRANSFER_GAS,
                                      gas_price=GENERATED_GAS_PRICE, first_seq=first_seq)


def transaction_hash(txn: SignedTransaction) -> bytes:
    """A transaction's hash: SHA3-256 of its wire form (its `hash` attribute where the class
    has one)."""
    value = getattr(txn, "hash", None)
    if isinstance(value, bytes):
        return value
    import hashlib

    return hashlib.sha3_256(txn.to_bytes()).digest()
