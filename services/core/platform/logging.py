"""Logs: one line per event on stderr, JSON lines for log collectors (`json`) or readable
lines for a person at a terminal (`console`), from every process (API, worker, `duban up`,
migrations) and every library in it.

duban's own events go through structlog; the standard library's (uvicorn, arq, Alembic …)
through one handler on the root logger that renders them the same way, with the same
context: the `request_id` of the request (services/api/middleware.py) or the `job_id` of the
job (services/worker/queue.py) a line belongs to. Secrets are never passed to the logger.
"""

from __future__ import annotations

import logging
import sys

import structlog

# Loggers that set up handlers of their own (uvicorn's log config, arq's dictConfig): those
# are removed so that every line leaves through the root handler, in one format.
THIRD_PARTY = ("uvicorn", "uvicorn.error", "uvicorn.access", "arq", "arq.worker", "alembic")


def _stderr_logger(*_args: object) -> structlog.PrintLogger:
    # Resolve sys.stderr at each call: whoever swapped it (a test harness, a daemoniser)
    # gets the logs, and a closed stream from before is never written to.
    return structlog.PrintLogger(sys.stderr)


class _StderrHandler(logging.Handler):
    """Writes to whatever sys.stderr is when a line is written."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # a broken stream must not break the caller
            self.handleError(record)


def _renderer(fmt: str) -> structlog.types.Processor:
    if fmt == "json":
        return structlog.processors.JSONRenderer(ensure_ascii=False)
    return structlog.dev.ConsoleRenderer()


def root_handler(level: int, fmt: str) -> logging.Handler:
    """Renders standard-library records like duban's own lines (level, time, logger, and the
    request or job id in context)."""
    handler = _StderrHandler()
    handler.setLevel(level)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.contextvars.merge_contextvars,
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                _renderer(fmt),
            ],
        )
    )
    return handler


def configure(level: str = "INFO", fmt: str = "json") -> None:
    level_no = logging.getLevelNamesMapping()[level]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _renderer(fmt),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level_no),
        logger_factory=_stderr_logger,
        # Not cached: a reconfiguration (tests, `duban` commands) applies to every logger.
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    # Ours replaces the one an earlier configure() installed; any other stays (a test
    # harness's capture).
    others = [h for h in root.handlers if not isinstance(h, _StderrHandler)]
    root.handlers = [*others, root_handler(level_no, fmt)]
    root.setLevel(level_no)
    for name in THIRD_PARTY:
        library = logging.getLogger(name)
        library.handlers = []
        library.propagate = True
    # uvicorn's access log would repeat duban's own request line (its servers run with
    # --no-access-log; this holds for any other way of starting it too).
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.captureWarnings(True)
