"""Where the photos' bytes live: a directory (the default) or an S3-compatible bucket.

Both sit behind one small interface (put, get, delete by key). The S3 client is a minimal
Signature V4 client over httpx: three verbs on single objects do not justify an SDK.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qsl, quote, urlsplit

import httpx

from services.core.platform.settings import Settings

# Keys are made by duban ("evidence/<finding>/<evidence>.jpg"); anything else is a bug.
_KEY = re.compile(r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)*$")
UNSIGNED_EMPTY = hashlib.sha256(b"").hexdigest()


class StorageError(Exception):
    """The backend failed; the caller answers 503 and stores nothing."""


class ObjectMissing(StorageError):
    """No object under the key."""


class Storage(Protocol):
    name: str

    async def put(self, key: str, data: bytes, media_type: str) -> None: ...

    async def get(self, key: str) -> bytes: ...

    async def delete(self, key: str) -> None: ...


def _check_key(key: str) -> str:
    if not _KEY.fullmatch(key) or ".." in key:
        raise ValueError(f"not a storage key: {key!r}")
    return key


class LocalStorage:
    """Files under one directory; writes are atomic (temporary file, then rename)."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    async def put(self, key: str, data: bytes, media_type: str) -> None:
        await asyncio.to_thread(self._put, self._path(key), data)

    @staticmethod
    def _put(path: Path, data: bytes) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StorageError(f"cannot write {path.name}: {exc.strerror}") from exc

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as exc:
            raise ObjectMissing(key) from exc
        except OSError as exc:
            raise StorageError(f"cannot read {key}: {exc.strerror}") from exc

    async def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            await asyncio.to_thread(path.unlink, True)
        except OSError as exc:
            raise StorageError(f"cannot delete {key}: {exc.strerror}") from exc


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sigv4_headers(
    method: str,
    url: str,
    *,
    payload_sha256: str,
    access_key: str,
    secret_key: str,
    region: str,
    now: datetime,
    extra: dict[str, str] | None = None,
    service: str = "s3",
) -> dict[str, str]:
    """The headers that authenticate one request with AWS Signature Version 4 (header form).

    `url` must already be percent-encoded the way it is sent; its path is the canonical URI
    as is (S3 does not normalise or double-encode paths)."""
    parts = urlsplit(url)
    amz_date = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    headers = {
        "host": parts.netloc,
        "x-amz-content-sha256": payload_sha256,
        "x-amz-date": amz_date,
        **{k.lower(): v for k, v in (extra or {}).items()},
    }
    names = sorted(headers)
    canonical_headers = "".join(f"{n}:{' '.join(headers[n].split())}\n" for n in names)
    signed = ";".join(names)
    pairs = sorted(parse_qsl(parts.query, keep_blank_values=True))
    query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)
    canonical_request = "\n".join(
        [method, parts.path or "/", query, canonical_headers, signed, payload_sha256]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            amz_date,
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = _hmac(("AWS4" + secret_key).encode(), day)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
    return headers


class S3Storage:
    """Objects in one bucket of an S3-compatible service."""

    name = "s3"

    def __init__(
        self,
        *,
        endpoint: str,
        bucket: str,
        region: str,
        access_key: str | None,
        secret_key: str | None,
        path_style: bool = True,
        timeout: float = 30,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.bucket = bucket
        self.region = region
        self.access_key = access_key
        self.secret_key = secret_key
        self.path_style = path_style
        self.timeout = timeout

    def url(self, key: str) -> str:
        path = quote(_check_key(key), safe="/-_.~")
        if self.path_style:
            return f"{self.endpoint}/{quote(self.bucket, safe='')}/{path}"
        scheme, host = self.endpoint.split("://", 1)
        return f"{scheme}://{self.bucket}.{host}/{path}"

    async def _send(
        self, method: str, key: str, body: bytes = b"", media_type: str | None = None
    ) -> httpx.Response:
        url = self.url(key)
        digest = hashlib.sha256(body).hexdigest() if body else UNSIGNED_EMPTY
        extra = {"content-type": media_type} if media_type else {}
        if self.access_key and self.secret_key:
            headers = sigv4_headers(
                method,
                url,
                payload_sha256=digest,
                access_key=self.access_key,
                secret_key=self.secret_key,
                region=self.region,
                now=datetime.now(UTC),
                extra=extra,
            )
        else:
            headers = {"x-amz-content-sha256": digest, **extra}
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                return await client.request(method, url, content=body or None, headers=headers)
        except httpx.HTTPError as exc:
            raise StorageError(f"S3 {method} failed: {type(exc).__name__}") from exc

    @staticmethod
    def _failure(method: str, response: httpx.Response) -> StorageError:
        code = re.search(r"<Code>([^<]{1,64})</Code>", response.text)
        reason = code[1] if code else response.reason_phrase
        return StorageError(f"S3 {method} answered {response.status_code} {reason}")

    async def put(self, key: str, data: bytes, media_type: str) -> None:
        response = await self._send("PUT", key, data, media_type)
        if response.status_code != 200:
            raise self._failure("PUT", response)

    async def get(self, key: str) -> bytes:
        response = await self._send("GET", key)
        if response.status_code == 404:
            raise ObjectMissing(key)
        if response.status_code != 200:
            raise self._failure("GET", response)
        return response.content

    async def delete(self, key: str) -> None:
        response = await self._send("DELETE", key)
        if response.status_code not in (200, 204, 404):
            raise self._failure("DELETE", response)


def make_storage(settings: Settings) -> Storage:
    """S3 when a bucket is configured, else the media directory."""
    if settings.s3_bucket:
        endpoint = settings.s3_endpoint or f"https://s3.{settings.s3_region}.amazonaws.com"
        secret = settings.s3_secret_access_key
        return S3Storage(
            endpoint=endpoint,
            bucket=settings.s3_bucket,
            region=settings.s3_region,
            access_key=settings.s3_access_key_id,
            secret_key=secret.get_secret_value() if secret else None,
            path_style=settings.s3_path_style,
        )
    return LocalStorage(settings.media_path)
