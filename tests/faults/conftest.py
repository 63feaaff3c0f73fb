"""Fault-injection scenarios (`make test-faults`): they kill and restart servers and workers,
so they run only when asked for (DUBAN_FAULTS=1), never a second time inside `make test`."""

from __future__ import annotations

import os

if os.environ.get("DUBAN_FAULTS") != "1":
    collect_ignore_glob = ["test_*.py"]
