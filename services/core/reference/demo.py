"""The demo campaign (DESIGN §8): Qingdao's seven districts, posts held by placeholder people,
a category catalogue, routing rules and one demo account per role.

Every person is a placeholder (示例·…): the demo must never name a real office holder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
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


DISTRICTS: tuple[_District, ...] = (
    _District(
        "shinan",
        "市南区",
        36.0664,
        120.4124,
        (
            _Street("badaguan", "八大关街道", 36.0546, 120.3560),
            _Street("xiangganglu", "香港中路街道", 36.0628, 120.3905),
            _Street("zhanshan", "湛山街道", 36.0585, 120.3726),
        ),
    ),
    _District(
        "shibei",
        "市北区",
        36.0874,
        120.3747,
        (
            _Street("taidong", "台东街道", 36.0853, 120.3512),
            _Street("liaoninglu", "辽宁路街道", 36.0781, 120.3463),
            _Street("dengzhoulu", "登州路街道", 36.0772, 120.3630),
        ),
    ),
    _District(
        "licang",
        "李沧区",
        36.1453,
        120.4328,
        (
            _Street("xiaocun", "李村街道", 36.1468, 120.4322),
            _Street("fushanlu", "浮山路街道", 36.1009, 120.4103),
            _Street("cangkou", "沧口街道", 36.1731, 120.3712),
        ),
    ),
    _District(
        "xihaian",
        "西海岸新区",
        35.9606,
        120.1979,
        (
            _Street("huangdao", "黄岛街道", 35.9702, 120.2003),
            _Street("xuejiadao", "薛家岛街道", 35.9853, 120.2452),
            _Street("changjianglu", "长江路街道", 35.9600, 120.1950),
        ),
    ),
    _District(
        "jiaozhou",
        "胶州市",
        36.2644,
        120.0335,
        (
            _Street("fuan", "阜安街道", 36.2851, 120.0302),
            _Street("zhongyun", "中云街道", 36.2703, 120.0148),
            _Street("sanlihe", "三里河街道", 36.2602, 120.0501),
        ),
    ),
    _District(
        "pingdu",
        "平度市",
        36.7867,
        119.9600,
        (
            _Street("dongge", "东阁街道", 36.7851, 119.9702),
            _Street("fengtai", "凤台街道", 36.7749, 119.9451),
        ),
    ),
    _District(
        "laixi",
        "莱西市",
        36.8878,
        120.5178,
        (
            _Street("shuiji", "水集街道", 36.8882, 120.5301),
            _Street("wangcheng", "望城街道", 36.8702, 120.5003),
        ),
    ),
)


def _wd(days: int) -> dict[str, Any]:
    return {"working_days": days}


def _dur(iso: str) -> dict[str, Any]:
    return {"duration": iso}


# code, name, group, kind, time limit (its key decides the clock), duplicate radius (m)
CATEGORIES: tuple[tuple[str, str, str, str, dict[str, Any], int], ...] = (
    # 市容环境
    ("exposed_garbage", "暴露垃圾", "city_appearance", "event", _wd(2), 30),
    ("overflowing_bin", "垃圾桶满溢", "city_appearance", "event", _wd(1), 20),
    ("public_toilet_dirty", "公厕脏乱", "city_appearance", "event", _wd(1), 30),
    ("laundry_along_street", "沿街晾晒", "city_appearance", "event", _wd(1), 30),
    ("construction_dust", "工地扬尘", "city_appearance", "event", _wd(3), 100),
    # 城市管理 (交通秩序)
    ("street_vendor", "占道经营", "traffic_order", "event", _wd(2), 30),
    ("bicycle_disorder", "非机动车乱停放", "traffic_order", "event", _wd(1), 30),
    ("store_overflow", "店外经营", "traffic_order", "event", _wd(2), 30),
    # 公益广告与小广告
    ("illegal_ads", "违规小广告", "public_ads", "event", _wd(3), 30),
    ("graffiti", "乱涂乱画", "public_ads", "event", _wd(3), 30),
    ("public_ads_missing", "公益广告缺失或破损", "public_ads", "event", _wd(5), 50),
    # 拆违治乱
    ("illegal_construction", "违法建设", "illegal_construction", "event", _wd(10), 50),
    ("rooftop_structure", "楼顶违建", "illegal_construction", "event", _wd(15), 50),
    # 基础设施 (部件: owner department first)
    ("missing_manhole_cover", "井盖缺失", "infrastructure", "facility", _dur("PT2H"), 30),
    ("sewage_overflow", "污水外溢", "infrastructure", "facility", _dur("PT24H"), 50),
    ("damaged_road", "道路破损", "infrastructure", "facility", _wd(5), 30),
    ("damaged_sidewalk", "人行道破损", "infrastructure", "facility", _wd(5), 30),
    ("broken_streetlight", "路灯损坏", "infrastructure", "facility", _wd(3), 30),
    ("damaged_guardrail", "护栏损坏", "infrastructure", "facility", _wd(3), 30),
    ("blocked_drain", "雨水篦子堵塞", "infrastructure", "facility", _wd(2), 30),
    # No routing rule: lands in the campaign office's dispatch queue.
    ("other", "其他", "other", "event", _wd(5), 30),
)  # fmt: skip

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
)  # fmt: skip


class _Builder:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.units: dict[str, Unit] = {}
        self.people: dict[tuple[str, str], Person] = {}
        self._pending: list[tuple[str, str, Person]] = []

    async def unit(
        self,
        code: str,
        name: str,
        kind: str,
        parent: str | None,
        *,
        lat: float | None = None,
        lon: float | None = None,
    ) -> Unit:
        parent_unit = self.units[parent] if parent is not None else None
        unit = await create_unit(self.session, code, name, kind, parent_unit, lat=lat, lon=lon)
        self.units[code] = unit
        return unit

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
    await b.unit(CITY_CODE, "青岛市", "city", None, lat=36.0671, lon=120.3826)
    b.post(CITY_CODE, "head", "青岛市委书记")
    await b.unit("wenmingban", "市文明办", "campaign_office", CITY_CODE, lat=36.0669, lon=120.3830)
    b.post("wenmingban", "head", "市文明办主任")
    b.post("wenmingban", "verifier", "市文明办复核员")
    await b.unit(
        "jiwei", "市纪委监委", "discipline_commission", CITY_CODE, lat=36.0675, lon=120.3835
    )
    b.post("jiwei", "head", "市纪委书记、市监委主任")

    for d in DISTRICTS:
        await b.unit(d.code, d.name, "district", CITY_CODE, lat=d.lat, lon=d.lon)
        b.post(d.code, "head", f"{d.name}委书记")
        b.post(d.code, "city_leader", f"联系{d.name}的市领导")
        b.post(d.code, "handler", f"{d.name}创城办工作人员")
        cgj = f"{d.code}.cgj"
        await b.unit(cgj, f"{d.name}城市管理局", "department", d.code, lat=d.lat, lon=d.lon)
        if cgj != VACANT_HEAD_UNIT:
            b.post(cgj, "head", f"{d.name}城市管理局局长")
        b.post(cgj, "handler", f"{d.name}城市管理局工作人员")
        for s in d.streets:
            code = f"{d.code}.{s.slug}"
            await b.unit(code, s.name, "street", d.code, lat=s.lat, lon=s.lon)
            b.post(code, "head", f"{s.name}党工委书记")
            b.post(code, "handler", f"{s.name}城管办工作人员")

    await b.unit(
        "shinan.badaguan.taiping",
        "太平角社区",
        "community",
        "shinan.badaguan",
        lat=36.0512,
        lon=120.3598,
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
