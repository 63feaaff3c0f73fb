"""DESIGN §2: services.api and services.worker never import each other; services.core imports
neither (nor the command line); and a package of services/core imports only the packages
docs/architecture.md allows it, read from the table there. Checked on the source, so no
import is missed because it sits in a function body or behind TYPE_CHECKING. Every
__init__.py is empty: a package is what its modules hold, nothing is re-exported."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import ROOT

SERVICES = ROOT / "services"
CORE = SERVICES / "core"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
ARROWS_MARKER = "<!-- The dependency-rule test reads this table"

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


def allowed_arrows(document: str) -> dict[str, set[str]]:
    """The table after ARROWS_MARKER: each package of services/core and what it may import."""
    lines = document[document.index(ARROWS_MARKER) :].splitlines()[3:]  # marker, header, rule
    arrows: dict[str, set[str]] = {}
    for line in lines:
        if not line.startswith("|"):
            break
        package, targets = (cell.strip() for cell in line.strip().strip("|").split("|"))
        arrows[package] = {t.strip() for t in targets.split(",")} - {"—"}
    return arrows


def core_package(module: str) -> str | None:
    """The package of services/core a module belongs to (`models` for models.py); None for
    services.core itself and anything outside it."""
    parts = module.split(".")
    return parts[2] if parts[:2] == ["services", "core"] and len(parts) > 2 else None


def arrow_violations(arrows: dict[str, set[str]]) -> list[str]:
    bad = []
    for path in sorted(CORE.rglob("*.py")):
        module = _module_name(path)
        source = core_package(module)
        if source is None:
            continue
        names = imported_modules(path.read_text(), module, is_package=path.name == "__init__.py")
        targets = {t for n in names if (t := core_package(n)) is not None and t != source}
        for target in sorted(targets):
            if target not in arrows.get(source, set()):
                bad.append(f"{path.relative_to(ROOT)} imports services.core.{target}")
    return bad


ARROWS = allowed_arrows(ARCHITECTURE.read_text())


def test_the_architecture_lists_every_package_of_core() -> None:
    packages = {p.parent.name for p in CORE.glob("*/__init__.py")}
    modules = {p.stem for p in CORE.glob("*.py")} - {"__init__"}
    assert set(ARROWS) == packages | modules
    assert all(target in ARROWS for targets in ARROWS.values() for target in targets)


def test_the_allowed_arrows_have_no_cycle() -> None:
    placed: list[str] = []
    waiting = dict(ARROWS)
    while waiting:
        ready = [p for p, targets in waiting.items() if targets <= set(placed)]
        assert ready, f"a cycle among {sorted(waiting)}"
        placed += ready
        for p in ready:
            del waiting[p]


def test_packages_of_core_import_only_what_the_architecture_allows() -> None:
    assert arrow_violations(ARROWS) == []


def test_an_import_the_architecture_does_not_allow_is_found() -> None:
    # findings imports reference, escalation, evidence, calendar and identity: without
    # those arrows in the table, each of its imports of them is a violation.
    assert arrow_violations({**ARROWS, "findings": {"models", "platform"}})
    assert core_package("services.core.stats.queries") == "stats"
    assert core_package("services.core.models") == "models"
    assert core_package("services.core") is None
    assert core_package("services.api.routes") is None


def test_every_init_is_empty() -> None:
    assert [str(p.relative_to(ROOT)) for p in SERVICES.rglob("__init__.py") if p.read_text()] == []
