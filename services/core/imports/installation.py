"""`duban init`: a new installation's first rows, and nothing else: the city (the root unit),
its campaign office, its discipline commission, and the first admin. The rest of the
organisation and the catalogue come from the office's files (services/core/imports/service.py).

A database belongs to one city, identified by the code of its root unit (the one unit
without a parent). `init` against a database whose city has another code is refused, so
a mistyped URL cannot graft one city's administration onto another's data. Run again with
the same city, it creates only what is missing and changes nothing that is there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.identity.service import AdminError, add_user, check_password, check_username
from services.core.identity.store import Operator, record
from services.core.models import Unit, User
from services.core.reference.store import create_unit

CITY = "city"
OFFICE = "campaign_office"
COMMISSION = "discipline_commission"
ADMIN = "admin"


@dataclass(frozen=True)
class Installation:
    city_code: str
    city_name: str
    admin: str
    office_code: str = "wenmingban"
    office_name: str = "市文明办"
    commission_code: str = "jiwei"
    commission_name: str = "市纪委监委"


@dataclass
class Initialised:
    # What this run created, and what was already there and kept as it was.
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


class OtherCity(AdminError):
    """The database holds another city's data."""


async def city_of(session: AsyncSession) -> Unit | None:
    """The database's city: its root unit. Refused when there are several roots, which no
    duban ever writes."""
    roots = list(await session.scalars(select(Unit).where(Unit.parent_id.is_(None)).limit(2)))
    if len(roots) > 1:
        raise OtherCity(
            f"the database holds several root units ({', '.join(u.code for u in roots)}): "
            "it is not one city's"
        )
    return roots[0] if roots else None


async def check_city(session: AsyncSession, city_code: str) -> Unit | None:
    city = await city_of(session)
    if city is not None and city.code != city_code:
        raise OtherCity(
            f"this database belongs to the city {city.code!r} ({city.name}), not "
            f"{city_code!r}: nothing was changed. Point DUBAN_DATABASE_URL at {city_code}'s "
            "own database, or give its code with --city."
        )
    if city is not None and city.kind != CITY:
        raise OtherCity(f"the root unit {city.code!r} is a {city.kind}, not a city")
    return city


async def admin_missing(session: AsyncSession, inst: Installation) -> bool:
    """Whether init would create the admin (and so needs a password). Checks the city first,
    so that nobody is asked for a password only to be refused."""
    check_username(inst.admin)
    await check_city(session, inst.city_code)
    return await session.scalar(select(User.id).where(User.username == inst.admin)) is None


async def _child(
    session: AsyncSession, city: Unit, code: str, name: str, kind: str, done: Initialised
) -> None:
    unit = await session.scalar(select(Unit).where(Unit.code == code))
    if unit is None:
        await create_unit(session, code, name, kind, city)
        done.created.append(f"unit {code} ({name})")
        return
    if unit.kind != kind or unit.parent_id != city.id:
        raise AdminError(
            f"unit {code!r} exists but is not the city's {kind}: choose another code "
            f"(--{'office' if kind == OFFICE else 'commission'}-code)"
        )
    done.kept.append(f"unit {code} ({unit.name})")


async def initialise(
    session: AsyncSession, operator: Operator, inst: Installation, password: str | None
) -> Initialised:
    """Create what of the installation is missing. `password` is the admin's, needed only
    when the admin is created (`admin_missing`)."""
    done = Initialised()
    city = await check_city(session, inst.city_code)
    if city is None:
        city = await create_unit(session, inst.city_code, inst.city_name, CITY, None)
        done.created.append(f"city {inst.city_code} ({inst.city_name})")
    else:
        done.kept.append(f"city {city.code} ({city.name})")
    await _child(session, city, inst.office_code, inst.office_name, OFFICE, done)
    await _child(session, city, inst.commission_code, inst.commission_name, COMMISSION, done)
    user = await session.scalar(select(User).where(User.username == inst.admin))
    if user is None:
        if password is None:
            raise AdminError(f"the admin {inst.admin!r} needs a password")
        check_password(password)
        await add_user(
            session, operator, username=inst.admin, role=ADMIN, unit_code=city.code,
            password=password,
        )  # fmt: skip
        done.created.append(f"admin {inst.admin}")
    elif user.role != ADMIN:
        raise AdminError(
            f"user {inst.admin!r} exists and is a {user.role}, not an admin: choose another "
            "--admin, or `duban user set-role`"
        )
    else:
        done.kept.append(f"admin {inst.admin}")
    if done.created:
        await record(session, operator, "init", inst.city_code, {"created": done.created})
    return done
