"""What the operator commands read: transaction keys and addresses in hex, transaction files,
and generated test transactions. Every mistake is an `InputError` whose message is one line
naming the bad value (or file and line); nothing here talks to a node.

Transaction file format (``mempool-fast submit FILE``): UTF-8 text, one transaction per line,
the hex of its wire form (docs/design.md §3: raw bytes | public_key | signature); surrounding
whitespace is ignored, as are blank lines and lines whose first non-blank character is ``#``.
``-`` reads standard input. ``mempool-fast submit --generate N --write FILE`` writes this format.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from collections.abc import Iterable

import nacl.signing

from .._wire import ADDRESS_LEN, U64_MAX
from ..errors import MalformedTransaction
from ..transaction import SignedTransaction

__all__ = ["InputError", "parse_address", "parse_key", "read_transactions",
           "write_transactions", "cluster_account_keys", "generate_transactions",
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


def _hex(text: str, length: int, what: str) -> bytes:
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise InputError(f"{what} {text!r} is not hex") from None
    if len(value) != length:
        raise InputError(f"{what} {text!r} is {len(value)} bytes, not {length} "
                         f"({2 * length} hex characters)")
    return value


def parse_address(text: str) -> bytes:
    """An account address: 64 hex characters."""
    return _hex(text.strip(), ADDRESS_LEN, "address")


def parse_key(text: str) -> bytes | tuple[bytes, int]:
    """A transaction key: its hash (64 hex characters) -> bytes, or SENDER:SEQ (64 hex
    characters, ':', a decimal sequence number) -> (sender, seq)."""
    text = text.strip()
    if ":" not in text:
        return _hex(text, HASH_LEN, "transaction hash")
    sender, _, seq = text.partition(":")
    address = _hex(sender, ADDRESS_LEN, "sender")
    if not seq.isdecimal() or int(seq) > U64_MAX:
        raise InputError(f"sequence number {seq!r} in {text!r} is not a decimal number "
                         f"in 0..{U64_MAX}")
    return address, int(seq)


def read_transactions(source: str) -> list[SignedTransaction]:
    """The transactions of a file in the format above (`source` "-" is standard input)."""
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
        try:
            txns.append(SignedTransaction.from_bytes(bytes.fromhex(line)))
        except ValueError as exc:  # bad hex, or MalformedTransaction (a ValueError)
            why = str(exc) if isinstance(exc, MalformedTransaction) else "not hex"
            raise InputError(f"{name} line {number}: {why}") from None
    if not txns:
        raise InputError(f"{name} holds no transaction (one hex wire form a line)")
    return txns


def write_transactions(path: str, txns: Iterable[SignedTransaction]) -> None:
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


def transaction_hash(txn: SignedTransaction) -> bytes:
    """A transaction's hash: SHA3-256 of its wire form (its `hash` attribute where the class
    has one)."""
    value = getattr(txn, "hash", None)
    if isinstance(value, bytes):
        return value
    import hashlib

    return hashlib.sha3_256(txn.to_bytes()).digest()
