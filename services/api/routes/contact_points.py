"""Where people and units (their work groups) are reached besides the inbox, for admins:
DingTalk and WeCom robots, mailboxes, mobile numbers, webhooks, each with its place in the
owner's fallback order. Credentials are write-only: sealed with the channel key as they
arrive (services/core/notify/secrets.py) and never answered, logged or listed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.models import ContactPoint, Notification, Person, Unit
from services.core.notify.channels.base import shown_url
from services.core.notify.secrets import SealError, seal, unseal
from services.core.platform.keys import channel_key

from ..deps import Admin, Session, SettingsDep
from ..pagination import PageDep, id_key, split_page
from ..problems import Problem
from ..schemas.contact_points import (
    ContactPointCreate,
    ContactPointOut,
    ContactPointPage,
    ContactPointUpdate,
)
from ..schemas.wire import Code, Id

router = APIRouter(tags=["configuration"])
PointId = Annotated[Id, Path()]
URL_KINDS = frozenset({"dingtalk", "wecom", "webhook"})


def _invalid(field: str, message: str) -> Problem:
    return Problem(
        422,
        f"The request is not valid: check {field}.",
        kind="validation",
        errors=[{"field": field, "message": message}],
    )


def _out(p: ContactPoint, unit_code: str | None) -> ContactPointOut:
    return ContactPointOut(
        id=p.id,
        person_id=p.person_id,
        unit=unit_code,
        kind=p.kind,
        target=p.target,
        signed=False,
        position=p.position,
        active=p.active,
        label=p.label,
        created_at=p.created_at,
    )


def _target(kind: str, url: str | None, email: str | None, phone: str | None) -> str:
    if kind in URL_KINDS:
        if not url:
            raise _invalid("url", f"a {kind} contact point needs the URL")
        return shown_url(url)
    if kind == "email":
        if not email:
            raise _invalid("email", "an email contact point needs the mailbox")
        return email
    if not phone:
        raise _invalid("phone", "an sms contact point needs the mobile number")
    return phone


async def _owner_codes(session: AsyncSession, points: list[ContactPoint]) -> dict[int, str]:
    ids = {p.unit_id for p in points if p.unit_id is not None}
    if not ids:
        return {}
    rows = await session.execute(select(Unit.id, Unit.code).where(Unit.id.in_(ids)))
    return {row.id: row.code for row in rows}


async def _answer(session: AsyncSession, p: ContactPoint, key: str) -> ContactPointOut:
    codes = await _owner_codes(session, [p])
    return _with_flag(p, codes.get(p.unit_id) if p.unit_id else None, key)


def _with_flag(p: ContactPoint, unit_code: str | None, key: str) -> ContactPointOut:
    out = _out(p, unit_code)
    if p.kind == "dingtalk" and p.sealed is not None:
        try:
            out.signed = "secret" in unseal(key, p.id, p.sealed)
        except SealError:
            out.signed = False  # sealed under another key: delivery reports it
    return out


@router.post("/contact-points", response_model=ContactPointOut, status_code=201)
async def create_point(
    body: ContactPointCreate, _: Admin, session: Session, settings: SettingsDep
) -> ContactPointOut:
    """A new way to reach a person or a unit's work group."""
    if (body.person_id is None) == (body.unit is None):
        raise _invalid("person_id", "name exactly one of person_id and unit")
    unit_id = None
    if body.unit is not None:
        unit_id = await session.scalar(select(Unit.id).where(Unit.code == body.unit))
        if unit_id is None:
            raise _invalid("unit", f"no unit with code {body.unit!r}")
    elif await session.get(Person, body.person_id) is None:
        raise _invalid("person_id", f"no person {body.person_id}")
    if body.secret is not None and body.kind != "dingtalk":
        raise _invalid("secret", "only a DingTalk robot has a signing secret")
    target = _target(body.kind, body.url, body.email, body.phone)
    p = ContactPoint(
        person_id=body.person_id,
        unit_id=unit_id,
        kind=body.kind,
        target=target,
        position=body.position,
        active=body.active,
        label=body.label,
    )
    session.add(p)
    await session.flush()
    key = channel_key(settings)
    secrets = {k: v for k, v in (("url", body.url), ("secret", body.secret)) if v}
    p.sealed = seal(key, p.id, secrets) if secrets else None
    await session.flush()
    await session.refresh(p)
    return await _answer(session, p, key)


