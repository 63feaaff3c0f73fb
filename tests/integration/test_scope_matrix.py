"""The scope matrix: no response reveals another district's data.

One database for the module holds, besides the demo campaign, objects of 李沧区 (the foreign
district): a finding routed to 李村街道 with its audit trail, a before- and an after-photo,
four fired escalations and their notifications; an exposure video whose segments are all in
李沧区; and a video with one segment in 八大关街道 and one in 李村街道. The callers are the
demo accounts of 市南区 and, for what is addressed to a person (escalations of a leader, the
inbox), the city-wide accounts too.

Every operation of the OpenAPI document and every dashboard page has an entry in a table
saying how to exercise it; a test fails when the document or the dashboard gains an operation
the table does not know. For each operation and each caller outside the object's audience:

- the body names no foreign object: no id, description, street or office holder of 李沧区;
- a path naming a foreign object answers 403 or 404, exactly as the same call on an id that
  does not exist (no oracle), and a list answers without it (and its counts without it);
- a write changes nothing: the foreign rows, the configuration and the stored briefings are
  the same afterwards, row for row.

A control test reads every operation as a caller who may see the foreign objects and finds
them, so an absence in the matrix means the scope hid them, not that the call missed.
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from httpx import ASGITransport, AsyncClient, Response
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api.app import create_app
from services.cli.accounts import add_user
from services.core.findings.rules import Action
from services.core.identity.security import issue_access_token
from services.core.models import User
from services.core.platform.db import make_engine, make_sessionmaker
from services.core.platform.keys import jwt_secret
from services.core.platform.settings import Settings
from tests.helpers import (
    TZ,
    Login,
    Servers,
    act,
    around_today,
    csrf_of,
    csv_file,
    demo_password,
    import_criteria,
    import_points,
    make_overdue,
    make_pdf,
    overdue_commitment,
    post,
    readable,
    sweep,
    sweep_pledges,
    visit,
)
from tests.helpers import (
    body as finding_body,
)
from tests.photos import make_jpeg, upload

API = "/api/v1"

# Callers whose scope is one unit's subtree in 市南区.
SCOPED = (
    "inspector.shinan",
    "handler.shinan",
    "handler.shinan.badaguan",
    "handler.shinan.cgj",
    "leader.shinan",
)
# Callers who see the whole city (a leader still sees only the escalations addressed to them).
CITY_WIDE = (
    "admin",
    "supervisor",
    "dispatcher",
    "inspector",
    "verifier",
    "leader.city",
    "discipline",
)
ROLES = SCOPED + CITY_WIDE
# Those whose scope holds 八大关街道, and so the mixed video's own segment.
SEES_BADAGUAN = frozenset(
    {"inspector.shinan", "handler.shinan", "handler.shinan.badaguan", "leader.shinan"}
)
# A leader of 李沧区, made for the module: the recipient of the foreign inbox items.
FOREIGN_LEADER = "leader.licang"

# Who may see the foreign objects through an operation of each kind.
AUDIENCE: dict[str, frozenset[str]] = {
    "finding": frozenset(CITY_WIDE),  # findings and all that hangs off them
    "escalation": frozenset(CITY_WIDE) - {"leader.city"},  # a leader: only their own
    # Only the person addressed: the fourth level goes to the discipline commission's head,
    # whose account `discipline` is.
    "inbox": frozenset({"discipline"}),
    "config": frozenset(CITY_WIDE),  # admins only; no district data for anyone else
    "none": frozenset(CITY_WIDE),  # no district object at all
    # Evaluation points and what hangs off them (tasks, inspections, photos, assessments).
    "inspection": frozenset(CITY_WIDE),
    # Figures per district (coverage, the self-assessment gap): rows of one's own scope only.
    "coverage": frozenset(CITY_WIDE),
    "desk": frozenset(CITY_WIDE),  # a desk's queue: findings in a state F1 is not in
    # Meetings and commitments: a unit sees its subtree's commitments only.
    "commitment": frozenset(CITY_WIDE),
    # The accountability ledger: the commission, supervisors and admins (and each person
    # their own); the 问责 records: the commission and admins (and the person concerned).
    "ledger": frozenset({"discipline", "supervisor", "admin"}),
    "record": frozenset({"discipline", "admin"}),
}
# Who reads each kind in the control test.
CONTROL = {
    "finding": "supervisor",
    "escalation": "supervisor",
    "inbox": FOREIGN_LEADER,
    "config": "admin",
    "inspection": "supervisor",
    "coverage": "supervisor",
    "commitment": "supervisor",
    "ledger": "supervisor",
    "record": "discipline",
}
# The kinds whose every list shows the foreign objects to the control caller (configuration
# lists are paged and hold no district data of their own).
SHOWN_IN_LISTS = frozenset({"finding", "escalation", "inbox", "inspection", "commitment", "record"})

# The foreign escalations and notifications get ids no other row has and no count equals.
FOREIGN_IDS_FROM = 7_770_000_100
MISSING_INT = 2_000_000_000
OVERRIDE_DAY = "2026-10-10"
LICANG_LAT_LON = (36.1468, 120.4322)
LICANG_PLACE = {"lat": LICANG_LAT_LON[0], "lon": LICANG_LAT_LON[1], "address": "李沧区李村 京口路"}


# --- the arranged world ---------------------------------------------------------------


@dataclass
class World:
    app: FastAPI
    client: AsyncClient
    conn: asyncpg.Connection
    bearer: dict[str, dict[str, str]]
    cookie: dict[str, str]
    csrf: dict[str, str]
    finding: str  # F1: 李村街道, accepted, overdue, escalated L1-L4, before+after photos
    finding_body: dict[str, Any]
    segments: list[str]  # the foreign video's two segments, the mixed video's foreign one
    evidence: list[str]
    after_photo: bytes  # the original bytes of F1's after-photo
    attachments: list[str]  # the file F1's acceptance carries
    escalations: list[int]
    notifications: list[int]
    video: str  # every segment in 李沧区
    video_body: dict[str, Any]
    mixed: str  # one segment in 八大关街道, one in 李村街道
    mixed_own: str
    own_accepted: str  # 八大关街道, accepted by its handler
    licang_head: int  # person
    licang_point: int  # the head's mobile number, a contact point
    licang_post: int
    licang_rule: int
    week: str  # the ISO week everything was reported in
    instruments: Instruments
    record: int  # a 问责 record against 李沧区's head
    texts: tuple[str, ...]
    numbers: tuple[int, ...]
    watched: list[uuid.UUID] = field(default_factory=list)
    # The meeting (the city's) that reviewed both videos, 李沧区's commitment at it (F1
    # linked, its head in personal charge, overdue and escalated) and its progress report.
    meeting: int = 0
    commitment: int = 0
    progress: int = 0
    progress_photo: str = ""
    # Sign `role` in again: a logout ends every session and token of its user.
    sign_in_again: Callable[[str], Awaitable[None]] | None = None

    def leaks(self, body: str, sent: str = "") -> list[str]:
        """The foreign markers in `body`, but for those the caller sent (a 404 may name the id
        it was asked for)."""
        found = [t for t in self.texts if t in body and t not in sent]
        found += [
            str(n)
            for n in self.numbers
            if re.search(rf"(?<![0-9]){n}(?![0-9])", body) and str(n) not in sent
        ]
        return found

    async def fingerprint(self) -> dict[str, str]:
        """The foreign rows, the own accepted finding, the videos, the configuration and the
        stored briefings, each table as one digest."""
        videos = [uuid.UUID(self.video), uuid.UUID(self.mixed)]
        row = await self.conn.fetchrow(FINGERPRINT_SQL, self.watched, videos)
        return dict(row)


# Built from this module's table names only.
def _digest(select: str) -> str:
    return f"(SELECT md5(coalesce(string_agg(x, '|' ORDER BY x), '')) FROM ({select}) s(x))"  # noqa: S608


_BY_FINDING = "SELECT t::text FROM {table} t WHERE {column} = ANY($1::uuid[])"
_WHOLE = "SELECT t::text FROM {table} t"
FINGERPRINT_SQL = "SELECT " + ", ".join(  # noqa: S608
    f"{_digest(select)} AS {table}"
    for table, select in [
        ("findings", _BY_FINDING.format(table="findings", column="id")),
        ("events", _BY_FINDING.format(table="events", column="finding_id")),
        ("evidence", _BY_FINDING.format(table="evidence", column="finding_id")),
        ("attachments", _BY_FINDING.format(table="attachments", column="finding_id")),
        ("escalations", _BY_FINDING.format(table="escalations", column="finding_id")),
        ("notifications", _BY_FINDING.format(table="notifications", column="finding_id")),
        ("exposure_videos", "SELECT t::text FROM exposure_videos t WHERE id = ANY($2::uuid[])"),
        # A logout moves its own user's token version on, and nothing else of the row.
        (
            "users",
            "SELECT (t.id, t.username, t.password_hash, t.role, t.unit_id, t.active)::text"
            " FROM users t",
        ),
        *(
            (table, _WHOLE.format(table=table))
            for table in (
                "weekly_briefings",
                "units",
                "people",
                "posts",
                "categories",
                "routing_rules",
                "escalation_policies",
                "calendar_overrides",
                "point_types",
                "evaluation_points",
                "criteria_sets",
                "criteria",
                "inspection_plans",
                "inspection_tasks",
                "inspections",
                "inspection_results",
                "inspection_photos",
                "assessment_rounds",
                "self_assessments",
                "self_assessment_scores",
                "meetings",
                "meeting_videos",
                "commitments",
                "commitment_findings",
                "commitment_progress",
                "commitment_escalations",
                "personal_supervisions",
                "commitment_photos",
                "accountability_records",
                "accountability_links",
                "instruction_follow_ups",
            )
        ),
    ]
)


async def _create_foreign_leader(factory: async_sessionmaker[AsyncSession]) -> int:
    """An account acting as the head of 李沧区 (the demo has none); their person id."""
    async with factory() as session, session.begin():
        user = await add_user(
            session,
            username=FOREIGN_LEADER,
            role="leader",
            unit_code="licang",
            password=demo_password(FOREIGN_LEADER),
        )
        conn = await session.connection()
        person = (
            await conn.exec_driver_sql(
                "SELECT p.person_id FROM posts p JOIN units u ON u.id = p.unit_id "
                "WHERE u.code = 'licang' AND p.role = 'head'"
            )
        ).scalar_one()
        user.person_id = person
        # Where the head is reached: a number only admins may read.
        await conn.execute(
            text(
                "INSERT INTO contact_points (person_id, kind, target, position) "
                "VALUES (:person, 'sms', :phone, 0)"
            ),
            {"person": person, "phone": FOREIGN_PHONE},
        )
    return int(person)


FOREIGN_PHONE = "13900000077"


async def _foreign_point(factory: async_sessionmaker[AsyncSession], person: int) -> int:
    async with factory() as session:
        conn = await session.connection()
        found = await conn.execute(
            text("SELECT id FROM contact_points WHERE person_id = :p"), {"p": person}
        )
        return int(found.scalar_one())


async def _bearer_tokens(
    factory: async_sessionmaker[AsyncSession], settings: Settings
) -> dict[str, dict[str, str]]:
    """Bearer headers for every account, issued as the token endpoint issues them (which is a
    case of the matrix): a password check costs half a second each."""
    async with factory() as session:
        rows = await session.execute(select(User.username, User.id, User.token_version))
    secret = jwt_secret(settings)
    now = datetime.now(UTC)
    return {
        name: {"Authorization": f"Bearer {issue_access_token(uid, ver, secret, now, 240)}"}
        for name, uid, ver in rows
    }


async def _arrange_own(
    client: AsyncClient,
    login: dict[str, dict[str, str]],
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> str:
    """市南区's own objects, so its callers' lists are not empty: an escalated finding and an
    accepted one (its id)."""
    inspector = login["inspector"]
    escalated = await post(client, inspector, description="八大关 本区逾期问题")
    await make_overdue(factory, escalated["id"], datetime.now(UTC) - timedelta(days=30))
    await sweep(factory, settings, datetime.now(UTC))
    accepted = await post(
        client,
        inspector,
        description="八大关 本区已签收问题",
        location={"lat": 36.0601, "lon": 120.3499, "address": "市南区八大关 山海关路"},
    )
    r = await act(client, login["handler.shinan.badaguan"], accepted["id"], "accept")
    assert r.status_code == 200, r.text
    return str(accepted["id"])


def _segment(offset: str, marker: str, unit: str, lat: float, lon: float) -> dict[str, Any]:
    return {
        "offset": offset,
        "category": "exposed_garbage",
        "description": f"{marker} 曝光垃圾堆放",
        "location": {"lat": lat, "lon": lon, "address": f"{marker} 点位"},
        "unit": unit,
    }


def _video(title: str, segments: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "title": title,
        "publisher": "青岛市文明办",
        "aired_on": (datetime.now(TZ).date() - timedelta(days=1)).isoformat(),
        "url": "https://tv.example/qingdao/baoguang/99",
        "rectify_within": {"working_days": 5},
        "segments": segments,
    }


@dataclass(frozen=True)
class ForeignFinding:
    id: str
    body: dict[str, Any]
    evidence: list[str]
    after_photo: bytes
    attachments: list[str]


FOREIGN_FILE = "越界附件"


async def _arrange_foreign_finding(
    client: AsyncClient,
    login: dict[str, dict[str, str]],
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> ForeignFinding:
    """F1 in 李村街道: a before-photo, overdue and escalated L1-L4 (the foreign escalation and
    notification ids start at FOREIGN_IDS_FROM), then accepted with an after-photo."""
    async with factory() as session, session.begin():
        conn = await session.connection()
        for table in ("escalations", "notifications"):
            await conn.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {FOREIGN_IDS_FROM})"
            )
    inspector = login["inspector"]
    body = finding_body(
        description="越界甲 李村京口路垃圾堆放", unit="licang.xiaocun", location=LICANG_PLACE
    )
    r = await client.post(f"{API}/findings", json=body, headers=inspector)
    assert r.status_code == 201, r.text
    assert r.json()["responsible_unit"]["code"] == "licang.xiaocun"
    f1 = str(r.json()["id"])
    photo = make_jpeg(taken_at=datetime.now(TZ), gps=LICANG_LAT_LON)
    before = await upload(client, inspector, f1, photo, kind="before")
    assert before.status_code == 201, before.text
    await make_overdue(factory, f1, datetime.now(UTC) - timedelta(days=30))
    await sweep(factory, settings, datetime.now(UTC))
    licun = login["handler.licang.xiaocun"]
    r = await client.post(
        f"{API}/findings/{f1}/attachments",
        files={"file": (f"{FOREIGN_FILE}.pdf", make_pdf(), "application/pdf")},
        headers=licun,
    )
    assert r.status_code == 201, r.text
    attachment = str(r.json()["id"])
    assert (await act(client, licun, f1, "accept", attachments=[attachment])).status_code == 200
    after_photo = make_jpeg(taken_at=datetime.now(TZ), gps=LICANG_LAT_LON)
    after = await upload(client, licun, f1, after_photo, kind="after")
    assert after.status_code == 201, after.text
    evidence = [before.json()["id"], after.json()["id"]]
    return ForeignFinding(f1, body, evidence, after_photo, [attachment])


FOREIGN_POINT, BLIND_POINT = "lc.matrix.alley", "lc.matrix.market"
MATRIX_POINTS = [
    [FOREIGN_POINT, "越界己 李村小巷", "back_alley", "36.1468", "120.4322", "licang.xiaocun",
     "", ""],
    [BLIND_POINT, "越界辛 李村市场", "farmers_market", "36.1470", "120.4330", "licang.xiaocun",
     "", ""],
    ["sn.matrix.market", "本区 八大关市场", "farmers_market", "36.0546", "120.3560",
     "shinan.badaguan", "", ""],
]  # fmt: skip
FOREIGN_HANDLER = "handler.licang"


@dataclass(frozen=True)
class Instruments:
    """李沧区's evaluation points (one inspected with a fail, one never: a blind spot), the
    plan's task at the first, its inspection with a photo, and 李沧区's approved
    self-assessment (a note on a shortfall)."""

    inspection: str
    task: int
    inspection_body: dict[str, Any]


async def _arrange_instruments(
    client: AsyncClient,
    login: dict[str, dict[str, str]],
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> Instruments:
    admin = login["admin"]
    await import_points(client, admin, MATRIX_POINTS)
    assert (await import_criteria(client, admin)).status_code == 200
    starts, ends = around_today()
    plan = {"code": "m.plan", "name": "矩阵巡查", "criteria_set": "t-2026", "starts_on": starts,
            "ends_on": ends, "units": ["licang", "shinan"],
            "frequencies": {"farmers_market": "weekly", "back_alley": "weekly"},
            "assignees": ["inspector"]}  # fmt: skip
    r = await client.post(f"{API}/inspection-plans", json=plan, headers=login["dispatcher"])
    assert r.status_code == 201, r.text
    body = visit(FOREIGN_POINT, items=[{"criterion": "A.3", "outcome": "fail", "note": "越界壬"}])
    body["location"] = {"lat": 36.1468, "lon": 120.4322}
    r = await client.post(f"{API}/inspections", json=body, headers=login["inspector"])
    assert r.status_code == 201, r.text
    inspection, task = r.json()["id"], r.json()["task"]
    assert task is not None
    photo = make_jpeg(taken_at=datetime.now(TZ), gps=LICANG_LAT_LON)
    r = await client.post(f"{API}/inspections/{inspection}/photos",
                          files={"file": ("p.jpg", photo, "image/jpeg")},
                          headers=login["inspector"])  # fmt: skip
    assert r.status_code == 201, r.text
    round_ = {"code": "m.round", "name": "矩阵自评", "criteria_set": "t-2026",
              "starts_on": starts, "ends_on": ends}  # fmt: skip
    r = await client.post(f"{API}/assessment-rounds", json=round_, headers=login["dispatcher"])
    assert r.status_code == 201, r.text
    async with factory() as session, session.begin():
        await add_user(session, username=FOREIGN_HANDLER, role="unit_handler",
                       unit_code="licang", password=demo_password(FOREIGN_HANDLER))  # fmt: skip
    tokens = await _bearer_tokens(factory, settings)
    scores = {"scores": [
        {"criterion": "A.3", "point": FOREIGN_POINT, "score": 4, "note": "越界庚 自评失分"},
        {"criterion": "A.1", "point": BLIND_POINT, "score": 10},
    ]}  # fmt: skip
    district = f"{API}/assessment-rounds/m.round/districts/licang"
    r = await client.post(f"{district}/submit", json=scores, headers=tokens[FOREIGN_HANDLER])
    assert r.status_code == 200, r.text
    r = await client.post(f"{district}/approve", headers=tokens[FOREIGN_LEADER])
    assert r.status_code == 200, r.text
    assert r.json()["findings"] == 1
    return Instruments(inspection, int(task), body)


# What 李沧区's commitment and its progress report say.
FOREIGN_PLEDGE = ("越界癸", "越界子")


async def _arrange_commitment(
    client: AsyncClient,
    login: dict[str, dict[str, str]],
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    video: dict[str, Any],
    mixed: dict[str, Any],
    f1: str,
) -> tuple[int, int, int, str]:
    """The meeting on both videos; 李沧区's commitment for 李村街道 (F1 linked), its head in
    personal charge of it and of F1, a progress report with a photo, overdue and escalated
    (both levels). The meeting's, commitment's and report's ids, and the photo's."""
    office = login["dispatcher"]
    body = {"held_on": datetime.now(TZ).date().isoformat(), "title": "矩阵点评会",
            "kind": "exposure_review", "videos": [video["id"], mixed["id"]]}  # fmt: skip
    r = await client.post(f"{API}/meetings", json=body, headers=office)
    assert r.status_code == 201, r.text
    meeting = int(r.json()["id"])
    pledge = {"unit": "licang.xiaocun", "status_quo": "越界癸 现状", "problems": "越界癸 问题",
              "targets": "越界癸 目标", "measures": "越界癸 措施",
              "deadline": {"working_days": 5}, "findings": [f1]}  # fmt: skip
    r = await client.post(f"{API}/meetings/{meeting}/commitments", json=pledge, headers=office)
    assert r.status_code == 201, r.text
    cid = int(r.json()["id"])
    tokens = await _bearer_tokens(factory, settings)
    for url in (f"{API}/commitments/{cid}/supervision", f"{API}/findings/{f1}/supervision"):
        r = await client.post(url, json={"note": "越界癸 包案"}, headers=tokens[FOREIGN_LEADER])
        assert r.status_code == 201, r.text
    r = await client.post(
        f"{API}/commitments/{cid}/progress", json={"text": "越界子 进展", "percent": 40},
        headers=login["handler.licang.xiaocun"],
    )  # fmt: skip
    assert r.status_code == 201, r.text
    progress = int(r.json()["id"])
    r = await client.post(
        f"{API}/commitments/{cid}/progress/{progress}/photos",
        files={"file": ("p.jpg", make_jpeg(taken_at=datetime.now(TZ)), "image/jpeg")},
        headers=login["handler.licang.xiaocun"],
    )
    assert r.status_code == 201, r.text
    photo = str(r.json()["id"])
    await overdue_commitment(factory, cid, datetime.now(UTC) - timedelta(days=30))
    assert (await sweep_pledges(factory, settings, datetime.now(UTC))).escalations == 2
    return meeting, cid, progress, photo


async def _register(client: AsyncClient, dispatcher: dict[str, str], body: Any) -> list[str]:
    r = await client.post(f"{API}/exposure-videos", json=body, headers=dispatcher)
    assert r.status_code == 201, r.text
    return [str(s["id"]) for s in r.json()["segments"]]


async def _ids(conn: asyncpg.Connection, sql: str, *args: Any) -> list[int]:
    return [int(row[0]) for row in await conn.fetch(sql, *args)]


async def _arrange(
    app: FastAPI,
    client: AsyncClient,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> World:
    licang_head = await _create_foreign_leader(factory)
    login = await _bearer_tokens(factory, settings)
    own_accepted = await _arrange_own(client, login, factory, settings)
    f1 = await _arrange_foreign_finding(client, login, factory, settings)
    instruments = await _arrange_instruments(client, login, factory, settings)
    video = _video(
        "越界曝光片 李沧第9期",
        [
            _segment("01:10", "越界乙", "licang.xiaocun", 36.1490, 120.4301),
            _segment("02:20", "越界丙", "licang.fushanlu", 36.1009, 120.4103),
        ],
    )
    video_segments = await _register(client, login["dispatcher"], video)
    mixed = _video(
        "两区曝光片 第10期",
        [
            _segment("00:30", "本区丁", "shinan.badaguan", 36.0530, 120.3551),
            _segment("04:40", "越界戊", "licang.xiaocun", 36.1502, 120.4350),
        ],
    )
    mixed_own, mixed_foreign = await _register(client, login["dispatcher"], mixed)
    year, number, _ = datetime.now(TZ).isocalendar()
    week = f"{year}-W{number:02d}"
    # This week's edition is stored; the last full week's (the default) is computed live.
    r = await client.post(
        f"{API}/briefings/weekly", params={"week": week}, headers=login["supervisor"]
    )
    assert r.status_code == 200, r.text
    # A local calendar exception (no district's), for the configuration paths to name.
    r = await client.post(
        f"{API}/calendar-overrides",
        json={"date": OVERRIDE_DAY, "kind": "holiday", "note": "测试"},
        headers=login["admin"],
    )
    assert r.status_code == 201, r.text

    pledged = await _arrange_commitment(client, login, factory, settings, video, mixed, f1.id)

    conn = await asyncpg.connect(settings.database_url)
    f1_id = uuid.UUID(f1.id)
    escalations = await _ids(
        conn, "SELECT id FROM escalations WHERE finding_id = $1 ORDER BY id", f1_id
    )
    notifications = await _ids(
        conn, "SELECT id FROM notifications WHERE finding_id = $1 ORDER BY id", f1_id
    )
    assert len(escalations) == 4, escalations
    assert min(escalations + notifications) > FOREIGN_IDS_FROM
    (licang_post,) = await _ids(
        conn,
        "SELECT p.id FROM posts p JOIN units u ON u.id = p.unit_id "
        "WHERE u.code = 'licang' AND p.role = 'head'",
    )
    licang_rule, *_ = await _ids(
        conn,
        "SELECT r.id FROM routing_rules r JOIN units u ON u.id = r.area_unit_id "
        "WHERE u.code = 'licang' ORDER BY r.id",
    )
    segments = [*video_segments, mixed_foreign]
    record = await client.post(
        f"{API}/accountability/records",
        json={"action": "interview", "person": licang_head, "decided_on": "2026-11-30",
              "summary": "越界癸 约谈李沧区委书记", "escalations": escalations[1:2]},
        headers=login["discipline"],
    )  # fmt: skip
    assert record.status_code == 201, record.text
    world = World(
        app=app,
        client=client,
        conn=conn,
        bearer=login,
        cookie={},
        csrf={},
        finding=f1.id,
        finding_body=f1.body,
        segments=segments,
        evidence=f1.evidence,
        after_photo=f1.after_photo,
        attachments=f1.attachments,
        escalations=escalations,
        notifications=notifications,
        video=str(video["id"]),
        video_body=video,
        mixed=str(mixed["id"]),
        mixed_own=mixed_own,
        own_accepted=own_accepted,
        licang_head=licang_head,
        licang_point=await _foreign_point(factory, licang_head),
        licang_post=licang_post,
        licang_rule=licang_rule,
        week=week,
        instruments=instruments,
        record=record.json()["id"],
        texts=(
            f1.id,
            *segments,
            str(video["id"]),
            *f1.evidence,
            *f1.attachments,
            FOREIGN_FILE,
            *("越界甲", "越界乙", "越界丙", "越界戊", "越界曝光片"),  # descriptions, title
            *("李村街道", "浮山路街道"),  # streets
            *("示例·李沧区委书记", "示例·李村街道党工委书记", "示例·联系李沧区的市领导"),
            # its evaluation points, inspection, the notes of its results and self-assessment
            *("越界己", "越界辛", "越界壬", "越界庚", FOREIGN_POINT, BLIND_POINT),
            "越界癸",  # the 问责 record's summary
            instruments.inspection,
            FOREIGN_PHONE,
            *FOREIGN_PLEDGE,
            pledged[3],
        ),
        numbers=(*escalations, *notifications),
        watched=[uuid.UUID(i) for i in (f1.id, *segments, mixed_own, own_accepted)],
        meeting=pledged[0],
        commitment=pledged[1],
        progress=pledged[2],
        progress_photo=pledged[3],
    )

    async def sign_in(role: str) -> None:
        # The dashboard's session cookie holds the API's access token (its login form is a
        # case of the matrix).
        world.bearer[role] = (await _bearer_tokens(factory, settings))[role]
        world.cookie[role] = world.bearer[role]["Authorization"].removeprefix("Bearer ")
        page = await client.get(
            "/ui/map", headers={"Cookie": f"duban_session={world.cookie[role]}"}
        )
        world.csrf[role] = csrf_of(page.text)

    for role in (*ROLES, FOREIGN_LEADER):
        await sign_in(role)
    world.sign_in_again = sign_in
    return world


@pytest.fixture(scope="module")
async def world(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    url = servers.new_database()
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("scope-matrix"),
        database_url=url,
        redis_url=servers.redis.url,
        jwt_secret="test-secret-key-that-is-long-enough-for-hs256",
        log_format="console",
        log_level="WARNING",
        notify_hours="always",  # tests run at any hour
    )
    engine = make_engine(url, pool_size=2)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = ASGITransport(app=app, raise_app_exceptions=False)
        async with AsyncClient(transport=transport, base_url="http://duban.test") as client:
            # Each call names its caller itself: the client keeps no cookie between calls.
            client.cookies.jar.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
            w = await _arrange(app, client, make_sessionmaker(engine), settings)
            try:
                yield w
            finally:
                await w.conn.close()
    await engine.dispose()


# --- how to exercise each operation -----------------------------------------------------

Payload = dict[str, Any]  # keyword arguments of AsyncClient.request: json, data, files
Queries = Callable[[World], list[dict[str, str]]]


@dataclass(frozen=True)
class Call:
    method: str
    url: str
    params: dict[str, str]
    payload: Payload
    variant: int  # which payload of the operation's list
    missing_url: str | None  # the same call naming an object that does not exist
    ui: bool

    def sent(self) -> str:
        """Everything the caller said, as text."""
        said = {k: v for k, v in self.payload.items() if k != "files"}
        return f"{self.url} {self.params} {json.dumps(said, ensure_ascii=False)}"

    def __str__(self) -> str:
        query = "?" + "&".join(f"{k}={v}" for k, v in self.params.items()) if self.params else ""
        body = f" #{self.variant}" if self.payload else ""
        return f"{self.method} {self.url}{query}{body}"


Check = Callable[[World, str, Call, Response], Awaitable[list[str]]]
More = Callable[[World, str], Awaitable[list[str]]]


def _no_query(w: World) -> list[dict[str, str]]:
    return [{}]


@dataclass(frozen=True)
class Op:
    """How to exercise one operation. `kind` decides who may see the foreign objects through
    it (AUDIENCE); `allowed` are the statuses a caller outside the audience may get from a
    call whose path names no object (a path naming one must answer as a missing id does)."""

    kind: str
    queries: Queries = _no_query
    payloads: Callable[[World, str], list[Payload]] | None = None
    allowed: frozenset[int] = frozenset({200, 403})
    check: Check | None = None  # more to assert on each answer
    more: More | None = None  # more calls, once per caller
    control: str | None = None  # the caller of the control test, if not CONTROL[kind]
    why: str = ""


MISSING_UUID = "00000000-0000-4000-8000-000000000000"
_REFUSED = frozenset({403})


def _code(w: World, path: str) -> tuple[list[str], str | None]:
    """The unit of 李沧区 for the unit paths; categories and ladders belong to no district."""
    if path.startswith(f"{API}/units"):
        return ["licang.xiaocun"], "nosuch.unit"
    if path.startswith(f"{API}/categories"):
        return ["exposed_garbage"], "nosuch_category"
    if path.startswith(f"{API}/points"):
        return [FOREIGN_POINT, BLIND_POINT], "nosuch.point"
    # The campaign office's criteria, plans and rounds belong to no district: read by all.
    if path.startswith(f"{API}/criteria-sets"):
        return ["t-2026"], None
    if path.startswith(f"{API}/inspection-plans"):
        return ["m.plan"], None
    if path.startswith(f"{API}/assessment-rounds"):
        return ["m.round"], None
    return ["default"], "nosuch_policy"


# Each path parameter: the foreign objects it may name, and an id that names nothing (None:
# the parameter names no object).
PATH_OBJECTS: dict[str, Callable[[World, str], tuple[list[str], str | None]]] = {
    "finding_id": lambda w, _: ([w.finding, *w.segments], MISSING_UUID),
    "evidence_id": lambda w, _: (w.evidence, MISSING_UUID),
    "attachment_id": lambda w, _: (w.attachments, MISSING_UUID),
    "escalation_id": lambda w, _: ([str(i) for i in w.escalations], str(MISSING_INT)),
    "notification_id": lambda w, _: ([str(i) for i in w.notifications], str(MISSING_INT)),
    "video_id": lambda w, _: ([w.video], MISSING_UUID),
    "code": _code,
    "person_id": lambda w, _: ([str(w.licang_head)], str(MISSING_INT)),
    "point_id": lambda w, _: ([str(w.licang_point)], str(MISSING_INT)),
    "post_id": lambda w, _: ([str(w.licang_post)], str(MISSING_INT)),
    "rule_id": lambda w, _: ([str(w.licang_rule)], str(MISSING_INT)),
    "day": lambda w, _: ([OVERRIDE_DAY], "2031-01-02"),
    "year": lambda w, _: ([str(datetime.now(TZ).year)], None),
    "kind": lambda w, _: (["people"], None),
    "inspection_id": lambda w, _: ([w.instruments.inspection], MISSING_UUID),
    "task_id": lambda w, _: ([str(w.instruments.task)], str(MISSING_INT)),
    "district": lambda w, _: (["licang"], "nosuch"),
    "commitment_id": lambda w, _: ([str(w.commitment)], str(MISSING_INT)),
    "progress_id": lambda w, _: ([str(w.progress)], str(MISSING_INT)),
    "photo_id": lambda w, _: ([w.progress_photo], MISSING_UUID),
    # The city's meeting, read by all: what it shows is counted and listed in scope.
    "meeting_id": lambda w, _: ([str(w.meeting)], None),
    "unit": lambda w, _: (["licang"], "nosuch"),
    "role": lambda w, _: (["head"], None),
    "record_id": lambda w, _: ([str(w.record)], str(MISSING_INT)),
}

# A plausible body for every lifecycle action (`{duplicate_of}` is filled in per world).
TRANSITIONS: dict[Action, dict[str, Any]] = {
    Action.DISPATCH: {"unit": "shinan.badaguan"},
    Action.ACCEPT: {},
    Action.RETURN: {"note": "不属于本单位"},
    Action.SUBMIT: {"note": "已整改"},
    Action.VERIFY: {"note": "复核通过"},
    Action.REJECT: {"note": "未整改到位"},
    Action.CLOSE_INVALID: {"note": "误报"},
    Action.MARK_DUPLICATE: {"duplicate_of": "{duplicate_of}", "note": "重复上报"},
    Action.REQUEST_EXTENSION: {"due_at": "{due_at}", "note": "需要更多时间"},
    Action.APPROVE_EXTENSION: {},
    Action.DENY_EXTENSION: {"note": "不予延期"},
    Action.CONFIRM_RECURRENCE: {"note": "同一问题反弹"},
    Action.DISMISS_RECURRENCE: {"note": "不是同一问题"},
    Action.APPROVE_RETURN: {"note": "同意退回"},
    Action.DENY_RETURN: {"note": "不同意退回"},
    Action.TRANSFER: {"unit": "shinan.badaguan", "note": "转办", "co_units": ["shinan.cgj"]},
    Action.PROGRESS: {"note": "协办进展"},
    Action.REQUEST_SUSPENSION: {"reason": "funding", "resume_at": "{due_at}", "note": "待拨款"},
    Action.APPROVE_SUSPENSION: {},
    Action.REFUSE_SUSPENSION: {"note": "不予挂账"},
    Action.RESUME: {"note": "恢复整改"},
}


def _transitions(w: World, role: str) -> list[Payload]:
    fill = {
        "{duplicate_of}": w.own_accepted,
        "{due_at}": (datetime.now(TZ) + timedelta(days=20)).isoformat(),
    }
    return [
        {
            "json": {
                "action": a.value,
                **{k: fill.get(v, v) if isinstance(v, str) else v for k, v in extra.items()},
            }
        }
        for a, extra in TRANSITIONS.items()
    ]


def _photos(w: World, role: str) -> list[Payload]:
    place = LICANG_LAT_LON
    return [
        {
            "data": {"kind": kind},
            "files": {
                "file": ("photo.jpg", make_jpeg(taken_at=datetime.now(TZ), gps=place), "image/jpeg")
            },
        }
        for kind in ("before", "after")
    ]


def _near_and_replay(w: World) -> list[dict[str, Any]]:
    """A report of the same problem at the foreign finding's spot (which it must not list as
    a possible duplicate), a replay of the foreign finding's own report, and its id with a
    report of the caller's own."""
    near = finding_body(description="本区核对 同点位上报", location=LICANG_PLACE)
    own = finding_body(id=w.finding, description="本区核对 借用编号")
    return [near, w.finding_body, own]


