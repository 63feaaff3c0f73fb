"""`python -m bench.channels`: the channels against the fake providers, with a real worker.

Starts its own PostgreSQL and Redis in a temporary directory, the fake DingTalk, WeCom and
Aliyun SMS and a real SMTP server (tests/fake_providers.py), gives the leaders of 市南区 and
李沧区 a robot, a group, a mailbox and a phone, makes 45 findings of 八大关街道 and 3 of 李村街道
twelve working days overdue and lets one `python -m services.worker` escalate and deliver them
at the default rate limits (digests off, so every message counts). Then it follows one
escalation from sent to acknowledged through its signed link, and measures what each channel
delivered per minute. Writes bench/CHANNELS.md (about four minutes).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from alembic import command
from alembic.config import Config
from pydantic import SecretStr

from services.api.app import create_app
from services.cli.embedded import EmbeddedPostgres, EmbeddedRedis
from services.core.demo.service import seed_demo
from services.core.notify.links import read_token
from services.core.platform.db import make_engine, make_sessionmaker
from services.core.platform.keys import link_secret
from services.core.platform.settings import Settings
from tests.fake_providers import FakeAliyunSms, FakeDingTalk, FakeSmtp, FakeWeCom

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(__file__).resolve().parent / "CHANNELS.md"
SMS = ("LTAI-bench", "bench-secret", "青岛督办")
TEMPLATES = {"SMS_ESC": {"level", "unit", "what", "days", "code"}}
STREET, OTHER = 45, 3
LINK = re.compile(r"http://[^/\s)]+(/n/[A-Za-z0-9_-]{32})")
NUMBER = re.compile(r"通知编号 (\d+)")


def password(username: str) -> str:
    return f"pw-{username}"


async def _prepare(url: str) -> None:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    await asyncio.to_thread(command.upgrade, cfg, "head")
    engine = make_engine(url, pool_size=1)
    async with make_sessionmaker(engine)() as session, session.begin():
        await seed_demo(session, password=password)
    await engine.dispose()


def settings_for(root: Path, url: str, redis: str, fakes: dict[str, Any]) -> Settings:
    return Settings(
        data_dir=root,
        database_url=url,
        redis_url=redis,
        jwt_secret=SecretStr("bench-secret-key-that-is-long-enough-for-hs256"),
        log_level="WARNING",
        notify_hours="always",
        digest_threshold=10_000,
        escalation_sweep_seconds=1,
        delivery_rescan_seconds=1,
        smtp_host="127.0.0.1",
        smtp_port=fakes["smtp"].port,
        smtp_security="starttls",
        smtp_username="duban",
        smtp_password=SecretStr("bench-mail"),
        smtp_from="duban@notices.qingdao.example",
        smtp_ca_file=fakes["smtp"].cert,
        sms_endpoint=fakes["sms"].endpoint,
        sms_access_key_id=SMS[0],
        sms_access_key_secret=SecretStr(SMS[1]),
        sms_sign_name=SMS[2],
        sms_template_escalation="SMS_ESC",
    )


def worker_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        shown = value.get_secret_value() if isinstance(value, SecretStr) else value
        env[f"DUBAN_{name.upper()}"] = str(shown)
    return env


def start_worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    """`python -m services.worker`, as production runs it, on the bench's settings."""
    return subprocess.Popen(
        [sys.executable, "-m", "services.worker"],
        env=worker_env(settings),
        cwd=ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def _person(db: asyncpg.Connection, unit: str, role: str) -> int:
    found = await db.fetchval(
        "SELECT po.person_id FROM posts po JOIN units u ON u.id = po.unit_id "
        "WHERE u.code = $1 AND po.role = $2 ORDER BY po.id LIMIT 1",
        unit,
        role,
    )
    return int(found)


async def _point(client: httpx.AsyncClient, admin: dict[str, str], **body: Any) -> None:
    r = await client.post("/api/v1/contact-points", json=body, headers=admin)
    assert r.status_code == 201, r.text


async def _findings(
    client: httpx.AsyncClient, headers: dict[str, str], db: asyncpg.Connection, unit: str, n: int
) -> str:
    place = await db.fetchrow("SELECT lat, lon FROM units WHERE code = $1", unit)
    r = await client.post(
        "/api/v1/findings",
        headers=headers,
        json={
            "id": str(uuid.uuid4()),
            "source": "inspection",
            "category": "exposed_garbage",
            "description": "路边垃圾堆放未清运",
            "location": {"lat": place["lat"], "lon": place["lon"], "address": "测试地址"},
            "unit": unit,
            "observed_at": datetime.now(UTC).isoformat(),
        },
    )
    assert r.status_code == 201, r.text
    fid = str(r.json()["id"])
    columns = [
        c["column_name"]
        for c in await db.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'findings' "
            "AND column_name <> 'id' AND is_generated = 'NEVER' ORDER BY ordinal_position"
        )
    ]
    names = ", ".join(f'"{c}"' for c in columns)
    await db.execute(
        f"INSERT INTO findings (id, {names}) SELECT gen_random_uuid(), {names} "
        "FROM findings, generate_series(1, $1) WHERE id = $2",
        n - 1,
        uuid.UUID(fid),
    )
    return fid


