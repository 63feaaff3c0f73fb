"""Reads: the escalations behind a ledger, the posts' history, and the 问责 records each
caller may see (filtered in SQL)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, text, true
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.accountability.rules import (
    CommitmentLedgerEscalation,
    LedgerEscalation,
    may_read_all_records,
)
from services.core.identity.principal import Principal
from services.core.models import (
    AccountabilityLink,
    AccountabilityRecord,
    Person,
    Post,
    Unit,
    User,
)

# The post an escalation was addressed to: a city leader's, or a unit's head (a vacant post
# sends it to the campaign office's head).
_ROLE = (
    "CASE WHEN e.target = 'city_leader' AND e.reason = 'overdue' THEN 'city_leader' ELSE 'head' END"
)
_LEDGER_SQL = f"""
SELECT e.id AS escalation_id, e.finding_id, e.level, e.fired_at,
       e.target_person_id AS person_id, e.target_name AS person_name,
       e.target_unit_id AS unit_id, e.target_unit_name AS unit_name, {_ROLE} AS role,
       EXISTS (SELECT 1 FROM notifications n LEFT JOIN notifications d ON d.id = n.digest_id
               WHERE n.escalation_id = e.id AND n.recipient_person_id = e.target_person_id
                 AND coalesce(n.sent_at, n.delivered_at, d.sent_at, d.delivered_at) IS NOT NULL
       ) AS delivered,
       EXISTS (SELECT 1 FROM notifications n LEFT JOIN notifications d ON d.id = n.digest_id
               WHERE n.escalation_id = e.id AND n.recipient_person_id = e.target_person_id
                 AND coalesce(n.opened_at, n.read_at, d.opened_at) IS NOT NULL
       ) AS opened,
       e.acknowledged_at, e.instruction, fu.due_at AS follow_up_due,
       CASE WHEN f.status = 'closed' AND f.close_reason = 'rectified' THEN f.closed_at END
           AS rectified_at,
       f.status <> 'closed' AS still_open,
       (SELECT min(t.fired_at) FROM escalations t
         WHERE t.finding_id = e.finding_id AND t.level >= 4) AS top_level_at
  FROM escalations e
  JOIN findings f ON f.id = e.finding_id
  LEFT JOIN instruction_follow_ups fu ON fu.escalation_id = e.id
 WHERE e.fired_at >= :since AND e.fired_at < :until AND {{subject}}
 ORDER BY e.fired_at, e.id
"""  # noqa: S608 (constants only)
_BY_PERSON = _LEDGER_SQL.format(subject="e.target_person_id = :person")
_BY_POST = _LEDGER_SQL.format(subject=f"e.target_unit_id = :unit AND {_ROLE} = :role")

# A commitment's escalations: its notices name the commitment and carry the level's id in
# their payload; its last level is the last of the ladder it snapshotted.
_NOTICES = """
SELECT 1 FROM notifications n LEFT JOIN notifications d ON d.id = n.digest_id
 WHERE n.commitment_id = e.commitment_id AND n.recipient_person_id = e.target_person_id
   AND n.payload->>'commitment_escalation_id' = CAST(e.id AS text)"""
_COMMITMENT_LEDGER_SQL = f"""
SELECT e.id AS escalation_id, e.commitment_id, e.level, e.fired_at,
       e.target_person_id AS person_id, e.target_name AS person_name,
       e.target_unit_id AS unit_id, e.target_unit_name AS unit_name, {_ROLE} AS role,
       EXISTS ({_NOTICES}
         AND coalesce(n.sent_at, n.delivered_at, d.sent_at, d.delivered_at) IS NOT NULL
       ) AS delivered,
       EXISTS ({_NOTICES}
         AND coalesce(n.opened_at, n.read_at, d.opened_at) IS NOT NULL
       ) AS opened,
       c.accepted_at IS NULL AS still_open,
       (SELECT min(t.fired_at) FROM commitment_escalations t
         WHERE t.commitment_id = e.commitment_id
           AND t.level >= (SELECT max(CAST(lv->>'level' AS int))
                             FROM jsonb_array_elements(c.escalation_plan->'levels') lv)
       ) AS last_level_at
  FROM commitment_escalations e
  JOIN commitments c ON c.id = e.commitment_id
 WHERE e.fired_at >= :since AND e.fired_at < :until AND {{subject}}
 ORDER BY e.fired_at, e.id
