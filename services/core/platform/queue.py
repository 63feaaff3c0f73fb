"""Producing jobs for the worker, behind one small module: the API and the worker queue jobs
by name through here and never touch arq directly, so the queue library can change in one
place. (The worker's side — running jobs — is services/worker/queue.py.)"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from arq.connections import ArqRedis
from arq.jobs import Job

JobQueue = ArqRedis


def lazy_queue(url: str) -> JobQueue:
    """A client that connects on first use: a process starts (and reports itself unready)
    while Redis is down instead of refusing to start."""
    queue: JobQueue = ArqRedis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    return queue


async def enqueue(
    queue: JobQueue,
    name: str,
    *args: Any,
    job_id: str | None = None,
    defer_until: datetime | None = None,
) -> Job | None:
    """Queue a job by name, to run now or not before `defer_until`. With a `job_id`, a job
    already queued under that id is not queued twice (None is returned)."""
    return await queue.enqueue_job(name, *args, _job_id=job_id, _defer_until=defer_until)
