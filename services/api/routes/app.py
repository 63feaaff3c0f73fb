"""What the phone app (/m) reads besides the findings API: who the device token belongs to,
and the reference it keeps for working offline (the categories to pick from and the
imported boundaries it draws and places a position in)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from services.core.desks.queries import active_categories, boundaries_in_scope
from services.core.models import Unit

from ..deps import Caller, Session
from ..schemas.findings import UnitRef

router = APIRouter(tags=["app"])


class Me(BaseModel):
    username: str
    role: str
    unit: UnitRef


class AppCategory(BaseModel):
    code: str
    name: str
    group: str


class AppBoundary(BaseModel):
    code: str
    name: str
    kind: str
    depth: int = Field(description="the unit's depth in the tree (the city is 1)")
    rings: list[list[list[float]]] = Field(description="rings of [lon, lat], simplified")


class AppReference(BaseModel):
    categories: list[AppCategory]
    boundaries: list[AppBoundary]


@router.get("/app/me", response_model=Me)
async def me(caller: Caller, session: Session) -> Me:
    """The caller: the phone app checks a device token with it and shows whose it is."""
    unit = await session.get(Unit, caller.unit_id)
    name = unit.name if unit is not None else caller.unit_code
    return Me(
        username=caller.username, role=caller.role, unit=UnitRef(code=caller.unit_code, name=name)
    )


@router.get("/app/reference", response_model=AppReference)
async def reference(caller: Caller, session: Session) -> AppReference:
    """The active categories, and the boundaries of the units in the caller's area (rings of
    [lon, lat] simplified to about 10 m): the phone keeps them to report offline."""
    categories = [
        AppCategory(code=c, name=n, group=g) for c, n, g in await active_categories(session)
    ]
    boundaries = [
        AppBoundary(code=b.code, name=b.name, kind=b.kind, depth=b.depth, rings=b.rings)
        for b in await boundaries_in_scope(session, caller)
    ]
    return AppReference(categories=categories, boundaries=boundaries)
