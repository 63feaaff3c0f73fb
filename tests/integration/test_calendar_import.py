"""`duban calendar import FILE`: the year's holidays and make-up days entered in one go. New
deadlines count them; deadlines already set stay as they were (and the import says how many);
a file with one bad line stores nothing."""

from __future__ import annotations

import asyncio
import os
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from httpx import AsyncClient

from services.cli.main import main
from services.core.calendar.rules import WorkingCalendar
from services.core.platform.settings import Settings
from tests.helpers import Login, post

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    for key in list(os.environ):
        if key.startswith("DUBAN_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DUBAN_DATABASE_URL", str(settings.database_url))
    monkeypatch.setenv("DUBAN_REDIS_URL", str(settings.redis_url))
    monkeypatch.setenv("DUBAN_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DUBAN_LOG_FORMAT", "console")


async def duban(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


def notice(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "notice.csv"
    path.write_text(text, encoding="utf-8-sig")  # as a spreadsheet saves it
    return path


async def test_new_deadlines_count_the_imported_days_and_set_ones_stay(
    client: AsyncClient, login: Login, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inspector = await login("inspector")
    before = await post(client, inspector, description="导入前的问题")
    # The next working day in the city becomes a day off; a Sunday after it a working day.
    today = datetime.now(TZ).date()
    off = WorkingCalendar().working_day_after(today, 1)
    sunday = date.fromordinal(off.toordinal() + (6 - off.weekday()) + 7)
    path = notice(
        tmp_path,
        f"date,kind,name\n{off.isoformat()},休,临时放假\n{sunday.isoformat()},班,调休上班\n",
    )
    assert await duban("calendar", "import", str(path)) == 0
    out = capsys.readouterr().out
    assert "2 added, 0 changed, 0 already so" in out
    assert "1 open findings are due on or after" in out  # the one reported before

    # set before: unchanged; reported now: one working day later
    r = await client.get(f"/api/v1/findings/{before['id']}", headers=inspector)
    assert r.json()["due_at"] == before["due_at"]
    after = await post(client, inspector, description="导入后的问题")
    assert datetime.fromisoformat(after["due_at"]) > datetime.fromisoformat(before["due_at"])
    overrides = await client.get("/api/v1/calendar-overrides", headers=await login("admin"))
    assert [(o["date"], o["kind"], o["note"]) for o in overrides.json()["items"]] == [
        (off.isoformat(), "holiday", "临时放假"),
        (sunday.isoformat(), "workday", "调休上班"),
    ]

    # the same file again changes nothing; a corrected name is a change
    assert await duban("calendar", "import", str(path)) == 0
    assert "0 added, 0 changed, 2 already so" in capsys.readouterr().out
    path.write_text(f"date,kind,name\n{off.isoformat()},holiday,国庆节\n", encoding="utf-8")
    assert await duban("calendar", "import", str(path)) == 0
    assert "0 added, 1 changed, 0 already so" in capsys.readouterr().out


async def test_a_file_with_a_bad_line_stores_nothing(
    client: AsyncClient, login: Login, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = notice(
        tmp_path,
        "date,kind,name\n2027-02-08,holiday,春节\n2027-02-30,holiday,春节\n"
        "2027-02-20,maybe,调休\n2027-02-08,workday,\n",
    )
    assert await duban("calendar", "import", "--dry-run", str(path)) == 2
    assert await duban("calendar", "import", str(path)) == 2
    err = capsys.readouterr().err
    assert "nothing imported" in err
    assert "line 3: date '2027-02-30'" in err
    assert "line 4: kind 'maybe'" in err
    assert "line 5: 2027-02-08 is already on line 2" in err
    r = await client.get("/api/v1/calendar-overrides", headers=await login("admin"))
    assert r.json()["items"] == []
