"""`duban init` and `duban import`: putting a city's own organisation and catalogue into a
fresh installation (services/core/imports/)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.identity.service import AdminError
from services.core.identity.store import Operator
from services.core.imports.installation import (
    Initialised,
    Installation,
    admin_missing,
    initialise,
)
from services.core.imports.rules import kinds
from services.core.platform.settings import Settings

from . import migrations
from .accounts import read_password, utcnow
from .common import CliError, in_transaction, live_endpoints

if TYPE_CHECKING:
    from services.core.imports.service import Outcome


async def require_schema(session: AsyncSession) -> None:
    """The schema this duban expects, or a one-line way to get it."""
    head = migrations.head_revision()
    try:
        async with session.begin_nested():
            at = await session.scalar(text("SELECT version_num FROM alembic_version"))
    except DBAPIError:
        at = None
    if at != head:
        raise CliError(
            f"the database schema is at {at or 'nothing'}, this duban needs {head}: "
            "run `duban migrate` first"
        )


# ---- init ----


def init(settings: Settings, args: argparse.Namespace) -> int:
    url = live_endpoints(settings).database_url
    inst = Installation(
        city_code=args.city,
        city_name=args.name,
        admin=args.admin,
        office_code=args.office_code,
        office_name=args.office_name,
        commission_code=args.commission_code,
        commission_name=args.commission_name,
    )

    async def check(session: AsyncSession) -> bool:
        await require_schema(session)
        return await admin_missing(session, inst)

    try:
        # Ask for the admin's password only when the admin is created, after the city has
        # been checked: a refusal asks for nothing.
        password = (
            read_password(args.password_stdin) if asyncio.run(in_transaction(url, check)) else None
        )
        done: Initialised = asyncio.run(
            in_transaction(url, lambda s: initialise(s, Operator.command_line(), inst, password))
        )
    except AdminError as exc:
        raise CliError(str(exc)) from None
    for item in done.created:
        print(f"created  {item}")
    for item in done.kept:
        print(f"kept     {item}")
    if not done.created:
        print(f"{inst.city_code} was already initialised: nothing changed")
    else:
        print(
            "Next: import the organisation and the catalogue (duban import --template KIND "
            "writes a template), see README “Put into service”."
        )
    return 0


# ---- import ----
# The readers and the import service (shapely, and openpyxl for a workbook) are imported by
# the commands that use them: `duban init` does not start slower for them.


def write_template(settings: Settings, args: argparse.Namespace) -> int:
    from services.core.imports import readers

    kind = kinds(ZoneInfo(settings.timezone))[args.kind]
    if args.file is not None:
        target = Path(args.file)
    else:
        ext = "geojson" if kind.geojson else args.format
        target = Path(f"{args.kind}.{ext}")
    fmt = "xlsx" if target.suffix.lower() == ".xlsx" else "csv"
    if target.exists():
        raise CliError(f"{target} exists already: give another file name")
    target.write_bytes(readers.template(kind, fmt))
    print(f"wrote {target}: the {kind.zh} ({args.kind}) columns and one example row")
    return 0


def _report(outcome: Outcome, tz: ZoneInfo, name: str) -> int:
    from services.core.imports.service import describe_errors

    if not outcome.ok:
        for line in describe_errors(outcome.kind, outcome.errors, tz):
            print(line, file=sys.stderr)
        print(
            f"{name}: {len(outcome.errors)} error(s); nothing was imported / "
            f"{len(outcome.errors)} 处错误，未导入任何数据",
            file=sys.stderr,
        )
        return 2
    verb = "would create" if outcome.dry_run else "created"
    upd = "would update" if outcome.dry_run else "updated"
    print(
        f"{name}: {outcome.rows} rows; {verb} {len(outcome.created)}, {upd} "
        f"{len(outcome.updated)}, unchanged {outcome.unchanged}"
    )
    for key in outcome.created:
        print(f"  + {key}")
    for key in outcome.updated:
        print(f"  ~ {key}")
    if outcome.dry_run:
        print("dry run: nothing was written")
    return 0


def import_command(settings: Settings, args: argparse.Namespace) -> int:
    from services.core.imports.service import import_file

    if args.template:
        return write_template(settings, args)
    if args.file is None:
        raise CliError("give the file to import: duban import KIND FILE [--dry-run]")
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None
    url = live_endpoints(settings).database_url
    tz = ZoneInfo(settings.timezone)

    async def work(session: AsyncSession) -> Outcome:
        await require_schema(session)
        return await import_file(
            session, args.kind, data, operator=Operator.command_line(), tz=tz, now=utcnow(),
            dry_run=args.dry_run, source=path.name,
        )  # fmt: skip

    return _report(asyncio.run(in_transaction(url, work)), tz, path.name)
