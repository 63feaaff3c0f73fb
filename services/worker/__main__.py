"""The worker process: `python -m services.worker` (`--check`: the health check, exit 0 while a
worker is alive on the configured Redis, else 1).

Our own entrypoint rather than arq's command line, so a Redis restart costs a reconnect
instead of the process (services/worker/runner.py)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from services.core.platform import logging as duban_logging
from services.core.platform.settings import get_settings

from . import queue, runner, settings


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m services.worker", description=__doc__)
    p.add_argument(
        "--check", action="store_true", help="exit 0 if a worker is alive on this Redis, else 1"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    config = get_settings()
    # Before the first connection: a worker waiting for Redis logs in our format too.
    duban_logging.configure(config.log_level, config.log_format)
    queue.configure_logging()
    worker_settings = settings.build(config)
    if args.check:
        return asyncio.run(queue.check_health(worker_settings))
    return asyncio.run(
        runner.serve(worker_settings, startup=settings.startup, shutdown=settings.shutdown)
    )


if __name__ == "__main__":
    sys.exit(main())
