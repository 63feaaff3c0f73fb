"""Photo evidence: upload to a finding, list, download, and the verifier's one-stop view."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.evidence.images import haversine_m
from services.core.evidence.service import (
    EvidencePolicy,
    attach,
    list_evidence,
    union_flags,
    verification_photos,
    visible_evidence,
)
from services.core.evidence.storage import make_storage
from services.core.findings.queries import load_refs
from services.core.models import Evidence, Finding, User

from ..deps import Caller, Session, SettingsDep, utcnow
from ..pagination import CursorKey, PageDep, split_page
from ..problems import Problem
from ..schemas.evidence import (
    EvidenceKind,
    EvidenceOut,
    EvidencePage,
    Gps,
    Submission,
    VerificationOut,
)
from ..schemas.wire import Timestamp
from ..uploads import read_upload, stored_bytes
from .findings import render, visible_or_404

router = APIRouter(tags=["evidence"])

_FORM_FIELDS = frozenset({"file", "kind"})


async def _usernames(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await session.execute(select(User.id, User.username).where(User.id.in_(ids)))
    return {row.id: row.username for row in rows}


def _render(e: Evidence, finding: Finding, users: dict[int, str], tz: ZoneInfo) -> EvidenceOut:
    gps = (e.gps_lat, e.gps_lon) if e.gps_lat is not None and e.gps_lon is not None else None
    return EvidenceOut(
        id=e.id,
        finding_id=e.finding_id,
        kind=e.kind,
        media_type=e.media_type,
        bytes=e.bytes,
        width=e.width,
        height=e.height,
        sha256=e.sha256,
        taken_at=e.taken_at.astimezone(tz) if e.taken_at else None,
        gps=Gps(lat=gps[0], lon=gps[1]) if gps else None,
        distance_m=round(haversine_m(gps, (finding.lat, finding.lon)), 1) if gps else None,
        flags=list(e.flags),
        uploaded_by=users.get(e.uploaded_by_id, ""),
        uploaded_at=e.uploaded_at.astimezone(tz),
        links={
            "content": f"/api/v1/evidence/{e.id}",
            "finding": f"/api/v1/findings/{e.finding_id}",
        },
    )


async def _render_all(
    session: AsyncSession, rows: Sequence[Evidence], finding: Finding, tz: ZoneInfo
) -> list[EvidenceOut]:
    users = await _usernames(session, {e.uploaded_by_id for e in rows})
    return [_render(e, finding, users, tz) for e in rows]


@router.post(
    "/findings/{finding_id}/evidence",
    response_model=EvidenceOut,
    status_code=201,
    responses={
        200: {"model": EvidenceOut, "description": "the same photo was already attached"},
        413: {"description": "larger than DUBAN_EVIDENCE_MAX_BYTES"},
        415: {"description": "not a JPEG, PNG or WebP"},
        422: {"description": "too many pixels, undecodable, or a re-used after-photo"},
    },
)
async def upload_evidence(
    finding_id: uuid.UUID,
    request: Request,
    response: Response,
    caller: Caller,
    session: Session,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="the photo: JPEG, PNG or WebP")],
    kind: Annotated[EvidenceKind, Form(description="before (the problem) or after (the fix)")],
) -> EvidenceOut:
    """Attach a photo to a finding (multipart/form-data: `file`, `kind`).

    The format is read from the bytes, never from the name or declared type. Capture time and
    position come only from the photo's EXIF; the stored image is re-encoded without any
    metadata. Before-photos: the reporter or an inspector, at any time. After-photos: a
    handler of the responsible unit while the finding is accepted; a photo already attached
    to another finding is refused. Sending the same photo again answers 200 with the first."""
    data = await read_upload(request, file, settings, _FORM_FIELDS)
    evidence, created = await attach(
        session,
        finding_id,
        kind,
        data,
        caller,
        now=utcnow(),
        policy=EvidencePolicy.from_settings(settings),
        storage=make_storage(settings),
    )
    if not created:
        response.status_code = 200
    finding = await session.get(Finding, evidence.finding_id)
    assert finding is not None  # noqa: S101 - a foreign key
    (out,) = await _render_all(session, [evidence], finding, ZoneInfo(settings.timezone))
    return out


_evidence_key = CursorKey[tuple[datetime, uuid.UUID]](Timestamp, uuid.UUID)


@router.get("/findings/{finding_id}/evidence", response_model=EvidencePage)
async def get_finding_evidence(
    finding_id: uuid.UUID,
    caller: Caller,
    session: Session,
    settings: SettingsDep,
    page: PageDep,
    kind: Annotated[EvidenceKind | None, Query()] = None,
) -> EvidencePage:
    """The finding's photos (metadata and flags), oldest first."""
    finding = await visible_or_404(session, finding_id, caller)
    fetched = await list_evidence(
        session, finding.id, limit=page.limit + 1, kind=kind, after=page.after(_evidence_key)
    )
    rows, cursor = split_page(fetched, page.limit, lambda e: [e.uploaded_at.isoformat(), str(e.id)])
    items = await _render_all(session, rows, finding, ZoneInfo(settings.timezone))
    return EvidencePage(items=items, next_cursor=cursor)


@router.get(
    "/evidence/{evidence_id}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}},
)
async def get_evidence_content(
    evidence_id: uuid.UUID, caller: Caller, session: Session, settings: SettingsDep
) -> Response:
    """The stored photo (re-encoded, without metadata); 404 outside the caller's scope."""
    evidence = await visible_evidence(session, evidence_id, caller)
    if evidence is None:
        raise Problem(404, f"No evidence {evidence_id} in your scope.")
    content = await stored_bytes(
        settings,
        evidence.object_key,
        missing=f"The photo of evidence {evidence_id} is missing from storage.",
        what="photo",
    )
    extension = evidence.object_key.rsplit(".", 1)[-1]
    return Response(
        content=content,
        media_type=evidence.media_type,
        headers={
            "ETag": f'"{evidence.id}"',
            "Content-Disposition": f'inline; filename="{evidence.id}.{extension}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/findings/{finding_id}/verification", response_model=VerificationOut)
async def get_verification(
    finding_id: uuid.UUID, caller: Caller, session: Session, settings: SettingsDep
) -> VerificationOut:
    """Everything a verifier needs in one response: the finding, its before-photos, the
    after-photos of the latest submission with their flags, and who submitted when."""
    finding = await visible_or_404(session, finding_id, caller)
    tz = ZoneInfo(settings.timezone)
    view = await verification_photos(session, finding)
    before = await _render_all(session, view.before, finding, tz)
    after = await _render_all(session, view.after, finding, tz)
    submission = None
    if view.submit_event is not None:
        event = view.submit_event
        users = await _usernames(session, {event.actor_id} if event.actor_id else set())
        on_time = event.payload.get("on_time")
        submission = Submission(
            submitted_at=event.at.astimezone(tz),
            submitted_by=users.get(event.actor_id) if event.actor_id else None,
            note=event.payload.get("note"),
            on_time=on_time if isinstance(on_time, bool) else None,
        )
    refs = await load_refs(session, [finding], caller)
    return VerificationOut(
        finding=render(finding, refs, tz, utcnow()),
        before=before,
        after=after,
        flags=union_flags(view.after),
        submission=submission,
    )
