"""The open findings' roll-up (migration 0012): triggers on findings append each change to
`open_finding_changes`; folding moves them into `open_finding_days`. The statistics read
both, so folding changes no figure, only how many rows a request reads."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# How often the worker folds: a request then reads at most this long's changes as rows.
FOLD_SECONDS = frozenset(range(0, 60, 10))


async def fold_open_changes(session: AsyncSession) -> int:
    """Fold the changes appended so far; how many there were (0 as well when another
    transaction is folding them at this moment)."""
    folded = await session.execute(text("SELECT open_finding_days_fold()"))
    return int(folded.scalar_one())
