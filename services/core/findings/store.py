"""The intake's statement: one call of the database function `intake_report` (migration
0015) on the driver connection.

The function looks around (is the id taken, the possible duplicates, the recurrence: the
function `intake_look_around` of migrations 0009, 0010, 0013) and writes the finding and its
first events unless the id is taken, in one round trip and one statement, which commits on
its own outside a transaction and joins the one it runs in otherwise. The finding and its
events go as JSON: two parameters that a reader of the migration can follow, in place of
statements generated from the models.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, fields
from datetime import datetime
from typing import Any, Literal

from pydantic_core import to_json

from services.core.findings.spatial import Recurred, box
from services.core.identity.principal import Principal

# ---------------------------------------------------------------- the look-up alone

# A function (migration 0009, last revised in 0013) so that its plan is cached: as a prepared
# statement PostgreSQL re-planned it on every call, and planning cost six times the execution.
# $1-$13 as in 0009, $14 the responsible unit (0013). `intake_report` calls it.
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
    return [
        finding_id,
        category_id,
        lat,
        lon,
        *_nearby(lat, lon, radius_m, closed_since, caller),
        caller.user_id,
        responsible_unit_id,
    ]


def _nearby(
    lat: float, lon: float, radius_m: float, closed_since: datetime, caller: Principal
) -> list[Any]:
    """The arguments both look-arounds take in this order: the radius, its bounding box (so
    the index narrows before the distance is measured), how far back closed findings count,
    and the caller's scope."""
    lat_lo, lat_hi, lon_lo, lon_hi = box(lat, lon, radius_m)
    return [
        float(radius_m),
        lat_lo,
        lat_hi,
        lon_lo,
        lon_hi,
        closed_since,
        caller.city_wide,
        caller.unit_path,
    ]


async def look_around(db: Any, **where: Any) -> Nearby:
    """Whether the id is taken, the possible duplicates and the (possible) recurrence, in one
    round trip (`where`: the keyword arguments of `lookup_args`)."""
    row = await db.fetchrow(LOOK_AROUND_SQL, *lookup_args(**where))
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
    )


# ---------------------------------------------------------------- the report


@dataclass(frozen=True)
class Fresh:
    """A finding as the intake writes it: the columns it sets (the fields without a default,
    FINDING_COLUMNS), then the others as a fresh row holds them. The answer to a report is
    rendered from it, without reading the row back and without building the ORM object."""

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


# The columns the intake sets (`intake_report` inserts these); the others take their defaults.
FINDING_COLUMNS = tuple(f.name for f in fields(Fresh) if f.default is MISSING)
_FRESH_FIELDS = tuple(f.name for f in fields(Fresh))


def _stored(row: Any) -> Fresh:
    """A finding as `intake_report` returns it stored (a row of `findings`)."""
    values = {name: row[name] for name in _FRESH_FIELDS}
    plan = values["escalation_plan"]
    values["escalation_plan"] = json.loads(plan) if isinstance(plan, str) else plan
    return Fresh(**values)


@dataclass(frozen=True)
class NewEvent:
    actor_id: int | None
    action: str
    from_status: str | None
    to_status: str | None
    payload: Mapping[str, Any]
    at: datetime


Outcome = Literal["created", "replayed", "conflict", "recurrence"]


@dataclass(frozen=True)
class Written:
    """What `intake_report` did with a report."""

    # created: written; replayed / conflict: the id was taken (`stored` is the finding under
    # it); recurrence: nothing written, the recurrence found (`restart`) restarts the ladder,
    # so the row is to be built for it and sent again.
    outcome: Outcome
    # Open findings of the category within the radius that the reporter may see, nearest
    # first.
    duplicates: list[uuid.UUID]
    # The links written with a created finding.
    recurrence_of: uuid.UUID | None
    possible_recurrence_of: uuid.UUID | None
    # The findings the answer's finding names that the reporter may not see.
    hidden: frozenset[uuid.UUID]
    stored: Fresh | None = None
    restart: Recurred | None = None


# The function's parameters after the finding and its events.
REPORT_SQL = "SELECT * FROM intake_report($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"


def json_argument(value: Any) -> str:
    """A value as the SQL function's JSON argument reads it."""
    # Ids and times as their ISO text, which PostgreSQL reads back, anything else JSON has no
    # type for as its text; pydantic-core's encoder, about a fifth of the standard library's
    # cost here (bench/ANALYSIS.md §25).
    return to_json(value, fallback=str).decode()


def events_argument(events: Sequence[NewEvent]) -> str:
    """The report's events as the SQL function's JSON argument (empty payload values left out)."""
    return json_argument(
        [
            {
                "actor_id": e.actor_id,
                "action": e.action,
                "from_status": e.from_status,
                "to_status": e.to_status,
                "payload": {k: v for k, v in e.payload.items() if v is not None},
                "at": e.at,
            }
            for e in events
        ]
    )


async def write_report(
    db: Any,
    finding: Fresh,
    events: Sequence[NewEvent],
    *,
    radius_m: float,
    closed_since: datetime,
    caller: Principal,
    restart_sources: Sequence[str],
) -> Written:
    """Store `finding` and `events` unless the id is taken, with the recurrence found
    nearby (migration 0015); `finding` naming a recurrence already is written as it is.
    `caller` is the reporter, whose scope the duplicates and the answer's links take."""
    row = await db.fetchrow(
        REPORT_SQL,
        json_argument({c: getattr(finding, c) for c in FINDING_COLUMNS}),
        events_argument(events),
        *_nearby(finding.lat, finding.lon, radius_m, closed_since, caller),
        list(restart_sources),
    )
    outcome: Outcome = row["outcome"]
    stored = row["stored"]
    restart = (
        Recurred(row["recurrence_of"], row["recurred_source"], row["recurred_policy"])
        if outcome == "recurrence"
        else None
    )
    return Written(
        outcome=outcome,
        duplicates=list(row["duplicates"] or ()),
        recurrence_of=row["recurrence_of"],
        possible_recurrence_of=row["possible_recurrence_of"],
        hidden=frozenset(row["hidden"] or ()),
        stored=_stored(stored) if stored is not None else None,
        restart=restart,
    )
