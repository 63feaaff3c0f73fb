"""Keys generated once into the data dir and reused: the token-signing and webhook keys of a
single-machine installation (production sets them explicitly)."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.core.platform.settings import Settings


def persistent_secret(path: Path, nbytes: int = 32) -> str:
    """The secret stored at `path` (0600), created on first use. Written aside and linked
    into place, so concurrent processes agree on one value and never read half a file."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)
    try:
        os.link(scratch, path)
    except FileExistsError:  # another process won the race: use its value
        value = path.read_text().strip()
    finally:
        scratch.unlink()
    return value


def jwt_secret(settings: Settings) -> str:
    """The configured key, else the installation's generated one, so tokens survive restarts
    and every process of one installation agrees."""
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value()
    return persistent_secret(settings.data_dir / "jwt-secret", 48)


def webhook_secret(settings: Settings) -> str:
    """The configured key, else the installation's generated one, so receivers configured
    with it keep working across restarts."""
    if settings.webhook_secret is not None:
        return settings.webhook_secret.get_secret_value()
    return persistent_secret(settings.data_dir / "webhook-secret")


def link_secret(settings: Settings) -> str:
    """The HMAC key of the signed links in messages: a link must open on every API process
    and survive restarts."""
    if settings.link_secret is not None:
        return settings.link_secret.get_secret_value()
    return persistent_secret(settings.data_dir / "link-secret")


def channel_key(settings: Settings) -> str:
    """The key the contact points' credentials are sealed with. Lose it and every robot must
    be configured again: it is backed up with the data dir."""
    if settings.channel_key is not None:
        return settings.channel_key.get_secret_value()
    return persistent_secret(settings.data_dir / "channel-key")


def pack_signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The Ed25519 key evidence packs are signed with: the configured seed (32 bytes,
    URL-safe base64), else the installation's generated one. Backed up with the data dir:
    packs signed before a new key no longer verify against it."""
    if settings.pack_signing_key is not None:
        seed = settings.pack_signing_key.get_secret_value()
    else:
        seed = persistent_secret(settings.data_dir / "pack-signing-key", 32)
    raw = base64.urlsafe_b64decode(seed + "=" * (-len(seed) % 4))
    if len(raw) != 32:
        raise ValueError("DUBAN_PACK_SIGNING_KEY must be 32 bytes in URL-safe base64")
    return Ed25519PrivateKey.from_private_bytes(raw)
