"""The caller's scope as SQL: every read of findings goes through `visible_findings`."""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select, true

from services.core.models import Finding, Unit
from services.core.principal import Principal


def visible_findings(principal: Principal) -> ColumnElement[bool]:
    """A finding is visible to a caller whose subtree holds its responsible unit or its place,
    and always to the person who reported it. City-wide callers see everything."""
    if principal.city_wide:
        return true()
    subtree = select(Unit.id).where(Unit.path.startswith(principal.unit_path, autoescape=True))
    return or_(
        Finding.responsible_unit_id.in_(subtree),
        Finding.place_unit_id.in_(subtree),
        Finding.reporter_id == principal.user_id,
    )