def _reports(w: World, role: str) -> list[Payload]:
    return [{"json": body} for body in _near_and_replay(w)]


def _batch(w: World, role: str) -> list[Payload]:
    return [{"json": {"findings": _near_and_replay(w)}}]


def _bulk(w: World, role: str) -> list[Payload]:
    # Every bulk action on the foreign finding (the dispatcher's: refused to every scoped role).
    return [
        {
            "json": {
                "action": a,
                "unit": "shinan.badaguan",
                "note": "越权",
                "items": [{"id": w.finding}],
            }
        }
        for a in ("dispatch", "transfer", "approve_extension", "approve_return", "close_invalid")
    ]


def _login_form(w: World, role: str) -> list[Payload]:
    return [{"data": {"username": role, "password": demo_password(role)}}]


def _json(body: dict[str, Any]) -> Callable[[World, str], list[Payload]]:
    return lambda w, role: [{"json": body}]


async def _all_items(w: World, role: str, url: str, params: dict[str, str]) -> int:
    count, cursor = 0, None
    while True:
        page = {**params, "limit": "500", **({"cursor": cursor} if cursor else {})}
        r = await w.client.get(url, params=page, headers=w.bearer[role])
        assert r.status_code == 200, r.text
        count += len(r.json()["items"])
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return count


