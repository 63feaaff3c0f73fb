"""Attachments on every step: photos and files (PDF, Word, Excel) uploaded for a transition or
a reply to a 批示, sniffed and limited like photos, stored like them, shown on the trail;
a refused attachment leaves nothing stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient, Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.models import Attachment
from services.core.platform.settings import Settings
from tests.helpers import (
    Login,
    act,
    assert_problem,
    build,
    fields,
    make_office,
    make_pdf,
    post,
)
from tests.photos import make_jpeg

URL = "/api/v1/findings"
STREET = "handler.shinan.badaguan"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def stored_files(settings: Settings) -> list[Path]:
    root = settings.media_path / "attachments"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def attachment_rows(factory: async_sessionmaker[AsyncSession]) -> int:
    async with factory() as session:
        return (await session.execute(select(func.count()).select_from(Attachment))).scalar_one()


async def send(
    client: AsyncClient, headers: dict[str, str], fid: str, data: bytes, name: str
) -> Response:
    return await client.post(
        f"{URL}/{fid}/attachments",
        files={"file": (name, data, "application/octet-stream")},
        headers=headers,
    )


async def uploaded(
    client: AsyncClient, headers: dict[str, str], fid: str, data: bytes, name: str
) -> dict[str, Any]:
    r = await send(client, headers, fid, data, name)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def trail(client: AsyncClient, headers: dict[str, str], fid: str) -> list[dict[str, Any]]:
    r = await client.get(f"{URL}/{fid}/events", headers=headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_a_return_carries_a_pdf_and_a_photo_shown_on_the_trail(
    client: AsyncClient, login: Login, settings: Settings
) -> None:
    f = await post(client, await login("inspector"))
    street = await login(STREET)
    pdf = make_pdf()
    report = await uploaded(client, street, f["id"], pdf, "../../权属说明.exe")
    assert report["kind"] == "file"
    assert report["media_type"] == "application/pdf"
    # The name keeps no path, and the extension is what the content is.
    assert report["name"] == "权属说明.pdf"
    assert report["used"] is False
    photo = await uploaded(client, street, f["id"], make_jpeg(gps=(36.0571, 120.3466)), "p.jpg")
    assert photo["kind"] == "photo"
    # The same bytes again are the same upload (phones retry).
    again = await send(client, street, f["id"], pdf, "权属说明.pdf")
    assert again.status_code == 200
    assert again.json()["id"] == report["id"]

    r = await act(
        client,
        street,
        f["id"],
        "return",
        note="不属于本街道",
        attachments=[report["id"], photo["id"]],
    )
    assert r.status_code == 200, r.text
    event = (await trail(client, street, f["id"]))[-1]
    assert event["action"] == "return"
    assert [a["id"] for a in event["payload"]["attachments"]] == [report["id"], photo["id"]]
    assert event["payload"]["attachments"][0]["name"] == "权属说明.pdf"

    # Downloadable in scope, as stored; the photo without its EXIF position.
    r = await client.get(event["payload"]["attachments"][0]["href"], headers=street)
    assert r.status_code == 200
    assert r.content == pdf
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"].startswith("attachment;")
    r = await client.get(f"/api/v1/attachments/{photo['id']}", headers=street)
    assert r.status_code == 200
    assert b"Exif" not in r.content
    r = await client.get(
        f"/api/v1/attachments/{photo['id']}", headers=await login("handler.licang.xiaocun")
    )
    assert_problem(r, 404)
    assert len(stored_files(settings)) == 2

    # The audit export names them beside the step.
    audit = await client.get(
        "/api/v1/findings/events", params={"district": "shinan"}, headers=await login("supervisor")
    )
    assert f"权属说明.pdf; {photo['name']}" in audit.text

    # Used once: another step cannot carry it again.
    r = await act(
        client,
        await login("dispatcher"),
        f["id"],
        "close_invalid",
        note="x",
        attachments=[report["id"]],
    )
    assert fields(r) == {"attachments"}


async def test_only_the_uploader_uses_it_and_a_refused_step_leaves_it_pending(
    client: AsyncClient, login: Login
) -> None:
    f = await post(client, await login("inspector"))
    street = await login(STREET)
    docx = await uploaded(client, street, f["id"], make_office("word/document.xml"), "情况.docx")
    assert docx["media_type"] == DOCX
    # Someone else may not name it.
    r = await act(
        client, await login("handler.shinan"), f["id"], "accept", attachments=[docx["id"]]
    )
    assert fields(r) == {"attachments"}
    # A step refused (a stale version) uses nothing: the file waits for the next one.
    r = await act(client, street, f["id"], "accept", expected_version=99, attachments=[docx["id"]])
    assert_problem(r, 409)
    r = await act(client, street, f["id"], "accept", note="已签收", attachments=[docx["id"]])
    assert r.status_code == 200, r.text
    accept = (await trail(client, street, f["id"]))[-1]
    assert accept["payload"]["attachments"][0]["id"] == docx["id"]


async def test_a_reply_to_an_instruction_carries_an_xlsx(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    s = await build(client, login, factory, settings)
    leader = await login("leader.shinan")
    r = await client.get(
        "/api/v1/escalations", params={"district": "shinan"}, headers=await login("supervisor")
    )
    assert r.status_code == 200, r.text
    mine = [e for e in r.json()["items"] if e["finding"]["id"] == s.badaguan and e["level"] == 2]
    assert mine, r.text
    sheet = await uploaded(
        client, leader, s.badaguan, make_office("xl/workbook.xml"), "整改台账.xlsx"
    )
    r = await client.post(
        f"/api/v1/escalations/{mine[0]['id']}/acknowledge",
        json={"instruction": "限期整改，见附表", "attachments": [sheet["id"]]},
        headers=leader,
    )
    assert r.status_code == 200, r.text
    ack = [e for e in await trail(client, leader, s.badaguan) if e["action"] == "acknowledge"]
    assert ack[-1]["payload"]["attachments"][0]["name"] == "整改台账.xlsx"


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"MZ\x90\x00 a program called .pdf", 415),
        (b"<html><script>alert(1)</script></html>", 415),
        (make_office("word/document.xml", macros=True), 415),  # a .docm renamed .docx
        (make_office("ppt/presentation.xml"), 415),
        (b"PK\x03\x04 not really a zip", 422),
        (make_pdf()[:-40], 422),  # truncated
        (make_jpeg()[:200], 422),  # a broken photo
    ],
)
async def test_a_refused_attachment_leaves_nothing_stored(
    client: AsyncClient,
    login: Login,
    settings: Settings,
    factory: async_sessionmaker[AsyncSession],
    data: bytes,
    status: int,
) -> None:
    f = await post(client, await login("inspector"))
    r = await send(client, await login(STREET), f["id"], data, "report.pdf")
    assert_problem(r, status)
    assert await attachment_rows(factory) == 0
    assert stored_files(settings) == []


@pytest.mark.parametrize("settings_overrides", [{"evidence_max_bytes": 4096}])
async def test_too_large_and_unstorable_files_leave_nothing(
    client: AsyncClient,
    login: Login,
    settings: Settings,
    factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    f = await post(client, await login("inspector"))
    street = await login(STREET)
    big = make_pdf("x" * 5000)
    assert_problem(await send(client, street, f["id"], big, "big.pdf"), 413)
    assert await attachment_rows(factory) == 0
    assert stored_files(settings) == []

    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    settings.media_dir = blocker / "media"
    assert_problem(await send(client, street, f["id"], make_pdf(), "a.pdf"), 503)
    assert await attachment_rows(factory) == 0


async def test_who_may_attach(client: AsyncClient, login: Login) -> None:
    f = await post(client, await login("inspector"))
    # Supervisors read; inspectors' photos are evidence. Another district's finding is a 404.
    for user in ("supervisor", "inspector"):
        assert_problem(await send(client, await login(user), f["id"], make_pdf(), "a.pdf"), 403)
    other = await login("handler.licang.xiaocun")
    assert_problem(await send(client, other, f["id"], make_pdf(), "a.pdf"), 404)
