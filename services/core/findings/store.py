"""The intake's statements, run on the driver connection.

A report used to cost a dozen ORM round trips and ~10 ms of Python (bench/ANALYSIS.md). With
the reference data in memory (services/core/reference/snapshot.py) it needs one statement: the
look-around (is the id taken, what does the place hold nearby: a database function, migration
0009) with the write (the finding and its first events) behind it. The write takes place only
when the look-around finds the id free and no recurrence, possible or not (either changes what
is written, so a second statement writes it), and, for a caller the API process remembers
(services/core/identity/callers.py), only if the caller read in the same statement is still as
remembered. The statements are generated from the models at import and run on the asyncpg
connection: no statement compilation, cache-key or unit-of-work work per request.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg

from services.core.findings.spatial import Recurred, box
from services.core.identity.callers import CALLER_COLUMNS, CallerChangedError, Known, caller_sql
from services.core.identity.principal import Principal
from services.core.models import Event, Finding

_DIALECT = pg_asyncpg.dialect()  # type: ignore[no-untyped-call]


# ---------------------------------------------------------------- the look-up

# A function (migration 0009, last revised in 0013) so that its plan is cached: as a prepared
# statement PostgreSQL re-planned it on every call, and planning cost six times the execution.
# $1-$13 as in 0009, $14 the responsible unit (0013).
_LOOK_AROUND_ARGS = ", ".join(f"${i}" for i in range(1, 15))
LOOK_AROUND_SQL = f"SELECT * FROM intake_look_around({_LOOK_AROUND_ARGS})"  # noqa: S608


@dataclass(frozen=True)
class Nearby:
    # The request hash of a finding already stored under the id, if there is one.
    taken_hash: str | None
    # Open findings of the category within the radius that the caller may see, nearest first.
    duplicates: list[uuid.UUID]
    # The finding its responsible unit rectified within the window that this one is a
    # recurrence of.
    recurred: Recurred | None
    # Else the one another unit rectified there: a recurrence only if a dispatcher says so.
    possible_recurrence: uuid.UUID | None = None
    # Whether the caller may see that earlier finding (recurred or possible).
    earlier_visible: bool = False
    # Whether the finding was written with the look-around (`look_around_and_write`).
    written: bool = False

    @property
    def earlier(self) -> uuid.UUID | None:
        """The earlier finding the new one is (possibly) a recurrence of."""
        return self.recurred.id if self.recurred is not None else self.possible_recurrence


def lookup_args(
    *,
    finding_id: uuid.UUID,
    category_id: int,
    lat: float,
    lon: float,
    radius_m: float,
    closed_since: datetime,
    caller: Principal,
    responsible_unit_id: int | None,
) -> list[Any]:
    """The arguments of `intake_look_around`, in its order. `responsible_unit_id` is the unit
    the new finding is routed to (None: left for the dispatcher): only its own rectified
    findings make a recurrence."""
    lat_lo, lat_hi, lon_lo, lon_hi = box(lat, lon, radius_m)
    return [
        finding_id,
        category_id,
        lat,
        lon,
        float(radius_m),
        lat_lo,
        lat_hi,
        lon_lo,
        lon_hi,
        closed_since,
        caller.city_wide,
        caller.unit_path,
        caller.user_id,
        responsible_unit_id,
    ]


def _nearby(row: Any) -> Nearby:
    recurred = (
        Recurred(row["recurred_id"], row["recurred_source"], row["recurred_policy"])
        if row["recurred_id"] is not None
        else None
    )
    return Nearby(
        row["taken_hash"],
        list(row["duplicates"] or ()),
        recurred,
        row["possible_recurrence"],
        bool(row["earlier_visible"]),
        bool(row.get("written", False)),
    )


async def look_around(db: Any, **where: Any) -> Nearby:
    """Whether the id is taken, the possible duplicates and the (possible) recurrence, in one
    round trip
    (`where`: the keyword arguments of `lookup_args`)."""
    return _nearby(await db.fetchrow(LOOK_AROUND_SQL, *lookup_args(**where)))


# ---------------------------------------------------------------- the write


@dataclass(frozen=True)
class Fresh:
    """A finding as the intake writes it: the columns it sets (the fields without a default,
    FINDING_COLUMNS), then the others as a fresh row holds them. The answer to a report is
    rendered from it, without reading the row back and without building the ORM object,
    which cost ~80 µs of a report's ~1.5–2.5 ms of API CPU."""

    id: uuid.UUID
    source: str
    category_id: int
    severity: str
    description: str
    lat: float
    lon: float
    address: str | None
    place_unit_id: int | None
    responsible_unit_id: int | None
    district_id: int | None
    point_type: str | None
    observed_at: datetime
    reported_at: datetime
    reporter_id: int
    status: str
    request_hash: str
    updated_at: datetime
    recurrence_of: uuid.UUID | None
    possible_recurrence_of: uuid.UUID | None
    exposure_video_id: uuid.UUID | None
    video_offset: str | None
    dispatched_at: datetime | None
    due_at: datetime | None
    escalation_plan: dict[str, Any] | None
    next_escalation_at: datetime | None
    version: int = 1
    rework_count: int = 0
    extension_count: int = 0
    extension_requested_until: datetime | None = None
    close_reason: str | None = None
    submitted_at: datetime | None = None
    closed_at: datetime | None = None
    duplicate_of: uuid.UUID | None = None
    # Generated by the database (migration 0019), never written: the intake computes the same
    # instant for its answer (services.core.escalation.rules `yellow_time`).
    yellow_at: datetime | None = None


