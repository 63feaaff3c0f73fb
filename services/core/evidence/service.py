"""Photo evidence: attaching a photo to a finding (who may, re-use checks, flags, storage),
reading it back in scope, and the after-photos a submission carries.

Nothing is half-stored. The row is inserted and flushed first, then the object is written
under a fresh key that only this row names; if writing fails the caller's transaction rolls
back, so there is no row. If the commit itself fails after the write, the object is an
orphan under a key nothing references: never served, never mistaken for evidence.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.evidence import images
from services.core.evidence.rules import may_attach
from services.core.evidence.storage import Storage, StorageError
from services.core.identity.principal import Actor, Principal
from services.core.identity.scope import visible_findings
from services.core.models import Event, Evidence, Finding, Status, Unit
from services.core.platform.errors import DomainError
from services.core.platform.settings import Settings

FLAG_EARLY = "early"
FLAG_FAR = "far"
FLAG_UNVERIFIED = "unverified_metadata"

# Decoding a 40-megapixel photo takes ~160 MB; two at a time bound the API's memory and
# leave the event loop's own thread free.
_IMAGE_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="duban-image")


class EvidenceError(DomainError):
    pass


@dataclass(frozen=True)
class EvidencePolicy:
    limits: images.Limits
    city_tz: tzinfo
    gps_tolerance_m: float

    @classmethod
    def from_settings(cls, settings: Settings) -> EvidencePolicy:
        return cls(
            limits=images.Limits(settings.evidence_max_bytes, settings.evidence_max_pixels),
            city_tz=ZoneInfo(settings.timezone),
            gps_tolerance_m=settings.gps_tolerance_m,
        )


def photo_flags(
    taken_at: datetime | None,
    gps: tuple[float, float] | None,
    *,
    dispatched_at: datetime | None,
    place: tuple[float, float],
    tolerance_m: float,
) -> list[str]:
    """What a verifier should look at twice: taken before the unit was told (`early`), taken
    elsewhere (`far`), or no capture time or position to check (`unverified_metadata`)."""
    flags = []
    if taken_at is not None and dispatched_at is not None and taken_at < dispatched_at:
        flags.append(FLAG_EARLY)
    if gps is not None and images.haversine_m(gps, place) > tolerance_m:
        flags.append(FLAG_FAR)
    if taken_at is None or gps is None:
        flags.append(FLAG_UNVERIFIED)
    return flags


async def _holds(session: AsyncSession, principal: Principal, unit_id: int | None) -> bool:
    if unit_id is None:
        return False
    path = (await session.execute(select(Unit.path).where(Unit.id == unit_id))).scalar()
    return path is not None and path.startswith(principal.unit_path)


async def _finding(
    session: AsyncSession, finding_id: uuid.UUID, principal: Principal, *, lock: bool = False
) -> Finding | None:
    stmt = select(Finding).where(Finding.id == finding_id, visible_findings(principal))
    if lock:
        # Shares with other uploads, waits for (and holds off) a transition of the finding.
        stmt = stmt.with_for_update(read=True).execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def _check_may_attach(
    session: AsyncSession, finding: Finding, kind: str, principal: Principal
) -> None:
    actor = Actor(
        principal.user_id,
        principal.role,
        holds_responsible_unit=await _holds(session, principal, finding.responsible_unit_id),
    )
    refusal = may_attach(
        kind, Status(finding.status), actor, is_reporter=finding.reporter_id == principal.user_id
    )
    if refusal is not None:
        raise EvidenceError(refusal.status, refusal.reason, "kind")


async def process_photo(data: bytes, policy: EvidencePolicy) -> images.Photo:
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(
            _IMAGE_POOL, images.process, data, policy.limits, policy.city_tz
        )
    except images.PhotoRejected as exc:
        raise EvidenceError(exc.status, exc.message, "file") from exc


async def lock_photo(session: AsyncSession, sha256: str, space: int) -> None:
    """One photo, one decision: concurrent uploads of the same bytes queue here until the
    transaction ends. `space` keeps a finding's evidence (0) apart from the photos of
    progress reports and inspections (1)."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:sha, :space))"),
        {"sha": sha256, "space": space},
    )