async def _overdue(db: asyncpg.Connection) -> None:
    due = datetime.now(UTC) - timedelta(days=40)
    await db.execute(
        "UPDATE findings SET due_at = $1::timestamptz, "
        "dispatched_at = $1::timestamptz - interval '2 days', "
        "next_escalation_at = $1::timestamptz WHERE status = 'assigned'",
        due,
    )


async def _settled(db: asyncpg.Connection) -> bool:
    left = await db.fetchval(
        "SELECT count(*) FROM notifications WHERE status IN ('pending', 'digested') "
        "AND channel <> 'inbox' AND kind = 'escalation'"
    )
    total = await db.fetchval("SELECT count(*) FROM escalations")
    return bool(total == 4 * (STREET + OTHER) and left == 0)


THROUGHPUT = """
SELECT a.channel, count(*) AS sent, min(a.started_at) AS first, max(a.started_at) AS last
FROM notification_attempts a WHERE a.outcome = 'sent' GROUP BY a.channel ORDER BY a.channel
"""


async def _throughput(db: asyncpg.Connection, limits: dict[str, int]) -> list[str]:
    lines = [
        "| channel | limit / min / destination | messages | first → last | busiest 60 s | "
        "mean / min |",
        "|---|---|---|---|---|---|",
    ]
    over, below = [], []
    for row in await db.fetch(THROUGHPUT):
        times = [
            r["started_at"]
            for r in await db.fetch(
                "SELECT started_at FROM notification_attempts WHERE channel = $1 "
                "AND outcome = 'sent' ORDER BY started_at",
                row["channel"],
            )
        ]
        busiest = max(sum(1 for u in times if t <= u < t + timedelta(seconds=60)) for t in times)
        span = (row["last"] - row["first"]).total_seconds()
        mean = row["sent"] / (span / 60) if span > 0 else float(row["sent"])
        limit = limits.get(row["channel"])
        lines.append(
            f"| {row['channel']} | {limit or '—'} | {row['sent']} | "
            f"{span:.0f} s | {busiest} | {mean:.1f} |"
        )
        if limit is not None and busiest > limit:
            over.append(f"{row['channel']} ({busiest} in 60 s, limit {limit})")
        if limit is not None and row["sent"] < limit and span > 0:
            below.append(
                f"{row['channel']} took its {row['sent']} in {span:.0f} s, "
                f"{row['sent'] / span:.1f} a second"
            )
    lines += ["", _pace(over, below)]
    return lines


def _pace(over: list[str], below: list[str]) -> str:
    """What the table shows about the limits, said from the run's own numbers."""
    kept = (
        "every destination stayed within its limit in any 60 s (the busiest column)"
        if not over
        else "a destination went over its limit in some 60 s: " + ", ".join(over)
    )
    text = (
        "Each robot, mailbox and phone is one destination; its messages go one at a time, "
        f"and in this run {kept}: the rest waited for the window without spending an attempt."
    )
    if below:
        text += (
            " Below its limit a destination is not held to any slower pace: "
            + "; ".join(below)
            + " (a job that finds the destination busy with another message tries again a "
            "second later, but the other jobs go on sending)."
        )
    return text


def _link_of(messages: list[dict[str, Any]], nid: int) -> str:
    """The signed link in the robot's card for notification `nid`. The footer's number is
    compared whole: "通知编号 7" is also the start of "通知编号 71"."""
    for m in messages:
        card = m["actionCard"]
        number = NUMBER.search(card["text"])
        if number is not None and int(number.group(1)) == nid:
            link = LINK.fullmatch(card["singleURL"])
            assert link is not None, card["singleURL"]
            return link.group(1)
    raise LookupError(f"no card for notification {nid}")


async def _walk(
    client: httpx.AsyncClient, supervisor: dict[str, str], eid: int, nid: int, link: str
) -> list[str]:
    """One escalation from sent to acknowledged, through its receipts: the recipient the
    message `nid` (whose link it is) went to."""

    async def person() -> dict[str, Any]:
        r = await client.get(f"/api/v1/escalations/{eid}/receipts", headers=supervisor)
        found: dict[str, Any] = next(
            p
            for p in r.json()["recipients"]
            if any(c["notification_id"] == nid for c in p["channels"])
        )
        return found

    steps = []
    p = await person()
    steps.append(("delivered by DingTalk", p))
    opened = await client.get(link)
    steps.append((f"GET {link[:12]}… → {opened.status_code}", await person()))
    ack = await client.post(link, data={"instruction": "限期三日内整改到位，区城管局牵头"})
    steps.append((f"POST 批示 → {ack.status_code}", await person()))
    again = await client.post(link, data={"instruction": "再次批示"})
    steps.append((f"POST again → {again.status_code} (the link is spent)", await person()))
    lines = [
        "| step | state | sent | delivered | opened | acknowledged |",
        "|---|---|---|---|---|---|",
    ]
    for what, q in steps:
        lines.append(
            f"| {what} | {q['state']} | {q['sent_at']} | {q['delivered_at']} | "
            f"{q['opened_at']} | {q['acknowledged_at']} |"
        )
    (channel,) = p["channels"]
    (attempt,) = channel["attempts"]
    lines.append("")
    lines.append(
        f"The attempt: channel `{channel['channel']}` to `{channel['target']}`, outcome "
        f"`{attempt['outcome']}`, provider code `{attempt['provider_code']}` "
        f"(`{attempt['answer']}`), at {attempt['at']}."
    )
    return lines


