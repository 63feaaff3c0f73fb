"""Helpers shared by test modules (no test module imports another): reports and lifecycle
actions through the API, overdue findings swept by the real sweep, logins and accounts,
response bodies as searchable text, a real uvicorn for tests that need one, the test servers
behind tests/conftest.py's fixtures, scenarios several test modules build, and the values at
the edges of what the API takes. A piece two test modules need goes here."""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import json
import math
import os
import re
import signal
import subprocess
import tempfile
import time
import uuid
import zipfile
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast
from zoneinfo import ZoneInfo

import asyncpg
import chinese_calendar
import fastapi.dependencies.models
import httpx
import redis
from alembic.config import Config
from argon2 import PasswordHasher
from httpx import AsyncClient, Response
from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.api.xlsx import XLSX_MEDIA_TYPE
from services.cli.accounts import add_user
from services.cli.embedded import EmbeddedPostgres, EmbeddedRedis
from services.core.calendar.store import load_city_clock
from services.core.commitments.sweep import SweepResult, sweep_commitments
from services.core.demo.service import DISTRICTS, seed_demo
from services.core.escalation.plans import policy_plan
from services.core.escalation.sweep import sweep_batch
from services.core.findings.sign_for import sweep_sign_for
from services.core.findings.suspension import sweep_suspensions as sweep_suspensions_at
from services.core.identity.principal import Principal
from services.core.identity.security import new_api_token
from services.core.identity.service import issue_token
from services.core.identity.store import Operator
from services.core.models import Escalation, EscalationPolicy, Unit, User
from services.core.platform.db import make_engine, make_sessionmaker
from services.core.platform.settings import Settings
from services.core.stats.days import BUCKET_ZONE, day_start
from services.worker.context import JobContext
from tests.photos import attach_after_photo

if TYPE_CHECKING:
    from tests.system.e2e.cdp import Page

TZ = ZoneInfo("Asia/Shanghai")
URL = "/api/v1/findings"
VIDEOS = "/api/v1/exposure-videos"
M_PER_DEG = 111_195
LAT, LON = 36.0571, 120.3466  # 市南区八大关, where the default test finding is
MICRO = timedelta(microseconds=1)
# One finding's clock for the traffic light's rule and its SQL copy: dispatched Monday 09:00
# with two working days, due Wednesday 17:30; 80 % of the 56.5 hours is 45.2 hours.
LIGHT_DISPATCHED = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)
LIGHT_DUE = datetime(2026, 11, 25, 17, 30, tzinfo=TZ)
LIGHT_YELLOW = datetime(2026, 11, 25, 6, 12, tzinfo=TZ)
T = TypeVar("T")


def official_years() -> tuple[int, int]:
    """First and last year of the official holiday data the installed chinesecalendar ships."""
    return min(chinese_calendar.holidays).year, max(chinese_calendar.holidays).year


def body(**over: Any) -> dict[str, Any]:
    b: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "source": "inspection",
        "category": "exposed_garbage",
        "severity": "normal",
        "description": "路边垃圾堆放未清运",
        "location": {"lat": 36.0571, "lon": 120.3466, "address": "市南区八大关 居庸关路"},
        "unit": "shinan.badaguan",
        "point_type": "back_alley",
        "observed_at": (datetime.now(TZ) - timedelta(minutes=5)).isoformat(),
    }
    b.update(over)
    return b


async def post(client: AsyncClient, headers: dict[str, str], **over: Any) -> dict[str, Any]:
    r = await client.post(URL, json=body(**over), headers=headers)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def act(
    client: AsyncClient, headers: dict[str, str], fid: str, action: str, **extra: Any
) -> Any:
    return await client.post(
        f"{URL}/{fid}/transitions", json={"action": action, **extra}, headers=headers
    )


def at(north_m: float = 0, east_m: float = 0, lat: float = LAT, lon: float = LON) -> Any:
    """A point `north_m` north and `east_m` east of (lat, lon)."""
    return {
        "lat": lat + north_m / M_PER_DEG,
        "lon": lon + east_m / (M_PER_DEG * math.cos(math.radians(lat))),
    }


async def close(
    factory: async_sessionmaker[AsyncSession],
    fid: str,
    *,
    days_ago: float,
    reason: str = "rectified",
) -> None:
    """Closed `days_ago` (the evidence flow that leads there is tested on its own)."""
    closed = datetime.now(UTC) - timedelta(days=days_ago)
    async with factory() as session, session.begin():
        await session.execute(
            text(
                "UPDATE findings SET status = 'closed', close_reason = :reason, "
                "submitted_at = :at, closed_at = :at, next_escalation_at = NULL WHERE id = :id"
            ),
            {"reason": reason, "at": closed, "id": uuid.UUID(fid)},
        )


async def sweep(
    factory: async_sessionmaker[AsyncSession], settings: Settings, now: datetime
) -> Any:
    async with factory() as session, session.begin():
        clock = await load_city_clock(session, settings)
        return await sweep_batch(session, clock, now, 500)


async def sweep_suspensions(
    factory: async_sessionmaker[AsyncSession], settings: Settings, now: datetime
) -> Any:
    """One run of the worker's suspension sweep at `now` (resumptions and reminders)."""
    async with factory() as session, session.begin():
        clock = await load_city_clock(session, settings)
        return await sweep_suspensions_at(session, clock, now)


async def sweep_sign_for_at(
    factory: async_sessionmaker[AsyncSession], settings: Settings, now: datetime
) -> Any:
    """One run of the worker's sign-for (签收时限) sweep at `now`."""
    async with factory() as session, session.begin():
        clock = await load_city_clock(session, settings)
        return await sweep_sign_for(session, clock, now)


async def suspend(
    client: AsyncClient,
    handler: dict[str, str],
    office: dict[str, str],
    fid: str,
    until: datetime,
    reason: str = "funding",
) -> dict[str, Any]:
    """The unit asks to suspend the finding until `until`, the campaign office approves."""
    asked = await act(
        client, handler, fid, "request_suspension", note="挂账申请", reason=reason,
        resume_at=until.isoformat(),
    )  # fmt: skip
    assert asked.status_code == 200, asked.text
    approved = await act(client, office, fid, "approve_suspension")
    assert approved.status_code == 200, approved.text
    data: dict[str, Any] = approved.json()
    return data


async def set_clock(
    factory: async_sessionmaker[AsyncSession], fid: str, *, dispatched: datetime, due: datetime
) -> None:
    """Move a finding's dispatch and deadline (the sweep's schedule left alone)."""
    async with factory() as session, session.begin():
        await session.execute(
            text("UPDATE findings SET dispatched_at = :dispatched, due_at = :due WHERE id = :id"),
            {"dispatched": dispatched, "due": due, "id": uuid.UUID(fid)},
        )


async def make_overdue(factory: async_sessionmaker[AsyncSession], fid: str, due: datetime) -> None:
    async with factory() as session, session.begin():
        await session.execute(
            text(
                "UPDATE findings SET due_at = CAST(:due AS timestamptz), "
                "dispatched_at = CAST(:due AS timestamptz) - interval '2 days', "
                "next_escalation_at = CAST(:due AS timestamptz) WHERE id = :id"
            ),
            {"due": due, "id": uuid.UUID(fid)},
        )


async def reclock(
    factory: async_sessionmaker[AsyncSession],
    fid: str,
    dispatched: datetime,
    due: datetime,
    *,
    arm: bool = False,
) -> datetime:
    """Move a finding's clock: dispatched at `dispatched`, due at `due`; the sweep kept away,
    or with `arm` called at due (L1). Returns the instant its light turns yellow, as the
    database generated it."""
    async with factory() as session, session.begin():
        yellow: datetime = (
            await session.execute(
                text(
                    "UPDATE findings SET dispatched_at = :dispatched, "
                    "due_at = CAST(:due AS timestamptz), next_escalation_at = CASE "
                    "WHEN :arm THEN CAST(:due AS timestamptz) END WHERE id = :id "
                    "RETURNING yellow_at"
                ),
                {"dispatched": dispatched, "due": due, "arm": arm, "id": uuid.UUID(fid)},
            )
        ).scalar_one()
    return yellow


