"""The relational schema. Changed only together with an Alembic revision."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal, get_args

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The vocabularies the API's documents enumerate are Literal types; the tuples feed the CHECKs.
UnitKind = Literal[
    "city",
    "district",
    "street",
    "community",
    "department",
    "campaign_office",
    "discipline_commission",
]
UNIT_KINDS: tuple[str, ...] = get_args(UnitKind)
PostRole = Literal["head", "deputy", "handler", "city_leader", "verifier"]
POST_ROLES: tuple[str, ...] = get_args(PostRole)
USER_ROLES = (
    "inspector",
    "dispatcher",
    "unit_handler",
    "verifier",
    "leader",
    "supervisor",
    "admin",
    # The discipline commission (纪委监委): reads the accountability ledger, records 问责
    # actions and takes evidence packs.
    "discipline",
)
SOURCES = ("inspection", "exposure_video", "self_assessment", "public_report", "leader_assigned")
SEVERITIES = ("normal", "urgent")


class Status(StrEnum):
    REPORTED = "reported"
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    SUBMITTED = "submitted"
    # 挂账: the campaign office approved stopping the clock and the ladder until a date.
    SUSPENDED = "suspended"
    CLOSED = "closed"


STATUSES = tuple(Status)
OPEN = frozenset(
    {Status.REPORTED, Status.ASSIGNED, Status.ACCEPTED, Status.SUBMITTED, Status.SUSPENDED}
)
# The rectification clock runs only while the unit holds the item.
CLOCK_RUNNING = frozenset({Status.ASSIGNED, Status.ACCEPTED})
CLOSE_REASONS = ("rectified", "invalid", "duplicate")
CategoryKind = Literal["facility", "event"]
CATEGORY_KINDS: tuple[str, ...] = get_args(CategoryKind)
ClockKind = Literal["working_days", "continuous"]
CLOCKS: tuple[str, ...] = get_args(ClockKind)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _now() -> Any:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


def _change_xid() -> Any:
    """The transaction that last wrote the row (`pg_current_xact_id()`), set with `changed_at`
    by a trigger on every insert and update (migration 0026): what a phone's sync compares
    with the snapshot of its previous sync (services/core/sync)."""
    return mapped_column(BigInteger, nullable=False, server_default=text("0"))


class Unit(Base):
    __tablename__ = "units"
    __table_args__ = (
        CheckConstraint(_in("kind", UNIT_KINDS), name="kind"),
        Index("ix_units_path", "path", postgresql_ops={"path": "text_pattern_ops"}),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    # Materialised ancestry "/1/4/17/" so a subtree is one indexed prefix match.
    path: Mapped[str] = mapped_column(String(400))
    lat: Mapped[float | None] = mapped_column(Double)
    lon: Mapped[float | None] = mapped_column(Double)
    # Where this unit's notifications are POSTed (in addition to the in-app inbox).
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = _now()


class UnitBoundary(Base):
    """A unit's area as a GeoJSON Polygon or MultiPolygon (WGS84 lon/lat): a report that
    names no unit is placed in the deepest unit whose area holds it. Kept beside the units,
    so that the many reads of units never carry the polygons; the reference snapshot indexes
    them (services/core/reference/places.py), and migration 0016 bumps the config revision
    on every write, as for the units."""

    __tablename__ = "unit_boundaries"

    unit_id: Mapped[int] = mapped_column(
        ForeignKey("units.id", ondelete="CASCADE"), primary_key=True
    )
    geometry: Mapped[dict[str, Any]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = _now()


class Person(Base):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The office's own identifier of the person, by which an import finds them again (NULL
    # for people created through the API without one).
    code: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(200))
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = _now()


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = (
        CheckConstraint(_in("role", POST_ROLES), name="role"),
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="validity"),
        Index("ix_posts_unit_role", "unit_id", "role"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    role: Mapped[str] = mapped_column(String(32))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PostChange(Base):
    """Every state a post row has had, written by a trigger on `posts` (migration 0028) after
    each insert, update and delete: appointing, ending a tenure, or an edit of the holder in
    place all leave the earlier holder on record. Append-only."""

    __tablename__ = "post_changes"
    __table_args__ = (Index("ix_post_changes_unit_role", "unit_id", "role", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # No foreign keys: the history outlives a deleted post.
    post_id: Mapped[int] = mapped_column(Integer)
    unit_id: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(32))
    person_id: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    change: Mapped[str] = mapped_column(String(8))  # insert | update | delete
    at: Mapped[datetime] = _now()


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", USER_ROLES), name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    # The user's scope: this unit and its subtree.
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    # Carried by every access token issued to the user and compared on every request: one
    # more than the tokens' ends them all (logout; a trigger bumps it on a password change
    # or deactivation, and revokes the user's API tokens then too: migration 0014).
    token_version: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    created_at: Mapped[datetime] = _now()


class AdminEvent(Base):
    """Append-only record of administrative changes (users, tokens, the organisation and the
    catalogue imported, `duban init`): who made them, how, and what changed. A trigger refuses
    UPDATE and DELETE, as on `events`."""

    __tablename__ = "admin_events"
    __table_args__ = (Index("ix_admin_events_at", "at", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # The duban user who made the change through the API; NULL on the command line.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Who made it, as shown: "api:<username>" or "cli:<os user>@<host>".
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    at: Mapped[datetime] = _now()


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # sha256 of the secret; the secret itself is shown once and never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = _now()
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Category(Base):
    __tablename__ = "categories"
    __table_args__ = (
        CheckConstraint(_in("kind", CATEGORY_KINDS), name="kind"),
        CheckConstraint(_in("clock", CLOCKS), name="clock"),
        CheckConstraint("duplicate_radius_m > 0", name="radius"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    group: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    clock: Mapped[str] = mapped_column(String(16))
    # {"working_days": N} or {"duration": "PT2H"}
    time_limit: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # The limit of an urgent finding (severity urgent), e.g. {"duration": "PT4H"}; None: the
    # normal limit applies.
    urgent_time_limit: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # 签收时限: how long a unit has to accept an assigned finding, {"working_hours": N} (office
    # hours of working days) or {"duration": "PT2H"}; None: no sign-for deadline.
    accept_within: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    duplicate_radius_m: Mapped[int] = mapped_column(Integer, server_default=text("30"))
    policy_code: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))


class RoutingRule(Base):
    __tablename__ = "routing_rules"
    __table_args__ = (
        CheckConstraint('(category_id IS NULL) <> ("group" IS NULL)', name="category_xor_group"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    group: Mapped[str | None] = mapped_column(String(64))
    area_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    # NULL: territorial — the unit of the place itself is responsible.
    responsible_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))


class Finding(Base):
    __tablename__ = "findings"
    # The generated yellow_at comes back with every INSERT and UPDATE (RETURNING) rather than
    # being expired: an async session cannot load an expired attribute lazily.
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012 - SQLAlchemy's own convention
    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint(_in("source", SOURCES), name="source"),
        CheckConstraint(_in("severity", SEVERITIES), name="severity"),
        CheckConstraint(
            "(status = 'closed') = (close_reason IS NOT NULL)", name="closed_has_reason"
        ),
        CheckConstraint("lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180", name="latlon"),
        Index("ix_findings_responsible_status", "responsible_unit_id", "status"),
        Index("ix_findings_district_reported", "district_id", "reported_at", "id"),
        Index("ix_findings_reported", "reported_at", "id"),
        Index(
            "ix_findings_next_escalation",
            "next_escalation_at",
            postgresql_where=text("next_escalation_at IS NOT NULL"),
        ),
        Index("ix_findings_place_unit", "place_unit_id"),
        # Spatial look-ups without PostGIS: a latitude band is selective enough at a city's
        # scale that a btree range on (lat, lon) beats a scan. The intake's look-around
        # (services/core/findings/spatial.py) ranges per category over the rows each half
        # wants: open ones for possible duplicates, rectified ones for recurrences; both cover
        # what the half filters on, so the box is read from the index alone.
        Index("ix_findings_lat_lon", "lat", "lon"),
        Index(
            "ix_findings_open_near",
            "category_id",
            "lat",
            "lon",
            postgresql_include=["id", "responsible_unit_id", "place_unit_id", "reporter_id"],
            postgresql_where=text("status <> 'closed'"),
        ),
        Index(
            "ix_findings_rectified_near",
            "category_id",
            "lat",
            "lon",
            postgresql_include=["closed_at", "id", "responsible_unit_id"],
            postgresql_where=text("close_reason = 'rectified'"),
        ),
        # The few findings whose recurrence a dispatcher has to decide, newest first.
        Index(
            "ix_findings_possible_recurrence",
            "reported_at",
            "id",
            postgresql_where=text("possible_recurrence_of IS NOT NULL"),
        ),
        # Open findings only: the unit statistics' overdue count (the rest is counted in
        # closed_finding_days and open_finding_days), the partial days of a window, and the
        # map's most-overdue-first order.
        Index(
            "ix_findings_open",
            "due_at",
            "id",
            postgresql_include=[
                "reported_at",
                "responsible_unit_id",
                "source",
                "status",
                "rework_count",
                "recurrence_of",
            ],
            postgresql_where=text("status <> 'closed'"),
        ),
        # The findings whose clock runs, by the instant their light turns yellow: the range
        # `yellow_at <= now` is every yellow and red one (a red one turned yellow first),
        # split by due_at in one index-only pass for the unit statistics (migration 0019).
        Index(
            "ix_findings_light",
            "yellow_at",
            postgresql_include=["due_at", "responsible_unit_id", "source", "reported_at"],
            postgresql_where=text("status IN ('assigned', 'accepted')"),
        ),
        # A phone's sync: the rows written since the snapshot of its previous sync.
        Index("ix_findings_change", "change_xid", "id"),
        # Exposure-video segments are few: their progress per district without a scan.
        Index(
            "ix_findings_exposure",
            "district_id",
            postgresql_include=["close_reason"],
            postgresql_where=text("source = 'exposure_video'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"))
    severity: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text)
    lat: Mapped[float] = mapped_column(Double)
    lon: Mapped[float] = mapped_column(Double)
    address: Mapped[str | None] = mapped_column(String(500))
    place_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    responsible_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    # The district of the responsible unit (or of the place), for the supervision queries.
    district_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    point_type: Mapped[str | None] = mapped_column(String(64))
    observed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reporter_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    close_reason: Mapped[str | None] = mapped_column(String(16))
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    escalation_plan: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    next_escalation_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the traffic light turns yellow: the plan's reminder fraction (80 % without one) of
    # the time from dispatch to due. Generated by the database from the columns it depends
    # on, so no writer can leave it stale (migration 0019; services.core.escalation.rules
    # `yellow_time` is its twin in Python).
    yellow_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True),
        Computed("finding_yellow_at(dispatched_at, due_at, escalation_plan)", persisted=True),
    )
    # The pre-due reminder to the unit's handlers has gone out.
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The sign-for deadline (签收时限) passed: the handlers were reminded, then the head told.
    accept_reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    accept_escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rework_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # A pending extension request: the due_at the unit asked for.
    extension_requested_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    extension_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # A pending return request (回退): when the unit asked; the dispatcher approves or denies.
    return_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    recurrence_of: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("findings.id"))
    # A finding rectified nearby that was another unit's (or the finding had no unit yet): a
    # recurrence only if a dispatcher confirms it (README "Duplicates and recurrences").
    possible_recurrence_of: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("findings.id"))
    duplicate_of: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("findings.id"))
    exposure_video_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("exposure_videos.id"), index=True
    )
    video_offset: Mapped[str | None] = mapped_column(String(16))
    # sha256 of the canonical create body: a replay must match it exactly.
    request_hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    updated_at: Mapped[datetime] = _now()
    change_xid: Mapped[int] = _change_xid()
    changed_at: Mapped[datetime] = _now()


class FindingCoUnit(Base):
    """A co-handling unit (协办) of a finding: it sees the finding and may add progress; the
    responsible unit (主办) alone accepts, submits and asks for time. Set by the dispatcher
    on dispatch and transfer (migration 0025)."""

    __tablename__ = "finding_co_units"
    __table_args__ = (Index("ix_finding_co_units_unit", "unit_id", "finding_id"),)

    finding_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("findings.id"), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)
    added_at: Mapped[datetime] = _now()


HANDOFF_KINDS = ("transfer", "return")


class UnitHandoff(Base):
    """A finding passed on, counted against the unit that caused it (推诿 made visible): a
    transfer (转办) against the unit it was taken from, an approved return (回退) against the
    unit that returned it. Written with the transition's event (migration 0025)."""

    __tablename__ = "unit_handoffs"
    __table_args__ = (
        CheckConstraint(_in("kind", HANDOFF_KINDS), name="kind"),
        Index("ix_unit_handoffs_at", "at", postgresql_include=["unit_id", "kind"]),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    finding_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("findings.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    kind: Mapped[str] = mapped_column(String(16))
    to_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Event(Base):
    """Append-only audit trail; a trigger refuses UPDATE and DELETE."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_finding", "finding_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    finding_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("findings.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    at: Mapped[datetime] = _now()


class ClosedFindingDay(Base):
    """Closed findings counted per day (at UTC+8), responsible unit (0: none), exposure flag
    and close reason. Kept by triggers on findings (migration 0008) in the transaction that
    closes, inserts or deletes a closed finding, so it always equals the rows; a closed
    finding never changes again, so reports and the sweep never touch it."""

    __tablename__ = "closed_finding_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    responsible_unit_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exposure: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    close_reason: Mapped[str] = mapped_column(String(16), primary_key=True)
    findings: Mapped[int] = mapped_column(Integer)
    on_time: Mapped[int] = mapped_column(Integer)
    rework: Mapped[int] = mapped_column(Integer)
    recurrences: Mapped[int] = mapped_column(Integer)


class EscalationDay(Base):
    """Escalations counted per day fired (at UTC+8), responsible unit, level and exposure
    flag, in 16 stripes to be added up: each writing transaction claims one of its own, so
    two sweep workers never wait on each other's rows. Kept by triggers on escalations
    (migration 0011) in the transaction that writes them, so it always equals the rows;
    escalations without a responsible unit are not counted."""

    __tablename__ = "escalation_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    responsible_unit_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    level: Mapped[int] = mapped_column(Integer, primary_key=True)
    exposure: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    stripe: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    escalations: Mapped[int] = mapped_column(Integer)


class OpenFindingDay(Base):
    """Open findings counted per day reported (at UTC+8), responsible unit (0: none) and
    exposure flag, as folded in from `open_finding_changes` by the worker (migration 0012).
    The two tables added up always equal the rows."""

    __tablename__ = "open_finding_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    responsible_unit_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exposure: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    findings: Mapped[int] = mapped_column(Integer)
    rework: Mapped[int] = mapped_column(Integer)
    recurrences: Mapped[int] = mapped_column(Integer)


class OpenFindingChange(Base):
    """A change to the open findings' counts (+1 or −1 per finding), appended by a trigger on
    findings in the transaction that makes it, so that no report waits on another's row;
    the worker folds them into `open_finding_days` (migration 0012)."""

    __tablename__ = "open_finding_changes"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    responsible_unit_id: Mapped[int] = mapped_column(Integer)
    exposure: Mapped[bool] = mapped_column(Boolean)
    findings: Mapped[int] = mapped_column(Integer)
    rework: Mapped[int] = mapped_column(Integer)
    recurrences: Mapped[int] = mapped_column(Integer)


class ConfigRevision(Base):
    """One counter, bumped by a trigger on every write to the reference tables (units,
    categories, routing rules, escalation policies, calendar overrides; migration 0007): a
    process may keep those in memory exactly as long as the counter has not moved."""

    __tablename__ = "config_revision"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger)


class CalendarOverride(Base):
    """A local exception to the official calendar: a day made a working day or a day off."""

    __tablename__ = "calendar_overrides"
    __table_args__ = (CheckConstraint("kind IN ('workday', 'holiday')", name="kind"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = _now()


ESCALATION_TARGETS = ("unit_head", "district_head", "city_leader", "discipline_commission")
# pending: waiting for its time (held to working hours, or a retry); sent: the provider took
# it; failed: this channel gave up; standby: a later channel of a recipient's fallback order,
# used only if the earlier ones fail; skipped: not needed, an earlier channel reached them;
# digested: carried by a digest message (digest_id) that is not sent yet; in_doubt: a worker
# died while sending it, so it may have arrived: never sent again on this channel.
NOTIFICATION_STATUSES = (
    "pending",
    "sent",
    "failed",
    "standby",
    "skipped",
    "digested",
    "in_doubt",
)
# Channels a person or a unit is reached on beside the in-app inbox (contact points).
CONTACT_KINDS = ("dingtalk", "wecom", "email", "sms", "webhook")
CHANNELS = ("inbox", "webhook", "dingtalk", "wecom", "email", "sms")
NOTIFICATION_KINDS = (
    "escalation",
    "reminder",
    "digest",
    "undelivered",
    "task_reminder",
    "task_escalation",
    "commitment",
    # An assigned finding not signed for in time (签收时限), and a suspension about to end.
    "sign_for",
    "suspension",
)
# Why a unit asks to suspend (挂账) a finding.
SuspensionReason = Literal[
    "funding", "planning_approval", "seasonal", "legal_process", "relocation", "other"
]
SUSPENSION_REASONS: tuple[str, ...] = get_args(SuspensionReason)
# requested: waiting for the campaign office; refused; active: the finding is suspended;
# ended: resumed (by hand, or at the expected date by the worker); lapsed: the request was
# still waiting when the finding left the unit's hands (returned, submitted, closed).
SUSPENSION_STATES = ("requested", "refused", "lapsed", "active", "ended")


class EscalationPolicy(Base):
    __tablename__ = "escalation_policies"
    __table_args__ = (
        CheckConstraint(
            "reminder_at IS NULL OR (reminder_at > 0 AND reminder_at < 1)", name="reminder_at"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    reminder_at: Mapped[float | None] = mapped_column(Double)
    # [{"level": 1, "target": "unit_head", "after": {"working_days": 0}, "channels": [...]}]
    levels: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class FiredLevel:
    """A level of a ladder fired once: which, when it was due and when it fired, why, and
    whom it addressed. A finding's escalations and a commitment's share these columns."""

    level: Mapped[int] = mapped_column(Integer)
    target: Mapped[str] = mapped_column(String(32))
    fired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # When the level was due (fired_at - due_for is the firing lag).
    due_for: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(String(32))
    # Snapshot of the person addressed, as they were when it fired: office holders change.
    target_person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    target_name: Mapped[str | None] = mapped_column(String(100))
    target_title: Mapped[str | None] = mapped_column(String(200))
    target_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    target_unit_name: Mapped[str] = mapped_column(String(200))


class Escalation(FiredLevel, Base):
    """A formal supervision notice (督办) to a leader; one per finding and level, ever."""

    __tablename__ = "escalations"
    __table_args__ = (
        UniqueConstraint("finding_id", "level", name="uq_escalations_finding_level"),
        CheckConstraint(_in("target", ESCALATION_TARGETS), name="target"),
        CheckConstraint("reason IN ('overdue', 'vacant_post')", name="reason"),
        Index("ix_escalations_fired", "fired_at", "id"),
        Index("ix_escalations_district_fired", "district_id", "fired_at", "id"),
        Index("ix_escalations_target_person_fired", "target_person_id", "fired_at", "id"),
        Index("ix_escalations_unit_fired", "responsible_unit_id", "fired_at", "id"),
        # Escalations by unit, level and source for the statistics, index-only.
        Index(
            "ix_escalations_stats",
            "fired_at",
            postgresql_include=["responsible_unit_id", "level", "source"],
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    finding_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("findings.id"))
    # Denormalised from the finding for the supervision queries.
    responsible_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    district_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    source: Mapped[str] = mapped_column(String(32))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    instruction: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Notification(Base):
    """The outbox: one row per recipient and channel; delivery is at least once, keyed by id."""

    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint(_in("status", NOTIFICATION_STATUSES), name="status"),
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        CheckConstraint(_in("kind", NOTIFICATION_KINDS), name="kind"),
        Index("ix_notifications_person_created", "recipient_person_id", "id"),
        # Supervisors list failed (or pending) deliveries, newest first.
        Index("ix_notifications_status_id", "status", "id"),
        # Every pending row is the worker's: inbox rows too while held to working hours.
        Index(
            "ix_notifications_pending",
            "next_attempt_at",
            "id",
            postgresql_where=text("status = 'pending'"),
        ),
        # A destination's queue: what else is due for the same robot, mailbox or phone.
        Index(
            "ix_notifications_point_pending",
            "contact_point_id",
            "id",
            postgresql_where=text("status = 'pending' AND contact_point_id IS NOT NULL"),
        ),
        # A recipient's fallback order, and the rows a digest carries.
        Index(
            "ix_notifications_chain", "chain", "rank", postgresql_where=text("chain IS NOT NULL")
        ),
        Index(
            "ix_notifications_digest", "digest_id", postgresql_where=text("digest_id IS NOT NULL")
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # Makes writing the same notification twice impossible (kind:finding:level:recipient:channel).
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    escalation_id: Mapped[int | None] = mapped_column(ForeignKey("escalations.id"), index=True)
    # None for a digest and an office notice, which speak of many findings, and for an
    # overdue inspection task's notices, which name the task instead.
    finding_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("findings.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(BigInteger)
    # An overdue commitment's notices name the commitment instead of a finding.
    commitment_id: Mapped[int | None] = mapped_column(ForeignKey("commitments.id"), index=True)
    recipient_person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    recipient_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str | None] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(300))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(String(500))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Retries stop once the first attempt is older than the retry horizon; an admin's retry
    # clears it, so the horizon starts again.
    first_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    # The contact point (robot, mailbox, phone, webhook) this row goes to; None: the inbox or
    # a person's or unit's webhook_url.
    contact_point_id: Mapped[int | None] = mapped_column(ForeignKey("contact_points.id"))
    # One recipient's rows of one message, tried in `rank` order (the fallback order).
    chain: Mapped[str | None] = mapped_column(String(200))
    rank: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    # The escalation level, for digests (one per destination and level).
    level: Mapped[int | None] = mapped_column(SmallInteger)
    # The provider said it reached the recipient (where it tells), and its message id.
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    provider_ref: Mapped[str | None] = mapped_column(String(200))
    # The signed link in the message: first opened, and used to acknowledge (once).
    opened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    link_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The digest message that carried this row.
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id"))


class ContactPoint(Base):
    """Where a person or a unit (its work group) is reached besides the in-app inbox, tried in
    `position` order. Credentials (a robot's webhook URL with its token, its signing secret, a
    webhook's URL) are sealed with the installation's channel key (services/core/notify/
    secrets.py); `target` is what people may read: a mailbox, a phone number or the robot's
    host."""

    __tablename__ = "contact_points"
    __table_args__ = (
        CheckConstraint(_in("kind", CONTACT_KINDS), name="kind"),
        CheckConstraint("(person_id IS NULL) <> (unit_id IS NULL)", name="owner"),
        Index("ix_contact_points_person", "person_id", "position"),
        Index("ix_contact_points_unit", "unit_id", "position"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(300))
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    position: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = _now()


class NotificationAttempt(Base):
    """One try at sending a notification: written (and committed) before the provider is
    called, finished with its answer after. One left unfinished means its worker died while
    sending: the message may have arrived (in doubt). No foreign key: it is written on a
    connection of its own while the notification row is locked by the sending transaction."""

    __tablename__ = "notification_attempts"
    __table_args__ = (
        Index("ix_notification_attempts_notification", "notification_id", "id"),
        # Rate limits: attempts to one destination in the last window.
        Index(
            "ix_notification_attempts_point",
            "contact_point_id",
            "started_at",
            postgresql_where=text("contact_point_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    notification_id: Mapped[int] = mapped_column(BigInteger)
    contact_point_id: Mapped[int | None] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # sent | retry | failed | in_doubt
    outcome: Mapped[str | None] = mapped_column(String(16))
    # The provider's own code (errcode, SMTP reply code, SMS Code, HTTP status) and words.
    provider_code: Mapped[str | None] = mapped_column(String(64))
    answer: Mapped[str | None] = mapped_column(String(500))


EVIDENCE_KINDS = ("before", "after")


class ExposureVideo(Base):
    """An exposure video (曝光片); each segment that exposes a problem is a finding."""

    __tablename__ = "exposure_videos"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    publisher: Mapped[str | None] = mapped_column(String(200))
    aired_on: Mapped[date] = mapped_column(Date)
    url: Mapped[str | None] = mapped_column(String(1000))
    # {"working_days": N}: the batch deadline of every segment, counted from registration.
    rectify_within: Mapped[dict[str, Any]] = mapped_column(JSONB)
    policy_code: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # sha256 of the canonical create body, for idempotent replays like findings.
    request_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = _now()


class Evidence(Base):
    """A photo attached to a finding: before (the problem) or after (the rectification)."""

    __tablename__ = "evidence"
    __table_args__ = (
        CheckConstraint(_in("kind", EVIDENCE_KINDS), name="kind"),
        Index("ix_evidence_sha256", "sha256"),
        Index("ix_evidence_finding", "finding_id", "kind"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    finding_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("findings.id"))
    kind: Mapped[str] = mapped_column(String(16))
    # sha256 of the original bytes as uploaded: re-used photos are recognised by it.
    sha256: Mapped[str] = mapped_column(String(64))
    object_key: Mapped[str] = mapped_column(String(300))
    media_type: Mapped[str] = mapped_column(String(32))
    bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    taken_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    gps_lat: Mapped[float | None] = mapped_column(Double)
    gps_lon: Mapped[float | None] = mapped_column(Double)
    # Checks against the finding: early (taken before dispatch), far, unverified_metadata.
    flags: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = _now()


ATTACHMENT_KINDS = ("photo", "file")


class Attachment(Base):
    """A photo or a file (PDF, Word, Excel) carried by one step of a finding: a transition or
    a reply to a 批示. Uploaded first (pending: `event_id` NULL, usable only by its uploader),
    then named by the step, whose event records it; stored like evidence."""

    __tablename__ = "attachments"
    __table_args__ = (
        CheckConstraint(_in("kind", ATTACHMENT_KINDS), name="kind"),
        Index("ix_attachments_finding", "finding_id", "uploaded_by_id"),
        Index("ix_attachments_event", "event_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    finding_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("findings.id"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"))
    kind: Mapped[str] = mapped_column(String(8))
    # The uploader's file name, cleaned, with the extension its content has.
    name: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    object_key: Mapped[str] = mapped_column(String(300))
    media_type: Mapped[str] = mapped_column(String(100))
    bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = _now()


class WeeklyBriefing(Base):
    """The stored edition of a week's briefing (通报): one per ISO week, replaced when
    regenerated. The payload is the briefing as rendered (services.core.stats.briefing.Briefing)."""

    __tablename__ = "weekly_briefings"

    week: Mapped[str] = mapped_column(String(8), primary_key=True)  # e.g. 2026-W48
    generated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)


# ---- campaign instruments: evaluation points, criteria, plans, inspections (DESIGN §10) ----

CRITERION_METHODS = ("field", "questionnaire", "records")
PLAN_KINDS = ("routine", "survey")
FREQUENCIES = ("weekly", "monthly", "once")
INSPECTION_OUTCOMES = ("pass", "fail", "na")
ASSESSMENT_STATUSES = ("draft", "submitted", "approved", "returned")


class PointType(Base):
    """The configurable catalogue of evaluation point types (farmers_market, back_alley, …)."""

    __tablename__ = "point_types"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))


class EvaluationPoint(Base):
    """An evaluation point (测评点位): a place the campaign's visitors check. The district and
    street of its place are denormalised so scoping and coverage are one indexed column each;
    `last_inspected_at` is kept by the inspection's own statement so the blind-spot list is an
    index range, not an aggregate over millions of inspections."""

    __tablename__ = "evaluation_points"
    __table_args__ = (
        CheckConstraint("lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180", name="latlon"),
        Index("ix_evaluation_points_district_type", "district_id", "point_type_id", "code"),
        Index("ix_evaluation_points_blind", "district_id", "last_inspected_at", "id"),
        Index("ix_evaluation_points_blind_all", "last_inspected_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    point_type_id: Mapped[int] = mapped_column(ForeignKey("point_types.id"))
    lat: Mapped[float] = mapped_column(Double)
    lon: Mapped[float] = mapped_column(Double)
    # Optional outline: a GeoJSON Polygon (WGS84 lon/lat).
    outline: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    place_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    responsible_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    district_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    street_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    address: Mapped[str | None] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    last_inspected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class CriteriaSet(Base):
    """One version of the evaluation criteria (测评标准), e.g. a campaign year's: results keep
    the set they were made under, so a new version never rewrites old scores."""

    __tablename__ = "criteria_sets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = _now()


class Criterion(Base):
    """An indicator of a criteria set: a tree by `parent_id`; the leaves carry check items."""

    __tablename__ = "criteria"
    __table_args__ = (
        UniqueConstraint("set_id", "code", name="uq_criteria_set_code"),
        CheckConstraint(_in("method", CRITERION_METHODS), name="method"),
        CheckConstraint("full_score >= 0", name="full_score"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    set_id: Mapped[int] = mapped_column(ForeignKey("criteria_sets.id"))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(300))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("criteria.id"))
    full_score: Mapped[float] = mapped_column(Double)
    # Point type codes it applies to; empty: every type (or the district as a whole).
    point_types: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    check_items: Mapped[str | None] = mapped_column(Text)
    method: Mapped[str] = mapped_column(String(16))
    # The finding category a failed item is reported under.
    category_code: Mapped[str | None] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer, server_default=text("0"))


class InspectionPlan(Base):
    """An inspection plan (巡查计划) or a one-off survey round (摸底排查): which points, how
    often per point type, who, over which days. It generates inspection tasks."""

    __tablename__ = "inspection_plans"
    __table_args__ = (
        CheckConstraint(_in("kind", PLAN_KINDS), name="kind"),
        CheckConstraint("ends_on >= starts_on", name="period"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    criteria_set_id: Mapped[int] = mapped_column(ForeignKey("criteria_sets.id"))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    # Unit codes whose subtrees are in scope (empty: the whole city).
    units: Mapped[list[str]] = mapped_column(JSONB)
    # {"farmers_market": "weekly", "back_alley": "monthly"}: the types in scope and how often.
    frequencies: Mapped[dict[str, str]] = mapped_column(JSONB)
    # Usernames of the inspectors the tasks go to, in turn.
    assignees: Mapped[list[str]] = mapped_column(JSONB)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = _now()


class InspectionTask(Base):
    """One point to inspect in one window (opens at the start of its first working day, due
    at the end of its last). Done once an inspection of the point is recorded in it."""

    __tablename__ = "inspection_tasks"
    __table_args__ = (
        UniqueConstraint("plan_id", "point_id", "opens_at", name="uq_inspection_tasks_window"),
        Index(
            "ix_inspection_tasks_due",
            "due_at",
            postgresql_include=["district_id", "street_id", "point_type_id", "done_at", "point_id"],
        ),
        Index("ix_inspection_tasks_point", "point_id", "opens_at"),
        Index(
            "ix_inspection_tasks_overdue",
            "due_at",
            postgresql_where=text("done_at IS NULL AND escalated_at IS NULL"),
        ),
        Index("ix_inspection_tasks_assignee", "assignee_id", "due_at"),
        Index("ix_inspection_tasks_change", "change_xid", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("inspection_plans.id"))
    point_id: Mapped[int] = mapped_column(ForeignKey("evaluation_points.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    opens_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Denormalised from the point for the coverage figures (index-only per period).
    district_id: Mapped[int | None] = mapped_column(Integer)
    street_id: Mapped[int | None] = mapped_column(Integer)
    point_type_id: Mapped[int] = mapped_column(Integer)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    inspection_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set when reminded: the end of the working day the team's head is told, if still open.
    escalate_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    change_xid: Mapped[int] = _change_xid()
    changed_at: Mapped[datetime] = _now()


class Inspection(Base):
    """A visit to a point: every applicable criterion passed, failed or not applicable. A
    visit with no fail is the complete record that nothing was found. The client's id is the
    idempotency key (offline phones replay)."""

    __tablename__ = "inspections"
    __table_args__ = (
        CheckConstraint("lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180", name="latlon"),
        Index("ix_inspections_point", "point_id", "observed_at"),
        Index("ix_inspections_district", "district_id", "observed_at"),
        Index("ix_inspections_change", "change_xid", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    point_id: Mapped[int] = mapped_column(ForeignKey("evaluation_points.id"))
    task_id: Mapped[int | None] = mapped_column(BigInteger)
    criteria_set_id: Mapped[int] = mapped_column(ForeignKey("criteria_sets.id"))
    inspector_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    district_id: Mapped[int | None] = mapped_column(Integer)
    observed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lat: Mapped[float] = mapped_column(Double)
    lon: Mapped[float] = mapped_column(Double)
    distance_m: Mapped[float] = mapped_column(Double)
    # `far`: the position given lies beyond the GPS tolerance of the point.
    flags: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    passed: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    not_applicable: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    # sha256 of the canonical body: a replay must match it exactly.
    request_hash: Mapped[str] = mapped_column(String(64))
    change_xid: Mapped[int] = _change_xid()
    changed_at: Mapped[datetime] = _now()


class SyncDeparture(Base):
    """A row left someone's view: a finding's responsible unit or place changed (`unit_id`:
    the one it left), an inspection task went to another inspector (`user_id`: the one it
    left). Written by triggers (migration 0026); a phone's sync reports such a row as removed
    to a caller who may no longer see it."""

    __tablename__ = "sync_departures"
    __table_args__ = (Index("ix_sync_departures_change", "change_xid"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    finding_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    task_id: Mapped[int | None] = mapped_column(BigInteger)
    unit_id: Mapped[int | None] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(Integer)
    change_xid: Mapped[int] = mapped_column(
        BigInteger, server_default=text("(pg_current_xact_id()::text::bigint)")
    )
    at: Mapped[datetime] = _now()


class InspectionResult(Base):
    """One criterion's outcome at one inspection; a fail names the finding it became."""

    __tablename__ = "inspection_results"
    __table_args__ = (CheckConstraint(_in("outcome", INSPECTION_OUTCOMES), name="outcome"),)

    inspection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inspections.id"), primary_key=True)
    criterion_id: Mapped[int] = mapped_column(ForeignKey("criteria.id"), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(8))
    finding_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    note: Mapped[str | None] = mapped_column(Text)


class InspectionPhoto(Base):
    """A photo taken at an inspection, stored like a finding's evidence."""

    __tablename__ = "inspection_photos"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    inspection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inspections.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    object_key: Mapped[str] = mapped_column(String(300))
    media_type: Mapped[str] = mapped_column(String(32))
    bytes: Mapped[int] = mapped_column(Integer)
    gps_lat: Mapped[float | None] = mapped_column(Double)
    gps_lon: Mapped[float | None] = mapped_column(Double)
    flags: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    uploaded_at: Mapped[datetime] = _now()


class AssessmentRound(Base):
    """A self-assessment round (自评自测), e.g. monthly, against one criteria set."""

    __tablename__ = "assessment_rounds"
    __table_args__ = (CheckConstraint("ends_on >= starts_on", name="period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    criteria_set_id: Mapped[int] = mapped_column(ForeignKey("criteria_sets.id"))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = _now()


class SelfAssessment(Base):
    """A district's self-assessment in a round: submitted by its handler, approved by its
    head (a leader of the district)."""

    __tablename__ = "self_assessments"
    __table_args__ = (
        UniqueConstraint("round_id", "district_id", name="uq_self_assessments_round_district"),
        CheckConstraint(_in("status", ASSESSMENT_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("assessment_rounds.id"))
    district_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    status: Mapped[str] = mapped_column(String(16))
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))


class SelfAssessmentScore(Base):
    """The district's own score on one criterion (at one point, or over the district)."""

    __tablename__ = "self_assessment_scores"
    __table_args__ = (
        UniqueConstraint(
            "assessment_id",
            "criterion_id",
            "point_id",
            name="uq_self_assessment_scores_item",
            postgresql_nulls_not_distinct=True,
        ),
        CheckConstraint("score >= 0", name="score"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("self_assessments.id"), index=True)
    criterion_id: Mapped[int] = mapped_column(ForeignKey("criteria.id"))
    point_id: Mapped[int | None] = mapped_column(ForeignKey("evaluation_points.id"))
    score: Mapped[float] = mapped_column(Double)
    note: Mapped[str | None] = mapped_column(Text)
    finding_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))


# ---- commitments and personal supervision (DESIGN §11) ----

MeetingKind = Literal["exposure_review", "briefing", "self_assessment_review"]
MEETING_KINDS: tuple[str, ...] = get_args(MeetingKind)
PROGRESS_REVIEWS = ("pending", "accepted", "returned")


class Meeting(Base):
    """A meeting at which units pledged rectification (整改承诺): an exposure-video review, a
    briefing, a self-assessment review."""

    __tablename__ = "meetings"
    __table_args__ = (CheckConstraint(_in("kind", MEETING_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    held_on: Mapped[date] = mapped_column(Date)
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(32))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = _now()


class MeetingVideo(Base):
    """The exposure videos a meeting reviewed."""

    __tablename__ = "meeting_videos"

    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True
    )
    video_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("exposure_videos.id"), primary_key=True, index=True
    )


class Commitment(Base):
    """A unit's pledge at a meeting: status quo, problems, targets, measures and a deadline,
    with the leader responsible (resolved from the unit's head post and snapshotted). Done
    only when the campaign office accepts it; overdue, it escalates on its own ladder."""

    __tablename__ = "commitments"
    __table_args__ = (
        CheckConstraint("percent BETWEEN 0 AND 100", name="percent"),
        Index("ix_commitments_meeting", "meeting_id", "id"),
        Index("ix_commitments_district", "district_id", "id"),
        Index("ix_commitments_unit", "unit_id", "id"),
        Index(
            "ix_commitments_next_escalation",
            "next_escalation_at",
            postgresql_where=text("next_escalation_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    # The unit's district (itself for a district); None for a city-level unit.
    district_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    status_quo: Mapped[str] = mapped_column(Text)
    problems: Mapped[str] = mapped_column(Text)
    targets: Mapped[str] = mapped_column(Text)
    measures: Mapped[str] = mapped_column(Text)
    # As pledged: {"date": "2026-12-31"} or {"working_days": N} from the meeting.
    deadline: Mapped[dict[str, Any]] = mapped_column(JSONB)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    leader_person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    leader_name: Mapped[str | None] = mapped_column(String(100))
    leader_title: Mapped[str | None] = mapped_column(String(200))
    # The progress the office last accepted.
    percent: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The ladder snapshotted at creation (services.core.escalation.rules.Plan) and the next
    # moment the sweep must look at the commitment (None: nothing left, or done).
    escalation_plan: Mapped[dict[str, Any]] = mapped_column(JSONB)
    next_escalation_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = _now()
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))


class CommitmentFinding(Base):
    """The findings a commitment covers."""

    __tablename__ = "commitment_findings"

    commitment_id: Mapped[int] = mapped_column(
        ForeignKey("commitments.id", ondelete="CASCADE"), primary_key=True
    )
    finding_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("findings.id"), primary_key=True, index=True
    )


class CommitmentProgress(Base):
    """A unit's progress report on a commitment, reviewed by the campaign office."""

    __tablename__ = "commitment_progress"
    __table_args__ = (
        CheckConstraint("percent BETWEEN 0 AND 100", name="percent"),
        CheckConstraint(_in("review", PROGRESS_REVIEWS), name="review"),
        Index("ix_commitment_progress_commitment", "commitment_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    commitment_id: Mapped[int] = mapped_column(ForeignKey("commitments.id"))
    content: Mapped[str] = mapped_column(Text)
    percent: Mapped[int] = mapped_column(SmallInteger)
    reported_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    review: Mapped[str] = mapped_column(String(16), server_default=text("'pending'"))
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    review_note: Mapped[str | None] = mapped_column(Text)


class CommitmentPhoto(Base):
    """A photo of a progress report, decoded and re-encoded like a finding's evidence."""

    __tablename__ = "commitment_photos"
    __table_args__ = (Index("ix_commitment_photos_progress", "progress_id"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    progress_id: Mapped[int] = mapped_column(ForeignKey("commitment_progress.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    object_key: Mapped[str] = mapped_column(String(300))
    media_type: Mapped[str] = mapped_column(String(32))
    bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    uploaded_at: Mapped[datetime] = _now()


class CommitmentEscalation(FiredLevel, Base):
    """A level of an overdue commitment's ladder, fired once, ever (UNIQUE(commitment,
    level)); the addressee snapshotted as they were when it fired."""

    __tablename__ = "commitment_escalations"
    __table_args__ = (
        UniqueConstraint("commitment_id", "level", name="uq_commitment_escalations_level"),
        CheckConstraint(_in("target", ESCALATION_TARGETS), name="target"),
        CheckConstraint("reason IN ('overdue', 'vacant_post')", name="reason"),
        Index("ix_commitment_escalations_fired", "fired_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    commitment_id: Mapped[int] = mapped_column(ForeignKey("commitments.id"))
    district_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))


class PersonalSupervision(Base):
    """A leader's personal charge (领导包案 / 亲自督办) of a finding or a commitment: the
    mark shows wherever the item does, and its escalations reach the leader too. Ended, not
    deleted: the record stays."""

    __tablename__ = "personal_supervisions"
    __table_args__ = (
        CheckConstraint("(finding_id IS NULL) <> (commitment_id IS NULL)", name="item"),
        Index(
            "uq_personal_supervisions_finding",
            "finding_id",
            "person_id",
            unique=True,
            postgresql_where=text("ended_at IS NULL AND finding_id IS NOT NULL"),
        ),
        Index(
            "uq_personal_supervisions_commitment",
            "commitment_id",
            "person_id",
            unique=True,
            postgresql_where=text("ended_at IS NULL AND commitment_id IS NOT NULL"),
        ),
        Index("ix_personal_supervisions_person", "person_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    finding_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("findings.id"))
    commitment_id: Mapped[int | None] = mapped_column(ForeignKey("commitments.id"))
    note: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# 提醒谈话, 约谈, 通报批评, 诫勉, 问责 and anything else the commission decides.
ACCOUNTABILITY_ACTIONS = (
    "reminder_talk",
    "interview",
    "public_criticism",
    "admonishment",
    "accountability",
    "other",
)


class AccountabilityRecord(Base):
    """An action the discipline commission took (问责) against a person or a unit. Append-only
    (a trigger refuses UPDATE and DELETE): a correction is a record of its own."""

    __tablename__ = "accountability_records"
    __table_args__ = (
        CheckConstraint(_in("action", ACCOUNTABILITY_ACTIONS), name="action"),
        CheckConstraint(
            "subject_person_id IS NOT NULL OR subject_unit_id IS NOT NULL", name="subject"
        ),
        Index("ix_accountability_records_person", "subject_person_id", "id"),
        Index("ix_accountability_records_unit", "subject_unit_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action: Mapped[str] = mapped_column(String(32))
    subject_person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    subject_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    decided_on: Mapped[date] = mapped_column(Date)
    summary: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = _now()


class AccountabilityLink(Base):
    """What led to a record: an escalation, or a commitment of the ledger."""

    __tablename__ = "accountability_links"
    __table_args__ = (
        CheckConstraint("(escalation_id IS NULL) <> (commitment_id IS NULL)", name="one"),
        Index("ix_accountability_links_record", "record_id"),
        Index("ix_accountability_links_escalation", "escalation_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("accountability_records.id"))
    escalation_id: Mapped[int | None] = mapped_column(ForeignKey("escalations.id"))
    commitment_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("commitments.id"))


class InstructionFollowUp(Base):
    """The follow-up deadline a leader's 批示 set: by then the item must be rectified. The
    ledger tracks whether it was (met, missed, pending)."""

    __tablename__ = "instruction_follow_ups"

    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalations.id"), primary_key=True)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    set_at: Mapped[datetime] = _now()


class Suspension(Base):
    """A request to suspend (挂账) a finding and, once approved, the suspension itself: the
    rectification clock and the ladder stop from `started_at` until `ended_at`, and the
    deadline moves by the working days (or, on a continuous clock, the time) it lasted."""

    __tablename__ = "suspensions"
    __table_args__ = (
        CheckConstraint(_in("reason", SUSPENSION_REASONS), name="reason"),
        CheckConstraint(_in("state", SUSPENSION_STATES), name="state"),
        # One request or suspension at a time per finding.
        Index(
            "uq_suspensions_open",
            "finding_id",
            unique=True,
            postgresql_where=text("state IN ('requested', 'active')"),
        ),
        # The worker's resumption sweep: active suspensions by their expected end.
        Index(
            "ix_suspensions_active_until",
            "expected_until",
            postgresql_where=text("state = 'active'"),
        ),
        Index("ix_suspensions_unit_started", "responsible_unit_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    finding_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("findings.id"), index=True)
    responsible_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    reason: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text)
    expected_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(16))
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The status the finding returns to (assigned or accepted).
    resume_status: Mapped[str | None] = mapped_column(String(16))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The reminder that the expected date is near has gone out.
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # None when the worker resumed it at the expected date.
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    previous_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resumed_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
