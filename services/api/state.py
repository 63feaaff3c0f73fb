"""Process-wide resources of the API, created in the lifespan and shared by requests."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.core.platform.queue import JobQueue
from services.core.platform.settings import Settings
from services.core.reference.snapshot import ReferenceCache


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    redis: JobQueue
    jwt_secret: str
    # The reference snapshot of this engine's database (checked against it on every use).
    references: ReferenceCache = field(default_factory=ReferenceCache)
