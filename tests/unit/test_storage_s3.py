"""S3 request signing (SigV4) against botocore's, without a server."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from services.core.evidence.storage import S3Storage, sigv4_headers

ACCESS_KEY, SECRET_KEY, REGION = (
    "AKIDEXAMPLE",
    "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "cn-north-1",
)


@pytest.mark.parametrize(
    ("method", "key", "body", "media_type"),
    [
        ("PUT", "evidence/a/b.jpg", b"\xff\xd8\xff photo bytes", "image/jpeg"),
        ("GET", "evidence/a/b.png", b"", None),
        ("DELETE", "evidence/0193b2c4-5f1e/x.webp", b"", None),
    ],
)
def test_signature_matches_botocore(
    monkeypatch: pytest.MonkeyPatch, method: str, key: str, body: bytes, media_type: str | None
) -> None:
    now = datetime(2026, 11, 26, 1, 2, 3, tzinfo=UTC)
    storage = S3Storage(
        endpoint="https://s3.example.test:9000",
        bucket="duban-media",
        region=REGION,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
    )
    url = storage.url(key)
    extra = {"content-type": media_type} if media_type else {}
    ours = sigv4_headers(
        method,
        url,
        payload_sha256=hashlib.sha256(body).hexdigest(),
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        region=REGION,
        now=now,
        extra=extra,
    )
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: now.replace(tzinfo=None))
    request = AWSRequest(method=method, url=url, data=body, headers=dict(extra))
    botocore.auth.S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION).add_auth(request)
    assert ours["authorization"] == request.headers["Authorization"]
    assert ours["x-amz-date"] == request.headers["X-Amz-Date"]
