"""Transaction formats (docs/design.md §3 "Transaction formats"): the protocol, NativeFormat,
the registry, and the Ethereum module's lazy dependencies.

The native tests run on every implementation (`impl`); EthereumFormat's conformance runs when
the `ethereum` extra is installed (tests/test_ethereum.py has the rest of it).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import nacl.signing
import pytest

from mempool_fast import MalformedTransaction, MempoolConfig, SignedTransaction, formats
from mempool_fast.errors import MempoolFastError
from mempool_fast.formats import (
    FormatRegistry, IndexedTransaction, InvalidSignature, NativeFormat, TransactionFormat,
    UnknownFormat, from_config,
)
from mempool_fast.formats import ethereum as eth
from mempool_fast.types import MempoolAddTransactionStatusCode as Code

ROOT = Path(__file__).resolve().parent.parent


def _ethereum_missing() -> str | None:
    try:
        eth.load_dependencies()
    except ImportError as exc:
        return f"the ethereum extra is not installed ({exc})"
    return None


needs_ethereum = pytest.mark.skipif(_ethereum_missing() is not None,
                                    reason=str(_ethereum_missing()))

@pytest.fixture
def key() -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(b"\x07" * 32)


# -- the protocol -------------------------------------------------------------------------------

def test_native_format_conforms(impl, key):
    fmt = NativeFormat(impl.validator())
    assert isinstance(fmt, TransactionFormat)
    assert fmt.name == "native" and fmt.sender_length == 32
    assert fmt.transaction_class is SignedTransaction
    txn = impl.transaction.create(key, 4, payload=b"xy", max_gas_amount=700, gas_unit_price=3)
    decoded = fmt.decode(txn.to_bytes())
    assert isinstance(decoded, IndexedTransaction)
    assert isinstance(decoded, fmt.transaction_class)
    assert decoded == txn and decoded.to_bytes() == txn.to_bytes()
    assert len(decoded.sender) == fmt.sender_length
    assert decoded.pointer == (decoded.sender, 4)
    assert decoded.sequence_number == 4 and decoded.gas_unit_price == 3
    assert decoded.max_gas_amount == 700
    assert isinstance(decoded.expiration_time, int)
    assert decoded.hash == txn.hash and len(decoded.hash) == 32
    assert fmt.max_cost(decoded) == 700 * 3
    assert fmt.verify([decoded]) == [None]


def test_native_format_binds_the_decoder_and_validator_as_they_are(impl):
    """No wrapper on either hot path: decode is from_bytes, verify is the validator's own."""
    validator = impl.validator()
    fmt = NativeFormat(validator)
    assert fmt.decode == SignedTransaction.from_bytes
    assert fmt.verify == validator.validate and fmt.verify.__self__ is validator
    assert fmt.validator is validator


def test_native_format_reports_the_validators_statuses(impl, key):
    fmt = NativeFormat(impl.validator(MempoolConfig(max_gas_amount=1000)))
    good = fmt.decode(impl.transaction.create(key, 0, max_gas_amount=1000).to_bytes())
    wire = bytearray(impl.transaction.create(key, 1, max_gas_amount=10).to_bytes())
    wire[-1] ^= 1
    forged = fmt.decode(bytes(wire))
    heavy = fmt.decode(impl.transaction.create(key, 2, max_gas_amount=1001).to_bytes())
    results = fmt.verify([good, forged, heavy])
    assert results[0] is None
    assert results[1] is not None and results[1].code == Code.INVALID_SIGNATURE
    assert results[2] is not None and results[2].code == Code.MAX_GAS_TOO_HIGH


def test_native_format_builds_its_validator_from_a_config():
    fmt = NativeFormat(config=MempoolConfig(max_gas_amount=5))
    assert fmt.validator.config.max_gas_amount == 5  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="not both"):
        NativeFormat(fmt.validator, config=MempoolConfig())
    fmt.close()


@pytest.mark.parametrize("wire", [b"", b"\x00" * 163, b"\x00" * 200, 12])
def test_native_decode_errors_are_malformed_transaction(wire):
    with pytest.raises(MalformedTransaction):
        NativeFormat().decode(wire)


def test_native_max_cost_does_not_wrap():
    top = (1 << 64) - 1
    txn = SignedTransaction.create(nacl.signing.SigningKey(b"\x01" * 32), 0,
                                   max_gas_amount=top, gas_unit_price=top)
    assert NativeFormat.max_cost(txn) == top * top


@needs_ethereum
def test_ethereum_format_conforms():
    fmt = eth.EthereumFormat(1)
    assert isinstance(fmt, TransactionFormat)
    assert fmt.name == "ethereum" and fmt.sender_length == 20
    assert fmt.transaction_class is eth.EthereumTransaction
    assert formats.EthereumFormat is eth.EthereumFormat  # the lazy package names
    assert formats.EthereumTransaction is eth.EthereumTransaction


def test_something_else_is_not_a_format():
    class Half:
        name = "half"
        sender_length = 32

        def decode(self, wire: bytes) -> None: ...

    assert not isinstance(Half(), TransactionFormat)
    with pytest.raises(TypeError, match="not a TransactionFormat"):
        FormatRegistry([Half()])  # type: ignore[list-item]