async def principal_of(session: AsyncSession, username: str) -> Principal:
    """The Principal of a demo account, as the API would build it, for the core queries."""
    user, unit = (
        await session.execute(
            select(User, Unit).join(Unit, Unit.id == User.unit_id).where(User.username == username)
        )
    ).one()
    return Principal(
        user.id, user.username, user.role, unit.id, unit.code, unit.kind, unit.path, user.person_id
    )


async def add_account(
    factory: async_sessionmaker[AsyncSession], username: str, role: str, unit_code: str
) -> None:
    """An account beyond the demo's, with the password the `login` fixture uses."""
    async with factory() as session, session.begin():
        await add_user(
            session,
            username=username,
            role=role,
            unit_code=unit_code,
            password=demo_password(username),
        )


async def exposure_finding(
    client: AsyncClient,
    headers: dict[str, str],
    *,
    policy: str = "exposure_video",
    **segment: Any,
) -> dict[str, Any]:
    """The finding of a one-segment exposure video registered by `headers` (a dispatcher or an
    admin): the one way in for an exposure-video finding. `segment` overrides the segment."""
    one = {
        "offset": "01:00",
        "category": "exposed_garbage",
        "description": "曝光问题",
        "location": {"lat": LAT, "lon": LON},
        "unit": "shinan.badaguan",
        **segment,
    }
    video = {
        "id": str(uuid.uuid4()),
        "title": "创城曝光台",
        "aired_on": (datetime.now(TZ).date() - timedelta(days=1)).isoformat(),
        "rectify_within": {"working_days": 5},
        "policy": policy,
        "segments": [one],
    }
    r = await client.post(VIDEOS, json=video, headers=headers)
    assert r.status_code == 201, r.text
    fid = r.json()["segments"][0]["id"]
    read = await client.get(f"{URL}/{fid}", headers=headers)
    assert read.status_code == 200, read.text
    finding: dict[str, Any] = read.json()
    return finding


def xlsx_text(workbook: bytes) -> str:
    """Every XML part of a workbook as one text: what a search of the file would find."""
    with zipfile.ZipFile(io.BytesIO(workbook)) as z:
        return "\n".join(z.read(name).decode() for name in z.namelist() if name.endswith(".xml"))


def readable(response: Response) -> str:
    """The body as text to search: a workbook's XML parts, nothing for an image."""
    kind = response.headers.get("content-type", "")
    if kind.startswith(XLSX_MEDIA_TYPE):
        with zipfile.ZipFile(io.BytesIO(response.content)) as book:
            return "\n".join(
                book.read(name).decode() for name in book.namelist() if name.endswith(".xml")
            )
    if kind.startswith("image/"):
        return ""
    return response.text


def csrf_of(html: str) -> str:
    """The CSRF token of the (first) form of a dashboard page."""
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


async def login_form(client: AsyncClient) -> str:
    """Open the dashboard's login page, as a browser does before it posts the form: the
    answer sets the login nonce cookie the form's CSRF token is bound to. The token."""
    page = await client.get("/ui/login")
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


async def ui_login(client: AsyncClient, username: str) -> None:
    """Log `client` in to the dashboard through its login form."""
    r = await client.post(
        "/ui/login",
        data={
            "username": username,
            "password": demo_password(username),
            "next": "/ui",
            "csrf": await login_form(client),
        },
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/ui"
    cookie = r.headers["set-cookie"]
    assert "duban_session=" in cookie
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()


async def bearer(client: AsyncClient, username: str, password: str | None = None) -> dict[str, str]:
    """Authorization headers of a fresh access token from POST /api/v1/auth/token."""
    r = await client.post(
        "/api/v1/auth/token",
        data={"username": username, "password": password or demo_password(username)},
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@contextmanager
def running_api(argv: list[str], env: dict[str, str], log_path: Path) -> Iterator[str]:
    """A real API process (`argv`, e.g. what `duban up` runs), ready on /healthz: its URL.
    Always stopped, even when the test fails."""
    port = argv[argv.index("--port") + 1]
    url = f"http://127.0.0.1:{port}"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, log_path.read_text(errors="replace")[-4000:]
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the API did not start"
                time.sleep(0.1)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@dataclass
class Live:
    """A running API (tests/system/e2e) and a session factory and settings on its
    database, for arranging data and driving the escalation sweep directly."""

    url: str
    settings: Settings
    factory: async_sessionmaker[AsyncSession]


async def overdue_in_districts(
    client: AsyncClient,
    headers: dict[str, str],
    factory: async_sessionmaker[AsyncSession],
    counts: Mapping[str, int],
) -> None:
    """Report `counts[code]` findings now in the first street of each demo district, through
    the API, then move their deadlines to yesterday: each costs its district 2 points."""
    streets = {d.code: d.streets[0] for d in DISTRICTS}
    ids: list[uuid.UUID] = []
    for code, n in counts.items():
        street = streets[code]
        for _ in range(n):
            r = await client.post(
                "/api/v1/findings",
                headers=headers,
                json={
                    "id": str(uuid.uuid4()),
                    "source": "inspection",
                    "category": "exposed_garbage",
                    "description": "路边垃圾堆放未清运",
                    "location": {"lat": street.lat, "lon": street.lon},
                    "unit": f"{code}.{street.slug}",
                    "observed_at": (datetime.now(TZ) - timedelta(minutes=5)).isoformat(),
                },
            )
            assert r.status_code == 201, r.text
            assert r.json()["district"]["code"] == code
            ids.append(uuid.UUID(r.json()["id"]))
    async with factory() as session, session.begin():
        await session.execute(
            text("UPDATE findings SET due_at = now() - interval '1 day' WHERE id = ANY(:ids)"),
            {"ids": ids},
        )


# ---- the test servers and the demo accounts (the fixtures of tests/conftest.py) ----

ROOT = Path(__file__).resolve().parent.parent
# The integration tier's servers (TEST_SERVERS_IN_MEMORY=1, set by `make test-integration`)
# keep their files in memory where the machine has a tmpfs with room: every test copies the
# template database, and on the ext4 disk of our CI machine a copy took 370 ms, in /dev/shm
# 15 ms, some 600 times a run. The system and fault tiers stay on disk: their time is the CPU
# of the processes they start (in memory the system tier was no faster), and they catch
# workers holding a batch, which a database in memory commits sooner. The benchmark stays on
# disk, as production does. TEST_SCRATCH_DIR names another place.
SCRATCH_BASES = ("/dev/shm",)  # noqa: S108 - mkdtemp makes a private directory in it
SCRATCH_MIN_FREE_BYTES = 4 * 1024**3


def scratch_dir(prefix: str) -> Path:
    """A fresh directory for a test server's files, in memory if asked and the machine allows."""
    chosen = os.environ.get("TEST_SCRATCH_DIR")
    if chosen is None and os.environ.get("TEST_SERVERS_IN_MEMORY") == "1":
        chosen = next((base for base in SCRATCH_BASES if _roomy(base)), None)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=chosen))


def _roomy(base: str) -> bool:
    try:
        stat = os.statvfs(base)
    except OSError:
        return False
    return os.access(base, os.W_OK) and stat.f_bavail * stat.f_frsize >= SCRATCH_MIN_FREE_BYTES


TEMPLATE = "duban_template"
_counter = itertools.count()


def demo_password(username: str) -> str:
    return f"pw-{username}"


