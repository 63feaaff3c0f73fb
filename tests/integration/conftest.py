"""Fixtures the integration tier's channel and delivery tests share: an HTTP client for the
deliveries, and the fake robots as real servers on loopback; and the tier's garbage
collection kept short."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.fake_providers import FakeDingTalk, FakeWeCom


def pytest_collection_finish(session: pytest.Session) -> None:
    # Everything imported so far lives as long as the worker: leave it out of the full
    # collections that an app per test sets off.
    gc.freeze()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # The receivers answer from a thread of this busy process: a generous limit, so that only
    # a receiver that hangs on purpose times out. Redirects are answers to check, not follow.
    async with httpx.AsyncClient(timeout=30, follow_redirects=False) as c:
        yield c


@pytest.fixture
def dingtalk() -> Iterator[FakeDingTalk]:
    fake = FakeDingTalk()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def wecom() -> Iterator[FakeWeCom]:
    fake = FakeWeCom()
    fake.start()
    yield fake
    fake.stop()
