"""Self-assessment rounds (自评自测): the district's handler submits, its head approves; every
shortfall becomes a finding with source self_assessment on the district; the office sees the
self-assessed score beside what inspectors measured at the same points and criteria, and a
district rating itself far above it is flagged."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient

from tests.helpers import INSPECTIONS, Login, import_criteria, import_points, visit

ROUNDS = "/api/v1/assessment-rounds"
SHINAN = f"{ROUNDS}/t.r11/districts/shinan"
SCORES: list[dict[str, Any]] = [
    {"criterion": "A.1", "point": "t.sn.market1", "score": 10},
    {"criterion": "A.2", "point": "t.sn.market1", "score": 10},
    {"criterion": "A.3", "point": "t.sn.alley1", "score": 6, "note": "小巷有堆放"},
    {"criterion": "B", "score": 10},
]


async def open_round(client: AsyncClient, login: Login) -> None:
    admin = await login("admin")
    await import_points(client, admin)
    await import_criteria(client, admin)
    r = await client.post(
        ROUNDS,
        json={"code": "t.r11", "name": "十一月自评", "criteria_set": "t-2026",
              "starts_on": "2026-11-01", "ends_on": "2026-11-30"},
        headers=await login("dispatcher"),
    )  # fmt: skip
    assert r.status_code == 201, r.text


async def test_submitted_approved_and_every_shortfall_a_finding(
    client: AsyncClient, login: Login
) -> None:
    await open_round(client, login)
    handler, head = await login("handler.shinan"), await login("leader.shinan")
    r = await client.post(f"{SHINAN}/submit", json={"scores": SCORES}, headers=head)
    assert r.status_code == 403
    r = await client.post(f"{SHINAN}/submit", json={"scores": SCORES}, headers=handler)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "submitted"
    r = await client.post(f"{SHINAN}/approve", headers=handler)
    assert r.status_code == 403
    r = await client.post(f"{SHINAN}/approve", headers=head)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved"
    assert r.json()["findings"] == 1
    [short] = [s for s in r.json()["scores"] if s["finding"]]
    assert (short["criterion"], short["point"]) == ("A.3", "t.sn.alley1")
    finding = (await client.get(f"/api/v1/findings/{short['finding']}", headers=head)).json()
    assert finding["source"] == "self_assessment"
    assert finding["status"] == "assigned"
    assert "A.3" in finding["description"]
    assert finding["responsible_unit"]["code"].startswith("shinan")
    again = await client.post(f"{SHINAN}/approve", headers=head)
    assert again.status_code == 409
    resubmit = await client.post(f"{SHINAN}/submit", json={"scores": SCORES}, headers=handler)
    assert resubmit.status_code == 409


async def test_bad_scores_are_named_and_a_return_allows_another_submission(
    client: AsyncClient, login: Login
) -> None:
    await open_round(client, login)
    handler, head = await login("handler.shinan"), await login("leader.shinan")
    bad = [{"criterion": "A.1", "point": "t.lc.alley1", "score": 5},
           {"criterion": "A.1", "point": "t.sn.market1", "score": 11},
           {"criterion": "Z", "score": 1},
           {"criterion": "A.3", "point": "t.sn.market1", "score": 1}]  # fmt: skip
    r = await client.post(f"{SHINAN}/submit", json={"scores": bad}, headers=handler)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in r.json()["errors"]] == [
        "scores[0].point", "scores[1].score", "scores[2].criterion", "scores[3].point",
    ]  # fmt: skip
    assert (await client.post(f"{SHINAN}/submit", json={"scores": SCORES[:1]},
                              headers=handler)).status_code == 200  # fmt: skip
    r = await client.post(f"{SHINAN}/return", headers=head)
    assert r.json()["status"] == "returned"
    r = await client.post(f"{SHINAN}/submit", json={"scores": SCORES}, headers=handler)
    assert r.status_code == 200
    assert len(r.json()["scores"]) == 4
    other = await client.post(f"{ROUNDS}/t.r11/districts/shinan/submit", json={"scores": SCORES},
                              headers=await login("handler.licang.xiaocun"))  # fmt: skip
    assert other.status_code == 404


async def test_a_self_assessment_far_above_the_inspections_is_flagged(
    client: AsyncClient, login: Login
) -> None:
    await open_round(client, login)
    inspector = await login("inspector")
    # The inspectors found 八大关's market dirty twice (A.1 failed) and orderly (A.2 passed).
    for day in ("03", "10"):
        body = visit(observed_at=f"2026-11-{day}T10:00:00+08:00", criteria_set="t-2026",
                     items=[{"criterion": "A.1", "outcome": "fail"},
                            {"criterion": "A.2", "outcome": "pass"}])  # fmt: skip
        assert (await client.post(INSPECTIONS, json=body, headers=inspector)).status_code == 201
    r = await client.post(f"{SHINAN}/submit", json={"scores": SCORES},
                          headers=await login("handler.shinan"))  # fmt: skip
    assert r.status_code == 200
    r = await client.get(f"{ROUNDS}/t.r11/gap", headers=await login("supervisor"))
    assert r.status_code == 200, r.text
    [shinan] = r.json()["items"]
    # Compared where both looked: A.1 and A.2 at the market; 20 of 20 claimed, 10 measured.
    assert shinan["compared"] == 2
    assert (shinan["self_percent"], shinan["inspected_percent"]) == (100, 50)
    assert shinan["gap"] == 50
    assert shinan["flagged"] is True
    licang = await client.get(f"{ROUNDS}/t.r11/gap", headers=await login("handler.licang.xiaocun"))
    assert licang.json()["items"] == []
