"""A login answer takes as long for a username that does not exist (or is deactivated) as
for a wrong password: its time does not tell which usernames exist. Both endpoints, the
API's token endpoint and the dashboard's login form, each compare the medians of 20."""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable

import asyncpg
import pytest
from httpx import AsyncClient

from services.core.identity.security import hash_password
from tests.helpers import demo_password, login_form

ROUNDS = 20
# The throttle would answer 429 (without checking any password) long before the samples end.
UNTHROTTLED = [{"login_attempts_per_minute": 10_000}]
# An existing user with a wrong password, one that does not exist, a deactivated one.
WRONG, UNKNOWN, DEACTIVATED = "supervisor", "no.such.user", "verifier"

Attempt = Callable[[str], Awaitable[int]]


async def production_hashes(conn: asyncpg.Connection, *usernames: str) -> None:
    """The test databases hash the demo passwords cheaply (tests/helpers.py): these accounts
    get hashes of duban's own hasher again, the work a wrong password really costs."""
    for username in usernames:
        await conn.execute(
            "UPDATE users SET password_hash = $1 WHERE username = $2",
            hash_password(demo_password(username)),
            username,
        )


async def medians(attempt: Attempt, usernames: tuple[str, ...]) -> dict[str, float]:
    """The median time of a failed login per kind of username, the kinds interleaved so
    that a busy moment of the machine weighs on all of them alike."""
    for username in usernames:  # warm-up: the first of each is not kept
        assert await attempt(username) == 401
    times: dict[str, list[float]] = {username: [] for username in usernames}
    for _ in range(ROUNDS):
        for username, samples in times.items():
            started = time.perf_counter()
            status = await attempt(username)
            samples.append(time.perf_counter() - started)
            assert status == 401
    return {username: statistics.median(samples) for username, samples in times.items()}


def assert_alike(found: dict[str, float]) -> None:
    wrong = found.pop(WRONG)
    for other in found.values():
        assert abs(other - wrong) <= 0.2 * max(other, wrong), (wrong, found)


@pytest.mark.parametrize("settings_overrides", UNTHROTTLED)
async def test_the_api_login_takes_as_long_whether_the_user_exists_or_not(
    client: AsyncClient, server_side: asyncpg.Connection
) -> None:
    await production_hashes(server_side, WRONG, DEACTIVATED)
    await server_side.execute("UPDATE users SET active = false WHERE username = $1", DEACTIVATED)

    async def attempt(username: str) -> int:
        form = {"username": username, "password": "a-wrong-password"}
        return (await client.post("/api/v1/auth/token", data=form)).status_code

    assert_alike(await medians(attempt, (WRONG, UNKNOWN, DEACTIVATED)))


@pytest.mark.parametrize("settings_overrides", UNTHROTTLED)
async def test_the_dashboard_login_takes_as_long_whether_the_user_exists_or_not(
    client: AsyncClient, server_side: asyncpg.Connection
) -> None:
    await production_hashes(server_side, WRONG)
    # The same check as the API's (services/api/login.py): deactivated users are sampled there.
    csrf = await login_form(client)

    async def attempt(username: str) -> int:
        form = {"username": username, "password": "a-wrong-password", "csrf": csrf}
        return (await client.post("/ui/login", data=form)).status_code

    assert_alike(await medians(attempt, (WRONG, UNKNOWN)))