def alembic_config(url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


class Servers:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.pg = EmbeddedPostgres(root)
        self.redis = EmbeddedRedis(root, persistent=False)
        self.template_url = ""

    def new_database(self) -> str:
        """A fresh copy of the template (names are never reused: the cluster is the session's
        own, so there is nothing to drop first)."""
        name = f"t{next(_counter)}"
        self.pg._psql(_create_copy(name))
        return self._url_of(name)

    async def new_database_on(self, admin: asyncpg.Connection) -> str:
        """The same over an open connection: the fixture's way, which spares every test a
        `psql` process and its login."""
        name = f"t{next(_counter)}"
        await admin.execute(_create_copy(name))
        return self._url_of(name)

    async def drop_database_on(self, admin: asyncpg.Connection, url: str) -> None:
        """Drop a test's copy once the test is done, whoever still holds a connection to it.
        Kept, the copies (8 MB and 300 files each) filled the disk's write-back during the run
        and took a worker a minute or two to delete at the session's end."""
        name = url.rsplit("/", 1)[1]
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def empty_redis(self) -> str:
        """The session's Redis with nothing left by earlier tests (this xdist worker runs its
        tests one after another): a worker a test killed mid-job leaves that job queued, and a
        later test's worker would take it up and log that its retries were spent."""
        with redis.Redis.from_url(self.redis.url) as client:
            client.flushall()
        return self.redis.url

    def _url_of(self, name: str) -> str:
        return self.pg.url.rsplit("/", 1)[0] + f"/{name}"


def _create_copy(name: str) -> str:
    return f'CREATE DATABASE "{name}" TEMPLATE {TEMPLATE} STRATEGY FILE_COPY'


# argon2's cheapest parameters. A verification reads its parameters from the stored hash, so
# the demo accounts of the test databases log in in a millisecond instead of the production
# hash's tenth of a second on both cores, hundreds of times a run; the hasher duban uses is
# unchanged. The test of equal login times gives its accounts production hashes again.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


async def seed_demo_database(url: str) -> None:
    """The demo campaign in the (migrated) database at `url`, every account's password
    `demo_password(username)`, hashed with CHEAP_HASHER."""
    engine = make_engine(url, pool_size=1)
    async with make_sessionmaker(engine)() as session, session.begin():
        # Without the demo's points and plan: each test imports the instruments it needs.
        accounts = await seed_demo(session, password=demo_password, instruments=False)
        for account in accounts:
            await session.execute(
                text("UPDATE users SET password_hash = :hash WHERE username = :username"),
                {"hash": CHEAP_HASHER.hash(account.password), "username": account.username},
            )
    await engine.dispose()


def forget_endpoints() -> None:
    """Let the apps of finished tests be freed. FastAPI keeps every endpoint and dependency it
    has classified in bounded caches (fastapi.dependencies.models, 4,096 entries each); an
    endpoint made per app (FastAPI's own OpenAPI route, the docs pages) holds its app, so an
    app per test kept hundreds of apps alive, and a worker's garbage collections grew longer
    than the API's 2 s Redis timeout (a login answered 503). Clearing them costs a new
    classification per endpoint."""
    for value in vars(fastapi.dependencies.models).values():
        clear = getattr(value, "cache_clear", None)
        if callable(clear):
            clear()


class Login:
    """Bearer headers for the demo accounts, fetched through the real token endpoint."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self._cache: dict[str, dict[str, str]] = {}

    async def __call__(self, username: str) -> dict[str, str]:
        if username not in self._cache:
            r = await self.client.post(
                "/api/v1/auth/token",
                data={"username": username, "password": demo_password(username)},
            )
            assert r.status_code == 200, r.text
            self._cache[username] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        return self._cache[username]


# ---- problem documents (RFC 9457) ----


PROBLEM = "application/problem+json"


def assert_problem(r: object, status: int) -> dict[str, object]:
    assert isinstance(r, Response)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body: dict[str, object] = r.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    assert "Traceback" not in r.text
    return body


# ---- reading the database beside the API ----


def fields(r: Any) -> set[str]:
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    return {e["field"] for e in r.json().get("errors", [])}


async def query(database_url: str, sql: str, **params: Any) -> list[Any]:
    """Read the database directly, on a connection of its own (what another client would see)."""
    engine = make_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return list(await conn.execute(text(sql), params))
    finally:
        await engine.dispose()


async def execute(database_url: str, sql: str, **params: Any) -> None:
    engine = make_engine(database_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(sql), params)
    finally:
        await engine.dispose()


# ---- API tokens ----


async def issue_inspector_token(conn: asyncpg.Connection, name: str) -> tuple[str, int]:
    """An API token of the demo inspector, stored as `duban token` stores one: its secret and
    its row's id."""
    token, digest = new_api_token()
    token_id: int = await conn.fetchval(
        "INSERT INTO api_tokens (user_id, name, token_hash) "
        "SELECT id, $2, $1 FROM users WHERE username = 'inspector' RETURNING id",
        digest,
        name,
    )
    return token, token_id


# ---- exposure videos ----


# (category, unit of the place) → the unit responsible for it by the demo's routing rules
SEGMENT_KINDS = [
    ("exposed_garbage", "shinan.badaguan"),
    ("illegal_ads", "shinan.badaguan"),
    ("damaged_road", "shinan.badaguan"),  # a facility: the district's city-management bureau
    ("street_vendor", "licang.xiaocun"),
]


def segment(i: int, category: str = "exposed_garbage", unit: str = "shinan.badaguan") -> Any:
    # 0.001° of latitude apart (~111 m): no segment is a duplicate or recurrence of another
    return {
        "offset": f"{i // 60:02d}:{i % 60:02d}",
        "category": category,
        "description": f"曝光问题 {i}",
        "location": {"lat": 36.05 + i * 0.001, "lon": 120.34, "address": f"曝光点位 {i}"},
        "unit": unit,
    }


def video(n: int = 2, **over: Any) -> dict[str, Any]:
    b: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "title": "创城曝光台 第12期",
        "publisher": "青岛市文明办",
        "aired_on": (datetime.now(TZ).date() - timedelta(days=1)).isoformat(),
        "url": "https://tv.example/qingdao/baoguang/12",
        "rectify_within": {"working_days": 5},
        "segments": [segment(i, *SEGMENT_KINDS[i % len(SEGMENT_KINDS)]) for i in range(n)],
    }
    b.update(over)
    return b


