"""What the domain refuses, in one shape the API turns into a problem document."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


class DomainError(Exception):
    """A refused request: an HTTP-like status, a message for people, and the input field at
    fault if there is one (so a client can point at it)."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Refusal:
    status: int  # 403 not allowed for this actor, 409 not allowed from this state
    reason: str


class UnknownReference(Exception):
    """A filter or body names a code (unit, district, category) that does not exist."""

    def __init__(self, field: str, value: str) -> None:
        super().__init__(f"Unknown {field} {value!r}.")
        self.field = field


class NotFound(DomainError):
    """The object the request names does not exist (or the caller may not know it does)."""

    def __init__(self, message: str) -> None:
        super().__init__(404, message)


class Conflict(DomainError):
    """The request contradicts what is stored: a taken code, a second holder, a reference."""

    def __init__(self, message: str) -> None:
        super().__init__(409, message)


class InvalidInput(DomainError):
    """Input that breaks a rule, naming every field at fault as (field, message)."""

    def __init__(self, errors: Sequence[tuple[str, str]], message: str | None = None) -> None:
        fields = ", ".join(dict.fromkeys(field for field, _ in errors))
        super().__init__(422, message or f"The request is not valid: check {fields}.", fields)
        self.errors = list(errors)


def invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput([(field, message)])


def refuse_nulls(changes: Mapping[str, object], fields: Sequence[str]) -> None:
    """A change (a PATCH body's fields) may clear an optional field, never one every row
    must have: the first such field is refused."""
    for field in fields:
        if field in changes and changes[field] is None:
            raise invalid(field, "may not be null")
