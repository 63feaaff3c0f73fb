"""The worker process: `python -m services.worker` (`--check`: the health check, exit 0 while a
worker is alive on the configured Redis, else 1).

Who restarts a worker that dies: `duban up`'s supervisor on the embedded default
(services/cli/supervisor.py), the orchestrator in production (compose's
`restart: unless-stopped`, Kubernetes' restart policy), and nothing else. Something outside the
process must restart it anyway, since no process comes back by itself from a SIGKILL or the
OOM killer; so a worker that loses Redis for longer than its retries (services/worker/queue.py)
does not reconnect in-process either: it logs `worker lost Redis` and exits with
EXIT_REDIS_LOST, and comes back as a fresh process. Nothing is lost in between: PostgreSQL is
the source of truth, the next sweep and outbox rescan re-derive whatever Redis lost, and a job
cut off mid-run is run again after its timeout (every job is idempotent).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

import structlog

from services.core.platform import logging as duban_logging
from services.core.platform.settings import get_settings

from . import queue, settings

# sysexits' "temporary failure, try again": what a restarter sees when Redis was lost.
EXIT_REDIS_LOST = os.EX_TEMPFAIL

log = structlog.get_logger("duban.worker")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m services.worker", description=__doc__)
    p.add_argument(
        "--check", action="store_true", help="exit 0 if a worker is alive on this Redis, else 1"
    )
    return p


async def serve(options: queue.WorkerOptions) -> int:
    """Run jobs until SIGTERM or SIGINT (exit code 0) or until Redis is lost."""
    try:
        await queue.run(options)
    except queue.REDIS_ERRORS as exc:
        log.error(
            "worker lost Redis", error=f"{type(exc).__name__}: {exc}", exit_code=EXIT_REDIS_LOST
        )
        return EXIT_REDIS_LOST
    log.info("worker stopped")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    config = get_settings()
    # Before the first connection: a worker waiting for Redis logs in our format too.
    duban_logging.configure(config.log_level, config.log_format)
    queue.configure_logging()
    options = settings.build(config)
    if args.check:
        return asyncio.run(queue.check_health(options))
    return asyncio.run(serve(options))


if __name__ == "__main__":
    sys.exit(main())
