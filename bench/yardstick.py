"""The yardsticks: the least a FastAPI + asyncpg service must do to store a finding.

POST /findings validates a body like duban's and inserts one row (with a primary key and two
secondary indexes, as a comparable table would have) in its own transaction, then answers
201 with JSON. No auth, no routing, no audit: the ratio duban / yardstick is what those cost.

POST /findings/same-sql is the floor under duban's own intake: the same body, then exactly the
statements duban's intake sends (the caller's read, then `intake_report`: the look-around and
the write of the finding and its two events, into duban's tables with their indexes, foreign
keys and triggers), with everything else (token, routing, deadlines, rendering) reduced to
constants. Whatever duban's
Python does, it cannot store findings faster than this on the same machine: it is the bound
the database work alone sets.

    BENCH_DATABASE_URL=postgresql://... uvicorn bench.yardstick:app
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from fastapi import FastAPI, HTTPException
from pydantic import AwareDatetime, BaseModel, Field

from services.core.escalation.plans import DEFAULT_POLICY, policy_plan
from services.core.findings.intake import RESTART_SOURCES
from services.core.findings.spatial import box
from services.core.findings.store import FINDING_COLUMNS, REPORT_SQL
from services.core.identity.callers import read_caller
from services.core.platform.settings import get_settings

TABLE = """
CREATE TABLE IF NOT EXISTS bench_yardstick (
  id uuid PRIMARY KEY,
  source varchar(32) NOT NULL,
  category varchar(64) NOT NULL,
  severity varchar(16) NOT NULL,
  description text NOT NULL,
  lat double precision NOT NULL,
  lon double precision NOT NULL,
  address varchar(500),
  unit varchar(64) NOT NULL,
  point_type varchar(64),
  observed_at timestamptz NOT NULL,
  reported_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ix_bench_yardstick_reported ON bench_yardstick (reported_at, id);
CREATE INDEX IF NOT EXISTS ix_bench_yardstick_unit ON bench_yardstick (unit, reported_at);
"""


class Location(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    address: str | None = Field(default=None, max_length=500)


class FindingIn(BaseModel):
    id: uuid.UUID
    source: str = Field(max_length=32)
    category: str = Field(max_length=64)
    severity: str = Field(max_length=16)
    description: str = Field(max_length=4000)
    location: Location
    unit: str = Field(max_length=64)
    point_type: str | None = Field(default=None, max_length=64)
    observed_at: AwareDatetime


class FindingOut(BaseModel):
    id: uuid.UUID
    reported_at: datetime


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    url = os.environ["BENCH_DATABASE_URL"]
    pool = await asyncpg.create_pool(url, min_size=4, max_size=10)
    # The floor's own pool hands connections back as they are: asyncpg's default reset on
    # release (CLOSE ALL, UNLISTEN *, RESET ALL...) is a round trip duban does not pay.
    floor = await asyncpg.create_pool(url, min_size=4, max_size=10, reset=_as_is)
    async with pool.acquire() as conn:
        await conn.execute(TABLE)
        app.state.same_sql = await _same_sql_constants(conn)
    app.state.pool, app.state.floor_pool = pool, floor
    yield
    await floor.close()
    await pool.close()


async def _as_is(_conn: asyncpg.Connection) -> None:
    return None


async def _same_sql_constants(conn: asyncpg.Connection) -> dict[str, Any]:
    """What duban keeps in its reference snapshot, read once: category and unit ids, the
    default escalation plan, and the inspector who reports."""
    categories = await conn.fetch("SELECT id, code, duplicate_radius_m FROM categories")
    units = await conn.fetch("SELECT id, code, coalesce(parent_id, id) AS district_id FROM units")
    policy = await conn.fetchrow(
        "SELECT code, reminder_at, levels FROM escalation_policies WHERE code = $1",
        DEFAULT_POLICY,
    )
    plan = policy_plan(policy["code"], policy["reminder_at"], json.loads(policy["levels"]))
    reporter_id = await conn.fetchval("SELECT id FROM users WHERE username = 'inspector'")
    return {
        "categories": {r["code"]: (r["id"], float(r["duplicate_radius_m"])) for r in categories},
        "units": {r["code"]: (r["id"], r["district_id"]) for r in units},
        "plan": plan.to_json(),
        "reporter_id": reporter_id,
        "recurrence_window": timedelta(days=get_settings().recurrence_window_days),
    }


app = FastAPI(lifespan=lifespan)


@app.post("/findings", status_code=201, response_model=FindingOut)
async def create(body: FindingIn) -> FindingOut:
    pool: asyncpg.Pool = app.state.pool
    async with pool.acquire() as conn:
        reported_at: datetime = await conn.fetchval(
            "INSERT INTO bench_yardstick (id, source, category, severity, description, lat, lon,"
            " address, unit, point_type, observed_at) VALUES"
            " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING reported_at",
            body.id,
            body.source,
            body.category,
            body.severity,
            body.description,
            body.location.lat,
            body.location.lon,
            body.location.address,
            body.unit,
            body.point_type,
            body.observed_at,
        )
    return FindingOut(id=body.id, reported_at=reported_at)


# The floor's rows are marked so the bench can take them out again before it times the reads:
# tens of thousands of extra open findings would slow every count of open findings.
FLOOR_POINT_TYPE = "bench-same-sql"


@app.post("/findings/same-sql", status_code=201, response_model=FindingOut)
async def create_same_sql(body: FindingIn) -> FindingOut:
    consts: dict[str, Any] = app.state.same_sql
    category = consts["categories"].get(body.category)
    unit = consts["units"].get(body.unit)
    if category is None or unit is None or consts["reporter_id"] is None:
        raise HTTPException(422, "unknown category or unit")
    (category_id, radius_m), (unit_id, district_id) = category, unit
    now = datetime.now(UTC)
    lat, lon = body.location.lat, body.location.lon
    pool: asyncpg.Pool = app.state.floor_pool
    async with pool.acquire() as conn:
        # duban's caller, read as every request reads it.
        known = await read_caller(conn, consts["reporter_id"])
        if known is None:
            raise HTTPException(401, "no such caller")
        caller = known.principal
        due = now + timedelta(days=1)
        values = {
            "id": body.id, "source": body.source, "category_id": category_id,
            "severity": body.severity, "description": body.description, "lat": lat, "lon": lon,
            "address": body.location.address, "place_unit_id": unit_id,
            "responsible_unit_id": unit_id, "district_id": district_id,
            "point_type": FLOOR_POINT_TYPE, "observed_at": body.observed_at, "reported_at": now,
            "reporter_id": caller.user_id, "status": "assigned", "request_hash": body.id.hex * 2,
            "updated_at": now, "recurrence_of": None, "possible_recurrence_of": None,
            "exposure_video_id": None,
            "video_offset": None, "dispatched_at": now, "due_at": due,
            "escalation_plan": consts["plan"], "next_escalation_at": due,
        }  # fmt: skip
        events = [
            {"actor_id": caller.user_id, "action": "report", "from_status": None,
             "to_status": "reported", "payload": {}, "at": now},
            {"actor_id": None, "action": "dispatch", "from_status": "reported",
             "to_status": "assigned", "payload": {}, "at": now},
        ]  # fmt: skip
        # duban's own arguments for the look-around: the same box, window and scope.
        lookup = (radius_m, *box(lat, lon, radius_m), now - consts["recurrence_window"],
                  caller.city_wide, caller.unit_path, list(RESTART_SOURCES))  # fmt: skip
        finding = {c: values[c] for c in FINDING_COLUMNS}
        row = await conn.fetchrow(
            REPORT_SQL, json.dumps(finding, default=str), json.dumps(events, default=str), *lookup
        )
        if row["outcome"] == "recurrence":
            # Sent again naming its recurrence, as duban's intake does (with another plan).
            finding["recurrence_of"] = row["recurrence_of"]
            row = await conn.fetchrow(
                REPORT_SQL, json.dumps(finding, default=str), json.dumps(events, default=str),
                *lookup,
            )  # fmt: skip
        if row["outcome"] != "created":
            raise HTTPException(409, "id taken")
    return FindingOut(id=body.id, reported_at=now)
