"""The unit tree: creating units and moving subtrees while keeping the materialised paths right."""

from __future__ import annotations

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from services.core.models import Post, Unit


def child_path(parent: Unit | None, unit_id: int) -> str:
    return f"{parent.path if parent is not None else '/'}{unit_id}/"


async def create_unit(
    session: AsyncSession,
    code: str,
    name: str,
    kind: str,
    parent: Unit | None,
    *,
    lat: float | None = None,
    lon: float | None = None,
) -> Unit:
    # The path contains the unit's own id, which exists only after the insert.
    unit = Unit(
        code=code,
        name=name,
        kind=kind,
        parent_id=parent.id if parent is not None else None,
        path="",
        lat=lat,
        lon=lon,
    )
    session.add(unit)
    await session.flush()
    unit.path = child_path(parent, unit.id)
    await session.flush()
    return unit


async def move_unit(session: AsyncSession, unit: Unit, new_parent: Unit | None) -> None:
    """Re-parent `unit`, rewriting the paths of its whole subtree in one statement.

    The caller must have checked that `new_parent` is not inside the subtree (a cycle)."""
    old_prefix = unit.path
    new_prefix = child_path(new_parent, unit.id)
    unit.parent_id = new_parent.id if new_parent is not None else None
    await session.flush()
    if new_prefix == old_prefix:
        return
    await session.execute(
        update(Unit)
        .where(Unit.path.startswith(old_prefix, autoescape=True))
        .values(path=new_prefix + func.substr(Unit.path, len(old_prefix) + 1))
        .execution_options(synchronize_session=False)
    )
    await _redistrict_findings(session, new_prefix)
    # Units already loaded in this session still carry the old paths; the database is right.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Unit) and obj.path.startswith(old_prefix):
            set_committed_value(obj, "path", new_prefix + obj.path[len(old_prefix) :])


async def _redistrict_findings(session: AsyncSession, prefix: str) -> None:
    """Findings held by (or placed in) the moved subtree now belong to its new district."""
    await session.execute(
        text(
            """
            UPDATE findings AS f SET district_id = (
                SELECT d.id FROM units AS d JOIN units AS u
                  ON u.path LIKE d.path || '%'
                 WHERE u.id = coalesce(f.responsible_unit_id, f.place_unit_id)
                   AND d.kind = 'district'
                 LIMIT 1)
             WHERE coalesce(f.responsible_unit_id, f.place_unit_id) IN (
                SELECT id FROM units WHERE starts_with(path, :prefix))
            """
        ),
        {"prefix": prefix},
    )


# Escalations are addressed to the one holder of these posts at firing time.
SINGLE_HOLDER_ROLES = ("head", "city_leader")


async def overlapping_holder(session: AsyncSession, post: Post) -> int | None:
    """Another post holding the same single-holder role of the same unit at some moment of
    this one's tenure (its id), or None."""
    if post.role not in SINGLE_HOLDER_ROLES:
        return None
    stmt = select(Post.id).where(
        Post.unit_id == post.unit_id,
        Post.role == post.role,
        or_(Post.valid_to.is_(None), Post.valid_to > post.valid_from),
    )
    if post.id is not None:
        stmt = stmt.where(Post.id != post.id)
    if post.valid_to is not None:
        stmt = stmt.where(Post.valid_from < post.valid_to)
    return (await session.execute(stmt.order_by(Post.id).limit(1))).scalar_one_or_none()
