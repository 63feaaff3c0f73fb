"""The red list (红榜) and the black list (黑榜) are decided by rank, ties included, by one rule
(`stats.boards`) that the weekly briefing (JSON, page, workbook) and the dashboard's ranking
all follow: no district is ever on both.

The rule on its own, table-driven; then the seven demo districts with scores set by overdue
findings (2 points each), read from every place the lists appear.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import datetime

import pytest
from httpx import AsyncClient
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.demo.service import DISTRICTS
from tests.helpers import TZ, Login, overdue_in_districts, ui_login

CODES = sorted(d.code for d in DISTRICTS)
NAMES = {d.code: d.name for d in DISTRICTS}


@dataclass(frozen=True)
class Case:
    overdue: dict[str, int]  # district → overdue findings, 2 points each
    red: set[str]
    black: list[str]  # worst first, then by code


CASES = {
    # A week with nothing reported: all seven share rank 1.
    "all tied": Case({}, set(CODES), []),
    # 100 × 5 share rank 1, 98 × 2 share rank 6 (the edition that put 胶州市 on both lists).
    "five tied at the top": Case(
        {"shinan": 1, "licang": 1},
        {"jiaozhou", "laixi", "pingdu", "shibei", "xihaian"},
        ["licang", "shinan"],
    ),
    # 100 × 3, 98 × 3 (rank 4, two of them inside the bottom three), 96.
    "tie across the bottom edge": Case(
        {"shinan": 2, "licang": 1, "laixi": 1, "pingdu": 1},
        {"jiaozhou", "shibei", "xihaian"},
        ["shinan", "laixi", "licang", "pingdu"],
    ),
    # 100 × 2, 98 × 2 (rank 3, across the top edge), 96, 94, 92.
    "tie across the top edge": Case(
        {"laixi": 1, "licang": 1, "pingdu": 2, "shinan": 3, "xihaian": 4},
        {"jiaozhou", "shibei", "laixi", "licang"},
        ["xihaian", "shinan", "pingdu"],
    ),
}


@pytest.fixture(params=list(CASES))
async def case(
    request: pytest.FixtureRequest,
    client: AsyncClient,
    login: Login,
    factory: async_sessionmaker[AsyncSession],
) -> Case:
    c = CASES[request.param]
    await overdue_in_districts(client, await login("inspector"), factory, c.overdue)
    return c


def this_week() -> str:
    year, number, _ = datetime.now(TZ).isocalendar()
    return f"{year}-W{number:02d}"


def section_names(page: str, section: str) -> list[str]:
    """The district names in the table of the briefing page's section."""
    match = re.search(rf'<section id="{section}".*?</section>', page, re.S)
    assert match, section
    return re.findall(r"<tr><td>\d+</td><td>([^<]+)</td>", match[0])


async def test_briefing_lists_in_json_page_and_workbook(
    client: AsyncClient, login: Login, case: Case
) -> None:
    supervisor = await login("supervisor")
    week = {"week": this_week()}
    r = await client.get("/api/v1/briefings/weekly", params=week, headers=supervisor)
    assert r.status_code == 200, r.text
    b = r.json()
    top, bottom = [d["code"] for d in b["top"]], [d["code"] for d in b["bottom"]]
    assert set(top) == case.red
    assert bottom == case.black
    assert [d["rank"] for d in b["top"]] == sorted(d["rank"] for d in b["top"])
    ranked = {d["code"]: d["rank"] for d in b["districts"]}
    assert max(ranked[c] for c in top) <= 3

    r = await client.get(
        "/api/v1/briefings/weekly", params={**week, "format": "html"}, headers=supervisor
    )
    assert r.status_code == 200, r.text
    assert section_names(r.text, "red") == [NAMES[c] for c in top]
    assert section_names(r.text, "black") == [NAMES[c] for c in case.black]

    r = await client.get(
        "/api/v1/briefings/weekly", params={**week, "format": "xlsx"}, headers=supervisor
    )
    assert r.status_code == 200, r.text
    rows = list(load_workbook(io.BytesIO(r.content))["红黑榜"].iter_rows(values_only=True))
    assert [row[2] for row in rows if row[0] == "红榜"] == [NAMES[c] for c in top]
    assert [row[2] for row in rows if row[0] == "黑榜"] == [NAMES[c] for c in case.black]


ROW = re.compile(
    r'<tr class="(red|black|)">\s*<td>(\d+)</td>\s*'
    r'<th scope="row"><a href="/ui/escalations\?district=(\w+)"'
)


async def test_dashboard_ranking_shades_the_same_lists(client: AsyncClient, case: Case) -> None:
    await ui_login(client, "supervisor")
    r = await client.get("/ui")
    assert r.status_code == 200
    rows = ROW.findall(r.text)
    assert sorted(code for _, _, code in rows) == CODES
    assert {code for shade, _, code in rows if shade == "red"} == case.red
    assert {code for shade, _, code in rows if shade == "black"} == set(case.black)
    # The page lists best first: shading follows the rank, not the position.
    assert [int(rank) for _, rank, _ in rows] == sorted(int(rank) for _, rank, _ in rows)