async def register(client: AsyncClient, headers: dict[str, str], body: dict[str, Any]) -> Any:
    r = await client.post(VIDEOS, json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


# ---- escalations made by the real sweep: one finding's, and a scenario of four ----


async def escalations(factory: async_sessionmaker[AsyncSession], fid: str) -> list[Escalation]:
    async with factory() as session:
        rows = await session.execute(
            select(Escalation)
            .where(Escalation.finding_id == uuid.UUID(fid))
            .order_by(Escalation.level)
        )
        return list(rows.scalars())


T1 = datetime(2026, 11, 19, 3, 0, tzinfo=UTC)
T2 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


@dataclass
class Scenario:
    badaguan: str  # 市南区八大关: 12 working days late → L1–L4
    xiaocun: str  # 李沧区李村: L1, L2 (fired earlier, at T1)
    laixi: str  # 莱西市城管局: the head's post is vacant → L1 to the campaign office
    video: str  # 市南区湛山, an exposure-video finding → L1


async def build(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> Scenario:
    inspector = await login("inspector")
    xiaocun = await post(
        client, inspector, unit="licang.xiaocun", location={"lat": 36.1468, "lon": 120.4322}
    )
    await make_overdue(factory, xiaocun["id"], datetime(2026, 11, 16, 9, 30, tzinfo=UTC))
    await sweep(factory, settings, T1)
    badaguan = await post(client, inspector)
    laixi = await post(
        client,
        inspector,
        category="damaged_road",
        unit="laixi",
        location={"lat": 36.88, "lon": 120.52},
    )
    # A segment of a registered video (the one way in), on the default ladder: an L1 too.
    video = await exposure_finding(
        client,
        await login("dispatcher"),
        policy="default",
        unit="shinan.zhanshan",
        description='=HYPERLINK("http://evil") 曝光片：湛山 暴露垃圾',
        location={"lat": 36.0585, "lon": 120.3726},
    )
    await make_overdue(factory, badaguan["id"], datetime(2026, 11, 2, 9, 30, tzinfo=UTC))
    for f in (laixi, video):
        await make_overdue(factory, f["id"], datetime(2026, 11, 19, 1, 0, tzinfo=UTC))
    await sweep(factory, settings, T2)
    return Scenario(badaguan["id"], xiaocun["id"], laixi["id"], video["id"])


# ---- a small campaign whose figures the statistics must reconcile with ----


SWEPT_AT = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


async def build_campaign(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    database_url: str,
) -> dict[str, str]:
    inspector, dispatcher = await login("inspector"), await login("dispatcher")
    badaguan, verifier = await login("handler.shinan.badaguan"), await login("verifier")
    shinan, xiaocun = await login("handler.shinan"), await login("handler.licang.xiaocun")
    ids: dict[str, str] = {}

    # A: 八大关, rectified on time
    a = await post(client, inspector)
    assert (await act(client, badaguan, a["id"], "accept")).status_code == 200
    await attach_after_photo(client, badaguan, a["id"])
    assert (await act(client, badaguan, a["id"], "submit", note="已整改")).status_code == 200
    assert (await act(client, verifier, a["id"], "verify")).status_code == 200
    ids["A"] = a["id"]

    # B: 湛山, exposure video: reworked once, the resubmission after the deadline
    # (away from A: at A's spot it would be a recurrence of A, which is rectified by now)
    b = await exposure_finding(
        client, dispatcher, unit="shinan.zhanshan", location={"lat": 36.0512, "lon": 120.3672}
    )
    await act(client, shinan, b["id"], "accept")
    await attach_after_photo(client, shinan, b["id"])
    await act(client, shinan, b["id"], "submit", note="已整改")
    assert (await act(client, verifier, b["id"], "reject", note="未到位")).status_code == 200
    await make_overdue(factory, b["id"], datetime.now(UTC) - timedelta(hours=1))
    await attach_after_photo(client, shinan, b["id"])
    await act(client, shinan, b["id"], "submit", note="再次整改")
    assert (await act(client, verifier, b["id"], "verify")).status_code == 200
    ids["B"] = b["id"]

    # C: 市南区城管局, exposure video, 14 working days overdue: escalated
    c = await exposure_finding(client, dispatcher, category="damaged_road")
    assert c["responsible_unit"]["code"] == "shinan.cgj"
    await make_overdue(factory, c["id"], datetime(2026, 11, 2, 9, 30, tzinfo=UTC))
    ids["C"] = c["id"]

    # D: closed as invalid: never the unit's problem, counts nowhere
    d = await post(client, inspector)
    assert (await act(client, dispatcher, d["id"], "close_invalid", note="误报")).status_code == 200
    ids["D"] = d["id"]

    # E: 八大关 again, a recurrence of A, open and not yet due
    e = await post(client, inspector)
    await execute(
        database_url,
        "UPDATE findings SET recurrence_of = :a WHERE id = :e",
        a=uuid.UUID(a["id"]),
        e=uuid.UUID(e["id"]),
    )
    ids["E"] = e["id"]

    # F: 李村, overdue since 11-16: L1, L2; G: 李村, submitted and waiting for verification
    f = await post(
        client, inspector, unit="licang.xiaocun", location={"lat": 36.1468, "lon": 120.4322}
    )
    await make_overdue(factory, f["id"], datetime(2026, 11, 16, 9, 30, tzinfo=UTC))
    g = await post(
        client, inspector, unit="licang.xiaocun", location={"lat": 36.1468, "lon": 120.4322}
    )
    await act(client, xiaocun, g["id"], "accept")
    await attach_after_photo(client, xiaocun, g["id"])
    await act(client, xiaocun, g["id"], "submit", note="已整改")
    ids["F"], ids["G"] = f["id"], g["id"]

    # H: 莱西市城管局, no head: the escalation goes to the campaign office, counts for 莱西市
    h = await post(
        client,
        inspector,
        category="damaged_road",
        unit="laixi",
        location={"lat": 36.88, "lon": 120.52},
    )
    await make_overdue(factory, h["id"], datetime(2026, 11, 19, 1, 0, tzinfo=UTC))
    ids["H"] = h["id"]

    # I: no routing rule: in the dispatch queue, no responsible unit, counts nowhere
    i = await post(client, inspector, category="other")
    assert i["status"] == "reported"
    ids["I"] = i["id"]

    await sweep(factory, settings, SWEPT_AT)
    return ids


# Windows of time the statistics are asked about (tests of the roll-ups).
Span = tuple[datetime | None, datetime | None]


def windows_around(now: datetime) -> list[Span]:
    """Windows open at either end or both, aligned on the roll-up's days, with partial days
    at both ends, and within today."""
    midnight = day_start(now.astimezone(BUCKET_ZONE).date())
    return [
        (None, None),
        (datetime(2026, 3, 1, 15, 30, tzinfo=UTC), None),
        (None, now - timedelta(hours=3)),
        (midnight - timedelta(days=60), midnight),
        (midnight - timedelta(days=60, hours=5), now - timedelta(minutes=1)),
        (now - timedelta(hours=2), now + timedelta(hours=1)),
    ]


# ---- the SQL a query sends, EXPLAINed ----


class Captured:
    """The SQL and parameters of every statement an engine sends."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.statements: list[tuple[str, Any]] = []
        event.listen(engine.sync_engine, "before_cursor_execute", self._add)

    def _add(self, conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        self.statements.append((statement, params))


async def principal(session: AsyncSession, username: str) -> Principal:
    user, unit = (
        await session.execute(
            select(User, Unit).join(Unit, Unit.id == User.unit_id).where(User.username == username)
        )
    ).one()
    return Principal(
        user.id, user.username, user.role, unit.id, unit.code, unit.kind, unit.path, user.person_id
    )


async def plans_of(
    engine: AsyncEngine, run: Callable[[AsyncSession], Awaitable[Any]], touching: str
) -> list[str]:
    """Run `run`, then EXPLAIN each statement it sent that reads the table `touching`."""
    captured = Captured(engine)
    async with make_sessionmaker(engine)() as session:
        await run(session)
    event.remove(engine.sync_engine, "before_cursor_execute", captured._add)
    plans = []
    async with engine.connect() as conn:
        for statement, params in captured.statements:
            if f"FROM {touching}" not in statement and f"JOIN {touching}" not in statement:
                continue
            rows = await conn.exec_driver_sql("EXPLAIN " + statement, params)
            plans.append("\n".join(r[0] for r in rows))
    assert plans, f"nothing read {touching}"
    return plans


def no_seq_scans(plan: str) -> None:
    assert "Seq Scan on findings" not in plan, plan
    assert "Seq Scan on escalations" not in plan, plan


# ---- overdue findings in bulk, and waiting for a condition ----


async def wait_for(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    within: float,
    interval: float = 0.05,
) -> tuple[T, float]:
    """Poll `probe()` until `done(value)`: the value and the seconds it took."""
    started = time.monotonic()
    while True:
        value = await probe()
        if done(value):
            return value, time.monotonic() - started
        if time.monotonic() - started > within:
            raise AssertionError(f"still not done after {within}s: {value!r}")
        await asyncio.sleep(interval)


async def default_plan(database_url: str) -> dict[str, Any]:
    engine = make_engine(database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            policy = await session.scalar(
                select(EscalationPolicy).where(EscalationPolicy.code == "default")
            )
            assert policy is not None
            return policy_plan(policy.code, policy.reminder_at, policy.levels).to_json()
    finally:
        await engine.dispose()


async def insert_dispatched(
    db: asyncpg.Connection,
    database_url: str,
    count: int,
    *,
    due: str,
    reminded: bool = False,
) -> None:
    """`count` findings dispatched to the demo streets (round robin) on the default ladder,
    never swept; `due` is the SQL for each one's deadline, in terms of the series number g."""
    plan = json.dumps(await default_plan(database_url))
    await db.execute(
        f"""
        WITH streets AS (
            SELECT id, parent_id, row_number() OVER (ORDER BY id) - 1 AS n,
                   count(*) OVER () AS total
            FROM units WHERE kind = 'street'
        )
        INSERT INTO findings (id, source, category_id, severity, description, lat, lon,
            place_unit_id, responsible_unit_id, district_id, observed_at, reported_at,
            reporter_id, status, dispatched_at, due_at, escalation_plan, next_escalation_at,
            reminded_at, request_hash)
        SELECT gen_random_uuid(), 'inspection',
            (SELECT id FROM categories WHERE code = 'exposed_garbage'), 'normal',
            '批量问题 ' || g, 36.06, 120.35, s.id, s.id, s.parent_id,
            d.due - interval '3 days', d.due - interval '3 days',
            (SELECT id FROM users WHERE username = 'inspector'), 'assigned',
            d.due - interval '2 days', d.due, $2::jsonb, d.due,
            CASE WHEN $3 THEN now() END, md5(g::text)
        FROM generate_series(0, $1 - 1) AS g
        JOIN streets s ON s.n = g % s.total
        CROSS JOIN LATERAL (SELECT {due} AS due) AS d
        """,  # noqa: S608 - `due` is an SQL expression written in this file
        count,
        plan,
        reminded,
    )


async def insert_overdue(db: asyncpg.Connection, database_url: str, count: int) -> None:
    """Sixty days late (more than ten working days, whatever the holidays): all four levels of
    the default ladder are due at the first look."""
    await insert_dispatched(
        db, database_url, count, due="now() - interval '60 days' - g * interval '1 second'"
    )


# ---- webhooks: a unit's address, and a finding overdue for it ----


async def set_unit_webhook(
    factory: async_sessionmaker[AsyncSession], unit: str, url: str | None
) -> None:
    async with factory() as session, session.begin():
        await session.execute(
            text("UPDATE units SET webhook_url = :url WHERE code = :code"),
            {"url": url, "code": unit},
        )


async def overdue_with_webhook(
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    url: str,
) -> str:
    """A finding of 八大关街道 whose deadline has just passed, the street's webhook set."""
    await set_unit_webhook(factory, "shinan.badaguan", url)
    f = await post(client, await login("inspector"))
    await make_overdue(factory, f["id"], datetime.now(UTC) - timedelta(minutes=1))
    fid: str = f["id"]
    return fid


# ---- values at the edges of what the API takes (integration/test_edges.py, fuzz_hooks.py) ----

# Outside the years every timestamp, date and week must lie in (README, "Limits"); the first
# two overflow Python's datetime once converted to UTC or moved by a day.
TIMESTAMPS_OUT = (
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "1999-12-31T23:59:59Z",
    "2101-01-01T00:00:00Z",
)
# The extremes inside them: they must reach the logic and never fail it.
TIMESTAMPS_IN = ("2100-12-31T23:59:59-14:00", "2000-01-01T00:00:00+14:00")
DATES_OUT = ("0001-01-01", "9999-12-31", "1999-12-31", "2101-01-01")
DATES_IN = ("2100-12-31", "2000-01-01")
WEEKS_OUT = ("0001-W01", "9999-W52", "1999-W52", "2101-W01")
WEEKS_IN = ("2100-W52", "2000-W01")
# Past 32 and 64 bits, and below every id.
HUGE_INTEGERS = (2**31, 2**63, 2**64, 10**30, -(2**63) - 1)


# A JSON body nested far deeper than any parser should follow.
FAR_TOO_DEEP = 10_000

# The fuzzer sends the first few of each list (the lists put the most telling values first).
SAMPLE_OUT, SAMPLE_IN = 3, 1


def integers_out(minimum: int, maximum: int) -> list[int]:
    """Integers just outside [minimum, maximum] and far outside it."""
    far = [n for n in HUGE_INTEGERS if not minimum <= n <= maximum]
    return list(dict.fromkeys([maximum + 1, *far[1:], minimum - 1, *far]))


def cursor_of(text: str) -> str:
    """A cursor as the lists issue them: base64url of JSON text, unpadded."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def encode_cursor(key: list[Any]) -> str:
    return cursor_of(json.dumps(key, separators=(",", ":")))


_UUID = "0193b2c4-5f1e-7c3a-9a51-2d9b8f3e4a10"
# Keys no list issues: ids past 64 bits or below 1, timestamps and dates outside the years.
CURSORS_OUT = (
    *(
        encode_cursor(key)
        for key in (
            [TIMESTAMPS_OUT[0], _UUID],
            [TIMESTAMPS_OUT[1], 2**63],
            [2**64],
            [2**63],
            [10**30],
            [0],
            [-1],
            [TIMESTAMPS_OUT[1], _UUID],
            [TIMESTAMPS_OUT[0], 1],
            [DATES_OUT[0]],
            [DATES_OUT[1]],
        )
    ),
    cursor_of("[" * 190 + "]" * 190),  # 190 levels deep: far past any cursor duban issues
)
# Keys at the extremes a list could issue.
CURSORS_IN = tuple(
    encode_cursor(key)
    for key in (
        [TIMESTAMPS_IN[0], 2**63 - 1],
        [TIMESTAMPS_IN[1], _UUID],
        [2**63 - 1],
        [2**31 - 1],
        [DATES_IN[0]],
        [DATES_IN[1]],
    )
)


def nested(depth: int, leaf: Any = 1) -> str:
    """JSON text nesting `depth` arrays and objects around `leaf`, built as text: the encoder
    itself would give up long before the depths worth sending."""
    opening = "".join('{"a":' if level % 2 else "[" for level in range(depth))
    closing = "".join("}" if level % 2 else "]" for level in reversed(range(depth)))
    return opening + json.dumps(leaf) + closing


# ---- the inputs of the OpenAPI document that take such values ----


@dataclass(frozen=True)
class Edge:
    """One input of one operation that takes a timestamp, date, week, integer or cursor."""

    method: str
    path: str
    where: str  # path, query or body
    name: str  # as the problem names it: `observed_at`, `rectify_within.working_days`
    kind: str
    schema: dict[str, Any]

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path} {self.where}:{self.name}"

    def values(self, inside: bool, *, sample: bool = False) -> list[Any]:
        """The values at the extremes inside the input's range, or past it; with `sample`,
        the first few only."""
        if self.kind == "integer":
            # An unbounded one is refused by the document's own test, and tried as int8 here.
            low = int(self.schema.get("minimum", 1))
            high = int(self.schema.get("maximum", 2**63 - 1))
            chosen: Sequence[Any] = [high, low] if inside else integers_out(low, high)
        else:
            table = {
                "timestamp": (TIMESTAMPS_IN, TIMESTAMPS_OUT),
                "date": (DATES_IN, DATES_OUT),
                "week": (WEEKS_IN, WEEKS_OUT),
                "cursor": (CURSORS_IN, CURSORS_OUT),
            }[self.kind]
            chosen = table[0] if inside else table[1]
        if sample:
            chosen = chosen[: SAMPLE_IN if inside else SAMPLE_OUT]
        return list(chosen)


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    branches = [b for b in schema.get("anyOf", []) if b.get("type") != "null"]
    if len(branches) == 1:
        return _resolve(document, branches[0])
    return schema


def _kind(name: str, schema: dict[str, Any]) -> str | None:
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "cursor":
        return "cursor"
    if leaf == "week":
        return "week"
    if schema.get("format") == "date-time":
        return "timestamp"
    if schema.get("format") == "date":
        return "date"
    if schema.get("type") == "integer":
        return "integer"
    return None


def _body_fields(
    document: dict[str, Any], schema: dict[str, Any], prefix: str = ""
) -> Iterator[tuple[str, dict[str, Any]]]:
    schema = _resolve(document, schema)
    if "properties" in schema:
        for name, sub in schema["properties"].items():
            yield from _body_fields(document, sub, f"{prefix}.{name}" if prefix else name)
    elif schema.get("type") == "array" and "items" in schema:
        yield from _body_fields(document, schema["items"], f"{prefix}[0]")
    elif prefix and _kind(prefix, schema) is not None:
        yield prefix, schema


def edges(document: dict[str, Any]) -> list[Edge]:
    """Every parameter and JSON body field of the OpenAPI `document` that takes a timestamp,
    date, ISO week, integer or cursor."""
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for p in operation.get("parameters", []):
                schema = _resolve(document, p["schema"])
                kind = _kind(p["name"], schema)
                if kind is not None:
                    found.append(Edge(method, path, p["in"], p["name"], kind, schema))
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                for name, schema in _body_fields(document, content["application/json"]["schema"]):
                    kind = _kind(name, schema)
                    assert kind is not None
                    found.append(Edge(method, path, "body", name, kind, schema))
    return found


def put(body: dict[str, Any], name: str, value: Any) -> None:
    """Set `segments[0].location.lat` in `body`."""
    steps: list[str | int] = [
        int(s[1:-1]) if s.startswith("[") else s for s in re.findall(r"\[\d+\]|[^.\[\]]+", name)
    ]
    here: Any = body
    for step, following in itertools.pairwise(steps):
        if isinstance(step, int):
            here = here[step]
        else:
            here = here.setdefault(step, [{}] if isinstance(following, int) else {})
    here[steps[-1]] = value


def job_context(**fields: Any) -> JobContext:
    """A worker job's context holding only what the job under test reads (a worker fills all
    of it at startup: services/worker/settings.py)."""
    return cast(JobContext, fields)


# ---- import files ----

IMPORTS = "/api/v1/imports"


def csv_file(rows: Sequence[Sequence[Any]], encoding: str = "utf-8-sig") -> bytes:
    """A CSV file as an office saves it: the header, then the rows."""
    import csv

    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_file(rows: Sequence[Sequence[Any]]) -> bytes:
    """The same rows as a worksheet (numbers as numbers, as Excel stores them)."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append([_cell(c) for c in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return int(number) if number.is_integer() and "." not in value else number
    return value


def import_file(rows: Sequence[Sequence[Any]], fmt: str) -> bytes:
    return xlsx_file(rows) if fmt == "xlsx" else csv_file(rows)


async def upload(
    client: AsyncClient,
    headers: dict[str, str],
    kind: str,
    data: bytes,
    *,
    name: str = "file",
    dry_run: bool = False,
) -> Response:
    return await client.post(
        f"{IMPORTS}/{kind}",
        params={"dry_run": "true"} if dry_run else None,
        files={"file": (name, data)},
        headers=headers,
    )


def square(lon: float, lat: float, half: float) -> dict[str, Any]:
    """A GeoJSON square polygon around (lon, lat)."""
    ring = [[lon - half, lat - half], [lon + half, lat - half], [lon + half, lat + half],
            [lon - half, lat + half], [lon - half, lat - half]]  # fmt: skip
    return {"type": "Polygon", "coordinates": [ring]}


def features(*items: tuple[str, dict[str, Any]]) -> bytes:
    """A GeoJSON FeatureCollection of (unit code, geometry)."""
    return json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "properties": {"code": c}, "geometry": g} for c, g in items
            ],
        }
    ).encode()


