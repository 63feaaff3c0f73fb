"""`duban verify-pack FILE`: whether an evidence pack is exactly as the server signed it."""

from __future__ import annotations

import argparse
import base64
import binascii
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from services.core.accountability.pack import verify
from services.core.platform.keys import pack_signing_key
from services.core.platform.settings import Settings

from .common import CliError


def _key(settings: Settings, given: str | None) -> Ed25519PublicKey:
    """The installation's public key, or one given (the `public_key` of a manifest signed
    elsewhere, checked against a key id the issuer published)."""
    if given is None:
        return pack_signing_key(settings).public_key()
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(given, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise CliError("--public-key: not an Ed25519 public key in base64", 2) from exc


def verify_pack(settings: Settings, args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}", 2) from exc
    result = verify(data, _key(settings, args.public_key))
    if result.ok:
        print(f"OK: {path} verifies: {result.files} files, signed by key {result.key_id}")
        print(f"subject: {result.subject}")
        return 0
    print(f"FAILED: {path} does not verify:")
    for problem in result.problems:
        print(f"  - {problem}")
    return 1
