"""SignedTransaction, account_address and the wire format (docs/design.md §3)."""

from __future__ import annotations

import hashlib
import pickle
import struct
import sys
import time

import nacl.exceptions
import nacl.signing
import pytest
from hypothesis import given, settings, strategies as st

from mempool_fast import MalformedTransaction, SignedTransaction, _impl, account_address
from mempool_fast.transaction import PySignedTransaction

try:
    from mempool_fast._transaction import SignedTransaction as CySignedTransaction
except ImportError:  # the build is checked by test_build.py
    CySignedTransaction = None

#: Every implementation's transaction class: the pure one and, once built, the Cython one.
IMPLEMENTATIONS = {name: i.transaction for name, i in _impl.matrix().items()}

U64_MAX = 2**64 - 1
u64 = st.integers(min_value=0, max_value=U64_MAX)
KEY = nacl.signing.SigningKey(b"\x07" * 32)


def fields(**changes):
    """Valid constructor keyword arguments, with some replaced."""
    base = dict(sender=b"\x01" * 32, sequence_number=7, payload=b"hello", max_gas_amount=1000,
                gas_unit_price=3, expiration_time=1_700_000_000, public_key=b"\x02" * 32,
                signature=b"\x03" * 64)
    base.update(changes)
    return base


txn_fields = st.fixed_dictionaries(dict(
    sender=st.binary(min_size=32, max_size=32), sequence_number=u64,
    payload=st.binary(max_size=300), max_gas_amount=u64, gas_unit_price=u64,
    expiration_time=u64, public_key=st.binary(min_size=32, max_size=32),
    signature=st.binary(min_size=64, max_size=64)))


@pytest.fixture(scope="module", params=sorted(IMPLEMENTATIONS))
def cls(request):
    """Each SignedTransaction implementation (module scope: hypothesis tests take it too)."""
    return IMPLEMENTATIONS[request.param]


# ---------------------------------------------------------------- addresses and signing
def test_account_address_is_sha3_256_of_public_key():
    pk = bytes(KEY.verify_key)
    assert account_address(pk) == hashlib.sha3_256(pk).digest()
    assert len(account_address(pk)) == 32


@pytest.mark.parametrize("bad", [b"", b"\x00" * 31, b"\x00" * 33, "x" * 32, None, 5])
def test_account_address_rejects_bad_keys(bad):
    with pytest.raises(ValueError):
        account_address(bad)


def test_create_signs_the_signing_message(cls):
    txn = cls.create(KEY, 5, payload=b"abc", max_gas_amount=77, gas_unit_price=9,
                                   expiration_time=123)
    assert txn.sender == account_address(bytes(KEY.verify_key))
    assert txn.public_key == bytes(KEY.verify_key)
    assert (txn.sequence_number, txn.payload, txn.max_gas_amount, txn.gas_unit_price,
            txn.expiration_time) == (5, b"abc", 77, 9, 123)
    nacl.signing.VerifyKey(txn.public_key).verify(txn.signing_message(), txn.signature)
    # a signature over the raw bytes alone (no domain prefix) would not verify
    with pytest.raises(nacl.exceptions.BadSignatureError):
        nacl.signing.VerifyKey(txn.public_key).verify(txn.to_bytes()[:-96], txn.signature)


def test_create_defaults(cls, monkeypatch):
    monkeypatch.setattr(time, "time", lambda: 1_000.7)
    txn = cls.create(KEY, 0)
    assert (txn.payload, txn.max_gas_amount, txn.gas_unit_price) == (b"", 1_000_000, 0)
    assert txn.expiration_time == 1_100  # now + 100 s, whole seconds


def test_tampered_field_breaks_the_signature(cls):
    txn = cls.create(KEY, 1, gas_unit_price=1, expiration_time=10)
    tampered = cls(**{**_as_fields(txn), "gas_unit_price": 2})
    with pytest.raises(nacl.exceptions.BadSignatureError):
        nacl.signing.VerifyKey(tampered.public_key).verify(tampered.signing_message(),
                                                           tampered.signature)


def _as_fields(txn):
    return {name: getattr(txn, name) for name in fields()}


@pytest.mark.parametrize("kwargs", [dict(sequence_number=-1), dict(gas_unit_price=2**64),
                                    dict(max_gas_amount=-5), dict(expiration_time=2**64)])
