"""What the domain refuses, in one shape the API turns into a problem document."""

from __future__ import annotations


class DomainError(Exception):
    """A refused request: an HTTP-like status, a message for people, and the input field at
    fault if there is one (so a client can point at it)."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
