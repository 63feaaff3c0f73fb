"""A new `make bench` rewrites bench/RESULTS.md but keeps what stands below its marker: the A/B
comparisons written by hand, which no single run can produce, and the campaign instruments'
section (bench/report.py, bench/coverage.py)."""

from __future__ import annotations

from bench.coverage import BEGIN, END, splice
from bench.report import HAND_WRITTEN, keep_hand_written

NEW = "# duban benchmark results\n\n| duban@8 | 900 |\n"
OLD = "# duban benchmark results\n\n| duban@8 | 800 |\n"
AB = "\n\n## Item 2, before and after\n\n| before | after |\n| 0.34 | 0.31 |\n"


def test_the_hand_written_comparisons_survive_a_new_run() -> None:
    written = keep_hand_written(NEW, OLD + "\n" + HAND_WRITTEN + AB)
    assert written.startswith(NEW.rstrip("\n"))
    assert written.endswith(HAND_WRITTEN + AB)
    assert "| 800 |" not in written


def test_a_file_with_no_marker_is_replaced_whole() -> None:
    assert keep_hand_written(NEW, OLD) == NEW
    assert keep_hand_written(NEW, "") == NEW


def test_the_coverage_section_goes_where_a_new_run_keeps_it() -> None:
    block = f"{BEGIN}\n## Campaign instruments\n{END}\n"
    spliced = splice(OLD, block)
    assert block in keep_hand_written(NEW, spliced)
    again = splice(spliced, f"{BEGIN}\n## Campaign instruments, run 2\n{END}\n")
    assert again.count(HAND_WRITTEN) == 1
    assert "run 2" in again
    assert "## Campaign instruments\n" not in again