def duban(*argv: str, stdin: str = "") -> int:
    """The command line run as a shell would, in this process (its own event loop: call it
    from a thread in an async test), reading `stdin`."""
    import sys

    from services.cli.main import main

    sys.stdin = io.StringIO(stdin)
    try:
        return main(list(argv))
    finally:
        sys.stdin = sys.__stdin__


class LoggedProcess:
    """A duban process whose stderr (its log) goes to a file, read back line by line; stdout
    to another. Stopped with SIGTERM by `stop`, killed by `kill` if still running."""

    def __init__(self, argv: list[str], env: dict[str, str], log_dir: Path, name: str) -> None:
        self.err_path = log_dir / f"{name}.stderr"
        self.out_path = log_dir / f"{name}.stdout"
        with self.err_path.open("wb") as err, self.out_path.open("wb") as out:
            self.proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err, cwd=log_dir)

    def stderr_lines(self) -> list[str]:
        return [line for line in self.err_path.read_text(errors="replace").splitlines() if line]

    def json_lines(self) -> list[dict[str, Any]]:
        """Every line of its stderr, each of which must be a JSON object."""
        found = []
        for line in self.stderr_lines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise AssertionError(f"not a JSON line: {line!r}") from None
            assert isinstance(record, dict), line
            found.append(record)
        return found

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 120
    ) -> dict[str, Any]:
        """The first log line (JSON) `predicate` holds for, waiting for it to be written."""
        deadline = time.monotonic() + timeout
        while True:
            for record in self.json_lines():
                if predicate(record):
                    return record
            assert self.proc.poll() is None, "exited:\n" + "\n".join(self.stderr_lines()[-40:])
            assert time.monotonic() < deadline, "not logged:\n" + "\n".join(
                self.stderr_lines()[-40:]
            )
            time.sleep(0.2)

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


