"""The evidence pack through the API: what it holds, that it verifies against the server's
key, that one altered byte anywhere fails, and that taking one is recorded."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.accountability.pack import MANIFEST, verify
from services.core.platform.keys import pack_signing_key
from services.core.platform.settings import Settings
from tests.helpers import (
    COMMITMENTS,
    TZ,
    Login,
    assert_problem,
    escalations,
    flip_byte,
    make_overdue,
    meeting_with,
    member_offset,
    overdue_commitment,
    person_of_account,
    pledge,
    post,
    sweep,
    sweep_pledges,
)
from tests.photos import make_jpeg, upload

PACKS = "/api/v1/accountability/evidence-packs"
INSTRUCTION = "请八大关街道三日内清运完毕"
TARGETS = "示例：承诺月底前背街小巷全部清运"
PROGRESS = "示例：已清运三条街巷"
RETURNED = "示例：照片不足，请补充"


async def escalated_finding(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> tuple[str, bytes]:
    """A finding in 八大关街道 with a before-photo, escalated to level 4, whose level-2 notice
    the district head acknowledged with a 批示; and the photo's bytes as stored."""
    inspector = await login("inspector")
    fid = (await post(client, inspector))["id"]
    photo = make_jpeg(taken_at=datetime.now(TZ) - timedelta(minutes=10), gps=(36.0571, 120.3466))
    r = await upload(client, inspector, fid, photo, kind="before")
    assert r.status_code == 201, r.text
    await make_overdue(factory, fid, datetime.now(UTC) - timedelta(days=30))
    await sweep(factory, settings, datetime.now(UTC))
    level2 = next(e for e in await escalations(factory, fid) if e.level == 2)
    r = await client.post(
        f"/api/v1/escalations/{level2.id}/acknowledge",
        json={"instruction": INSTRUCTION},
        headers=await login("leader.shinan"),
    )
    assert r.status_code == 200, r.text
    return fid, photo


async def take(
    client: AsyncClient, login: Login, body: dict[str, Any], who: str = "discipline"
) -> bytes:
    r = await client.post(PACKS, json=body, headers=await login(who))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"].startswith('attachment; filename="evidence-pack-')
    return r.content


def verified(archive: bytes, settings: Settings) -> tuple[zipfile.ZipFile, set[str], Any, str]:
    """The pack opened once its signature checks out: its members' names, its manifest and
    its report."""
    result = verify(archive, pack_signing_key(settings).public_key())
    assert result.ok, result.problems
    zf = zipfile.ZipFile(io.BytesIO(archive))
    return zf, set(zf.namelist()), json.loads(zf.read(MANIFEST)), zf.read("report.html").decode()


async def test_a_finding_pack_holds_the_report_rows_and_photos_and_verifies(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    server_side: asyncpg.Connection,
) -> None:
    fid, _ = await escalated_finding(client, login, factory, settings)
    archive = await take(client, login, {"finding": fid})
    zf, names, manifest, html = verified(archive, settings)
    with zf:
        events = list(csv.DictReader(io.StringIO(zf.read("rows/events.csv").decode("utf-8-sig"))))
        levels = list(
            csv.DictReader(io.StringIO(zf.read("rows/escalations.csv").decode("utf-8-sig")))
        )
        receipts = zf.read("rows/receipts.csv").decode("utf-8-sig")
        photos = [n for n in names if n.startswith("photos/")]
        photo_bytes = zf.read(photos[0])
        pdf = zf.read("report.pdf")
    assert {"report.html", "report.pdf", "manifest.json", "manifest.sig"} <= names
    assert len(photos) == 1
    # Every file but the manifest and its signature is summed in the manifest.
    sums = {f["path"]: f["sha256"] for f in manifest["files"]}
    assert set(sums) == names - {"manifest.json", "manifest.sig"}
    assert sums[photos[0]] == hashlib.sha256(photo_bytes).hexdigest()
    assert manifest["subject"]["finding"] == fid
    assert manifest["generated_by"] == "discipline"
    # The report: the timeline, each level with its 批示, the photo with its flags.
    assert "督办证据包" in html
    assert INSTRUCTION in html
    assert all(f"第{n}级督办" in html for n in range(1, 5))
    assert f'src="{photos[0]}"' in html
    assert "整改前" in html
    assert [row["level"] for row in levels] == ["1", "2", "3", "4"]
    assert next(row for row in levels if row["level"] == "2")["instruction"] == INSTRUCTION
    assert {"report", "acknowledge"} <= {row["action"] for row in events}
    assert "inbox" in receipts
    assert pdf.startswith(b"%PDF-")
    # Taking it is recorded, with the digest of what was handed out.
    row = await server_side.fetchrow(
        "SELECT actor, target, payload FROM admin_events WHERE action = 'evidence_pack'"
    )
    assert row["actor"] == "api:discipline"
    assert row["target"] == f"finding:{fid}"
    assert json.loads(row["payload"])["sha256"] == hashlib.sha256(archive).hexdigest()


