"""The sweep's drain: batches grow while they come back full."""

from __future__ import annotations

import pytest

from services.core.escalation.sweep import BatchResult
from services.worker import escalations
from services.worker.context import JobContext
from tests.helpers import job_context


async def test_a_drain_grows_its_batches_while_they_come_back_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backlog = [12_000]
    sizes: list[int] = []

    async def one_batch(_ctx: JobContext, batch_size: int) -> BatchResult:
        sizes.append(batch_size)
        claimed = min(batch_size, backlog[0])
        backlog[0] -= claimed
        return BatchResult(claimed=claimed, escalations=claimed)

    monkeypatch.setattr(escalations, "_one_batch", one_batch)
    totals = await escalations._drain(job_context())
    assert sizes == [500, 1000, 2000, 2000, 2000, 2000, 2000, 2000]
    assert totals["claimed"] == totals["escalations"] == 12_000
    assert backlog == [0]