def test_create_range_checks(cls, kwargs):
    kwargs = dict(kwargs)  # the parameter is shared by every implementation's run
    seq = kwargs.pop("sequence_number", 0)
    with pytest.raises(ValueError):
        cls.create(KEY, seq, **kwargs)


# ---------------------------------------------------------------- wire layout
def test_wire_layout_byte_by_byte(cls):
    txn = cls(**fields())
    raw = (b"\x01" * 32 + (7).to_bytes(8, "little") + (1000).to_bytes(8, "little")
           + (3).to_bytes(8, "little") + (1_700_000_000).to_bytes(8, "little")
           + (5).to_bytes(4, "little") + b"hello")
    assert txn.to_bytes() == raw + b"\x02" * 32 + b"\x03" * 64
    prefix = hashlib.sha3_256(b"mempool_fast::RawTransaction").digest()
    assert txn.signing_message() == prefix + raw
    assert len(txn.to_bytes()) == 68 + 5 + 96


def test_wire_layout_little_endian_extremes(cls):
    txn = cls(**fields(sequence_number=U64_MAX, max_gas_amount=1,
                                     gas_unit_price=2**63, expiration_time=0, payload=b""))
    data = txn.to_bytes()
    assert data[32:40] == b"\xff" * 8
    assert data[40:48] == b"\x01" + b"\x00" * 7
    assert data[48:56] == b"\x00" * 7 + b"\x80"
    assert data[56:64] == b"\x00" * 8
    assert data[64:68] == b"\x00" * 4


@settings(max_examples=200, deadline=None)
@given(txn_fields)
def test_round_trip_random_fields(cls, kw):
    txn = cls(**kw)
    data = txn.to_bytes()
    back = cls.from_bytes(data)
    assert back == txn and hash(back) == hash(txn)
    for name, value in kw.items():
        assert getattr(back, name) == value
    assert back.to_bytes() == data
    assert cls.from_bytes(bytearray(data)) == txn
    assert cls.from_bytes(memoryview(data)) == txn


@settings(max_examples=30, deadline=None)
@given(seq=u64, payload=st.binary(max_size=64), price=u64, max_gas=u64, exp=u64)
def test_created_transactions_verify_and_round_trip(cls, seq, payload, price, max_gas, exp):
    txn = cls.create(KEY, seq, payload=payload, max_gas_amount=max_gas,
                                   gas_unit_price=price, expiration_time=exp)
    back = cls.from_bytes(txn.to_bytes())
    assert back == txn and back.sender == account_address(back.public_key)
    nacl.signing.VerifyKey(back.public_key).verify(back.signing_message(), back.signature)


# ---------------------------------------------------------------- malformed input
VALID_WIRE = SignedTransaction(**fields()).to_bytes()


def test_every_truncation_is_malformed(cls):
    for n in range(len(VALID_WIRE)):
        with pytest.raises(MalformedTransaction):
            cls.from_bytes(VALID_WIRE[:n])


@pytest.mark.parametrize("extra", [b"\x00", b"\x00" * 95, b"\xff" * 200])
def test_appended_bytes_are_malformed(cls, extra):
    with pytest.raises(MalformedTransaction):
        cls.from_bytes(VALID_WIRE + extra)


@pytest.mark.parametrize("claimed", [0, 4, 6, 96 + 5, 2**32 - 1])
def test_lying_payload_length_is_malformed(cls, claimed):
    data = VALID_WIRE[:64] + struct.pack("<I", claimed) + VALID_WIRE[68:]
    with pytest.raises(MalformedTransaction):
        cls.from_bytes(data)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_decode_or_raise_malformed(cls, data):
    try:
        txn = cls.from_bytes(data)
    except MalformedTransaction:
        return
    assert txn.to_bytes() == data


@pytest.mark.parametrize("bad", ["text", None, 17, 196, -1, 10**15, [1, 2, 3], 3.5])
def test_non_bytes_input_is_malformed(cls, bad):
    with pytest.raises(MalformedTransaction):
        cls.from_bytes(bad)


def test_malformed_is_a_value_error():
    assert issubclass(MalformedTransaction, ValueError)


# ---------------------------------------------------------------- constructor checks
@pytest.mark.parametrize("name", ["sequence_number", "max_gas_amount", "gas_unit_price",
                                  "expiration_time"])