async def finding_row(factory: async_sessionmaker[AsyncSession], fid: str) -> dict[str, Any]:
    """The finding's row as the database holds it now (status, unit, duplicate_of …)."""
    async with factory() as session:
        row = (
            (await session.execute(text("SELECT * FROM findings WHERE id = :id"), {"id": fid}))
            .mappings()
            .one()
        )
        return dict(row)


async def escalations_of(factory: async_sessionmaker[AsyncSession], fid: str) -> list[Any]:
    """The escalations of a finding, lowest level first."""
    async with factory() as session:
        rows = await session.execute(
            text("SELECT * FROM escalations WHERE finding_id = :id ORDER BY level"), {"id": fid}
        )
        return list(rows.mappings())


def form_of(html: str, marker: str) -> dict[str, str]:
    """The hidden fields of the dashboard form whose text contains `marker` (a data-action
    or an id): what a browser would send with it."""
    for form in re.findall(r"<form\b.*?</form>", html, re.DOTALL):
        if marker in form:
            return dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', form))
    raise AssertionError(f"no form with {marker!r}")


async def device_token(factory: async_sessionmaker[AsyncSession], username: str) -> str:
    """A device token (a long-lived API token, `duban token issue`) for a demo account."""
    async with factory() as session, session.begin():
        issued = await issue_token(session, Operator("test"), username=username, name="phone")
        return issued.secret


# ---- channels: contact points through the admin API, deliveries as the worker makes them ----


async def add_contact_point(client: AsyncClient, admin: dict[str, str], **body: Any) -> int:
    """A contact point through POST /api/v1/contact-points (as an admin would): its id."""
    r = await client.post("/api/v1/contact-points", json=body, headers=admin)
    assert r.status_code == 201, r.text
    point_id: int = r.json()["id"]
    return point_id


async def person_of(factory: async_sessionmaker[AsyncSession], unit: str, role: str) -> int:
    """The person holding `role` at `unit` (a demo post)."""
    async with factory() as session:
        found = await session.scalar(
            text(
                "SELECT po.person_id FROM posts po JOIN units u ON u.id = po.unit_id "
                "WHERE u.code = :unit AND po.role = :role ORDER BY po.id LIMIT 1"
            ),
            {"unit": unit, "role": role},
        )
    assert found is not None, (unit, role)
    return int(found)


async def deliver_due(
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    http: httpx.AsyncClient,
    now: datetime,
    *,
    rounds: int = 50,
) -> list[Any]:
    """Deliver everything due at `now` the way the worker does (the rescan releases the inbox
    rows held to working hours; a job folds a destination's backlog into a digest first,
    then makes one attempt), until nothing due is left or only deferred rows remain. The
    outcomes."""
    from services.core.notify.delivery import deliver
    from services.core.notify.service import channels_from_settings
    from services.core.notify.store import due_for_delivery, form_digest, release_inbox
    from services.core.platform.backoff import RetryPolicy

    channels = channels_from_settings(settings, http)
    outcomes: list[Any] = []
    for _ in range(rounds):
        async with factory() as session, session.begin():
            await release_inbox(session, now)
            due = await due_for_delivery(session, now, 5000)
        if not due:
            break
        progressed = False
        for nid, _attempts, _at in due:
            async with factory() as session, session.begin():
                digest = await form_digest(
                    session, nid, now, settings.digest_threshold, settings.digest_max_items
                )
            async with factory() as session, session.begin():
                outcome = await deliver(
                    session,
                    digest or nid,
                    client=http,
                    secret="unused-webhook-secret",
                    policy=RetryPolicy.from_settings(settings),
                    tz=TZ,
                    now=now,
                    channels=channels,
                )
            if outcome is not None:
                outcomes.append(outcome)
                progressed = progressed or outcome.status != "pending" or bool(outcome.wake)
        if not progressed:
            break
    return outcomes


async def sql_rows(factory: async_sessionmaker[AsyncSession], sql: str, **params: Any) -> list[Any]:
    async with factory() as session:
        return list((await session.execute(text(sql), params)).all())


