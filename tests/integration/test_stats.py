"""The unit ranking: its figures reconcile exactly with the findings and escalations they count.

A small campaign is built through the API (reports, the whole lifecycle) and SQL (deadlines in
the past, a recurrence), escalated by the real sweep; the expected figures are then computed
here, independently, from the raw rows (by the denormalised district, not by the unit paths
the implementation rolls up) and the README's formula, and compared with /stats/units.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.platform.settings import Settings
from tests.helpers import (
    SWEPT_AT,
    Login,
    build_campaign,
    execute,
    fields,
    query,
)

URL = "/api/v1/stats/units"
LEVEL_COST = {1: 1, 2: 2, 3: 5, 4: 10}


@dataclass
class Expected:
    total: int = 0
    closed: int = 0
    on_time: int = 0
    overdue_open: int = 0
    rework: int = 0
    recurrences: int = 0
    escalations: dict[int, int] = field(default_factory=lambda: dict.fromkeys(LEVEL_COST, 0))
    w: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    w_escalations: dict[int, int] = field(default_factory=lambda: dict.fromkeys(LEVEL_COST, 0))

    def readme_score(self) -> float:
        """README: 100 × on-time rate − 2 × overdue − 5 × rework − 5 × recurrences − levels."""
        rate = self.w["on_time"] / self.w["closed"] if self.w["closed"] else 1.0
        cost = sum(LEVEL_COST[lv] * n for lv, n in self.w_escalations.items())
        return round(
            100 * rate
            - 2 * self.w["overdue_open"]
            - 5 * self.w["rework"]
            - 5 * self.w["recurrences"]
            - cost,
            2,
        )


async def expected_by_district(
    database_url: str, since: datetime | None = None, until: datetime | None = None
) -> dict[str, Expected]:
    now = datetime.now(UTC)
    units = dict(await query(database_url, "SELECT id, code FROM units WHERE kind = 'district'"))
    out = {code: Expected() for code in units.values()}
    findings = await query(
        database_url,
        "SELECT district_id, responsible_unit_id, source, status, close_reason, due_at, "
        "submitted_at, rework_count, recurrence_of, reported_at FROM findings",
    )
    for (
        district,
        responsible,
        source,
        status,
        reason,
        due,
        submitted,
        rework,
        recur,
        at,
    ) in findings:
        if responsible is None or reason in ("invalid", "duplicate"):
            continue
        if (since and at < since) or (until and at >= until):
            continue
        x, w = out[units[district]], 2 if source == "exposure_video" else 1
        facts = {
            "total": True,
            "closed": reason == "rectified",
            "on_time": reason == "rectified" and submitted <= due,
            "overdue_open": status in ("assigned", "accepted") and due < now,
            "rework": rework > 0,
            "recurrences": recur is not None,
        }
        for name, holds in facts.items():
            if holds:
                setattr(x, name, getattr(x, name) + 1)
                x.w[name] += w
    escalations = await query(
        database_url, "SELECT district_id, level, source, fired_at FROM escalations"
    )
    for district, level, source, fired in escalations:
        if (since and fired < since) or (until and fired >= until):
            continue
        x = out[units[district]]
        x.escalations[level] += 1
        x.w_escalations[level] += 2 if source == "exposure_video" else 1
    return out


def compare(item: dict[str, Any], x: Expected) -> None:
    code = item["unit"]["code"]
    got = {
        k: item[k] for k in ("total", "closed", "on_time", "overdue_open", "rework", "recurrences")
    }
    assert got == {k: getattr(x, k) for k in got}, code
    assert item["escalations"] == {str(lv): n for lv, n in x.escalations.items()}, code
    weighted = {k: v for k, v in item["weighted"].items() if k != "escalations"}
    assert weighted == {k: x.w[k] for k in weighted}, code
    assert item["weighted"]["escalations"] == {str(lv): n for lv, n in x.w_escalations.items()}
    assert item["on_time_rate"] == (round(x.on_time / x.closed, 4) if x.closed else None)
    assert item["rework_rate"] == (round(x.rework / x.total, 4) if x.total else None)
    assert item["score"] == x.readme_score(), code


async def test_district_figures_reconcile_with_the_rows_they_count(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    database_url: str,
) -> None:
    await build_campaign(client, login, factory, settings, database_url)
    r = await client.get(URL, headers=await login("supervisor"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["level"] == "district"
    assert "100 × on_time_rate" in body["formula"]
    items = {i["unit"]["code"]: i for i in body["items"]}
    expected = await expected_by_district(database_url)
    assert set(items) == set(expected)
    assert len(items) == 7
    for code, x in expected.items():
        compare(items[code], x)

    # the figures a person can check by hand
    shinan, licang = items["shinan"], items["licang"]
    assert (shinan["total"], shinan["closed"], shinan["on_time"]) == (4, 2, 1)  # A B C E
    assert (shinan["overdue_open"], shinan["rework"], shinan["recurrences"]) == (1, 1, 1)
    assert shinan["weighted"]["total"] == 1 + 2 + 2 + 1  # B and C are exposure-video
    assert shinan["weighted"]["closed"] == 3
    assert shinan["weighted"]["rework"] == 2
    assert shinan["on_time_rate"] == 0.5
    assert sum(shinan["escalations"].values()) >= 3  # C: at least up to L4 of its ladder
    assert shinan["weighted"]["escalations"] == {k: 2 * n for k, n in shinan["escalations"].items()}
    assert (licang["total"], licang["closed"], licang["overdue_open"]) == (2, 0, 1)
    assert licang["escalations"] == {"1": 1, "2": 1, "3": 0, "4": 0}
    assert licang["on_time_rate"] is None
    assert licang["score"] == 100 - 2 * 1 - (1 + 2)
    assert items["laixi"]["escalations"]["1"] == 1
    assert items["shibei"]["total"] == 0
    assert items["shibei"]["score"] == 100.0

    # rank: 1 = best, ties share, listed best first
    scores = [i["score"] for i in body["items"]]
    assert scores == sorted(scores, reverse=True)
    assert [i["rank"] for i in body["items"]] == [1 + sum(s > x for s in scores) for x in scores]
    assert items["shibei"]["rank"] == 1
    assert items["shinan"]["rank"] == 7


async def test_window_streets_and_departments(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    database_url: str,
) -> None:
    ids = await build_campaign(client, login, factory, settings, database_url)
    supervisor = await login("supervisor")
    # A is moved back to January: outside a window that starts in June
    await execute(
        database_url,
        "UPDATE findings SET reported_at = '2026-01-10T10:00:00+08:00' WHERE id = :a",
        a=uuid.UUID(ids["A"]),
    )
    since = datetime(2026, 6, 1, tzinfo=UTC)
    r = await client.get(URL, params={"since": since.isoformat()}, headers=supervisor)
    items = {i["unit"]["code"]: i for i in r.json()["items"]}
    for code, x in (await expected_by_district(database_url, since=since)).items():
        compare(items[code], x)
    assert items["shinan"]["total"] == 3
    # escalations fired before the window do not count; findings reported in it do
    later = SWEPT_AT + timedelta(seconds=1)
    r = await client.get(URL, params={"since": later.isoformat()}, headers=supervisor)
    items = {i["unit"]["code"]: i for i in r.json()["items"]}
    assert all(n == 0 for i in items.values() for n in i["escalations"].values())
    assert items["shinan"]["total"] == 3
    r = await client.get(URL, params={"until": later.isoformat()}, headers=supervisor)
    items = {i["unit"]["code"]: i for i in r.json()["items"]}
    assert items["shinan"]["total"] == 1  # only A, in January
    assert items["licang"]["escalations"]["2"] == 1

    streets = (await client.get(URL, params={"level": "street"}, headers=supervisor)).json()
    by_code = {i["unit"]["code"]: i for i in streets["items"]}
    assert (by_code["shinan.badaguan"]["total"], by_code["shinan.badaguan"]["recurrences"]) == (
        2,
        1,
    )
    assert by_code["shinan.zhanshan"]["weighted"]["rework"] == 2
    assert by_code["licang.xiaocun"]["total"] == 2
    assert sum(i["total"] for i in streets["items"]) == 5  # A E B F G; C and H are departments
    departments = (await client.get(URL, params={"level": "department"}, headers=supervisor)).json()
    by_code = {i["unit"]["code"]: i for i in departments["items"]}
    assert by_code["shinan.cgj"]["total"] == 1
    assert by_code["laixi.cgj"]["escalations"]["1"] == 1
    assert sum(i["total"] for i in departments["items"]) == 2
    assert all(i["unit"]["code"].endswith(".cgj") for i in departments["items"])


async def test_only_supervisors_and_admins_and_bad_input(client: AsyncClient, login: Login) -> None:
    assert (await client.get(URL)).status_code == 401
    for user in ("leader.city", "handler.shinan", "dispatcher", "inspector"):
        assert (await client.get(URL, headers=await login(user))).status_code == 403
    assert (await client.get(URL, headers=await login("admin"))).status_code == 200
    supervisor = await login("supervisor")
    for params, name in [
        ({"level": "community"}, "level"),
        ({"since": "2026-11-01T00:00:00"}, "since"),
        ({"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"}, "until"),
        ({"until": "soon"}, "until"),
    ]:
        r = await client.get(URL, params=params, headers=supervisor)
        assert (r.status_code, name in fields(r)) == (422, True), params
