"""The use cases: a ledger per person or per post, 问责 records, a 批示's follow-up deadline.
Sessions are flushed, never committed: the request commits."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.accountability import pack, queries
from services.core.accountability.queries import RecordView, Tenure
from services.core.accountability.rules import (
    RECORD_WRITER,
    Figures,
    Share,
    by_holder,
    by_post,
    figures,
    may_read_ledger,
    shares,
)
from services.core.calendar.deadlines import CityClock
from services.core.escalation.acknowledge import may_acknowledge
from services.core.escalation.queries import visible_escalations
from services.core.evidence.storage import Storage
from services.core.identity.principal import Principal
from services.core.identity.store import Operator, record
from services.core.models import (
    AccountabilityLink,
    AccountabilityRecord,
    Commitment,
    Escalation,
    InstructionFollowUp,
    Person,
    Unit,
)
from services.core.platform.errors import DomainError, NotFound

MAX_SUMMARY = 4000
MAX_LINKS = 200


class AccountabilityError(DomainError):
    pass


@dataclass(frozen=True)
class Ledger:
    """A person's or a post's ledger over [since, until): the totals, the same split per
    post held (a person's) or per holder (a post's), and the tenures behind them."""

    subject: str  # person | post
    name: str
    since: datetime
    until: datetime
    totals: Figures
    shares: list[Share]
    tenures: list[Tenure]


def _check_period(since: datetime, until: datetime) -> None:
    if until <= since:
        raise AccountabilityError(422, "until must be later than since.", "until")


async def person_ledger(
    session: AsyncSession,
    principal: Principal,
    person_id: int,
    since: datetime,
    until: datetime,
    clock: CityClock,
    now: datetime,
) -> Ledger:
    """404 for anyone but the ledger's readers and the person themselves."""
    _check_period(since, until)
    person = await session.get(Person, person_id)
    if person is None or not may_read_ledger(principal, person_id):
        raise NotFound(f"No ledger of person {person_id} in your scope.")
    rows = await queries.ledger_of_person(session, person_id, since, until)
    pledges = await queries.commitment_ledger_of_person(session, person_id, since, until)
    return Ledger(
        "person",
        person.name,
        since,
        until,
        figures(rows, clock, now, pledges),
        shares(rows, by_post, clock, now, pledges),
        await queries.posts_of_person(session, person_id),
    )


async def post_ledger(
    session: AsyncSession,
    unit_code: str,
    role: str,
    since: datetime,
    until: datetime,
    clock: CityClock,
    now: datetime,
) -> Ledger:
    """The caller is one of the ledger's readers (the route checks the role)."""
    _check_period(since, until)
    unit = await session.scalar(select(Unit).where(Unit.code == unit_code))
    if unit is None:
        raise NotFound(f"No unit {unit_code!r}.")
    rows = await queries.ledger_of_post(session, unit.id, role, since, until)
    pledges = await queries.commitment_ledger_of_post(session, unit.id, role, since, until)
    return Ledger(
        "post",
        f"{unit.name} {role}",
        since,
        until,
        figures(rows, clock, now, pledges),
        shares(rows, by_holder, clock, now, pledges),
        await queries.post_history(session, unit.id, role),
    )


async def _subject(
    session: AsyncSession, person_id: int | None, unit_code: str | None
) -> tuple[int | None, int | None]:
    if person_id is None and unit_code is None:
        raise AccountabilityError(422, "A record is against a person or a unit.", "person")
    if person_id is not None and await session.get(Person, person_id) is None:
        raise AccountabilityError(422, f"No person {person_id}.", "person")
    unit_id = None
    if unit_code is not None:
        unit_id = await session.scalar(select(Unit.id).where(Unit.code == unit_code))
        if unit_id is None:
            raise AccountabilityError(422, f"No unit {unit_code!r}.", "unit")
    return person_id, unit_id


