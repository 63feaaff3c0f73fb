"""Photos taken at an inspection, kept as a finding's evidence is: the format read from the
bytes, capture time and position only from EXIF, re-encoded without metadata, stored by the
same storage; a position beyond the GPS tolerance of the point is flagged `far`. Sending the
same photo again for the same inspection is a replay (offline phones retry)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.evidence.service import (
    EvidenceError,
    EvidencePolicy,
    keep,
    lock_photo,
    photo_flags,
    process_photo,
)
from services.core.evidence.storage import Storage
from services.core.identity.principal import Principal
from services.core.models import EvaluationPoint, Inspection, InspectionPhoto


async def attach_photo(
    session: AsyncSession,
    inspection_id: uuid.UUID,
    data: bytes,
    inspector: Principal,
    *,
    now: datetime,
    policy: EvidencePolicy,
    storage: Storage,
) -> tuple[InspectionPhoto, bool]:
    """Attach one photo to the caller's own inspection; (the photo, created)."""
    found = (
        await session.execute(
            select(Inspection, EvaluationPoint.lat, EvaluationPoint.lon)
            .join(EvaluationPoint, EvaluationPoint.id == Inspection.point_id)
            .where(Inspection.id == inspection_id, Inspection.inspector_id == inspector.user_id)
        )
    ).first()
    if found is None:
        raise EvidenceError(404, f"No inspection {inspection_id} of yours.")
    inspection, lat, lon = found
    photo = await process_photo(data, policy)
    await lock_photo(session, photo.sha256, space=1)
    same = await session.scalar(
        select(InspectionPhoto).where(
            InspectionPhoto.inspection_id == inspection.id, InspectionPhoto.sha256 == photo.sha256
        )
    )
    if same is not None:
        return same, False
    flags = photo_flags(
        photo.taken_at, photo.gps, dispatched_at=None, place=(lat, lon),
        tolerance_m=policy.gps_tolerance_m,
    )  # fmt: skip
    photo_id = uuid.uuid4()
    row = InspectionPhoto(
        id=photo_id,
        inspection_id=inspection.id,
        sha256=photo.sha256,
        object_key=f"inspections/{inspection.id}/{photo_id}.{photo.extension}",
        media_type=photo.media_type,
        bytes=len(photo.encoded),
        gps_lat=photo.gps[0] if photo.gps else None,
        gps_lon=photo.gps[1] if photo.gps else None,
        flags=flags,
        uploaded_at=now,
    )
    await keep(session, row, storage, row.object_key, photo.encoded, photo.media_type)
    return row, True


async def photos_of(session: AsyncSession, inspection_id: uuid.UUID) -> list[InspectionPhoto]:
    return list(
        await session.scalars(
            select(InspectionPhoto)
            .where(InspectionPhoto.inspection_id == inspection_id)
            .order_by(InspectionPhoto.uploaded_at, InspectionPhoto.id)
        )
    )
