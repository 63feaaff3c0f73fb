"""A finding's source is a claim the server checks: every source × every role, on POST
/findings and on POST /findings/batch, through the real API and database.

The table below is README's "Sources" written out by account: allowed → stored (201, or
`created` in a batch), not allowed → a 403 problem naming `source`, nothing stored.
Exposure-video findings come only from registering a video.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from httpx import AsyncClient

from tests.helpers import URL, Login, at, body, exposure_finding

SOURCES = ("inspection", "public_report", "leader_assigned", "self_assessment", "exposure_video")
# One account per role, two where the scope matters (a unit's own self-assessment).
ACCOUNTS = {
    "inspector": "inspector",  # 市文明办: the whole city
    "inspector.shinan": "inspector",
    "dispatcher": "dispatcher",
    "handler.shinan": "unit_handler",
    "verifier": "verifier",
    "leader.shinan": "leader",
    "leader.city": "leader",  # 青岛市: the whole city
    "supervisor": "supervisor",
    "admin": "admin",
}
ALLOWED = {
    "inspection": set(ACCOUNTS) - {"supervisor"},
    "public_report": {"inspector", "inspector.shinan", "dispatcher"},
    "leader_assigned": {"dispatcher", "leader.shinan", "leader.city"},
    "self_assessment": {"inspector.shinan", "handler.shinan", "leader.shinan"},
    "exposure_video": set(),
}


def report_of(source: str, n: int) -> dict[str, Any]:
    # 100 m apart: no report is another's duplicate.
    return body(source=source, location=at(north_m=100 * n, lat=36.0))


def names_source(problem: dict[str, Any], field: str = "source") -> bool:
    return field in {e["field"] for e in problem.get("errors", [])}


async def stored(conn: asyncpg.Connection, ids: list[str]) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM findings WHERE id = ANY($1::uuid[])",
            [uuid.UUID(i) for i in ids],
        )
    )


async def test_every_source_by_every_role_on_post_findings(
    client: AsyncClient, login: Login, server_side: asyncpg.Connection
) -> None:
    assert set(ACCOUNTS.values()) == {
        "inspector", "dispatcher", "unit_handler", "verifier", "leader", "supervisor", "admin"
    }  # fmt: skip
    wrong: list[str] = []
    refused: list[str] = []
    for n, (source, username) in enumerate((s, a) for s in SOURCES for a in ACCOUNTS):
        sent = report_of(source, n)
        r = await client.post(URL, json=sent, headers=await login(username))
        if username in ALLOWED[source]:
            if r.status_code != 201 or r.json()["source"] != source:
                wrong.append(f"{source} by {username}: {r.status_code} {r.text}")
            continue
        refused.append(sent["id"])
        ok = (
            r.status_code == 403
            and r.headers["content-type"] == "application/problem+json"
            and names_source(r.json())
        )
        if not ok:
            wrong.append(f"{source} by {username}: {r.status_code} {r.text}")
    assert wrong == []
    assert await stored(server_side, refused) == 0


async def test_every_source_by_every_role_on_post_findings_batch(
    client: AsyncClient, login: Login, server_side: asyncpg.Connection
) -> None:
    wrong: list[str] = []
    refused: list[str] = []
    for a, username in enumerate(ACCOUNTS):
        items = [report_of(source, a * len(SOURCES) + i) for i, source in enumerate(SOURCES)]
        r = await client.post(
            f"{URL}/batch", json={"findings": items}, headers=await login(username)
        )
        if not any(username in ALLOWED[s] for s in SOURCES):
            # A role that may report no source at all is refused the whole batch.
            refused += [item["id"] for item in items]
            if r.status_code != 403 or not names_source(r.json()):
                wrong.append(f"batch by {username}: {r.status_code} {r.text}")
            continue
        assert r.status_code == 200, r.text
        for i, (source, result) in enumerate(zip(SOURCES, r.json()["results"], strict=True)):
            if username in ALLOWED[source]:
                if result["outcome"] != "created" or result["finding"]["source"] != source:
                    wrong.append(f"{source} by {username}: {result}")
                continue
            refused.append(items[i]["id"])
            problem = result["problem"] or {}
            ok = (
                result["outcome"] == "invalid"
                and result["id"] == items[i]["id"]
                and problem.get("status") == 403
                and names_source(problem, f"findings[{i}].source")
            )
            if not ok:
                wrong.append(f"{source} by {username}: {result}")
    assert wrong == []
    assert await stored(server_side, refused) == 0


async def test_exposure_video_findings_come_from_registering_the_video(
    client: AsyncClient, login: Login
) -> None:
    for username in ("dispatcher", "admin"):
        segment = await exposure_finding(
            client, await login(username), location=at(lat=36.1 if username == "admin" else 36.2)
        )
        assert segment["source"] == "exposure_video"
        assert segment["reporter"] == username


async def test_the_source_is_refused_before_the_body_is_validated(
    client: AsyncClient, login: Login, server_side: asyncpg.Connection
) -> None:
    inspector = await login("inspector")
    before = await server_side.fetchval("SELECT count(*) FROM findings")
    # Not allowed, and not a valid body either: the refusal of the claim comes first.
    r = await client.post(URL, json={"source": "exposure_video"}, headers=inspector)
    assert r.status_code == 403, r.text
    assert names_source(r.json())
    # Allowed, but not a valid body: validation.
    r = await client.post(URL, json={"source": "public_report"}, headers=await login("dispatcher"))
    assert r.status_code == 422, r.text
    assert not names_source(r.json())
    # No such source: validation names it.
    r = await client.post(URL, json=body(source="tv"), headers=inspector)
    assert r.status_code == 422, r.text
    assert names_source(r.json())
    assert await server_side.fetchval("SELECT count(*) FROM findings") == before


async def test_a_self_assessment_is_of_the_callers_own_unit(
    client: AsyncClient, login: Login, server_side: asyncpg.Connection
) -> None:
    district = await login("inspector.shinan")
    sent = [
        body(source="self_assessment", unit=None),
        body(source="self_assessment", unit="licang.xiaocun", location=at(lat=36.14)),
    ]
    for b in sent:
        r = await client.post(URL, json=b, headers=district)
        assert r.status_code == 422, r.text
        assert names_source(r.json(), "unit")
    assert await stored(server_side, [b["id"] for b in sent]) == 0
    own = await client.post(
        URL, json=body(source="self_assessment", unit="shinan.zhanshan"), headers=district
    )
    assert own.status_code == 201, own.text
    assert own.json()["responsible_unit"]["code"] == "shinan.zhanshan"