"""  # noqa: S608 (constants only)
_PLEDGES_BY_PERSON = _COMMITMENT_LEDGER_SQL.format(subject="e.target_person_id = :person")
_PLEDGES_BY_POST = _COMMITMENT_LEDGER_SQL.format(
    subject=f"e.target_unit_id = :unit AND {_ROLE} = :role"
)


async def ledger_of_person(
    session: AsyncSession, person_id: int, since: datetime, until: datetime
) -> list[LedgerEscalation]:
    rows = await session.execute(
        text(_BY_PERSON), {"person": person_id, "since": since, "until": until}
    )
    return [LedgerEscalation(**row._mapping) for row in rows]


async def ledger_of_post(
    session: AsyncSession, unit_id: int, role: str, since: datetime, until: datetime
) -> list[LedgerEscalation]:
    rows = await session.execute(
        text(_BY_POST), {"unit": unit_id, "role": role, "since": since, "until": until}
    )
    return [LedgerEscalation(**row._mapping) for row in rows]


async def commitment_ledger_of_person(
    session: AsyncSession, person_id: int, since: datetime, until: datetime
) -> list[CommitmentLedgerEscalation]:
    rows = await session.execute(
        text(_PLEDGES_BY_PERSON), {"person": person_id, "since": since, "until": until}
    )
    return [CommitmentLedgerEscalation(**row._mapping) for row in rows]


async def commitment_ledger_of_post(
    session: AsyncSession, unit_id: int, role: str, since: datetime, until: datetime
) -> list[CommitmentLedgerEscalation]:
    rows = await session.execute(
        text(_PLEDGES_BY_POST), {"unit": unit_id, "role": role, "since": since, "until": until}
    )
    return [CommitmentLedgerEscalation(**row._mapping) for row in rows]


@dataclass(frozen=True)
class Tenure:
    post_id: int
    unit_id: int
    unit_code: str
    unit_name: str
    role: str
    person_id: int
    person_name: str
    valid_from: datetime
    valid_to: datetime | None


def _tenures() -> Any:
    return (
        select(
            Post.id.label("post_id"),
            Post.unit_id,
            Unit.code.label("unit_code"),
            Unit.name.label("unit_name"),
            Post.role,
            Post.person_id,
            Person.name.label("person_name"),
            Post.valid_from,
            Post.valid_to,
        )
        .join(Unit, Unit.id == Post.unit_id)
        .join(Person, Person.id == Post.person_id)
        .order_by(Post.valid_from, Post.id)
    )


async def post_history(session: AsyncSession, unit_id: int, role: str) -> list[Tenure]:
    """Every holder the post has had, in order: the post's history is its tenures."""
    rows = await session.execute(_tenures().where(Post.unit_id == unit_id, Post.role == role))
    return [Tenure(**row._mapping) for row in rows]


async def posts_of_person(session: AsyncSession, person_id: int) -> list[Tenure]:
    rows = await session.execute(_tenures().where(Post.person_id == person_id))
    return [Tenure(**row._mapping) for row in rows]


def visible_records(principal: Principal, now: datetime) -> ColumnElement[bool]:
    """The discipline role and admins see every record; anyone else only those about them:
    against their person, or against a unit whose head post they hold now."""
    if may_read_all_records(principal):
        return true()
    if principal.person_id is None:
        return false()
    heads = exists().where(
        Post.unit_id == AccountabilityRecord.subject_unit_id,
        Post.role == "head",
        Post.person_id == principal.person_id,
        Post.valid_from <= now,
        or_(Post.valid_to.is_(None), Post.valid_to > now),
    )
    return or_(
        AccountabilityRecord.subject_person_id == principal.person_id,
        and_(AccountabilityRecord.subject_unit_id.is_not(None), heads),
    )


@dataclass(frozen=True)
class RecordView:
    id: int
    action: str
    person_id: int | None
    person_name: str | None
    unit_code: str | None
    unit_name: str | None
    decided_on: date
    summary: str
    created_by: str
    created_at: datetime
    escalation_ids: list[int]
    commitment_ids: list[int]


async def records(
    session: AsyncSession,
    principal: Principal,
    now: datetime,
    *,
    record_id: int | None = None,
    person_id: int | None = None,
    unit_id: int | None = None,
    after: int | None = None,
    limit: int = 50,
) -> list[RecordView]:
    """The records the caller may see, newest first (ids below `after`)."""
    r = AccountabilityRecord
    query = (
        select(r, Person.name, Unit.code, Unit.name, User.username)
        .outerjoin(Person, Person.id == r.subject_person_id)
        .outerjoin(Unit, Unit.id == r.subject_unit_id)
        .join(User, User.id == r.created_by_id)
        .where(visible_records(principal, now))
        .order_by(r.id.desc())
        .limit(limit)
    )
    if record_id is not None:
        query = query.where(r.id == record_id)
    if person_id is not None:
        query = query.where(r.subject_person_id == person_id)
    if unit_id is not None:
        query = query.where(r.subject_unit_id == unit_id)
    if after is not None:
        query = query.where(r.id < after)
    rows = (await session.execute(query)).all()
    links: dict[int, list[AccountabilityLink]] = {}
    if rows:
        found = await session.scalars(
            select(AccountabilityLink)
            .where(AccountabilityLink.record_id.in_([row[0].id for row in rows]))
            .order_by(AccountabilityLink.id)
        )
        for link in found:
            links.setdefault(link.record_id, []).append(link)
    return [
        RecordView(
            rec.id,
            rec.action,
            rec.subject_person_id,
            person_name,
            unit_code,
            unit_name,
            rec.decided_on,
            rec.summary,
            username,
            rec.created_at,
            [x.escalation_id for x in links.get(rec.id, []) if x.escalation_id is not None],
            [x.commitment_id for x in links.get(rec.id, []) if x.commitment_id is not None],
        )
        for rec, person_name, unit_code, unit_name, username in rows
    ]
