"""The commitments ledger's use cases: the campaign office records a meeting and each unit's
commitments; the unit reports its progress; the office reviews each report, and accepting
one at 100 % is what makes the commitment done. Use cases flush, never commit."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.commitments import rules, store
from services.core.commitments.queries import visible_commitments
from services.core.escalation.rules import Timetable
from services.core.findings.rules import Clock
from services.core.identity.principal import Principal
from services.core.models import (
    Commitment,
    CommitmentFinding,
    CommitmentProgress,
    ExposureVideo,
    Finding,
    Meeting,
    MeetingVideo,
    Unit,
)
from services.core.platform.errors import Conflict, DomainError, InvalidInput, NotFound


def _office_only(principal: Principal) -> None:
    if not rules.is_office(principal):
        raise DomainError(403, "Only the campaign office keeps the commitments ledger.")


@dataclass(frozen=True)
class NewMeeting:
    held_on: date
    title: str
    kind: str
    videos: Sequence[uuid.UUID] = ()


async def create_meeting(
    session: AsyncSession, new: NewMeeting, principal: Principal, clock: Clock
) -> Meeting:
    _office_only(principal)
    wanted = set(new.videos)
    found = set(await session.scalars(select(ExposureVideo.id).where(ExposureVideo.id.in_(wanted))))
    if wanted - found:
        missing = ", ".join(sorted(str(v) for v in wanted - found))
        raise InvalidInput([("videos", f"no exposure video {missing}")])
    meeting = Meeting(
        held_on=new.held_on, title=new.title, kind=new.kind, created_by_id=principal.user_id,
        created_at=clock.now,
    )  # fmt: skip
    session.add(meeting)
    await session.flush()
    session.add_all(MeetingVideo(meeting_id=meeting.id, video_id=v) for v in sorted(wanted))
    await session.flush()
    return meeting


@dataclass(frozen=True)
class NewCommitment:
    unit: str
    status_quo: str
    problems: str
    targets: str
    measures: str
    deadline: Mapping[str, Any]
    findings: Sequence[uuid.UUID] = field(default_factory=tuple)


async def add_commitment(
    session: AsyncSession, meeting_id: int, new: NewCommitment, principal: Principal, clock: Clock
) -> Commitment:
    """A unit's commitment at a meeting, its deadline on the working-day calendar, its
    leader the head of the unit now, its ladder the `commitment` policy (or the default)."""
    _office_only(principal)
    meeting = await session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFound(f"No meeting {meeting_id}.")
    errors: list[tuple[str, str]] = []
    unit = await session.scalar(select(Unit).where(Unit.code == new.unit))
    if unit is None:
        errors.append(("unit", f"no unit {new.unit!r}"))
    deadline, problems = rules.parse_deadline(new.deadline)
    errors += problems
    due = rules.due_at(deadline, meeting.held_on, clock.city) if deadline else None
    if due is not None:
        errors += rules.deadline_errors(due, meeting.held_on, clock.tz)
    wanted = set(new.findings)
    if unit is not None and wanted:
        subtree = select(Unit.id).where(Unit.path.startswith(unit.path, autoescape=True))
        held = set(
            await session.scalars(
                select(Finding.id).where(
                    Finding.id.in_(wanted),
                    Finding.responsible_unit_id.in_(subtree) | Finding.place_unit_id.in_(subtree),
                )
            )
        )
        if wanted - held:
            errors.append(("findings", "every finding must be one of the unit's"))
    if errors or unit is None or deadline is None or due is None:
        raise InvalidInput(errors)
    leader = await store.head_of(session, unit.id, clock.now)
    plan = await store.ladder(session, rules.POLICY_CODE, rules.DEFAULT_LADDER)
    table = Timetable.of(plan, due, clock.city)
    commitment = Commitment(
        meeting_id=meeting.id, unit_id=unit.id, district_id=await store.district_of(session, unit),
        status_quo=new.status_quo, problems=new.problems, targets=new.targets,
        measures=new.measures, deadline=deadline.to_json(), due_at=due,
        leader_person_id=leader.id if leader else None,
        leader_name=leader.name if leader else None,
        leader_title=leader.title if leader else None,
        escalation_plan=plan.to_json(),
        next_escalation_at=table.next_time(dispatched_at=None, fired=(), reminded=True),
        created_by_id=principal.user_id, created_at=clock.now,
    )  # fmt: skip
    session.add(commitment)
    await session.flush()
    session.add_all(
        CommitmentFinding(commitment_id=commitment.id, finding_id=f) for f in sorted(wanted)
    )
    await session.flush()
    return commitment


async def visible(session: AsyncSession, principal: Principal, cid: int) -> Commitment:
    """The commitment, locked for a change; 404 outside the caller's scope."""
    found = await session.scalar(
        select(Commitment)
        .where(Commitment.id == cid, visible_commitments(principal))
        .with_for_update()
    )
    if found is None:
        raise NotFound(f"No commitment {cid}.")
    return found


async def report_progress(
    session: AsyncSession,
    cid: int,
    content: str,
    percent: int,
    principal: Principal,
    clock: Clock,
) -> CommitmentProgress:
    """The unit's report: what was done, how far (percent). Waits for the office's review."""
    commitment = await visible(session, principal, cid)
    unit_path = await session.scalar(select(Unit.path).where(Unit.id == commitment.unit_id))
    if not rules.may_report(principal, unit_path or ""):
        raise DomainError(403, "Only a handler or leader of the unit reports its progress.")
    if commitment.accepted_at is not None:
        raise Conflict("The commitment is done: the campaign office accepted it.")
    report = CommitmentProgress(
        commitment_id=cid, content=content, percent=percent, reported_by_id=principal.user_id,
        reported_at=clock.now, review="pending",
    )  # fmt: skip
    session.add(report)
    await session.flush()
    return report


async def review_progress(
    session: AsyncSession,
    cid: int,
    progress_id: int,
    accept: bool,
    note: str | None,
    principal: Principal,
    clock: Clock,
) -> tuple[Commitment, CommitmentProgress]:
    """The office accepts a report (its percent becomes the commitment's; at 100 % the
    commitment is done and its ladder stops) or returns it with a note."""
    _office_only(principal)
    commitment = await visible(session, principal, cid)
    report = await session.scalar(
        select(CommitmentProgress)
        .where(CommitmentProgress.id == progress_id, CommitmentProgress.commitment_id == cid)
        .with_for_update()
    )
    if report is None:
        raise NotFound(f"No progress report {progress_id} of commitment {cid}.")
    if report.review != "pending":
        raise Conflict(f"The report was already reviewed ({report.review}).")
    if not accept and not note:
        raise InvalidInput([("note", "say why the report is returned")])
    report.review = "accepted" if accept else "returned"
    report.reviewed_by_id, report.reviewed_at, report.review_note = (
        principal.user_id, clock.now, note,
    )  # fmt: skip
    if accept and commitment.accepted_at is None:
        commitment.percent = report.percent
        if rules.accepts(report.review, report.percent):
            commitment.accepted_at = clock.now
            commitment.accepted_by_id = principal.user_id
            commitment.next_escalation_at = None
        commitment.version += 1
    await session.flush()
    return commitment, report
