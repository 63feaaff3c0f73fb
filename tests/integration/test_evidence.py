"""Photo evidence through the real API, database and media directory: formats sniffed from
the bytes, limits, EXIF read then stripped, scope, and nothing half-stored on any refusal."""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from httpx import AsyncClient
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.evidence.images import haversine_m
from services.core.models import Evidence
from services.core.platform.settings import Settings
from tests.helpers import Login, act, post
from tests.photos import make_jpeg, make_png, png_bomb, upload

TZ = ZoneInfo("Asia/Shanghai")
PLACE = (36.0571, 120.3466)  # where tests.test_findings_api.body() reports


def stored_files(settings: Settings) -> list[Path]:
    root = settings.media_path
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def evidence_rows(factory: async_sessionmaker[AsyncSession]) -> int:
    async with factory() as session:
        return (await session.execute(select(func.count()).select_from(Evidence))).scalar_one()


async def assert_nothing_stored(
    factory: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    assert await evidence_rows(factory) == 0
    assert stored_files(settings) == []


def problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    return body


async def test_jpeg_with_exif_time_and_gps_is_read_then_stored_without_metadata(
    client: AsyncClient, login: Login, settings: Settings, factory: Any
) -> None:
    inspector = await login("inspector")
    f = await post(client, inspector)
    taken = datetime(2026, 11, 26, 9, 41, 7, tzinfo=TZ)
    gps = (36.05712, 120.34671)
    # Orientation 6: the camera was held upright, the pixels are stored lying on their side.
    original = make_jpeg(96, 64, taken_at=taken, gps=gps, orientation=6, comment=b"IMEI 3554")
    r = await upload(client, inspector, f["id"], original, kind="before")
    assert r.status_code == 201, r.text
    e = r.json()
    assert e["kind"] == "before"
    assert e["media_type"] == "image/jpeg"
    assert e["sha256"] == hashlib.sha256(original).hexdigest()
    assert datetime.fromisoformat(e["taken_at"]) == taken
    assert e["taken_at"].endswith("+08:00")
    assert e["gps"]["lat"] == pytest.approx(gps[0], abs=1e-6)
    assert e["gps"]["lon"] == pytest.approx(gps[1], abs=1e-6)
    assert e["distance_m"] == pytest.approx(haversine_m(gps, PLACE), abs=0.1)
    assert (e["width"], e["height"]) == (64, 96)  # turned upright
    assert e["flags"] == []  # before-photos are the problem itself, not a claim

    (path,) = stored_files(settings)
    stored = path.read_bytes()
    assert stored != original
    with Image.open(io.BytesIO(stored)) as im:
        assert im.format == "JPEG"
        assert im.size == (64, 96)
        assert not im.getexif()
        assert "exif" not in im.info
        assert "comment" not in im.info
    assert b"Exif" not in stored
    assert b"IMEI" not in stored

    content = await client.get(e["links"]["content"], headers=inspector)
    assert content.status_code == 200
    assert content.headers["content-type"] == "image/jpeg"
    assert content.content == stored

    listed = await client.get(f"/api/v1/findings/{f['id']}/evidence", headers=inspector)
    assert [i["id"] for i in listed.json()["items"]] == [e["id"]]
    # Scoped like the finding: another district's handler sees neither the photo nor the list.
    licang = await login("handler.licang.xiaocun")
    problem(await client.get(e["links"]["content"], headers=licang), 404)
    problem(await client.get(f"/api/v1/findings/{f['id']}/evidence", headers=licang), 404)
    problem(await client.get(f"/api/v1/evidence/{uuid.uuid4()}", headers=inspector), 404)


async def test_png_named_jpg_is_stored_as_png(
    client: AsyncClient, login: Login, settings: Settings
) -> None:
    inspector = await login("inspector")
    f = await post(client, inspector)
    r = await upload(client, inspector, f["id"], make_png(), kind="before", filename="a.jpg")
    assert r.status_code == 201, r.text
    assert r.json()["media_type"] == "image/png"
    assert r.json()["flags"] == []
    (path,) = stored_files(settings)
    assert path.suffix == ".png"
    with Image.open(path) as im:
        assert im.format == "PNG"
    content = await client.get(r.json()["links"]["content"], headers=inspector)
    assert content.headers["content-type"] == "image/png"


async def test_text_named_jpg_is_refused_and_nothing_is_stored(
    client: AsyncClient, login: Login, settings: Settings, factory: Any
) -> None:
    inspector = await login("inspector")
    f = await post(client, inspector)
    r = await upload(client, inspector, f["id"], b"not a photo at all\n" * 50, kind="before")
    body = problem(r, 415)
    assert body["errors"][0]["field"] == "file"
    await assert_nothing_stored(factory, settings)


async def test_thirty_megabytes_are_refused_with_413_and_nothing_is_stored(
    client: AsyncClient, login: Login, settings: Settings, factory: Any
) -> None:
    inspector = await login("inspector")
    f = await post(client, inspector)
    huge = b"\xff\xd8\xff\xe0" + os.urandom(30 * 1024 * 1024)
    body = problem(await upload(client, inspector, f["id"], huge, kind="before"), 413)
    assert str(settings.evidence_max_bytes + 64 * 1024) in body["detail"]
    await assert_nothing_stored(factory, settings)


async def test_a_photo_just_over_the_limit_inside_the_envelope_is_refused(
    client: AsyncClient, login: Login, settings: Settings, factory: Any
) -> None:
    inspector = await login("inspector")
    f = await post(client, inspector)
    # The body passes the middleware's envelope; the photo itself is one byte too large.
    data = b"\xff\xd8\xff\xe0" + b"\0" * (settings.evidence_max_bytes - 3)
    body = problem(await upload(client, inspector, f["id"], data, kind="before"), 413)
    assert body["errors"][0]["field"] == "file"
    await assert_nothing_stored(factory, settings)


@pytest.mark.parametrize(
    ("width", "height"),
    [(20_000, 20_000), (7_000, 6_000)],
    ids=["400-megapixels", "42-megapixels"],
)
async def test_decompression_bomb_is_refused_before_decoding(
    client: AsyncClient,
    login: Login,
    settings: Settings,
    factory: Any,
    width: int,
    height: int,
) -> None:
    inspector = await login("inspector")
    f = await post(client, inspector)
    bomb = png_bomb(width, height)
    assert len(bomb) < 200_000
    body = problem(await upload(client, inspector, f["id"], bomb, kind="before"), 422)
    assert body["errors"][0]["field"] == "file"
    assert "pixels" in body["detail"]
    await assert_nothing_stored(factory, settings)


async def test_truncated_jpeg_is_refused_and_nothing_is_stored(
    client: AsyncClient, login: Login, settings: Settings, factory: Any
) -> None:
    inspector = await login("inspector")
    f = await post(client, inspector)
    whole = make_jpeg(640, 480)
    body = problem(
        await upload(client, inspector, f["id"], whole[: len(whole) // 2], kind="before"), 422
    )
    assert "decoded" in body["detail"]
    await assert_nothing_stored(factory, settings)


async def test_the_capture_time_cannot_be_given_by_the_client(
    client: AsyncClient, login: Login, settings: Settings, factory: Any
) -> None:
    inspector = await login("inspector")
    f = await post(client, inspector)
    r = await client.post(
        f"/api/v1/findings/{f['id']}/evidence",
        headers=inspector,
        data={"kind": "before", "taken_at": "2026-11-26T09:00:00+08:00"},
        files={"file": ("a.jpg", make_jpeg(), "image/jpeg")},
    )
    assert problem(r, 422)["errors"][0]["field"] == "taken_at"
    bad_kind = await upload(client, inspector, f["id"], make_jpeg(), kind="during")
    assert problem(bad_kind, 422)["errors"][0]["field"] == "kind"
    await assert_nothing_stored(factory, settings)


async def test_who_may_add_which_photo(client: AsyncClient, login: Login) -> None:
    inspector, handler = await login("inspector"), await login("handler.shinan.badaguan")
    f = await post(client, inspector)
    # The unit handler is no inspector: no before-photos from the unit under scrutiny.
    problem(await upload(client, handler, f["id"], make_jpeg(), kind="before"), 403)
    problem(await upload(client, inspector, f["id"], make_jpeg(), kind="after"), 403)
    # After-photos only once the unit accepted it.
    problem(await upload(client, handler, f["id"], make_jpeg(), kind="after"), 409)
    supervisor = await login("supervisor")
    problem(await upload(client, supervisor, f["id"], make_jpeg(), kind="before"), 403)
    licang = await login("handler.licang.xiaocun")
    problem(await upload(client, licang, f["id"], make_jpeg(), kind="before"), 404)
    problem(await upload(client, inspector, str(uuid.uuid4()), make_jpeg(), kind="before"), 404)
    # The reporter adds photos later (offline phone), whatever the state.
    reporter = await login("inspector.shinan")
    own = await post(client, reporter)
    await act(client, handler, own["id"], "accept")
    r = await upload(client, reporter, own["id"], make_jpeg(), kind="before")
    assert r.status_code == 201, r.text
    assert r.json()["uploaded_by"] == "inspector.shinan"


async def test_the_same_photo_sent_twice_is_stored_once(
    client: AsyncClient, login: Login, settings: Settings, factory: Any
) -> None:
    inspector = await login("inspector")
    f = await post(client, inspector)
    photo = make_jpeg()
    first = await upload(client, inspector, f["id"], photo, kind="before")
    again = await upload(client, inspector, f["id"], photo, kind="before")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert await evidence_rows(factory) == 1
    assert len(stored_files(settings)) == 1


async def test_when_storing_fails_there_is_no_row(
    client: AsyncClient, login: Login, settings: Settings, factory: Any, tmp_path: Path
) -> None:
    inspector = await login("inspector")
    f = await post(client, inspector)
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    settings.media_dir = blocker / "media"
    r = await upload(client, inspector, f["id"], make_jpeg(), kind="before")
    problem(r, 503)
    assert r.headers["retry-after"] == "5"
    assert await evidence_rows(factory) == 0


async def test_a_photo_gone_from_storage_is_a_404_and_a_storage_down_a_503(
    client: AsyncClient, login: Login, settings: Settings, tmp_path: Path
) -> None:
    inspector = await login("inspector")
    f = await post(client, inspector)
    r = await upload(client, inspector, f["id"], make_jpeg(), kind="before")
    assert r.status_code == 201, r.text
    content = r.json()["links"]["content"]
    assert (await client.get(content, headers=inspector)).status_code == 200
    (stored,) = stored_files(settings)
    stored.unlink()
    gone = problem(await client.get(content, headers=inspector), 404)
    assert "missing from storage" in gone["detail"]
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    settings.media_dir = blocker / "media"
    r = await client.get(content, headers=inspector)
    assert problem(r, 503)["detail"] == "The photo storage is unavailable; retry shortly."
    assert r.headers["retry-after"] == "5"
