"""The evidence pack (证据包): for a finding, a commitment, a unit or a person over a period,
one ZIP the
discipline commission takes away — a readable report (HTML and PDF), the photos, the rows as
CSV, and a manifest of SHA-256 sums — signed with the installation's Ed25519 key.

Two signatures, so that any later change is found and located: `manifest.sig` signs the
manifest (whose sums name the file that changed), and the ZIP's comment holds a signature of
every byte of the archive before it (so a byte changed anywhere, in a file, a header or the
directory, fails). Generating a pack is an administrative event."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import struct
import uuid
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.commitments.rules import status as commitment_status
from services.core.evidence.storage import Storage, StorageError
from services.core.identity.principal import Principal
from services.core.identity.store import Operator, record
from services.core.platform.errors import DomainError, NotFound

FORMAT = "duban-evidence-pack/1"
MANIFEST, MANIFEST_SIG = "manifest.json", "manifest.sig"
SIGNATURE_PREFIX = b"duban-signature:"
_SIG_LEN = len(base64.b64encode(b"\0" * 64))
COMMENT_LEN = len(SIGNATURE_PREFIX) + _SIG_LEN
MAX_FINDINGS = 200
PACK_MAKERS = frozenset({"discipline", "admin"})


# What reading a damaged archive raises (an altered flag bit can make a member "encrypted"
# or its compression unknown): each is a failed verification, never a crash.
READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    struct.error,
    OSError,
    ValueError,
    EOFError,
    RuntimeError,
    NotImplementedError,
)


class PackError(DomainError):
    pass


@dataclass(frozen=True)
class Subject:
    kind: str  # finding | commitment | unit | person
    finding: uuid.UUID | None = None
    unit: str | None = None
    person: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    commitment: int | None = None

    def label(self) -> str:
        if self.kind == "finding":
            return f"finding:{self.finding}"
        if self.kind == "commitment":
            return f"commitment:{self.commitment}"
        return f"{self.kind}:{self.unit if self.kind == 'unit' else self.person}"


@dataclass
class Receipt:
    recipient: str | None
    channel: str
    status: str
    sent_at: datetime | None
    delivered_at: datetime | None
    opened_at: datetime | None


@dataclass
class EscalationFacts:
    id: int
    level: int
    fired_at: datetime
    reason: str
    target_name: str | None
    target_title: str | None
    target_unit_name: str
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    instruction: str | None
    follow_up_due: datetime | None
    receipts: list[Receipt] = field(default_factory=list)


def _escalation(r: Any) -> EscalationFacts:
    """A level as a pack shows it, from a row of _ESCALATIONS or _COMMITMENT_ESCALATIONS."""
    return EscalationFacts(
        r.id, r.level, r.fired_at, r.reason, r.target_name, r.target_title,
        r.target_unit_name, r.acknowledged_at, r.acknowledged_by, r.instruction,
        r.follow_up_due,
    )  # fmt: skip


@dataclass
class EventFacts:
    at: datetime
    action: str
    from_status: str | None
    to_status: str | None
    actor: str | None
    note: str | None


@dataclass
class PhotoFacts:
    id: uuid.UUID
    kind: str
    sha256: str
    flags: list[str]
    taken_at: datetime | None
    uploaded_at: datetime
    media_type: str
    object_key: str
    path: str = ""
    data: bytes | None = None


@dataclass
class FindingFacts:
    id: uuid.UUID
    description: str
    category: str
    source: str
    address: str | None
    responsible_unit: str | None
    status: str
    close_reason: str | None
    reported_at: datetime
    due_at: datetime | None
    closed_at: datetime | None
    events: list[EventFacts] = field(default_factory=list)
    escalations: list[EscalationFacts] = field(default_factory=list)
    photos: list[PhotoFacts] = field(default_factory=list)


@dataclass
class ProgressFacts:
    id: int
    content: str
    percent: int
    reported_by: str | None
    reported_at: datetime
    review: str
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_note: str | None
    photos: list[PhotoFacts] = field(default_factory=list)


@dataclass
class CommitmentFacts:
    """A commitment as pledged and followed up: its progress reports with the office's
    review, and its own ladder's escalations with their notices' receipts."""

    id: int
    meeting: str
    held_on: date
    unit: str
    status_quo: str
    problems: str
    targets: str
    measures: str
    deadline: str
    due_at: datetime
    leader_name: str | None
    leader_title: str | None
    status: str
    percent: int
    accepted_at: datetime | None
    progress: list[ProgressFacts] = field(default_factory=list)
    escalations: list[EscalationFacts] = field(default_factory=list)


@dataclass
class Facts:
    subject: Subject
    title: str
    generated_at: datetime
    generated_by: str
    findings: list[FindingFacts]
    commitment: CommitmentFacts | None = None

    def photo_files(self) -> dict[str, bytes]:
        """Every photo the pack carries (the findings' and the progress reports'), by path."""
        photos = [p for f in self.findings for p in f.photos]
        if self.commitment is not None:
            photos += [p for r in self.commitment.progress for p in r.photos]
        return {p.path: p.data for p in photos if p.data is not None}


# ---- gathering ----

_UNIT_FINDINGS = """
SELECT f.id FROM findings f
 WHERE f.responsible_unit_id IN (SELECT id FROM units WHERE path LIKE :path || '%')
   AND (f.reported_at >= :since AND f.reported_at < :until
        OR f.closed_at >= :since AND f.closed_at < :until
        OR EXISTS (SELECT 1 FROM escalations e WHERE e.finding_id = f.id
                    AND e.fired_at >= :since AND e.fired_at < :until))
 ORDER BY f.reported_at, f.id LIMIT :limit
