"""The demo campaign (DESIGN §8): Qingdao's seven districts, posts held by placeholder people,
a category catalogue, routing rules, boundaries and one demo account per role.

Everything but the accounts is imported from the files in services/core/demo/data/, through
the same import an office uses for its own (services/core/imports/service.py), so every
`make run` and every test session goes through that path. Every person is a placeholder
(示例·…): the demo must never name a real office holder, and its boundaries are rough
outlines around the streets' centres, not real ones.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.calendar.deadlines import CityClock
from services.core.calendar.store import load_calendar
from services.core.commitments.service import (
    NewCommitment,
    NewMeeting,
    add_commitment,
    create_meeting,
)
from services.core.findings.rules import Clock
from services.core.identity.principal import Principal
from services.core.identity.security import hash_password
from services.core.identity.store import Operator
from services.core.imports.service import describe_errors, import_file
from services.core.inspection.service import NewPlan, create_plan
from services.core.models import Post, Unit, User

DATA = Path(__file__).resolve().parent / "data"
# In the order they depend on each other: units before the posts and rules that name them.
FILES = (
    ("units", "units.csv"),
    ("boundaries", "boundaries.geojson"),
    ("people", "people.csv"),
    ("posts", "posts.csv"),
    ("policies", "policies.csv"),
    ("categories", "categories.csv"),
    ("routing-rules", "routing-rules.csv"),
    ("point-types", "point-types.csv"),
)
# The campaign instruments: evaluation points at every street, an illustrative subset of
# criteria (not the official text) and a plan (seed_demo's `instruments`).
INSTRUMENT_FILES = (("points", "points.csv"), ("criteria", "criteria.csv"))
DEMO_PLAN = "demo.plan"
CITY_TZ = ZoneInfo("Asia/Shanghai")
# Left without a head on purpose, so the vacant_post escalation can be demonstrated.
VACANT_HEAD_UNIT = "laixi.cgj"
SEEDER = Operator("seed-demo")
# As DUBAN_WORKDAY_END's default: the demo's plan is cut on it.
WORKDAY_END = time(17, 30)


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    unit_code: str
    password: str
    description: str


@dataclass(frozen=True)
class Street:
    slug: str
    name: str
    lat: float
    lon: float


@dataclass(frozen=True)
class District:
    code: str
    name: str
    lat: float
    lon: float
    streets: tuple[Street, ...]


def _districts() -> tuple[District, ...]:
    """The districts and their streets, as the demo's units file has them."""
    with (DATA / "units.csv").open(encoding="utf-8") as f:
        rows = [dict(zip(("code", "name", "kind", "parent", "lat", "lon"), r, strict=True))
                for r in list(csv.reader(f))[1:]]  # fmt: skip
    return tuple(
        District(
            d["code"],
            d["name"],
            float(d["lat"]),
            float(d["lon"]),
            tuple(
                Street(
                    s["code"].removeprefix(d["code"] + "."),
                    s["name"],
                    float(s["lat"]),
                    float(s["lon"]),
                )
                for s in rows
                if s["kind"] == "street" and s["parent"] == d["code"]
            ),
        )
        for d in rows
        if d["kind"] == "district"
    )


DISTRICTS = _districts()

# username, role, unit code, the (unit, post role) whose person the account acts as, description
ACCOUNTS: tuple[tuple[str, str, str, tuple[str, str] | None, str], ...] = (
    ("admin", "admin", "qingdao", None,
     "系统管理员：维护单位、人员、类别和分派规则 / "
     "Administrator: units, people, categories, routing rules"),
    ("dispatcher", "dispatcher", "wenmingban", None,
     "市文明办派遣员：派遣、作废、判重、批准延期 / "
     "Campaign office dispatcher: dispatch, invalidate, mark duplicates, approve extensions"),
    ("supervisor", "supervisor", "qingdao", None,
     "督查人员：查看全市问题、督办和排名 / "
     "Supervisor: reads every finding, escalation and ranking"),
    ("inspector", "inspector", "wenmingban", None,
     "市文明办巡查员：全市巡查上报问题 / "
     "City inspector: reports findings anywhere in the city"),
    ("inspector.shinan", "inspector", "shinan", None,
     "市南区巡查员：区内巡查和自评自测 / "
     "Shinan inspector: patrols and self-assessment in 市南区"),
    ("handler.shinan", "unit_handler", "shinan", ("shinan", "handler"),
     "市南区经办人：签收、整改、申请延期（含下属街道） / "
     "Shinan handler: accepts, rectifies, asks for extensions for the district and its streets"),
    ("handler.shinan.badaguan", "unit_handler", "shinan.badaguan", ("shinan.badaguan", "handler"),
     "八大关街道经办人 / "
     "Badaguan street handler: accepts and rectifies the street's findings"),
    ("handler.shinan.cgj", "unit_handler", "shinan.cgj", ("shinan.cgj", "handler"),
     "市南区城市管理局经办人：部件类问题 / "
     "Shinan city-management bureau handler: facility findings"),
    ("handler.licang.xiaocun", "unit_handler", "licang.xiaocun", ("licang.xiaocun", "handler"),
     "李村街道经办人（李沧区） / "
     "Licun street handler (Licang): accepts and rectifies the street's findings"),
    ("verifier", "verifier", "wenmingban", ("wenmingban", "verifier"),
     "市文明办复核员：复核整改、销号或返工 / "
     "Verifier: re-inspects a rectification, closes it or sends it back"),
    ("leader.shinan", "leader", "shinan", ("shinan", "head"),
     "示例·市南区委书记（第一责任人）：接收督办并批示 / "
     "Head of Shinan: receives escalations and gives instructions"),
    ("leader.city", "leader", "qingdao", ("shinan", "city_leader"),
     "示例·联系市南区的市领导：接收三级督办 / "
     "City leader in charge of Shinan: receives level-3 escalations"),
    ("discipline", "discipline", "jiwei", ("jiwei", "head"),
     "示例·市纪委监委：问责台账、问责记录、证据包 / "
     "Discipline commission: accountability ledger, records and evidence packs"),
)  # fmt: skip