async def test_one_altered_byte_anywhere_fails_verification(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    fid, _ = await escalated_finding(client, login, factory, settings)
    archive = await take(client, login, {"finding": fid})
    key = pack_signing_key(settings).public_key()
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        photo = next(n for n in zf.namelist() if n.startswith("photos/"))
    places = {
        "a photo's bytes": member_offset(archive, photo) + 40,
        "the PDF": member_offset(archive, "report.pdf") + 200,
        "the compressed report": member_offset(archive, "report.html") + 10,
        "a local header's time": 10,
        "the central directory": len(archive) - 200,
        "the signature": -5,
    }
    for where, at in places.items():
        result = verify(flip_byte(archive, at), key)
        assert not result.ok, where
    # A file replaced and the archive rebuilt: the manifest names it, the archive's own
    # signature is gone.
    rebuilt = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archive)) as old, zipfile.ZipFile(rebuilt, "w") as new:
        for info in old.infolist():
            data = old.read(info)
            new.writestr(info, data.replace(INSTRUCTION.encode(), "已办结".encode()))
    result = verify(rebuilt.getvalue(), key)
    assert "rows/escalations.csv: its SHA-256 differs from the manifest's" in result.problems
    assert any("archive" in p for p in result.problems)
    # Another installation's key does not verify it either.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    assert not verify(archive, Ed25519PrivateKey.generate().public_key()).ok


async def test_unit_and_person_packs_cover_their_period(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    server_side: asyncpg.Connection,
) -> None:
    fid, _ = await escalated_finding(client, login, factory, settings)
    now = datetime.now(TZ)
    period = {
        "since": (now - timedelta(days=1)).isoformat(),
        "until": (now + timedelta(hours=1)).isoformat(),
    }
    key = pack_signing_key(settings).public_key()
    head = await person_of_account(server_side, "leader.shinan")
    for body in ({"unit": "shinan"}, {"person": head}):
        archive = await take(client, login, {**body, **period}, who="admin")
        assert verify(archive, key).ok
        with zipfile.ZipFile(io.BytesIO(archive)) as zf:
            assert fid in zf.read("rows/findings.csv").decode("utf-8-sig")
    # Another district's unit, or a period before it all: no finding.
    archive = await take(client, login, {"unit": "licang", **period})
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        assert fid not in zf.read("rows/findings.csv").decode("utf-8-sig")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"unit": "shinan"}, "since"),
        ({"unit": "shinan", "person": 1}, "finding"),
        ({}, "finding"),
        ({"unit": "nosuch", "since": "2026-11-01T00:00:00+08:00",
          "until": "2026-12-01T00:00:00+08:00"}, "unit"),
        ({"person": 1, "since": "2026-12-01T00:00:00+08:00",
          "until": "2026-11-01T00:00:00+08:00"}, "until"),
    ],
)  # fmt: skip
async def test_a_pack_request_without_one_subject_and_period_is_refused(
    client: AsyncClient, login: Login, body: dict[str, Any], field: str
) -> None:
    r = await client.post(PACKS, json=body, headers=await login("discipline"))
    problem = assert_problem(r, 422)
    assert field in {e["field"] for e in problem["errors"]}  # type: ignore[attr-defined]


async def test_only_the_commission_and_admins_take_packs(
    client: AsyncClient, login: Login, server_side: asyncpg.Connection
) -> None:
    fid = (await post(client, await login("inspector")))["id"]
    for who in ("supervisor", "leader.shinan", "dispatcher", "handler.shinan.badaguan"):
        r = await client.post(PACKS, json={"finding": fid}, headers=await login(who))
        assert_problem(r, 403)
    assert (
        await server_side.fetchval(
            "SELECT count(*) FROM admin_events WHERE action = 'evidence_pack'"
        )
        == 0
    )
    r = await client.post(
        PACKS, json={"finding": "00000000-0000-4000-8000-000000000000"},
        headers=await login("discipline"),
    )  # fmt: skip
    assert_problem(r, 404)


