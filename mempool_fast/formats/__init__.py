"""Transaction formats: how one chain's transactions are decoded, verified and indexed.

A *format* (``TransactionFormat``) turns wire bytes into transaction objects the cores can
index and checks a batch of them; docs/design.md §3 "Transaction formats" is the contract.
Two are built in:

- ``NativeFormat`` (``"native"``): this package's own ``SignedTransaction`` and its Ed25519
  ``Ed25519Validator``, bound as they are (``decode`` *is* ``SignedTransaction.from_bytes`` and
  ``verify`` *is* the validator's ``validate``: no wrapper on either hot path).
- ``EthereumFormat`` (``"ethereum"``, ``mempool_fast.formats.ethereum``): legacy (EIP-155) and
  EIP-1559 signed Ethereum transactions; needs ``pip install 'mempool_fast[ethereum]'``.

``from_config(config)`` builds the format ``MempoolConfig.transaction_format`` names; a
``FormatRegistry`` finds formats by the short name peer messages and journal records carry. An
unknown name is ``UnknownFormat`` (a ``MalformedTransaction``, so a decoding path that already
drops and counts malformed transactions handles it the same way). There is no process-wide
registry: whoever decodes by name owns the registry it looks in.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from .._wire import ADDRESS_LEN
from ..errors import MalformedTransaction, MempoolFastError
from ..transaction import SignedTransaction
from ..types import MempoolAddTransactionStatus

if TYPE_CHECKING:
    from ..config import MempoolConfig
    from .ethereum import EthereumFormat, EthereumTransaction

__all__ = [
    "IndexedTransaction", "TransactionFormat", "BatchVerifier", "NativeFormat", "FormatRegistry",
    "UnknownFormat", "InvalidSignature", "NAME_PATTERN", "BUILTIN", "check_name", "from_config",
    "EthereumFormat", "EthereumTransaction", "NATIVE", "NativeCoreFormat",
]

#: What a format's ``name`` must look like: it travels in peer messages and journal records, so
#: it is short, ASCII and stable (a lower-case letter, then up to 31 of ``a-z 0-9 _ -``).
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,31}")


class UnknownFormat(MalformedTransaction, LookupError):
    """A format name that no format is registered under (a record tagged with it cannot be
    decoded here). Also a ``LookupError``."""


class InvalidSignature(MempoolFastError, ValueError):
    """The sender of a transaction whose signature recovers no public key was asked for
    (formats whose sender is recovered from the signature, such as Ethereum's). ``verify``
    reports such a transaction as ``INVALID_SIGNATURE`` instead of raising."""


@runtime_checkable
class IndexedTransaction(Protocol):
    """What the cores read from a decoded transaction, whatever its format.

    ``sender`` is ``sender_length`` bytes of the format; ``expiration_time`` is whole seconds
    since the Unix epoch, or None when the format has no client expiration (then only the
    system TTL applies); ``hash`` is the format's transaction id (32 bytes for both built-in
    formats); ``to_bytes()`` is the wire form ``decode`` reads back; ``pointer`` is
    ``(sender, sequence_number)``. What the balance check charges is ``max_cost(txn)`` of the
    format (Ethereum transactions also carry it as ``txn.max_cost``).
    """

    @property
    def sender(self) -> bytes: ...
    @property
    def sequence_number(self) -> int: ...
    @property
    def gas_unit_price(self) -> int: ...
    @property
    def max_gas_amount(self) -> int: ...
    @property
    def expiration_time(self) -> int | None: ...
    @property
    def hash(self) -> bytes: ...
    @property
    def pointer(self) -> tuple[bytes, int]: ...
    def to_bytes(self) -> bytes: ...


T = TypeVar("T", bound=IndexedTransaction)


@runtime_checkable
class TransactionFormat(Protocol[T]):
    """One chain's transaction format.

    - ``name``: short stable id (``NAME_PATTERN``) carried in peer messages and journal records.
    - ``sender_length``: bytes of every ``txn.sender`` (32 native, 20 Ethereum).
    - ``transaction_class``: the class ``decode`` returns.
    - ``decode(wire)``: one transaction from its wire bytes; ``MalformedTransaction`` (a
      ``ValueError``) with a clear message for anything else, never another exception.
    - ``verify(txns)``: a batch check, one result per input in order: None when valid, else a
      ``MempoolAddTransactionStatus`` with a validation code (``INVALID_SIGNATURE``, ...).
      Called from many threads at once.
    - ``max_cost(txn)``: what the balance check charges for the transaction (native:
      ``max_gas_amount * gas_unit_price``; Ethereum: ``value + gas * fee cap``), an int in
      0..2**128-1 for a transaction ``verify`` passed.
    - ``can_replace(old, new)``: whether `new` may take the place of `old` (same sender and
      sequence number) if it pays enough; the cores then apply the price rule (strictly
      higher, and ``replacement_price_bump_percent``). Native: only a different gas price
      (same payload, ``max_gas_amount`` and expiration: Libra); Ethereum: anything (geth).
    """

    @property
    def name(self) -> str: ...
    @property
    def sender_length(self) -> int: ...
    @property
    def transaction_class(self) -> type[T]: ...
    def decode(self, wire: bytes, /) -> T: ...
    def verify(self, txns: Sequence[T], /) -> list[MempoolAddTransactionStatus | None]: ...
    def max_cost(self, txn: T, /) -> int: ...
    def can_replace(self, old: T, new: T, /) -> bool: ...


class BatchVerifier(Protocol):
    """What ``NativeFormat`` needs of a validator: ``Ed25519Validator``'s ``validate``."""

    def validate(self, txns: Sequence[SignedTransaction]
                 ) -> list[MempoolAddTransactionStatus | None]: ...


