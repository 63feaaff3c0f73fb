"""`duban user …` and `duban token …`: the command line over the user administration of
services/core/identity/service.py. Every change is recorded in the administrative audit
trail with the operator: the operating-system account that ran the command, on this host."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import secrets
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.identity import service
from services.core.identity.queries import list_tokens, list_users
from services.core.identity.service import AdminError, IssuedToken
from services.core.identity.store import Operator
from services.core.models import User
from services.core.platform.settings import Settings

from . import output
from .common import CliError, in_transaction, live_endpoints

T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


def check_password(password: str) -> None:
    try:
        service.check_password(password)
    except AdminError as exc:
        raise CliError(str(exc)) from None


async def add_user(
    session: AsyncSession, *, username: str, role: str, unit_code: str, password: str
) -> User:
    """`duban user add`'s work in the caller's transaction (also what tests arrange users
    with)."""
    try:
        return await service.add_user(
            session, Operator.command_line(), username=username, role=role,
            unit_code=unit_code, password=password,
        )  # fmt: skip
    except AdminError as exc:
        raise CliError(str(exc)) from None


def _run(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    url = live_endpoints(settings).database_url
    try:
        return asyncio.run(in_transaction(url, work))
    except AdminError as exc:
        raise CliError(str(exc)) from None


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    check_password(first)
    if getpass.getpass("Repeat the password: ") != first:
        raise CliError("the passwords do not match")
    return first


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    )


def _when(at: datetime | None, tz: str) -> str:
    from zoneinfo import ZoneInfo

    return at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M") if at else "-"


# ---- users ----


def user_add(settings: Settings, args: argparse.Namespace) -> int:
    password = read_password(args.password_stdin)
    user = _run(
        settings,
        lambda s: service.add_user(
            s, Operator.command_line(), username=args.name, role=args.role,
            unit_code=args.unit, password=password,
        ),
    )  # fmt: skip
    print(f"user {user.username} added (id {user.id}, role {user.role}, unit {args.unit})")
    return 0


def user_list(settings: Settings, args: argparse.Namespace) -> int:
    users = _run(settings, list_users)
    rows = [
        (u.username, u.role, u.unit, "yes" if u.active else "DISABLED", u.person or "-",
         str(u.open_tokens), _when(u.created_at, settings.timezone))
        for u in users
    ]  # fmt: skip
    header = ("username", "role", "unit", "active", "person", "api tokens", "created")
    print(_table(header, rows))
    return 0


def _set_active(name: str, settings: Settings, *, active: bool, done: str) -> int:
    """Disable or enable one account; says `done` when it changed, else that it already was."""
    changed = _run(
        settings, lambda s: service.set_active(s, Operator.command_line(), name, active=active)
    )
    word = "enabled" if active else "disabled"
    print(f"user {name} {word}: {done}" if changed else f"user {name} was already {word}")
    return 0


def user_disable(settings: Settings, args: argparse.Namespace) -> int:
    done = "every session and API token of theirs ended now"
    return _set_active(args.name, settings, active=False, done=done)


def user_enable(settings: Settings, args: argparse.Namespace) -> int:
    done = "they log in again; their old API tokens stay revoked"
    return _set_active(args.name, settings, active=True, done=done)


def user_reset_password(settings: Settings, args: argparse.Namespace) -> int:
    password = secrets.token_urlsafe(12) if args.generate else read_password(args.password_stdin)
    revoked = _run(
        settings,
        lambda s: service.reset_password(s, Operator.command_line(), args.name, password),
    )
    output.tell(f"password of {args.name} set: every session ended, {revoked} API token(s) revoked")
    if args.generate:
        print(password)  # alone on stdout, for a script to hand on
    return 0


def user_set_role(settings: Settings, args: argparse.Namespace) -> int:
    changed = _run(
        settings, lambda s: service.set_role(s, Operator.command_line(), args.name, args.role)
    )
    print(f"user {args.name} {'is now' if changed else 'already was'} {args.role}")
    return 0


def user_set_unit(settings: Settings, args: argparse.Namespace) -> int:
    changed = _run(
        settings, lambda s: service.set_unit(s, Operator.command_line(), args.name, args.unit)
    )
    print(f"user {args.name} {'now belongs to' if changed else 'already belonged to'} {args.unit}")
    return 0


# ---- tokens ----


def token_issue(settings: Settings, args: argparse.Namespace) -> int:
    token: IssuedToken = _run(
        settings,
        lambda s: service.issue_token(
            s, Operator.command_line(), username=args.name, name=args.label
        ),
    )
    # The secret alone on stdout, so TOKEN=$(duban token issue NAME) works.
    output.tell(
        f"API token {token.id} ({token.name!r}) for {token.username}; it is shown only once. "
        f"Revoke it with: duban token revoke {token.id}"
    )
    print(token.secret)
    return 0


def token_list(settings: Settings, args: argparse.Namespace) -> int:
    tokens = _run(settings, lambda s: list_tokens(s, args.name))
    tz = settings.timezone
    rows = [
        (str(t.id), t.username, t.name, _when(t.created_at, tz), _when(t.last_used_at, tz),
         _when(t.revoked_at, tz) if t.revoked_at else "active")
        for t in tokens
    ]  # fmt: skip
    print(_table(("id", "user", "name", "issued", "last used", "revoked"), rows))
    return 0


def token_revoke(settings: Settings, args: argparse.Namespace) -> int:
    revoked = _run(
        settings,
        lambda s: service.revoke_token(s, Operator.command_line(), args.id, now=utcnow()),
    )
    print(f"API token {args.id} {'revoked' if revoked else 'was already revoked'}")
    return 0
