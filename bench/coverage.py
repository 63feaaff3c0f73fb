"""The campaign instruments under a city's load (issue: no blind spots): 50,000 evaluation
points, half a year of weekly inspection tasks and 2,000,000 inspection results, written by
PostgreSQL itself; then coverage per district for a month, the blind-spot list and the
inspection submit measured through the API.

python -m bench.coverage                 # full sizes; writes its section into bench/RESULTS.md
python -m bench.coverage --smoke         # seconds: proves the harness still works
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from bench import load
from bench.report import HAND_WRITTEN, Target
from bench.runner import HOST, bearer
from bench.stack import Stack

TZ = ZoneInfo("Asia/Shanghai")
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
BEGIN, END = "<!-- coverage: begin -->", "<!-- coverage: end -->"


@dataclass(frozen=True)
class Size:
    points: int
    weeks: int
    reads: int
    submit_seconds: float


FULL = Size(50_000, 26, 200, 20)
SMOKE = Size(500, 4, 10, 1.5)

# Points spread over the demo's streets, a third each of markets, alleys and toilets; a last
# inspection somewhere in the last 60 days, none for 1 in 20 (the blind spots).
POINTS = """
WITH streets AS (
    SELECT row_number() OVER (ORDER BY s.id) - 1 AS i, s.id, s.lat, s.lon, d.id AS district_id
    FROM units s JOIN units d ON d.kind = 'district' AND s.path LIKE d.path || '%'
    WHERE s.kind = 'street'
), types AS (
    SELECT row_number() OVER (ORDER BY code) - 1 AS i, id
    FROM point_types WHERE code IN ('farmers_market', 'back_alley', 'public_toilet')
)
INSERT INTO evaluation_points (code, name, point_type_id, lat, lon, place_unit_id,
                               district_id, street_id, last_inspected_at)
SELECT 'bench.' || g, '点位 ' || g, t.id,
       s.lat + ((g::bigint * 7919) % 1000 - 500) / 50000.0,
       s.lon + ((g::bigint * 104729) % 1000 - 500) / 50000.0,
       s.id, s.district_id, s.id,
       CASE WHEN g % 20 = 0 THEN NULL ELSE now() - ((g * 37) % 60) * interval '1 day' END
FROM generate_series(1, $1) AS g
JOIN streets s ON s.i = g % (SELECT count(*) FROM streets)
JOIN types t ON t.i = g % 3
"""

PLAN = """
INSERT INTO inspection_plans (code, name, kind, criteria_set_id, starts_on, ends_on, units,
                              frequencies, assignees)
SELECT 'bench.plan', '基准·周巡查', 'routine', id, $1, $2, '[]', '{}', '["inspector"]'
FROM criteria_sets WHERE code = 'demo-2026'
RETURNING id
"""

# One task per point and week (Monday 00:00 to Friday 17:30), the past weeks' done but one in
# five, done by an inspection with two results.
TASKS = """
INSERT INTO inspection_tasks (plan_id, point_id, assignee_id, opens_at, due_at, district_id,
                              street_id, point_type_id, done_at, inspection_id)
SELECT $1, p.id, (SELECT id FROM users WHERE username = 'inspector'),
       w.monday, w.monday + interval '4 days 17 hours 30 minutes',
       p.district_id, p.street_id, p.point_type_id,
       CASE WHEN done THEN w.monday + interval '2 days 10 hours' END,
       CASE WHEN done THEN md5('bench-insp:' || p.id || ':' || w.n)::uuid END
FROM evaluation_points p
CROSS JOIN (SELECT n, ($2::date + n * 7)::timestamp AT TIME ZONE 'Asia/Shanghai' AS monday
            FROM generate_series(0, $3 - 1) n) w
CROSS JOIN LATERAL (SELECT w.monday + interval '4 days 17 hours 30 minutes' < now()
                           AND (p.id + w.n) % 5 <> 0 AS done) d
WHERE p.code LIKE 'bench.%'
"""

INSPECTIONS = """
INSERT INTO inspections (id, point_id, task_id, criteria_set_id, inspector_id, district_id,
                         observed_at, recorded_at, lat, lon, distance_m, flags, passed, failed,
                         not_applicable, request_hash)