async def _export_rows(w: World, role: str, call: Call, r: Response) -> list[str]:
    """An export counts exactly the rows of the list with the same filters."""
    if call.params.get("format", "json") == "json" or r.status_code != 200:
        return []
    params = {k: v for k, v in call.params.items() if k != "format"}
    listed = await _all_items(w, role, call.url, params)
    exported = r.headers.get("x-export-rows")
    if exported != str(listed):
        return [f"{call}: X-Export-Rows {exported}, the list shows {listed}"]
    return []


async def _video_progress(w: World, role: str, call: Call, r: Response) -> list[str]:
    """The mixed video's progress counts only the segment in the caller's scope."""
    if r.status_code != 200:
        return [f"{call}: {r.status_code}"]
    mixed = [v for v in r.json()["items"] if v["id"] == w.mixed]
    if role not in SEES_BADAGUAN:
        return (
            [f"{call}: lists the mixed video, none of whose segments is in scope"] if mixed else []
        )
    if len(mixed) != 1:
        return [f"{call}: the mixed video is missing"]
    p = mixed[0]["progress"]
    if p["segments"] != 1 or sum(p["by_status"].values()) != 1:
        return [f"{call}: the mixed video's progress counts the foreign segment: {p}"]
    return []


async def _mixed_video(w: World, role: str) -> list[str]:
    r = await w.client.get(f"{API}/exposure-videos/{w.mixed}", headers=w.bearer[role])
    where = f"GET {API}/exposure-videos/{w.mixed} (mixed)"
    out = [f"{where}: names {leaked}" for leaked in [w.leaks(r.text)] if leaked]
    if role not in SEES_BADAGUAN:
        return out + ([f"{where}: {r.status_code}, not 404"] if r.status_code != 404 else [])
    if r.status_code != 200:
        return [*out, f"{where}: {r.status_code}"]
    body = r.json()
    if [s["id"] for s in body["segments"]] != [w.mixed_own]:
        out.append(f"{where}: segments {[s['id'] for s in body['segments']]}")
    if body["progress"]["segments"] != 1:
        out.append(f"{where}: progress counts the foreign segment: {body['progress']}")
    return out