"""
_PERSON_FINDINGS = """
SELECT e.finding_id FROM escalations e
 WHERE e.target_person_id = :person AND e.fired_at >= :since AND e.fired_at < :until
 GROUP BY e.finding_id ORDER BY min(e.fired_at), e.finding_id LIMIT :limit
"""
_FINDINGS = """
SELECT f.id, f.description, c.name AS category, f.source, f.address, u.name AS unit,
       f.status, f.close_reason, f.reported_at, f.due_at, f.closed_at
  FROM findings f JOIN categories c ON c.id = f.category_id
  LEFT JOIN units u ON u.id = f.responsible_unit_id
 WHERE f.id = ANY(:ids) ORDER BY f.reported_at, f.id
"""
_EVENTS = """
SELECT ev.finding_id, ev.at, ev.action, ev.from_status, ev.to_status, us.username AS actor,
       coalesce(ev.payload->>'note', ev.payload->>'instruction') AS note
  FROM events ev LEFT JOIN users us ON us.id = ev.actor_id
 WHERE ev.finding_id = ANY(:ids) ORDER BY ev.at, ev.id
"""
_ESCALATIONS = """
SELECT e.finding_id, e.id, e.level, e.fired_at, e.reason, e.target_name, e.target_title,
       e.target_unit_name, e.acknowledged_at, us.username AS acknowledged_by, e.instruction,
       fu.due_at AS follow_up_due
  FROM escalations e LEFT JOIN users us ON us.id = e.acknowledged_by_id
  LEFT JOIN instruction_follow_ups fu ON fu.escalation_id = e.id
 WHERE e.finding_id = ANY(:ids) ORDER BY e.finding_id, e.level
"""
_RECEIPTS = """
SELECT n.escalation_id, coalesce(p.name, u.name) AS recipient, n.channel, n.status,
       coalesce(n.sent_at, d.sent_at) AS sent_at,
       coalesce(n.delivered_at, d.delivered_at) AS delivered_at,
       coalesce(n.opened_at, d.opened_at, n.read_at) AS opened_at
  FROM notifications n LEFT JOIN notifications d ON d.id = n.digest_id
  LEFT JOIN people p ON p.id = n.recipient_person_id
  LEFT JOIN units u ON u.id = n.recipient_unit_id
 WHERE n.escalation_id = ANY(:ids) ORDER BY n.escalation_id, n.chain, n.rank, n.id
