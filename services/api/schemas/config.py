"""Request and response bodies of the configuration endpoints (units, people, posts,
categories, routing rules). Units and categories are referenced by code, never by id."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.core.calendar.deadlines import MAX_WORKING_DAYS, parse_duration
from services.core.models import CATEGORY_KINDS, CLOCKS, POST_ROLES, UNIT_KINDS

from .wire import Degrees, Id, Timestamp

UnitKind = Literal[
    "city",
    "district",
    "street",
    "community",
    "department",
    "campaign_office",
    "discipline_commission",
]
PostRole = Literal["head", "deputy", "handler", "city_leader", "verifier"]
CategoryKind = Literal["facility", "event"]
Clock = Literal["working_days", "continuous"]
assert set(get_args(UnitKind)) == set(UNIT_KINDS)  # noqa: S101 - keep the lists in step
assert set(get_args(PostRole)) == set(POST_ROLES)  # noqa: S101
assert set(get_args(CategoryKind)) == set(CATEGORY_KINDS)  # noqa: S101
assert set(get_args(Clock)) == set(CLOCKS)  # noqa: S101

# PostgreSQL refuses NUL in text, and control characters have no business in a name.
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
Code = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=CODE_PATTERN),
]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=_PRINTABLE)
]
ShortText = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=40, pattern=_PRINTABLE)
]
Title = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200, pattern=_PRINTABLE)]
# A person's name is stored in 100 characters (a unit's in 200).
PersonName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=_PRINTABLE)
]
# Where notifications are POSTed; the URL may carry a receiver's token, so admins only.
WebhookUrl = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=500, pattern=r"^https?://[^\s]+$")
]
Lat = Annotated[Degrees, Field(ge=-90, le=90, allow_inf_nan=False)]
Lon = Annotated[Degrees, Field(ge=-180, le=180, allow_inf_nan=False)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- units ----


class UnitCreate(_In):
    code: Code = Field(description="stable unique code, e.g. 370202 or shinan.badaguan")
    name: Name
    kind: UnitKind
    parent: Code | None = Field(default=None, description="code of the parent unit")
    lat: Lat | None = None
    lon: Lon | None = None
    webhook_url: WebhookUrl | None = None


class UnitUpdate(_In):
    """Codes are stable: a unit keeps its code. Setting `parent` moves the whole subtree."""

    name: Name | None = None
    kind: UnitKind | None = None
    parent: Code | None = None
    lat: Lat | None = None
    lon: Lon | None = None
    webhook_url: WebhookUrl | None = None


class UnitOut(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    parent: str | None
    lat: float | None
    lon: float | None
    webhook_url: str | None
    created_at: datetime


class UnitPage(BaseModel):
    items: list[UnitOut]
    next_cursor: str | None


# ---- people ----


class PersonCreate(_In):
    name: PersonName
    title: Title | None = None
    phone: ShortText | None = None
    email: Title | None = None
    webhook_url: WebhookUrl | None = None


class PersonUpdate(_In):
    name: PersonName | None = None
    title: Title | None = None
    phone: ShortText | None = None
    email: Title | None = None
    webhook_url: WebhookUrl | None = None


class PersonOut(BaseModel):
    id: int
    name: str
    title: str | None
    phone: str | None
    email: str | None
    webhook_url: str | None
    created_at: datetime


class PersonPage(BaseModel):
    items: list[PersonOut]
    next_cursor: str | None


# ---- posts ----


class PostCreate(_In):
    unit: Code = Field(description="unit code")
    role: PostRole
    person: Id = Field(description="person id")
    valid_from: Timestamp
    valid_to: Timestamp | None = Field(
        default=None, description="end of the tenure; null while the person holds the post"
    )


class PostUpdate(_In):
    unit: Code | None = None
    role: PostRole | None = None
    person: Id | None = None
    valid_from: Timestamp | None = None
    valid_to: Timestamp | None = None


class PostOut(BaseModel):
    id: int
    unit: str
    role: str
    person: int
    valid_from: datetime
    valid_to: datetime | None


class PostPage(BaseModel):
    items: list[PostOut]
    next_cursor: str | None


# ---- categories ----

Group = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$"
    ),
]


class CategoryCreate(_In):
    code: Code
    name: Name
    group: Group = Field(description="e.g. city_appearance, infrastructure, traffic_order")
    kind: CategoryKind
    clock: Clock | None = Field(default=None, description="derived from time_limit when omitted")
    time_limit: dict[str, Any] = Field(
        description='{"working_days": 1..365} or {"duration": "PT2H"} (ISO 8601)',
        examples=[{"working_days": 2}, {"duration": "PT2H"}],
    )
    duplicate_radius_m: int = Field(default=30, ge=1, le=10_000)
    policy_code: Code | None = "default"
    active: bool = True


class CategoryUpdate(_In):
    name: Name | None = None
    group: Group | None = None
    kind: CategoryKind | None = None
    clock: Clock | None = None
    time_limit: dict[str, Any] | None = None
    duplicate_radius_m: int | None = Field(default=None, ge=1, le=10_000)
    policy_code: Code | None = None
    active: bool | None = None


class CategoryOut(BaseModel):
    id: int
    code: str
    name: str
    group: str
    kind: str
    clock: str
    time_limit: dict[str, Any]
    duplicate_radius_m: int
    policy_code: str | None
    active: bool


class CategoryPage(BaseModel):
    items: list[CategoryOut]
    next_cursor: str | None


def clock_of(time_limit: dict[str, Any]) -> str | None:
    if set(time_limit) == {"working_days"}:
        return "working_days"
    if set(time_limit) == {"duration"}:
        return "continuous"
    return None


def time_limit_errors(clock: str, time_limit: dict[str, Any]) -> list[dict[str, str]]:
    """What is wrong with a (clock, time limit) pair, as problem `errors`; empty when valid."""
    expected = clock_of(time_limit)
    if expected is None:
        return [
            {
                "field": "time_limit",
                "message": 'must be exactly {"working_days": N} or {"duration": "<ISO 8601>"}',
            }
        ]
    if expected == "working_days":
        days = time_limit["working_days"]
        # bool is an int in Python; true is not a number of days.
        if not isinstance(days, int) or isinstance(days, bool):
            return [{"field": "time_limit.working_days", "message": "must be an integer"}]
        if not 1 <= days <= MAX_WORKING_DAYS:
            return [
                {
                    "field": "time_limit.working_days",
                    "message": f"must be between 1 and {MAX_WORKING_DAYS}",
                }
            ]
    else:
        duration = time_limit["duration"]
        if not isinstance(duration, str):
            return [{"field": "time_limit.duration", "message": "must be a string such as PT2H"}]
        try:
            parse_duration(duration)
        except ValueError as exc:
            return [{"field": "time_limit.duration", "message": str(exc)}]
    if clock != expected:
        return [
            {
                "field": "clock",
                "message": f"a {next(iter(time_limit))} time limit needs the {expected} clock",
            }
        ]
    return []


def normalised_time_limit(time_limit: dict[str, Any]) -> dict[str, Any]:
    if "duration" in time_limit:
        return {"duration": str(time_limit["duration"]).strip().upper()}
    return dict(time_limit)


# ---- routing rules ----


class RoutingRuleCreate(_In):
    category: Code | None = Field(default=None, description="category code (or give group)")
    group: Group | None = Field(default=None, description="category group (or give category)")
    area_unit: Code = Field(description="the rule applies to places in this unit's subtree")
    responsible_unit: Code | None = Field(
        default=None, description="null: territorial, the unit of the place itself"
    )


class RoutingRuleUpdate(_In):
    category: Code | None = None
    group: Group | None = None
    area_unit: Code | None = None
    responsible_unit: Code | None = None


class RoutingRuleOut(BaseModel):
    id: int
    category: str | None
    group: str | None
    area_unit: str
    responsible_unit: str | None


class RoutingRulePage(BaseModel):
    items: list[RoutingRuleOut]
    next_cursor: str | None
