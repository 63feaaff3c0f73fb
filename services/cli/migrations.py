"""Alembic, run in-process against an explicit URL."""

from __future__ import annotations

import argparse
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

import services
from services.core.platform.settings import Settings

from .common import CliError, live_endpoints

# alembic.ini and migrations/ sit next to the `services` package in the checkout (and in
# the image, which installs the project in place).
ROOT = Path(services.__file__).resolve().parent.parent


def alembic_config(database_url: str) -> Config:
    ini = ROOT / "alembic.ini"
    if not ini.exists():
        raise CliError(f"alembic.ini not found in {ROOT}: run duban from its checkout")
    cfg = Config(str(ini))
    # ConfigParser treats % as interpolation; URL-encoded passwords contain it.
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    cfg = Config(str(ROOT / "alembic.ini"))
    return ScriptDirectory.from_config(cfg).get_current_head() or "base"


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def migrate_command(settings: Settings, args: argparse.Namespace) -> int:
    """`duban migrate [--downgrade REV]`."""
    url = live_endpoints(settings).database_url
    if args.downgrade is not None:
        downgrade(url, args.downgrade)
        print(f"database downgraded to {args.downgrade}")
    else:
        upgrade(url)
        print(f"database at {head_revision()} (head)")
    return 0
