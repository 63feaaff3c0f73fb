"""/categories for admins (DESIGN §7): the kinds of finding, each with its time limit, its
clock and its escalation policy, addressed by code.

The rules (a time limit its clock can count, an existing policy, no delete while findings
or rules name it) are in services/core/reference/service.py.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from services.core.models import Category
from services.core.reference import queries, service

from ..deps import Admin, Session
from ..pagination import PageDep, id_key, split_page
from ..schemas.categories import CategoryCreate, CategoryOut, CategoryPage, CategoryUpdate
from ..schemas.wire import CodePath

router = APIRouter(tags=["configuration"])


def _out(row: Category) -> CategoryOut:
    return CategoryOut.model_validate(row, from_attributes=True)


@router.get("/categories", response_model=CategoryPage)
async def list_categories(session: Session, _: Admin, page: PageDep) -> CategoryPage:
    rows = await queries.categories_page(session, page.after(id_key), page.limit + 1)
    items, cursor = split_page(rows, page.limit, lambda c: [c.id])
    return CategoryPage(items=[_out(c) for c in items], next_cursor=cursor)


@router.get("/categories/{code}", response_model=CategoryOut)
async def get_category(code: CodePath, session: Session, _: Admin) -> CategoryOut:
    return _out(await service.category(session, code))


@router.post("/categories", response_model=CategoryOut, status_code=201)
async def create_category(body: CategoryCreate, session: Session, _: Admin) -> CategoryOut:
    return _out(await service.create_category(session, **body.model_dump()))


@router.patch("/categories/{code}", response_model=CategoryOut)
async def update_category(
    code: CodePath, body: CategoryUpdate, session: Session, _: Admin
) -> CategoryOut:
    changes = body.model_dump(exclude_unset=True)
    return _out(await service.update_category(session, code, changes))


@router.delete("/categories/{code}", status_code=204, response_class=Response)
async def delete_category(code: CodePath, session: Session, _: Admin) -> Response:
    await service.delete_category(session, code)
    return Response(status_code=204)
