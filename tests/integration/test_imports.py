"""Importing an office's files through the API (POST /api/v1/imports/{kind}): every kind, from
CSV and from XLSX; re-import updates and the same file twice changes nothing; one bad row and
nothing is written, every refusal named with its line and column in Chinese and English; a
dry run writes nothing; templates import as they come; the body limit is its own."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.identity.store import Operator
from services.core.imports import service as import_service
from services.core.imports.rules import KINDS
from tests.helpers import IMPORTS, Login, csv_file, features, import_file, post, square, upload

TABLE_FORMATS = ("csv", "xlsx")
UNITS_HEADER = [
    "单位编码 code",
    "名称 name",
    "类型 kind",
    "上级单位编码 parent",
    "纬度 lat",
    "经度 lon",
]
PEOPLE_HEADER = ["人员编码 code", "姓名 name", "职务 title"]
POSTS_HEADER = ["单位编码 unit", "岗位 role", "人员编码 person", "任职开始 valid_from",
                "任职结束 valid_to"]  # fmt: skip
CATEGORIES_HEADER = ["类别编码 code", "名称 name", "分组 group", "部件或事件 kind",
                     "时限 time_limit", "判重半径（米） duplicate_radius_m", "督办阶梯 policy",
                     "启用 active"]  # fmt: skip
RULES_HEADER = ["类别编码 category", "类别分组 group", "区域单位编码 area_unit",
                "责任单位编码 responsible_unit"]  # fmt: skip
POLICIES_HEADER = ["阶梯编码 code", "名称 name", "提醒比例 reminder_at", "级别 level",
                   "督办对象 target", "超期后 after", "渠道 channels"]  # fmt: skip

# kind: (the rows that create, the same with one cell changed, a query showing that cell)
TABLES: dict[str, tuple[list[list[str]], list[list[str]], str]] = {
    # The community comes before its street: the import orders parents first.
    "units": (
        [UNITS_HEADER,
         ["shinan.xinjie.c1", "新街社区", "community", "shinan.xinjie", "36.07", "120.40"],
         ["shinan.xinjie", "新街街道", "street", "shinan", "36.071", "120.401"]],
        [UNITS_HEADER,
         ["shinan.xinjie.c1", "新街社区", "community", "shinan.xinjie", "36.07", "120.40"],
         ["shinan.xinjie", "新街街道（更名）", "street", "shinan", "36.071", "120.401"]],
        "SELECT name FROM units WHERE code = 'shinan.xinjie'",
    ),
    "people": (
        [PEOPLE_HEADER, ["p.t1", "测试甲", "科员"], ["p.t2", "测试乙", ""]],
        [PEOPLE_HEADER, ["p.t1", "测试甲", "副科长"], ["p.t2", "测试乙", ""]],
        "SELECT title FROM people WHERE code = 'p.t1'",
    ),
    "posts": (
        [POSTS_HEADER, ["shinan.xiangganglu", "deputy", "demo.shinan.head", "2026-03-01", ""]],
        [POSTS_HEADER,
         ["shinan.xiangganglu", "deputy", "demo.shinan.head", "2026-03-01", "2026-12-31"]],
        "SELECT to_char(valid_to AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD') FROM posts p"
        " JOIN units u ON u.id = p.unit_id"
        " WHERE u.code = 'shinan.xiangganglu' AND p.role = 'deputy'",
    ),
    "categories": (
        [CATEGORIES_HEADER,
         ["night_noise", "夜间施工噪音", "city_appearance", "事件", "PT4H", "40", "default", "是"]],
        [CATEGORIES_HEADER,
         ["night_noise", "夜间施工噪音", "city_appearance", "事件", "3", "40", "default", "是"]],
        "SELECT clock || ' ' || time_limit::text FROM categories WHERE code = 'night_noise'",
    ),
    "routing-rules": (
        [RULES_HEADER, ["graffiti", "", "shinan", "shinan.cgj"]],
        [RULES_HEADER, ["graffiti", "", "shinan", ""]],
        "SELECT coalesce(r.code, 'territorial') FROM routing_rules x"
        " JOIN categories c ON c.id = x.category_id"
        " LEFT JOIN units r ON r.id = x.responsible_unit_id WHERE c.code = 'graffiti'",
    ),
    "policies": (
        [POLICIES_HEADER,
         ["fast", "快速阶梯", "80%", "1", "unit_head", "0", "inbox"],
         ["fast", "快速阶梯", "80%", "2", "区市一把手", "PT4H", "inbox,webhook"]],
        [POLICIES_HEADER,
         ["fast", "快速阶梯", "80%", "1", "unit_head", "0", "inbox"],
         ["fast", "快速阶梯", "80%", "2", "区市一把手", "PT8H", "inbox,webhook"]],
        "SELECT levels -> 1 -> 'after' ->> 'duration' FROM escalation_policies"
        " WHERE code = 'fast'",
    ),
}  # fmt: skip

# The changed cell as the query shows it, before and after.
SHOWN = {
    "units": ("新街街道", "新街街道（更名）"),
    "people": ("科员", "副科长"),
    "posts": (None, "2026-12-31"),
    "categories": ('continuous {"duration": "PT4H"}', 'working_days {"working_days": 3}'),
    "routing-rules": ("shinan.cgj", "territorial"),
    "policies": ("PT4H", "PT8H"),
}


async def changes(conn: asyncpg.Connection) -> int:
    """How many administrative changes are on record."""
    count: int = await conn.fetchval("SELECT count(*) FROM admin_events")
    return count


@pytest.mark.parametrize("fmt", TABLE_FORMATS)
@pytest.mark.parametrize("kind", list(TABLES))
async def test_create_then_update_and_the_same_file_twice_changes_nothing(
    client: AsyncClient, login: Login, server_side: asyncpg.Connection, kind: str, fmt: str
) -> None:
    admin = await login("admin")
    rows, changed, query = TABLES[kind]
    created_count = {"policies": 1}.get(kind, len(rows) - 1)

    first = await upload(client, admin, kind, import_file(rows, fmt), name=f"{kind}.{fmt}")
    assert first.status_code == 200, first.text
    assert (len(first.json()["created"]), first.json()["updated"]) == (created_count, [])
    assert await server_side.fetchval(query) == SHOWN[kind][0]

    again = await upload(client, admin, kind, import_file(rows, fmt))
    assert again.status_code == 200, again.text
    assert (again.json()["created"], again.json()["updated"]) == ([], [])
    assert again.json()["unchanged"] == created_count

    update = await upload(client, admin, kind, import_file(changed, fmt))
    assert update.status_code == 200, update.text
    assert len(update.json()["updated"]) == 1
    assert update.json()["created"] == []
    assert await server_side.fetchval(query) == SHOWN[kind][1]


async def test_units_keep_their_tree_and_routing_sees_the_import_at_once(
    client: AsyncClient, login: Login, server_side: asyncpg.Connection
) -> None:
    admin, inspector = await login("admin"), await login("inspector")
    r = await upload(client, admin, "units", csv_file(TABLES["units"][0]))
    assert r.status_code == 200, r.text
    street = await server_side.fetchval("SELECT path FROM units WHERE code = 'shinan.xinjie'")
    community = await server_side.fetchval("SELECT path FROM units WHERE code = 'shinan.xinjie.c1'")
    assert community.startswith(street)
    # The reference snapshot was reloaded: the new community is a place a report may name,
    # and the district's territorial rule routes the finding to it.
    f = await post(client, inspector, unit="shinan.xinjie.c1")
    assert f["responsible_unit"]["code"] == "shinan.xinjie.c1"


async def test_boundaries_create_update_and_twice_change_nothing(
    client: AsyncClient, login: Login, server_side: asyncpg.Connection
) -> None:
    admin = await login("admin")
    small = features(("shinan.cgj", square(120.41, 36.066, 0.01)))
    r = await upload(client, admin, "boundaries", small, name="cgj.geojson")
    assert (r.status_code, r.json()["created"]) == (200, ["shinan.cgj"]), r.text
    again = await upload(client, admin, "boundaries", small)
    assert (again.json()["created"], again.json()["updated"], again.json()["unchanged"]) == (
        [], [], 1
    )  # fmt: skip
    bigger = features(("shinan.cgj", square(120.41, 36.066, 0.02)))
    changed = await upload(client, admin, "boundaries", bigger)
    assert changed.json()["updated"] == ["shinan.cgj"]
    stored = await server_side.fetchval(
        "SELECT b.geometry::text FROM unit_boundaries b JOIN units u ON u.id = b.unit_id"
        " WHERE u.code = 'shinan.cgj'"
    )
    assert json.loads(stored) == square(120.41, 36.066, 0.02)


BOW_TIE = {"type": "Polygon", "coordinates": [[[120, 36], [121, 37], [121, 36], [120, 37],
                                                [120, 36]]]}  # fmt: skip

# kind: (a file whose first row is sound and whose second is not, the column at fault)
BAD: dict[str, tuple[list[list[str]], str]] = {
    "units": ([UNITS_HEADER, ["shinan.ok", "好街道", "street", "shinan", "", ""],
               ["shinan.bad", "坏街道", "planet", "shinan", "", ""]], "kind"),
    "people": ([PEOPLE_HEADER, ["p.ok", "好人", ""], ["p.bad", "", ""]], "name"),
    "posts": ([POSTS_HEADER, ["shinan", "deputy", "demo.shinan.head", "2026-03-01", ""],
               ["atlantis", "deputy", "demo.shinan.head", "2026-03-01", ""]], "unit"),
    "categories": ([CATEGORIES_HEADER,
                    ["ok_cat", "好类别", "city_appearance", "event", "2", "30", "default", "是"],
                    ["bad_cat", "坏类别", "city_appearance", "event", "soon", "30", "default",
                     "是"]], "time_limit"),
    "routing-rules": ([RULES_HEADER, ["graffiti", "", "shinan", "shinan.cgj"],
                       ["", "public_ads", "atlantis", ""]], "area_unit"),
    "policies": ([POLICIES_HEADER, ["okp", "好阶梯", "0.8", "1", "unit_head", "0", "inbox"],
                  ["badp", "坏阶梯", "0.8", "1", "mayor", "0", "inbox"]], "target"),
}  # fmt: skip

# What each bad file would have created from its sound row, had it been accepted.
SOUND_ROW = {
    "units": "SELECT count(*) FROM units WHERE code = 'shinan.ok'",
    "people": "SELECT count(*) FROM people WHERE code = 'p.ok'",
    "posts": "SELECT count(*) FROM posts WHERE role = 'deputy'",
    "categories": "SELECT count(*) FROM categories WHERE code = 'ok_cat'",
    "routing-rules": "SELECT count(*) FROM routing_rules WHERE category_id IS NOT NULL",
    "policies": "SELECT count(*) FROM escalation_policies WHERE code = 'okp'",
}


def names_line_and_column(problem: dict[str, Any], line: int, column: str, where: str) -> None:
    assert problem["status"] == 422
    fields = [e["field"] for e in problem["errors"]]
    assert f"{where} {line}: {column}" in fields, fields
    message = next(e["message"] for e in problem["errors"] if e["field"].endswith(column))
    chinese_place = f"第 {line} 行" if where == "line" else f"第 {line} 个要素"
    assert chinese_place in message, message  # Chinese
    assert f"{where} {line}, {column}:" in message, message  # and English


@pytest.mark.parametrize("fmt", TABLE_FORMATS)
@pytest.mark.parametrize("kind", list(BAD))
async def test_one_bad_row_and_nothing_is_imported(
    client: AsyncClient, login: Login, server_side: asyncpg.Connection, kind: str, fmt: str
) -> None:
    rows, column = BAD[kind]
    before = (await server_side.fetchval(SOUND_ROW[kind]), await changes(server_side))
    r = await upload(client, await login("admin"), kind, import_file(rows, fmt))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    names_line_and_column(r.json(), 3, column, "line")
    assert (await server_side.fetchval(SOUND_ROW[kind]), await changes(server_side)) == before


async def test_a_bad_feature_and_no_boundary_is_imported(
    client: AsyncClient, login: Login, server_side: asyncpg.Connection
) -> None:
    before = await server_side.fetchval("SELECT count(*) FROM unit_boundaries")
    data = features(("shinan.cgj", square(120.41, 36.066, 0.01)), ("shinan", BOW_TIE))
    r = await upload(client, await login("admin"), "boundaries", data)
    assert r.status_code == 422, r.text
    names_line_and_column(r.json(), 2, "geometry", "feature")
    assert "self-intersecting" in r.json()["errors"][0]["message"]
    assert await server_side.fetchval("SELECT count(*) FROM unit_boundaries") == before


@pytest.mark.parametrize(
    ("rows", "column", "says"),
    [
        # parentless, but not the city
        ([UNITS_HEADER, ["orphan", "孤儿单位", "street", "", "", ""]], "parent", "only the city"),
        # a second city in this database
        ([UNITS_HEADER, ["shanghai", "上海市", "city", "", "", ""]], "parent", "qingdao"),
        # a district moved under its own street: the chain of parents loops
        ([UNITS_HEADER, ["shinan", "市南区", "district", "shinan.badaguan", "", ""]],
         "parent", "loops"),
        ([UNITS_HEADER, ["shinan.x", "某街道", "street", "atlantis", "", ""]], "parent",
         "no unit with code 'atlantis'"),
        ([UNITS_HEADER, ["shinan.y", "某街道", "street", "shinan", "", ""],
          ["shinan.y", "又一遍", "street", "shinan", "", ""]], "code", "the same as line 2"),
        # a new head of 市南区 while the demo's is still in office
        ([POSTS_HEADER, ["shinan", "head", "demo.shibei.head", "2026-06-01", ""]],
         "valid_from", "end the predecessor"),
        ([POSTS_HEADER, ["shinan", "handler", "demo.shibei.head", "2026-06-01", "2026-05-01"]],
         "valid_to", "later than valid_from"),
    ],
)  # fmt: skip
async def test_what_the_organisation_refuses(
    client: AsyncClient, login: Login, rows: list[list[str]], column: str, says: str
) -> None:
    kind = "posts" if rows[0] == POSTS_HEADER else "units"
    r = await upload(client, await login("admin"), kind, csv_file(rows))
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert any(e["field"].endswith(column) and says in e["message"] for e in errors), errors


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (csv_file([["编码 code", "名称 name"], ["x", "y"]]), "kind: the column is missing"),
        (csv_file([[*UNITS_HEADER, "颜色 colour"], ["x", "y", "street", "shinan", "", "", ""]]),
         "unknown column"),
        (csv_file([UNITS_HEADER]), "holds no rows"),
        (b"PK\x03\x04 not really a workbook", "not a readable XLSX workbook"),
        (b"\xff\xfe\x00\xd8 binary", "encoding"),
    ],
)  # fmt: skip
async def test_a_file_that_cannot_be_read_says_why(
    client: AsyncClient, login: Login, data: bytes, says: str
) -> None:
    r = await upload(client, await login("admin"), "units", data)
    assert r.status_code == 422, r.text
    assert any(says in e["message"] for e in r.json()["errors"]), r.json()


async def test_a_gb18030_csv_as_excel_saves_it_on_chinese_windows(
    client: AsyncClient, login: Login, server_side: asyncpg.Connection
) -> None:
    rows = [PEOPLE_HEADER, ["p.gbk", "国标甲", "科员"]]
    r = await upload(client, await login("admin"), "people", csv_file(rows, "gb18030"))
    assert r.status_code == 200, r.text
    assert await server_side.fetchval("SELECT name FROM people WHERE code = 'p.gbk'") == "国标甲"


@pytest.mark.parametrize("kind", list(TABLES))
async def test_a_dry_run_counts_and_writes_nothing(
    client: AsyncClient, login: Login, server_side: asyncpg.Connection, kind: str
) -> None:
    rows, _changed, query = TABLES[kind]
    before = (await server_side.fetchval(query), await changes(server_side))
    revision = await server_side.fetchval("SELECT revision FROM config_revision")
    r = await upload(client, await login("admin"), kind, csv_file(rows), dry_run=True)
    assert r.status_code == 200, r.text
    assert r.json()["dry_run"] is True
    assert len(r.json()["created"]) == {"policies": 1}.get(kind, len(rows) - 1)
    assert (await server_side.fetchval(query), await changes(server_side)) == before
    assert await server_side.fetchval("SELECT revision FROM config_revision") == revision


@pytest.mark.parametrize("fmt", TABLE_FORMATS)
@pytest.mark.parametrize("kind", KINDS)
async def test_a_template_filled_with_its_example_row_imports(
    client: AsyncClient, login: Login, kind: str, fmt: str
) -> None:
    admin = await login("admin")
    t = await client.get(f"{IMPORTS}/{kind}/template", params={"format": fmt}, headers=admin)
    assert t.status_code == 200, t.text
    assert "attachment" in t.headers["content-disposition"]
    r = await upload(client, admin, kind, t.content, name=f"template.{fmt}")
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == 1


async def test_an_import_is_recorded_with_who_made_it(
    client: AsyncClient, login: Login, server_side: asyncpg.Connection
) -> None:
    r = await upload(client, await login("admin"), "people", csv_file(TABLES["people"][0]))
    assert r.status_code == 200, r.text
    row = await server_side.fetchrow(
        "SELECT actor, actor_id, action, target, payload::text FROM admin_events"
        " ORDER BY id DESC LIMIT 1"
    )
    admin_id = await server_side.fetchval("SELECT id FROM users WHERE username = 'admin'")
    assert (row["actor"], row["actor_id"], row["action"], row["target"]) == (
        "api:admin", admin_id, "import.people", "file"
    )  # fmt: skip
    assert "p.t1" in row["payload"]


async def test_only_admins_import(client: AsyncClient, login: Login) -> None:
    for username in ("dispatcher", "supervisor", "inspector"):
        r = await upload(client, await login(username), "people", csv_file(TABLES["people"][0]))
        assert r.status_code == 403, (username, r.text)
        t = await client.get(f"{IMPORTS}/people/template", headers=await login(username))
        assert t.status_code == 403


@pytest.mark.parametrize("settings_overrides", [{"import_max_bytes": 4096}])
async def test_the_import_body_limit_is_its_own(
    client: AsyncClient, login: Login, server_side: asyncpg.Connection
) -> None:
    admin = await login("admin")
    many = [PEOPLE_HEADER, *[[f"p.big{i}", f"人员{i}", "科员" * 5] for i in range(200)]]
    huge = csv_file(many) * 30
    assert len(huge) > 4096 + 64 * 1024  # past the limit and its multipart envelope
    r = await upload(client, admin, "people", huge)
    assert r.status_code == 413, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await server_side.fetchval("SELECT count(*) FROM people WHERE code LIKE 'p.big%'") == 0
    small = csv_file(many[:20])
    assert len(small) < 4096
    ok = await upload(client, admin, "people", small)
    assert ok.status_code == 200, ok.text


async def test_a_refusal_found_after_writing_rolls_the_whole_file_back(
    client: AsyncClient, login: Login, server_side: asyncpg.Connection
) -> None:
    # Whether a post overlaps another holder is known only once the file's posts are
    # written: the sound row before it goes too.
    rows = [POSTS_HEADER, ["shinan", "deputy", "demo.shibei.head", "2026-03-01", ""],
            ["shinan", "head", "demo.shibei.head", "2026-06-01", ""]]  # fmt: skip
    before = (
        await server_side.fetchval("SELECT count(*) FROM posts"),
        await server_side.fetchval("SELECT revision FROM config_revision"),
        await changes(server_side),
    )
    r = await upload(client, await login("admin"), "posts", csv_file(rows))
    assert r.status_code == 422, r.text
    names_line_and_column(r.json(), 3, "valid_from", "line")
    assert (
        await server_side.fetchval("SELECT count(*) FROM posts"),
        await server_side.fetchval("SELECT revision FROM config_revision"),
        await changes(server_side),
    ) == before


async def test_the_rollback_is_the_imports_own_not_the_callers(
    factory: async_sessionmaker[AsyncSession], server_side: asyncpg.Connection
) -> None:
    # The command line commits its transaction whatever the import says: the refused file
    # must have left nothing in it to commit.
    rows = [POSTS_HEADER, ["shinan", "deputy", "demo.shibei.head", "2026-03-01", ""],
            ["shinan", "head", "demo.shibei.head", "2026-06-01", ""]]  # fmt: skip
    posts = await server_side.fetchval("SELECT count(*) FROM posts")
    async with factory() as session, session.begin():
        outcome = await import_service.import_file(
            session, "posts", csv_file(rows), operator=Operator("test"),
            tz=ZoneInfo("Asia/Shanghai"), now=datetime.now(UTC),
        )  # fmt: skip
        assert [(e.line, e.column) for e in outcome.errors] == [(3, "valid_from")]
    assert await server_side.fetchval("SELECT count(*) FROM posts") == posts
