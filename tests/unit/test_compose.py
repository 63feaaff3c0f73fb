"""docker-compose.yml, the Dockerfile and .env.example, checked without Docker: everything
they name exists, and every variable they set is a real setting."""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import re
import shlex
import tomllib
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from services.cli.main import _parser
from services.core.platform.settings import Settings, get_settings
from tests.helpers import ROOT

COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
SETTINGS_VARS = {f"DUBAN_{name.upper()}": name for name in Settings.model_fields}
OUR_IMAGE = sorted(name for name, svc in SERVICES.items() if "build" in svc)


def _project_scripts() -> dict[str, str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    scripts: dict[str, str] = pyproject["project"]["scripts"]
    return scripts


def _installed_scripts() -> set[str]:
    return {ep.name for ep in importlib.metadata.entry_points(group="console_scripts")}


def _import_target(target: str, sep: str) -> object:
    module, _, attr = target.rpartition(sep) if sep == "." else target.partition(sep)
    return getattr(importlib.import_module(module), attr)


@pytest.fixture
def resolvable_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The worker settings need URLs to be built (they never connect here)."""
    import services.worker.settings as worker_settings

    monkeypatch.setenv("DUBAN_DATABASE_URL", "postgresql://u:p@db.invalid/duban")
    monkeypatch.setenv("DUBAN_REDIS_URL", "redis://:p@redis.invalid:6379/0")
    monkeypatch.setattr(worker_settings, "_built", [])
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def check_argv(argv: list[str]) -> None:
    """The program exists and every module or object it is told to load does too."""
    program, args = argv[0], argv[1:]
    if program == "python":
        if args[0] == "-c":
            compile(args[1], "<healthcheck>", "exec")
            return
        assert args[0] == "-m", argv
        program, args = args[1], args[2:]
        assert importlib.util.find_spec(program) is not None, program
    elif program == "duban":
        target = _project_scripts()[program]
        assert callable(_import_target(target, ":"))
        _parser().parse_args(args)  # exits (fails the test) on an unknown command
        return
    else:
        assert program in _installed_scripts(), f"{program} is not an installed console script"
    if program == "uvicorn":
        app = _import_target(args[0], ":")
        assert callable(app)
        assert "--factory" in args
    elif program == "services.worker":
        from services.worker import settings as worker_settings
        from services.worker.__main__ import parser

        parser().parse_args(args)  # exits (fails the test) on an unknown option
        assert getattr(worker_settings.build(get_settings()), "functions", None)


def _argv(command: Any) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


def _healthcheck_argv(service: dict[str, Any]) -> list[str] | None:
    test = service.get("healthcheck", {}).get("test")
    if test is None or test[0] != "CMD":
        return None
    return [str(a) for a in test[1:]]


@pytest.mark.usefixtures("resolvable_settings")
@pytest.mark.parametrize("name", OUR_IMAGE)
def test_commands_of_our_image_name_things_that_exist(name: str) -> None:
    service = SERVICES[name]
    check_argv(_argv(service["command"]))
    if "entrypoint" in service:
        check_argv(_argv(service["entrypoint"]))
    health = _healthcheck_argv(service)
    if health is not None:
        check_argv(health)


@pytest.mark.usefixtures("resolvable_settings")
def test_the_dockerfile_copies_existing_files_and_runs_an_existing_app() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    copies = [line.split()[1:-1] for line in lines if line.startswith("COPY ")]
    assert copies
    for sources in copies:
        for source in sources:
            assert (ROOT / source).exists(), source
    [cmd] = [line for line in lines if line.startswith("CMD ")]
    check_argv(json.loads(cmd.removeprefix("CMD ")))
    assert any(line.startswith("FROM python:3.11-slim") for line in lines)
    assert any("uv sync --frozen" in line for line in lines)
    assert any(line.startswith("USER ") and "root" not in line for line in lines)
    for var in re.findall(r"\b(DUBAN_[A-Z_]+)=", "\n".join(lines)):
        assert var in SETTINGS_VARS, f"Dockerfile sets {var}, which is not a setting"


def test_the_production_topology() -> None:
    assert set(SERVICES) >= {"postgres", "redis", "migrate", "api", "worker"}
    assert SERVICES["postgres"]["image"].startswith("postgres:18")
    assert "pg_isready" in " ".join(SERVICES["postgres"]["healthcheck"]["test"])
    redis = SERVICES["redis"]
    assert redis["image"].startswith("redis:7")
    assert "--appendonly yes" in " ".join(_argv(redis["command"]))
    assert "ping" in " ".join(redis["healthcheck"]["test"])
    assert _argv(SERVICES["migrate"]["command"]) == ["duban", "migrate"]
    assert SERVICES["migrate"]["restart"] == "no"
    for name in ("api", "worker"):
        depends = SERVICES[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert "healthcheck" in SERVICES[name]
    assert "/readyz" in " ".join(SERVICES["api"]["healthcheck"]["test"])
    assert "--check" in SERVICES["worker"]["healthcheck"]["test"]
    # Seeding demo accounts is opt-in, never part of a production start.
    seeding = [n for n, s in SERVICES.items() if "seed-demo" in _argv(s.get("command", []))]
    assert seeding
    assert all(SERVICES[n].get("profiles") == ["demo"] for n in seeding)
    assert len({SERVICES[n]["image"] for n in OUR_IMAGE}) == 1


def test_every_duban_variable_set_is_a_setting_and_no_secret_is_literal() -> None:
    for name, service in SERVICES.items():
        env = service.get("environment", {})
        if isinstance(env, list):
            env = dict(item.split("=", 1) for item in env)
        for key, value in env.items():
            if key.startswith("DUBAN_"):
                assert key in SETTINGS_VARS, f"{name}: {key} is not a setting"
            if re.search("SECRET|PASSWORD|AUTH", key):
                assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", str(value)), f"{name}: literal {key}"
            if key.endswith("_URL") and "@" in str(value):
                password = str(value).split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
                assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", password), f"{name}: literal in {key}"
    redis_command = " ".join(_argv(SERVICES["redis"]["command"]))
    assert re.search(r"--requirepass \$\{\w+:\?", redis_command)


def _env_example() -> dict[str, str]:
    found = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.fullmatch(r"#?\s*([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if match:
            found[match[1]] = match[2]
    return found


def test_env_example_lists_every_setting_with_its_default() -> None:
    example = _env_example()
    documented = {k for k in example if k.startswith("DUBAN_")}
    assert documented == set(SETTINGS_VARS)
    for var, field in SETTINGS_VARS.items():
        default = Settings.model_fields[field].default
        shown = "" if default is None else str(default)
        assert example[var] == shown, (
            f"{var}: .env.example says {example[var]!r}, default is {shown!r}"
        )


def test_env_example_has_nothing_unknown() -> None:
    compose_text = (ROOT / "docker-compose.yml").read_text()
    for var in _env_example():
        assert var in SETTINGS_VARS or "${" + var in compose_text, f"{var} is used nowhere"
