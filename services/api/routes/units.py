"""/units for admins (DESIGN §7): the organisation tree, addressed by stable code.

The rules (a unit never moves under its own subtree, nothing referenced is deleted) are in
services/core/reference/service.py; this module maps HTTP to them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.models import Unit, UnitKind
from services.core.reference import queries, service

from ..deps import Admin, Session
from ..pagination import PageDep, id_key, split_page
from ..schemas.units import UnitCreate, UnitOut, UnitPage, UnitUpdate
from ..schemas.wire import Code, CodePath

router = APIRouter(tags=["configuration"])


def _out(unit: Unit, parent_code: str | None) -> UnitOut:
    return UnitOut(
        id=unit.id,
        code=unit.code,
        name=unit.name,
        kind=unit.kind,
        parent=parent_code,
        lat=unit.lat,
        lon=unit.lon,
        webhook_url=unit.webhook_url,
        created_at=unit.created_at,
    )


async def _response(session: AsyncSession, unit: Unit) -> UnitOut:
    codes = await queries.unit_codes(session, [unit.parent_id])
    return _out(unit, codes.get(unit.parent_id) if unit.parent_id is not None else None)


@router.get("/units", response_model=UnitPage)
async def list_units(
    session: Session,
    _: Admin,
    page: PageDep,
    kind: Annotated[UnitKind | None, Query()] = None,
    parent: Annotated[Code | None, Query(description="direct children of this unit")] = None,
) -> UnitPage:
    rows = await queries.units_page(
        session, page.after(id_key), page.limit + 1, kind=kind, parent=parent
    )
    items, cursor = split_page(rows, page.limit, lambda r: [r[0].id])
    return UnitPage(items=[_out(u, p) for u, p in items], next_cursor=cursor)


@router.get("/units/{code}", response_model=UnitOut)
async def get_unit(code: CodePath, session: Session, _: Admin) -> UnitOut:
    return await _response(session, await service.unit(session, code))


@router.post("/units", response_model=UnitOut, status_code=201)
async def create_unit_endpoint(body: UnitCreate, session: Session, _: Admin) -> UnitOut:
    return await _response(session, await service.create_unit(session, **body.model_dump()))


@router.patch("/units/{code}", response_model=UnitOut)
async def update_unit(code: CodePath, body: UnitUpdate, session: Session, _: Admin) -> UnitOut:
    changes = body.model_dump(exclude_unset=True)
    return await _response(session, await service.update_unit(session, code, changes))


@router.delete("/units/{code}", status_code=204, response_class=Response)
async def delete_unit(code: CodePath, session: Session, _: Admin) -> Response:
    await service.delete_unit(session, code)
    return Response(status_code=204)