async def create_record(
    session: AsyncSession,
    principal: Principal,
    *,
    action: str,
    person_id: int | None,
    unit_code: str | None,
    decided_on: date,
    summary: str,
    escalation_ids: Sequence[int],
    commitment_ids: Sequence[int],
    now: datetime,
) -> RecordView:
    """Only the discipline role records; the escalations and commitments it names must
    exist. The record is also an administrative event. Flushes."""
    if principal.role != RECORD_WRITER:
        raise AccountabilityError(403, "Only the discipline commission records 问责 actions.")
    if not summary.strip() or len(summary) > MAX_SUMMARY:
        raise AccountabilityError(422, f"A summary of 1 to {MAX_SUMMARY} characters.", "summary")
    if len(escalation_ids) + len(commitment_ids) > MAX_LINKS:
        raise AccountabilityError(422, f"At most {MAX_LINKS} links.", "escalations")
    subject_person, subject_unit = await _subject(session, person_id, unit_code)
    wanted = set(escalation_ids)
    found = set(await session.scalars(select(Escalation.id).where(Escalation.id.in_(wanted))))
    if missing := sorted(wanted - found):
        raise AccountabilityError(422, f"No escalations {missing}.", "escalations")
    pledged = set(commitment_ids)
    known = set(await session.scalars(select(Commitment.id).where(Commitment.id.in_(pledged))))
    if missing := sorted(pledged - known):
        raise AccountabilityError(422, f"No commitments {missing}.", "commitments")
    rec = AccountabilityRecord(
        action=action,
        subject_person_id=subject_person,
        subject_unit_id=subject_unit,
        decided_on=decided_on,
        summary=summary,
        created_by_id=principal.user_id,
        created_at=now,
    )
    session.add(rec)
    await session.flush()
    session.add_all(
        [AccountabilityLink(record_id=rec.id, escalation_id=e) for e in sorted(wanted)]
        + [AccountabilityLink(record_id=rec.id, commitment_id=c) for c in sorted(pledged)]
    )
    await record(
        session,
        Operator.api(principal.user_id, principal.username),
        "accountability_record",
        f"record:{rec.id}",
        {"action": action, "person": subject_person, "unit": unit_code},
    )
    views = await queries.records(session, principal, now, record_id=rec.id)
    return views[0]


async def one_record(
    session: AsyncSession, principal: Principal, record_id: int, now: datetime
) -> RecordView:
    found = await queries.records(session, principal, now, record_id=record_id)
    if not found:
        raise NotFound(f"No record {record_id} in your scope.")
    return found[0]


async def set_follow_up(
    session: AsyncSession,
    principal: Principal,
    escalation_id: int,
    due_at: datetime,
    now: datetime,
) -> InstructionFollowUp:
    """The leader who gave the 批示 sets (or moves) its follow-up deadline: 404 outside the
    caller's scope, 403 for anyone else, 409 before the 批示, 422 for a deadline in the
    past. Flushes."""
    e = await session.scalar(
        select(Escalation).where(Escalation.id == escalation_id, visible_escalations(principal))
    )
    if e is None:
        raise NotFound(f"No escalation {escalation_id} in your scope.")
    if not may_acknowledge(principal, e):
        raise AccountabilityError(403, "Only the leader who gave the 批示 sets its follow-up.")
    if e.acknowledged_at is None:
        raise AccountabilityError(409, "Give the 批示 first; its follow-up comes with it.")
    if due_at <= now:
        raise AccountabilityError(422, "The follow-up deadline must lie ahead.", "due_at")
    follow_up = await session.get(InstructionFollowUp, escalation_id)
    if follow_up is None:
        follow_up = InstructionFollowUp(escalation_id=escalation_id)
        session.add(follow_up)
    follow_up.due_at = due_at
    follow_up.set_by_id = principal.user_id
    follow_up.set_at = now
    await session.flush()
    return follow_up


async def make_pack(
    session: AsyncSession,
    principal: Principal,
    subject: pack.Subject,
    *,
    storage: Storage,
    key: Ed25519PrivateKey,
    tz: ZoneInfo,
    font_path: Path | None,
    now: datetime,
) -> tuple[str, bytes]:
    """The signed evidence pack and its file name; recorded as an administrative event.
    Only the discipline commission and admins take packs (403). Flushes."""
    if not pack.may_make_pack(principal):
        raise AccountabilityError(403, "Evidence packs are the discipline commission's.")
    if subject.kind not in ("finding", "commitment"):
        if subject.since is None or subject.until is None:
            raise AccountabilityError(422, "A unit's or a person's pack covers a period.", "since")
        _check_period(subject.since, subject.until)
    # reportlab only when a pack is made: a few tenths of a second of every API start else.
    from services.core.accountability import report

    facts = await pack.gather(session, subject, storage, principal.username, now)
    files = {
        "report.html": report.html(facts, tz),
        # reportlab is CPU-bound: off the event loop.
        "report.pdf": await asyncio.to_thread(report.pdf, facts, tz, font_path),
        **pack.csv_files(facts),
        **facts.photo_files(),
    }
    header = {
        "subject": {
            "kind": subject.kind,
            "finding": str(subject.finding) if subject.finding else None,
            "commitment": subject.commitment,
            "unit": subject.unit,
            "person": subject.person,
            "since": subject.since.isoformat() if subject.since else None,
            "until": subject.until.isoformat() if subject.until else None,
        },
        "generated_at": now.astimezone(tz).isoformat(),
        "generated_by": principal.username,
    }
    archive = pack.seal(files, header, key)
    await pack.audit(session, principal, subject, archive, len(files))
    stamp = now.astimezone(tz).strftime("%Y%m%d-%H%M%S")
    name = subject.label().replace(":", "-")
    return f"evidence-pack-{name}-{stamp}.zip", archive
