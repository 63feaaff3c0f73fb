"""The memory of recent callers, as a value: bounded, the latest kept."""

from __future__ import annotations

from services.core.identity.callers import CallerMemo, Known
from services.core.identity.principal import Principal


def test_the_memory_keeps_the_latest_callers_up_to_its_size() -> None:
    def known(user_id: int) -> Known:
        principal = Principal(user_id, f"u{user_id}", "inspector", 1, "c", "city", "/1/", None)
        return Known(principal, 0, 7)

    memo = CallerMemo(size=2)
    memo.remember(known(1))
    memo.remember(known(2))
    memo.remember(known(1))  # read again: now the latest
    memo.remember(known(3))
    assert memo.get(2) is None
    assert memo.get(1) == known(1)
    assert memo.get(3) == known(3)
    memo.forget(3)
    assert memo.get(3) is None
