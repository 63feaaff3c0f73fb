"""Attachments on every step: upload a photo or a file (PDF, Word, Excel) for a transition or
a reply to a 批示, and read it back in scope (services/core/evidence/attachments.py)."""

from __future__ import annotations

import uuid
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, File, Request, Response, UploadFile

from services.core.evidence.attachments import upload, visible_attachment
from services.core.evidence.service import EvidencePolicy
from services.core.evidence.storage import make_storage
from services.core.models import Attachment

from ..deps import Caller, Session, SettingsDep, utcnow
from ..problems import Problem
from ..schemas.evidence import AttachmentOut
from ..uploads import read_upload, stored_bytes
from ..xlsx import attachment as disposition

router = APIRouter(tags=["evidence"])


def render(a: Attachment, uploaded_by: str, tz: ZoneInfo) -> AttachmentOut:
    return AttachmentOut(
        id=a.id,
        finding_id=a.finding_id,
        kind="photo" if a.kind == "photo" else "file",
        name=a.name,
        media_type=a.media_type,
        bytes=a.bytes,
        width=a.width,
        height=a.height,
        sha256=a.sha256,
        uploaded_by=uploaded_by,
        uploaded_at=a.uploaded_at.astimezone(tz),
        used=a.event_id is not None,
        links={
            "content": f"/api/v1/attachments/{a.id}",
            "finding": f"/api/v1/findings/{a.finding_id}",
        },
    )


@router.post(
    "/findings/{finding_id}/attachments",
    response_model=AttachmentOut,
    status_code=201,
    responses={
        200: {"model": AttachmentOut, "description": "the same bytes were already uploaded"},
        413: {"description": "larger than DUBAN_EVIDENCE_MAX_BYTES"},
        415: {"description": "not a PDF, .docx, .xlsx, JPEG, PNG or WebP (or with macros)"},
        422: {"description": "a broken photo or document"},
    },
)
async def upload_attachment(
    finding_id: uuid.UUID,
    request: Request,
    response: Response,
    caller: Caller,
    session: Session,
    settings: SettingsDep,
    file: Annotated[
        UploadFile, File(description="a PDF, Word (.docx) or Excel (.xlsx) file, or a photo")
    ],
) -> AttachmentOut:
    """Upload a photo or a file for a step (multipart/form-data: `file`), then name its id in
    the step: `attachments` of POST /findings/{id}/transitions (any action) or of POST
    /escalations/{id}/acknowledge. What it is is read from the bytes, never from the name;
    photos are re-encoded without metadata like evidence. Until a step names it, only its
    uploader may use it; the same bytes again answer 200 with the first upload."""
    data = await read_upload(request, file, settings, frozenset({"file"}))
    found, created = await upload(
        session,
        finding_id,
        file.filename,
        data,
        caller,
        now=utcnow(),
        policy=EvidencePolicy.from_settings(settings),
        storage=make_storage(settings),
    )
    if not created:
        response.status_code = 200
    return render(found, caller.username, ZoneInfo(settings.timezone))


@router.get(
    "/attachments/{attachment_id}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def get_attachment(
    attachment_id: uuid.UUID, caller: Caller, session: Session, settings: SettingsDep
) -> Response:
    """The stored photo or file, as a download; 404 outside the caller's scope."""
    found = await visible_attachment(session, attachment_id, caller)
    if found is None:
        raise Problem(404, f"No attachment {attachment_id} in your scope.")
    content = await stored_bytes(
        settings,
        found.object_key,
        missing=f"Attachment {attachment_id} is missing from storage.",
        what="file",
    )
    stem, extension = found.name.rsplit(".", 1)
    return Response(
        content=content,
        media_type=found.media_type,
        headers={
            "ETag": f'"{found.id}"',
            "Content-Disposition": disposition(str(found.id), stem, extension),
            "X-Content-Type-Options": "nosniff",
        },
    )