async def keep(
    session: AsyncSession,
    row: object,
    storage: Storage,
    key: str,
    data: bytes,
    media_type: str,
    *,
    what: str = "photo",
) -> None:
    """Insert the row, then write its bytes under the key only it names (nothing is
    half-stored, see above); a storage failure is a 503 and the caller's rollback drops the
    row."""
    session.add(row)
    await session.flush()
    try:
        await storage.put(key, data, media_type)
    except StorageError as exc:
        raise EvidenceError(503, f"The {what} could not be stored ({exc}); retry.") from exc


async def attach(
    session: AsyncSession,
    finding_id: uuid.UUID,
    kind: str,
    data: bytes,
    principal: Principal,
    *,
    now: datetime,
    policy: EvidencePolicy,
    storage: Storage,
) -> tuple[Evidence, bool]:
    """Attach one photo; returns (the evidence, created). Sending the same photo again for
    the same finding and kind is a replay (offline phones retry) and returns the first."""
    finding = await _finding(session, finding_id, principal)
    if finding is None:
        raise EvidenceError(404, f"No finding {finding_id} in your scope.")
    # Refuse early, before spending CPU on the image; checked again under the lock below.
    await _check_may_attach(session, finding, kind, principal)
    photo = await process_photo(data, policy)

    await lock_photo(session, photo.sha256, space=0)
    finding = await _finding(session, finding_id, principal, lock=True)
    if finding is None:
        raise EvidenceError(404, f"No finding {finding_id} in your scope.")
    await _check_may_attach(session, finding, kind, principal)

    same = (
        await session.execute(
            select(Evidence).where(
                Evidence.finding_id == finding.id, Evidence.sha256 == photo.sha256
            )
        )
    ).scalar()
    if same is not None:
        if same.kind == kind:
            return same, False
        raise EvidenceError(
            422, f"This photo is already a {same.kind}-photo of this finding.", "file"
        )
    if kind == "after":
        await _refuse_reuse(session, finding.id, photo.sha256, principal)

    flags = (
        photo_flags(
            photo.taken_at,
            photo.gps,
            dispatched_at=finding.dispatched_at,
            place=(finding.lat, finding.lon),
            tolerance_m=policy.gps_tolerance_m,
        )
        if kind == "after"
        else []
    )
    evidence_id = uuid.uuid4()
    evidence = Evidence(
        id=evidence_id,
        finding_id=finding.id,
        kind=kind,
        sha256=photo.sha256,
        object_key=f"evidence/{finding.id}/{evidence_id}.{photo.extension}",
        media_type=photo.media_type,
        bytes=len(photo.encoded),
        width=photo.width,
        height=photo.height,
        taken_at=photo.taken_at,
        gps_lat=photo.gps[0] if photo.gps else None,
        gps_lon=photo.gps[1] if photo.gps else None,
        flags=flags,
        uploaded_by_id=principal.user_id,
        uploaded_at=now,
    )
    await keep(session, evidence, storage, evidence.object_key, photo.encoded, photo.media_type)
    return evidence, True


async def _refuse_reuse(
    session: AsyncSession, finding_id: uuid.UUID, sha256: str, principal: Principal
) -> None:
    """An after-photo that already documents another finding proves nothing here."""
    others = list(
        (
            await session.execute(
                select(Evidence.finding_id)
                .where(Evidence.sha256 == sha256, Evidence.finding_id != finding_id)
                .distinct()
            )
        ).scalars()
    )
    if not others:
        return
    seen = (
        await session.execute(
            select(Finding.id)
            .where(Finding.id.in_(others), visible_findings(principal))
            .order_by(Finding.id)
            .limit(1)
        )
    ).scalar()
    where = f"finding {seen}" if seen is not None else "another finding"
    raise EvidenceError(
        422, f"This photo is already attached to {where}; take a new after-photo.", "file"
    )


async def visible_evidence(
    session: AsyncSession, evidence_id: uuid.UUID, principal: Principal
) -> Evidence | None:
    """One photo, if the caller may see its finding."""
    return (
        await session.execute(
            select(Evidence)
            .join(Finding, Finding.id == Evidence.finding_id)
            .where(Evidence.id == evidence_id, visible_findings(principal))
        )
    ).scalar_one_or_none()