async def clone_findings(factory: async_sessionmaker[AsyncSession], fid: str, copies: int) -> None:
    """`copies` more findings exactly like `fid` (ids aside), written in one statement: a
    district's backlog without hundreds of reports."""
    async with factory() as session, session.begin():
        columns = list(
            (
                await session.execute(
                    text(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_name = 'findings' AND column_name <> 'id' "
                        # generated columns (yellow_at) compute themselves
                        "AND is_generated = 'NEVER' "
                        "ORDER BY ordinal_position"
                    )
                )
            ).scalars()
        )
        names = ", ".join(f'"{c}"' for c in columns)
        await session.execute(
            text(
                f"INSERT INTO findings (id, {names}) SELECT gen_random_uuid(), {names} "  # noqa: S608
                "FROM findings, generate_series(1, :copies) WHERE id = :id"
            ),
            {"copies": copies, "id": uuid.UUID(fid)},
        )


# ---- evaluation points, criteria, plans, inspections ----

POINT_TYPES_HEADER = ["类型编码 code", "名称 name", "启用 active"]
POINTS_HEADER = ["点位编码 code", "名称 name", "点位类型 type", "纬度 lat", "经度 lon",
                 "所在单位编码 unit", "责任单位编码 responsible_unit", "地址 address"]  # fmt: skip
TEST_POINT_TYPES = [["farmers_market", "农贸市场", "是"], ["back_alley", "背街小巷", "是"]]
# Two markets and an alley in 市南区, an alley in 李沧区.
TEST_POINTS = [
    ["t.sn.market1", "示例·八大关市场", "farmers_market", "36.0546", "120.3560",
     "shinan.badaguan", "", "八大关"],
    ["t.sn.market2", "示例·湛山市场", "farmers_market", "36.0585", "120.3726",
     "shinan.zhanshan", "", "湛山"],
    ["t.sn.alley1", "示例·香港中路小巷", "back_alley", "36.0628", "120.3905",
     "shinan.xiangganglu", "", "香港中路"],
    ["t.lc.alley1", "示例·李村小巷", "back_alley", "36.1468", "120.4322",
     "licang.xiaocun", "", "李村"],
]  # fmt: skip


async def import_points(
    client: AsyncClient,
    admin: dict[str, str],
    points: Sequence[Sequence[str]] = TEST_POINTS,
    fmt: str = "csv",
) -> None:
    """The test point types and `points`, imported as an office does."""
    r = await upload(
        client, admin, "point-types", import_file([POINT_TYPES_HEADER, *TEST_POINT_TYPES], fmt)
    )
    assert r.status_code == 200, r.text
    r = await upload(client, admin, "points", import_file([POINTS_HEADER, *points], fmt))
    assert r.status_code == 200, r.text


CRITERIA_HEADER = ["版本编码 set", "版本名称 set_name", "指标编码 code", "指标名称 name",
                   "上级指标编码 parent", "分值 full_score", "适用点位类型 point_types",
                   "检查内容 check_items", "测评方法 method", "问题类别编码 category"]  # fmt: skip
# An illustrative subset, not the official text: two check items for markets, one for alleys,
# one checked from the records.
TEST_CRITERIA = [
    ["t-2026", "测试标准", "A", "市容环境", "", "30", "", "", "实地考察", ""],
    ["t-2026", "", "A.1", "市场地面整洁", "A", "10", "farmers_market", "无垃圾、无积水",
     "field", "exposed_garbage"],
    ["t-2026", "", "A.2", "摊位不占道", "A", "10", "farmers_market", "无店外经营",
     "field", "store_overflow"],
    ["t-2026", "", "A.3", "小巷无乱堆乱放", "A", "10", "back_alley", "无暴露垃圾",
     "field", "exposed_garbage"],
    ["t-2026", "", "B", "长效机制", "", "10", "", "巡查台账齐全", "资料审核", ""],
]  # fmt: skip


async def import_criteria(
    client: AsyncClient,
    admin: dict[str, str],
    rows: Sequence[Sequence[str]] = TEST_CRITERIA,
    fmt: str = "xlsx",
) -> Response:
    return await upload(client, admin, "criteria", import_file([CRITERIA_HEADER, *rows], fmt))


PLANS = "/api/v1/inspection-plans"
INSPECTIONS = "/api/v1/inspections"


def around_today(days: int = 14) -> tuple[str, str]:
    """A plan's period from `days` before today to `days` after, in the city."""
    today = datetime.now(TZ).date()
    return (
        (today - timedelta(days=days)).isoformat(),
        (today + timedelta(days=days)).isoformat(),
    )


async def instruments(client: AsyncClient, login: Callable[[str], Any]) -> None:
    """The test points and criteria, and a weekly plan over the weeks around today for the
    markets and alleys of 市南区, assigned to inspector.shinan."""
    admin = await login("admin")
    await import_points(client, admin)
    assert (await import_criteria(client, admin)).status_code == 200
    starts, ends = around_today()
    r = await client.post(
        PLANS,
        json={
            "code": "t.weekly", "name": "周巡查", "criteria_set": "t-2026",
            "starts_on": starts, "ends_on": ends, "units": ["shinan"],
            "frequencies": {"farmers_market": "weekly", "back_alley": "weekly"},
            "assignees": ["inspector.shinan"],
        },
        headers=await login("dispatcher"),
    )  # fmt: skip
    assert r.status_code == 201, r.text


def visit(point: str = "t.sn.market1", **over: Any) -> dict[str, Any]:
    """An inspection body at `point` a minute ago, standing at the market, everything passed."""
    items = {
        "farmers_market": [{"criterion": "A.1", "outcome": "pass"},
                           {"criterion": "A.2", "outcome": "pass"}],
        "back_alley": [{"criterion": "A.3", "outcome": "pass"}],
    }["back_alley" if "alley" in point else "farmers_market"]  # fmt: skip
    row = next((p for p in TEST_POINTS if p[0] == point), None)
    lat, lon = (float(row[3]), float(row[4])) if row else (LAT, LON)
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "point": point,
        "observed_at": (datetime.now(TZ) - timedelta(minutes=1)).isoformat(),
        "location": {"lat": lat, "lon": lon},
        "items": items,
    }
    return body | over


async def log_in(page: Page, live: Live, username: str, shot: Path | None = None) -> None:
    """Log in to the dashboard through its form, as a person does (a screenshot of the filled
    form to `shot`)."""
    await page.goto(f"{live.url}/ui")
    assert "/ui/login" in await page.url()  # not logged in: sent to the login page
    await page.fill("#username", username)
    await page.fill("#password", demo_password(username))
    if shot:
        await page.screenshot(shot)
    await page.navigating("document.querySelector('form[action=\"/ui/login\"]').submit()")
    assert await page.url() == f"{live.url}/ui"
    assert await page.text("[data-testid=username]") == username


# ---- the commitments ledger ----

MEETINGS = "/api/v1/meetings"
COMMITMENTS = "/api/v1/commitments"


def pledge(unit: str = "shinan", **over: Any) -> dict[str, Any]:
    """A commitment's body with placeholder text (现状、问题、目标、措施、时限)."""
    return {
        "unit": unit,
        "status_quo": "示例：背街小巷垃圾清运不及时",
        "problems": "示例：曝光问题尚有未整改",
        "targets": "示例：曝光问题全部整改销号",
        "measures": "示例：建立每日巡查清运机制",
        "deadline": {"working_days": 10},
    } | over


async def meeting_with(
    client: AsyncClient, office: dict[str, str], *pledges: dict[str, Any], **over: Any
) -> tuple[int, list[dict[str, Any]]]:
    """A meeting (today) with the commitments given: its id and the commitments created."""
    body = {"held_on": datetime.now(TZ).date().isoformat(), "title": "曝光片点评会",
            "kind": "exposure_review"} | over  # fmt: skip
    r = await client.post(MEETINGS, json=body, headers=office)
    assert r.status_code == 201, r.text
    mid = int(r.json()["id"])
    made = []
    for p in pledges:
        r = await client.post(f"{MEETINGS}/{mid}/commitments", json=p, headers=office)
        assert r.status_code == 201, r.text
        made.append(r.json())
    return mid, made


