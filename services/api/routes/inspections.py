"""Inspections (a visit to an evaluation point) from the phone app: offline like reports,
idempotent by the client's id; each fail becomes an ordinary finding."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, File, Query, Request, Response, UploadFile
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.evidence.service import EvidencePolicy
from services.core.evidence.storage import make_storage
from services.core.inspection.inspections import NewInspection, NewItem, record
from services.core.inspection.photos import attach_photo, photos_of
from services.core.inspection.queries import (
    InspectionRow,
    inspection,
    inspection_row,
    inspections_page,
    results_of,
)
from services.core.models import InspectionPhoto
from services.core.platform.errors import Conflict
from services.core.sync.queries import current_snapshot
from services.core.sync.rules import Token
from services.core.sync.service import inspections_page as sync_inspections

from ..deps import Caller, Ref, Session, SettingsDep, utcnow
from ..pagination import CursorKey, PageDep, split_page
from ..schemas.inspection import (
    InspectionCreate,
    InspectionLocation,
    InspectionOut,
    InspectionPage,
    InspectionPhotoList,
    InspectionPhotoOut,
    ResultOut,
)
from ..schemas.wire import Code, Timestamp
from ..sync import UpdatedSince, sync_token
from ..uploads import read_upload
from .findings import make_clock

router = APIRouter(tags=["inspection"])
inspection_key = CursorKey[tuple[datetime, uuid.UUID]](Timestamp, uuid.UUID)


async def render_inspection(
    session: AsyncSession, row: InspectionRow, tz: ZoneInfo, *, with_results: bool
) -> InspectionOut:
    i = row.inspection
    results = (
        [
            ResultOut(criterion=c, name=n, outcome=o, finding=f, note=note)
            for c, n, o, f, note in await results_of(session, i.id)
        ]
        if with_results
        else None
    )
    return InspectionOut(
        id=i.id,
        point=row.point_code,
        inspector=row.inspector,
        criteria_set=row.criteria_set,
        observed_at=i.observed_at.astimezone(tz),
        recorded_at=i.recorded_at.astimezone(tz),
        location=InspectionLocation(lat=i.lat, lon=i.lon),
        distance_m=i.distance_m,
        flags=i.flags,
        passed=i.passed,
        failed=i.failed,
        not_applicable=i.not_applicable,
        nothing_found=i.failed == 0,
        task=i.task_id,
        note=i.note,
        results=results,
    )


@router.post(
    "/inspections",
    response_model=InspectionOut,
    status_code=201,
    responses={
        200: {"description": "an identical replay: nothing changed"},
        409: {"description": "the id is another inspection's"},
    },
)
async def post_inspection(
    body: InspectionCreate,
    caller: Caller,
    session: Session,
    settings: SettingsDep,
    ref: Ref,
    response: Response,
) -> InspectionOut:
    """Record a visit: every applicable field check of the criteria answered pass, fail or na.
    Each fail becomes a finding (source inspection, at the point, under the check's category)
    routed and escalated like any other; no fail is the complete record that nothing was
    found. The position is checked against the point (flag `far`, as for photos). The open
    task of the point whose window holds the visit is done. Replaying the same body with the
    same id answers 200 and changes nothing."""
    new = NewInspection(
        id=body.id or uuid.uuid4(),
        point=body.point,
        observed_at=body.observed_at,
        lat=body.location.lat,
        lon=body.location.lon,
        items=[NewItem(**i.model_dump()) for i in body.items],
        criteria_set=body.criteria_set,
        note=body.note,
        canonical=body.model_dump(mode="json", exclude={"id"}),
    )
    recorded = await record(
        session, new, caller, make_clock(ref, settings), ref,
        tolerance_m=settings.gps_tolerance_m,
        recurrence_window=timedelta(days=settings.recurrence_window_days),
    )  # fmt: skip
    if recorded.outcome == "conflict":
        raise Conflict(f"The id {new.id} belongs to another inspection.")
    tz = ZoneInfo(settings.timezone)
    if recorded.outcome == "replayed" or recorded.results is None:
        response.status_code = 200
        row = await inspection_row(session, recorded.inspection.id)
        return await render_inspection(session, row, tz, with_results=True)
    # Just written: the answer is made of what was written, nothing is read back.
    row = InspectionRow(
        recorded.inspection, body.point, caller.username, recorded.criteria_set or ""
    )
    out = await render_inspection(session, row, tz, with_results=False)
    out.results = [
        ResultOut(criterion=c, name=n, outcome=o, finding=f, note=note)
        for c, n, o, f, note in recorded.results
    ]
    return out


@router.get("/inspections", response_model=InspectionPage)
async def list_inspections(
    caller: Caller,
    session: Session,
    settings: SettingsDep,
    page: PageDep,
    point: Annotated[Code | None, Query()] = None,
    district: Annotated[Code | None, Query()] = None,
    since: Annotated[Timestamp | None, Query()] = None,
    until: Annotated[Timestamp | None, Query()] = None,
    updated_since: UpdatedSince = None,
) -> InspectionPage:
    """Inspections newest first: the caller's own and those at the points of their subtree.
    With `updated_since`, a phone's sync as on GET /findings: the inspections written since
    (the other filters do not apply)."""
    tz = ZoneInfo(settings.timezone)
    if updated_since is not None:
        found = await sync_inspections(
            session, caller, sync_token(updated_since, page.cursor), page.limit
        )
        return InspectionPage(
            items=[
                await render_inspection(session, r, tz, with_results=False) for r in found.changed
            ],
            next_cursor=found.next_page.encode() if found.next_page else None,
            sync_cursor=found.next_sync.encode() if found.next_sync else None,
        )
    start = None if page.cursor is not None else Token(await current_snapshot(session))
    rows = await inspections_page(
        session, caller, point_code=point, district=district, since=since, until=until,
        after=page.after(inspection_key), limit=page.limit + 1,
    )  # fmt: skip
    items, cursor = split_page(
        rows, page.limit, lambda r: [r.inspection.observed_at.isoformat(), str(r.inspection.id)]
    )
    return InspectionPage(
        items=[await render_inspection(session, r, tz, with_results=False) for r in items],
        next_cursor=cursor,
        sync_cursor=start.encode() if start else None,
    )


@router.get("/inspections/{inspection_id}", response_model=InspectionOut)
async def get_inspection(
    inspection_id: uuid.UUID, caller: Caller, session: Session, settings: SettingsDep
) -> InspectionOut:
    row = await inspection(session, caller, inspection_id)
    return await render_inspection(session, row, ZoneInfo(settings.timezone), with_results=True)


def _photo_out(p: InspectionPhoto, tz: ZoneInfo) -> InspectionPhotoOut:
    gps = (
        InspectionLocation(lat=p.gps_lat, lon=p.gps_lon)
        if p.gps_lat is not None and p.gps_lon is not None
        else None
    )
    return InspectionPhotoOut(
        id=p.id, sha256=p.sha256, media_type=p.media_type, bytes=p.bytes, gps=gps,
        flags=p.flags, uploaded_at=p.uploaded_at.astimezone(tz),
    )  # fmt: skip


@router.post(
    "/inspections/{inspection_id}/photos",
    response_model=InspectionPhotoOut,
    status_code=201,
    responses={
        200: {"description": "the same photo was already attached"},
        413: {"description": "larger than DUBAN_EVIDENCE_MAX_BYTES"},
        415: {"description": "not a JPEG, PNG or WebP"},
    },
)
async def post_inspection_photo(
    inspection_id: uuid.UUID,
    request: Request,
    response: Response,
    caller: Caller,
    session: Session,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="the photo: JPEG, PNG or WebP")],
) -> InspectionPhotoOut:
    """Attach a photo to one of the caller's inspections (multipart/form-data `file`): kept
    like a finding's evidence; its EXIF position is checked against the point (flag `far`).
    Sending the same photo again answers 200 with the first."""
    data = await read_upload(request, file, settings, frozenset({"file"}))
    photo, created = await attach_photo(
        session, inspection_id, data, caller, now=utcnow(),
        policy=EvidencePolicy.from_settings(settings), storage=make_storage(settings),
    )  # fmt: skip
    if not created:
        response.status_code = 200
    return _photo_out(photo, ZoneInfo(settings.timezone))


@router.get("/inspections/{inspection_id}/photos", response_model=InspectionPhotoList)
async def get_inspection_photos(
    inspection_id: uuid.UUID, caller: Caller, session: Session, settings: SettingsDep
) -> InspectionPhotoList:
    """The photos of an inspection the caller may see (404 otherwise)."""
    await inspection(session, caller, inspection_id)
    tz = ZoneInfo(settings.timezone)
    return InspectionPhotoList(
        items=[_photo_out(p, tz) for p in await photos_of(session, inspection_id)]
    )
