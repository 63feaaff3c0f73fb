"""The signed link in every message (/n/<token>): it opens the escalation and records when;
from a message addressed to the escalation's own target it acknowledges with a 批示 on a phone
without a password, once, while fresh; it expires; a group's link never acknowledges; an
altered one opens nothing."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api.headers import STRICT_CSP
from services.core.notify.links import make_token
from services.core.platform.keys import link_secret
from services.core.platform.settings import Settings
from tests.fake_providers import FakeDingTalk, FakeWeCom
from tests.helpers import (
    Login,
    add_contact_point,
    deliver_due,
    make_overdue,
    person_of,
    post,
    sql_rows,
)
from tests.helpers import sweep as run_sweep

LINK = re.compile(r"http://[^/\s)]+(/n/[A-Za-z0-9_-]{32})")


@dataclass
class Fired:
    finding: str
    escalation: int  # L2, to the district head
    mine: str  # the link in the district head's own message
    group: str  # the link in the district's work group message


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as c:
        yield c


@pytest.fixture
def robots() -> Iterator[tuple[FakeDingTalk, FakeWeCom]]:
    dingtalk, wecom = FakeDingTalk(), FakeWeCom()
    dingtalk.start()
    wecom.start()
    yield dingtalk, wecom
    dingtalk.stop()
    wecom.stop()


@pytest.fixture
async def fired(
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    http: httpx.AsyncClient,
    robots: tuple[FakeDingTalk, FakeWeCom],
) -> Fired:
    dingtalk, wecom = robots
    admin = await login("admin")
    robot, group = dingtalk.robot(secret="SEC-shuji"), wecom.group()
    head = await person_of(factory, "shinan", "head")
    await add_contact_point(
        client, admin, person_id=head, kind="dingtalk", url=dingtalk.url(robot), secret=robot.secret
    )
    await add_contact_point(client, admin, unit="shinan", kind="wecom", url=wecom.url(group))
    now = datetime.now(UTC)
    f = await post(client, await login("inspector"))
    await make_overdue(factory, f["id"], now - timedelta(days=40))
    await run_sweep(factory, settings, now)
    await deliver_due(factory, settings, http, now)
    (card,) = robot.messages
    mine = LINK.fullmatch(card["actionCard"]["singleURL"])
    theirs = [LINK.search(m["markdown"]["content"]) for m in group.messages]
    (row,) = await sql_rows(
        factory,
        "SELECT id FROM escalations WHERE finding_id = :f AND level = 2",
        f=uuid.UUID(f["id"]),
    )
    assert mine is not None
    assert theirs
    assert theirs[0] is not None
    return Fired(f["id"], row.id, mine.group(1), theirs[0].group(1))


async def acknowledgement(
    factory: async_sessionmaker[AsyncSession], eid: int
) -> tuple[object, ...]:
    (e,) = await sql_rows(
        factory,
        "SELECT e.acknowledged_at, e.instruction, u.username FROM escalations e "
        "LEFT JOIN users u ON u.id = e.acknowledged_by_id WHERE e.id = :e",
        e=eid,
    )
    return (e.acknowledged_at is not None, e.instruction, e.username)


async def test_the_targets_link_opens_records_and_acknowledges_once_without_a_password(
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    fired: Fired,
) -> None:
    page = await client.get(fired.mine)
    assert page.status_code == 200
    assert "签收并批示" in page.text
    assert "暴露垃圾" in page.text
    assert page.headers["content-security-policy"] == STRICT_CSP
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "set-cookie" not in page.headers
    assert "http" not in re.sub(r'href="/[^"]*"', "", page.text).replace("http-equiv", "")
    supervisor = await login("supervisor")
    r = await client.get(f"/api/v1/escalations/{fired.escalation}/receipts", headers=supervisor)
    (person,) = [p for p in r.json()["recipients"] if p["kind"] == "person"]
    assert person["opened_at"] is not None
    assert person["acknowledged_at"] is None

    # an empty 批示 is refused and does not spend the link
    empty = await client.post(fired.mine, data={"instruction": "  "})
    assert empty.status_code == 422
    done = await client.post(fired.mine, data={"instruction": "限期三日内整改到位"})
    assert done.status_code == 303
    assert done.headers["location"] == f"{fired.mine}?done=1"
    assert await acknowledgement(factory, fired.escalation) == (
        True,
        "限期三日内整改到位",
        "leader.shinan",  # the account the district head acts as
    )
    shown = await client.get(done.headers["location"])
    assert "批示已记录" in shown.text
    assert "签收并批示" not in shown.text
    r = await client.get(f"/api/v1/escalations/{fired.escalation}/receipts", headers=supervisor)
    (person,) = [p for p in r.json()["recipients"] if p["kind"] == "person"]
    assert person["acknowledged_at"] is not None
    events = await client.get(f"/api/v1/findings/{fired.finding}/events", headers=supervisor)
    (ack,) = [e for e in events.json()["items"] if e["action"] == "acknowledge"]
    assert ack["payload"]["via"] == "link"
    assert ack["payload"]["instruction"] == "限期三日内整改到位"

    # the link is spent: a second 批示 is refused and changes nothing
    again = await client.post(fired.mine, data={"instruction": "改写批示"})
    assert again.status_code == 410
    assert 'data-error="used"' in again.text
    assert (await acknowledgement(factory, fired.escalation))[1] == "限期三日内整改到位"


async def test_a_work_groups_link_shows_the_escalation_but_never_acknowledges(
    client: httpx.AsyncClient, factory: async_sessionmaker[AsyncSession], fired: Fired
) -> None:
    page = await client.get(fired.group)
    assert page.status_code == 200
    assert "签收并批示" not in page.text
    r = await client.post(fired.group, data={"instruction": "群里任何人都不能替书记批示"})
    assert r.status_code == 403
    assert 'data-error="group"' in r.text
    assert await acknowledgement(factory, fired.escalation) == (False, None, None)


async def test_an_expired_or_altered_link_opens_nothing(
    client: httpx.AsyncClient,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    fired: Fired,
) -> None:
    (row,) = await sql_rows(
        factory,
        "SELECT id FROM notifications WHERE escalation_id = :e AND channel = 'dingtalk'",
        e=fired.escalation,
    )
    stolen = make_token(link_secret(settings), row.id, datetime.now(UTC) - timedelta(seconds=1))
    expired = await client.get(f"/n/{stolen}")
    assert expired.status_code == 410
    assert "链接已过期" in expired.text
    assert fired.finding not in expired.text
    assert (await client.post(f"/n/{stolen}", data={"instruction": "x"})).status_code == 410
    token = fired.mine.rsplit("/", 1)[1]
    altered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert (await client.get(f"/n/{altered}")).status_code == 404
    assert (await client.post(f"/n/{altered}", data={"instruction": "x"})).status_code == 404
    # forged with another key: nothing either
    forged = make_token("another-installation", row.id, datetime.now(UTC) + timedelta(days=1))
    assert (await client.get(f"/n/{forged}")).status_code == 404
    assert (await client.get("/n/short")).status_code == 404
    (opened,) = await sql_rows(
        factory, "SELECT opened_at FROM notifications WHERE id = :n", n=row.id
    )
    assert opened.opened_at is None  # none of those counted as an opening
    assert await acknowledgement(factory, fired.escalation) == (False, None, None)


@pytest.mark.parametrize("settings_overrides", [{"link_ack_hours": 1 / 3600}])
async def test_once_no_longer_fresh_it_still_opens_but_acknowledges_only_after_login(
    client: httpx.AsyncClient, factory: async_sessionmaker[AsyncSession], fired: Fired
) -> None:
    await asyncio.sleep(1.5)
    page = await client.get(fired.mine)
    assert page.status_code == 200
    assert "签收并批示" not in page.text
    assert "/ui/login?next=/ui/findings/" in page.text
    r = await client.post(fired.mine, data={"instruction": "过期后批示"})
    assert r.status_code == 410
    assert 'data-error="stale"' in r.text
    assert await acknowledgement(factory, fired.escalation) == (False, None, None)