class NativeFormat:
    """This package's own transactions (docs/design.md §3) and their Ed25519 validator.

    ``decode`` is ``SignedTransaction.from_bytes`` itself and ``verify`` is ``validator.validate``
    itself (bound at construction), so a caller going through the format pays nothing over
    calling them directly. ``validator`` defaults to ``Ed25519Validator(config)``; it also
    checks payload size and ``max_gas_amount`` against its config (validation.py).

    The native class has no ``max_cost`` attribute (its C layout is not touched for this):
    ``NativeFormat.max_cost(txn)`` is ``max_gas_amount * gas_unit_price``, the product the
    cores already compute inline.
    """

    name = "native"
    sender_length = ADDRESS_LEN
    transaction_class: type[SignedTransaction] = SignedTransaction
    decode: Callable[[bytes], SignedTransaction]
    verify: Callable[[Sequence[SignedTransaction]], list[MempoolAddTransactionStatus | None]]

    def __init__(self, validator: BatchVerifier | None = None, *,
                 config: MempoolConfig | None = None) -> None:
        if validator is None:
            from ..validation import Ed25519Validator
            validator = Ed25519Validator(config)
        elif config is not None:
            raise ValueError("pass either a validator or a config for one, not both")
        self.validator = validator
        self.decode = SignedTransaction.from_bytes
        self.verify = validator.validate

    @staticmethod
    def max_cost(txn: SignedTransaction, /) -> int:
        """``max_gas_amount * gas_unit_price`` (exact: Python ints do not wrap)."""
        return txn.max_gas_amount * txn.gas_unit_price

    @staticmethod
    def can_replace(old: SignedTransaction, new: SignedTransaction, /) -> bool:
        """Libra's rule: a replacement differs from `old` in its gas price only."""
        return (new.payload == old.payload and new.max_gas_amount == old.max_gas_amount
                and new.expiration_time == old.expiration_time)

    def close(self) -> None:
        """Close the validator (its verification threads) when it has a ``close``."""
        close = getattr(self.validator, "close", None)
        if close is not None:
            close()

    def __repr__(self) -> str:
        return f"NativeFormat(validator={type(self.validator).__name__})"


class NativeCoreFormat:
    """The native format as the cores see it: what ``CoreMempool(config)`` (no
    ``transaction_format``) reports as ``core.transaction_format``.

    Immutable and shared (``NATIVE``): ``name`` ``"native"``, ``sender_length`` 32,
    ``transaction_class``, ``decode``, ``max_cost`` and ``can_replace`` of ``NativeFormat``. It has
    no ``verify`` (that needs a validator: ``NativeFormat``), so it is not a
    ``TransactionFormat``; a layer above compares ``name`` and ``sender_length``.
    """

    __slots__ = ()
    name = "native"
    sender_length = ADDRESS_LEN
    transaction_class: type[SignedTransaction] = SignedTransaction
    decode = staticmethod(SignedTransaction.from_bytes)
    max_cost = staticmethod(NativeFormat.max_cost)
    can_replace = staticmethod(NativeFormat.can_replace)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("NativeCoreFormat is immutable")

    def __reduce__(self) -> str:
        return "NATIVE"  # a singleton: unpickles to the module's NATIVE

    def __repr__(self) -> str:
        return "NATIVE"


#: The shared native descriptor (``NativeCoreFormat``).
NATIVE = NativeCoreFormat()