@pytest.mark.parametrize("value", [-1, 2**64, True, 1.0, "1", None])
def test_integer_fields_are_checked(cls, name, value):
    with pytest.raises(ValueError):
        cls(**fields(**{name: value}))


@pytest.mark.parametrize("name", ["sequence_number", "max_gas_amount", "gas_unit_price",
                                  "expiration_time"])
def test_integer_field_bounds_accepted(cls, name):
    for value in (0, U64_MAX):
        assert getattr(cls(**fields(**{name: value})), name) == value


@pytest.mark.parametrize("name,size", [("sender", 32), ("public_key", 32), ("signature", 64)])
def test_fixed_length_fields_are_checked(cls, name, size):
    for bad in (b"", b"\x00" * (size - 1), b"\x00" * (size + 1), "x" * size, None, 0):
        with pytest.raises(ValueError):
            cls(**fields(**{name: bad}))


@pytest.mark.parametrize("bad", ["text", None, 5, [1]])
def test_payload_must_be_bytes(cls, bad):
    with pytest.raises(ValueError):
        cls(**fields(payload=bad))


def test_constructor_is_keyword_only(cls):
    with pytest.raises(TypeError):
        cls(*fields().values())


# ---------------------------------------------------------------- identity
def test_immutable(cls):
    txn = cls(**fields())
    for name in fields():
        with pytest.raises(AttributeError):
            setattr(txn, name, getattr(txn, name))
        # TypeError tolerated until transaction.py's __delattr__ takes (self, name)
        with pytest.raises((AttributeError, TypeError)):
            delattr(txn, name)
    with pytest.raises(AttributeError):
        txn.extra = 1
    assert txn == cls(**fields())


def test_equality_and_hash_by_content(cls):
    a, b = cls(**fields()), cls(**fields())
    assert a is not b and a == b and hash(a) == hash(b)
    assert len({a, b}) == 1
    for name, other in (("sequence_number", 8), ("payload", b"hellO"), ("signature", b"\x04" * 64),
                        ("public_key", b"\x05" * 32), ("gas_unit_price", 4)):
        assert cls(**fields(**{name: other})) != a
    assert a != a.to_bytes()


def test_pointer_and_pickle(cls):
    txn = cls(**fields())
    assert txn.pointer == (b"\x01" * 32, 7)
    assert pickle.loads(pickle.dumps(txn)) == txn


def test_payload_stored_as_bytes(cls):
    txn = cls(**fields(payload=bytearray(b"abc")))
    assert type(txn.payload) is bytes and txn.payload == b"abc"


# ---------------------------------------------------------------- the two implementations agree
needs_both = pytest.mark.skipif(CySignedTransaction is None, reason="Cython extension not built")


@needs_both
@settings(max_examples=100, deadline=None)
@given(txn_fields)
def test_implementations_are_interchangeable(kw):
    py, cy = PySignedTransaction(**kw), CySignedTransaction(**kw)
    assert py == cy and cy == py and not (py != cy) and hash(py) == hash(cy)
    assert len({py, cy}) == 1
    assert repr(py) == repr(cy)
    for name in list(kw) + ["pointer", "hash"]:
        assert getattr(py, name) == getattr(cy, name)
    assert (py.to_bytes(), py.raw_bytes(), py.signing_message()) == (
        cy.to_bytes(), cy.raw_bytes(), cy.signing_message())
    assert CySignedTransaction.from_bytes(py.to_bytes()) == py
    assert PySignedTransaction.from_bytes(cy.to_bytes()) == cy
    flipped = bytes([kw["signature"][0] ^ 1]) + kw["signature"][1:]
    other = CySignedTransaction(**{**kw, "signature": flipped})
    assert other != py and py != other and not (other == py)


