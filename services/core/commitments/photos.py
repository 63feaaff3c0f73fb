"""Photos of a progress report, kept as a finding's evidence is (services.core.evidence): the
format read from the bytes, re-encoded without metadata, stored by the same storage. Sending
the same photo again for the same report is a replay (phones retry)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.commitments import rules
from services.core.commitments.queries import visible_commitments
from services.core.evidence.service import EvidencePolicy, keep, lock_photo, process_photo
from services.core.evidence.storage import Storage
from services.core.identity.principal import Principal
from services.core.models import Commitment, CommitmentPhoto, CommitmentProgress, Unit
from services.core.platform.errors import Conflict, DomainError, NotFound


async def _report(
    session: AsyncSession, principal: Principal, cid: int, progress_id: int
) -> tuple[CommitmentProgress, str]:
    """The report of a commitment in the caller's scope, and its unit's path; 404 else."""
    found = (
        await session.execute(
            select(CommitmentProgress, Unit.path)
            .join(Commitment, Commitment.id == CommitmentProgress.commitment_id)
            .join(Unit, Unit.id == Commitment.unit_id)
            .where(
                CommitmentProgress.id == progress_id,
                Commitment.id == cid,
                visible_commitments(principal),
            )
        )
    ).first()
    if found is None:
        raise NotFound(f"No progress report {progress_id} of commitment {cid}.")
    return found[0], found[1]


async def attach_photo(
    session: AsyncSession,
    cid: int,
    progress_id: int,
    data: bytes,
    principal: Principal,
    *,
    now: datetime,
    policy: EvidencePolicy,
    storage: Storage,
) -> tuple[CommitmentPhoto, bool]:
    """A photo of the unit's report while the office has not reviewed it; (photo, created)."""
    report, unit_path = await _report(session, principal, cid, progress_id)
    if not rules.may_report(principal, unit_path):
        raise DomainError(403, "Only a handler or leader of the unit adds its photos.")
    if report.review != "pending":
        raise Conflict("The report was reviewed: add photos to a new report.")
    photo = await process_photo(data, policy)
    await lock_photo(session, photo.sha256, space=1)
    same = await session.scalar(
        select(CommitmentPhoto).where(
            CommitmentPhoto.progress_id == report.id, CommitmentPhoto.sha256 == photo.sha256
        )
    )
    if same is not None:
        return same, False
    photo_id = uuid.uuid4()
    row = CommitmentPhoto(
        id=photo_id, progress_id=report.id, sha256=photo.sha256,
        object_key=f"commitments/{cid}/{report.id}/{photo_id}.{photo.extension}",
        media_type=photo.media_type, bytes=len(photo.encoded), width=photo.width,
        height=photo.height, uploaded_at=now,
    )  # fmt: skip
    await keep(session, row, storage, row.object_key, photo.encoded, photo.media_type)
    return row, True


async def photos_of(
    session: AsyncSession, progress_ids: list[int]
) -> dict[int, list[CommitmentPhoto]]:
    out: dict[int, list[CommitmentPhoto]] = {}
    rows = await session.scalars(
        select(CommitmentPhoto)
        .where(CommitmentPhoto.progress_id.in_(progress_ids))
        .order_by(CommitmentPhoto.uploaded_at, CommitmentPhoto.id)
    )
    for p in rows:
        out.setdefault(p.progress_id, []).append(p)
    return out


async def visible_photo(
    session: AsyncSession, principal: Principal, cid: int, progress_id: int, photo_id: uuid.UUID
) -> CommitmentPhoto:
    await _report(session, principal, cid, progress_id)
    found = await session.scalar(
        select(CommitmentPhoto).where(
            CommitmentPhoto.id == photo_id, CommitmentPhoto.progress_id == progress_id
        )
    )
    if found is None:
        raise NotFound(f"No photo {photo_id} of this report.")
    return found
