"""/people for admins (DESIGN §7): the office holders posts name, addressed by id.

A person still holding a post or a user account is not deleted
(services/core/reference/service.py).
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from services.core.models import Person
from services.core.reference import queries, service

from ..deps import Admin, Session
from ..pagination import PageDep, id_key, split_page
from ..schemas.people import PersonCreate, PersonOut, PersonPage, PersonUpdate
from ..schemas.wire import IdPath

router = APIRouter(tags=["configuration"])


def _out(row: Person) -> PersonOut:
    return PersonOut.model_validate(row, from_attributes=True)


@router.get("/people", response_model=PersonPage)
async def list_people(session: Session, _: Admin, page: PageDep) -> PersonPage:
    rows = await queries.people_page(session, page.after(id_key), page.limit + 1)
    items, cursor = split_page(rows, page.limit, lambda p: [p.id])
    return PersonPage(items=[_out(p) for p in items], next_cursor=cursor)


@router.get("/people/{person_id}", response_model=PersonOut)
async def get_person(person_id: IdPath, session: Session, _: Admin) -> PersonOut:
    return _out(await service.person(session, person_id))


@router.post("/people", response_model=PersonOut, status_code=201)
async def create_person(body: PersonCreate, session: Session, _: Admin) -> PersonOut:
    return _out(await service.create_person(session, body.model_dump()))


@router.patch("/people/{person_id}", response_model=PersonOut)
async def update_person(
    person_id: IdPath, body: PersonUpdate, session: Session, _: Admin
) -> PersonOut:
    changes = body.model_dump(exclude_unset=True)
    return _out(await service.update_person(session, person_id, changes))


@router.delete("/people/{person_id}", status_code=204, response_class=Response)
async def delete_person(person_id: IdPath, session: Session, _: Admin) -> Response:
    await service.delete_person(session, person_id)
    return Response(status_code=204)
