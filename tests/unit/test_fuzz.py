"""The OpenAPI document: every 4xx of the API is described as a problem document (what the
fuzzer, tests/system/test_fuzz.py, checks the answers against)."""

from __future__ import annotations

from services.api.app import create_app
from services.core.platform.settings import Settings


def test_every_error_status_is_documented_as_a_problem() -> None:
    document = create_app(Settings(jwt_secret="x" * 40)).openapi()
    assert "Problem" in document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if path.startswith("/api/") and status[0] == "4":
                    assert list(response["content"]) == ["application/problem+json"], (
                        method,
                        path,
                        status,
                    )
