"""Request and response bodies of /units: the organisation tree, addressed by stable code."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from services.core.models import UnitKind

from .wire import Code, Input, Lat, Lon, Name, WebhookUrl


class UnitCreate(Input):
    code: Code = Field(description="stable unique code, e.g. 370202 or shinan.badaguan")
    name: Name
    kind: UnitKind
    parent: Code | None = Field(default=None, description="code of the parent unit")
    lat: Lat | None = None
    lon: Lon | None = None
    webhook_url: WebhookUrl | None = None


class UnitUpdate(Input):
    """Codes are stable: a unit keeps its code. Setting `parent` moves the whole subtree."""

    name: Name | None = None
    kind: UnitKind | None = None
    parent: Code | None = None
    lat: Lat | None = None
    lon: Lon | None = None
    webhook_url: WebhookUrl | None = None


class UnitOut(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    parent: str | None
    lat: float | None
    lon: float | None
    webhook_url: str | None
    created_at: datetime


class UnitPage(BaseModel):
    items: list[UnitOut]
    next_cursor: str | None
