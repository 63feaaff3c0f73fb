"""A report by a caller the API process has read before is one statement, confirmed by it
(services/core/identity/callers.py); the memory of callers is bounded."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import asyncpg
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import event

from services.api.state import AppState
from services.core.identity.callers import Known
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


def _is_confirmed_write(statement: str) -> bool:
    return "FROM users u JOIN units un" in statement and "INSERT INTO findings" in statement


async def test_a_remembered_callers_report_is_one_statement(
    app: FastAPI, client: AsyncClient, login: Login
) -> None:
    sent = _statements_sent(app)
    inspector = await login("inspector")
    await _report(client, inspector, sent)
    statements, finding = await _report(client, inspector, sent)
    assert finding["reporter"] == "inspector"
    (statement,) = statements
    assert _is_confirmed_write(statement)


async def test_a_caller_changed_behind_the_memory_costs_the_statement_again(
    app: FastAPI, client: AsyncClient, login: Login, server_side: asyncpg.Connection
) -> None:
    sent = _statements_sent(app)
    inspector = await login("inspector")
    await _report(client, inspector, sent)
    state: AppState = app.state.duban
    user_id = await server_side.fetchval("SELECT id FROM users WHERE username = 'inspector'")
    known = state.callers.get(user_id)
    assert known is not None
    # As if the caller had been renamed since they were read: the statement finds them otherwise.
    renamed = replace(known.principal, username="someone-else")
    state.callers.remember(Known(renamed, known.token_version, known.revision))
    statements, finding = await _report(client, inspector, sent)
    assert finding["reporter"] == "inspector"
    # The confirmed statement wrote nothing; the caller read afresh; the report written.
    confirmed, caller, write = statements
    assert _is_confirmed_write(confirmed)
    assert "INSERT" not in caller
    assert "FROM users u JOIN units un" in caller
    assert "INSERT INTO findings" in write
    assert not _is_confirmed_write(write)
    stored = await server_side.fetchval(
        "SELECT count(*) FROM findings WHERE id = $1", finding["id"]
    )
    assert stored == 1
    assert state.callers.get(user_id) == known


def _is_caller_read(statement: str) -> bool:
    return "FROM users u JOIN units un" in statement and "INSERT" not in statement


def _is_plain_write(statement: str) -> bool:
    return "INSERT INTO findings" in statement and not _is_confirmed_write(statement)


async def test_a_callers_first_report_reads_them_then_writes(
    app: FastAPI, client: AsyncClient, login: Login
) -> None:
    sent = _statements_sent(app)
    # Another caller's report first, so that the process has its reference data.
    await _report(client, await login("verifier"), sent)
    statements, finding = await _report(client, await login("inspector"), sent)
    assert finding["reporter"] == "inspector"
    caller, write = statements
    assert _is_caller_read(caller)
    assert _is_plain_write(write)


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
        used, caller, write = statements
        assert used.lstrip().startswith("UPDATE api_tokens")
        assert _is_caller_read(caller)
        assert _is_plain_write(write)