def _meter(html: str, video: str) -> str | None:
    """The number of segments a dashboard page shows for a video (its progress meter)."""
    match = re.search(
        rf'href="/ui/exposure-videos/{video}">.*?<meter min="0" max="(\d+)"', html, re.DOTALL
    )
    return match.group(1) if match else None


async def _ui_video_progress(w: World, role: str, call: Call, r: Response) -> list[str]:
    shown = _meter(r.text, w.mixed)
    expected = "1" if role in SEES_BADAGUAN else None
    return [] if shown == expected else [f"{call}: the mixed video shows {shown} segments"]


async def _ui_mixed_video(w: World, role: str) -> list[str]:
    url = f"/ui/exposure-videos/{w.mixed}"
    r = await w.client.get(url, headers={"Cookie": f"duban_session={w.cookie[role]}"})
    out = [f"GET {url} (mixed): names {leaked}" for leaked in [w.leaks(r.text)] if leaked]
    if role not in SEES_BADAGUAN:
        return out + ([f"GET {url}: {r.status_code}, not 404"] if r.status_code != 404 else [])
    if r.status_code != 200 or '<meter min="0" max="1"' not in r.text:
        out.append(f"GET {url} (mixed): {r.status_code}, not the one segment in scope")
    return out


async def _reused_photo(w: World, role: str) -> list[str]:
    """The foreign after-photo sent again to the caller's own finding is refused without
    saying which finding holds it, and nothing is stored."""
    before = await w.fingerprint()
    r = await upload(w.client, w.bearer[role], w.own_accepted, w.after_photo, kind="after")
    where = f"POST {API}/findings/{w.own_accepted}/evidence (the foreign after-photo)"
    out = [f"{where}: names {leaked}" for leaked in [w.leaks(r.text)] if leaked]
    # Only a handler of the unit may attach it: then the photo is refused as a re-used one.
    expected = {422} if role in ("handler.shinan", "handler.shinan.badaguan") else {403, 404}
    if r.status_code not in expected:
        out.append(f"{where}: {r.status_code} {r.text[:200]}")
    if await w.fingerprint() != before:
        out.append(f"{where}: changed the stored rows")
    return out


async def _no_foreign_rows(w: World, role: str, call: Call, r: Response) -> list[str]:
    """Figures per district, street or type: no row of 李沧区's, nor its counts."""
    if r.status_code != 200:
        return []
    rows = r.json()["items"]
    foreign = [
        i for i in rows if str(i.get("code") or i.get("district") or "").startswith("licang")
    ]
    return [f"{call}: shows the rows {foreign}"] if foreign else []


def _unit_body(w: World, role: str) -> list[Payload]:
    return [
        {
            "json": {
                "code": "licang.xiaocun.x",
                "name": "越界测试社区",
                "kind": "community",
                "parent": "licang.xiaocun",
            }
        }
    ]


def _post_body(w: World, role: str) -> list[Payload]:
    return [
        {
            "json": {
                "unit": "licang.xiaocun",
                "role": "deputy",
                "person": w.licang_head,
                "valid_from": "2026-12-01T00:00:00+08:00",
            }
        }
    ]


