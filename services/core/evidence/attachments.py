"""Attachments on every step: photos and files a transition or a reply to a 批示 carries.

Two calls, as for a submission's after-photos: upload (`upload`: checked, stored, pending),
then name the ids in the step (`claim` by the step, `link` to its event once written). A
pending attachment belongs to its uploader and is used once. Nothing is half-stored, as for
evidence (services/core/evidence/service.py): the row is flushed before the bytes are
written under a key only it names, so a refusal, or a failure to store, leaves no row and no
object, and a commit that fails after the write leaves an object nothing names.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.evidence import files, images
from services.core.evidence.rules import may_attach_file
from services.core.evidence.service import EvidenceError, EvidencePolicy, keep, process_photo
from services.core.evidence.storage import Storage
from services.core.identity.principal import Principal
from services.core.identity.scope import visible_findings
from services.core.models import Attachment, Finding

# A step names at most this many attachments.
MAX_PER_STEP = 20


@dataclass(frozen=True)
class Content:
    """What is stored: the photo re-encoded without metadata, or the document as sent."""

    kind: str
    media_type: str
    extension: str
    data: bytes
    width: int | None = None
    height: int | None = None


async def _content(data: bytes, policy: EvidencePolicy) -> Content:
    if len(data) > policy.limits.max_bytes:
        raise EvidenceError(
            413, f"The file is larger than {policy.limits.max_bytes} bytes.", "file"
        )
    if images.sniff(data) is not None:
        photo = await process_photo(data, policy)
        return Content(
            "photo", photo.media_type, photo.extension, photo.encoded, photo.width, photo.height
        )
    try:
        doc = await asyncio.to_thread(files.sniff_document, data)
    except images.PhotoRejected as exc:
        raise EvidenceError(exc.status, exc.message, "file") from exc
    return Content("file", doc.media_type, doc.extension, data)


async def upload(
    session: AsyncSession,
    finding_id: uuid.UUID,
    name: str | None,
    data: bytes,
    principal: Principal,
    *,
    now: datetime,
    policy: EvidencePolicy,
    storage: Storage,
) -> tuple[Attachment, bool]:
    """Check and store one photo or file for a step of the finding; (it, created). The same
    bytes sent again by the same person while still pending answer the first (offline
    phones retry)."""
    refusal = may_attach_file(principal.role)
    finding = await session.scalar(
        select(Finding.id).where(Finding.id == finding_id, visible_findings(principal))
    )
    if finding is None:
        raise EvidenceError(404, f"No finding {finding_id} in your scope.")
    if refusal is not None:
        raise EvidenceError(refusal.status, refusal.reason)
    content = await _content(data, policy)
    sha256 = hashlib.sha256(data).hexdigest()
    same = await session.scalar(
        select(Attachment).where(
            Attachment.finding_id == finding_id,
            Attachment.uploaded_by_id == principal.user_id,
            Attachment.sha256 == sha256,
            Attachment.event_id.is_(None),
        )
    )
    if same is not None:
        return same, False
    attachment_id = uuid.uuid4()
    attachment = Attachment(
        id=attachment_id,
        finding_id=finding_id,
        kind=content.kind,
        name=files.clean_name(name, content.extension),
        sha256=sha256,
        object_key=f"attachments/{finding_id}/{attachment_id}.{content.extension}",
        media_type=content.media_type,
        bytes=len(content.data),
        width=content.width,
        height=content.height,
        uploaded_by_id=principal.user_id,
        uploaded_at=now,
    )
    await keep(
        session,
        attachment,
        storage,
        attachment.object_key,
        content.data,
        content.media_type,
        what="file",
    )
    return attachment, True


async def claim(
    session: AsyncSession,
    finding_id: uuid.UUID,
    ids: Sequence[uuid.UUID],
    principal: Principal,
) -> list[Attachment]:
    """The attachments a step names, in the order named: each one the caller uploaded to this
    finding and no step has used yet (locked until the step is written), else a 422."""
    wanted = list(dict.fromkeys(ids))
    if len(wanted) > MAX_PER_STEP:
        raise EvidenceError(
            422, f"A step carries at most {MAX_PER_STEP} attachments.", "attachments"
        )
    rows = (
        await session.scalars(
            select(Attachment)
            .where(
                Attachment.id.in_(wanted),
                Attachment.finding_id == finding_id,
                Attachment.uploaded_by_id == principal.user_id,
                Attachment.event_id.is_(None),
            )
            .with_for_update()
        )
    ).all()
    found = {a.id: a for a in rows}
    missing = [str(i) for i in wanted if i not in found]
    if missing:
        raise EvidenceError(
            422,
            "Not attachments you uploaded to this finding for a step still to take: "
            f"{', '.join(missing)} (POST /api/v1/findings/{finding_id}/attachments).",
            "attachments",
        )
    return [found[i] for i in wanted]


def summary(a: Attachment) -> dict[str, Any]:
    """How an attachment is recorded on the trail (the event's `attachments`)."""
    return {
        "id": str(a.id),
        "kind": a.kind,
        "name": a.name,
        "media_type": a.media_type,
        "bytes": a.bytes,
        "sha256": a.sha256,
        "href": f"/api/v1/attachments/{a.id}",
    }


async def link(session: AsyncSession, attachments: Sequence[Attachment], event_id: int) -> None:
    """The step was written as event `event_id`: its attachments are used. Flushes."""
    for a in attachments:
        a.event_id = event_id
    if attachments:
        await session.flush()


async def visible_attachment(
    session: AsyncSession, attachment_id: uuid.UUID, principal: Principal
) -> Attachment | None:
    """One attachment, if the caller may see its finding."""
    return await session.scalar(
        select(Attachment)
        .join(Finding, Finding.id == Attachment.finding_id)
        .where(Attachment.id == attachment_id, visible_findings(principal))
    )