async def overdue_commitment(
    factory: async_sessionmaker[AsyncSession], cid: int, due: datetime
) -> None:
    """Move a commitment's deadline to `due` (created well before), its ladder due then."""
    async with factory() as session, session.begin():
        await session.execute(
            text(
                "UPDATE commitments SET due_at = CAST(:due AS timestamptz),"
                " created_at = CAST(:due AS timestamptz) - interval '20 days',"
                " next_escalation_at = CAST(:due AS timestamptz) WHERE id = :id"
            ),
            {"due": due, "id": cid},
        )


async def sweep_pledges(
    factory: async_sessionmaker[AsyncSession], settings: Settings, now: datetime
) -> SweepResult:
    async with factory() as session, session.begin():
        clock = await load_city_clock(session, settings)
        return await sweep_commitments(session, clock, now, 200)


# ---- a hand-built history of escalations (the accountability ledger) ----


@dataclass(frozen=True)
class Notice:
    """What became of the message to the escalation's target: sent (inbox or a channel),
    opened, or failed."""

    channel: str = "inbox"
    sent: bool = True
    opened: bool = False


async def addressee(conn: asyncpg.Connection, unit_code: str, person: int) -> tuple[int, str, str]:
    """The unit (id, name) an escalation addresses and the person's name, as a sweep records
    them."""
    unit_id, unit_name = await conn.fetchrow(
        "SELECT id, name FROM units WHERE code = $1", unit_code
    )
    name: str = await conn.fetchval("SELECT name FROM people WHERE id = $1", person)
    return unit_id, unit_name, name


async def insert_escalation(
    conn: asyncpg.Connection,
    finding: str,
    level: int,
    fired_at: datetime,
    *,
    person: int,
    unit_code: str,
    target: str = "district_head",
    acknowledged_at: datetime | None = None,
    instruction: str | None = None,
    notice: Notice | None = Notice(),
) -> int:
    """An escalation as the sweep would have written it, addressed to `person` as holder of
    a post of `unit_code`, with its message to them; acknowledged with `instruction` when
    given."""
    unit_id, unit_name, name = await addressee(conn, unit_code, person)
    eid: int = await conn.fetchval(
        "INSERT INTO escalations (finding_id, level, target, fired_at, due_for, reason, "
        "target_person_id, target_name, target_unit_id, target_unit_name, source, "
        "acknowledged_at, instruction) "
        "VALUES ($1, $2, $3, $4, $4, 'overdue', $5, $6, $7, $8, 'inspection', $9, $10) "
        "RETURNING id",
        uuid.UUID(finding),
        level,
        target,
        fired_at,
        person,
        name,
        unit_id,
        unit_name,
        acknowledged_at,
        instruction,
    )
    if notice is not None:
        await conn.execute(
            "INSERT INTO notifications (dedupe_key, kind, escalation_id, finding_id, "
            "recipient_person_id, channel, subject, payload, status, sent_at, read_at, "
            "opened_at) VALUES ($1, 'escalation', $2, $3, $4, $5, '督办', '{}', $6, $7, $8, $9)",
            f"test:{eid}:{notice.channel}",
            eid,
            uuid.UUID(finding),
            person,
            notice.channel,
            "sent" if notice.sent else "failed",
            fired_at if notice.sent else None,
            fired_at if notice.opened and notice.channel == "inbox" else None,
            fired_at if notice.opened and notice.channel != "inbox" else None,
        )
    return eid


async def insert_commitment_escalation(
    conn: asyncpg.Connection,
    commitment: int,
    level: int,
    fired_at: datetime,
    *,
    person: int,
    unit_code: str,
    target: str = "district_head",
    notice: Notice | None = Notice(),
) -> int:
    """A level of a commitment's ladder as its sweep would have written it, addressed to
    `person` as holder of a post of `unit_code`, with its notice to them (naming the
    commitment, the level's id in its payload)."""
    unit_id, unit_name, name = await addressee(conn, unit_code, person)
    eid: int = await conn.fetchval(
        "INSERT INTO commitment_escalations (commitment_id, level, target, fired_at, due_for, "
        "reason, target_person_id, target_name, target_unit_id, target_unit_name) "
        "VALUES ($1, $2, $3, $4, $4, 'overdue', $5, $6, $7, $8) RETURNING id",
        commitment,
        level,
        target,
        fired_at,
        person,
        name,
        unit_id,
        unit_name,
    )
    if notice is not None:
        await conn.execute(
            "INSERT INTO notifications (dedupe_key, kind, commitment_id, recipient_person_id, "
            "channel, subject, payload, status, sent_at, read_at, opened_at) "
            "VALUES ($1, 'commitment', $2, $3, $4, '承诺督办', $5, $6, $7, $8, $9)",
            f"test:commitment:{eid}:{notice.channel}",
            commitment,
            person,
            notice.channel,
            json.dumps({"commitment_escalation_id": eid, "level": level}),
            "sent" if notice.sent else "failed",
            fired_at if notice.sent else None,
            fired_at if notice.opened and notice.channel == "inbox" else None,
            fired_at if notice.opened and notice.channel != "inbox" else None,
        )
    return eid


async def close_rectified(conn: asyncpg.Connection, finding: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE findings SET status = 'closed', close_reason = 'rectified', submitted_at = $2, "
        "closed_at = $2, next_escalation_at = NULL WHERE id = $1",
        uuid.UUID(finding),
        at,
    )


async def hand_over_post(
    conn: asyncpg.Connection, unit_code: str, role: str, at: datetime, new_person: str
) -> int:
    """The post's holder's tenure ends at `at` and a new person (created) takes it over;
    the new person's id."""
    unit_id = await conn.fetchval("SELECT id FROM units WHERE code = $1", unit_code)
    await conn.execute(
        "UPDATE posts SET valid_to = $3 WHERE unit_id = $1 AND role = $2 AND valid_to IS NULL",
        unit_id,
        role,
        at,
    )
    person: int = await conn.fetchval(
        "INSERT INTO people (name, title) VALUES ($1, $1) RETURNING id", new_person
    )
    await appoint(conn, unit_code, role, person, at)
    return person


async def appoint(
    conn: asyncpg.Connection, unit_code: str, role: str, person: int, at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO posts (unit_id, role, person_id, valid_from) "
        "SELECT id, $2, $3, $4 FROM units WHERE code = $1",
        unit_code,
        role,
        person,
        at,
    )


async def person_of_account(conn: asyncpg.Connection, username: str) -> int:
    person: int = await conn.fetchval("SELECT person_id FROM users WHERE username = $1", username)
    return person


LICANG_PLACE = {"lat": 36.1468, "lon": 120.4322, "address": "李沧区李村 京口路"}


# ---- evidence packs ----


def flip_byte(data: bytes, at: int) -> bytes:
    """`data` with the byte at `at` (negative: from the end) changed."""
    at %= len(data)
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def member_offset(archive: bytes, name: str) -> int:
    """Where the stored bytes of member `name` begin in the ZIP `archive`."""
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        info = zf.getinfo(name)
    # The local header: 30 fixed bytes, then the name and the extra field.
    name_len = int.from_bytes(archive[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_len = int.from_bytes(archive[info.header_offset + 28 : info.header_offset + 30], "little")
    return info.header_offset + 30 + name_len + extra_len


# ---- documents attached to a step ----


def make_pdf(text: str = "整改报告") -> bytes:
    """A small, valid one-page PDF."""
    body = f"BT /F1 12 Tf 72 720 Td ({text.encode('unicode_escape').decode()}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(body), body),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, obj)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def make_office(main_part: str, *, macros: bool = False) -> bytes:
    """An Office Open XML package with `main_part` (word/document.xml for .docx,
    xl/workbook.xml for .xlsx), and a macro project if asked (a .docm or .xlsm)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        archive.writestr(main_part, '<?xml version="1.0"?><document/>')
        if macros:
            archive.writestr(
                main_part.split("/", maxsplit=1)[0] + "/vbaProject.bin", b"\xd0\xcf\x11\xe0"
            )
    return buffer.getvalue()
