"""The unit ranking (GET /stats/units)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from .findings import UnitRef

StatLevel = Literal["district", "street", "department"]


class WeightedCounts(BaseModel):
    """The counts that feed the score: exposure-video findings and their escalations × 2."""

    total: int
    closed: int
    on_time: int
    overdue_open: int
    rework: int
    recurrences: int
    escalations: dict[str, int]


class UnitStatsOut(BaseModel):
    unit: UnitRef
    total: int = Field(description="findings reported in the window (not invalid/duplicate)")
    closed: int = Field(description="of those, closed as rectified")
    on_time: int = Field(description="rectified, with the last submission by due_at")
    on_time_rate: float | None = Field(description="on_time ÷ closed; null when closed = 0")
    overdue_open: int = Field(
        description="still with the unit (assigned/accepted), past due, now: the red light"
    )
    yellow_open: int = Field(
        description="still with the unit, past its reminder fraction and not yet due, now: "
        "the yellow light (shown, not scored)"
    )
    rework: int = Field(description="findings sent back at least once")
    rework_rate: float | None = Field(description="rework ÷ total; null when total = 0")
    recurrences: int = Field(description="findings that are a recurrence of a closed one")
    escalations: dict[str, int] = Field(description='fired in the window, by level: {"1": …}')
    weighted: WeightedCounts
    tasks_due: int = Field(
        description="inspection tasks of the unit's subtree due in the window that have "
        "fallen due (or were done)"
    )
    tasks_done: int
    coverage: float | None = Field(
        description="tasks_done ÷ tasks_due (0 when none fell due); null while no "
        "inspection task fell due anywhere in the city (then the score leaves it out)"
    )
    transfers: int = Field(
        default=0,
        description="findings a dispatcher transferred away from the unit's subtree in the "
        "window (转办; shown, not scored)",
    )
    returns: int = Field(
        default=0,
        description="findings the unit's subtree returned in the window, with the "
        "dispatcher's approval (回退; shown, not scored)",
    )
    score: float
    rank: int = Field(description="1 = best; equal scores share a rank")


class UnitStatsPage(BaseModel):
    level: StatLevel
    since: datetime | None
    until: datetime | None
    generated_at: datetime
    formula: str
    items: list[UnitStatsOut]


class UnitSuspensions(BaseModel):
    unit: UnitRef = Field(description="the responsible unit that asked")
    district: UnitRef | None
    requested: int = Field(description="requests to suspend (挂账) made in the window")
    refused: int
    approved: int
    active: int = Field(description="of those, suspended now")
    ended: int = Field(description="of those, resumed (by hand or at the expected date)")
    suspended_days: float = Field(
        description="days the approved ones stopped the clock, added up (until now for the "
        "running ones)"
    )
    longest_days: float


class SuspensionReport(BaseModel):
    since: datetime | None
    until: datetime | None
    generated_at: datetime
    items: list[UnitSuspensions]