# -- the registry ------------------------------------------------------------------------------

#: Formats known to this package that a registry does not make by itself (they need arguments).
_HINTS = {
    "ethereum": "an EthereumFormat needs this chain's id: EthereumFormat(chain_id=...) from "
                "mempool_fast.formats.ethereum, or MempoolConfig(transaction_format='ethereum', "
                "chain_id=...) and from_config",
}


def check_name(name: object) -> str:
    """A format name as peer messages and journal records carry it (``NAME_PATTERN``)."""
    if not isinstance(name, str) or NAME_PATTERN.fullmatch(name) is None:
        raise ValueError(f"a transaction format name is a lower-case letter then up to 31 of "
                         f"a-z, 0-9, '_' and '-', got {name!r}")
    return name


class FormatRegistry:
    """Formats by name, for decoding peer messages and journal records by their tag.

    A node builds one with its configured formats (each with its own validator or chain id);
    lookups are lock-free dict reads, registration takes a lock.
    """

    def __init__(self, formats: Iterable[TransactionFormat[Any]] = ()) -> None:
        self._formats: dict[str, TransactionFormat[Any]] = {}
        self._lock = threading.Lock()
        for fmt in formats:
            self.register(fmt)

    def register(self, fmt: TransactionFormat[Any], *, replace: bool = False
                 ) -> TransactionFormat[Any]:
        """Add `fmt` under ``fmt.name``; a name already taken is a ``ValueError`` unless
        `replace`. Returns `fmt`."""
        if not isinstance(fmt, TransactionFormat):
            raise TypeError(f"not a TransactionFormat: {fmt!r} (it needs name, sender_length, "
                            "transaction_class, decode, verify, max_cost and can_replace)")
        name = check_name(fmt.name)
        length = fmt.sender_length
        if not isinstance(length, int) or isinstance(length, bool) or not 1 <= length <= 64:
            raise ValueError(f"format {name!r}: sender_length must be an int in 1..64, "
                             f"got {length!r}")
        with self._lock:
            if name in self._formats and not replace and self._formats[name] is not fmt:
                raise ValueError(f"a transaction format named {name!r} is already registered "
                                 "(pass replace=True to replace it)")
            self._formats[name] = fmt
        return fmt

    def by_name(self, name: str) -> TransactionFormat[Any]:
        """The format registered as `name`; ``UnknownFormat`` naming the registered ones."""
        fmt = self._formats.get(name)
        if fmt is not None:
            return fmt
        known = ", ".join(repr(n) for n in sorted(self._formats)) or "none"
        hint = _HINTS.get(name) if isinstance(name, str) else None
        raise UnknownFormat(f"unknown transaction format {name!r} (registered: {known})"
                            + (f"; {hint}" if hint else ""))

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._formats))

    def __contains__(self, name: object) -> bool:
        return name in self._formats

    def __iter__(self) -> Iterator[TransactionFormat[Any]]:
        return iter(list(self._formats.values()))

    def __len__(self) -> int:
        return len(self._formats)

    def __repr__(self) -> str:
        return f"FormatRegistry({list(self.names())})"


#: The formats this package builds from a ``MempoolConfig`` (``from_config``).
BUILTIN = ("native", "ethereum")


def from_config(config: MempoolConfig) -> TransactionFormat[Any]:
    """The format ``config.transaction_format`` names, built from the config: ``NativeFormat``
    (a default ``Ed25519Validator`` of `config`) or ``EthereumFormat(config.chain_id,
    max_size=config.max_transaction_bytes)`` (ImportError naming the extra when its
    dependencies are missing)."""
    name = config.transaction_format
    if name == "native":
        return NativeFormat(config=config)
    if name == "ethereum":
        from .ethereum import EthereumFormat
        return EthereumFormat(config.chain_id, max_size=config.max_transaction_bytes)
    raise UnknownFormat(f"unknown transaction format {name!r} (built in: "
                        f"{', '.join(map(repr, BUILTIN))})")


def __getattr__(name: str) -> object:
    # the Ethereum names load on first use (PEP 562); their own third-party imports wait longer
    # still, until an EthereumFormat is made or a transaction decoded
    if name in ("EthereumFormat", "EthereumTransaction"):
        from . import ethereum
        value = getattr(ethereum, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mempool_fast.formats' has no attribute {name!r}")


if TYPE_CHECKING:  # the native pieces conform, checked by mypy
    _native_txn: IndexedTransaction = SignedTransaction.from_bytes(b"")
    _native_format: TransactionFormat[SignedTransaction] = NativeFormat()