@router.get("/contact-points", response_model=ContactPointPage)
async def list_points(
    _: Admin,
    session: Session,
    settings: SettingsDep,
    page: PageDep,
    person_id: Annotated[Id | None, Query()] = None,
    unit: Annotated[Code | None, Query(description="unit code")] = None,
) -> ContactPointPage:
    """Contact points in id order, of one person or unit if asked."""
    stmt = select(ContactPoint)
    if person_id is not None:
        stmt = stmt.where(ContactPoint.person_id == person_id)
    if unit is not None:
        stmt = stmt.join(Unit, Unit.id == ContactPoint.unit_id).where(Unit.code == unit)
    after = page.after(id_key)
    if after is not None:
        stmt = stmt.where(ContactPoint.id > after)
    points = list(
        (await session.scalars(stmt.order_by(ContactPoint.id).limit(page.limit + 1))).all()
    )
    items, cursor = split_page(points, page.limit, lambda p: [p.id])
    codes = await _owner_codes(session, items)
    key = channel_key(settings)
    return ContactPointPage(
        items=[_with_flag(p, codes.get(p.unit_id) if p.unit_id else None, key) for p in items],
        next_cursor=cursor,
    )


async def _point_or_404(session: AsyncSession, point_id: int) -> ContactPoint:
    p = await session.get(ContactPoint, point_id, with_for_update=True)
    if p is None:
        raise Problem(404, f"No contact point {point_id}.")
    return p


@router.get("/contact-points/{point_id}", response_model=ContactPointOut)
async def get_point(
    point_id: PointId, _: Admin, session: Session, settings: SettingsDep
) -> ContactPointOut:
    return await _answer(session, await _point_or_404(session, point_id), channel_key(settings))


@router.patch("/contact-points/{point_id}", response_model=ContactPointOut)
async def update_point(
    point_id: PointId,
    body: ContactPointUpdate,
    _: Admin,
    session: Session,
    settings: SettingsDep,
) -> ContactPointOut:
    """Change the order, switch it off, or give it new credentials (a robot re-created in
    the group). Pending messages to it use the new ones."""
    p = await _point_or_404(session, point_id)
    given = body.model_fields_set
    for name in ("position", "active"):
        if name in given and getattr(body, name) is None:
            raise _invalid(name, "may not be null")
    if "position" in given and body.position is not None:
        p.position = body.position
    if "active" in given and body.active is not None:
        p.active = body.active
    if "label" in given:
        p.label = body.label
    if body.secret is not None and p.kind != "dingtalk":
        raise _invalid("secret", "only a DingTalk robot has a signing secret")
    if p.kind == "email" and body.email is not None:
        p.target = body.email
    if p.kind == "sms" and body.phone is not None:
        p.target = body.phone
    key = channel_key(settings)
    if p.kind in URL_KINDS and (body.url is not None or body.secret is not None):
        try:
            secrets = unseal(key, p.id, p.sealed)
        except SealError:
            secrets = {}  # sealed under a lost key: what is given now replaces it
        if body.url is not None:
            secrets["url"] = body.url
            p.target = shown_url(body.url)
        if body.secret is not None:
            secrets["secret"] = body.secret
        p.sealed = seal(key, p.id, secrets)
    await session.flush()
    return await _answer(session, p, key)


@router.delete("/contact-points/{point_id}", status_code=204)
async def delete_point(point_id: PointId, _: Admin, session: Session) -> Response:
    """Only a contact point no message was ever written to; otherwise switch it off
    (`active: false`): its receipts must keep naming it."""
    p = await _point_or_404(session, point_id)
    used = await session.scalar(select(exists().where(Notification.contact_point_id == p.id)))
    if used:
        raise Problem(
            409,
            f"Contact point {point_id} has messages on record; set active to false instead.",
            kind="conflict",
        )
    await session.delete(p)
    await session.flush()
    return Response(status_code=204)
