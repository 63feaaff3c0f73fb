"""What `duban` commands write to stderr: log lines in the configured format (JSON lines for
a log collector, readable ones at a terminal), the command's complaints included, so that a
container's stderr (`duban migrate` in compose) holds nothing but JSON lines."""

from __future__ import annotations

import os
import sys

import structlog

from services.core.platform import logging as duban_logging
from services.core.platform.settings import Settings

log = structlog.get_logger("duban.cli")
_format: list[str] = ["console"]


def log_format(settings: Settings) -> str:
    """The configured format; a person at a terminal who chose none gets readable lines."""
    if "DUBAN_LOG_FORMAT" not in os.environ and sys.stderr.isatty():
        return "console"
    return settings.log_format


def configure(settings: Settings) -> str:
    fmt = log_format(settings)
    duban_logging.configure(settings.log_level, fmt)
    _format[0] = fmt
    return fmt


def configure_unsettled() -> None:
    """Before the settings could be read (they are invalid): the format the environment asks
    for, at INFO."""
    fmt = "json" if os.environ.get("DUBAN_LOG_FORMAT") == "json" else "console"
    duban_logging.configure("INFO", fmt)
    _format[0] = fmt


def complain(message: str) -> None:
    """A command's failure, `duban: …` for a person, an error line for a log collector."""
    if _format[0] == "json":
        log.error(message)
    else:
        print(f"duban: {message}", file=sys.stderr)


def tell(message: str) -> None:
    """A note for the operator that is not the command's output (that goes to stdout)."""
    if _format[0] == "json":
        log.warning(message)
    else:
        print(message, file=sys.stderr)
