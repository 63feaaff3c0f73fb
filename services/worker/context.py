"""What every job receives as its first argument. The process fills it once, in arq's
`on_startup` (services/worker/settings.py), and arq hands each job a copy with the job's own
fields added."""

from __future__ import annotations

from typing import NotRequired, TypedDict

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.core.notify.delivery import Channels
from services.core.platform.settings import Settings

from .queue import ArqRedis


class JobContext(TypedDict):
    # The queue's connection (arq's), for the jobs a job queues in turn.
    redis: ArqRedis
    settings: Settings
    engine: AsyncEngine
    # Jobs open their transactions with `unit_of_work(ctx["sessionmaker"])`.
    sessionmaker: async_sessionmaker[AsyncSession]
    # One connection pool for every webhook this process delivers.
    http: httpx.AsyncClient
    # Read at startup; absent if the data dir could not be read then (a delivery reads it).
    webhook_secret: NotRequired[str]
    # The channel adapters (robots, email, SMS), built at startup from the settings.
    channels: NotRequired[Channels]
    # arq's, for the job being run.
    job_id: NotRequired[str]
    job_try: NotRequired[int]
