"""The demo campaign (DESIGN §8): Qingdao's seven districts, posts held by placeholder people,
a category catalogue, routing rules and one demo account per role.

The data is in demo.toml next to this module; here is how it becomes rows. Every person is a
placeholder (示例·…): the demo must never name a real office holder.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.identity.security import hash_password
from services.core.models import Category, Person, Post, RoutingRule, Unit, User
from services.core.reference.store import create_unit

CITY_CODE = "qingdao"
POSTS_VALID_FROM = datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=8)))
# Left without a head on purpose, so the vacant_post escalation can be demonstrated.
VACANT_HEAD_UNIT = "laixi.cgj"
TERRITORIAL_GROUPS = ("city_appearance", "traffic_order", "public_ads", "illegal_construction")
OWNER_GROUPS = ("infrastructure",)


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    unit_code: str
    password: str
    description: str


@dataclass(frozen=True)
class _Street:
    slug: str
    name: str
    lat: float
    lon: float


@dataclass(frozen=True)
class _District:
    code: str
    name: str
    lat: float
    lon: float
    streets: tuple[_Street, ...]


_DATA = tomllib.loads(Path(__file__).with_name("demo.toml").read_text(encoding="utf-8"))

DISTRICTS: tuple[_District, ...] = tuple(
    _District(
        d["code"],
        d["name"],
        d["at"][0],
        d["at"][1],
        tuple(_Street(s["slug"], s["name"], s["at"][0], s["at"][1]) for s in d["streets"]),
    )
    for d in _DATA["districts"]
)

# code, name, group, kind, time limit (its key decides the clock), duplicate radius (m)
CATEGORIES: tuple[tuple[str, str, str, str, dict[str, Any], int], ...] = tuple(
    (c["code"], c["name"], c["group"], c["kind"], c["limit"], c["radius_m"])
    for c in _DATA["categories"]
)

# username, role, unit code, the (unit, post role) whose person the account acts as, description
ACCOUNTS: tuple[tuple[str, str, str, tuple[str, str] | None, str], ...] = tuple(
    (
        a["username"],
        a["role"],
        a["unit"],
        tuple(a["acts_as"]) if "acts_as" in a else None,
        a["description"],
    )
    for a in _DATA["accounts"]
)


class _Builder:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.units: dict[str, Unit] = {}
        self.people: dict[tuple[str, str], Person] = {}
        self._pending: list[tuple[str, str, Person]] = []

    async def unit(
        self, code: str, name: str, kind: str, parent: str | None, at: tuple[float, float]
    ) -> None:
        """A unit at `at` (lat, lon) under the unit coded `parent` (None: the root)."""
        above = self.units[parent] if parent is not None else None
        self.units[code] = await create_unit(
            self.session, code, name, kind, above, lat=at[0], lon=at[1]
        )

    def post(self, unit_code: str, role: str, title: str) -> None:
        person = Person(name=f"示例·{title}", title=title)
        self.session.add(person)
        self.people[(unit_code, role)] = person
        self._pending.append((unit_code, role, person))

    async def flush_posts(self) -> None:
        await self.session.flush()
        for unit_code, role, person in self._pending:
            self.session.add(
                Post(
                    unit_id=self.units[unit_code].id,
                    role=role,
                    person_id=person.id,
                    valid_from=POSTS_VALID_FROM,
                )
            )
        self._pending = []
        await self.session.flush()


async def demo_seeded(session: AsyncSession) -> bool:
    return bool(await session.scalar(select(exists().where(Unit.code == CITY_CODE))))


class DemoAlreadySeededError(RuntimeError):
    pass


async def seed_demo(session: AsyncSession, *, password: Callable[[str], str]) -> list[DemoAccount]:
    """Insert the demo campaign; `password(username)` chooses each account's password."""
    if await demo_seeded(session):
        raise DemoAlreadySeededError("the demo campaign is already seeded")
    b = _Builder(session)
    await _seed_units(b)
    await b.flush_posts()
    await _seed_catalogue(b)
    return await _seed_accounts(b, password)


async def _seed_units(b: _Builder) -> None:
    await b.unit(CITY_CODE, "青岛市", "city", None, (36.0671, 120.3826))
    b.post(CITY_CODE, "head", "青岛市委书记")
    await b.unit("wenmingban", "市文明办", "campaign_office", CITY_CODE, (36.0669, 120.3830))
    b.post("wenmingban", "head", "市文明办主任")
    b.post("wenmingban", "verifier", "市文明办复核员")
    await b.unit("jiwei", "市纪委监委", "discipline_commission", CITY_CODE, (36.0675, 120.3835))
    b.post("jiwei", "head", "市纪委书记、市监委主任")

    for d in DISTRICTS:
        await b.unit(d.code, d.name, "district", CITY_CODE, (d.lat, d.lon))
        b.post(d.code, "head", f"{d.name}委书记")
        b.post(d.code, "city_leader", f"联系{d.name}的市领导")
        b.post(d.code, "handler", f"{d.name}创城办工作人员")
        cgj = f"{d.code}.cgj"
        await b.unit(cgj, f"{d.name}城市管理局", "department", d.code, (d.lat, d.lon))
        if cgj != VACANT_HEAD_UNIT:
            b.post(cgj, "head", f"{d.name}城市管理局局长")
        b.post(cgj, "handler", f"{d.name}城市管理局工作人员")
        for s in d.streets:
            code = f"{d.code}.{s.slug}"
            await b.unit(code, s.name, "street", d.code, (s.lat, s.lon))
            b.post(code, "head", f"{s.name}党工委书记")
            b.post(code, "handler", f"{s.name}城管办工作人员")

    await b.unit(
        "shinan.badaguan.taiping",
        "太平角社区",
        "community",
        "shinan.badaguan",
        (36.0512, 120.3598),
    )
    b.post("shinan.badaguan.taiping", "head", "太平角社区党委书记")


async def _seed_catalogue(b: _Builder) -> None:
    for code, name, group, kind, limit, radius in CATEGORIES:
        b.session.add(
            Category(
                code=code,
                name=name,
                group=group,
                kind=kind,
                clock="continuous" if "duration" in limit else "working_days",
                time_limit=limit,
                duplicate_radius_m=radius,
                policy_code="default",
            )
        )
    for d in DISTRICTS:
        area = b.units[d.code]
        for group in TERRITORIAL_GROUPS:
            b.session.add(RoutingRule(group=group, area_unit_id=area.id, responsible_unit_id=None))
        owner = b.units[f"{d.code}.cgj"]
        for group in OWNER_GROUPS:
            b.session.add(
                RoutingRule(group=group, area_unit_id=area.id, responsible_unit_id=owner.id)
            )
    await b.session.flush()


async def _seed_accounts(b: _Builder, password: Callable[[str], str]) -> list[DemoAccount]:
    accounts = []
    for username, role, unit_code, acts_as, description in ACCOUNTS:
        secret = password(username)
        person = b.people[acts_as] if acts_as is not None else None
        b.session.add(
            User(
                username=username,
                password_hash=hash_password(secret),
                role=role,
                unit_id=b.units[unit_code].id,
                person_id=person.id if person is not None else None,
            )
        )
        accounts.append(DemoAccount(username, role, unit_code, secret, description))
    await b.session.flush()
    return accounts
