"""Real photos for the tests, made with Pillow: EXIF capture time, GPS and orientation as a
phone writes them; every photo is different (random shapes), so no two share a sha256."""

from __future__ import annotations

import io
import random
import struct
import zlib
from datetime import datetime
from typing import Any

from httpx import AsyncClient
from PIL import Image, ImageDraw

EXIF_IFD, GPS_IFD, ORIENTATION = 0x8769, 0x8825, 0x0112
DATETIME_ORIGINAL, OFFSET_TIME_ORIGINAL = 0x9003, 0x9011


def _dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round((value - degrees - minutes / 60) * 3600, 4)
    return float(degrees), float(minutes), seconds


def exif_block(
    taken_at: datetime | None = None,
    gps: tuple[float, float] | None = None,
    orientation: int | None = None,
    with_offset: bool = True,
) -> Image.Exif:
    exif = Image.Exif()
    if orientation is not None:
        exif[ORIENTATION] = orientation
    if taken_at is not None:
        ifd = exif.get_ifd(EXIF_IFD)
        ifd[DATETIME_ORIGINAL] = taken_at.strftime("%Y:%m:%d %H:%M:%S")
        offset = taken_at.strftime("%z")
        if with_offset and offset:
            ifd[OFFSET_TIME_ORIGINAL] = f"{offset[:3]}:{offset[3:]}"
    if gps is not None:
        lat, lon = gps
        ifd = exif.get_ifd(GPS_IFD)
        ifd[1] = "N" if lat >= 0 else "S"
        ifd[2] = _dms(lat)
        ifd[3] = "E" if lon >= 0 else "W"
        ifd[4] = _dms(lon)
    return exif


def picture(width: int, height: int) -> Image.Image:
    rng = random.Random()
    im = Image.new("RGB", (width, height), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(im)
    for _ in range(12):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        box = (x0, y0, x0 + rng.randrange(1, width), y0 + rng.randrange(1, height))
        draw.rectangle(box, fill=tuple(rng.randrange(256) for _ in range(3)))
    return im


def make_jpeg(
    width: int = 96,
    height: int = 64,
    *,
    taken_at: datetime | None = None,
    gps: tuple[float, float] | None = None,
    orientation: int | None = None,
    with_offset: bool = True,
    quality: int = 85,
    **extra: Any,
) -> bytes:
    buffer = io.BytesIO()
    exif = exif_block(taken_at, gps, orientation, with_offset)
    picture(width, height).save(buffer, "JPEG", exif=exif, quality=quality, **extra)
    return buffer.getvalue()


def make_png(width: int = 80, height: int = 60) -> bytes:
    buffer = io.BytesIO()
    picture(width, height).save(buffer, "PNG")
    return buffer.getvalue()


def png_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A 1-bit PNG declaring width x height pixels whose zeros deflate to kilobytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    deflate = zlib.compressobj(9)
    idat = b"".join(deflate.compress(row) for _ in range(height)) + deflate.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


async def upload(
    client: AsyncClient,
    headers: dict[str, str],
    finding_id: str,
    data: bytes,
    *,
    kind: str = "after",
    filename: str = "photo.jpg",
    content_type: str = "image/jpeg",
) -> Any:
    return await client.post(
        f"/api/v1/findings/{finding_id}/evidence",
        headers=headers,
        data={"kind": kind},
        files={"file": (filename, data, content_type)},
    )


async def attach_after_photo(
    client: AsyncClient, headers: dict[str, str], finding_id: str, **photo: Any
) -> dict[str, Any]:
    """Upload a fresh after-photo (so the unit may submit) and return its metadata."""
    r = await upload(client, headers, finding_id, make_jpeg(**photo))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body
