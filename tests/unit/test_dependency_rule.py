"""DESIGN §2: services.api and services.worker never import each other; services.core imports
neither (nor the command line). Checked on the source, so no import is missed because it
sits in a function body or behind TYPE_CHECKING."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import ROOT

SERVICES = ROOT / "services"

FORBIDDEN = {
    "api": ("services.worker", "services.cli"),
    "worker": ("services.api", "services.cli"),
    "core": ("services.api", "services.worker", "services.cli"),
}
_IMPORT_FUNCTIONS = {"import_module", "__import__"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SERVICES.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    base = module.split(".")
    # A module's own package is one level up; a package's __init__ is its own package.
    base = base if is_package else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, target] if target else base)


def imported_modules(source: str, module: str, *, is_package: bool = False) -> set[str]:
    """Every module `module` imports, with `from X import Y` counted as both X and X.Y (Y may
    be a submodule: `from services import worker`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source, module)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = (
                _resolve_relative(module, is_package, node.level, node.module)
                if node.level
                else node.module or ""
            )
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in _IMPORT_FUNCTIONS:
                found.add(node.args[0].value)
    return found


def _violations(package: str) -> list[str]:
    bad = []
    for path in sorted((SERVICES / package).rglob("*.py")):
        names = imported_modules(
            path.read_text(), _module_name(path), is_package=path.name == "__init__.py"
        )
        for name in sorted(names):
            for prefix in FORBIDDEN[package]:
                if name == prefix or name.startswith(prefix + "."):
                    bad.append(f"{path.relative_to(SERVICES.parent)} imports {name}")
    return bad


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_does_not_import_what_it_must_not(package: str) -> None:
    assert (SERVICES / package).is_dir()
    assert _violations(package) == []


def test_the_checker_sees_every_form_of_import() -> None:
    source = (
        "import services.worker.jobs\n"
        "from services import worker\n"
        "from ..worker import settings\n"
        "from .. import worker as w\n"
        "def f():\n"
        "    import importlib\n"
        "    importlib.import_module('services.worker.queue')\n"
    )
    found = imported_modules(source, "services.api.probe")
    assert {
        "services.worker.jobs",
        "services.worker",
        "services.worker.settings",
        "services.worker.queue",
    } <= found
    assert "services.api.routes" in imported_modules(
        "from .routes import health\n", "services.api", is_package=True
    )
