"""Type stub of the batch Ed25519 verifier (`_verify.pyx`).

The pure-Python counterpart is validation.PurePythonValidator (PyNaCl per transaction);
validation.BatchValidator drives these functions. tests/test_stubs.py checks this stub against
the compiled module.
"""

from collections.abc import Sequence

from _typeshed import ReadableBuffer, WriteableBuffer

__all__ = ["ROUTES", "DEFAULT_ROUTE", "Cursor", "verify_into", "verify", "verify_message"]

#: RFC 8032 §7.1, tests 1-3: (public key, message, signature), hex.
RFC8032_VECTORS: tuple[tuple[str, str, str], ...]
#: The libsodium entry points that passed the known-answer tests at import, best first.
ROUTES: tuple[str, ...]
#: Why a route is missing (empty when both work).
RESOLVE_ERRORS: tuple[str, ...]
#: The route used when none is named.
DEFAULT_ROUTE: str
SIGNING_PREFIX: bytes

class Cursor:
    """Shares one range of `verify_into` between threads (each claims the next index)."""

    def __init__(self) -> None: ...
    @property
    def claimed(self) -> int: ...

def verify_into(wires: Sequence[bytes], out: WriteableBuffer, start: int = 0,
                stop: int | None = None, *, route: str | None = None,
                cursor: Cursor | None = None) -> int: ...
def verify(wires: Sequence[bytes], *, route: str | None = None) -> bytearray: ...
def verify_message(message: ReadableBuffer, signature: ReadableBuffer,
                   public_key: ReadableBuffer, *, route: str | None = None) -> bool: ...
