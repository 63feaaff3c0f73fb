"""The `duban` command line (DESIGN §7)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Sequence

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from services.core.platform.settings import Settings

from . import accounts, backup, demo_accounts, holidays, migrations, output
from .common import CliError, in_transaction, live_endpoints


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

    user = sub.add_parser("user", help="manage users").add_subparsers(
        dest="user_command", required=True, metavar="ACTION"
    )
    add = user.add_parser("add", help="add a user (prompts for the password)")
    add.add_argument("name")
    add.add_argument("--role", required=True, help="inspector, dispatcher, unit_handler, …")
    add.add_argument("--unit", required=True, help="code of the unit whose subtree they see")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")

    token = sub.add_parser("token", help="manage long-lived API tokens").add_subparsers(
        dest="token_command", required=True, metavar="ACTION"
    )
    issue = token.add_parser("issue", help="issue a token for a user and print it")
    issue.add_argument("name", help="the user's username")
    issue.add_argument("--name", dest="label", default="cli", help="a label for the token")
    revoke = token.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("id", type=int)
    backup.add_parsers(sub)
    holidays.add_parsers(sub)
    return p


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    accounts.check_password(first)
    if getpass.getpass("Repeat the password: ") != first:
        raise CliError("the passwords do not match")
    return first


def _migrate(settings: Settings, downgrade: str | None) -> int:
    url = live_endpoints(settings).database_url
    if downgrade is not None:
        migrations.downgrade(url, downgrade)
        print(f"database downgraded to {downgrade}")
    else:
        migrations.upgrade(url)
        print(f"database at {migrations.head_revision()} (head)")
    return 0


def _seed_demo(settings: Settings) -> int:
    url = live_endpoints(settings).database_url
    data_dir = settings.data_dir
    result = asyncio.run(in_transaction(url, lambda s: demo_accounts.seed_once(s, data_dir)))
    if result.seeded_now:
        print("Seeded the demo campaign.")
    else:
        print("The demo campaign was already seeded.")
    if result.accounts:
        print(f"Demo accounts (also in {demo_accounts.path(data_dir)}):")
        print(demo_accounts.table(result.accounts))
    else:
        print("Its passwords were kept by the data dir that seeded it.")
    return 0


def _user_add(settings: Settings, args: argparse.Namespace) -> int:
    url = live_endpoints(settings).database_url
    password = _read_password(args.password_stdin)
    user = asyncio.run(
        in_transaction(
            url,
            lambda s: accounts.add_user(
                s, username=args.name, role=args.role, unit_code=args.unit, password=password
            ),
        )
    )
    print(f"user {user.username} added (id {user.id}, role {user.role}, unit {args.unit})")
    return 0


def _token_issue(settings: Settings, username: str, label: str) -> int:
    url = live_endpoints(settings).database_url
    token = asyncio.run(
        in_transaction(url, lambda s: accounts.issue_token(s, username=username, name=label))
    )
    # The secret alone on stdout, so TOKEN=$(duban token issue NAME) works.
    output.tell(
        f"API token {token.id} ({token.name!r}) for {token.username}; it is shown only once. "
        f"Revoke it with: duban token revoke {token.id}"
    )
    print(token.secret)
    return 0


def _token_revoke(settings: Settings, token_id: int) -> int:
    url = live_endpoints(settings).database_url
    revoked = asyncio.run(
        in_transaction(url, lambda s: accounts.revoke_token(s, token_id, now=accounts.utcnow()))
    )
    print(f"API token {token_id} {'revoked' if revoked else 'was already revoked'}")
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "up":
        from .up import up

        return up(settings)
    if args.command == "migrate":
        return _migrate(settings, args.downgrade)
    if args.command == "seed-demo":
        return _seed_demo(settings)
    if args.command == "user":
        return _user_add(settings, args)
    if args.command in backup.COMMANDS:
        return backup.run(args, settings)
    if args.command == "calendar":
        return holidays.run(args, settings)
    if args.token_command == "issue":  # noqa: S105 - a subcommand name
        return _token_issue(settings, args.name, args.label)
    return _token_revoke(settings, args.id)


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
