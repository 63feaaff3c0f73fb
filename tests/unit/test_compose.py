"""docker-compose.yml, the Dockerfile, .env.example and the proxy's Caddyfile, checked without
Docker: everything they name exists, every variable they set is a real setting, every setting
can be given to the containers, and the data lives in volumes (the photos in one that every
API replica shares)."""

from __future__ import annotations

import importlib
import importlib.metadata
import ipaddress
import json
import re
import shlex
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.cli.main import _parser
from services.core.platform.settings import Settings, get_settings
from tests.helpers import ROOT

COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
SETTINGS_VARS = {f"DUBAN_{name.upper()}": name for name in Settings.model_fields}
OUR_IMAGE = sorted(name for name, svc in SERVICES.items() if "build" in svc)
# The services that run duban code against the data: each must see every setting.
DUBAN_PROCESSES = ("api", "worker", "migrate", "ops")
# What an operator's .env must hold at least (the compose file refuses to start without).
REQUIRED = {
    "POSTGRES_PASSWORD": "pg-password",
    "REDIS_PASSWORD": "redis-password",
    "DUBAN_JWT_SECRET": "j" * 40,
    "DUBAN_WEBHOOK_SECRET": "w" * 40,
    "DUBAN_LINK_SECRET": "l" * 40,
    "DUBAN_CHANNEL_KEY": "c" * 40,
    "DUBAN_PACK_SIGNING_KEY": "p" * 43,
}
# Settings the compose file decides and .env cannot change, and why: the photos must stay in
# the volume every replica mounts, whatever a DUBAN_MEDIA_DIR meant for another machine says.
PINNED = {
    "DUBAN_DATA_DIR": "the image's data directory (Dockerfile)",
    "DUBAN_MEDIA_DIR": "the mount point of the photos' volume",
}


class MissingVariable(Exception):
    pass


