"""The caller as the database has them, and what an API process remembers of them.

Every request reads its caller (`CALLER_SQL`) as its first statement, with one exception: a
report (POST /findings) by a caller the process has read before skips that statement. It goes
ahead on the caller remembered (`CallerMemo`), and its own statement reads the caller again
and writes only if they are still exactly that, at the same reference revision
(services/core/findings/store.py). Anything else, a refusal included, is decided again on the
caller read afresh, so nothing is written or refused on a memory.

The caller's `token_version` is read with them: an access token is good only while it carries
the same (a logout, a password change or a deactivation raises it: migration 0014). A
remembered caller is remembered with it, and the report's statement confirms it too, so a
session ended in another process cannot report on what this one remembers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.core.identity.principal import Principal


# The caller, and the reference data's revision (services/core/reference/snapshot.py) on the way:
# every request's first statement, so the revision costs no round trip of its own. Run on the
# driver, ahead of the request's transaction (a read needs none), so a request that writes
# one statement only (POST /findings) never sends BEGIN or COMMIT.
def caller_sql(user_id: str) -> str:
    """The caller's statement, the user id in the parameter `user_id` (e.g. "$1")."""
    return f"""
SELECT u.id, u.username, u.role, un.id, un.code, un.kind, un.path, u.person_id,
       u.token_version, (SELECT revision FROM config_revision WHERE id = 1)
FROM users u JOIN units un ON un.id = u.unit_id
WHERE u.id = {user_id} AND u.active
"""  # noqa: S608 - a parameter's name, never a value


CALLER_SQL = caller_sql("$1")
# CALLER_SQL's columns, in order: a Principal's fields, the token version, the revision.
CALLER_COLUMNS = (
    "user_id",
    "username",
    "role",
    "unit_id",
    "unit_code",
    "unit_kind",
    "unit_path",
    "person_id",
    "token_version",
    "revision",
)
_PRINCIPAL_COLUMNS = CALLER_COLUMNS[:-2]


@dataclass(frozen=True)
class Known:
    """A caller as read, with their token version and the reference revision of that moment."""

    principal: Principal
    token_version: int
    revision: int

    def row(self) -> tuple[Any, ...]:
        """What CALLER_SQL returns for this caller while nothing has changed."""
        # Not dataclasses.astuple, which deep-copies: 13 µs of every remembered report.
        principal = self.principal
        fields = (getattr(principal, c) for c in _PRINCIPAL_COLUMNS)
        return (*fields, self.token_version, self.revision)


def known_from(row: Any) -> Known:
    *fields, token_version, revision = row
    return Known(Principal(*fields), token_version, revision)


async def read_caller(db: Any, user_id: int) -> Known | None:
    """The active caller `user_id`, on the driver connection `db`."""
    row = await db.fetchrow(CALLER_SQL, user_id)
    return known_from(row) if row is not None else None


class CallerChangedError(Exception):
    """The caller is no longer as remembered: their statement wrote nothing."""


class CallerMemo:
    """Callers as last read, by user id, in one process: at most `size`, oldest out first."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._known: dict[int, Known] = {}

    def get(self, user_id: int) -> Known | None:
        return self._known.get(user_id)

    def remember(self, known: Known) -> None:
        user_id = known.principal.user_id
        self._known.pop(user_id, None)
        if len(self._known) >= self._size:
            del self._known[next(iter(self._known))]
        self._known[user_id] = known

    def forget(self, user_id: int) -> None:
        self._known.pop(user_id, None)
