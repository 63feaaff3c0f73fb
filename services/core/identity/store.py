"""The administrative audit trail (`admin_events`, append-only): every change an operator
makes to users, tokens, the organisation or the catalogue, with who made it."""

from __future__ import annotations

import getpass
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.models import AdminEvent


@dataclass(frozen=True)
class Operator:
    """Who makes an administrative change: a duban user through the API, or whoever runs the
    command line on the server (their operating-system account)."""

    label: str
    user_id: int | None = None

    @classmethod
    def api(cls, user_id: int, username: str) -> Operator:
        return cls(f"api:{username}", user_id)

    @classmethod
    def command_line(cls) -> Operator:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry (a container's arbitrary uid)
            user = "unknown"
        return cls(f"cli:{user}@{socket.gethostname()}"[:200])


async def record(
    session: AsyncSession,
    operator: Operator,
    action: str,
    target: str,
    payload: Mapping[str, Any] | None = None,
) -> None:
    session.add(
        AdminEvent(
            actor_id=operator.user_id,
            actor=operator.label,
            action=action,
            target=target[:200],
            payload=dict(payload or {}),
        )
    )
    await session.flush()
