"""Rectification checks through the real API and database: submit needs fresh after-photos,
re-used photos are refused, suspicious ones flagged, and verification is independent."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.cli.accounts import add_user
from tests.helpers import Login, act, demo_password, post
from tests.photos import attach_after_photo, make_jpeg, upload

PLACE = (36.0571, 120.3466)  # where tests.test_findings_api.body() reports
METRES_PER_DEGREE_LAT = 111_195.0


def north_of_place(metres: float) -> tuple[float, float]:
    return PLACE[0] + metres / METRES_PER_DEGREE_LAT, PLACE[1]


async def accepted(client: AsyncClient, login: Login, **over: Any) -> dict[str, Any]:
    f = await post(client, await login("inspector"), **over)
    handler = await login(f"handler.{f['responsible_unit']['code']}")
    r = await act(client, handler, f["id"], "accept")
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


async def dispatched_hours_ago(
    factory: async_sessionmaker[AsyncSession], fid: str, hours: float
) -> datetime:
    at = datetime.now(UTC) - timedelta(hours=hours)
    async with factory() as session, session.begin():
        await session.execute(
            text("UPDATE findings SET dispatched_at = :at WHERE id = :id"),
            {"at": at, "id": uuid.UUID(fid)},
        )
    return at


async def submit_event(client: AsyncClient, headers: dict[str, str], fid: str) -> Any:
    events = (await client.get(f"/api/v1/findings/{fid}/events", headers=headers)).json()
    return [e for e in events["items"] if e["action"] == "submit"][-1]


async def test_submit_needs_an_after_photo_taken_since_the_unit_took_it_on(
    client: AsyncClient, login: Login
) -> None:
    handler, verifier = await login("handler.shinan.badaguan"), await login("verifier")
    f = await accepted(client, login)
    refused = await act(client, handler, f["id"], "submit", note="已整改")
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "evidence"
    first = make_jpeg()
    photo = (await upload(client, handler, f["id"], first)).json()
    r = await act(client, handler, f["id"], "submit", note="已整改")
    assert r.status_code == 200, r.text
    event = await submit_event(client, handler, f["id"])
    assert [p["id"] for p in event["payload"]["evidence"]] == [photo["id"]]
    assert event["payload"]["evidence"][0]["flags"] == ["unverified_metadata"]
    assert event["payload"]["flags"] == ["unverified_metadata"]

    # Rejected: the photos of the failed submission do not carry the next one.
    assert (await act(client, verifier, f["id"], "reject", note="仍有垃圾")).status_code == 200
    again = await act(client, handler, f["id"], "submit", note="再次整改")
    assert again.status_code == 422
    assert again.json()["errors"][0]["field"] == "evidence"
    # Sending the old photo again is a replay of the old upload, not a new photo.
    old = await upload(client, handler, f["id"], first)
    assert old.status_code == 200
    assert old.json()["id"] == photo["id"]
    assert (await act(client, handler, f["id"], "submit", note="再次整改")).status_code == 422
    second = await attach_after_photo(client, handler, f["id"])
    # The submitter may name which of the pending photos it rests on.
    unknown = await act(client, handler, f["id"], "submit", evidence=[photo["id"]])
    assert unknown.status_code == 422
    assert photo["id"] in unknown.json()["detail"]
    r = await act(client, handler, f["id"], "submit", evidence=[second["id"]])
    assert r.status_code == 200, r.text
    event = await submit_event(client, handler, f["id"])
    assert [p["id"] for p in event["payload"]["evidence"]] == [second["id"]]


async def test_after_photos_only_while_accepted(client: AsyncClient, login: Login) -> None:
    handler = await login("handler.shinan.badaguan")
    f = await accepted(client, login)
    await attach_after_photo(client, handler, f["id"])
    await act(client, handler, f["id"], "submit", note="已整改")
    late = await upload(client, handler, f["id"], make_jpeg(), kind="after")
    assert late.status_code == 409


async def test_a_reused_after_photo_is_refused_naming_the_other_finding_only_if_visible(
    client: AsyncClient, login: Login
) -> None:
    badaguan, xiaocun = (
        await login("handler.shinan.badaguan"),
        await login("handler.licang.xiaocun"),
    )
    inspector = await login("inspector")
    a = await accepted(client, login)
    b = await accepted(client, login)
    photo = make_jpeg()
    assert (await upload(client, badaguan, a["id"], photo)).status_code == 201
    reused = await upload(client, badaguan, b["id"], photo)
    assert reused.status_code == 422
    assert reused.json()["errors"][0]["field"] == "file"
    assert a["id"] in reused.json()["detail"]

    # The same trick with a photo from a finding the caller cannot see: refused, not named.
    c = await accepted(
        client, login, unit="licang.xiaocun", location={"lat": 36.1468, "lon": 120.4322}
    )
    elsewhere = make_jpeg()
    assert (await upload(client, xiaocun, c["id"], elsewhere)).status_code == 201
    hidden = await upload(client, badaguan, b["id"], elsewhere)
    assert hidden.status_code == 422
    assert c["id"] not in hidden.json()["detail"]
    assert "another finding" in hidden.json()["detail"]

    # The inspector's photo of the problem is no proof of its rectification.
    problem_photo = make_jpeg()
    assert (
        await upload(client, inspector, b["id"], problem_photo, kind="before")
    ).status_code == 201
    own_before = await upload(client, badaguan, b["id"], problem_photo)
    assert own_before.status_code == 422
    assert "before-photo" in own_before.json()["detail"]
    a_before = make_jpeg()
    assert (await upload(client, inspector, a["id"], a_before, kind="before")).status_code == 201
    assert (await upload(client, badaguan, b["id"], a_before)).status_code == 422
    # Nothing of this counts for a submission.
    assert (await act(client, badaguan, b["id"], "submit", note="已整改")).status_code == 422


@pytest.mark.parametrize(
    ("photo", "flags"),
    [
        ({"taken": -10, "metres": 0}, []),
        ({"taken": -10, "metres": 90}, []),
        ({"taken": -10, "metres": 110}, ["far"]),
        ({"taken": -10, "metres": 2_000}, ["far"]),
        ({"taken": -120, "metres": 0}, ["early"]),
        ({"taken": -120, "metres": 500}, ["early", "far"]),
        ({"taken": None, "metres": 0}, ["unverified_metadata"]),
        ({"taken": -10, "metres": None}, ["unverified_metadata"]),
        ({"taken": -120, "metres": None}, ["early", "unverified_metadata"]),
        ({"taken": None, "metres": None}, ["unverified_metadata"]),
    ],
    ids=[
        "on-the-spot",
        "90m",
        "110m",
        "2km",
        "before-dispatch",
        "before-dispatch-and-far",
        "no-time",
        "no-gps",
        "early-no-gps",
        "no-exif",
    ],
)
async def test_after_photos_are_flagged_against_the_finding(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    photo: dict[str, Any],
    flags: list[str],
) -> None:
    handler = await login("handler.shinan.badaguan")
    f = await accepted(client, login)
    await dispatched_hours_ago(factory, f["id"], 1)
    now = datetime.now(UTC)
    e = await attach_after_photo(
        client,
        handler,
        f["id"],
        taken_at=None if photo["taken"] is None else now + timedelta(minutes=photo["taken"]),
        gps=None if photo["metres"] is None else north_of_place(photo["metres"]),
    )
    assert e["flags"] == flags
    if photo["metres"] is not None:
        assert e["distance_m"] == pytest.approx(photo["metres"], abs=1)
    r = await act(client, handler, f["id"], "submit", note="已整改")
    assert r.status_code == 200, r.text
    event = await submit_event(client, handler, f["id"])
    assert event["payload"]["evidence"][0]["flags"] == flags
    assert event["payload"]["flags"] == flags


async def test_the_verifier_sees_before_and_after_photos_and_flags_in_one_response(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession]
) -> None:
    inspector, handler = await login("inspector"), await login("handler.shinan.badaguan")
    verifier = await login("verifier")
    f = await post(client, inspector)
    before = await upload(client, inspector, f["id"], make_jpeg(gps=PLACE), kind="before")
    assert before.status_code == 201
    await act(client, handler, f["id"], "accept")
    dispatched = await dispatched_hours_ago(factory, f["id"], 2)
    good = await attach_after_photo(
        client, handler, f["id"], taken_at=dispatched + timedelta(hours=1), gps=PLACE
    )
    far = await attach_after_photo(
        client, handler, f["id"], taken_at=dispatched + timedelta(hours=1), gps=north_of_place(300)
    )
    # Before the submission the verifier already sees what has been uploaded.
    pending = (
        await client.get(f"/api/v1/findings/{f['id']}/verification", headers=verifier)
    ).json()
    assert pending["submission"] is None
    assert {p["id"] for p in pending["after"]} == {good["id"], far["id"]}
    assert (await act(client, handler, f["id"], "submit", note="已清运")).status_code == 200

    r = await client.get(f"/api/v1/findings/{f['id']}/verification", headers=verifier)
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["finding"]["id"] == f["id"]
    assert view["finding"]["status"] == "submitted"
    assert view["finding"]["links"]["verification"] == f"/api/v1/findings/{f['id']}/verification"
    assert [p["id"] for p in view["before"]] == [before.json()["id"]]
    assert [(p["id"], p["flags"]) for p in view["after"]] == [
        (good["id"], []),
        (far["id"], ["far"]),
    ]
    assert view["flags"] == ["far"]
    assert view["submission"]["submitted_by"] == "handler.shinan.badaguan"
    assert view["submission"]["note"] == "已清运"
    assert view["submission"]["on_time"] is True
    for p in view["before"] + view["after"]:
        content = await client.get(p["links"]["content"], headers=verifier)
        assert content.status_code == 200
        assert content.headers["content-type"] == "image/jpeg"
    # Out of scope: 404, like the finding.
    licang = await login("handler.licang.xiaocun")
    r = await client.get(f"/api/v1/findings/{f['id']}/verification", headers=licang)
    assert r.status_code == 404


async def test_a_verifier_never_verifies_their_own_submission(
    client: AsyncClient, login: Login, factory: async_sessionmaker[AsyncSession]
) -> None:
    handler, verifier = await login("handler.shinan.badaguan"), await login("verifier")
    f = await accepted(client, login)
    await attach_after_photo(client, handler, f["id"])
    await act(client, handler, f["id"], "submit", note="已整改")
    # One person holding both jobs: the submission is recorded as the verifier's own.
    async with factory() as session, session.begin():
        await session.execute(
            text(
                "UPDATE findings SET submitted_by_id = "
                "(SELECT id FROM users WHERE username = 'verifier') WHERE id = :id"
            ),
            {"id": uuid.UUID(f["id"])},
        )
    for action in ("verify", "reject"):
        r = await act(client, verifier, f["id"], action, note="自己复核")
        assert r.status_code == 403
        assert "own submission" in r.json()["detail"]
    r = await client.get(f"/api/v1/findings/{f['id']}", headers=verifier)
    assert r.json()["status"] == "submitted"


@pytest.mark.parametrize(
    ("unit", "allowed"),
    [
        ("shinan.badaguan", False),  # the responsible unit itself
        ("shinan", False),  # its district: the responsible unit lies in its subtree
        ("wenmingban", True),  # the campaign office: independent
    ],
)
async def test_verification_by_the_responsible_unit_or_above_is_refused(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    unit: str,
    allowed: bool,
) -> None:
    username = f"verifier.{unit}.test"
    async with factory() as session, session.begin():
        await add_user(
            session,
            username=username,
            role="verifier",
            unit_code=unit,
            password=demo_password(username),
        )
    handler, verifier = await login("handler.shinan.badaguan"), await login(username)
    f = await accepted(client, login)
    await attach_after_photo(client, handler, f["id"])
    await act(client, handler, f["id"], "submit", note="已整改")
    if allowed:
        r = await act(client, verifier, f["id"], "verify", note="复核通过")
        assert r.status_code == 200, r.text
        return
    for action in ("reject", "verify"):
        r = await act(client, verifier, f["id"], action, note="复核")
        assert r.status_code == 403
        assert "own unit" in r.json()["detail"]