LADDER = [{"level": 1, "target": "unit_head", "after": {"duration": "PT1H"}, "channels": ["inbox"]}]
CONFIG_WHY = "admins only: configuration, refused to everyone else whatever the object"

# Every operation of the OpenAPI document, by method and path.
API_OPS: dict[tuple[str, str], Op] = {
    ("GET", "/healthz"): Op("none", why="liveness: no data"),
    ("GET", "/readyz"): Op("none", why="readiness: no data"),
    ("POST", f"{API}/auth/token"): Op(
        "none", payloads=_login_form, allowed=frozenset({200}), why="the caller's own login"
    ),
    ("POST", f"{API}/auth/password"): Op(
        "none",
        payloads=_json({"current_password": "not-the-password", "new_password": "x" * 12}),
        allowed=frozenset({422}),
        why="the caller's own password (a wrong current one: nothing changes)",
    ),
    ("POST", f"{API}/findings"): Op(
        "finding",
        payloads=_reports,
        allowed=frozenset({201, 409, 422}),
        why="a report at the foreign spot, and a replay of the foreign report (a conflict, or "
        "refused for its place outside the caller's area)",
    ),
    ("POST", f"{API}/findings/batch"): Op("finding", payloads=_batch, allowed=frozenset({200})),
    ("POST", f"{API}/findings/bulk"): Op(
        "finding",
        payloads=_bulk,
        allowed=frozenset({403}),
        why="the dispatcher's bulk actions on the foreign finding: refused to a scoped role",
    ),
    ("GET", f"{API}/findings"): Op(
        "finding",
        queries=lambda w: [
            {},
            {"district": "licang"},
            {"unit": "licang.xiaocun"},
            {"overdue": "true"},
            {"light": "red"},
            {"source": "exposure_video"},
            {"bbox": "120.40,36.09,120.45,36.16"},
            {"format": "xlsx"},
            {"format": "xlsx", "district": "licang"},
            {"updated_since": "2020-01-01T00:00:00+08:00"},
        ],
        allowed=frozenset({200}),
        check=_export_rows,
    ),
    ("GET", f"{API}/findings/{{finding_id}}"): Op("finding"),
    ("POST", f"{API}/findings/{{finding_id}}/transitions"): Op("finding", payloads=_transitions),
    ("GET", f"{API}/findings/{{finding_id}}/events"): Op("finding"),
    ("GET", f"{API}/calendar/due"): Op(
        "none",
        queries=lambda w: [{"start": datetime.now(TZ).isoformat(), "working_days": "2"}],
        allowed=frozenset({200}),
        why="deadline arithmetic: no data",
    ),
    ("GET", f"{API}/calendar/{{year}}"): Op(
        "none", allowed=frozenset({200}), why="the working-day calendar: no data"
    ),
    ("GET", f"{API}/units"): Op(
        "config", queries=lambda w: [{}, {"parent": "licang"}], allowed=_REFUSED, why=CONFIG_WHY
    ),
    ("POST", f"{API}/units"): Op("config", payloads=_unit_body, allowed=_REFUSED, why=CONFIG_WHY),
    ("GET", f"{API}/units/{{code}}"): Op("config", why=CONFIG_WHY),
    ("PATCH", f"{API}/units/{{code}}"): Op(
        "config", payloads=_json({"name": "改名"}), why=CONFIG_WHY
    ),
    ("DELETE", f"{API}/units/{{code}}"): Op("config", why=CONFIG_WHY),
    ("GET", f"{API}/contact-points"): Op(
        "config",
        queries=lambda w: [{}, {"person_id": str(w.licang_head)}, {"unit": "licang"}],
        allowed=_REFUSED,
        why=CONFIG_WHY,
    ),
    ("POST", f"{API}/contact-points"): Op(
        "config",
        payloads=lambda w, role: [
            {"json": {"person_id": w.licang_head, "kind": "sms", "phone": "13900000078"}}
        ],
        allowed=_REFUSED,
        why=CONFIG_WHY,
    ),
    ("GET", f"{API}/contact-points/{{point_id}}"): Op("config", why=CONFIG_WHY),
    ("PATCH", f"{API}/contact-points/{{point_id}}"): Op(
        "config", payloads=_json({"label": "改"}), why=CONFIG_WHY
    ),
    ("DELETE", f"{API}/contact-points/{{point_id}}"): Op("config", why=CONFIG_WHY),
    ("GET", f"{API}/people"): Op("config", allowed=_REFUSED, why=CONFIG_WHY),
    ("POST", f"{API}/people"): Op(
        "config",
        payloads=_json({"name": "示例·越界人员", "title": "测试"}),
        allowed=_REFUSED,
        why=CONFIG_WHY,
    ),
    ("GET", f"{API}/people/{{person_id}}"): Op("config", why=CONFIG_WHY),
    ("PATCH", f"{API}/people/{{person_id}}"): Op(
        "config", payloads=_json({"title": "改任"}), why=CONFIG_WHY
    ),
    ("DELETE", f"{API}/people/{{person_id}}"): Op("config", why=CONFIG_WHY),
    ("GET", f"{API}/posts"): Op(
        "config",
        queries=lambda w: [{}, {"unit": "licang.xiaocun"}],
        allowed=_REFUSED,
        why=CONFIG_WHY,
    ),
    ("POST", f"{API}/posts"): Op("config", payloads=_post_body, allowed=_REFUSED, why=CONFIG_WHY),
    ("GET", f"{API}/posts/{{post_id}}"): Op("config", why=CONFIG_WHY),
    ("PATCH", f"{API}/posts/{{post_id}}"): Op(
        "config", payloads=_json({"valid_to": "2026-12-31T00:00:00+08:00"}), why=CONFIG_WHY
    ),
    ("DELETE", f"{API}/posts/{{post_id}}"): Op("config", why=CONFIG_WHY),
    ("GET", f"{API}/categories"): Op("config", allowed=_REFUSED, why=CONFIG_WHY),
    ("POST", f"{API}/categories"): Op(
        "config",
        payloads=_json(
            {
                "code": "x_cat",
                "name": "测试类别",
                "group": "city_appearance",
                "kind": "event",
                "time_limit": {"working_days": 2},
            }
        ),
        allowed=_REFUSED,
        why=CONFIG_WHY,
    ),
    ("GET", f"{API}/categories/{{code}}"): Op("config", why=CONFIG_WHY),
    ("PATCH", f"{API}/categories/{{code}}"): Op(
        "config", payloads=_json({"name": "改名"}), why=CONFIG_WHY
    ),
    ("DELETE", f"{API}/categories/{{code}}"): Op("config", why=CONFIG_WHY),
    ("GET", f"{API}/routing-rules"): Op("config", allowed=_REFUSED, why=CONFIG_WHY),
    ("POST", f"{API}/routing-rules"): Op(
        "config",
        payloads=_json(
            {
                "category": "graffiti",
                "area_unit": "licang.xiaocun",
                "responsible_unit": "licang.cgj",
            }
        ),
        allowed=_REFUSED,
        why=CONFIG_WHY,
    ),
    ("GET", f"{API}/routing-rules/{{rule_id}}"): Op("config", why=CONFIG_WHY),
    ("PATCH", f"{API}/routing-rules/{{rule_id}}"): Op(
        "config", payloads=_json({"responsible_unit": "licang.cgj"}), why=CONFIG_WHY
    ),
    ("DELETE", f"{API}/routing-rules/{{rule_id}}"): Op("config", why=CONFIG_WHY),
    ("GET", f"{API}/escalation-policies"): Op("config", allowed=_REFUSED, why=CONFIG_WHY),
    ("POST", f"{API}/escalation-policies"): Op(
        "config",
        payloads=_json({"code": "x_policy", "name": "测试", "levels": LADDER}),
        allowed=_REFUSED,
        why=CONFIG_WHY,
    ),
    ("GET", f"{API}/escalation-policies/{{code}}"): Op("config", why=CONFIG_WHY),
    ("PATCH", f"{API}/escalation-policies/{{code}}"): Op(
        "config", payloads=_json({"name": "改名"}), why=CONFIG_WHY
    ),
    ("DELETE", f"{API}/escalation-policies/{{code}}"): Op("config", why=CONFIG_WHY),
    ("POST", f"{API}/imports/{{kind}}"): Op(
        "config",
        payloads=lambda w, role: [
            {"files": {"file": ("people.csv", csv_file([["code", "name"], ["p.matrix", "某人"]]))}}
        ],
        allowed=_REFUSED,
        why=CONFIG_WHY,
    ),
    ("GET", f"{API}/imports/{{kind}}/template"): Op("config", allowed=_REFUSED, why=CONFIG_WHY),
    ("GET", f"{API}/calendar-overrides"): Op(
        "config", queries=lambda w: [{}, {"year": "2026"}], allowed=_REFUSED, why=CONFIG_WHY
    ),
    ("POST", f"{API}/calendar-overrides"): Op(
        "config",
        payloads=_json({"date": "2026-12-26", "kind": "workday", "note": "测试"}),
        allowed=_REFUSED,
        why=CONFIG_WHY,
    ),
    ("GET", f"{API}/calendar-overrides/{{day}}"): Op("config", why=CONFIG_WHY),
    ("PATCH", f"{API}/calendar-overrides/{{day}}"): Op(
        "config", payloads=_json({"note": "改"}), why=CONFIG_WHY
    ),
    ("DELETE", f"{API}/calendar-overrides/{{day}}"): Op("config", why=CONFIG_WHY),
    ("GET", f"{API}/escalations"): Op(
        "escalation",
        queries=lambda w: [
            {},
            {"district": "licang"},
            {"unit": "licang.xiaocun"},
            {"target_person": str(w.licang_head)},
            {"level": "2"},
            {"status": "open"},
            {"light": "red"},
            {"format": "csv"},
            {"format": "xlsx"},
            {"format": "csv", "district": "licang"},
        ],
        allowed=frozenset({200}),
        check=_export_rows,
    ),
    ("GET", f"{API}/escalations/{{escalation_id}}/receipts"): Op("escalation"),
    ("POST", f"{API}/escalations/{{escalation_id}}/acknowledge"): Op(
        "escalation", payloads=_json({"instruction": "限期整改到位"})
    ),
    ("GET", f"{API}/stats/units"): Op("finding", queries=lambda w: [{}, {"level": "street"}]),
    ("GET", f"{API}/accountability/ledger/people/{{person_id}}"): Op(
        "ledger", why="another person's ledger is a 404 for anyone but its readers"
    ),
    ("GET", f"{API}/accountability/ledger/posts/{{unit}}/{{role}}"): Op(
        "ledger", allowed=_REFUSED, why="the readers' only"
    ),
    ("GET", f"{API}/accountability/records"): Op(
        "record",
        queries=lambda w: [{}, {"person": str(w.licang_head)}],
        allowed=frozenset({200}),
    ),
    ("POST", f"{API}/accountability/records"): Op(
        "record",
        payloads=lambda w, role: [
            {
                "json": {
                    "action": "accountability",
                    "person": w.licang_head,
                    "decided_on": "2026-12-01",
                    "summary": "问责",
                    "escalations": w.escalations,
                }
            }
        ],
        allowed=_REFUSED,
        why="the commission alone records",
    ),
    ("GET", f"{API}/accountability/records/{{record_id}}"): Op("record"),
    ("POST", f"{API}/accountability/evidence-packs"): Op(
        "record",
        payloads=lambda w, role: [
            {"json": {"finding": w.finding}},
            {
                "json": {
                    "person": w.licang_head,
                    "since": "2026-01-01T00:00:00+08:00",
                    "until": "2027-01-01T00:00:00+08:00",
                }
            },
            {
                "json": {
                    "unit": "licang",
                    "since": "2026-01-01T00:00:00+08:00",
                    "until": "2027-01-01T00:00:00+08:00",
                }
            },
        ],
        allowed=_REFUSED,
        why="the commission's and admins' only",
    ),
    ("PUT", f"{API}/accountability/follow-ups/{{escalation_id}}"): Op(
        "escalation", payloads=_json({"due_at": "2099-01-05T17:30:00+08:00"})
    ),
    ("GET", f"{API}/stats/suspensions"): Op(
        "coverage", why="the city's suspensions per unit: supervisors and admins only"
    ),
    ("GET", f"{API}/app/me"): Op("none", allowed=frozenset({200}), why="the caller themselves"),
    ("GET", f"{API}/app/reference"): Op(
        "finding",
        allowed=frozenset({200}),
        why="the categories, and the boundaries of the caller's own area only",
    ),
    ("GET", f"{API}/inbox"): Op(
        "inbox", queries=lambda w: [{}, {"unread": "true"}], allowed=frozenset({200})
    ),
    ("POST", f"{API}/inbox/{{notification_id}}/read"): Op("inbox"),
    ("GET", f"{API}/notifications"): Op(
        "finding",
        queries=lambda w: [{}, {"status": "sent"}, {"channel": "inbox"}],
        why="the outbox: supervisors and admins only",
    ),
    ("POST", f"{API}/notifications/{{notification_id}}/retry"): Op("finding", why="admins only"),
    ("POST", f"{API}/exposure-videos"): Op(
        "finding",
        payloads=lambda w, role: [{"json": w.video_body}],
        allowed=_REFUSED,
        why="dispatchers and admins only; the body replays the foreign video",
    ),
    ("GET", f"{API}/exposure-videos"): Op(
        "finding", allowed=frozenset({200}), check=_video_progress
    ),
    ("GET", f"{API}/exposure-videos/{{video_id}}"): Op("finding", more=_mixed_video),
    ("POST", f"{API}/findings/{{finding_id}}/evidence"): Op(
        "finding", payloads=_photos, more=_reused_photo
    ),
    ("GET", f"{API}/findings/{{finding_id}}/evidence"): Op(
        "finding", queries=lambda w: [{}, {"kind": "after"}]
    ),
    ("GET", f"{API}/evidence/{{evidence_id}}"): Op("finding"),
    ("POST", f"{API}/findings/{{finding_id}}/attachments"): Op(
        "finding",
        payloads=lambda w, role: [
            {"files": {"file": ("a.pdf", make_pdf("本区核对"), "application/pdf")}}
        ],
    ),
    ("GET", f"{API}/attachments/{{attachment_id}}"): Op("finding"),
    ("GET", f"{API}/findings/events"): Op(
        "finding",
        queries=lambda w: [
            {},
            {"district": "licang"},
            {"format": "xlsx"},
            {"format": "xlsx", "district": "licang"},
        ],
        why="the audit export: the office and leaders, each in their scope; the rest 403",
    ),
    ("GET", f"{API}/findings/{{finding_id}}/verification"): Op("finding"),
    ("GET", f"{API}/briefings/weekly"): Op(
        "finding",
        queries=lambda w: [
            {},
            {"week": w.week},
            {"week": w.week, "format": "xlsx"},
            {"week": w.week, "format": "html"},
        ],
        why="the last full week (live) and this week (stored), as JSON, workbook and page",
    ),
    ("POST", f"{API}/briefings/weekly"): Op(
        "finding", queries=lambda w: [{"week": w.week}], allowed=_REFUSED
    ),
    ("GET", f"{API}/points"): Op(
        "inspection",
        queries=lambda w: [
            {},
            {"district": "licang"},
            {"unit": "licang.xiaocun"},
            {"format": "geojson"},
        ],
        allowed=frozenset({200}),
    ),
    ("GET", f"{API}/points/{{code}}"): Op("inspection"),
    ("GET", f"{API}/point-types"): Op(
        "none", allowed=frozenset({200}), why="the catalogue of point types: no district's"
    ),
    ("GET", f"{API}/criteria-sets"): Op(
        "none", allowed=frozenset({200}), why="the evaluation criteria: the same for all"
    ),
    ("GET", f"{API}/criteria-sets/{{code}}"): Op(
        "none", allowed=frozenset({200}), why="the evaluation criteria: the same for all"
    ),
    ("GET", f"{API}/inspection-plans"): Op(
        "none", allowed=frozenset({200}), why="the campaign office's plans: scope and counts"
    ),
    ("GET", f"{API}/inspection-plans/{{code}}"): Op(
        "none", allowed=frozenset({200}), why="the campaign office's plans: scope and counts"
    ),
    ("POST", f"{API}/inspection-plans"): Op(
        "none",
        payloads=_json(
            {
                "code": "m.plan2",
                "name": "越界计划",
                "criteria_set": "t-2026",
                "starts_on": "2026-12-01",
                "ends_on": "2026-12-31",
                "units": ["licang"],
                "frequencies": {"back_alley": "weekly"},
                "assignees": ["inspector"],
            }
        ),
        allowed=_REFUSED,
        why="dispatchers and admins only",
    ),
    ("GET", f"{API}/inspection-tasks"): Op(
        "inspection",
        queries=lambda w: [
            {},
            {"district": "licang"},
            {"plan": "m.plan"},
            {"status": "done"},
            {"updated_since": "2020-01-01T00:00:00+08:00"},
        ],
        allowed=frozenset({200}),
    ),
    ("GET", f"{API}/inspection-tasks/{{task_id}}"): Op("inspection"),
    ("POST", f"{API}/inspections"): Op(
        "inspection",
        payloads=lambda w, role: [
            {"json": w.instruments.inspection_body},
            {"json": visit(FOREIGN_POINT)},
        ],
        allowed=frozenset({403, 404, 409}),
        why="a replay of the foreign visit (another's id: 409) and a visit at the foreign "
        "point (404); who is no inspector: 403",
    ),
    ("GET", f"{API}/inspections"): Op(
        "inspection",
        queries=lambda w: [
            {},
            {"district": "licang"},
            {"point": FOREIGN_POINT},
            {"updated_since": "2020-01-01T00:00:00+08:00"},
        ],
        allowed=frozenset({200}),
    ),
    ("GET", f"{API}/inspections/{{inspection_id}}"): Op("inspection"),
    ("GET", f"{API}/inspections/{{inspection_id}}/photos"): Op("inspection"),
    ("POST", f"{API}/inspections/{{inspection_id}}/photos"): Op(
        "inspection",
        payloads=lambda w, role: [
            {
                "files": {
                    "file": (
                        "p.jpg",
                        make_jpeg(taken_at=datetime.now(TZ), gps=LICANG_LAT_LON),
                        "image/jpeg",
                    )
                }
            }
        ],
    ),
    ("GET", f"{API}/coverage"): Op(
        "coverage",
        queries=lambda w: [{}, {"by": "street"}, {"by": "point_type"}, {"district": "licang"}],
        allowed=frozenset({200, 422}),
        check=_no_foreign_rows,
        why="a scoped caller gets its own rows; naming the foreign district, none",
    ),
    ("GET", f"{API}/coverage/blind-spots"): Op(
        "inspection", queries=lambda w: [{}, {"district": "licang"}], allowed=frozenset({200})
    ),
    ("GET", f"{API}/assessment-rounds"): Op(
        "none", allowed=frozenset({200}), why="the campaign office's rounds: no district's"
    ),
    ("POST", f"{API}/assessment-rounds"): Op(
        "none",
        payloads=_json(
            {
                "code": "m.round2",
                "name": "越界",
                "criteria_set": "t-2026",
                "starts_on": "2026-12-01",
                "ends_on": "2026-12-31",
            }
        ),
        allowed=_REFUSED,
        why="dispatchers and admins only",
    ),
    ("GET", f"{API}/assessment-rounds/{{code}}/districts/{{district}}"): Op("inspection"),
    ("POST", f"{API}/assessment-rounds/{{code}}/districts/{{district}}/submit"): Op(
        "inspection",
        payloads=_json({"scores": [{"criterion": "A.3", "point": FOREIGN_POINT, "score": 10}]}),
    ),
    ("POST", f"{API}/assessment-rounds/{{code}}/districts/{{district}}/approve"): Op("inspection"),
    ("POST", f"{API}/assessment-rounds/{{code}}/districts/{{district}}/return"): Op("inspection"),
    ("GET", f"{API}/assessment-rounds/{{code}}/gap"): Op(
        "coverage", check=_no_foreign_rows, allowed=frozenset({200})
    ),
    ("POST", f"{API}/meetings"): Op(
        "commitment",
        payloads=_json({"held_on": "2026-12-03", "title": "会议", "kind": "briefing"}),
        allowed=_REFUSED,
        why="the campaign office only",
    ),
    ("GET", f"{API}/meetings"): Op(
        "commitment",
        allowed=frozenset({200}),
        why="the city's meetings; the videos and commitments of each in the caller's scope",
    ),
    ("GET", f"{API}/meetings/{{meeting_id}}"): Op(
        "commitment",
        allowed=frozenset({200}),
        why="the city's meeting; the videos and commitments in the caller's scope",
    ),
    ("POST", f"{API}/meetings/{{meeting_id}}/commitments"): Op(
        "commitment",
        payloads=lambda w, role: [
            {
                "json": {
                    "unit": "licang.xiaocun",
                    "status_quo": "x",
                    "problems": "x",
                    "targets": "x",
                    "measures": "x",
                    "deadline": {"working_days": 3},
                }
            }
        ],
        allowed=_REFUSED,
        why="the campaign office only",
    ),
    ("GET", f"{API}/commitments"): Op(
        "commitment",
        queries=lambda w: [
            {},
            {"district": "licang"},
            {"unit": "licang.xiaocun"},
            {"meeting": str(w.meeting)},
            {"status": "overdue"},
            {"video": w.video},
            {"supervised_by": str(w.licang_head)},
        ],
        allowed=frozenset({200}),
    ),
    ("GET", f"{API}/commitments/{{commitment_id}}"): Op("commitment"),
    ("GET", f"{API}/commitments/{{commitment_id}}/progress"): Op("commitment"),
    ("POST", f"{API}/commitments/{{commitment_id}}/progress"): Op(
        "commitment", payloads=_json({"text": "越权进展", "percent": 100})
    ),
    ("POST", f"{API}/commitments/{{commitment_id}}/progress/{{progress_id}}/review"): Op(
        "commitment", payloads=_json({"decision": "accept"})
    ),
    ("POST", f"{API}/commitments/{{commitment_id}}/progress/{{progress_id}}/photos"): Op(
        "commitment",
        payloads=lambda w, role: [
            {"files": {"file": ("p.jpg", make_jpeg(taken_at=datetime.now(TZ)), "image/jpeg")}}
        ],
    ),
    (
        "GET",
        f"{API}/commitments/{{commitment_id}}/progress/{{progress_id}}/photos/{{photo_id}}",
    ): Op("commitment"),
    ("POST", f"{API}/commitments/{{commitment_id}}/supervision"): Op(
        "commitment", payloads=_json({"note": "越权包案"})
    ),
    ("DELETE", f"{API}/commitments/{{commitment_id}}/supervision"): Op("commitment"),
    ("POST", f"{API}/findings/{{finding_id}}/supervision"): Op(
        "finding", payloads=_json({"note": "越权包案"})
    ),
    ("DELETE", f"{API}/findings/{{finding_id}}/supervision"): Op("finding"),
    ("GET", f"{API}/exposure-videos/{{video_id}}/revisits"): Op(
        "finding", why="回头看: the video's segments in scope, what they revisit in scope"
    ),
    ("GET", f"{API}/supervision"): Op(
        "none",
        allowed=frozenset({200, 403}),
        why="what the caller holds in personal charge (403 for an account of no person)",
    ),
}


