"""Input types that take only what the OpenAPI document says they take. pydantic's lax mode
would read `0.5` as a Unix timestamp and `true` as the number 1: a client that sends those
has a bug it should hear about, and the document would otherwise be lying."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Strict

_RFC3339_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]")


def _rfc3339(value: object) -> object:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or _RFC3339_DATE.match(value) is None:
        raise ValueError(
            "must be an RFC 3339 date-time with an offset, e.g. 2026-05-31T09:12:00+08:00"
        )
    return value


def _to_centimetres(value: float) -> float:
    return round(value, 7)


# An RFC 3339 timestamp with an offset, as a string (never a number).
Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]
# A JSON number: an integer or a float, never a boolean or a numeric string.
Number = Annotated[float, Strict()]
# A WGS84 degree, kept to 7 decimals (about 1 cm): finer digits are noise, and a value like
# 1e-290 would underflow PostgreSQL's float arithmetic in the distance queries.
Degrees = Annotated[Number, AfterValidator(_to_centimetres)]
