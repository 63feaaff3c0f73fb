"""The profile's table gives each function's CPU to the part of the work it belongs to
(bench/profile.py), the most specific part first."""

from __future__ import annotations

import cProfile
import json
import pstats
import time

from bench.profile import OTHER, Profile, by_component, component_of, table


def test_each_kind_of_function_lands_in_its_part() -> None:
    site = "/venv/lib/python3.11/site-packages"
    cases = {
        "~:0(<method 'validate_python' of 'pydantic_core._pydantic_core.SchemaValidator' "
        "objects>)": "body validation (pydantic)",
        "~:0(<method 'to_json' of 'pydantic_core._pydantic_core.SchemaSerializer' objects>)": (
            "answer encoding (pydantic)"
        ),
        "/srv/duban/services/api/middleware.py:128(__call__)": (
            "middleware: limits, text guard, headers, request id"
        ),
        # identity is duban code too: the more specific part wins
        "/srv/duban/services/core/identity/callers.py:35(read_caller)": (
            "authentication: token, caller, scope"
        ),
        "/srv/duban/services/core/calendar/deadlines.py:10(add_working_days)": (
            "deadlines, calendar, ladder"
        ),
        f"{site}/asyncpg/connection.py:746(fetchrow)": "SQL client (asyncpg)",
        f"{site}/fastapi/routing.py:438(app)": "framework: routing, requests, dependencies",
        f"{site}/uvicorn/protocols/http/httptools_impl.py:463(send)": (
            "HTTP server (uvicorn, httptools)"
        ),
        "~:0(<built-in method builtins.isinstance>)": OTHER,
    }
    assert {where: component_of(where) for where in cases} == cases


def test_a_real_profile_is_summed_per_part_and_per_report() -> None:
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for i in range(20_000):
        json.dumps({"n": i, "s": "x" * 50})
    profiler.disable()
    seconds = by_component(pstats.Stats(profiler))
    assert seconds["JSON (stdlib)"] > 0
    assert seconds["JSON (stdlib)"] >= 0.5 * sum(seconds.values())
    profile = Profile("duban", reports=1000, seconds=seconds, profiled_ms=1.0, plain_ms=0.5)
    row = next(line for line in table([profile]).splitlines() if "JSON (stdlib)" in line)
    assert row == f"| JSON (stdlib) | {seconds['JSON (stdlib)']:.3f} |"
