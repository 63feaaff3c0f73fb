"""One uvicorn process that profiles itself on a signal, for `python -m bench.profile`.

    python -m bench.profiled STATS_FILE PORT APP [--factory]

SIGUSR1 starts cProfile, SIGUSR2 stops it and writes STATS_FILE: the profile covers only the
load in between, not the start-up (imports, the app's lifespan) or a warm-up. It counts the
process's CPU time, not the wall clock, so waiting for PostgreSQL or for a core is not work.
"""

from __future__ import annotations

import cProfile
import signal
import sys
import time
from types import FrameType

import uvicorn


def main(argv: list[str]) -> int:
    stats, port, app, *rest = argv
    profile = cProfile.Profile(time.process_time)

    # Signal handlers run on the main thread, which is the server's event loop: the one
    # thread there is to profile.
    def start(_signum: int, _frame: FrameType | None) -> None:
        profile.enable()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        profile.disable()
        profile.dump_stats(stats)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=int(port),
        factory="--factory" in rest,
        access_log=False,
        log_level="warning",
    )
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
