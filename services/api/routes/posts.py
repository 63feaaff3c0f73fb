"""/posts for admins (DESIGN §7): who holds which role in a unit, addressed by id.

Escalations go to the one holder of a unit's `head` post (a district's `city_leader`) at
firing time, so those tenures may not overlap: services/core/reference/service.py refuses
a second holder (409) until the first post is ended with `valid_to`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.models import Post
from services.core.reference import queries, service

from ..deps import Admin, Session
from ..pagination import PageDep, id_key, split_page
from ..schemas.posts import PostCreate, PostOut, PostPage, PostUpdate
from ..schemas.wire import Code, IdPath

router = APIRouter(tags=["configuration"])


def _out(post: Post, unit_code: str) -> PostOut:
    return PostOut(
        id=post.id,
        unit=unit_code,
        role=post.role,
        person=post.person_id,
        valid_from=post.valid_from,
        valid_to=post.valid_to,
    )


async def _response(session: AsyncSession, post: Post) -> PostOut:
    codes = await queries.unit_codes(session, [post.unit_id])
    return _out(post, codes[post.unit_id])


@router.get("/posts", response_model=PostPage)
async def list_posts(
    session: Session,
    _: Admin,
    page: PageDep,
    unit: Annotated[Code | None, Query(description="posts of this unit")] = None,
) -> PostPage:
    rows = await queries.posts_page(session, page.after(id_key), page.limit + 1, unit=unit)
    items, cursor = split_page(rows, page.limit, lambda r: [r[0].id])
    return PostPage(items=[_out(p, code) for p, code in items], next_cursor=cursor)


@router.get("/posts/{post_id}", response_model=PostOut)
async def get_post(post_id: IdPath, session: Session, _: Admin) -> PostOut:
    return await _response(session, await service.post(session, post_id))


@router.post("/posts", response_model=PostOut, status_code=201)
async def create_post(body: PostCreate, session: Session, _: Admin) -> PostOut:
    return await _response(session, await service.create_post(session, **body.model_dump()))


@router.patch("/posts/{post_id}", response_model=PostOut)
async def update_post(post_id: IdPath, body: PostUpdate, session: Session, _: Admin) -> PostOut:
    changes = body.model_dump(exclude_unset=True)
    return await _response(session, await service.update_post(session, post_id, changes))


@router.delete("/posts/{post_id}", status_code=204, response_class=Response)
async def delete_post(post_id: IdPath, session: Session, _: Admin) -> Response:
    await service.delete_post(session, post_id)
    return Response(status_code=204)
