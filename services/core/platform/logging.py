"""Structured logs: JSON lines with a request id; secrets are never passed to the logger."""

from __future__ import annotations

import logging
import sys

import structlog


def _stderr_logger(*_args: object) -> structlog.PrintLogger:
    # Resolve sys.stderr at each call: whoever swapped it (a test harness, a daemoniser)
    # gets the logs, and a closed stream from before is never written to.
    return structlog.PrintLogger(sys.stderr)


def configure(level: str = "INFO", fmt: str = "json") -> None:
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level]),
        logger_factory=_stderr_logger,
        # Not cached: a reconfiguration (tests, `duban` commands) applies to every logger.
        cache_logger_on_first_use=False,
    )