async def overdue_pledge_with_progress(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> tuple[int, str]:
    """A 市南 commitment covering a finding, with a progress report the office returned, past
    its deadline and swept up its ladder; its id and the finding's."""
    office = await login("dispatcher")
    fid = (await post(client, await login("inspector"), description="承诺所涉问题"))["id"]
    _, (c,) = await meeting_with(client, office, pledge(findings=[fid], targets=TARGETS))
    url = f"{COMMITMENTS}/{c['id']}"
    r = await client.post(
        f"{url}/progress", json={"text": PROGRESS, "percent": 40},
        headers=await login("handler.shinan"),
    )  # fmt: skip
    assert r.status_code == 201, r.text
    r = await client.post(
        f"{url}/progress/{r.json()['id']}/review",
        json={"decision": "return", "note": RETURNED}, headers=office,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    now = datetime.now(UTC)
    await overdue_commitment(factory, c["id"], now - timedelta(days=30))
    assert (await sweep_pledges(factory, settings, now)).escalations == 2
    return int(c["id"]), fid


async def test_a_commitment_pack_holds_the_pledge_its_progress_and_its_escalations(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    server_side: asyncpg.Connection,
) -> None:
    cid, fid = await overdue_pledge_with_progress(client, login, factory, settings)
    archive = await take(client, login, {"commitment": cid})
    zf, names, manifest, html = verified(archive, settings)
    with zf:
        pdf = zf.read("report.pdf")

        def rows(name: str) -> list[dict[str, str]]:
            return list(csv.DictReader(io.StringIO(zf.read(name).decode("utf-8-sig"))))

        (pledged,) = rows("rows/commitments.csv")
        (progress,) = rows("rows/commitment_progress.csv")
        levels = rows("rows/commitment_escalations.csv")
        receipts = rows("rows/commitment_receipts.csv")
        findings = rows("rows/findings.csv")
    sums = {f["path"] for f in manifest["files"]}
    assert sums == names - {"manifest.json", "manifest.sig"}
    assert {"rows/commitments.csv", "rows/commitment_progress.csv"} <= sums
    assert manifest["subject"]["kind"] == "commitment"
    assert manifest["subject"]["commitment"] == cid
    # The pledge, its status and leader; the report returned with its note; each level.
    assert (pledged["id"], pledged["targets"], pledged["status"]) == (str(cid), TARGETS, "overdue")
    assert pledged["unit"] == "市南区"
    assert pledged["leader_name"] == "示例·市南区委书记"
    assert (progress["content"], progress["review"]) == (PROGRESS, "returned")
    assert progress["review_note"] == RETURNED
    assert [(row["level"], row["target_name"]) for row in levels] == [
        ("1", "示例·联系市南区的市领导"),
        ("2", "示例·市纪委书记、市监委主任"),
    ]
    level_ids = {row["id"] for row in levels}
    assert receipts
    assert {row["commitment_escalation_id"] for row in receipts} == level_ids
    assert [row["id"] for row in findings] == [fid]
    # The readable report names them too.
    for text_ in (
        TARGETS,
        PROGRESS,
        RETURNED,
        "承诺第1级督办",
        "承诺第2级督办",
        "示例·联系市南区的市领导",
    ):
        assert text_ in html, text_
    assert f"问题 {fid}" in html
    assert pdf.startswith(b"%PDF-")
    row = await server_side.fetchrow(
        "SELECT target FROM admin_events WHERE action = 'evidence_pack' AND target = $1",
        f"commitment:{cid}",
    )
    assert row is not None
    # One byte changed in the commitment's rows, or anywhere, and it no longer verifies.
    for at in (member_offset(archive, "rows/commitments.csv") + 10, len(archive) // 2):
        assert not verify(flip_byte(archive, at), pack_signing_key(settings).public_key()).ok


async def test_a_commitment_pack_for_an_unknown_id_or_by_another_role_is_refused(
    client: AsyncClient, login: Login
) -> None:
    r = await client.post(PACKS, json={"commitment": 987654}, headers=await login("discipline"))
    problem = assert_problem(r, 422)
    assert "commitment" in {e["field"] for e in problem["errors"]}  # type: ignore[attr-defined]
    _, (c,) = await meeting_with(client, await login("dispatcher"), pledge())
    for who in ("supervisor", "dispatcher", "leader.shinan"):
        r = await client.post(PACKS, json={"commitment": c["id"]}, headers=await login(who))
        assert_problem(r, 403)
    both = {"commitment": c["id"], "finding": "00000000-0000-4000-8000-000000000000"}
    r = await client.post(PACKS, json=both, headers=await login("discipline"))
    assert_problem(r, 422)