def _ui_form(w: World, role: str) -> list[Payload]:
    return [{"data": {"csrf": w.csrf[role]}}]


def _ui_acknowledge(w: World, role: str) -> list[Payload]:
    return [{"data": {"instruction": "限期整改到位", "csrf": w.csrf[role]}}]


def _ui_dispatch(w: World, role: str) -> list[Payload]:
    return [
        {"data": {"csrf": w.csrf[role], "only": w.finding, f"unit:{w.finding}": "shinan.badaguan"}}
    ]


def _ui_bulk(w: World, role: str) -> list[Payload]:
    base = {"csrf": w.csrf[role], "pick": w.finding, "note": "越权", f"version:{w.finding}": "1"}
    return [
        {"data": base | {"bulk_action": a}}
        for a in ("close_invalid", "approve_extension", "approve_return")
    ]


def _ui_act(w: World, role: str) -> list[Payload]:
    base = {"csrf": w.csrf[role], "finding": w.finding, "note": "越权操作"}
    return [
        {"data": base | {"desk": "dispatch", "action": "close_invalid"}},
        {"data": base | {"desk": "verify", "action": "reject"}},
    ]


# The desks list queued, submitted and extension-pending findings: the foreign finding is
# none of these, so no control reads them (tests/test_desks.py shows what they list).
DESK_WHY = "the dispatcher's and verifier's queues (another role's desk is a 404)"
_OVERVIEW = Op(
    "escalation",
    allowed=frozenset({200}),
    control=FOREIGN_LEADER,
    why="supervisors: the ranking; everyone else: the escalations addressed to them",
)
# Every page of the dashboard (not in the OpenAPI document), by method and path.
UI_PAGES: dict[tuple[str, str], Op] = {
    ("GET", "/ui"): _OVERVIEW,
    ("GET", "/ui/"): _OVERVIEW,
    ("GET", "/ui/login"): Op("none", allowed=frozenset({200}), why="the login form"),
    ("POST", "/ui/login"): Op(
        "none",
        payloads=lambda w, role: [{"data": {"username": role, "password": demo_password(role)}}],
        allowed=frozenset({403}),
        why="the caller's own login, refused without the login form's CSRF token",
    ),
    ("POST", "/ui/logout"): Op(
        "none", payloads=_ui_form, allowed=frozenset({303}), why="the caller's own logout"
    ),
    ("GET", "/ui/escalations"): Op(
        "escalation",
        queries=lambda w: [
            {},
            {"district": "licang"},
            {"unit": "licang.xiaocun"},
            {"level": "2"},
            {"light": "red"},
        ],
        allowed=frozenset({200}),
    ),
    ("GET", "/ui/findings/{finding_id}"): Op("finding"),
    ("POST", "/ui/escalations/{escalation_id}/acknowledge"): Op(
        "escalation", payloads=_ui_acknowledge
    ),
    ("GET", "/ui/exposure-videos"): Op(
        "finding", allowed=frozenset({200}), check=_ui_video_progress
    ),
    ("GET", "/ui/exposure-videos/{video_id}"): Op("finding", more=_ui_mixed_video),
    ("GET", "/ui/map"): Op("finding", allowed=frozenset({200})),
    ("GET", "/ui/coverage"): Op("inspection", allowed=frozenset({200})),
    ("GET", "/ui/findings"): Op(
        "finding",
        queries=lambda w: [
            {},
            {"district": "licang"},
            {"unit": "licang.xiaocun"},
            {"light": "red"},
        ],
        allowed=frozenset({200}),
    ),
    ("GET", "/ui/desk/dispatch"): Op("desk", allowed=frozenset({200, 404}), why=DESK_WHY),
    ("POST", "/ui/desk/dispatch"): Op(
        "desk", payloads=_ui_dispatch, allowed=frozenset({303, 404, 422}), why=DESK_WHY
    ),
    ("POST", "/ui/desk/bulk"): Op(
        "desk", payloads=_ui_bulk, allowed=frozenset({404}), why="another role's desk: a 404"
    ),
    ("POST", "/ui/desk/act"): Op(
        "desk", payloads=_ui_act, allowed=frozenset({404}), why="the foreign finding: a 404"
    ),
    ("GET", "/ui/desk/verify"): Op("desk", allowed=frozenset({200, 404}), why=DESK_WHY),
    ("GET", "/ui/commitments"): Op(
        "commitment",
        queries=lambda w: [{}, {"status": "overdue"}, {"meeting": str(w.meeting)}, {"mine": "1"}],
        allowed=frozenset({200}),
    ),
    ("GET", "/ui/commitments/{commitment_id}"): Op("commitment"),
    ("POST", "/ui/commitments/{commitment_id}/progress"): Op(
        "commitment",
        payloads=lambda w, role: [
            {"data": {"text": "越权", "percent": "10", "csrf": w.csrf[role]}}
        ],
    ),
    ("POST", "/ui/commitments/{commitment_id}/progress/{progress_id}/review"): Op(
        "commitment",
        payloads=lambda w, role: [{"data": {"decision": "accept", "csrf": w.csrf[role]}}],
    ),
    ("POST", "/ui/commitments/{commitment_id}/supervision"): Op("commitment", payloads=_ui_form),
    ("GET", "/ui/accountability"): Op(
        "ledger",
        queries=lambda w: [
            {},
            {"person": str(w.licang_head)},
            {"person": str(w.licang_head), "since": "2026-01-01", "until": "2030-12-31"},
        ],
        allowed=frozenset({200, 404}),
        why="one's own ledger and records (a caller with no person: the 404 page); another "
        "person's is the 404 page for anyone but the readers",
    ),
    ("POST", "/ui/accountability/pack"): Op(
        "record",
        payloads=lambda w, role: [
            {
                "data": {
                    "csrf": w.csrf[role],
                    "person": str(w.licang_head),
                    "since": "2026-01-01",
                    "until": "2030-12-31",
                }
            }
        ],
        allowed=_REFUSED,
        why="the commission's and admins' only",
    ),
    ("GET", "/ui/desk/lead"): Op(
        "escalation",
        allowed=frozenset({200, 404}),
        control=FOREIGN_LEADER,
        why="the escalations addressed to the caller",
    ),
}
# Routes outside both tables, and why they hold no district data.
UNLISTED = {
    "/ui/static/{path}": "the dashboard's vendored CSS and images",
    "/docs-assets/{path}": "the interactive documentation's vendored viewers",
    "/openapi.json": "the API's description",
    "/docs": "the interactive documentation",
    "/docs/oauth2-redirect": "the interactive documentation",
    "/redoc": "the documentation",
    "/metrics": "Prometheus counters by route, status and source: no objects",
    "/m": "the phone app's address, redirected to /m/",
    "/m/": "the phone app's page: the same static file for everyone",
    "/m/manifest.webmanifest": "the phone app's manifest",
    "/m/sw.js": "the phone app's service worker",
    "/m/static/{path}": "the phone app's script, style and icons",
    "/n/{token}": "a message's signed link: what that message said, to whoever holds it "
    "(tests/integration/test_channel_links.py)",
}


