"""CurveZMQ keys derived from Ed25519 keys, so a validator is named by one Ed25519 public key.

Owns the derivation only; the keys are z85-encoded, the form ZeroMQ's socket options take.
"""

from __future__ import annotations

import nacl.bindings
import nacl.signing
import zmq.utils.z85

__all__ = ["curve_keypair_from_seed", "curve_public_from_ed25519", "CURVE_KEY_BYTES",
           "ED25519_PUBLIC_KEY_BYTES"]

#: A raw (decoded) Curve25519 key.
CURVE_KEY_BYTES = 32
#: A raw Ed25519 public key.
ED25519_PUBLIC_KEY_BYTES = 32


def curve_keypair_from_seed(seed: bytes) -> tuple[bytes, bytes]:
    """(public, secret) Curve25519 keys, z85-encoded for ZeroMQ, derived from an Ed25519 seed."""
    signing = nacl.signing.SigningKey(bytes(seed))
    ed_secret = bytes(signing) + bytes(signing.verify_key)  # libsodium's 64-byte secret key
    secret = nacl.bindings.crypto_sign_ed25519_sk_to_curve25519(ed_secret)
    public = nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(bytes(signing.verify_key))
    return zmq.utils.z85.encode(public), zmq.utils.z85.encode(secret)


def curve_public_from_ed25519(ed25519_public_key: bytes) -> bytes:
    """The z85 Curve25519 public key matching a peer's 32-byte Ed25519 public key."""
    if len(ed25519_public_key) != ED25519_PUBLIC_KEY_BYTES:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return zmq.utils.z85.encode(
        nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(bytes(ed25519_public_key)))
