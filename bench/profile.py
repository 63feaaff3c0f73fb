"""`python -m bench.profile`: where a report's CPU goes in the API, against the same-SQL floor.

Builds the bench's stack (embedded PostgreSQL and Redis, the demo organisation and a
generated background of findings), starts the API and the yardstick as one process each
under cProfile with a CPU clock (bench/profiled.py), warms both up, then profiles each while
the bench's ingest load runs against it. Every function's own time goes to the part of the
work it belongs to (COMPONENTS), so the table says how many milliseconds of CPU per stored
report each part costs in duban and in the floor, measured in the same run.

    python -m bench.profile                        # 20 s per target at 2 clients
    python -m bench.profile --out F.md --stats DIR # the table as Markdown, the raw profiles

cProfile's own bookkeeping makes every call dearer, so the profiled totals are larger than
the unprofiled CPU per report (the last rows give both): read the parts against each other.
Two clients keep the machine below saturation, so the load generator and PostgreSQL do not
starve the process being measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pstats
import shutil
import signal
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import psutil

from bench import datagen, load
from bench.runner import HOST, bearer, finding_requests, where_and_what
from bench.stack import Child, Stack

# (part of the work, what "file:function" of a profiled function contains), first match
# wins, so the more specific come first. Functions written in C or Cython (pydantic-core,
# asyncpg's protocol, the json encoder) are named by their object, hence the class names.
COMPONENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("body validation (pydantic)", ("SchemaValidator", "pydantic/")),
    ("answer encoding (pydantic)", ("SchemaSerializer", "to_json")),
    ("middleware: limits, text guard, headers, request id",
     ("services/api/middleware", "services/api/headers", "services/api/text_guard",
      "services/api/json_depth")),
    ("authentication: token, caller, scope",
     ("services/api/deps", "services/core/identity/", "jwt/", "hmac", "_hashlib.hmac")),
    ("route, source check and answer (duban)",
     ("services/api/routes/", "services/api/schemas/", "services/api/problems")),
    ("reference snapshot (routing look-up)", ("services/core/reference/",)),
    ("deadlines, calendar, ladder", ("services/core/calendar/", "services/core/escalation/")),
    ("intake rules and statement arguments", ("services/core/findings/", "_hashlib", "uuid")),
    ("other duban code", ("services/",)),
    ("floor endpoint (bench/yardstick.py)", ("bench/yardstick",)),
    ("SQL client (asyncpg)", ("asyncpg",)),
    ("SQLAlchemy: the pool (and the ORM where a route uses it)", ("sqlalchemy/", "greenlet")),
    ("metrics (prometheus_client)", ("prometheus_client/",)),
    ("logging (structlog, logging)", ("structlog/", "logging/")),
    ("JSON (stdlib)", ("json/", "_json")),
    ("framework: routing, requests, dependencies",
     ("fastapi/", "starlette/", "anyio/", "contextlib", "email/", "typing")),
    ("HTTP server (uvicorn, httptools)", ("uvicorn/", "httptools", "h11/")),
    ("event loop and sockets", ("asyncio/", "selectors", "socket", "select.", "_asyncio")),
)  # fmt: skip
OTHER = "other"


def component_of(where: str) -> str:
    """The part of the work a profiled function ("file:line(function)") belongs to."""
    for name, needles in COMPONENTS:
        if any(n in where for n in needles):
            return name
    return OTHER


def by_component(stats: pstats.Stats) -> Counter[str]:
    """Own CPU seconds per part of the work."""
    out: Counter[str] = Counter()
    for (file, line, function), row in stats.stats.items():  # type: ignore[attr-defined]
        out[component_of(f"{file}:{line}({function})")] += row[2]
    return out


@dataclass
class Profile:
    target: str
    reports: int
    seconds: Counter[str]
    # The process's CPU per report as the kernel counts it, profiled; and unprofiled, over
    # the same load just before.
    profiled_ms: float
    plain_ms: float

    def ms(self, part: str) -> float:
        return self.seconds[part] * 1000 / max(self.reports, 1)

    @property
    def total(self) -> float:
        return sum(self.ms(p) for p in self.seconds)


async def _requests(database_url: str, auth: dict[str, str], path: str) -> load.RequestFactory:
    streets, categories = await where_and_what(database_url)
    return finding_requests(streets, categories, auth, path)


def _cpu_ms(child: Child, port: int, make: load.RequestFactory, clients: int,
            seconds: float) -> tuple[load.Result, float]:  # fmt: skip
    proc = psutil.Process(child.pid)
    before = sum(proc.cpu_times()[:2])
    result = asyncio.run(load.run(HOST, port, make, clients=clients, seconds=seconds))
    return result, (sum(proc.cpu_times()[:2]) - before) * 1000 / max(result.ok, 1)


def profile_one(
    name: str, server: tuple[Child, int], path: str, args: argparse.Namespace, stack: Stack
) -> Profile:
    child, port = server
    stats = stack.root / f"{name}.pstats"
    auth = args.auth
    make = asyncio.run(_requests(stack.database_url, auth, path))
    _cpu_ms(child, port, make, args.clients, 3)  # warm-up: pools, caches, first statements
    _, plain = _cpu_ms(child, port, make, args.clients, args.seconds)
    os.kill(child.pid, signal.SIGUSR1)
    result, profiled = _cpu_ms(child, port, make, args.clients, args.seconds)
    os.kill(child.pid, signal.SIGUSR2)
    if result.ok == 0 or result.errors:
        # A profile of failing requests would measure the wrong path.
        raise RuntimeError(f"{name}: {result.statuses}, {result.errors} errors\n{child.log_tail()}")
    deadline = time.monotonic() + 60
    while not stats.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)  # the file is written in one go, but give it its moment
    seconds = by_component(pstats.Stats(str(stats)))
    print(f"{name}: {result.ok} reports profiled, {result.throughput:.0f}/s", flush=True)
    return Profile(name, result.ok, seconds, profiled, plain)


def table(profiles: list[Profile]) -> str:
    """Milliseconds of CPU per stored report, per part of the work, a column per target."""
    parts = [p for p in (*(c for c, _ in COMPONENTS), OTHER) if any(x.seconds[p] for x in profiles)]
    parts.sort(key=lambda p: -max(x.ms(p) for x in profiles))
    lines = [
        "| part of the work | " + " | ".join(f"{p.target} (ms/report)" for p in profiles) + " |",
        "|---|" + "---:|" * len(profiles),
    ]
    for part in parts:
        lines.append(f"| {part} | " + " | ".join(f"{x.ms(part):.3f}" for x in profiles) + " |")
    lines.append(
        "| **profiled total** | " + " | ".join(f"**{x.total:.3f}**" for x in profiles) + " |"
    )
    rows = (
        ("CPU per report, profiled (kernel)", [x.profiled_ms for x in profiles]),
        ("CPU per report, not profiled (kernel)", [x.plain_ms for x in profiles]),
    )
    for label, values in rows:
        lines.append(f"| {label} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
    lines.append("| reports profiled | " + " | ".join(str(x.reports) for x in profiles) + " |")
    return "\n".join(lines)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--findings", type=int, default=50_000, help="generated background")
    parser.add_argument("--seconds", type=float, default=20, help="profiled load per target")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--out", type=Path, help="write the table (Markdown) here too")
    parser.add_argument("--stats", type=Path, help="keep the raw profiles (pstats) here")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="duban-profile-"))
    try:
        with Stack(root) as stack:
            stack.start_servers()
            stack.migrate_and_seed()
            asyncio.run(_generate(stack.database_url, args.findings))
            duban = stack.start_profiled(
                "api", ["services.api.app:create_app", "--factory"], root / "duban.pstats"
            )
            floor = stack.start_profiled(
                "yardstick", ["bench.yardstick:app"], root / "floor.pstats"
            )
            args.auth = bearer(duban[1], "inspector")
            profiles = [
                profile_one("floor", floor, "/findings/same-sql", args, stack),
                profile_one("duban", duban, "/api/v1/findings", args, stack),
            ]
            if args.stats:
                args.stats.mkdir(parents=True, exist_ok=True)
                for name in ("floor", "duban"):
                    shutil.copy(root / f"{name}.pstats", args.stats / f"{name}.pstats")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    text = table(profiles)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


async def _generate(database_url: str, findings: int) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await datagen.generate(conn, findings, min(findings // 10, 10_000))
    finally:
        await conn.close()


if __name__ == "__main__":
    raise SystemExit(main())
