"""Where the database and Redis are: explicit settings, or the embedded stack's state file."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from services.core.platform.settings import Settings

STATE_FILE = "stack.json"


@dataclass(frozen=True)
class Endpoints:
    database_url: str
    redis_url: str


class StackNotRunning(RuntimeError):
    pass


def state_path(settings: Settings) -> Path:
    return settings.data_dir / STATE_FILE


def write_state(settings: Settings, state: dict[str, object]) -> None:
    path = state_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(state, f)
    tmp.replace(path)


def read_state(settings: Settings) -> dict[str, object]:
    try:
        data: dict[str, object] = json.loads(state_path(settings).read_text())
    except FileNotFoundError:
        return {}
    return data


def endpoints(settings: Settings) -> Endpoints:
    """Explicit URLs win; otherwise those of the embedded stack started by `duban up`."""
    state = read_state(settings)
    db = settings.database_url or state.get("database_url")
    redis = settings.redis_url or state.get("redis_url")
    if not isinstance(db, str) or not isinstance(redis, str):
        raise StackNotRunning(
            "No database configured: set DUBAN_DATABASE_URL and DUBAN_REDIS_URL, "
            "or start the embedded stack with `make run` (duban up) in this checkout."
        )
    return Endpoints(database_url=db, redis_url=redis)