async def list_evidence(
    session: AsyncSession,
    finding_id: uuid.UUID,
    *,
    limit: int,
    kind: str | None = None,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> list[Evidence]:
    """A finding's photos, oldest first (the caller has checked the finding's scope)."""
    stmt = select(Evidence).where(Evidence.finding_id == finding_id)
    if kind is not None:
        stmt = stmt.where(Evidence.kind == kind)
    if after is not None:
        stmt = stmt.where(
            func.row(Evidence.uploaded_at, Evidence.id) > func.row(after[0], after[1])
        )
    stmt = stmt.order_by(Evidence.uploaded_at, Evidence.id).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def _held_since(session: AsyncSession, finding_id: uuid.UUID) -> datetime | None:
    """When the unit last took the finding on: its latest accept, or the latest rejection
    that sent it back."""
    return (
        await session.execute(
            select(func.max(Event.at)).where(
                Event.finding_id == finding_id, Event.action.in_(("accept", "reject"))
            )
        )
    ).scalar()


async def pending_after_photos(session: AsyncSession, finding: Finding) -> list[Evidence]:
    """After-photos uploaded since the unit last took the finding on: what a submit carries."""
    stmt = select(Evidence).where(Evidence.finding_id == finding.id, Evidence.kind == "after")
    since = await _held_since(session, finding.id)
    if since is not None:
        stmt = stmt.where(Evidence.uploaded_at >= since)
    return list((await session.execute(stmt.order_by(Evidence.uploaded_at, Evidence.id))).scalars())


async def submission_photos(
    session: AsyncSession, finding: Finding, chosen: Sequence[uuid.UUID] | None
) -> tuple[list[Evidence], list[uuid.UUID]]:
    """The after-photos of a submission: the ones named, or all pending ones. Returns them
    and the named ids that are not pending after-photos of this finding."""
    pending = await pending_after_photos(session, finding)
    if not chosen:
        return pending, []
    by_id = {e.id: e for e in pending}
    picked = [by_id[i] for i in dict.fromkeys(chosen) if i in by_id]
    return picked, [i for i in chosen if i not in by_id]


def summary(evidence: Evidence) -> dict[str, Any]:
    """How a photo is recorded in the audit trail of the submission."""
    return {
        "id": str(evidence.id),
        "sha256": evidence.sha256,
        "taken_at": evidence.taken_at.isoformat() if evidence.taken_at else None,
        "gps": [evidence.gps_lat, evidence.gps_lon] if evidence.gps_lat is not None else None,
        "flags": list(evidence.flags),
    }


def union_flags(photos: Sequence[Evidence]) -> list[str]:
    return sorted({flag for photo in photos for flag in photo.flags})


@dataclass(frozen=True)
class Verification:
    before: list[Evidence]
    after: list[Evidence]
    submit_event: Event | None  # the latest submission, if any


async def verification_photos(session: AsyncSession, finding: Finding) -> Verification:
    """Everything a verifier compares: the before-photos and the after-photos of the latest
    submission (or, before any submission, the ones uploaded so far)."""
    rows = list(
        (
            await session.execute(
                select(Evidence)
                .where(Evidence.finding_id == finding.id)
                .order_by(Evidence.uploaded_at, Evidence.id)
            )
        ).scalars()
    )
    before = [e for e in rows if e.kind == "before"]
    submit = (
        await session.execute(
            select(Event)
            .where(Event.finding_id == finding.id, Event.action == "submit")
            .order_by(Event.id.desc())
            .limit(1)
        )
    ).scalar()
    if submit is not None and finding.status in (Status.SUBMITTED, Status.CLOSED):
        ids = {_evidence_id(item) for item in submit.payload.get("evidence") or []}
        after = [e for e in rows if e.kind == "after" and str(e.id) in ids]
    else:
        after = await pending_after_photos(session, finding)
    return Verification(before=before, after=after, submit_event=submit)


def _evidence_id(item: object) -> str:
    if isinstance(item, dict):
        return str(item.get("id"))
    return str(item)