def interpolate(text: str, env: dict[str, str]) -> str:
    """What docker compose makes of a value: $$, $VAR and ${VAR}, ${VAR:-default},
    ${VAR-default}, ${VAR:?error}, ${VAR?error}, ${VAR:+alt}, ${VAR+alt}, nested."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("${", i):
            depth, j = 0, i + 1
            while True:
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                if depth == 0:
                    break
                j += 1
            out.append(_expand(text[i + 2 : j], env))
            i = j + 1
        elif match := re.match(r"\$([_A-Za-z]\w*)", text[i:]):
            out.append(env.get(match[1], ""))
            i += len(match[0])
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _expand(expr: str, env: dict[str, str]) -> str:
    match = re.fullmatch(r"([_A-Za-z]\w*)(?:(:?[-?+])(.*))?", expr, re.DOTALL)
    assert match, f"not a compose expression: ${{{expr}}}"
    name, op, arg = match[1], match[2], match[3]
    value = env.get(name)
    if op is None:
        return value or ""
    present = bool(value) if op.startswith(":") else value is not None
    if op.endswith("-"):
        return value if present and value is not None else interpolate(arg, env)
    if op.endswith("?"):
        if not present or value is None:
            raise MissingVariable(f"{name}: {interpolate(arg, env)}")
        return value
    return interpolate(arg, env) if present else ""


def resolved(env: dict[str, str]) -> dict[str, Any]:
    """The compose file as docker compose reads it with `env` as its .env."""

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return interpolate(node, env)
        if isinstance(node, list):
            return [walk(item) for item in node]
        if isinstance(node, dict):
            return {key: walk(value) for key, value in node.items()}
        return node

    return dict(walk(COMPOSE))


def container_env(compose: dict[str, Any], service: str, dotenv: dict[str, str]) -> dict[str, str]:
    """The environment a service's containers get: its env_file (the project's .env, here
    `dotenv`), overridden by its `environment`."""
    spec = compose["services"][service]
    env: dict[str, str] = {}
    for item in spec.get("env_file", []):
        path = item["path"] if isinstance(item, dict) else item
        assert path == ".env", f"{service}: env_file {path}"
        env.update(dotenv)
    environment = spec.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    env.update({key: str(value) for key, value in environment.items()})
    return env


def mounts(spec: dict[str, Any]) -> dict[str, str]:
    """A service's volumes: container path -> source (a volume's name or a host path)."""
    found = {}
    for item in spec.get("volumes", []):
        source, target = item.split(":")[:2]
        found[target] = source
    return found


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
    monkeypatch.setenv("DUBAN_DATABASE_URL", "postgresql://u:p@db.invalid/duban")
    monkeypatch.setenv("DUBAN_REDIS_URL", "redis://:p@redis.invalid:6379/0")
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
        if args == ["--help"]:
            return
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
        assert worker_settings.build(get_settings())["functions"]


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
    check_argv(_argv(service.get("entrypoint", [])) + _argv(service["command"]))
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
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in lines
    assert "FROM ${PYTHON_IMAGE}" in lines
    assert any("uv sync --frozen" in line for line in lines)
    # a package mirror and our own certificate authorities, as build arguments
    assert "ARG UV_INDEX_URL=" in lines
    assert any(line.startswith("COPY deploy/ca-certificates/ ") for line in lines)
    assert any(line.startswith("USER ") and "root" not in line for line in lines)
    for var in re.findall(r"\b(DUBAN_[A-Z_]+)=", "\n".join(lines)):
        assert var in SETTINGS_VARS, f"Dockerfile sets {var}, which is not a setting"


def test_every_key_the_processes_must_share_is_required() -> None:
    """A key generated into the data dir when unset is one per container here (only the
    photos' volume is shared): the API would seal robot URLs and sign links with keys the
    worker never sees. So compose refuses to start without each, and names it."""
    generated = re.findall(
        r'persistent_secret\(settings\.data_dir / "([\w-]+)"',
        (ROOT / "services/core/platform/keys.py").read_text(),
    )
    assert len(generated) >= 4
    for name in generated:
        var = "DUBAN_" + name.upper().replace("-", "_")
        assert var in REQUIRED, var
        with pytest.raises(MissingVariable, match=var):
            resolved({k: v for k, v in REQUIRED.items() if k != var})


def test_the_production_topology() -> None:
    services = resolved(REQUIRED)["services"]
    assert set(services) >= {"postgres", "redis", "migrate", "api", "worker", "proxy"}
    assert services["postgres"]["image"].startswith("postgres:18")
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    redis = services["redis"]
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


def test_every_setting_reaches_every_duban_container_from_env() -> None:
    """An operator's .env sets any DUBAN_* setting for every duban container; only the paths
    the volumes decide are the compose file's."""
    assert set(PINNED) <= set(SETTINGS_VARS)
    for var in SETTINGS_VARS:
        dotenv = {**REQUIRED, var: f"operator's {var}"}
        compose = resolved(dotenv)
        for service in DUBAN_PROCESSES:
            value = container_env(compose, service, dotenv).get(var)
            if var in PINNED:
                assert value is not None, f"{service}: {var} unset"
            else:
                assert value == f"operator's {var}", f"{service}: {var} is {value!r}"
    # and with nothing but the passwords, the containers get settings duban accepts
    compose = resolved(REQUIRED)
    for service in DUBAN_PROCESSES:
        env = container_env(compose, service, REQUIRED)
        # validated as given, without reading this machine's environment or .env
        loaded = Settings.model_validate(
            {SETTINGS_VARS[k]: v for k, v in env.items() if k in SETTINGS_VARS}
        )
        assert loaded.database_url == "postgresql://duban:pg-password@postgres:5432/duban"
        assert loaded.redis_url == "redis://:redis-password@redis:6379/0"
        assert loaded.log_format == "json"


def test_the_photos_live_in_one_volume_that_every_api_replica_mounts() -> None:
    compose = resolved(REQUIRED)
    services = compose["services"]
    media_dir = container_env(compose, "api", REQUIRED)["DUBAN_MEDIA_DIR"]
    for service in DUBAN_PROCESSES:
        spec = services[service]
        assert container_env(compose, service, REQUIRED)["DUBAN_MEDIA_DIR"] == media_dir
        # a named volume (not the container's own layer, not an anonymous volume), the same
        # one in every service: `--scale api=N` mounts it in every replica
        assert mounts(spec).get(media_dir) == "media", service
    assert "media" in compose["volumes"]
    # The image creates the mount point as its user's, so the new volume is writable by it.
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"mkdir -p {media_dir}" in dockerfile
    # Nothing stops the API from scaling out: no fixed name, no host port of its own.
    assert "container_name" not in services["api"]
    assert "ports" not in services["api"]


def test_postgresql_and_redis_keep_their_data_in_named_volumes() -> None:
    compose = resolved(REQUIRED)
    for service, path in (("postgres", "/var/lib/postgresql"), ("redis", "/data")):
        source = mounts(compose["services"][service])[path]
        assert source in compose["volumes"], f"{service}: {source} is not a named volume"


def test_the_api_believes_forwarding_headers_from_the_proxy_alone() -> None:
    for dotenv in (
        REQUIRED,
        {**REQUIRED, "PROXY_SUBNET": "10.99.0.0/24", "PROXY_ADDRESS": "10.99.0.5"},
    ):
        compose = resolved(dotenv)
        services = compose["services"]
        proxy_address = services["proxy"]["networks"]["edge"]["ipv4_address"]
        trusted = container_env(compose, "api", dotenv)["DUBAN_TRUSTED_PROXIES"]
        assert Settings(trusted_proxies=trusted).trusted_proxy_list == [proxy_address]
        [subnet] = [c["subnet"] for c in compose["networks"]["edge"]["ipam"]["config"]]
        assert ipaddress.ip_address(proxy_address) in ipaddress.ip_network(subnet)
        assert "edge" in services["api"]["networks"]
        assert list(services["proxy"]["networks"]) == ["edge"]
        assert "--no-proxy-headers" in services["api"]["command"]
    # A load balancer of the city's own instead: .env says which.
    dotenv = {**REQUIRED, "DUBAN_TRUSTED_PROXIES": "10.1.2.3"}
    assert container_env(resolved(dotenv), "api", dotenv)["DUBAN_TRUSTED_PROXIES"] == "10.1.2.3"


CADDYFILE = ROOT / "deploy" / "Caddyfile"


def test_the_https_proxy_is_configured_from_the_compose_file() -> None:
    compose = resolved(REQUIRED)
    proxy = compose["services"]["proxy"]
    files = mounts(proxy)
    assert (ROOT / files["/etc/caddy/Caddyfile"]).resolve() == CADDYFILE
    assert (ROOT / files["/certs"]).is_dir()
    assert {p["target"] if isinstance(p, dict) else p.split(":")[-1] for p in proxy["ports"]} == {
        "80",
        "443",
    }
    text = CADDYFILE.read_text()
    assert text.count("{") == text.count("}")
    # every placeholder has a default in the file or a value from the compose file
    for name, default in re.findall(r"\{\$(\w+)(?::([^}]*))?\}", text):
        assert default or name in proxy["environment"], name
    # it proxies to the API service on the port its uvicorn listens on
    port = compose["services"]["api"]["command"]
    assert re.search(r"name \{\$UPSTREAM_HOST:api\}", text)
    assert re.search(r"port \{\$UPSTREAM_PORT:" + port[port.index("--port") + 1] + r"\}", text)
    assert proxy["depends_on"]["api"]["condition"] == "service_healthy"


@pytest.mark.skipif(
    shutil.which("caddy") is None, reason="caddy not installed (apt-get install caddy)"
)
def test_caddy_reads_the_proxy_example_as_the_compose_file_runs_it(tmp_path: Path) -> None:
    """Caddy's own parser, with the proxy container's environment: HTTPS on the site
    address, HTTP redirected to it, every request to the API replicas."""

    def adapt(proxy_env: dict[str, str]) -> dict[str, Any]:
        out = subprocess.run(
            ["caddy", "adapt", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **proxy_env},
            capture_output=True,
            text=True,
            check=True,
        )
        config: dict[str, Any] = json.loads(out.stdout)
        return config

    environment = resolved(REQUIRED)["services"]["proxy"]["environment"]
    config = adapt({**environment, "SITE_ADDRESS": "duban.example.gov.cn"})
    assert config["admin"] == {"disabled": True}
    servers = config["apps"]["http"]["servers"].values()
    [https] = [s for s in servers if s["listen"] == [":443"]]
    [http] = [s for s in servers if s["listen"] == [":80"]]
    text = json.dumps(https)
    assert '"host": ["duban.example.gov.cn"]' in text
    assert '"dynamic_upstreams": {"name": "api", "port": "8000"' in text
    assert '"Location": ["https://{http.request.host}{http.request.uri}"]' in json.dumps(http)
    [policy] = [p for p in config["apps"]["tls"]["automation"]["policies"] if "subjects" in p]
    assert policy["issuers"] == [{"module": "internal"}]  # no ACME: nothing asked outside
    # the city's own certificate instead
    own = adapt({**environment, "PROXY_TLS": "/certs/duban.crt /certs/duban.key"})
    loaded = own["apps"]["tls"]["certificates"]["load_files"]
    assert loaded[0]["certificate"] == "/certs/duban.crt"
    assert loaded[0]["key"] == "/certs/duban.key"


def test_env_example_lists_what_the_compose_file_reads() -> None:
    example = _env_example()
    variables = set(re.findall(r"\$\{(\w+)", COMPOSE_TEXT))
    missing = sorted(v for v in variables if v not in example)
    assert missing == [], "compose variables .env.example does not list"
    text = (ROOT / ".env.example").read_text()
    for var in PINNED:
        assert re.search(rf"{var}.*\n(#.*\n)*", text)
    assert "fixed by docker-compose.yml" in text


def test_the_readme_compose_steps_name_every_required_variable() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Production deployment") :]
    section = section[: section.index("\n## ", 3)]
    assert "cp .env.example .env" in section
    for var in sorted(set(re.findall(r"\$\{(\w+):\?", COMPOSE_TEXT))):
        assert var in section, f"README's compose steps do not name {var}"
    assert "docs/operations.md" in section
