"""The signing key for access tokens."""

from __future__ import annotations

import os
import secrets

from services.core.settings import Settings


def jwt_secret(settings: Settings) -> str:
    """The configured key, else one generated once into the data dir (0600) and reused,
    so tokens survive restarts and every process of one installation agrees."""
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value()
    path = settings.data_dir / "jwt-secret"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its key
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(value)
    return value
