"""The demo campaign's accounts: seeded once with random passwords, which are kept (0600) in
the data dir so every later `duban up` can print them again."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.demo.service import DemoAccount, demo_seeded, seed_demo
from services.core.platform.settings import Settings

from .common import in_transaction, live_endpoints

FILE = "demo-accounts.json"


@dataclass(frozen=True)
class SeedResult:
    seeded_now: bool
    # None when the database was seeded from another data dir: the passwords are not here.
    accounts: list[DemoAccount] | None


def path(data_dir: Path) -> Path:
    return data_dir / FILE


def load(data_dir: Path) -> list[DemoAccount] | None:
    try:
        rows = json.loads(path(data_dir).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return [DemoAccount(**row) for row in rows]


def save(data_dir: Path, accounts: list[DemoAccount]) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    target = path(data_dir)
    tmp = target.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump([asdict(a) for a in accounts], f, ensure_ascii=False, indent=2)
    tmp.replace(target)


def new_password(_username: str) -> str:
    return secrets.token_urlsafe(9)


async def seed_once(session: AsyncSession, data_dir: Path) -> SeedResult:
    if await demo_seeded(session):
        return SeedResult(seeded_now=False, accounts=load(data_dir))
    accounts = await seed_demo(session, password=new_password)
    # Written before the caller commits: if the commit fails, the next run seeds again and
    # overwrites the file; the other order could lose the passwords of committed accounts.
    save(data_dir, accounts)
    return SeedResult(seeded_now=True, accounts=accounts)


def table(accounts: list[DemoAccount]) -> str:
    header = DemoAccount("username", "role", "unit", "password", "what they can do")
    rows = [header, *accounts]
    widths = [max(len(getattr(r, f)) for r in rows) for f in ("username", "role", "unit_code")]
    widths.append(max(len(r.password) for r in rows))
    lines = []
    for r in rows:
        cells = (r.username, r.role, r.unit_code, r.password)
        left = "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))
        lines.append(f"  {left}  {r.description}")
    return "\n".join(lines)


def seed_demo_command(settings: Settings, _args: argparse.Namespace) -> int:
    """`duban seed-demo`."""
    url = live_endpoints(settings).database_url
    data_dir = settings.data_dir
    result = asyncio.run(in_transaction(url, lambda s: seed_once(s, data_dir)))
    if result.seeded_now:
        print("Seeded the demo campaign.")
    elif result.accounts:
        print("The demo campaign was already seeded.")
    else:
        print(
            "The database holds a city already: the demo was already seeded from another data "
            "dir (which kept its passwords), or the city was set up with `duban init`. Nothing "
            "was seeded."
        )
    if result.accounts:
        print(f"Demo accounts (also in {path(data_dir)}):")
        print(table(result.accounts))
    return 0