"""
_PHOTOS = """
SELECT finding_id, id, kind, sha256, flags, taken_at, uploaded_at, media_type, object_key
  FROM evidence WHERE finding_id = ANY(:ids) ORDER BY uploaded_at, id
"""


_COMMITMENT = """
SELECT c.id, m.title AS meeting, m.held_on, u.name AS unit, c.status_quo, c.problems,
       c.targets, c.measures, c.deadline, c.due_at, c.leader_name, c.leader_title, c.percent,
       c.accepted_at, c.created_at
  FROM commitments c JOIN meetings m ON m.id = c.meeting_id JOIN units u ON u.id = c.unit_id
 WHERE c.id = :id
"""
_COMMITMENT_FINDINGS = """
SELECT cf.finding_id FROM commitment_findings cf JOIN findings f ON f.id = cf.finding_id
 WHERE cf.commitment_id = :id ORDER BY f.reported_at, f.id LIMIT :limit
"""
_PROGRESS = """
SELECT p.id, p.content, p.percent, r.username AS reported_by, p.reported_at, p.review,
       v.username AS reviewed_by, p.reviewed_at, p.review_note
  FROM commitment_progress p LEFT JOIN users r ON r.id = p.reported_by_id
  LEFT JOIN users v ON v.id = p.reviewed_by_id
 WHERE p.commitment_id = :id ORDER BY p.reported_at, p.id
"""
_PROGRESS_PHOTOS = """
SELECT ph.progress_id, ph.id, ph.sha256, ph.uploaded_at, ph.media_type, ph.object_key
  FROM commitment_photos ph JOIN commitment_progress p ON p.id = ph.progress_id
 WHERE p.commitment_id = :id ORDER BY ph.uploaded_at, ph.id
"""
# A commitment's notice asks for no 批示: its acknowledgement columns are empty.
_COMMITMENT_ESCALATIONS = """
SELECT id, level, fired_at, reason, target_name, target_title, target_unit_name,
       CAST(NULL AS timestamptz) AS acknowledged_at, CAST(NULL AS text) AS acknowledged_by,
       CAST(NULL AS text) AS instruction, CAST(NULL AS timestamptz) AS follow_up_due
  FROM commitment_escalations WHERE commitment_id = :id ORDER BY level
"""
# A commitment's notices name it and carry the level's escalation id in their payload.
_COMMITMENT_RECEIPTS = """
SELECT CAST(n.payload->>'commitment_escalation_id' AS bigint) AS escalation_id,
       coalesce(p.name, u.name) AS recipient, n.channel, n.status,
       coalesce(n.sent_at, d.sent_at) AS sent_at,
       coalesce(n.delivered_at, d.delivered_at) AS delivered_at,
       coalesce(n.opened_at, d.opened_at, n.read_at) AS opened_at
  FROM notifications n LEFT JOIN notifications d ON d.id = n.digest_id
  LEFT JOIN people p ON p.id = n.recipient_person_id
  LEFT JOIN units u ON u.id = n.recipient_unit_id
 WHERE n.commitment_id = :id AND n.payload ? 'commitment_escalation_id'
 ORDER BY n.chain, n.rank, n.id