# -- the registry ------------------------------------------------------------------------------

def test_from_config_builds_the_configured_format():
    native = from_config(MempoolConfig(max_payload_bytes=10))
    assert isinstance(native, NativeFormat)
    assert native.validator.config.max_payload_bytes == 10
    assert from_config(MempoolConfig()) is not from_config(MempoolConfig())  # nothing global
    with pytest.raises(ValueError, match="transaction_format must be one of 'native', "
                                         "'ethereum', got 'tron'"):
        MempoolConfig(transaction_format="tron")


@needs_ethereum
def test_from_config_builds_ethereum_with_the_chain_id_and_size_bound():
    fmt = from_config(MempoolConfig(transaction_format="ethereum", chain_id=137,
                                    max_transaction_bytes=1000))
    assert isinstance(fmt, eth.EthereumFormat)
    assert (fmt.name, fmt.chain_id, fmt.max_size) == ("ethereum", 137, 1000)
    with pytest.raises(ValueError, match="chain_id"):
        MempoolConfig(transaction_format="ethereum", chain_id=0)


def test_unknown_format_is_a_malformed_transaction_and_a_lookup_error():
    registry = FormatRegistry()
    with pytest.raises(UnknownFormat) as caught:
        registry.by_name("native")
    assert isinstance(caught.value, MalformedTransaction)
    assert isinstance(caught.value, LookupError) and isinstance(caught.value, ValueError)
    assert isinstance(caught.value, MempoolFastError)
    assert "(registered: none)" in str(caught.value)


def test_unregistered_ethereum_says_how_to_register_it():
    with pytest.raises(UnknownFormat, match=r"EthereumFormat\(chain_id=\.\.\.\)"):
        FormatRegistry([NativeFormat()]).by_name("ethereum")


@needs_ethereum
def test_registry_holds_each_nodes_formats():
    native, ethereum = NativeFormat(), eth.EthereumFormat(137)
    registry = FormatRegistry([native, ethereum])
    assert registry.names() == ("ethereum", "native")
    assert registry.by_name("ethereum") is ethereum and registry.by_name("native") is native
    assert "ethereum" in registry and len(registry) == 2
    assert set(registry) == {native, ethereum}
    registry.register(ethereum)  # the same object again: no change
    with pytest.raises(ValueError, match="already registered"):
        registry.register(eth.EthereumFormat(1))
    other = eth.EthereumFormat(1)
    assert registry.register(other, replace=True) is other
    assert registry.by_name("ethereum") is other


@pytest.mark.parametrize("name", ["", "Native", "1chain", "a b", "x" * 33, "naïve", None, 7])
def test_format_names_are_short_stable_ascii(name):
    class Named(NativeFormat):
        pass

    fmt = Named()
    fmt.name = name  # type: ignore[assignment]
    with pytest.raises(ValueError, match="format name"):
        FormatRegistry([fmt])


@pytest.mark.parametrize("length", [0, 65, True, "20"])
def test_sender_length_is_checked(length):
    fmt = NativeFormat()
    fmt.sender_length = length  # type: ignore[assignment]
    with pytest.raises(ValueError, match="sender_length"):
        FormatRegistry([fmt])


def test_invalid_signature_error_is_a_value_error():
    assert issubclass(InvalidSignature, ValueError)
    assert issubclass(InvalidSignature, MempoolFastError)


# -- the Ethereum module without its extra ------------------------------------------------------

def test_ethereum_module_imports_its_dependencies_only_when_used():
    code = textwrap.dedent("""
        import sys
        import mempool_fast.formats
        import mempool_fast.formats.ethereum
        from mempool_fast.formats import EthereumFormat
        loaded = [m for m in ("rlp", "coincurve", "eth_hash", "Crypto") if m in sys.modules]
        print(loaded)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=60, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("missing", ["rlp", "coincurve", "eth_hash"])
def test_missing_extra_is_a_clear_import_error(missing):
    for needed in ("rlp", "coincurve", "eth_hash"):  # the others present: only one is missing
        if needed != missing:
            pytest.importorskip(needed, reason="the ethereum extra is not installed")
    code = textwrap.dedent(f"""
        import sys
        sys.modules[{missing!r}] = None  # as if it were not installed
        from mempool_fast.formats.ethereum import EthereumFormat, decode_transaction
        for make in (lambda: EthereumFormat(1), lambda: decode_transaction(b"\\xc0")):
            try:
                make()
            except ImportError as exc:
                print(exc)
            else:
                print("no error")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=60, check=True).stdout.splitlines()
    assert len(out) == 2
    for line in out:
        assert "pip install 'mempool_fast[ethereum]'" in line, line
        assert missing in line, line


# -- typing ------------------------------------------------------------------------------------

@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed")
def test_format_modules_pass_mypy_strict(tmp_path):
    """Clean with and without the ethereum extra: the third-party modules are never imported
    statically. (Also the protocol conformance of both formats, asserted under TYPE_CHECKING.)"""
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"),
         "--no-error-summary", "mempool_fast/formats/__init__.py",
         "mempool_fast/formats/ethereum.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
