"""The demo campaign: seeded once, complete enough to walk through every role and escalation."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.demo.service import (
    ACCOUNTS,
    DISTRICTS,
    DemoAlreadySeededError,
    demo_seeded,
    seed_demo,
)
from services.core.identity.security import verify_password
from services.core.models import Category, Person, Post, RoutingRule, Unit, User
from services.core.platform.db import make_engine, make_sessionmaker

DISTRICT_CODES = {"shinan", "shibei", "licang", "xihaian", "jiaozhou", "pingdu", "laixi"}


@pytest.fixture
async def session(database_url: str) -> AsyncIterator[AsyncSession]:
    engine = make_engine(database_url, pool_size=1)
    async with make_sessionmaker(engine)() as s, s.begin():
        yield s
    await engine.dispose()


async def units_by_code(session: AsyncSession) -> dict[str, Unit]:
    return {u.code: u for u in await session.scalars(select(Unit))}


async def current_posts(session: AsyncSession) -> set[tuple[str, str]]:
    rows = await session.execute(
        select(Unit.code, Post.role)
        .join(Unit, Unit.id == Post.unit_id)
        .where(Post.valid_to.is_(None))
    )
    return {(code, role) for code, role in rows}


async def test_seed_runs_once(session: AsyncSession) -> None:
    assert await demo_seeded(session)
    with pytest.raises(DemoAlreadySeededError):
        await seed_demo(session, password=lambda u: "x")


async def test_seed_into_an_empty_schema(session: AsyncSession) -> None:
    # Undo the template's seed (this test's private database) and seed again from scratch.
    await session.execute(text("TRUNCATE users, routing_rules, categories, posts, people CASCADE"))
    await session.execute(text("UPDATE units SET parent_id = NULL"))
    await session.execute(text("DELETE FROM units"))
    assert not await demo_seeded(session)

    accounts = await seed_demo(session, password=lambda u: f"secret-{u}")

    assert await demo_seeded(session)
    assert [a.username for a in accounts] == [a[0] for a in ACCOUNTS]
    assert all(a.password == f"secret-{a.username}" and a.description for a in accounts)
    user = await session.scalar(select(User).where(User.username == "leader.shinan"))
    assert user is not None
    assert verify_password(user.password_hash, "secret-leader.shinan")


async def test_the_seven_districts_under_the_city(session: AsyncSession) -> None:
    units = await units_by_code(session)
    city = units["qingdao"]
    assert city.parent_id is None
    assert city.kind == "city"
    districts = {u.code for u in units.values() if u.kind == "district"}
    assert districts == DISTRICT_CODES
    assert units["wenmingban"].kind == "campaign_office"
    assert units["jiwei"].kind == "discipline_commission"
    for code in DISTRICT_CODES | {"wenmingban", "jiwei"}:
        assert units[code].parent_id == city.id
    for code in DISTRICT_CODES:
        assert units[f"{code}.cgj"].kind == "department"
        assert units[f"{code}.cgj"].parent_id == units[code].id
        streets = [
            u for u in units.values() if u.kind == "street" and u.parent_id == units[code].id
        ]
        assert 2 <= len(streets) <= 3
        for unit in [units[code], *streets]:
            # Centroids within Qingdao's municipal area.
            assert 35.5 < (unit.lat or 0) < 37.2
            assert 119.5 < (unit.lon or 0) < 121.0
    for code in ("shinan.badaguan", "shinan.xiangganglu", "licang.xiaocun", "shibei.taidong"):
        assert units[code].kind == "street"
    assert units["shinan.badaguan"].name == "八大关街道"
    assert units["shinan.badaguan.taiping"].kind == "community"
    assert units["shinan.badaguan.taiping"].parent_id == units["shinan.badaguan"].id


async def test_paths_are_the_ancestry_of_ids(session: AsyncSession) -> None:
    units = await units_by_code(session)
    by_id = {u.id: u for u in units.values()}
    for unit in units.values():
        parent = by_id.get(unit.parent_id) if unit.parent_id is not None else None
        expected = (parent.path if parent else "/") + f"{unit.id}/"
        assert unit.path == expected, unit.code
    assert units["shinan.badaguan.taiping"].path.startswith(units["shinan"].path)


async def test_every_unit_has_a_head_except_the_deliberate_vacancy(session: AsyncSession) -> None:
    units = await units_by_code(session)
    posts = await current_posts(session)
    vacant = {code for code in units if (code, "head") not in posts}
    assert vacant == {"laixi.cgj"}
    for code in DISTRICT_CODES:
        assert (code, "city_leader") in posts
    for unit in units.values():
        if unit.kind == "street":
            assert (unit.code, "handler") in posts


async def test_people_are_placeholders(session: AsyncSession) -> None:
    people = list(await session.scalars(select(Person)))
    assert people
    assert all(p.name.startswith("示例·") for p in people)
    head = await session.scalar(
        select(Person)
        .join(Post, Post.person_id == Person.id)
        .join(Unit, Unit.id == Post.unit_id)
        .where(Unit.code == "shinan", Post.role == "head")
    )
    assert head is not None
    assert head.name == "示例·市南区委书记"


async def test_the_catalogue(session: AsyncSession) -> None:
    cats = {c.code: c for c in await session.scalars(select(Category))}
    expected = {
        "exposed_garbage": ("event", "city_appearance", "working_days", {"working_days": 2}),
        "street_vendor": ("event", "traffic_order", "working_days", {"working_days": 2}),
        "illegal_ads": ("event", "public_ads", "working_days", {"working_days": 3}),
        "illegal_construction": (
            "event",
            "illegal_construction",
            "working_days",
            {"working_days": 10},
        ),
        "missing_manhole_cover": ("facility", "infrastructure", "continuous", {"duration": "PT2H"}),
        "damaged_road": ("facility", "infrastructure", "working_days", {"working_days": 5}),
        "broken_streetlight": ("facility", "infrastructure", "working_days", {"working_days": 3}),
        "public_toilet_dirty": ("event", "city_appearance", "working_days", {"working_days": 1}),
        "other": ("event", "other", "working_days", {"working_days": 5}),
    }
    for code, (kind, group, clock, limit) in expected.items():
        c = cats[code]
        assert (c.kind, c.group, c.clock, c.time_limit) == (kind, group, clock, limit), code
    assert cats["exposed_garbage"].duplicate_radius_m == 30
    assert cats["illegal_construction"].duplicate_radius_m == 50
    for c in cats.values():
        assert c.policy_code == "default"
        assert c.clock == ("continuous" if "duration" in c.time_limit else "working_days")


async def test_routing_covers_every_group_in_every_district(session: AsyncSession) -> None:
    units = await units_by_code(session)
    by_id = {u.id: u for u in units.values()}
    groups = set(await session.scalars(select(Category.group).distinct()))
    rules = {
        (by_id[r.area_unit_id].code, r.group): r.responsible_unit_id
        for r in await session.scalars(select(RoutingRule))
    }
    for d in DISTRICTS:
        for group in groups - {"other"}:
            assert (d.code, group) in rules, (d.code, group)
        # Facilities go to the owner department, events to the territory (NULL).
        assert rules[(d.code, "infrastructure")] == units[f"{d.code}.cgj"].id
        for group in ("city_appearance", "traffic_order", "public_ads", "illegal_construction"):
            assert rules[(d.code, group)] is None
    assert not any(group == "other" for _, group in rules)


async def test_demo_accounts(session: AsyncSession) -> None:
    rows = await session.execute(
        select(User.username, User.role, Unit.code, User.person_id).join(
            Unit, Unit.id == User.unit_id
        )
    )
    users = {name: (role, unit, person) for name, role, unit, person in rows}
    expected = {
        "admin": ("admin", "qingdao"),
        "dispatcher": ("dispatcher", "wenmingban"),
        "supervisor": ("supervisor", "qingdao"),
        "inspector": ("inspector", "wenmingban"),
        "inspector.shinan": ("inspector", "shinan"),
        "handler.shinan": ("unit_handler", "shinan"),
        "handler.shinan.badaguan": ("unit_handler", "shinan.badaguan"),
        "handler.shinan.cgj": ("unit_handler", "shinan.cgj"),
        "handler.licang.xiaocun": ("unit_handler", "licang.xiaocun"),
        "verifier": ("verifier", "wenmingban"),
        "leader.shinan": ("leader", "shinan"),
        "leader.city": ("leader", "qingdao"),
        "discipline": ("discipline", "jiwei"),
    }
    assert {k: v[:2] for k, v in users.items()} == expected

    async def person_of(unit: str, role: str) -> int | None:
        return await session.scalar(
            select(Post.person_id)
            .join(Unit, Unit.id == Post.unit_id)
            .where(Unit.code == unit, Post.role == role)
        )

    assert users["leader.shinan"][2] == await person_of("shinan", "head")
    assert users["leader.city"][2] == await person_of("shinan", "city_leader")
    # The commission's account acts as its head, whom the fourth level addresses.
    assert users["discipline"][2] == await person_of("jiwei", "head")


async def test_the_demo_seeds_points_illustrative_criteria_and_a_plan(
    session: AsyncSession,
) -> None:
    """`make run`'s demo holds evaluation points at every street, a small set of criteria
    marked as illustrative (not the official text) and a plan whose tasks are due this month
    (the test template is seeded without them: seed again from scratch)."""
    await session.execute(text("TRUNCATE users, routing_rules, categories, posts, people CASCADE"))
    await session.execute(text("UPDATE units SET parent_id = NULL"))
    await session.execute(text("DELETE FROM units"))
    await seed_demo(session, password=lambda u: "x")
    streets = await session.scalar(text("SELECT count(*) FROM units WHERE kind = 'street'"))
    points = await session.execute(
        text(
            "SELECT count(*), count(DISTINCT street_id), count(DISTINCT district_id),"
            " bool_and(name LIKE '示例·%') FROM evaluation_points"
        )
    )
    assert points.one() == (3 * streets, streets, 7, True)
    set_name = await session.scalar(text("SELECT name FROM criteria_sets"))
    assert "非官方" in set_name
    assert await session.scalar(text("SELECT count(*) FROM criteria")) == 6
    tasks = await session.execute(
        text(
            "SELECT count(*), count(*) FILTER (WHERE due_at >= date_trunc('month', now())"
            " AND due_at < date_trunc('month', now()) + interval '1 month')"
            " FROM inspection_tasks t JOIN inspection_plans p ON p.id = t.plan_id"
            " WHERE p.code = 'demo.plan'"
        )
    )
    total, this_month = tasks.one()
    assert this_month > 0
    assert total > this_month


async def test_the_demo_meeting_holds_the_seven_districts_commitments(
    session: AsyncSession,
) -> None:
    """Seeded with its campaign instruments, the demo records one meeting with a commitment
    of each district, in placeholder text, its leader the district's placeholder head."""
    await session.execute(text("TRUNCATE users, routing_rules, categories, posts, people CASCADE"))
    await session.execute(text("UPDATE units SET parent_id = NULL"))
    await session.execute(text("DELETE FROM units"))
    await seed_demo(session, password=lambda u: "x")
    meetings = (await session.execute(text("SELECT id, title, kind FROM meetings"))).all()
    assert [(m.title, m.kind) for m in meetings] == [
        ("示例·曝光片点评会（演示）", "exposure_review")
    ]
    rows = (
        await session.execute(
            text(
                "SELECT u.code, c.status_quo, c.problems, c.targets, c.measures, c.leader_name,"
                " c.due_at > now() AS ahead, c.next_escalation_at IS NOT NULL AS laddered"
                " FROM commitments c JOIN units u ON u.id = c.unit_id WHERE c.meeting_id = :m"
            ),
            {"m": meetings[0].id},
        )
    ).all()
    assert {r.code for r in rows} == DISTRICT_CODES
    for r in rows:
        assert all(t.startswith("示例·") for t in (r.status_quo, r.problems, r.targets, r.measures))
        assert r.leader_name.startswith("示例·")
        assert r.leader_name.endswith(("区委书记", "市委书记"))
        assert r.ahead
        assert r.laddered
