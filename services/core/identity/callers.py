"""The caller as the database has them: every request's first statement.

The caller's `token_version` is read with them: an access token is good only while it carries
the same (a logout, a password change or a deactivation raises it: migration 0014). The
reference data's revision (services/core/reference/snapshot.py) comes on the way, so it costs
no round trip of its own. Run on the driver, ahead of the request's transaction (a read needs
none), so a request that writes one statement only (POST /findings) never sends BEGIN or
COMMIT.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.core.identity.principal import Principal

CALLER_SQL = """
SELECT u.id, u.username, u.role, un.id, un.code, un.kind, un.path, u.person_id,
       u.token_version, (SELECT revision FROM config_revision WHERE id = 1)
FROM users u JOIN units un ON un.id = u.unit_id
WHERE u.id = $1 AND u.active
"""


@dataclass(frozen=True)
class Known:
    """A caller as read, with their token version and the reference revision of that moment."""

    principal: Principal
    token_version: int
    revision: int


async def read_caller(db: Any, user_id: int) -> Known | None:
    """The active caller `user_id`, on the driver connection `db`."""
    row = await db.fetchrow(CALLER_SQL, user_id)
    if row is None:
        return None
    *fields, token_version, revision = row
    return Known(Principal(*fields), token_version, revision)
