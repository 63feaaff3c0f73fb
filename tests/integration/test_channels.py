"""Reaching leaders beyond the inbox, against real servers on loopback that check what the
real services check: a DingTalk robot (signed mode), a WeCom group robot, Aliyun SMS (RPC
signature, approved templates) and an SMTP server with STARTTLS and AUTH. Escalations are
fired by the real sweep and delivered by the same core calls the worker's job makes, with an
explicit `now`; receipts are read through the API."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.notify.channels.dingtalk import sign as dingtalk_sign
from services.core.notify.channels.sms_aliyun import AliyunSms, signature
from services.core.notify.service import poll_sms_receipts, sms_config
from services.core.platform.settings import Settings
from tests.fake_providers import (
    FakeAliyunSms,
    FakeDingTalk,
    FakeSmtp,
    FakeWeCom,
    notice_id,
    texts_of,
)
from tests.helpers import (
    TZ,
    Login,
    add_contact_point,
    clone_findings,
    deliver_due,
    make_overdue,
    person_of,
    post,
    sql_rows,
    sweep,
)

# Late enough for every level of the default ladder (due + 10 working days).
DUE = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
SWEPT = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)  # Thursday 11:00 in Qingdao
LINK = re.compile(r"http://[^/\s)]+/n/([A-Za-z0-9_-]{32})")
SMS_KEY, SMS_SECRET, SMS_SIGN = "LTAI-test-key", "sms-secret-0123", "青岛督办"
SMS_TEMPLATES = {
    "SMS_ESC": {"level", "unit", "what", "days", "code"},
    "SMS_REM": {"unit", "what", "due", "code"},
    "SMS_DIG": {"scope", "level", "count", "code"},
    "SMS_UND": {"count", "code"},
}


@pytest.fixture
def sms() -> Iterator[FakeAliyunSms]:
    fake = FakeAliyunSms(SMS_KEY, SMS_SECRET, SMS_SIGN)
    fake.templates = dict(SMS_TEMPLATES)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[FakeSmtp]:
    fake = FakeSmtp(tmp_path, "duban", "mail-pass-0123")
    fake.start()
    yield fake
    fake.stop()


def with_sms(settings: Settings, sms: FakeAliyunSms) -> Settings:
    return settings.model_copy(
        update={
            "sms_endpoint": sms.endpoint,
            "sms_access_key_id": SMS_KEY,
            "sms_access_key_secret": SecretStr(SMS_SECRET),
            "sms_sign_name": SMS_SIGN,
            "sms_template_escalation": "SMS_ESC",
            "sms_template_reminder": "SMS_REM",
            "sms_template_digest": "SMS_DIG",
            "sms_template_undelivered": "SMS_UND",
        }
    )


async def fire(
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> str:
    """A finding of 八大关街道 (市南区) twelve working days late, swept: L1–L4 fired."""
    f = await post(client, await login("inspector"))
    await make_overdue(factory, f["id"], DUE)
    assert (await sweep(factory, settings, SWEPT)).escalations == 4
    fid: str = f["id"]
    return fid


async def escalation_id(factory: async_sessionmaker[AsyncSession], fid: str, level: int) -> int:
    (row,) = await sql_rows(
        factory,
        "SELECT id FROM escalations WHERE finding_id = :f AND level = :l",
        f=uuid.UUID(fid),
        l=level,
    )
    return int(row.id)


async def receipts(client: httpx.AsyncClient, headers: dict[str, str], eid: int) -> dict[str, Any]:
    r = await client.get(f"/api/v1/escalations/{eid}/receipts", headers=headers)
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


async def trail(client: httpx.AsyncClient, headers: dict[str, str], fid: str) -> list[Any]:
    r = await client.get(f"/api/v1/findings/{fid}/events", headers=headers, params={"limit": 500})
    assert r.status_code == 200, r.text
    return [(e["action"], e["payload"]) for e in r.json()["items"]]


# --- known answers --------------------------------------------------------------------------


def test_the_sms_signature_is_aliyuns_own_documented_example() -> None:
    # Aliyun's documentation of the RPC signature (SendSms, signed with "testSecret").
    params = {
        "AccessKeyId": "testId",
        "Action": "SendSms",
        "Format": "XML",
        "OutId": "123",
        "PhoneNumbers": "15300000001",
        "RegionId": "cn-hangzhou",
        "SignName": "阿里云短信测试专用",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
        "SignatureVersion": "1.0",
        "TemplateCode": "SMS_71390007",
        "TemplateParam": '{"customer":"test"}',
        "Timestamp": "2017-07-12T02:42:19Z",
        "Version": "2017-05-25",
    }
    assert signature("testSecret", "GET", params) == "zJDF+Lrzhj/ThnlvIToysFRq6t4="


def test_the_dingtalk_sign_is_url_encoded_base64_of_hmac_sha256() -> None:
    # "+" and "/" of base64 must reach DingTalk encoded, or the check fails.
    value = dingtalk_sign("SEC-test", 1_764_000_000_000)
    assert "+" not in value
    assert "/" not in value
    assert value.endswith("%3D")


# --- DingTalk, and the receipts of one escalation -------------------------------------------


async def test_a_signed_dingtalk_robot_gets_the_escalation_card_and_the_receipts_show_it(
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    http: httpx.AsyncClient,
    dingtalk: FakeDingTalk,
) -> None:
    admin, supervisor = await login("admin"), await login("supervisor")
    robot = dingtalk.robot(secret="SEC0123456789abcdef")
    head = await person_of(factory, "shinan", "head")
    await add_contact_point(
        client, admin, person_id=head, kind="dingtalk", url=dingtalk.url(robot), secret=robot.secret
    )
    fid = await fire(client, login, factory, settings)
    await deliver_due(factory, settings, http, SWEPT)

    (card,) = robot.messages
    assert dingtalk.refused == []  # the signature and the timestamp passed
    assert card["msgtype"] == "actionCard"
    body = card["actionCard"]
    assert body["title"].startswith("【督办·第2级】八大关街道")
    assert "逾期" in body["text"]
    assert "八大关街道" in body["text"]
    assert "2026-11-02 17:30" in body["text"]  # the deadline in Qingdao's time
    assert LINK.fullmatch(body["singleURL"])

    l2 = await escalation_id(factory, fid, 2)
    found = await receipts(client, supervisor, l2)
    assert found["delivery"] == "delivered"
    (person,) = [r for r in found["recipients"] if r["kind"] == "person"]
    assert person["state"] == "delivered"
    assert person["person_id"] == head
    (channel,) = person["channels"]
    assert channel["channel"] == "dingtalk"
    assert channel["target"].startswith("http://127.0.0.1:")
    assert robot.token not in str(found)
    assert channel["sent_at"] == channel["delivered_at"] == person["sent_at"]
    assert person["opened_at"] is None
    assert person["acknowledged_at"] is None
    (attempt,) = channel["attempts"]
    assert (attempt["outcome"], attempt["provider_code"]) == ("sent", "0")

    # L1, L3 and L4 reach nobody beyond the inbox: on the trail, and the office is told
    actions = await trail(client, supervisor, fid)
    assert [p["level"] for a, p in actions if a == "escalate"] == [1, 2, 3, 4]
    assert [(p["level"], p["channel"]) for a, p in actions if a == "notice_delivered"] == [
        (2, "dingtalk")
    ]
    assert sorted(p["level"] for a, p in actions if a == "not_delivered") == [1, 3, 4]
    (office,) = await sql_rows(
        factory, "SELECT payload FROM notifications WHERE kind = 'undelivered'"
    )
    assert office.payload["count"] == 3
    assert sorted(i["level"] for i in office.payload["items"]) == [1, 3, 4]


async def test_the_office_is_told_of_every_unreached_escalation_of_a_batch_in_one_notice(
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    """Twelve findings and no channel anywhere: each of their 48 escalations is on its trail
    as not delivered, and the office's one notice of the batch counts and names them all,
    written out in full for the first ten (its link lists the rest)."""
    f = await post(client, await login("inspector"))
    await make_overdue(factory, f["id"], DUE)
    await clone_findings(factory, f["id"], 11)
    assert (await sweep(factory, settings, SWEPT)).escalations == 48

    fired = await sql_rows(factory, "SELECT id, finding_id, level FROM escalations ORDER BY id")
    (unreached,) = await sql_rows(
        factory, "SELECT count(*) AS n FROM events WHERE action = 'not_delivered'"
    )
    assert unreached.n == 48
    (office,) = await sql_rows(
        factory, "SELECT subject, payload FROM notifications WHERE kind = 'undelivered'"
    )
    assert office.subject == "【督办未送达】48项督办未能送达领导本人"
    assert office.payload["count"] == 48
    assert office.payload["escalation_ids"] == [e.id for e in fired]
    shown = office.payload["items"]
    assert [i["escalation_id"] for i in shown] == [e.id for e in fired][:10]
    for item, escalation in zip(shown, fired, strict=False):
        assert item["finding_id"] == str(escalation.finding_id)
        assert item["level"] == escalation.level
        assert item["why"] == "未配置钉钉、企业微信、邮件、短信或 webhook"
        assert item["category_name"]
        assert item["target_unit"]


async def test_a_rate_limit_answer_waits_out_the_minute_and_a_wrong_signature_falls_back_to_sms(
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    http: httpx.AsyncClient,
    dingtalk: FakeDingTalk,
    sms: FakeAliyunSms,
) -> None:
    settings = with_sms(settings, sms)
    admin, supervisor = await login("admin"), await login("supervisor")
    # The district head: a robot with a secret other than the one configured, then SMS.
    robot = dingtalk.robot(secret="SEC-the-real-one")
    head = await person_of(factory, "shinan", "head")
    await add_contact_point(
        client, admin, person_id=head, kind="dingtalk", url=dingtalk.url(robot), secret="SEC-old"
    )
    await add_contact_point(
        client, admin, person_id=head, kind="sms", phone="13800000001", position=1
    )
    # The city leader: a robot that is busy at first.
    busy = dingtalk.robot()
    leader = await person_of(factory, "shinan", "city_leader")
    await add_contact_point(
        client, admin, person_id=leader, kind="dingtalk", url=dingtalk.url(busy)
    )
    dingtalk.script.extend([130101])  # the first message that passes the checks (the leader's)
    fid = await fire(client, login, factory, settings)
    outcomes = {o.notification_id: o for o in await deliver_due(factory, settings, http, SWEPT)}

    l2, l3 = await escalation_id(factory, fid, 2), await escalation_id(factory, fid, 3)
    rows = {
        r.escalation_id: r
        for r in await sql_rows(
            factory,
            "SELECT id, escalation_id, status, next_attempt_at, last_error FROM notifications "
            "WHERE channel = 'dingtalk'",
        )
    }
    # L3's robot said "too fast": retried after the minute, not failed
    waiting = rows[l3]
    assert waiting.status == "pending"
    assert waiting.next_attempt_at >= SWEPT + timedelta(seconds=60)
    assert "130101" in waiting.last_error
    assert outcomes[waiting.id].status == "pending"
    # L2's robot refused the signature: permanent, and the SMS went instead
    assert rows[l2].status == "failed"
    assert "310000" in rows[l2].last_error
    (text,) = sms.texts
    assert (text.phone, text.template) == ("13800000001", "SMS_ESC")
    assert text.params["level"] == "2"
    assert text.params["unit"] == "八大关街道"
    assert len(text.params["code"]) == 32
    assert sms.refused == []  # signature, nonce, timestamp, template parameters all passed

    await deliver_due(factory, settings, http, SWEPT + timedelta(seconds=61))
    assert [notice_id(t) for t in texts_of(busy.messages)] == [waiting.id]

    # the vendor then tells it arrived
    async with factory() as session, session.begin():
        answered, _ = await poll_sms_receipts(
            session,
            AliyunSms(http, sms_config(settings)),
            datetime.now(UTC),
            timedelta(days=400),
            TZ,
        )
    assert answered == 1
    found = await receipts(client, supervisor, l2)
    (person,) = [r for r in found["recipients"] if r["kind"] == "person"]
    assert [c["channel"] for c in person["channels"]] == ["dingtalk", "sms"]
    assert [c["status"] for c in person["channels"]] == ["failed", "sent"]
    assert person["state"] == "delivered"
    assert person["delivered_at"] is not None
    actions = await trail(client, supervisor, fid)
    assert [
        (a, p["channel"]) for a, p in actions if a.startswith("notice_") and p["level"] == 2
    ] == [
        ("notice_failed", "dingtalk"),
        ("notice_delivered", "sms"),
    ]


# --- WeCom, a unit's work group ------------------------------------------------------------


async def test_a_district_work_group_on_wecom_gets_markdown_and_a_removed_robot_is_not_delivered(
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    http: httpx.AsyncClient,
    wecom: FakeWeCom,
) -> None:
    admin, supervisor = await login("admin"), await login("supervisor")
    group = wecom.group()
    await add_contact_point(client, admin, unit="shinan", kind="wecom", url=wecom.url(group))
    # 八大关街道's group robot was removed from its group: its key is unknown
    gone = f"http://127.0.0.1:{wecom.port}/cgi-bin/webhook/send?key=removed"
    await add_contact_point(client, admin, unit="shinan.badaguan", kind="wecom", url=gone)
    wecom.script.extend([45009])
    fid = await fire(client, login, factory, settings)
    await deliver_due(factory, settings, http, SWEPT)
    await deliver_due(factory, settings, http, SWEPT + timedelta(seconds=61))

    # L2 (district head) and L3 (city leader in charge) both address the district's group
    contents = sorted(m["markdown"]["content"] for m in group.messages)
    assert [c.splitlines()[0] for c in contents] == [
        "### 【督办·第2级】八大关街道：暴露垃圾逾期未整改",
        "### 【督办·第3级】八大关街道：暴露垃圾逾期未整改",
    ]
    assert all(LINK.search(c) for c in contents)

    l1 = await escalation_id(factory, fid, 1)
    found = await receipts(client, supervisor, l1)
    assert found["delivery"] == "not_delivered"
    (street,) = [r for r in found["recipients"] if r["kind"] == "group"]
    assert street["state"] == "not_delivered"
    assert "93000" in street["channels"][0]["last_error"]
    # the office hears of it when the last channel gave up, with the reason
    told = await sql_rows(
        factory,
        "SELECT payload FROM notifications WHERE kind = 'undelivered' AND channel = 'inbox' "
        "AND dedupe_key LIKE :k",
        k=f"undelivered:e{l1}:%",
    )
    assert [t.payload["escalation_ids"] for t in told] == [[l1]]
    assert told[0].payload["items"][0]["why"] == "所有渠道发送失败"
    actions = await trail(client, supervisor, fid)
    assert [p["why"] for a, p in actions if a == "not_delivered" and p["level"] == 1] == [
        "every channel failed"
    ]
    client.cookies.set("duban_session", supervisor["Authorization"].split()[1])
    page = await client.get(f"/ui/findings/{fid}")
    assert 'data-delivery="not_delivered"' in page.text
    listed = await client.get("/ui/escalations")
    assert listed.text.count('data-delivery="not_delivered"') == 2  # L1 and L4
    assert listed.text.count('data-delivery="delivered"') == 2  # L2 and L3, by the group


# --- email ------------------------------------------------------------------------------------


async def test_email_goes_over_starttls_with_auth_in_text_and_html_with_list_id_and_message_id(
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    http: httpx.AsyncClient,
    smtp: FakeSmtp,
) -> None:
    settings = settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "smtp_security": "starttls",
            "smtp_username": "duban",
            "smtp_password": SecretStr("mail-pass-0123"),
            "smtp_from": "duban@notices.qingdao.example",
            "smtp_list_id": "escalations.notices.qingdao.example",
            "smtp_ca_file": smtp.cert,
        }
    )
    admin = await login("admin")
    head = await person_of(factory, "shinan", "head")
    await add_contact_point(
        client, admin, person_id=head, kind="email", email="shuji@shinan.example"
    )
    leader = await person_of(factory, "shinan", "city_leader")
    await add_contact_point(
        client, admin, person_id=leader, kind="email", email="nobody@shinan.example"
    )
    smtp.keeper.refuse.add("nobody@shinan.example")
    fid = await fire(client, login, factory, settings)
    await deliver_due(factory, settings, http, SWEPT)

    assert set(smtp.logins) == {"duban"}  # one session per message, each authenticated
    (mail,) = smtp.mails
    m = mail.message
    assert mail.recipients == ["shuji@shinan.example"]
    assert str(m["Subject"]).startswith("【督办·第2级】八大关街道")
    assert "escalations.notices.qingdao.example" in str(m["List-Id"])
    (row,) = await sql_rows(
        factory,
        "SELECT id, status, provider_ref, delivered_at FROM notifications "
        "WHERE channel = 'email' AND status = 'sent'",
    )
    assert str(m["Message-ID"]) == f"<notice.{row.id}@notices.qingdao.example>" == row.provider_ref
    assert row.delivered_at is None  # a 250 is not delivery to the mailbox
    plain = m.get_body(preferencelist=("plain",))
    html = m.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    assert "已逾期" in plain.get_content()
    assert LINK.search(plain.get_content())
    assert "<table>" in html.get_content()
    assert LINK.search(html.get_content())
    (refused,) = await sql_rows(
        factory,
        "SELECT status, last_error FROM notifications WHERE channel = 'email' AND status <> 'sent'",
    )
    assert refused.status == "failed"
    assert refused.last_error.startswith("SMTP 550")
    assert fid


# --- digests ----------------------------------------------------------------------------------


async def test_300_escalations_of_one_district_reach_its_group_as_one_digest_per_level(
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    http: httpx.AsyncClient,
    dingtalk: FakeDingTalk,
) -> None:
    admin, supervisor = await login("admin"), await login("supervisor")
    robot = dingtalk.robot(secret="SEC-district-group")
    await add_contact_point(
        client, admin, unit="shinan", kind="dingtalk", url=dingtalk.url(robot), secret=robot.secret
    )
    # Now, not a fixed day: the digest's link must still be valid when the test opens it.
    now = datetime.now(UTC)
    f = await post(client, await login("inspector"))
    await make_overdue(factory, f["id"], now - timedelta(days=40))
    await clone_findings(factory, f["id"], 299)
    assert (await sweep(factory, settings, now)).escalations == 1200
    await deliver_due(factory, settings, http, now)

    # L2 and L3 address the district: one message each, not 600
    assert len(robot.messages) == 2
    assert dingtalk.refused == []
    titles = sorted(m["markdown"]["title"] for m in robot.messages)
    assert titles == ["【督办汇总·第2级】市南区共300项", "【督办汇总·第3级】市南区共300项"]
    for m in robot.messages:
        assert "共 300 项" in m["markdown"]["text"]
        assert "…… 另有 290 项" in m["markdown"]["text"]
        assert "/ui/escalations?district=shinan&level=" in m["markdown"]["text"]
        assert LINK.search(m["markdown"]["text"])
    carried = await sql_rows(
        factory,
        "SELECT n.level, count(*) AS rows, count(DISTINCT n.digest_id) AS digests, "
        "min(n.status) AS status FROM notifications n WHERE n.contact_point_id IS NOT NULL "
        "AND n.kind = 'escalation' GROUP BY n.level ORDER BY n.level",
    )
    assert [(c.level, c.rows, c.digests, c.status) for c in carried] == [
        (2, 300, 1, "sent"),
        (3, 300, 1, "sent"),
    ]
    # the digest's link lists the escalations and points at the filtered list
    token = LINK.search(robot.messages[0]["markdown"]["text"])
    assert token is not None
    page = await client.get(f"/n/{token.group(1)}")
    assert page.status_code == 200
    assert "共 300 项，以下列出 200 项" in page.text
    assert 'href="/ui/escalations?district=shinan&amp;level=' in page.text
    # each escalation's receipt names the digest that carried it
    eid = await escalation_id(factory, f["id"], 2)
    (group,) = [
        r for r in (await receipts(client, supervisor, eid))["recipients"] if r["kind"] == "group"
    ]
    assert group["state"] == "delivered"
    assert group["channels"][0]["digest_id"] is not None
    assert group["opened_at"] is not None  # the digest's link was opened


async def test_a_robot_takes_at_most_its_rate_a_minute_and_the_rest_wait_in_order(
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    http: httpx.AsyncClient,
    dingtalk: FakeDingTalk,
) -> None:
    settings = settings.model_copy(
        update={"rate_dingtalk_per_minute": 3, "digest_threshold": 10_000}
    )
    admin = await login("admin")
    robot = dingtalk.robot()
    await add_contact_point(client, admin, unit="shinan", kind="dingtalk", url=dingtalk.url(robot))
    f = await post(client, await login("inspector"))
    await make_overdue(factory, f["id"], DUE)
    await clone_findings(factory, f["id"], 2)  # 3 findings: 6 messages to the district group
    await sweep(factory, settings, SWEPT)
    sent_by_minute = []
    # a second's margin past the minute: the provider counts by its own clock
    for seconds in (0, 60, 61, 122):
        await deliver_due(factory, settings, http, SWEPT + timedelta(seconds=seconds))
        sent_by_minute.append(len(robot.messages))
    assert sent_by_minute == [3, 3, 6, 6]
    assert dingtalk.refused == []  # duban held back; the robot never had to refuse
    ids = [notice_id(t) or 0 for t in texts_of(robot.messages)]
    assert 0 not in ids
    assert ids == sorted(ids)  # in the order they were written


async def test_contact_points_never_show_their_secrets_and_one_switched_off_passes_to_the_next(
    client: httpx.AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    http: httpx.AsyncClient,
    dingtalk: FakeDingTalk,
    sms: FakeAliyunSms,
) -> None:
    settings = with_sms(settings, sms)
    admin = await login("admin")
    robot = dingtalk.robot(secret="SEC-never-shown")
    head = await person_of(factory, "shinan", "head")
    point = await add_contact_point(
        client, admin, person_id=head, kind="dingtalk", url=dingtalk.url(robot), secret=robot.secret
    )
    await add_contact_point(
        client, admin, person_id=head, kind="sms", phone="13800000003", position=1
    )
    listed = await client.get("/api/v1/contact-points", params={"person_id": head}, headers=admin)
    assert listed.status_code == 200
    assert [(p["kind"], p["signed"]) for p in listed.json()["items"]] == [
        ("dingtalk", True),
        ("sms", False),
    ]
    assert robot.token not in listed.text
    assert "SEC-never-shown" not in listed.text
    (sealed,) = await sql_rows(factory, "SELECT sealed FROM contact_points WHERE id = :p", p=point)
    assert robot.token.encode() not in sealed.sealed  # sealed at rest too
    # not the unit's business: one owner, and the fields each kind needs
    bad = await client.post(
        "/api/v1/contact-points", json={"unit": "shinan", "kind": "email"}, headers=admin
    )
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["email"]
    assert (
        await client.get("/api/v1/contact-points", headers=await login("supervisor"))
    ).status_code == 403

    await fire(client, login, factory, settings)
    # switched off after the message was written, before it went: the next channel takes over
    switched = await client.patch(
        f"/api/v1/contact-points/{point}", json={"active": False}, headers=admin
    )
    assert switched.status_code == 200
    assert switched.json()["active"] is False
    await deliver_due(factory, settings, http, SWEPT)
    assert robot.messages == []
    assert [t.phone for t in sms.texts] == ["13800000003"]
    # its messages are on record now: it can be switched off, not deleted
    gone = await client.delete(f"/api/v1/contact-points/{point}", headers=admin)
    assert gone.status_code == 409
