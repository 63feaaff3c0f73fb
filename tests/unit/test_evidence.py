"""Photo evidence as values: EXIF positions, distances on the sphere, and the encodings
accepted and stripped."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from services.core.evidence.images import Limits, PhotoRejected, haversine_m, process
from tests.helpers import LAT, LON, TZ
from tests.photos import exif_block, make_jpeg, make_png

PLACE = (LAT, LON)  # where tests.helpers.body() reports


def _encoded(im: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, fmt, **options)
    return buffer.getvalue()


def _sixteen_bit_grey() -> bytes:
    ramp = Image.linear_gradient("L").resize((64, 8)).convert("I").point(lambda v: v * 257)
    return _encoded(ramp.convert("I;16"), "PNG")


def _png_with_text() -> bytes:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Author", "inspector 0042")
    return _encoded(Image.new("P", (40, 20)), "PNG", pnginfo=info, transparency=0)


def _mpo() -> bytes:
    # What some phones write: the photo, then a second JPEG (depth map, preview).
    second = Image.new("RGB", (40, 20), (9, 9, 9))
    return _encoded(
        Image.new("RGB", (40, 20), (200, 10, 10)),
        "MPO",
        save_all=True,
        append_images=[second],
    )


MPO = _mpo()


def test_exif_gps_hemispheres_and_offsets() -> None:
    limits = Limits(max_bytes=10**7, max_pixels=4 * 10**7)
    taken = datetime(2026, 3, 1, 23, 30, tzinfo=ZoneInfo("America/Sao_Paulo"))
    photo = process(make_jpeg(taken_at=taken, gps=(-22.9068, -43.1729)), limits, TZ)
    assert photo.gps is not None
    assert photo.gps[0] == pytest.approx(-22.9068, abs=1e-6)
    assert photo.gps[1] == pytest.approx(-43.1729, abs=1e-6)
    assert photo.taken_at == taken
    assert photo.taken_at is not None
    assert photo.taken_at.utcoffset() == timedelta(hours=-3)
    # No OffsetTimeOriginal: the camera's clock is read in the city's zone.
    local = datetime(2026, 11, 26, 8, 0, tzinfo=TZ)
    assert process(make_jpeg(taken_at=local, with_offset=False), limits, TZ).taken_at == local
    bare = process(make_jpeg(), limits, TZ)
    assert (bare.taken_at, bare.gps) == (None, None)
    with pytest.raises(PhotoRejected) as refused:
        process(make_png(300, 200), Limits(max_bytes=10**7, max_pixels=300 * 200 - 1), TZ)
    assert refused.value.status == 422


def test_haversine_against_known_distances() -> None:
    # One thousandth of a degree of latitude is ~111 m everywhere.
    assert haversine_m((36.0, 120.0), (36.001, 120.0)) == pytest.approx(111.2, abs=0.2)
    # Qingdao to Beijing (city centres), ~550 km.
    assert haversine_m((36.0671, 120.3826), (39.9042, 116.4074)) == pytest.approx(550_000, rel=0.02)


@pytest.mark.parametrize(
    ("data", "media_type", "mode"),
    [
        (_encoded(Image.new("RGBA", (40, 20), (1, 2, 3, 100)), "WEBP"), "image/webp", "RGBA"),
        (
            _encoded(Image.new("RGB", (40, 20)), "WEBP", exif=exif_block(gps=PLACE)),
            "image/webp",
            "RGB",
        ),
        (MPO, "image/jpeg", "RGB"),
        (_encoded(Image.new("CMYK", (40, 20)), "JPEG"), "image/jpeg", "CMYK"),
        (_sixteen_bit_grey(), "image/png", "L"),
        (_png_with_text(), "image/png", "RGBA"),
    ],
    ids=["webp-alpha", "webp-exif", "mpo", "cmyk-jpeg", "png-16-bit", "png-text-transparency"],
)
def test_other_encodings_are_accepted_and_stripped(data: bytes, media_type: str, mode: str) -> None:
    if data == MPO:
        with Image.open(io.BytesIO(data)) as original:
            assert original.format == "MPO"
    photo = process(data, Limits(max_bytes=10**7, max_pixels=4 * 10**7), TZ)
    assert photo.media_type == media_type
    with Image.open(io.BytesIO(photo.encoded)) as im:
        assert im.mode == mode
        assert not im.getexif()
        assert set(im.info) <= {
            "dpi",
            "jfif",
            "jfif_version",
            "jfif_unit",
            "jfif_density",
            "adobe",
            "adobe_transform",
            "loop",
            "background",
            "duration",
            "timestamp",
        }, im.info
        if mode == "L":
            # Scaled down from 16 bits, not clipped to white.
            low, high = im.getextrema()
            assert isinstance(low, int)
            assert isinstance(high, int)
            assert high - low > 100