def _error(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the point is to compare whatever was raised
        return type(exc), str(exc)
    return None


@needs_both
@pytest.mark.parametrize("data", [b"", VALID_WIRE[:50], VALID_WIRE + b"\x00", "text", 3.5, 196,
                                  VALID_WIRE[:64] + struct.pack("<I", 2**32 - 1) + VALID_WIRE[68:]])
def test_implementations_reject_alike(data):
    expected = _error(PySignedTransaction.from_bytes, data)
    assert expected is not None and expected[0] is MalformedTransaction
    assert _error(CySignedTransaction.from_bytes, data) == expected


@needs_both
@pytest.mark.parametrize("changes", [dict(sender=b"\x00"), dict(payload="x"), dict(public_key=None),
                                     dict(sequence_number=-1), dict(gas_unit_price=True),
                                     dict(expiration_time=2**64), dict(signature=b"\x00" * 63)])
def test_constructor_errors_alike(changes):
    expected = _error(PySignedTransaction, **fields(**changes))
    assert expected is not None and expected[0] is ValueError
    assert _error(CySignedTransaction, **fields(**changes)) == expected


def test_default_implementation_follows_the_environment():
    import mempool_fast.transaction as t
    assert t.SignedTransaction is SignedTransaction
    want = "python" if _impl.PURE or CySignedTransaction is None else "cython"
    assert t.TRANSACTION_IMPLEMENTATION == want
    assert SignedTransaction is IMPLEMENTATIONS[want]


def test_decoded_transaction_holds_no_duplicate_fields(cls):
    txn = cls.from_bytes(VALID_WIRE)
    assert txn.to_bytes() is txn.to_bytes()  # the wire form is kept, not rebuilt
    assert txn.payload == b"hello" and txn.signature == b"\x03" * 64


# ---------------------------------------------------------------- the transaction hash
def sha3(data: bytes) -> bytes:
    return hashlib.sha3_256(data).digest()


def test_hash_is_sha3_256_of_the_wire_form_and_stable(cls):
    txn = cls(**fields())
    first = txn.hash
    assert type(first) is bytes and len(first) == 32
    assert first == sha3(txn.to_bytes()) == sha3(VALID_WIRE)
    assert txn.hash == first  # cached: the same value on every access
    assert cls.from_bytes(txn.to_bytes()).hash == first  # a decoded twin, hashed afresh
    assert pickle.loads(pickle.dumps(txn)).hash == first
    assert first != hash(txn)  # the 32-byte id, not Python's hash()
    if cls is PySignedTransaction:
        assert txn.hash is first  # kept on the object, not recomputed


@settings(max_examples=150, deadline=None)
@given(kw=txn_fields)
def test_hash_of_random_transactions(cls, kw):
    txn = cls(**kw)
    assert txn.hash == sha3(txn.to_bytes())


# wire lengths 164 + payload: the SHA3-256 rate is 136 bytes, so these straddle the end of the
# second, third and fourth blocks (271 = 2 * 136 - 1 puts both padding bits in one byte)
@pytest.mark.parametrize("payload_len", [0, 107, 108, 109, 243, 244, 245, 379, 380, 381, 5000])
def test_hash_across_block_boundaries(cls, payload_len):
    payload = bytes((i * 31 + 7) & 0xFF for i in range(payload_len))
    txn = cls(**fields(payload=payload))
    assert txn.hash == sha3(txn.to_bytes())


@pytest.mark.parametrize("name, other", [
    ("sender", b"\x09" * 32), ("sequence_number", 8), ("payload", b"hellO"),
    ("payload", b""), ("max_gas_amount", 1001), ("gas_unit_price", 4),
    ("expiration_time", 1_700_000_001), ("public_key", b"\x05" * 32),
    ("signature", b"\x03" * 63 + b"\x04"),
])
def test_hash_differs_when_any_field_differs(cls, name, other):
    base, changed = cls(**fields()), cls(**fields(**{name: other}))
    assert changed.hash != base.hash
    assert changed.hash == sha3(changed.to_bytes())


def test_hash_is_read_only(cls):
    txn = cls(**fields())
    with pytest.raises(AttributeError):
        txn.hash = bytes(32)
    assert txn.hash == sha3(VALID_WIRE)


@needs_both
def test_cython_hash_is_inline_in_a_64_byte_object():
    """The Cython class keeps its hash in the object (32 bytes and a flag), not in another
    object: 64 bytes of struct, one pymalloc size class."""
    assert CySignedTransaction.__basicsize__ == 64
    txn = CySignedTransaction.from_bytes(VALID_WIRE)
    assert sys.getsizeof(txn) == 64 and txn.hash == sha3(VALID_WIRE)
    # a repeated __init__ (the class cannot forbid it) must not keep the old hash
    txn.__init__(**fields(sequence_number=99))
    assert txn.hash == sha3(txn.to_bytes()) != sha3(VALID_WIRE)
