"""The benchmark harnesses on tiny sizes, as processes: `python -m bench --smoke` and
`python -m bench.coverage --smoke` each start their own PostgreSQL, Redis, API and workers,
load and measure, and write their results. The figures mean nothing at these sizes (and with
the rest of the tier running beside them); what is checked is that `make bench` still works
end to end and that every phase measured something, with nothing lost or duplicated."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

# A liveness bound: each run takes under a minute on two busy cores.
RUN_WITHIN = 600


def run_bench(module: str, out: Path, *options: str) -> str:
    """Run a harness into `out`; its output (stdout and stderr), failing with its tail."""
    done = subprocess.run(
        [sys.executable, "-m", module, "--smoke", "--out", str(out), *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_WITHIN,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    return output


def table_rows(text: str, after: str) -> dict[str, list[str]]:
    """The rows of the first Markdown table after the text `after`, by their first cell,
    without its header row."""
    lines = [line for line in text.split(after, 1)[1].splitlines() if not line.startswith("|---")]
    first = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows: dict[str, list[str]] = {}
    for line in itertools.takewhile(lambda line: line.startswith("|"), lines[first + 1 :]):
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows.setdefault(cells[0], cells[1:])
    return rows


def assert_all_answered(rows: dict[str, list[str]]) -> None:
    """Every row of a table whose last two columns are `ok` and `errors`."""
    for name, cells in rows.items():
        ok, errors = cells[-2:]
        assert int(ok) > 0, name
        assert errors == "0", name


@pytest.mark.slow(seconds=50)
def test_the_benchmark_measures_every_phase_on_tiny_sizes(tmp_path: Path) -> None:
    out = tmp_path / "results.md"
    output = run_bench("bench", out, "--pg-statements")
    results = out.read_text()
    assert "## Problems in this run" not in results
    targets = table_rows(results, "## DESIGN §9 targets")
    assert targets["Zero duplicate escalations"][:2] == ["0", "met"]
    assert any(name.startswith("GET /findings") for name in targets)
    ingest = table_rows(results, "## Ingest")
    assert {"yardstick@8", "same-sql@8", "duban@8", "duban@32"} <= set(ingest)
    assert_all_answered(ingest)
    # --pg-statements: where PostgreSQL's time went during the sweep, a line a statement
    assert len(re.findall(r"\d+ ms +\d+ calls +\d+ rows", output)) >= 5


@pytest.mark.slow(seconds=25)
def test_the_coverage_benchmark_runs_on_tiny_sizes(tmp_path: Path) -> None:
    out = tmp_path / "coverage.md"
    run_bench("bench.coverage", out)
    results = out.read_text()
    assert "SMOKE" in results
    targets = table_rows(results, "## Campaign instruments")
    assert len(targets) >= 5
    assert all(cells[-1] in ("met", "**missed**") for cells in targets.values())
    reads = table_rows(results, "Reads: one client")
    assert any(name.startswith("POST /inspections") for name in reads)
    assert_all_answered(reads)
