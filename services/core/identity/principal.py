"""Who is calling and what they may see."""

from __future__ import annotations

from dataclasses import dataclass

# Units whose members see the whole city, whatever their role.
CITY_WIDE_UNIT_KINDS = frozenset({"city", "campaign_office", "discipline_commission"})
CITY_WIDE_ROLES = frozenset({"supervisor", "admin"})


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    role: str
    unit_id: int
    unit_code: str
    unit_kind: str
    unit_path: str
    person_id: int | None

    @property
    def city_wide(self) -> bool:
        return self.role in CITY_WIDE_ROLES or self.unit_kind in CITY_WIDE_UNIT_KINDS

    def covers(self, unit_path: str | None) -> bool:
        """Whether a unit (by its materialised path) lies in this caller's subtree."""
        return self.city_wide or (unit_path is not None and unit_path.startswith(self.unit_path))


@dataclass(frozen=True)
class Actor:
    user_id: int
    role: str
    # Whether the finding's responsible unit lies in the actor's subtree: required for the
    # unit's own actions, disqualifying for verification.
    holds_responsible_unit: bool
    # Whether one of the finding's co-handling units (协办) lies in the actor's subtree: enough
    # to add progress, not to act for the lead unit.
    holds_co_unit: bool = False
