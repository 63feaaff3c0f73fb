"""Contact-point credentials sealed at rest: a robot's webhook URL (it carries the
access_token or key), its signing secret, a webhook's URL.

They are kept in the database, sealed with AES-256-GCM under the installation's channel key
(DUBAN_CHANNEL_KEY, else generated into the data dir), rather than named from settings: a city
has hundreds of work groups, configured by its admins through the API, and a redeploy per
group would be absurd. A database dump alone then reveals no token. The key is derived from
the configured text with SHA-256; the row id is bound in as associated data, so a sealed
value copied onto another row does not open. Nothing here logs.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"\x01"
_NONCE = 12


class SealError(ValueError):
    """The sealed value does not open with this key (another installation's, or altered)."""


def _aead(key: str) -> AESGCM:
    return AESGCM(hashlib.sha256(key.encode()).digest())


def _bound(point_id: int) -> bytes:
    return f"duban.contact_point.{point_id}".encode()


def seal(key: str, point_id: int, secrets: dict[str, str]) -> bytes:
    nonce = os.urandom(_NONCE)
    plain = json.dumps(secrets, separators=(",", ":")).encode()
    return _VERSION + nonce + _aead(key).encrypt(nonce, plain, _bound(point_id))


def unseal(key: str, point_id: int, sealed: bytes | None) -> dict[str, str]:
    if not sealed:
        return {}
    if sealed[:1] != _VERSION or len(sealed) < 1 + _NONCE + 16:
        raise SealError("not a sealed value of this version")
    nonce, box = sealed[1 : 1 + _NONCE], sealed[1 + _NONCE :]
    try:
        data: Any = json.loads(_aead(key).decrypt(nonce, box, _bound(point_id)))
    except InvalidTag as exc:
        raise SealError("the channel key does not open it") from exc
    return {str(k): str(v) for k, v in data.items()}
