"""What a report costs in round trips (README, "Production deployment"): the caller's read,
then one call of `intake_report`, for every report; an API token's use is recorded on the
way."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import event

from services.api.state import AppState
from tests.helpers import URL, Login, body, issue_inspector_token


async def _logged() -> None:
    """asyncpg hands each statement to its query loggers on the next turns of the loop."""
    for _ in range(5):
        await asyncio.sleep(0)


def _statements_sent(app: FastAPI) -> list[str]:
    """Every statement the app's pooled connections send from now on (after `_logged`)."""
    sent: list[str] = []
    logged: list[Any] = []
    state: AppState = app.state.duban

    def on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        driver = dbapi_connection.driver_connection
        if not any(driver is seen for seen in logged):
            driver.add_query_logger(lambda record: sent.append(record.query))
            logged.append(driver)

    event.listen(state.engine.sync_engine.pool, "checkout", on_checkout)
    return sent


async def _report(
    client: AsyncClient, headers: dict[str, str], sent: list[str]
) -> tuple[list[str], dict[str, Any]]:
    """A report that is stored (201), with the statements it sent."""
    await _logged()
    sent.clear()
    r = await client.post(URL, json=body(), headers=headers)
    assert r.status_code == 201, r.text
    await _logged()
    finding: dict[str, Any] = r.json()
    return list(sent), finding


def _is_caller_read(statement: str) -> bool:
    return "FROM users u JOIN units un" in statement and "intake_report" not in statement


def _is_intake(statement: str) -> bool:
    return "intake_report(" in statement and "users" not in statement


async def test_every_report_reads_its_caller_then_calls_the_intake(
    app: FastAPI, client: AsyncClient, login: Login
) -> None:
    sent = _statements_sent(app)
    # Another caller's report first, so that the process has its reference data.
    await _report(client, await login("verifier"), sent)
    inspector = await login("inspector")
    for _ in range(3):
        statements, finding = await _report(client, inspector, sent)
        assert finding["reporter"] == "inspector"
        caller, intake = statements
        assert _is_caller_read(caller)
        assert _is_intake(intake)


async def test_an_api_token_report_records_its_use_and_reads_the_caller_each_time(
    app: FastAPI, client: AsyncClient, login: Login, server_side: asyncpg.Connection
) -> None:
    sent = _statements_sent(app)
    await _report(client, await login("verifier"), sent)
    token, _token_id = await issue_inspector_token(server_side, "phone-3")
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(2):
        statements, finding = await _report(client, headers, sent)
        assert finding["reporter"] == "inspector"
        used, caller, intake = statements
        assert used.lstrip().startswith("UPDATE api_tokens")
        assert _is_caller_read(caller)
        assert _is_intake(intake)
