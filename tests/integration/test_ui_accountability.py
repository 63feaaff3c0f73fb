"""The accountability page of the dashboard: one's own ledger, another's is the 404 page, and
the commission downloads a person's evidence pack from it."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta

import asyncpg
from httpx import AsyncClient

from services.core.accountability.pack import verify
from services.core.platform.keys import pack_signing_key
from services.core.platform.settings import Settings
from tests.helpers import (
    Login,
    Notice,
    csrf_of,
    insert_commitment_escalation,
    meeting_with,
    person_of_account,
    pledge,
    ui_login,
)

PAGE = "/ui/accountability"


async def test_a_leader_sees_their_own_ledger_and_not_anothers(
    client: AsyncClient, server_side: asyncpg.Connection
) -> None:
    await ui_login(client, "leader.shinan")
    r = await client.get(PAGE)
    assert r.status_code == 200, r.text
    assert 'data-testid="ledger"' in r.text
    assert "示例·市南区委书记" in r.text
    assert "下载证据包" not in r.text  # packs are the commission's
    assert 'name="person"' not in r.text  # no picker of other people
    other = await person_of_account(server_side, "leader.city")
    r = await client.get(PAGE, params={"person": other})
    assert r.status_code == 404


async def test_the_commission_picks_a_person_and_downloads_their_pack(
    client: AsyncClient, server_side: asyncpg.Connection, settings: Settings
) -> None:
    await ui_login(client, "discipline")
    head = await person_of_account(server_side, "leader.shinan")
    page = await client.get(PAGE, params={"person": head, "since": "2026-11-01", "until": "x"})
    assert page.status_code == 200, page.text
    assert "日期无效" in page.text  # a bad date is said, and the default period shown
    assert "下载证据包" in page.text
    form = {"csrf": csrf_of(page.text), "person": str(head), "since": "2026-11-01",
            "until": "2026-11-30"}  # fmt: skip
    r = await client.post(f"{PAGE}/pack", data=form)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert verify(r.content, pack_signing_key(settings).public_key()).ok
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert "report.pdf" in zf.namelist()
    # Without the form's token nothing is made.
    r = await client.post(f"{PAGE}/pack", data={**form, "csrf": "0" * 64})
    assert r.status_code == 403
    made = await server_side.fetchval(
        "SELECT count(*) FROM admin_events WHERE action = 'evidence_pack'"
    )
    assert made == 1


async def test_the_commission_downloads_a_commitments_pack_by_its_number(
    client: AsyncClient, login: Login, settings: Settings, server_side: asyncpg.Connection
) -> None:
    _, (c,) = await meeting_with(client, await login("dispatcher"), pledge(targets="示例：承诺包"))
    head = await person_of_account(server_side, "leader.shinan")
    await insert_commitment_escalation(
        server_side, c["id"], 1, datetime.now(UTC) - timedelta(hours=1), person=head,
        unit_code="shinan", notice=Notice(opened=True),
    )  # fmt: skip
    await ui_login(client, "discipline")
    page = await client.get(PAGE, params={"person": head})
    assert page.status_code == 200, page.text
    assert 'name="commitment"' in page.text
    # The person's ledger shows the commitment's escalation in a column of its own.
    assert "承诺督办" in page.text
    assert "1（L1 1）· 送达 1 · 打开 1" in page.text
    form = {"csrf": csrf_of(page.text), "commitment": str(c["id"])}
    r = await client.post(f"{PAGE}/pack", data=form)
    assert r.status_code == 200, r.text
    assert verify(r.content, pack_signing_key(settings).public_key()).ok
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert "示例：承诺包" in zf.read("rows/commitments.csv").decode("utf-8-sig")
    r = await client.post(f"{PAGE}/pack", data={**form, "commitment": "987654"})
    assert r.status_code == 422
    r = await client.post(f"{PAGE}/pack", data={**form, "commitment": "x"})
    assert r.status_code == 422