async def main() -> int:  # noqa: PLR0915 - one scenario, read top to bottom
    root = Path(tempfile.mkdtemp(prefix="duban-channels-"))
    pg, redis = EmbeddedPostgres(root), EmbeddedRedis(root, persistent=False)
    dingtalk, wecom = FakeDingTalk(), FakeWeCom()
    sms, smtp = FakeAliyunSms(*SMS), FakeSmtp(root, "duban", "bench-mail")
    sms.templates = dict(TEMPLATES)
    worker: subprocess.Popen[bytes] | None = None
    try:
        pg.start(fsync=False)
        redis.start()
        url = pg.create_database("duban")
        await _prepare(url)
        for fake in (dingtalk, wecom, sms, smtp):
            fake.start()
        settings = settings_for(root, url, redis.url, {"smtp": smtp, "sms": sms})
        app = create_app(settings)
        db = await asyncpg.connect(url)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://duban.bench"
            ) as client,
        ):

            async def token(user: str) -> dict[str, str]:
                r = await client.post(
                    "/api/v1/auth/token", data={"username": user, "password": password(user)}
                )
                return {"Authorization": f"Bearer {r.json()['access_token']}"}

            admin, supervisor = await token("admin"), await token("supervisor")
            robot, group = dingtalk.robot(secret="SEC-bench"), wecom.group()  # noqa: S106
            head = await _person(db, "shinan", "head")
            await _point(
                client,
                admin,
                person_id=head,
                kind="dingtalk",
                url=dingtalk.url(robot),
                secret=robot.secret,
            )
            leader = await _person(db, "shinan", "city_leader")
            await _point(client, admin, person_id=leader, kind="wecom", url=wecom.url(group))
            street = await _person(db, "shinan.badaguan", "head")
            await _point(client, admin, person_id=street, kind="email", email="jiedao@example.org")
            other = await _person(db, "licang", "head")
            await _point(client, admin, person_id=other, kind="sms", phone="13800000009")
            inspector = await token("inspector")
            first = await _findings(client, inspector, db, "shinan.badaguan", STREET)
            await _findings(client, inspector, db, "licang.xiaocun", OTHER)
            await _overdue(db)
            started = time.monotonic()
            worker = start_worker(settings, root / "worker.log")
            while not await _settled(db):
                if time.monotonic() - started > 600:
                    raise SystemExit((root / "worker.log").read_text()[-3000:])
                await asyncio.sleep(1)
            elapsed = time.monotonic() - started
            eid = await db.fetchval(
                "SELECT id FROM escalations WHERE finding_id = $1 AND level = 2", uuid.UUID(first)
            )
            n = await db.fetchval(
                "SELECT id FROM notifications WHERE escalation_id = $1 AND channel = 'dingtalk'",
                eid,
            )
            link = _link_of(robot.messages, int(n))
            # The walk is only about escalation `eid` if the link names its message.
            assert (
                read_token(link_secret(settings), link.removeprefix("/n/"), datetime.now(UTC)) == n
            )
            walk = await _walk(client, supervisor, int(eid), int(n), link)
            limits = {
                "dingtalk": settings.rate_dingtalk_per_minute,
                "wecom": settings.rate_wecom_per_minute,
                "email": settings.rate_email_per_minute,
                "sms": settings.rate_sms_per_minute,
            }
            table = await _throughput(db, limits)
            refused = [str(code) for code, _ in dingtalk.refused] + list(sms.refused)
        await db.close()
        report = [
            "# Channels against the fake providers",
            "",
            f"`python -m bench.channels`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: one worker, "
            f"{STREET} findings of 八大关街道 and {OTHER} of 李村街道 twelve working days "
            "overdue, digests off. Everything settled in "
            f"{elapsed:.0f} s; the fakes refused {len(refused)} requests"
            f"{' (' + ', '.join(refused) + ')' if refused else ''}.",
            "",
            "## One escalation, from sent to acknowledged (L2, 市南区委书记, DingTalk)",
            "",
            *walk,
            "",
            "## Delivery per channel at the default limits (one destination each)",
            "",
            *table,
            "",
        ]
        OUT.write_text("\n".join(report))
        print("\n".join(report))
        return 0
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(30)
        for fake in (dingtalk, wecom, sms, smtp):
            with contextlib.suppress(Exception):  # a fake that never started
                fake.stop()
        redis.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
