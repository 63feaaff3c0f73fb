"""The caller's scope as SQL: every read of findings goes through `visible_findings`.

A finding may name another (a recurrence, a possible recurrence, a duplicate), and so may its
audit trail. Such a name is shown only to a caller who may see the finding it names: to
anyone else the link is left out (`hidden_findings`, `without_hidden`), as if it were not
there, exactly like a finding outside their scope.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from sqlalchemy import ColumnElement, any_, bindparam, or_, select, true
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.identity.principal import Principal
from services.core.models import Finding, FindingCoUnit, Unit

# The columns by which a finding names another.
LINK_COLUMNS = ("recurrence_of", "possible_recurrence_of", "duplicate_of")
# The keys of an event's payload that name another finding, with the keys that describe it.
EVENT_LINKS: Mapping[str, tuple[str, ...]] = {
    "recurrence_of": (),
    "possible_recurrence_of": (),
    "duplicate_of": (),
    "duplicate": ("duplicate_reporter", "duplicate_reported_at"),
}


def visible_findings(principal: Principal) -> ColumnElement[bool]:
    """A finding is visible to a caller whose subtree holds its responsible unit, its place or
    one of its co-handling units (协办), and always to the person who reported it. City-wide
    callers see everything."""
    if principal.city_wide:
        return true()
    subtree = select(Unit.id).where(Unit.path.startswith(principal.unit_path, autoescape=True))
    co_handled = select(FindingCoUnit.finding_id).where(FindingCoUnit.unit_id.in_(subtree))
    return or_(
        Finding.responsible_unit_id.in_(subtree),
        Finding.place_unit_id.in_(subtree),
        Finding.reporter_id == principal.user_id,
        Finding.id.in_(co_handled),
    )


def links_of(findings: Iterable[Any]) -> Iterator[uuid.UUID | None]:
    """The findings that `findings` (rows or as written) name."""
    for f in findings:
        for column in LINK_COLUMNS:
            yield getattr(f, column)


def event_links(payload: Mapping[str, Any]) -> Iterator[uuid.UUID]:
    """The findings an event's payload names."""
    for key in EVENT_LINKS:
        value = payload.get(key)
        if isinstance(value, str):
            try:
                yield uuid.UUID(value)
            except ValueError:
                continue


def without_hidden(payload: Mapping[str, Any], hidden: frozenset[uuid.UUID]) -> dict[str, Any]:
    """The payload without the findings in `hidden` and what it says about them."""
    dropped: set[str] = set()
    for key, about in EVENT_LINKS.items():
        if any(link in hidden for link in event_links({key: payload.get(key)})):
            dropped.update((key, *about))
    return {k: v for k, v in payload.items() if k not in dropped}


_IDS = bindparam("ids", type_=ARRAY(UUID(as_uuid=True)))


async def hidden_findings(
    session: AsyncSession, principal: Principal, ids: Iterable[uuid.UUID | None]
) -> frozenset[uuid.UUID]:
    """Those of `ids` the caller may not see, in one query (none for a city-wide caller)."""
    wanted = {i for i in ids if i is not None}
    if principal.city_wide or not wanted:
        return frozenset()
    seen = await session.scalars(
        select(Finding.id).where(Finding.id == any_(_IDS), visible_findings(principal)),
        {"ids": list(wanted)},
    )
    return frozenset(wanted - set(seen))
