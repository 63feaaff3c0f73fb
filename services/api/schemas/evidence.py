"""Response bodies of the photo-evidence endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from .findings import FindingOut

EvidenceKind = Literal["before", "after"]
Flag = Literal["early", "far", "unverified_metadata"]


class Gps(BaseModel):
    lat: float
    lon: float


class EvidenceOut(BaseModel):
    id: uuid.UUID
    finding_id: uuid.UUID
    kind: EvidenceKind
    media_type: str = Field(description="of the stored, re-encoded image")
    bytes: int = Field(description="size of the stored image")
    width: int
    height: int
    sha256: str = Field(description="of the original bytes as uploaded")
    taken_at: datetime | None = Field(description="EXIF DateTimeOriginal; null when absent")
    gps: Gps | None = Field(description="EXIF GPS position; null when absent")
    distance_m: float | None = Field(description="from the photo's GPS to the finding")
    flags: list[Flag] = Field(
        description="after-photos only: early (taken before dispatch), far (beyond the GPS "
        "tolerance), unverified_metadata (no EXIF time or no GPS)"
    )
    uploaded_by: str
    uploaded_at: datetime
    links: dict[str, str]


class EvidencePage(BaseModel):
    items: list[EvidenceOut]
    next_cursor: str | None


class Submission(BaseModel):
    submitted_at: datetime
    submitted_by: str | None
    note: str | None
    on_time: bool | None


class VerificationOut(BaseModel):
    """What a verifier decides on, in one response."""

    finding: FindingOut
    before: list[EvidenceOut]
    after: list[EvidenceOut] = Field(
        description="the after-photos of the latest submission (before any submission: the "
        "ones uploaded since the unit accepted)"
    )
    flags: list[Flag] = Field(description="every flag of the after-photos")
    submission: Submission | None = Field(description="the latest submission, if any")


class AttachmentOut(BaseModel):
    """A photo or file uploaded for a step (a transition or a reply to a 批示)."""

    id: uuid.UUID
    finding_id: uuid.UUID
    kind: Literal["photo", "file"]
    name: str = Field(description="the name given, with the extension its content has")
    media_type: str = Field(description="of what is stored (a photo is re-encoded)")
    bytes: int
    width: int | None
    height: int | None
    sha256: str = Field(description="of the bytes as uploaded")
    uploaded_by: str
    uploaded_at: datetime
    used: bool = Field(description="a step carries it (it shows on the trail)")
    links: dict[str, str]
