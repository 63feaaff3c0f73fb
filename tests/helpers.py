"""Helpers shared by test modules (no test module imports another): reports and lifecycle
actions through the API, overdue findings swept by the real sweep, logins and accounts,
response bodies as searchable text, and a real uvicorn for tests that need one."""

from __future__ import annotations

import base64
import io
import itertools
import json
import math
import re
import signal
import subprocess
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import chinese_calendar
import httpx
from httpx import AsyncClient, Response
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api.xlsx import XLSX_MEDIA_TYPE
from services.cli.accounts import add_user
from services.core.calendar.store import load_city_clock
from services.core.demo.service import DISTRICTS
from services.core.escalation.sweep import sweep_batch
from services.core.identity.principal import Principal
from services.core.models import Unit, User
from services.core.platform.settings import Settings
from services.worker.context import JobContext
from tests.conftest import demo_password

TZ = ZoneInfo("Asia/Shanghai")
URL = "/api/v1/findings"
VIDEOS = "/api/v1/exposure-videos"
M_PER_DEG = 111_195
LAT, LON = 36.0571, 120.3466  # 市南区八大关, where the default test finding is


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


# ---- values at the edges of what the API takes (tests/test_edges.py, tests/fuzz_hooks.py) ----

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
    cursor_of("[" * 190 + "]" * 190),  # as deep as fits in a cursor's 512 characters
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