# The columns the intake sets; the others take their defaults, as `Fresh` shows them.
FINDING_COLUMNS = tuple(f.name for f in fields(Fresh) if f.default is MISSING)
# The plan goes as JSON text (the statement casts it).
_PLAN_ARG = FINDING_COLUMNS.index("escalation_plan")
_EVENT_FIELDS = (
    ("actor_id", Event.actor_id),
    ("action", Event.action),
    ("from_status", Event.from_status),
    ("to_status", Event.to_status),
    ("payload", Event.payload),
    ("at", Event.at),
)


def _sql_type(column: Any) -> str:
    return str(column.type.compile(dialect=_DIALECT))


def _write_sql(rows: str, first: int) -> str:
    """The write of a finding and its events, its parameters from `$first` on: the finding's
    columns, then its events' columns as parallel arrays. `rows` is where the finding comes
    from (VALUES, or a SELECT of the parameters guarded by the look-around); it names the
    finding's values `{values}`."""
    table = Finding.__table__
    columns = ", ".join(f'"{c}"' for c in FINDING_COLUMNS)
    values = ", ".join(
        f"${i}::{_sql_type(table.c[c])}" for i, c in enumerate(FINDING_COLUMNS, start=first)
    )
    first += len(FINDING_COLUMNS)
    # The payload as text, cast per element. ORDINALITY keeps the events' order, so the
    # report event gets the lower id (the trail is ordered by id).
    arrays = ", ".join(
        f"${first + i}::{'TEXT' if name == 'payload' else _sql_type(col)}[]"
        for i, (name, col) in enumerate(_EVENT_FIELDS)
    )
    names = ", ".join(name for name, _ in _EVENT_FIELDS)
    picks = ", ".join(
        "e.payload::JSONB" if name == "payload" else f"e.{name}" for name, _ in _EVENT_FIELDS
    )
    # Built from the model's column names and types only: no value is ever spliced in.
    return (
        f"f AS (INSERT INTO findings ({columns}) {rows.format(values=values)}"  # noqa: S608
        " ON CONFLICT (id) DO NOTHING RETURNING id),"
        f" trail AS (INSERT INTO events (finding_id, {names})"
        f" SELECT f.id, {picks} FROM f,"
        f" unnest({arrays}) WITH ORDINALITY AS e({names}, ord)"
        " ORDER BY e.ord)"
    )


# A data-modifying WITH runs once and to the end whether or not the query reads it.
INSERT_SQL = (
    f"WITH {_write_sql('VALUES ({values})', 1)}"  # noqa: S608 - built from the model only
    " SELECT EXISTS (SELECT FROM f) AS written"
)
_LOOKUP_PARAMETERS = LOOK_AROUND_SQL.count("$")
_WRITE_PARAMETERS = len(FINDING_COLUMNS) + len(_EVENT_FIELDS)