async def demo_seeded(session: AsyncSession) -> bool:
    """Whether the database holds a city already, the demo's or one's own (`duban init`):
    the demo goes only into an empty database, never into a city's."""
    return bool(await session.scalar(select(exists().where(Unit.parent_id.is_(None)))))


class DemoAlreadySeededError(RuntimeError):
    pass


async def seed_demo(
    session: AsyncSession,
    *,
    password: Callable[[str], str],
    tz: ZoneInfo = CITY_TZ,
    instruments: bool = True,
) -> list[DemoAccount]:
    """Import the demo campaign and add its accounts; `password(username)` chooses each
    account's password. With `instruments`, also the evaluation points, the illustrative
    criteria and an inspection plan from this month to the end of the next."""
    if await demo_seeded(session):
        raise DemoAlreadySeededError("the demo campaign is already seeded")
    now = datetime.now(UTC)
    files = FILES + INSTRUMENT_FILES if instruments else FILES
    for kind, name in files:
        outcome = await import_file(
            session, kind, (DATA / name).read_bytes(), operator=SEEDER, tz=tz, now=now,
            source=f"demo/{name}",
        )  # fmt: skip
        if not outcome.ok:
            problems = "; ".join(describe_errors(kind, outcome.errors, tz))
            raise RuntimeError(f"the demo's {name} does not import: {problems}")
    accounts = await _seed_accounts(session, password)
    if instruments:
        await _seed_plan(session, tz, now)
        await _seed_meeting(session, tz, now)
    return accounts


DEMO_MEETING = "示例·曝光片点评会（演示）"
# Each district's commitment is due this many working days after the meeting.
DEMO_PLEDGE_DAYS = 20


async def _seed_meeting(session: AsyncSession, tz: ZoneInfo, now: datetime) -> None:
    """The meeting the campaign is built around, recorded by the demo's dispatcher: each of
    the seven districts' commitment (status quo, problems, targets, measures, a deadline), in
    placeholder text; its leader is the district's (placeholder) head."""
    user = await session.scalar(select(User).where(User.username == "dispatcher"))
    office = await session.get(Unit, user.unit_id) if user is not None else None
    if user is None or office is None:
        raise RuntimeError("the demo's dispatcher account is missing")
    principal = Principal(
        user.id, user.username, user.role, office.id, office.code, office.kind, office.path,
        user.person_id,
    )  # fmt: skip
    city = CityClock(calendar=await load_calendar(session), tz=tz, end_of_day=WORKDAY_END)
    clock = Clock(now=now, city=city)
    held_on = now.astimezone(tz).date()
    meeting = await create_meeting(
        session, NewMeeting(held_on, DEMO_MEETING, "exposure_review"), principal, clock
    )
    for d in DISTRICTS:
        pledge = NewCommitment(
            unit=d.code,
            status_quo=f"示例·{d.name}现状：占位文字，演示用",
            problems=f"示例·{d.name}存在问题：曝光问题尚未全部整改（占位）",
            targets=f"示例·{d.name}目标：曝光问题全部整改销号（占位）",
            measures=f"示例·{d.name}措施：每日巡查、限时清零（占位）",
            deadline={"working_days": DEMO_PLEDGE_DAYS},
        )
        await add_commitment(session, meeting.id, pledge, principal, clock)


async def _seed_plan(session: AsyncSession, tz: ZoneInfo, now: datetime) -> None:
    """A routine plan over the city: markets weekly, alleys and toilets monthly, from the
    first of this month to the end of the next, for the two demo inspectors in turn."""
    today = now.astimezone(tz).date()
    first = today.replace(day=1)
    after_next = date(first.year + (first.month >= 11), (first.month + 1) % 12 + 1, 1)
    plan = NewPlan(
        code=DEMO_PLAN, name="示例·巡查计划（演示）", kind="routine", criteria_set="demo-2026",
        starts_on=first, ends_on=after_next - timedelta(days=1), units=[],
        frequencies={"farmers_market": "weekly", "back_alley": "monthly",
                     "public_toilet": "monthly"},
        assignees=["inspector", "inspector.shinan"],
    )  # fmt: skip
    city = CityClock(calendar=await load_calendar(session), tz=tz, end_of_day=WORKDAY_END)
    await create_plan(session, plan, None, Clock(now=now, city=city))


async def _person_of(session: AsyncSession, unit: str, role: str) -> int | None:
    return await session.scalar(
        select(Post.person_id)
        .join(Unit, Unit.id == Post.unit_id)
        .where(Unit.code == unit, Post.role == role)
    )


async def _seed_accounts(
    session: AsyncSession, password: Callable[[str], str]
) -> list[DemoAccount]:
    units = {str(code): int(id_) for code, id_ in await session.execute(select(Unit.code, Unit.id))}
    accounts = []
    for username, role, unit_code, acts_as, description in ACCOUNTS:
        secret = password(username)
        person = await _person_of(session, *acts_as) if acts_as is not None else None
        session.add(
            User(
                username=username,
                password_hash=hash_password(secret),
                role=role,
                unit_id=units[unit_code],
                person_id=person,
            )
        )
        accounts.append(DemoAccount(username, role, unit_code, secret, description))
    await session.flush()
    return accounts