SELECT t.inspection_id, t.point_id, t.id, $1, t.assignee_id, t.district_id, t.done_at,
       t.done_at, p.lat, p.lon, 0, '[]', 2, 0, 0, 'bench'
FROM inspection_tasks t JOIN evaluation_points p ON p.id = t.point_id
WHERE t.inspection_id IS NOT NULL
"""

RESULTS_SQL = """
INSERT INTO inspection_results (inspection_id, criterion_id, outcome)
SELECT i.id, c.id, CASE WHEN (hashtext(i.id::text) + c.id) % 10 = 0 THEN 'fail' ELSE 'pass' END
FROM inspections i
CROSS JOIN (SELECT id FROM criteria WHERE code IN ('D1.1', 'D1.3')) c
"""


async def generate(conn: asyncpg.Connection, size: Size) -> dict[str, Any]:
    """The points, tasks, inspections and results; the counts and seconds."""
    t0 = time.monotonic()
    today = datetime.now(TZ).date()
    # The weeks end with the current one, so the month's coverage has past and open tasks.
    first_monday = today - timedelta(days=today.weekday()) - timedelta(weeks=size.weeks - 1)
    await conn.execute(POINTS, size.points)
    t_points = time.monotonic()
    plan_id = await conn.fetchval(
        PLAN, first_monday, first_monday + timedelta(weeks=size.weeks, days=-1)
    )
    await conn.execute(TASKS, plan_id, first_monday, size.weeks)
    t_tasks = time.monotonic()
    set_id = await conn.fetchval("SELECT id FROM criteria_sets WHERE code = 'demo-2026'")
    await conn.execute(INSPECTIONS, set_id)
    await conn.execute(RESULTS_SQL)
    t_results = time.monotonic()
    await conn.execute("VACUUM ANALYZE")
    # Written out now, not by a checkpoint in the middle of the measurements: a city's
    # database does not carry a gigabyte just loaded.
    await conn.execute("CHECKPOINT")
    counts = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM evaluation_points) AS points,"
        " (SELECT count(*) FROM inspection_tasks) AS tasks,"
        " (SELECT count(*) FROM inspections) AS inspections,"
        " (SELECT count(*) FROM inspection_results) AS results"
    )
    return {
        **dict(counts),
        "weeks": size.weeks,
        "points_s": round(t_points - t0, 1),
        "tasks_s": round(t_tasks - t_points, 1),
        "results_s": round(t_results - t_tasks, 1),
        "total_s": round(time.monotonic() - t0, 1),
    }


def _gets(paths: list[str], auth: dict[str, str]) -> load.RequestFactory:
    def make(_client: int, n: int) -> tuple[str, str, dict[str, str], bytes]:
        return "GET", paths[n % len(paths)], auth, b""

    return make


ITEMS = {
    "farmers_market": [("D1.1", "pass"), ("D1.2", "pass")],
    "back_alley": [("D1.3", "pass")],
    "public_toilet": [("D1.4", "pass")],
}


def _submits(
    points: list[tuple[str, str, float, float]], auth: dict[str, str]
) -> load.RequestFactory:
    """An inspector's app recording visits that find nothing, at points all over the city,
    each with a fresh client id (a replay would cost less)."""
    headers = {**auth, "Content-Type": "application/json"}
    counter = itertools.count()
    rng = random.Random(23)  # noqa: S311 - a reproducible scatter, not a secret

    def make(_client: int, _n: int) -> tuple[str, str, dict[str, str], bytes]:
        code, type_code, lat, lon = points[rng.randrange(len(points))]
        next(counter)
        body = {
            "id": str(uuid.uuid4()),
            "point": code,
            "observed_at": (datetime.now(TZ) - timedelta(seconds=30)).isoformat(),
            "location": {"lat": lat, "lon": lon},
            "items": [{"criterion": c, "outcome": o} for c, o in ITEMS[type_code]],
        }
        return "POST", "/api/v1/inspections", headers, json.dumps(body).encode()

    return make


def _latency(result: load.Result) -> dict[str, Any]:
    return {
        "clients": result.clients,
        "ok": result.ok,
        "errors": result.errors,
        "throughput": round(result.throughput, 1),
        "p50_ms": round(result.pct(50), 1),
        "p95_ms": round(result.pct(95), 1),
        "p99_ms": round(result.pct(99), 1),
    }


async def measure(port: int, database_url: str, size: Size) -> tuple[dict[str, Any], list[Target]]:
    conn = await asyncpg.connect(database_url)
    try:
        districts = [r["code"] for r in await conn.fetch(
            "SELECT code FROM units WHERE kind = 'district' ORDER BY 1")]  # fmt: skip
        points = [
            (r["code"], r["type"], r["lat"], r["lon"])
            for r in await conn.fetch(
                "SELECT p.code, t.code AS type, p.lat, p.lon FROM evaluation_points p"
                " JOIN point_types t ON t.id = p.point_type_id WHERE p.code LIKE 'bench.%'"
            )
        ]
    finally:
        await conn.close()
    supervisor = bearer(port, "supervisor")
    today = datetime.now(TZ).date()
    month = date(today.year, today.month, 1)
    since = datetime.combine(month, datetime.min.time(), TZ) - timedelta(days=0)
    window = f"since={since.isoformat()}&until={(since + timedelta(days=31)).isoformat()}"
    window = window.replace("+", "%2B")
    reads = {
        "GET /coverage?by=district (a month, whole city)": [
            f"/api/v1/coverage?by=district&{window}"
        ],
        "GET /coverage?by=street&district=… (a month)": [
            f"/api/v1/coverage?by=street&district={d}&{window}" for d in districts
        ],
        "GET /coverage/blind-spots?district=… (50 rows)": [
            f"/api/v1/coverage/blind-spots?district={d}&limit=50" for d in districts
        ],
        "GET /coverage/blind-spots (whole city, 50 rows)": ["/api/v1/coverage/blind-spots"],
        # The ranking counts coverage: its figures over the tasks as well as the findings.
        "GET /stats/units (a month, coverage counted)": [f"/api/v1/stats/units?{window}"],
        "GET /stats/units (no window, coverage counted)": ["/api/v1/stats/units"],
    }
    figures: dict[str, Any] = {}
    for name, paths in reads.items():
        await load.sequential(HOST, port, _gets(paths, supervisor), 5)
        result = await load.sequential(HOST, port, _gets(paths, supervisor), size.reads)
        figures[name] = _latency(result)
        print(name, figures[name], flush=True)
    inspector = bearer(port, "inspector")
    await load.run(HOST, port, _submits(points, inspector), clients=8, seconds=2)
    alone = await load.run(
        HOST, port, _submits(points, inspector), clients=1, seconds=size.submit_seconds / 2
    )
    figures["POST /inspections (1 client, nothing found)"] = _latency(alone)
    print("submit alone", figures["POST /inspections (1 client, nothing found)"], flush=True)
    submit = await load.run(
        HOST, port, _submits(points, inspector), clients=8, seconds=size.submit_seconds
    )
    figures["POST /inspections (8 clients, nothing found)"] = _latency(submit)
    print("submit", figures["POST /inspections (8 clients, nothing found)"], flush=True)
    cov = figures["GET /coverage?by=district (a month, whole city)"]["p95_ms"]
    cov_d = figures["GET /coverage?by=street&district=… (a month)"]["p95_ms"]
    blind = figures["GET /coverage/blind-spots?district=… (50 rows)"]["p95_ms"]
    blind_all = figures["GET /coverage/blind-spots (whole city, 50 rows)"]["p95_ms"]
    sub = figures["POST /inspections (8 clients, nothing found)"]["p99_ms"]
    stats_month = figures["GET /stats/units (a month, coverage counted)"]["p95_ms"]
    stats_all = figures["GET /stats/units (no window, coverage counted)"]["p95_ms"]
    targets = [
        Target("coverage per district for a month p95 ≤ 200 ms", cov <= 200, f"{cov} ms"),
        Target(
            "coverage per street of a district for a month p95 ≤ 200 ms",
            cov_d <= 200,
            f"{cov_d} ms",
        ),
        Target("blind-spot list of a district (50 rows) p95 ≤ 50 ms", blind <= 50, f"{blind} ms"),
        Target(
            "blind-spot list of the city (50 rows) p95 ≤ 50 ms", blind_all <= 50, f"{blind_all} ms"
        ),
        Target("inspection submit p99 ≤ 50 ms at 8 clients", sub <= 50, f"{sub} ms"),
        Target(
            "GET /stats/units (a month) p95 ≤ 200 ms with the tasks",
            stats_month <= 200,
            f"{stats_month} ms",
        ),
        Target(
            "GET /stats/units (no window) p95 ≤ 200 ms with the tasks",
            stats_all <= 200,
            f"{stats_all} ms",
        ),
    ]
    return figures, targets


def section(data: dict[str, Any], figures: dict[str, Any], targets: list[Target],
            started: datetime, api_workers: int, smoke: bool) -> str:  # fmt: skip
    rows = [
        "| | p50_ms | p95_ms | p99_ms | throughput | ok | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, f in figures.items():
        rows.append(f"| {name} | {f['p50_ms']} | {f['p95_ms']} | {f['p99_ms']} | "
                    f"{f['throughput']} | {f['ok']} | {f['errors']} |")  # fmt: skip
    return "\n".join([
        BEGIN,
        "## Campaign instruments: points, inspections, coverage"
        + (" (SMOKE: tiny sizes, figures meaningless)" if smoke else ""),
        "",
        f"Run with `python -m bench.coverage` on {started:%Y-%m-%d %H:%M} UTC, on the same "
        f"co-located stack (PostgreSQL fsync on, API {api_workers} uvicorn worker processes).",
        "",
        f"Data, generated in SQL in {data['total_s']} s (points {data['points_s']} s, tasks "
        f"{data['tasks_s']} s, inspections and results {data['results_s']} s): "
        f"{data['points']:,} evaluation points (the demo's 57 among them), {data['tasks']:,} "
        f"weekly inspection tasks over {data['weeks']} weeks ending this week, "
        f"{data['inspections']:,} inspections, {data['results']:,} inspection results.",
        "",
        "| Target | Measured | |",
        "|---|---|---|",
        *[f"| {t.name} | {t.measured} | {t.verdict} |" for t in targets],
        "",
        "Reads: one client on loopback as the supervisor, districts in rotation; submit: 8 "
        "clients in a closed loop, each visit at a random point with a fresh client id.",
        "",
        *rows,
        END,
    ]) + "\n"  # fmt: skip


def splice(text: str, block: str) -> str:
    """`block` in place of the previous run's section, or at the end, below the line under
    which `make bench` keeps what it did not write."""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        return head + block.rstrip("\n") + rest.split(END, 1)[1]
    if HAND_WRITTEN not in text:
        text = text.rstrip("\n") + "\n\n" + HAND_WRITTEN
    return text.rstrip("\n") + "\n\n" + block


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.coverage", description=__doc__)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--points", type=int)
    parser.add_argument("--weeks", type=int)
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    size = SMOKE if args.smoke else FULL
    size = Size(args.points or size.points, args.weeks or size.weeks, size.reads,
                size.submit_seconds)  # fmt: skip
    out: Path = args.out or (
        Path(tempfile.gettempdir()) / "duban-bench-coverage-smoke.md" if args.smoke else RESULTS
    )
    root = Path(tempfile.mkdtemp(prefix="duban-bench-cov-"))
    started = datetime.now(UTC)
    try:
        with Stack(root) as stack:
            stack.start_servers()
            stack.migrate_and_seed()

            async def data() -> dict[str, Any]:
                conn = await asyncpg.connect(stack.database_url)
                try:
                    return await generate(conn, size)
                finally:
                    await conn.close()

            generated = asyncio.run(data())
            print("data", generated, flush=True)
            _child, port = stack.start_uvicorn(
                "api", ["services.api.app:create_app", "--factory"], args.api_workers
            )
            figures, targets = asyncio.run(measure(port, stack.database_url, size))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    block = section(generated, figures, targets, started, args.api_workers, args.smoke)
    previous = out.read_text() if out.exists() else ""
    out.write_text(splice(previous, block))
    print(f"wrote {out}")
    errors = sum(f["errors"] for f in figures.values())
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