def _look_and_write_sql(*, confirm: bool) -> str:
    """The look-around, then the write unless it found the id taken or a (possible)
    recurrence. With
    `confirm`, the caller is read too (parameters after the write's: CALLER_COLUMNS as the
    caller is believed to be), and the write also waits for them to be exactly that."""
    tables = "look"
    conditions = [
        "look.taken_hash IS NULL",
        "look.recurred_id IS NULL",
        "look.possible_recurrence IS NULL",
    ]
    before, confirmed = "", ""
    if confirm:
        first = _LOOKUP_PARAMETERS + _WRITE_PARAMETERS + 1
        believed = ", ".join(f"${first + i}" for i in range(len(CALLER_COLUMNS)))
        actual = ", ".join(f"who.{c}" for c in CALLER_COLUMNS)
        same = f"({actual}) IS NOT DISTINCT FROM ({believed})"
        # The user id is the first of the caller believed.
        who = caller_sql(f"${first}")
        before = f"who ({', '.join(CALLER_COLUMNS)}) AS MATERIALIZED ({who}), "
        tables = "look, who"
        confirmed = f", (SELECT {same} FROM who) AS confirmed"  # noqa: S608 - constants only
        conditions.append(same)
    rows = f"SELECT {{values}} FROM {tables} WHERE {' AND '.join(conditions)}"  # noqa: S608
    # MATERIALIZED: the function runs once, and the write reads the same row the caller gets.
    return (
        f"WITH {before}look AS MATERIALIZED ({LOOK_AROUND_SQL}),"  # noqa: S608 - from the models
        f" {_write_sql(rows, _LOOKUP_PARAMETERS + 1)}"
        f" SELECT look.*{confirmed}, EXISTS (SELECT FROM f) AS written FROM look"
    )


LOOK_AND_WRITE_SQL = _look_and_write_sql(confirm=False)
CONFIRMED_LOOK_AND_WRITE_SQL = _look_and_write_sql(confirm=True)


@dataclass(frozen=True)
class NewEvent:
    actor_id: int | None
    action: str
    from_status: str | None
    to_status: str | None
    payload: Mapping[str, Any]
    at: datetime


def _payload(payload: Mapping[str, Any]) -> str:
    return json.dumps(
        {k: v for k, v in payload.items() if v is not None}, default=str, ensure_ascii=False
    )


def _write_args(finding: Fresh, events: Sequence[NewEvent]) -> list[Any]:
    row_args = [getattr(finding, c) for c in FINDING_COLUMNS]
    if finding.escalation_plan is not None:
        row_args[_PLAN_ARG] = json.dumps(finding.escalation_plan)
    event_args = [
        [_payload(e.payload) if name == "payload" else getattr(e, name) for e in events]
        for name, _ in _EVENT_FIELDS
    ]
    return [*row_args, *event_args]


async def insert_finding(db: Any, finding: Fresh, events: Sequence[NewEvent]) -> bool:
    """Store the finding with its events; False if its id was taken meanwhile (ON CONFLICT:
    a racing copy waits for the winner's commit and then inserts nothing)."""
    return bool(await db.fetchval(INSERT_SQL, *_write_args(finding, events)))


async def look_around_and_write(
    db: Any,
    finding: Fresh,
    events: Sequence[NewEvent],
    *,
    confirm: Known | None = None,
    **where: Any,
) -> Nearby:
    """`look_around`, and in the same statement the write of `finding` and `events` unless the
    id is taken or the finding is a recurrence, possible or not (`written` says whether it
    took place; it does not when a racing copy of the report took the id meanwhile either).
    With `confirm`, only if the caller is still exactly that: CallerChangedError if not,
    nothing written."""
    args = [*lookup_args(**where), *_write_args(finding, events)]
    if confirm is None:
        return _nearby(await db.fetchrow(LOOK_AND_WRITE_SQL, *args))
    row = await db.fetchrow(CONFIRMED_LOOK_AND_WRITE_SQL, *args, *confirm.row())
    if not row["confirmed"]:
        raise CallerChangedError
    return _nearby(row)
