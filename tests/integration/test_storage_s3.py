"""S3-compatible storage against a real S3 endpoint on loopback (moto's server), and the
request signature checked against botocore's implementation of Signature V4."""

from __future__ import annotations

import io
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from httpx import AsyncClient
from moto.server import ThreadedMotoServer
from PIL import Image
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.evidence.storage import make_storage
from services.core.models import Evidence
from services.core.platform.settings import Settings
from tests.helpers import Login, post
from tests.photos import make_jpeg, upload

ACCESS_KEY, SECRET_KEY, REGION = (
    "AKIDEXAMPLE",
    "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "cn-north-1",
)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )


@pytest.fixture
def bucket(s3_endpoint: str, settings: Settings) -> str:
    """A fresh bucket, and the app's settings pointed at it."""
    name = f"duban-{uuid.uuid4().hex[:12]}"
    s3_client(s3_endpoint).create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    settings.s3_endpoint = s3_endpoint
    settings.s3_bucket = name
    settings.s3_region = REGION
    settings.s3_access_key_id = ACCESS_KEY
    settings.s3_secret_access_key = SecretStr(SECRET_KEY)
    return name


def keys_in(endpoint: str, bucket: str) -> list[str]:
    listing = s3_client(endpoint).list_objects_v2(Bucket=bucket)
    return [o["Key"] for o in listing.get("Contents", [])]


async def rows(factory: async_sessionmaker[AsyncSession]) -> int:
    async with factory() as session:
        return (await session.execute(select(func.count()).select_from(Evidence))).scalar_one()


async def test_upload_lands_in_the_bucket_and_is_served_from_it(
    client: AsyncClient, login: Login, settings: Settings, s3_endpoint: str, bucket: str
) -> None:
    inspector = await login("inspector")
    f = await post(client, inspector)
    r = await upload(client, inspector, f["id"], make_jpeg(gps=(36.0571, 120.3466)), kind="before")
    assert r.status_code == 201, r.text
    e = r.json()
    key = f"evidence/{f['id']}/{e['id']}.jpg"
    assert keys_in(s3_endpoint, bucket) == [key]
    assert not settings.media_path.exists()  # nothing went to the local directory

    obj = s3_client(s3_endpoint).get_object(Bucket=bucket, Key=key)
    assert obj["ContentType"] == "image/jpeg"
    stored = obj["Body"].read()
    with Image.open(io.BytesIO(stored)) as im:
        assert im.format == "JPEG"
        assert not im.getexif()
    served = await client.get(e["links"]["content"], headers=inspector)
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    assert served.content == stored

    await make_storage(settings).delete(key)
    assert keys_in(s3_endpoint, bucket) == []
    gone = await client.get(e["links"]["content"], headers=inspector)
    assert gone.status_code == 404


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.mark.parametrize("failure", ["no-such-bucket", "unreachable"])
async def test_when_the_bucket_refuses_there_is_no_row(
    client: AsyncClient,
    login: Login,
    settings: Settings,
    factory: async_sessionmaker[AsyncSession],
    s3_endpoint: str,
    bucket: str,
    failure: str,
) -> None:
    if failure == "no-such-bucket":
        settings.s3_bucket = f"missing-{uuid.uuid4().hex[:8]}"
    else:
        settings.s3_endpoint = f"http://127.0.0.1:{_closed_port()}"
    inspector = await login("inspector")
    f = await post(client, inspector)
    r = await upload(client, inspector, f["id"], make_jpeg(), kind="before")
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await rows(factory) == 0
    assert keys_in(s3_endpoint, bucket) == []
