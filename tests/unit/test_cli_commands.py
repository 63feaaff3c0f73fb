"""The `duban` command line's table of commands: every command and action its parser accepts
runs a function that exists, and starting it does not load what only other commands use
(services/cli/main.py imports a command's module when that command runs)."""

from __future__ import annotations

import argparse
import subprocess
import sys

from services.cli.main import COMMANDS, _parser, command
from tests.helpers import ROOT


def parsed_commands() -> set[tuple[str, str | None]]:
    """(command, action) for every sub-command and sub-sub-command the parser knows."""

    def subparsers(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                return dict(action.choices)
        return {}

    found: set[tuple[str, str | None]] = set()
    for name, parser in subparsers(_parser()).items():
        actions = subparsers(parser)
        found |= {(name, a) for a in actions} if actions else {(name, None)}
    return found


def test_every_command_the_parser_accepts_runs_a_function() -> None:
    assert parsed_commands() == set(COMMANDS)
    for name, action in COMMANDS:
        args = argparse.Namespace(command=name)
        if action is not None:
            setattr(args, f"{name}_command", action)
        assert callable(command(args)), (name, action)


def test_starting_duban_loads_no_command_s_heavy_dependencies() -> None:
    heavy = ("openpyxl", "shapely", "reportlab", "alembic", "services.core.demo.service")
    probe = (
        f"import sys, services.cli.main; print(' '.join(m for m in {heavy!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == []
