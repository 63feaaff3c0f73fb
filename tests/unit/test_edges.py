"""The report reader on its own: a body nested too deep is a 400, even without the
middleware in front of it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import HTTPException
from starlette.requests import Request

from services.api import served
from tests.helpers import FAR_TOO_DEEP, nested


async def test_the_report_reader_alone_answers_400_for_a_body_too_deep() -> None:
    """POST /findings reads its own body (services/api/served.py). Behind the middleware no
    such body reaches it; on its own it still answers as FastAPI's reader does."""
    body = nested(FAR_TOO_DEEP).encode()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    request = Request({"type": "http", "method": "POST", "headers": []}, receive)
    with pytest.raises(HTTPException) as caught:
        await served.json_of(request)
    assert caught.value.status_code == 400
