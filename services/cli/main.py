"""The `duban` command line (DESIGN §7).

Each command's module is imported when that command runs, not before: between them they
load openpyxl, shapely, reportlab, alembic and the demo seeder, seconds of CPU that a
`duban user list` would otherwise pay on every start."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from services.core.imports.rules import KINDS
from services.core.models import USER_ROLES
from services.core.platform.settings import Settings

from . import output
from .common import CliError

Command = Callable[[Settings, argparse.Namespace], int]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="duban",
        description="督办 duban: findings and escalation for the civilized-city campaign.",
        epilog="Commands other than `up` reach the stack started by `duban up` from the same "
        "DUBAN_DATA_DIR, or DUBAN_DATABASE_URL / DUBAN_REDIS_URL when set.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser(
        "up", help="start PostgreSQL, Redis, the API and the worker (what `make run` runs)"
    )
    migrate = sub.add_parser("migrate", help="upgrade the database schema to the latest revision")
    migrate.add_argument("--downgrade", metavar="REV", help="downgrade to REV instead")
    sub.add_parser("seed-demo", help="seed the demo campaign (once) and print its accounts")
    _setup_parsers(sub)
    _account_parsers(sub)
    _operation_parsers(sub)
    return p


def _setup_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    init = sub.add_parser(
        "init",
        help="a new installation: the city, its campaign office and discipline commission, "
        "the first admin (nothing else; safe to run again)",
    )
    init.add_argument("--city", required=True, help="the city's code, e.g. qingdao or 370200")
    init.add_argument("--name", required=True, help="the city's name, e.g. 青岛市")
    init.add_argument("--admin", required=True, help="the first admin's username")
    init.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    init.add_argument("--office-code", default="wenmingban", help="default: wenmingban")
    init.add_argument("--office-name", default="市文明办", help="default: 市文明办")
    init.add_argument("--commission-code", default="jiwei", help="default: jiwei")
    init.add_argument("--commission-name", default="市纪委监委", help="default: 市纪委监委")

    imp = sub.add_parser(
        "import",
        help="import units, people, posts, categories, routing rules, policies, boundaries, "
        "evaluation point types, points or criteria "
        "from CSV, XLSX or GeoJSON (all or nothing; re-import updates)",
    )
    imp.add_argument("kind", choices=KINDS)
    imp.add_argument("file", nargs="?", help="the file (with --template: where to write it)")
    imp.add_argument("--dry-run", action="store_true", help="check and count, write nothing")
    imp.add_argument(
        "--template", action="store_true", help="write an empty template with one example row"
    )
    imp.add_argument("--format", choices=("csv", "xlsx"), default="csv", help="of the template")


def _account_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    user = sub.add_parser("user", help="manage users").add_subparsers(
        dest="user_command", required=True, metavar="ACTION"
    )
    add = user.add_parser("add", help="add a user (prompts for the password)")
    add.add_argument("name")
    add.add_argument("--role", required=True, help=", ".join(USER_ROLES))
    add.add_argument("--unit", required=True, help="code of the unit whose subtree they see")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    user.add_parser("list", help="every user: role, unit, active, open API tokens")
    for action, what in (
        ("disable", "disable a user: every session and API token of theirs ends at once"),
        ("enable", "enable a disabled user again (their old API tokens stay revoked)"),
    ):
        user.add_parser(action, help=what).add_argument("name")
    reset = user.add_parser(
        "reset-password", help="set a new password (ends every session, revokes API tokens)"
    )
    reset.add_argument("name")
    how = reset.add_mutually_exclusive_group()
    how.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    how.add_argument("--generate", action="store_true", help="generate one and print it")
    set_role = user.add_parser("set-role", help="change a user's role")
    set_role.add_argument("name")
    set_role.add_argument("role", help=", ".join(USER_ROLES))
    set_unit = user.add_parser("set-unit", help="move a user to another unit (their scope)")
    set_unit.add_argument("name")
    set_unit.add_argument("unit", help="unit code")

    token = sub.add_parser("token", help="manage long-lived API tokens").add_subparsers(
        dest="token_command", required=True, metavar="ACTION"
    )
    issue = token.add_parser("issue", help="issue a token for a user and print it")
    issue.add_argument("name", help="the user's username")
    issue.add_argument("--name", dest="label", default="cli", help="a label for the token")
    listing = token.add_parser("list", help="API tokens: whose, issued, last used, revoked")
    listing.add_argument("name", nargs="?", help="only this user's")
    revoke = token.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("id", type=int)


def _operation_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = sub.add_parser(
        "backup", help="back up the database and the photos together into a new directory"
    )
    backup.add_argument("dir", type=Path, help="a directory that does not exist yet, or is empty")
    restore = sub.add_parser(
        "restore", help="restore a backup made by `duban backup` (stop the API and worker first)"
    )
    restore.add_argument("dir", type=Path, help="the backup's directory")
    restore.add_argument(
        "--force",
        action="store_true",
        help="replace a database that holds findings or accounts (they are lost)",
    )

    calendar = sub.add_parser("calendar", help="the working-day calendar").add_subparsers(
        dest="calendar_command", required=True, metavar="ACTION"
    )
    load = calendar.add_parser(
        "import",
        help="enter a year's holidays and make-up working days (CSV: date,kind,name)",
    )
    load.add_argument("file", type=Path)
    load.add_argument("--dry-run", action="store_true", help="check the file, store nothing")

    verify = sub.add_parser(
        "verify-pack",
        help="check an evidence pack against the server's signing key: exit 0 when it is "
        "exactly as signed, 1 (naming what changed) when not",
    )
    verify.add_argument("file", help="the pack (.zip)")
    verify.add_argument("--public-key", help="verify with this Ed25519 public key (base64)")


# (command, action) -> "module:function" of services/cli, imported when that command runs.
COMMANDS: dict[tuple[str, str | None], str] = {
    ("up", None): "up:up_command",
    ("migrate", None): "migrations:migrate_command",
    ("seed-demo", None): "demo_accounts:seed_demo_command",
    ("init", None): "setup:init",
    ("import", None): "setup:import_command",
    ("verify-pack", None): "packs:verify_pack",
    ("backup", None): "backup:run",
    ("restore", None): "backup:run",
    ("calendar", "import"): "holidays:run",
    ("user", "add"): "accounts:user_add",
    ("user", "list"): "accounts:user_list",
    ("user", "disable"): "accounts:user_disable",
    ("user", "enable"): "accounts:user_enable",
    ("user", "reset-password"): "accounts:user_reset_password",
    ("user", "set-role"): "accounts:user_set_role",
    ("user", "set-unit"): "accounts:user_set_unit",
    ("token", "issue"): "accounts:token_issue",
    ("token", "list"): "accounts:token_list",
    ("token", "revoke"): "accounts:token_revoke",
}


def command(args: argparse.Namespace) -> Command:
    action = getattr(args, f"{args.command}_command", None)
    module, function = COMMANDS[(args.command, action)].split(":")
    return cast(Command, getattr(importlib.import_module(f"services.cli.{module}"), function))


def run(args: argparse.Namespace, settings: Settings) -> int:
    return command(args)(settings, args)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"DUBAN_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
        output.configure_unsettled()
        output.complain(f"invalid setting: {problems}")
        return 2
    output.configure(settings)
    try:
        return run(args, settings)
    except CliError as exc:
        output.complain(str(exc))
        return exc.exit_code
    except RuntimeError as exc:
        # An embedded server that would not start says why in its message.
        output.complain(str(exc))
        return 1
    except (OSError, DBAPIError, TimeoutError) as exc:
        if args.command == "up":
            raise
        # Connection failures: one line, and never the URL (it holds a password).
        reason = getattr(exc, "orig", None) or exc
        output.complain(f"cannot reach the database: {type(reason).__name__}: {reason}")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
