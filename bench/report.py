"""bench/RESULTS.md: the figures of one run and each DESIGN §9 target, met or missed, and
below them the comparisons written by hand, which a new run keeps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass
class Target:
    name: str
    met: bool
    measured: str
    # Why a missed target cannot be met on this machine, with the measurement that shows it.
    out_of_reach: str | None = None

    @property
    def verdict(self) -> str:
        if self.met:
            return "met"
        return "**missed**" + (f", out of reach: {self.out_of_reach}" if self.out_of_reach else "")


# A comparison of two commits (an A/B, each side in its own worktree, runs alternating) takes
# several runs, so no single run can write it: it stands by hand below this line, as does
# the section `python -m bench.coverage` writes.
HAND_WRITTEN = "<!-- Written by hand below this line; make bench keeps it. -->"


def keep_hand_written(rendered: str, previous: str) -> str:
    """The new run's figures, then the hand-written part of the file they replace."""
    _, marker, kept = previous.partition(HAND_WRITTEN)
    if not marker:
        return rendered
    return rendered.rstrip("\n") + "\n\n" + HAND_WRITTEN + kept


def _table(rows: dict[str, dict[str, Any]], columns: list[str]) -> list[str]:
    lines = ["| | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, row in rows.items():
        lines.append(f"| {name} | " + " | ".join(str(row.get(c, "")) for c in columns) + " |")
    return lines


def cell(value: Any) -> str:
    """A table cell: a spread as `median (min–max)`, anything else as it is."""
    if isinstance(value, dict) and "median" in value:
        return f"{value['median']:g} ({value['min']:g}–{value['max']:g})"
    return str(value)


def _load_line(loads: list[str]) -> str:
    values = sorted(float(entry.rsplit(" ", 1)[1]) for entry in loads)
    if not values:
        return "- Load: not recorded"
    return (
        f"- Load of the machine during the run (1-minute load average on {{cores}} cores): "
        f"{values[0]:.1f}–{values[-1]:.1f}, median {values[len(values) // 2]:.1f}; "
        "each step's figure is at the end"
    )


def _ingest(ingest: dict[str, Any], api_workers: int) -> list[str]:
    rows = {
        k: {c: cell(v) for c, v in row.items()}
        for k, row in ingest.items()
        if "@" in k and not k.startswith("ratio")
    }
    ratios = {
        k.removeprefix("ratio ").replace("@", " at ") + " clients": {"median (min–max)": cell(v)}
        for k, v in ingest.items()
        if k.startswith("ratio")
    }
    return [
        "",
        "## Ingest: POST /findings (closed loop, keep-alive, one connection per client)",
        "",
        f"{ingest.get('rounds')} rounds, each measuring the yardstick, the same-SQL floor and "
        "duban back to back at 8 and then 32 clients; every figure is the median over the "
        "rounds, with min–max in brackets. The throughput ratios are taken within each round "
        "and their median is what the targets above judge.",
        "",
        *_table(rows, ["throughput", "p50_ms", "p95_ms", "p99_ms", "ok", "errors"]),
        "",
        "CPU per stored finding (API or yardstick, PostgreSQL, all processes with the load "
        "generator) and the throughput that CPU alone allows on this machine's cores:",
        "",
        *_table(rows, ["server_ms_per_req", "postgres_ms_per_req", "total_ms_per_req",
                       "cpu_ceiling_per_s", "loadgen_cpu_share"]),
        "",
        "Throughput ratios, per round:",
        "",
        *_table(ratios, ["median (min–max)"]),
        "",
        "`yardstick`: a bare FastAPI + asyncpg endpoint inserting one row into a table of "
        "its own (bench/yardstick.py). `same-sql`: the floor under duban's intake, a bare "
        "endpoint in the same processes sending exactly duban's statements (the caller's "
        "read, then `intake_report`: the look-around and the write of the finding and its "
        "events into duban's tables) with everything else reduced to constants. A target the "
        "floor misses cannot be met by any Python over this schema on this machine.",
        "",
        f"API and yardstick each ran as {api_workers} uvicorn worker process(es). "
        "`loadgen_cpu_share`: the load generator's CPU time over (wall time x cores).",
    ]  # fmt: skip


def render(
    figures: dict[str, Any],
    targets: list[Target],
    problems: list[str],
    started: datetime,
    *,
    smoke: bool,
) -> str:
    m = figures.get("machine", {})
    out = [
        "# duban benchmark results"
        + (" (SMOKE: tiny sizes, figures meaningless)" if smoke else ""),
        "",
        f"- Date: {started:%Y-%m-%d %H:%M} UTC; run took {figures.get('duration_s')} s",
        f"- Machine: {m.get('cores')} cores, {m.get('memory_gb')} GB, {m.get('cpu')}; "
        f"{m.get('os')}",
        "- Everything co-located: PostgreSQL (fsync on, reached through its Unix socket) + "
        f"Redis + API (uvicorn, {figures.get('api_workers', 1)} worker processes) + yardstick "
        "(the same) + 2 arq workers + the load generator.",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in figures.get("versions", {}).items()),
        _load_line(figures.get("loadavg", [])).format(cores=m.get("cores")),
        "- Profiles and the bottlenecks behind missed targets: bench/ANALYSIS.md (hand-written).",
        "",
        "## DESIGN §9 targets",
        "",
        "| Target | Measured | |",
        "|---|---|---|",
    ]
    out += [f"| {t.name} | {t.measured} | {t.verdict} |" for t in targets]
    if problems:
        out += ["", "## Problems in this run", ""] + [f"- {p}" for p in problems]
    data, shares = figures.get("data", {}), figures.get("shares", {})
    out += [
        "",
        "## Data",
        "",
        f"Generated in SQL in {data.get('total_seconds')} s "
        f"(findings {data.get('findings_seconds')} s, with escalations "
        f"{data.get('insert_seconds')} s, then VACUUM ANALYZE).",
        "",
        f"- findings: {shares.get('total', 0):,}; open {shares.get('open', 0):,}; "
        f"overdue (past due, open) {shares.get('overdue', 0):,}; "
        f"escalated {shares.get('escalated', 0):,} "
        f"({shares.get('escalation_rows', 0):,} escalation rows, 1–4 levels each)",
        "- The open count includes the escalation phase's set, dispatched and not yet due "
        "when the table above was taken. Events (audit rows) and notifications of the "
        "history are not generated.",
    ]
    ingest = figures.get("ingest", {})
    if ingest:
        out += _ingest(ingest, figures.get("api_workers", 1))
    sup = figures.get("supervision", {})
    if sup:
        out += [
            "",
            "## Supervision (one client, as the supervisor, districts in rotation)",
            "",
            *_table(sup, ["p50_ms", "p95_ms", "p99_ms", "ok", "errors"]),
        ]
    ui = figures.get("ui", {})
    if ui:
        out += [
            "",
            "## Dashboard pages (one client on loopback, logged in to /ui as the supervisor)",
            "",
            *_table(ui, ["p50_ms", "p95_ms", "p99_ms", "ok", "errors"]),
        ]
    esc = figures.get("escalation", {})
    if esc:
        out += ["", "## Escalation (2 arq workers, sweep every "
                f"{esc.get('sweep_interval_s')} s)", ""]  # fmt: skip
        out += [f"- {k}: {v}" for k, v in esc.items()]
    rss = figures.get("peak_rss_mb", {})
    if rss:
        out += ["", "## Peak RSS (MB, sampled every 0.2 s)", ""]
        out += [f"- {k}: {v}" for k, v in rss.items()]
    loads = figures.get("loadavg", [])
    if loads:
        out += ["", "## Machine load (1-minute load average, at each step of the run)", "",
                ", ".join(loads)]  # fmt: skip
    return "\n".join(out) + "\n"