# --- running a case ---------------------------------------------------------------------


def calls(w: World, method: str, path: str, op: Op, role: str, *, ui: bool) -> list[Call]:
    """Each object the last path parameter may name (the parameters before it take their
    first object), each query and each payload; the same with the last naming nothing."""
    names = re.findall(r"{(\w+)}", path)
    values: list[str] = [""]
    missing: str | None = None
    fixed = path
    if names:
        *before, last = names
        for name in before:
            fixed = fixed.replace(f"{{{name}}}", PATH_OBJECTS[name](w, path)[0][0])
        values, missing = PATH_OBJECTS[last](w, path)
    payloads = op.payloads(w, role) if op.payloads else [{}]
    out = []
    for value in values:
        for params in op.queries(w):
            for variant, payload in enumerate(payloads):
                out.append(
                    Call(
                        method,
                        re.sub(r"{\w+}", value, fixed),
                        params,
                        payload,
                        variant,
                        re.sub(r"{\w+}", missing, fixed) if missing is not None else None,
                        ui,
                    )
                )
    return out


async def send(w: World, role: str, call: Call, *, missing: bool = False) -> Response:
    url = call.missing_url if missing and call.missing_url else call.url
    headers = {"Cookie": f"duban_session={w.cookie[role]}"} if call.ui else dict(w.bearer[role])
    return await w.client.request(
        call.method, url, params=call.params, headers=headers, **call.payload
    )


