"""The evaluation criteria (测评标准): an indicator tree imported from XLSX, one version per
set code, read back with its parents, check items, point types and method; a version that
results were recorded under is frozen (tests/test_inspections.py shows that part)."""

from __future__ import annotations

from httpx import AsyncClient

from tests.helpers import TEST_CRITERIA, Login, import_criteria

SETS = "/api/v1/criteria-sets"


async def test_a_tree_imported_from_xlsx_reads_back(client: AsyncClient, login: Login) -> None:
    admin = await login("admin")
    r = await import_criteria(client, admin)
    assert r.status_code == 200, r.text
    assert r.json()["created"] == ["t-2026/A", "t-2026/A.1", "t-2026/A.2", "t-2026/A.3",
                                   "t-2026/B"]  # fmt: skip
    r = await client.get(f"{SETS}/t-2026", headers=await login("inspector"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "测试标准"
    by_code = {c["code"]: c for c in body["criteria"]}
    assert by_code["A.1"]["parent"] == "A"
    assert by_code["A.1"]["point_types"] == ["farmers_market"]
    assert by_code["A.1"]["leaf"] is True
    assert by_code["A"]["leaf"] is False
    assert by_code["A"]["method"] == "field"
    assert by_code["B"]["method"] == "records"
    assert by_code["A.2"]["category"] == "store_overflow"
    r = await client.get(SETS, headers=admin)
    assert "t-2026" in [s["code"] for s in r.json()["items"]]


async def test_a_second_version_leaves_the_first_as_it_was(
    client: AsyncClient, login: Login
) -> None:
    admin = await login("admin")
    await import_criteria(client, admin)
    newer = [[("t-2027" if i == 0 else c) for i, c in enumerate(row)] for row in TEST_CRITERIA]
    newer[1][5] = "15"
    assert (await import_criteria(client, admin, newer)).status_code == 200
    old = (await client.get(f"{SETS}/t-2026", headers=admin)).json()["criteria"]
    new = (await client.get(f"{SETS}/t-2027", headers=admin)).json()["criteria"]
    assert [c["full_score"] for c in old if c["code"] == "A.1"] == [10]
    assert [c["full_score"] for c in new if c["code"] == "A.1"] == [15]


async def test_bad_rows_are_named_and_nothing_is_written(client: AsyncClient, login: Login) -> None:
    admin = await login("admin")
    rows = [
        ["t-bad", "", "A", "市容环境", "", "30", "", "", "field", ""],
        ["t-bad", "", "A.1", "x", "Z", "10", "", "", "field", ""],
        ["t-bad", "", "A.2", "x", "A", "10", "no_such_type", "", "field", ""],
        ["t-bad", "", "A.3", "x", "A", "10", "", "", "guesswork", ""],
    ]
    r = await import_criteria(client, admin, rows, fmt="csv")
    assert r.status_code == 422
    # The method is read with the row; the rest is checked once every row reads.
    assert [e["field"] for e in r.json()["errors"]] == ["line 5: method"]
    rows[3][8] = "问卷调查"
    r = await import_criteria(client, admin, rows, fmt="csv")
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["line 4: point_types"]
    rows[2][6] = ""
    r = await import_criteria(client, admin, rows, fmt="csv")
    assert [e["field"] for e in r.json()["errors"]] == ["line 3: parent"]
    assert (await client.get(f"{SETS}/t-bad", headers=admin)).status_code == 404
