"""Personal supervision (领导包案): a leader takes personal charge of a finding; the mark
shows on the finding and its escalations; every level of its ladder reaches the leader too,
once per level (and once only when the leader is the level's own addressee); ending the
charge keeps its record and removes the mark."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.platform.settings import Settings
from tests.helpers import Login, make_overdue, person_of, post, sql_rows, sweep

API = "/api/v1"
HEAD = "示例·市南区委书记"


async def test_a_finding_in_personal_charge_reaches_the_leader_at_every_level(
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    leader = await login("leader.shinan")
    finding = await post(client, await login("inspector"), description="包案 问题")
    fid = finding["id"]
    url = f"{API}/findings/{fid}/supervision"
    r = await client.post(url, json={"note": "亲自督办"}, headers=leader)
    assert r.status_code == 201, r.text
    # only a leader takes charge
    r = await client.post(url, headers=await login("handler.shinan"))
    assert r.status_code == 403, r.text
    shown = (await client.get(f"{API}/findings/{fid}", headers=leader)).json()
    assert shown["personally_supervised_by"] == [HEAD]

    await make_overdue(factory, fid, datetime.now(UTC) - timedelta(days=40))
    await sweep(factory, settings, datetime.now(UTC))
    await sweep(factory, settings, datetime.now(UTC) + timedelta(days=1))
    head = await person_of(factory, "shinan", "head")
    told = await sql_rows(
        factory,
        "SELECT n.level, e.target, count(*) FROM notifications n"
        " JOIN escalations e ON e.id = n.escalation_id"
        " WHERE n.finding_id = :f AND n.recipient_person_id = :p AND n.channel = 'inbox'"
        " GROUP BY 1, 2 ORDER BY 1",
        f=finding["id"],
        p=head,
    )
    # L2 is addressed to the district head themselves: told once, not twice
    assert [tuple(t) for t in told] == [
        (1, "unit_head", 1),
        (2, "district_head", 1),
        (3, "city_leader", 1),
        (4, "discipline_commission", 1),
    ]
    inbox = (await client.get(f"{API}/inbox", headers=leader)).json()["items"]
    mine = [i for i in inbox if i["kind"] == "escalation" and i["finding_id"] == fid]
    assert sorted(i["payload"]["level"] for i in mine) == [1, 2, 3, 4]

    listed = (
        await client.get(f"{API}/escalations", params={"district": "shinan"},
                         headers=await login("supervisor"))
    ).json()["items"]  # fmt: skip
    marks = {e["finding"]["id"]: e["finding"]["personally_supervised_by"] for e in listed}
    assert marks[fid] == [HEAD]

    held = (await client.get(f"{API}/supervision", headers=leader)).json()["items"]
    assert [m["finding"] for m in held] == [fid]
    r = await client.delete(url, headers=leader)
    assert r.status_code == 200, r.text
    assert r.json()["ended_at"] is not None
    assert (await client.get(f"{API}/findings/{fid}", headers=leader)).json()[
        "personally_supervised_by"
    ] == []
    assert (await client.get(f"{API}/supervision", headers=leader)).json()["items"] == []
    r = await client.delete(url, headers=leader)
    assert r.status_code == 404, r.text
    kept = await sql_rows(
        factory, "SELECT ended_at FROM personal_supervisions WHERE finding_id = :f", f=fid
    )
    assert len(kept) == 1
    assert kept[0][0] is not None