async def exercise(w: World, role: str, method: str, path: str, op: Op, *, ui: bool) -> list[str]:
    """Every call of the operation as `role`; what went wrong, one line each."""
    failures: list[str] = []
    missing_status: dict[tuple[str, str, int], int] = {}
    write = method != "GET"
    for call in calls(w, method, path, op, role, ui=ui):
        before = await w.fingerprint() if write else None
        r = await send(w, role, call)
        if call.url == "/ui/logout" and w.sign_in_again is not None:
            await w.sign_in_again(role)
        leaked = w.leaks(readable(r), call.sent())
        if leaked:
            failures.append(f"{call}: {r.status_code} names {leaked}")
        if call.missing_url is not None:
            key = (call.missing_url, repr(call.params), call.variant)
            if key not in missing_status:
                missing_status[key] = (await send(w, role, call, missing=True)).status_code
            if r.status_code not in (403, 404) or r.status_code != missing_status[key]:
                failures.append(
                    f"{call}: {r.status_code}, but {missing_status[key]} for an id that "
                    f"does not exist: {readable(r)[:160] or r.headers.get('content-type')}"
                )
        elif r.status_code not in op.allowed:
            failures.append(
                f"{call}: {r.status_code} not in {sorted(op.allowed)}: {readable(r)[:160]}"
            )
        if before is not None:
            after = await w.fingerprint()
            changed = [table for table in before if before[table] != after[table]]
            if changed:
                failures.append(f"{call}: {r.status_code} and changed {changed}")
        if op.check is not None:
            failures += await op.check(w, role, call, r)
    if op.more is not None:
        failures += await op.more(w, role)
    return failures


def _cases(table: dict[tuple[str, str], Op]) -> list[Any]:
    return [
        pytest.param(method, path, role, id=f"{method} {path} {role}")
        for (method, path), op in table.items()
        for role in ROLES
        if role not in AUDIENCE[op.kind]
    ]


# --- the tests --------------------------------------------------------------------------


async def test_the_tables_cover_every_operation_and_page(world: World) -> None:
    doc = world.app.openapi()
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert sorted(documented - set(API_OPS)) == [], "operations the matrix does not exercise"
    assert sorted(set(API_OPS) - documented) == [], "entries for operations that are gone"
    for path, ops in doc["paths"].items():
        for spec in ops.values():
            for param in spec.get("parameters", []):
                if param["in"] == "path":
                    assert param["name"] in PATH_OBJECTS, f"{path}: no objects for {param['name']}"
    assert not [p for p in doc["paths"] if p.startswith("/ui")]
    routes = [
        (r.path_format or r.path or "", sorted(r.methods or ()))
        for r in iter_route_contexts(world.app.routes)
    ]
    pages = {(m, path) for path, methods in routes if path.startswith("/ui") for m in methods}
    assert sorted(pages ^ set(UI_PAGES)) == [], "dashboard pages the matrix does not know"
    known = {path for _, path in (*API_OPS, *UI_PAGES)}
    assert {path for path, _ in routes if path not in known} == set(UNLISTED)
    assert set(TRANSITIONS) == set(Action), "a lifecycle action without a body in the matrix"


@pytest.mark.parametrize(("method", "path", "role"), _cases(API_OPS))
async def test_api_operation_reveals_nothing_foreign(
    world: World, method: str, path: str, role: str
) -> None:
    failures = await exercise(world, role, method, path, API_OPS[(method, path)], ui=False)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(("method", "path", "role"), _cases(UI_PAGES))
async def test_dashboard_page_reveals_nothing_foreign(
    world: World, method: str, path: str, role: str
) -> None:
    failures = await exercise(world, role, method, path, UI_PAGES[(method, path)], ui=True)
    assert not failures, "\n".join(failures)


def _controls() -> list[Any]:
    return [
        pytest.param(method, path, ui, id=f"{method} {path}")
        for ui, table in ((False, API_OPS), (True, UI_PAGES))
        for (method, path), op in table.items()
        if method == "GET" and (op.control or CONTROL.get(op.kind))
    ]


@pytest.mark.parametrize(("method", "path", "ui"), _controls())
async def test_control_the_foreign_objects_are_there_to_find(
    world: World, method: str, path: str, ui: bool
) -> None:
    """Read by a caller who may see them, every foreign object the matrix names answers 200,
    and every list shows some of them: what the matrix finds missing, the scope removed."""
    table = UI_PAGES if ui else API_OPS
    op = table[(method, path)]
    role = op.control or CONTROL[op.kind]
    seen: set[str] = set()
    for call in calls(world, method, path, op, role, ui=ui):
        r = await send(world, role, call)
        assert r.status_code == 200, f"{call}: {r.status_code} {r.text[:200]}"
        seen |= set(world.leaks(readable(r)))
    if "{" not in path and op.kind in SHOWN_IN_LISTS:
        assert seen, f"{method} {path} shows none of the foreign objects to {role}"


async def test_a_report_never_names_the_foreign_finding_it_recurs(
    client: AsyncClient, login: Login
) -> None:
    """The POST /findings case on its own database: a problem of 李沧区 rectified, then
    reported again at the same spot by 市南区. The report may count as a recurrence, but
    nothing the reporter reads names the foreign finding."""
    inspector, licun = await login("inspector"), await login("handler.licang.xiaocun")
    foreign = await post(
        client, inspector, description="越界甲 已整改", unit="licang.xiaocun", location=LICANG_PLACE
    )
    assert (await act(client, licun, foreign["id"], "accept")).status_code == 200
    place = LICANG_LAT_LON
    photo = make_jpeg(taken_at=datetime.now(TZ), gps=place)
    assert (await upload(client, licun, foreign["id"], photo)).status_code == 201
    assert (await act(client, licun, foreign["id"], "submit", note="已清运")).status_code == 200
    verified = await act(client, await login("verifier"), foreign["id"], "verify", note="通过")
    assert verified.status_code == 200, verified.text

    reporter = await login("handler.shinan.badaguan")
    r = await client.post(
        f"{API}/findings",
        json=finding_body(description="本区 同点位再次发现", location=LICANG_PLACE),
        headers=reporter,
    )
    assert r.status_code == 201, r.text
    seen = [r.text]
    seen.append((await client.get(f"{API}/findings/{r.json()['id']}", headers=reporter)).text)
    seen.append((await client.get(f"{API}/findings", headers=reporter)).text)
    assert not [text for text in seen if foreign["id"] in text]


async def test_a_duplicate_never_names_the_foreign_original(
    client: AsyncClient, login: Login
) -> None:
    """The campaign office marks a report of 市南区 a duplicate of one of 李沧区 (a spot on the
    border): what the reporter's district reads of its own finding names no foreign one."""
    original = await post(
        client,
        await login("inspector"),
        description="越界甲 原始上报",
        unit="licang.xiaocun",
        location=LICANG_PLACE,
    )
    reporter = await login("inspector.shinan")
    duplicate = await post(client, reporter, description="本区 边界同一问题")
    marked = await act(
        client,
        await login("dispatcher"),
        duplicate["id"],
        "mark_duplicate",
        duplicate_of=original["id"],
        note="同一问题",
    )
    assert marked.status_code == 200, marked.text
    seen = [
        (await client.get(f"{API}/findings/{duplicate['id']}{tail}", headers=headers)).text
        for headers in (reporter, await login("handler.shinan.badaguan"))
        for tail in ("", "/events")
    ]
    assert not [text for text in seen if original["id"] in text]


# Who of the scoped callers sees a 李沧区 finding once 市南区城市管理局 co-handles it: those
# whose subtree holds the bureau (its own handler and the district's accounts), not 八大关.
SEES_CO_HANDLED = frozenset(
    {"inspector.shinan", "handler.shinan", "handler.shinan.cgj", "leader.shinan"}
)


async def test_a_co_handling_unit_sees_the_foreign_finding_and_no_one_else_does(
    client: AsyncClient, login: Login
) -> None:
    """Co-handling (协办) widens the scope by exactly the co-handling unit's subtree, in SQL:
    every read of the finding (the finding, the list, the trail, the photos) answers as for
    one's own finding to that subtree and as for a missing one to every other scoped caller,
    before, and again after the dispatcher takes the unit off."""
    inspector, dispatcher = await login("inspector"), await login("dispatcher")
    foreign = await post(
        client, inspector, description="越界甲 协办", unit="licang.xiaocun", location=LICANG_PLACE
    )
    fid = foreign["id"]

    async def reads(role: str) -> list[tuple[str, int, bool]]:
        headers = await login(role)
        out = []
        for tail in ("", "/events", "/evidence"):
            r = await client.get(f"{API}/findings/{fid}{tail}", headers=headers)
            missing = await client.get(f"{API}/findings/{MISSING_UUID}{tail}", headers=headers)
            out.append((tail, r.status_code, r.status_code == missing.status_code))
        listed = await client.get(f"{API}/findings", params={"limit": 500}, headers=headers)
        out.append(("list", listed.status_code, fid not in listed.text))
        return out

    hidden = [
        ("", 404, True),
        ("/events", 404, True),
        ("/evidence", 404, True),
        ("list", 200, True),
    ]
    shown = [
        ("", 200, False),
        ("/events", 200, False),
        ("/evidence", 200, False),
        ("list", 200, False),
    ]
    for role in SCOPED:
        assert await reads(role) == hidden, role
    r = await act(
        client,
        dispatcher,
        fid,
        "transfer",
        unit="licang.xiaocun",
        note="x",
        co_units=["shinan.cgj"],
    )
    assert r.status_code == 422  # the finding stays with 李村; co-handling comes with a move
    r = await act(
        client,
        dispatcher,
        fid,
        "transfer",
        unit="licang",
        note="区里牵头，市南城管局协办",
        co_units=["shinan.cgj"],
    )
    assert r.status_code == 200, r.text
    for role in SCOPED:
        assert await reads(role) == (shown if role in SEES_CO_HANDLED else hidden), role
    # Only the co-handling unit's own handlers act, and only to add progress.
    bureau, street = await login("handler.shinan.cgj"), await login("handler.shinan.badaguan")
    assert (await act(client, bureau, fid, "progress", note="已派人")).status_code == 200
    assert (await act(client, bureau, fid, "accept")).status_code == 403
    assert (await act(client, street, fid, "progress", note="x")).status_code == 404
    r = await act(client, dispatcher, fid, "transfer", unit="licang.xiaocun", note="x", co_units=[])
    assert r.status_code == 200, r.text
    for role in SCOPED:
        assert await reads(role) == hidden, role
