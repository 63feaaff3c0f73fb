"""The caller's scope as SQL: every read of findings goes through `visible_findings`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, or_, select, true

from services.core.models import Finding, Unit
from services.core.principal import Principal
from services.core.spatial import FindingAlias


def in_subtree(f: FindingAlias, unit_path: Any, user_id: Any) -> ColumnElement[bool]:
    """The rule for a caller scoped to the unit at `unit_path`: its subtree holds the
    finding's responsible unit or its place, or the caller reported it. Unit paths are
    materialised ids ("/1/4/17/"), so a prefix match needs no escaping."""
    subtree = select(Unit.id).where(Unit.path.startswith(unit_path))
    return or_(
        f.responsible_unit_id.in_(subtree),
        f.place_unit_id.in_(subtree),
        f.reporter_id == user_id,
    )


def visible_findings(principal: Principal) -> ColumnElement[bool]:
    """A finding is visible to a caller whose subtree holds its responsible unit or its place,
    and always to the person who reported it. City-wide callers see everything."""
    if principal.city_wide:
        return true()
    return in_subtree(Finding, principal.unit_path, principal.user_id)
