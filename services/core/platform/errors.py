"""What the domain refuses, in one shape the API turns into a problem document."""

from __future__ import annotations

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
