"""The findings list page /ui/findings: the API's filters, scope in SQL, paging, and the
export link that carries the filters to the API's export."""

from __future__ import annotations

import re
from html import unescape

from httpx import AsyncClient

from tests.helpers import Login, act, post, ui_login, xlsx_text


def export_link(html: str) -> str:
    match = re.search(r'href="([^"]+)" data-testid="export-xlsx"', html)
    assert match, "no export link"
    return unescape(match.group(1))


async def test_the_list_filters_like_the_api_and_exports_what_it_shows(
    client: AsyncClient, login: Login
) -> None:
    inspector = await login("inspector")
    garbage = await post(client, inspector, description="居庸关路垃圾堆放未清运")
    road = await post(client, inspector, category="damaged_road", description="山海关路路面破损")
    accepted = await post(client, inspector, description="湛山路垃圾桶满溢")
    street = await login("handler.shinan.badaguan")
    assert (await act(client, street, accepted["id"], "accept")).status_code == 200

    await ui_login(client, "supervisor")
    every = await client.get("/ui/findings")
    assert every.status_code == 200
    for f in (garbage, road, accepted):
        assert f"/ui/findings/{f['id']}" in every.text

    r = await client.get("/ui/findings?category=exposed_garbage&status=assigned")
    assert r.status_code == 200
    assert f"/ui/findings/{garbage['id']}" in r.text
    assert f"/ui/findings/{road['id']}" not in r.text  # another category
    assert f"/ui/findings/{accepted['id']}" not in r.text  # another status
    link = export_link(r.text)
    assert "category=exposed_garbage" in link
    assert "status=assigned" in link
    book = await client.get(link)
    assert book.status_code == 200
    text = xlsx_text(book.content)
    assert garbage["id"] in text
    assert road["id"] not in text
    assert accepted["id"] not in text


async def test_dates_become_the_cities_days_and_a_bad_filter_names_its_field(
    client: AsyncClient, login: Login
) -> None:
    await post(client, await login("inspector"))
    await ui_login(client, "supervisor")
    r = await client.get("/ui/findings?since=2026-01-01&until=2026-01-02&overdue=true")
    assert r.status_code == 200
    link = export_link(r.text)
    assert "since=2026-01-01T00%3A00%3A00%2B08%3A00" in link
    assert "overdue=true" in link
    for bad in ("since=yesterday", "status=lost", "bbox=1,2,3", "category=no_such_thing"):
        page = await client.get(f"/ui/findings?{bad}")
        assert page.status_code == 422, bad
        assert 'role="alert"' in page.text, bad
        assert 'data-testid="findings"' not in page.text


async def test_a_unit_sees_only_its_own_subtree(client: AsyncClient, login: Login) -> None:
    inspector = await login("inspector")
    shinan = await post(client, inspector)
    licang = await post(
        client,
        inspector,
        unit="licang.xiaocun",
        description="李村河沿岸垃圾",
        location={"lat": 36.1468, "lon": 120.4322},
    )
    await ui_login(client, "handler.licang.xiaocun")
    r = await client.get("/ui/findings")
    assert f"/ui/findings/{licang['id']}" in r.text
    assert f"/ui/findings/{shinan['id']}" not in r.text
    # the export as filtered holds the same: nothing of another district
    book = await client.get(export_link(r.text))
    assert shinan["id"] not in xlsx_text(book.content)
    # naming the other district's unit finds nothing rather than leaking it
    r = await client.get("/ui/findings?unit=shinan.badaguan")
    assert f"/ui/findings/{shinan['id']}" not in r.text


async def test_pages_follow_one_another(client: AsyncClient, login: Login) -> None:
    inspector = await login("inspector")
    ids = [(await post(client, inspector, description=f"第{i}处垃圾"))["id"] for i in range(52)]
    await ui_login(client, "supervisor")
    first = await client.get("/ui/findings?source=inspection")
    match = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert match
    second = await client.get(unescape(match.group(1)))
    assert second.status_code == 200
    shown = [i for i in ids if f"/ui/findings/{i}" in first.text + second.text]
    assert sorted(shown) == sorted(ids)
    assert not any(f"/ui/findings/{i}" in second.text for i in ids[-50:])


async def test_the_office_exports_the_audit_trail_of_the_list_as_filtered(
    client: AsyncClient, login: Login
) -> None:
    inspector = await login("inspector")
    garbage = await post(client, inspector)
    road = await post(client, inspector, category="damaged_road")
    await ui_login(client, "supervisor")
    r = await client.get("/ui/findings?category=exposed_garbage")
    match = re.search(r'href="([^"]+)" data-testid="audit-csv"', r.text)
    assert match, "no audit export link"
    link = unescape(match.group(1))
    assert link.startswith("/api/v1/findings/events?format=csv")
    assert "category=exposed_garbage" in link
    export = await client.get(link)
    assert export.status_code == 200
    assert garbage["id"] in export.text
    assert road["id"] not in export.text


async def test_no_audit_export_link_for_a_unit_handler(client: AsyncClient, login: Login) -> None:
    await post(client, await login("inspector"))
    await ui_login(client, "handler.shinan")
    r = await client.get("/ui/findings")
    assert r.status_code == 200
    assert 'data-testid="audit-csv"' not in r.text
