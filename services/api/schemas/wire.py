"""Input types that take only what the OpenAPI document says they take. pydantic's lax mode
would read `0.5` as a Unix timestamp and `true` as the number 1: a client that sends those
has a bug it should hear about, and the document would otherwise be lying.

Every timestamp, date and ISO week lies in the years 2000–2100 (as written, in its own
offset), and every id in the range of its column: far-off values overflow Python's date
arithmetic or PostgreSQL's integers, and no campaign record lies there. The bounds are part
of each type's JSON schema, so the document states them and a client (or the fuzzer) can
respect them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

from annotated_types import Interval
from fastapi import Path
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    Strict,
    StringConstraints,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

FIRST_YEAR, LAST_YEAR = 2000, 2100
# The largest values of PostgreSQL's integer (int4) and bigint (int8) columns.
INT4_MAX = 2**31 - 1
INT8_MAX = 2**63 - 1

_YEAR = "(?:20[0-9]{2}|2100)"
_DAY = "(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
_TIME = "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]+)?"
_OFFSET = "(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
# What the document promises, and what the validators below enforce (with [0-9], not \d,
# which in Python also matches other scripts' digits).
TIMESTAMP_PATTERN = f"^{_YEAR}-{_DAY}[Tt]{_TIME}{_OFFSET}$"
DATE_PATTERN = f"^{_YEAR}-{_DAY}$"
WEEK_PATTERN = f"^{_YEAR}-W(?:0[1-9]|[1-4][0-9]|5[0-3])$"
_RFC3339 = re.compile(
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\\.[0-9]+)?"
    "(?:[Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
_PLAIN_DATE = re.compile("^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
IN_RANGE = f"must lie in the years {FIRST_YEAR}–{LAST_YEAR}"


@dataclass(frozen=True)
class Documented:
    """Adds keys to a type's JSON schema (a pattern, a description): what the validators
    enforce, said where clients and the fuzzer read it."""

    keys: tuple[tuple[str, Any], ...]

    def __get_pydantic_json_schema__(
        self, core: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core)
        schema.update(self.keys)
        return schema


# Both parse the text themselves rather than hand it on: the types then also validate in
# strict mode (cursors, services/api/pagination.py), where pydantic takes no text for a date.


def _rfc3339(value: object) -> object:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or _RFC3339.fullmatch(value) is None:
        raise ValueError(
            "must be an RFC 3339 date-time with an offset, e.g. 2026-05-31T09:12:00+08:00"
        )
    try:
        return datetime.fromisoformat(value.upper())  # RFC 3339 allows "t" and "z"
    except ValueError:
        raise ValueError("is not a valid date and time") from None


def _plain_date(value: object) -> object:
    # Lax parsing would take "2026-10-01T00:00:00" or a Unix time for a date.
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or _PLAIN_DATE.fullmatch(value) is None:
        raise ValueError("must be a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError("is not a valid date") from None


D = TypeVar("D", bound=date)


def _within_years(value: D) -> D:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(IN_RANGE)
    return value


def _to_centimetres(value: float) -> float:
    return round(value, 7)


# An RFC 3339 timestamp with an offset, as a string (never a number), in the years 2000–2100.
Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339),
    AfterValidator(_within_years),
    Documented((("pattern", TIMESTAMP_PATTERN),)),
]
# A calendar date as YYYY-MM-DD, in the years 2000–2100.
Day = Annotated[
    date,
    BeforeValidator(_plain_date),
    AfterValidator(_within_years),
    Documented((("pattern", DATE_PATTERN),)),
]


def _iso_week(value: object) -> object:
    if not isinstance(value, str) or re.fullmatch(WEEK_PATTERN, value) is None:
        raise ValueError(f"must be an ISO week like 2026-W48 in the years {FIRST_YEAR}–{LAST_YEAR}")
    year, week = int(value[:4]), int(value[6:])
    try:
        date.fromisocalendar(year, week, 1)
    except ValueError:
        raise ValueError(f"{year} has no week {week}") from None
    return value


# An ISO week such as 2026-W48, one the year has, in the years 2000–2100.
IsoWeek = Annotated[str, BeforeValidator(_iso_week), Documented((("pattern", WEEK_PATTERN),))]
# An id of a row in an integer (int4) or a bigint (int8) column: larger numbers can only be
# "not found", and PostgreSQL would refuse to compare them.
Id = Annotated[int, Interval(ge=1, le=INT4_MAX)]
BigId = Annotated[int, Interval(ge=1, le=INT8_MAX)]
# A JSON number: an integer or a float, never a boolean or a numeric string.
Number = Annotated[float, Strict()]
# A WGS84 degree, kept to 7 decimals (about 1 cm): finer digits are noise, and a value like
# 1e-290 would underflow PostgreSQL's float arithmetic in the distance queries.
Degrees = Annotated[Number, AfterValidator(_to_centimetres)]


class Input(BaseModel):
    """A request body: a field the document does not list is refused, never ignored."""

    model_config = ConfigDict(extra="forbid")


# ---- codes, names and text of the configuration ----

# PostgreSQL refuses NUL in text, and control characters have no business in a name.
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
# A unit's, category's or policy's stable code, e.g. 370202 or shinan.badaguan.
Code = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=CODE_PATTERN),
]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=PRINTABLE)
]
# Free text is checked as sent, then trimmed: stripped first, a "\n" became "" and was taken
# although the documented pattern refuses it.
ShortText = Annotated[
    str, StringConstraints(max_length=40, pattern=PRINTABLE), AfterValidator(str.strip)
]
Title = Annotated[
    str, StringConstraints(max_length=200, pattern=PRINTABLE), AfterValidator(str.strip)
]
# Where notifications are POSTed; the URL may carry a receiver's token, so admins only.
WebhookUrl = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=500, pattern=r"^https?://[^\s]+$")
]
Lat = Annotated[Degrees, Field(ge=-90, le=90, allow_inf_nan=False)]
Lon = Annotated[Degrees, Field(ge=-180, le=180, allow_inf_nan=False)]

# A code or an id in a URL path (/units/{code}, /posts/{post_id}).
CodePath = Annotated[str, Path(min_length=1, max_length=64, pattern=CODE_PATTERN)]
IdPath = Annotated[Id, Path()]


def local(value: datetime | None, tz: ZoneInfo) -> datetime | None:
    """A timestamp as a response gives it: stored in UTC, shown in the city's offset."""
    return value.astimezone(tz) if value is not None else None