"""


def _deadline_text(deadline: dict[str, Any]) -> str:
    if "date" in deadline:
        return str(deadline["date"])
    return f"{deadline.get('working_days')} 个工作日"


async def _commitment(
    session: AsyncSession, commitment_id: int, storage: Storage, now: datetime
) -> CommitmentFacts:
    """The commitment with its progress reports (and their photos) and its own ladder's
    escalations with their receipts; 422 naming `commitment` for an unknown id."""
    row = (await session.execute(text(_COMMITMENT), {"id": commitment_id})).first()
    if row is None:
        raise PackError(422, f"No commitment {commitment_id}.", "commitment")
    state = commitment_status(
        accepted=row.accepted_at is not None,
        percent=row.percent,
        start=row.created_at,
        due_at=row.due_at,
        now=now,
    )
    c = CommitmentFacts(
        row.id, row.meeting, row.held_on, row.unit, row.status_quo, row.problems, row.targets,
        row.measures, _deadline_text(row.deadline), row.due_at, row.leader_name,
        row.leader_title, state.value, row.percent, row.accepted_at,
    )  # fmt: skip
    params = {"id": commitment_id}
    progress = {
        r.id: ProgressFacts(
            r.id,
            r.content,
            r.percent,
            r.reported_by,
            r.reported_at,
            r.review,
            r.reviewed_by,
            r.reviewed_at,
            r.review_note,
        )
        for r in await session.execute(text(_PROGRESS), params)
    }
    c.progress = list(progress.values())
    for r in await session.execute(text(_PROGRESS_PHOTOS), params):
        photo = PhotoFacts(
            r.id, "progress", r.sha256, [], None, r.uploaded_at, r.media_type, r.object_key
        )
        name = f"progress-{r.progress_id}-{r.id}.{_ext(r.media_type)}"
        photo.path = f"photos/commitment-{commitment_id}/{name}"
        photo.data = await _stored(storage, r.object_key)
        progress[r.progress_id].photos.append(photo)
    escalations = {
        r.id: _escalation(r) for r in await session.execute(text(_COMMITMENT_ESCALATIONS), params)
    }
    c.escalations = list(escalations.values())
    for r in await session.execute(text(_COMMITMENT_RECEIPTS), params):
        if r.escalation_id in escalations:
            escalations[r.escalation_id].receipts.append(
                Receipt(r.recipient, r.channel, r.status, r.sent_at, r.delivered_at, r.opened_at)
            )
    return c


def _ext(media_type: str) -> str:
    return {"image/png": "png", "image/webp": "webp"}.get(media_type, "jpg")


async def _stored(storage: Storage, key: str) -> bytes | None:
    try:
        return await storage.get(key)
    except StorageError:
        return None  # said so in the report: the stored copy is missing


async def _finding_ids(session: AsyncSession, subject: Subject) -> tuple[list[uuid.UUID], str]:
    if subject.kind == "commitment":
        rows = await session.scalars(
            text(_COMMITMENT_FINDINGS), {"id": subject.commitment, "limit": MAX_FINDINGS}
        )
        return list(rows), f"整改承诺 {subject.commitment}"
    if subject.kind == "finding":
        found = await session.execute(
            text("SELECT id, description FROM findings WHERE id = :id"), {"id": subject.finding}
        )
        row = found.first()
        if row is None:
            raise NotFound(f"No finding {subject.finding}.")
        return [row.id], f"问题 {str(row.id)[:8]}：{row.description[:40]}"
    period = {"since": subject.since, "until": subject.until, "limit": MAX_FINDINGS + 1}
    if subject.kind == "unit":
        unit = (
            await session.execute(
                text("SELECT name, path FROM units WHERE code = :code"), {"code": subject.unit}
            )
        ).first()
        if unit is None:
            raise PackError(422, f"No unit {subject.unit!r}.", "unit")
        rows = await session.scalars(text(_UNIT_FINDINGS), {**period, "path": unit.path})
        title = f"单位 {unit.name}"
    else:
        name = await session.scalar(
            text("SELECT name FROM people WHERE id = :id"), {"id": subject.person}
        )
        if name is None:
            raise PackError(422, f"No person {subject.person}.", "person")
        rows = await session.scalars(text(_PERSON_FINDINGS), {**period, "person": subject.person})
        title = f"人员 {name}"
    ids = list(rows)
    if len(ids) > MAX_FINDINGS:
        raise PackError(
            422, f"More than {MAX_FINDINGS} findings: narrow the period (since, until).", "since"
        )
    return ids, title


async def gather(
    session: AsyncSession,
    subject: Subject,
    storage: Storage,
    generated_by: str,
    now: datetime,
) -> Facts:
    """Everything the pack tells, read in one transaction, photos included."""
    commitment = None
    if subject.kind == "commitment" and subject.commitment is not None:
        commitment = await _commitment(session, subject.commitment, storage, now)
    ids, title = await _finding_ids(session, subject)
    params = {"ids": ids}
    findings = {
        r.id: FindingFacts(
            r.id,
            r.description,
            r.category,
            r.source,
            r.address,
            r.unit,
            r.status,
            r.close_reason,
            r.reported_at,
            r.due_at,
            r.closed_at,
        )
        for r in await session.execute(text(_FINDINGS), params)
    }
    for r in await session.execute(text(_EVENTS), params):
        findings[r.finding_id].events.append(
            EventFacts(r.at, r.action, r.from_status, r.to_status, r.actor, r.note)
        )
    escalations: dict[int, EscalationFacts] = {}
    for r in await session.execute(text(_ESCALATIONS), params):
        e = _escalation(r)
        escalations[r.id] = e
        findings[r.finding_id].escalations.append(e)
    receipts = await session.execute(text(_RECEIPTS), {"ids": list(escalations)})
    for r in receipts:
        escalations[r.escalation_id].receipts.append(
            Receipt(r.recipient, r.channel, r.status, r.sent_at, r.delivered_at, r.opened_at)
        )
    for r in await session.execute(text(_PHOTOS), params):
        photo = PhotoFacts(
            r.id,
            r.kind,
            r.sha256,
            list(r.flags),
            r.taken_at,
            r.uploaded_at,
            r.media_type,
            r.object_key,
        )
        photo.path = f"photos/{r.finding_id}/{r.kind}-{r.id}.{_ext(r.media_type)}"
        photo.data = await _stored(storage, r.object_key)
        findings[r.finding_id].photos.append(photo)
    return Facts(subject, title, now, generated_by, list(findings.values()), commitment)


# ---- the rows as CSV ----


def _csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow(
            ["" if v is None else v.isoformat() if isinstance(v, datetime) else v for v in row]
        )
    # With a byte-order mark, so that Excel reads the Chinese as UTF-8.
    return ("\ufeff" + out.getvalue()).encode()


# A level of a ladder and a receipt of its notice are the same facts whether the ladder is a
# finding's or a commitment's: one set of columns, prefixed by the owner's id column.
_LEVEL_COLUMNS = ["id", "level", "fired_at", "reason", "target_name", "target_title", "target_unit"]
_RECEIPT_COLUMNS = ["recipient", "channel", "status", "sent_at", "delivered_at", "opened_at"]


def _level_cells(e: EscalationFacts) -> list[Any]:
    return [e.id, e.level, e.fired_at, e.reason, e.target_name, e.target_title, e.target_unit_name]


def _receipt_cells(r: Receipt) -> list[Any]:
    return [r.recipient, r.channel, r.status, r.sent_at, r.delivered_at, r.opened_at]


def commitment_csv_files(c: CommitmentFacts) -> dict[str, bytes]:
    """The commitment's own rows: itself, its progress reports and its ladder's levels with
    their receipts."""
    return {
        "rows/commitments.csv": _csv(
            [
                "id",
                "meeting",
                "held_on",
                "unit",
                "status_quo",
                "problems",
                "targets",
                "measures",
                "deadline",
                "due_at",
                "leader_name",
                "leader_title",
                "status",
                "percent",
                "accepted_at",
            ],
            [
                [
                    c.id,
                    c.meeting,
                    c.held_on.isoformat(),
                    c.unit,
                    c.status_quo,
                    c.problems,
                    c.targets,
                    c.measures,
                    c.deadline,
                    c.due_at,
                    c.leader_name,
                    c.leader_title,
                    c.status,
                    c.percent,
                    c.accepted_at,
                ]
            ],
        ),
        "rows/commitment_progress.csv": _csv(
            [
                "commitment_id",
                "id",
                "content",
                "percent",
                "reported_by",
                "reported_at",
                "review",
                "reviewed_by",
                "reviewed_at",
                "review_note",
                "photos",
            ],
            [
                [
                    c.id,
                    p.id,
                    p.content,
                    p.percent,
                    p.reported_by,
                    p.reported_at,
                    p.review,
                    p.reviewed_by,
                    p.reviewed_at,
                    p.review_note,
                    " ".join(ph.path if ph.data is not None else "(missing)" for ph in p.photos),
                ]
                for p in c.progress
            ],
        ),
        "rows/commitment_escalations.csv": _csv(
            ["commitment_id", *_LEVEL_COLUMNS],
            [[c.id, *_level_cells(e)] for e in c.escalations],
        ),
        "rows/commitment_receipts.csv": _csv(
            ["commitment_escalation_id", *_RECEIPT_COLUMNS],
            [[e.id, *_receipt_cells(r)] for e in c.escalations for r in e.receipts],
        ),
    }


def csv_files(facts: Facts) -> dict[str, bytes]:
    fs = facts.findings
    own = commitment_csv_files(facts.commitment) if facts.commitment is not None else {}
    return own | {
        "rows/findings.csv": _csv(
            [
                "id",
                "description",
                "category",
                "source",
                "address",
                "responsible_unit",
                "status",
                "close_reason",
                "reported_at",
                "due_at",
                "closed_at",
            ],
            [
                [
                    f.id,
                    f.description,
                    f.category,
                    f.source,
                    f.address,
                    f.responsible_unit,
                    f.status,
                    f.close_reason,
                    f.reported_at,
                    f.due_at,
                    f.closed_at,
                ]
                for f in fs
            ],
        ),
        "rows/events.csv": _csv(
            ["finding_id", "at", "action", "from_status", "to_status", "actor", "note"],
            [
                [f.id, e.at, e.action, e.from_status, e.to_status, e.actor, e.note]
                for f in fs
                for e in f.events
            ],
        ),
        "rows/escalations.csv": _csv(
            [
                "finding_id",
                *_LEVEL_COLUMNS,
                "acknowledged_at",
                "acknowledged_by",
                "instruction",
                "follow_up_due",
            ],
            [
                [
                    f.id,
                    *_level_cells(e),
                    e.acknowledged_at,
                    e.acknowledged_by,
                    e.instruction,
                    e.follow_up_due,
                ]
                for f in fs
                for e in f.escalations
            ],
        ),
        "rows/receipts.csv": _csv(
            ["escalation_id", *_RECEIPT_COLUMNS],
            [[e.id, *_receipt_cells(r)] for f in fs for e in f.escalations for r in e.receipts],
        ),
        "rows/photos.csv": _csv(
            ["finding_id", "id", "kind", "sha256", "flags", "taken_at", "uploaded_at", "file"],
            [
                [
                    f.id,
                    p.id,
                    p.kind,
                    p.sha256,
                    " ".join(p.flags),
                    p.taken_at,
                    p.uploaded_at,
                    p.path if p.data is not None else "(missing)",
                ]
                for f in fs
                for p in f.photos
            ],
        ),
    }


# ---- signing and verifying ----


def public_key_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(public_key_bytes(key)).hexdigest()[:16]


def seal(files: dict[str, bytes], header: dict[str, Any], key: Ed25519PrivateKey) -> bytes:
    """The ZIP of `files` with the signed manifest, and the archive's own signature in its
    comment (written last: it signs every byte before it)."""
    public = key.public_key()
    manifest = {
        "format": FORMAT,
        **header,
        "key": {
            "algorithm": "Ed25519",
            "id": key_id(public),
            "public_key": base64.b64encode(public_key_bytes(public)).decode(),
        },
        "files": [
            {"path": path, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
            for path, data in sorted(files.items())
        ],
    }
    manifest_bytes = json.dumps(manifest, ensure_ascii=False, indent=2).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.comment = b"\0" * COMMENT_LEN  # its final length, so the bytes before stay put
        for path, data in sorted(files.items()):
            stored = path.startswith("photos/") or path.endswith(".pdf")
            zf.writestr(path, data, zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
        zf.writestr(MANIFEST, manifest_bytes, zipfile.ZIP_DEFLATED)
        zf.writestr(MANIFEST_SIG, base64.b64encode(key.sign(manifest_bytes)) + b"\n")
    body = buf.getvalue()[:-COMMENT_LEN]
    return body + SIGNATURE_PREFIX + base64.b64encode(key.sign(body))


@dataclass(frozen=True)
class Verification:
    problems: list[str]
    files: int = 0
    key_id: str | None = None
    subject: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _archive_problems(data: bytes, comment: bytes, key: Ed25519PublicKey) -> list[str]:
    if not comment.startswith(SIGNATURE_PREFIX) or not data.endswith(comment):
        return ["the archive carries no signature of its own (its comment was changed)"]
    try:
        key.verify(
            base64.b64decode(comment[len(SIGNATURE_PREFIX) :], validate=True), data[: -len(comment)]
        )
    except (InvalidSignature, ValueError):
        return [
            "the archive's signature does not verify: a byte of it changed, or another "
            "key signed it"
        ]
    return []


def _file_problems(zf: zipfile.ZipFile, manifest: dict[str, Any]) -> list[str]:
    problems = []
    listed = {entry["path"]: entry for entry in manifest.get("files", [])}
    names = zf.namelist()
    if len(names) != len(set(names)):
        problems.append("a file appears twice in the archive")
    for extra in sorted(set(names) - set(listed) - {MANIFEST, MANIFEST_SIG}):
        problems.append(f"{extra}: not in the manifest")
    for path, entry in sorted(listed.items()):
        try:
            content = zf.read(path)
        except KeyError:
            problems.append(f"{path}: missing")
            continue
        except READ_ERRORS as exc:
            problems.append(f"{path}: cannot be read ({exc})")
            continue
        if hashlib.sha256(content).hexdigest() != entry["sha256"]:
            problems.append(f"{path}: its SHA-256 differs from the manifest's")
    return problems


def verify(data: bytes, key: Ed25519PublicKey) -> Verification:
    """Every check of a pack against the installation's public key; the problems found
    (none: the pack is as it was signed)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except READ_ERRORS as exc:
        return Verification([f"not a ZIP archive ({exc})"])
    with zf:
        problems = _archive_problems(data, zf.comment, key)
        try:
            manifest_bytes = zf.read(MANIFEST)
            signature = base64.b64decode(zf.read(MANIFEST_SIG).strip(), validate=True)
            key.verify(signature, manifest_bytes)
            manifest = json.loads(manifest_bytes)
        except KeyError:
            return Verification([*problems, "the manifest or its signature is missing"])
        except (InvalidSignature, *READ_ERRORS):
            return Verification([*problems, "the manifest's signature does not verify"])
        problems += _file_problems(zf, manifest)
        return Verification(
            problems,
            len(manifest.get("files", [])),
            manifest.get("key", {}).get("id"),
            manifest.get("subject"),
        )


def may_make_pack(principal: Principal) -> bool:
    return principal.role in PACK_MAKERS


async def audit(
    session: AsyncSession, principal: Principal, subject: Subject, archive: bytes, files: int
) -> None:
    """Generating a pack is itself an administrative event: who took what, and its digest."""
    await record(
        session,
        Operator.api(principal.user_id, principal.username),
        "evidence_pack",
        subject.label(),
        {
            "since": subject.since.isoformat() if subject.since else None,
            "until": subject.until.isoformat() if subject.until else None,
            "files": files,
            "sha256": hashlib.sha256(archive).hexdigest(),
        },
    )
