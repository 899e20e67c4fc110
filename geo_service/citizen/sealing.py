"""Informant protection: contact details sealed at rest with libsodium sealed boxes (PyNaCl).

A sealed box is encrypted to a Curve25519 public key with a throw-away sender key: whoever holds only the
database (or the public key) cannot open it; the investigators' private key lives in a file outside the database
(``GEO_SERVICE_CITIZEN_PRIVATE_KEY_FILE``), made by ``geo-service citizen keygen``. Receipt codes are derived from
the client's Idempotency-Key with HMAC-SHA256 under the service's secret, so a retry after a lost answer gets the
same code while the database keeps only the code's SHA-256. Written by hand around PyNaCl/hmac: the whole
scheme is these few calls.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from pathlib import Path

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

from geo_service.errors import Conflict, InvalidInput, KeyUnavailable

# Crockford's base32 without I, L, O, U: what a person reads back from paper or a screenshot.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RECEIPT_CHARS = 20  # 100 bits
CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})


def generate_keypair(path: Path, overwrite: bool = False) -> str:
    """Write a new private key (base64, mode 0600) to ``path`` and return its public key (base64)."""
    if path.exists() and not overwrite:
        raise Conflict(f"{path} exists already; keep it (reports sealed to it need it) or pass --overwrite.")
    path.parent.mkdir(parents=True, exist_ok=True)
    key = PrivateKey.generate()
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.b64encode(bytes(key)).decode() + "\n")
    tmp.replace(path)
    return base64.b64encode(bytes(key.public_key)).decode()


def load_private_key(path: Path) -> PrivateKey:
    """The private key in ``path``; KeyUnavailable when missing or unreadable."""
    try:
        return PrivateKey(base64.b64decode(path.read_text().strip(), validate=True))
    except (OSError, ValueError, TypeError):
        raise KeyUnavailable() from None


def public_key(configured: str | None, key_path: Path, generate: bool) -> PublicKey:
    """The sealing public key: configured (base64), else the private key file's; with ``generate`` (outside
    production) a missing key file is made."""
    if configured:
        try:
            return PublicKey(base64.b64decode(configured.strip(), validate=True))
        except (ValueError, TypeError):
            raise KeyUnavailable("GEO_SERVICE_CITIZEN_PUBLIC_KEY is not a base64 Curve25519 key.") from None
    if not key_path.exists() and generate:
        generate_keypair(key_path)
    return load_private_key(key_path).public_key


def public_key_text(key: PublicKey) -> str:
    """A public key as base64 text."""
    return base64.b64encode(bytes(key)).decode()


def seal(key: PublicKey, payload: dict) -> bytes:
    """``payload`` as JSON in a sealed box to ``key``."""
    return SealedBox(key).encrypt(json.dumps(payload, ensure_ascii=False, sort_keys=True).encode())


def unseal(key: PrivateKey, sealed: bytes) -> dict:
    """Open a sealed box with the private key."""
    try:
        return json.loads(SealedBox(key).decrypt(sealed))
    except CryptoError:
        raise KeyUnavailable("These details were sealed to another key than the one on this server.") from None


def receipt_for(secret: str, idempotency_key: str) -> str:
    """The receipt code of a submission: HMAC-SHA256(secret, key), 20 base32 characters in groups of four."""
    digest = hmac.new(secret.encode(), b"citizen-receipt|" + idempotency_key.encode(), hashlib.sha256).digest()
    number = int.from_bytes(digest[:13], "big") >> 4  # 100 bits
    chars = "".join(ALPHABET[(number >> (5 * i)) & 31] for i in reversed(range(RECEIPT_CHARS)))
    return "-".join(chars[i : i + 4] for i in range(0, RECEIPT_CHARS, 4))


def normalise_receipt(text: str | None) -> str:
    """A receipt as typed (spaces, dashes, lower case, O for 0) in its canonical form; InvalidInput otherwise."""
    raw = "".join(ch for ch in (text or "").upper() if ch not in " -\t").translate(CONFUSABLE)
    if len(raw) != RECEIPT_CHARS or any(ch not in ALPHABET for ch in raw):
        raise InvalidInput(
            "A receipt code is 20 letters and digits, e.g. 7K3M-Q9TX-2B4F-HW8R-N6PD.", code="invalid_receipt"
        )
    return "-".join(raw[i : i + 4] for i in range(0, RECEIPT_CHARS, 4))


def receipt_hash(receipt: str) -> str:
    """What the database keeps of a receipt code: its SHA-256 (of the canonical form)."""
    return hashlib.sha256(receipt.encode()).hexdigest()


def keyed_hash(secret: str, purpose: str, value: str) -> str:
    """HMAC-SHA256 of ``value`` (an address, a receipt) for a rate-limit bucket: the value is never stored, and
    without the server's secret the database cannot be searched for it."""
    return hmac.new(secret.encode(), f"citizen-{purpose}|{value}".encode(), hashlib.sha256).hexdigest()
