"""The yardstick: the least a FastAPI + asyncpg service must do to store a finding.

One POST that validates a body like duban's and inserts one row (with a primary key and two
secondary indexes, as a comparable table would have) in its own transaction, then answers
201 with JSON. No auth, no routing, no audit: the ratio duban / yardstick is what those cost.

    BENCH_DATABASE_URL=postgresql://... uvicorn bench.yardstick:app
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg
from fastapi import FastAPI
from pydantic import AwareDatetime, BaseModel, Field

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
    pool = await asyncpg.create_pool(os.environ["BENCH_DATABASE_URL"], min_size=4, max_size=10)
    async with pool.acquire() as conn:
        await conn.execute(TABLE)
    app.state.pool = pool
    yield
    await pool.close()


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
