"""Photo handling, pure and synchronous: sniff the format, enforce the limits, read the EXIF
capture time and GPS, and re-encode the pixels without any metadata.

CPU-bound (bench/ANALYSIS.md §15): callers run `process` off the event loop.
"""

from __future__ import annotations

import hashlib
import io
import math
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

from PIL import Image, ImageOps

# Formats accepted, by what the bytes say they are: (media type, file extension).
FORMATS: dict[str, tuple[str, str]] = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "WEBP": ("image/webp", "webp"),
}
# What Pillow may call each: phones write MPO (a JPEG followed by more JPEGs, e.g. depth).
_PILLOW_NAMES = {"JPEG": ("JPEG", "MPO"), "PNG": ("PNG",), "WEBP": ("WEBP",)}

# EXIF tags (CIPA DC-008).
_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_DATETIME_ORIGINAL = 0x9003
_OFFSET_TIME_ORIGINAL = 0x9011
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON = 1, 2, 3, 4

JPEG_QUALITY = 88


class PhotoRejected(Exception):
    """The bytes are not a photo we accept; `status` is the HTTP answer (413, 415 or 422)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_pixels: int


@dataclass(frozen=True)
class Photo:
    sha256: str  # of the original bytes, as uploaded
    media_type: str
    extension: str
    width: int  # after applying the EXIF orientation
    height: int
    taken_at: datetime | None
    gps: tuple[float, float] | None  # (lat, lon), WGS84 decimal degrees
    encoded: bytes  # the re-encoded image, without metadata


def sniff(data: bytes) -> str | None:
    """The format by its magic number; the file name and declared type are never trusted."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def process(data: bytes, limits: Limits, city_tz: tzinfo) -> Photo:
    """Check, read and re-encode one uploaded photo, or raise PhotoRejected."""
    if len(data) > limits.max_bytes:
        raise PhotoRejected(413, f"The photo is larger than {limits.max_bytes} bytes.")
    fmt = sniff(data)
    if fmt is None:
        raise PhotoRejected(415, "Send a JPEG, PNG or WebP photo; these bytes are none of them.")
    with warnings.catch_warnings():
        # Pillow only warns between its own limit and twice it; a warning is a refusal here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return _process(data, fmt, limits, city_tz)
        except PhotoRejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise PhotoRejected(422, f"The image declares too many pixels ({exc}).") from exc
        except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
            # Truncated or corrupt data, or a format variant Pillow cannot decode.
            raise PhotoRejected(422, f"The {fmt} image cannot be decoded: {exc}.") from exc


def _process(data: bytes, fmt: str, limits: Limits, city_tz: tzinfo) -> Photo:
    # Opening reads only the header; the size is known before any pixel is decoded.
    with Image.open(io.BytesIO(data), formats=[fmt]) as im:
        if im.format not in _PILLOW_NAMES[fmt]:
            raise PhotoRejected(415, "The image format does not match its content.")
        width, height = im.size
        if width * height > limits.max_pixels:
            raise PhotoRejected(
                422,
                f"The image has {width}x{height} = {width * height} pixels; "
                f"at most {limits.max_pixels} are accepted.",
            )
        exif = im.getexif()
        taken_at = _taken_at(exif, city_tz)
        gps = _gps(exif)
        # A truncated file raises here (Pillow's LOAD_TRUNCATED_IMAGES stays off).
        im.load()
        upright = ImageOps.exif_transpose(im)
        encoded = _encode(upright, fmt, im.info.get("icc_profile"))
        media_type, extension = FORMATS[fmt]
        return Photo(
            sha256=hashlib.sha256(data).hexdigest(),
            media_type=media_type,
            extension=extension,
            width=upright.width,
            height=upright.height,
            taken_at=taken_at,
            gps=gps,
            encoded=encoded,
        )


def _encode(im: Image.Image, fmt: str, icc_profile: bytes | None) -> bytes:
    """The pixels alone: no EXIF, XMP, comments or text chunks (GPS and device ids leak
    through them). The colour profile is kept, it is part of what the pixels mean."""
    has_alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
    if im.mode.startswith("I"):
        # 16-bit greyscale (PNG): scaled to 8 bits, where a plain convert would clip to white.
        im = im.convert("I").point(lambda v: v / 256).convert("L")
    elif im.mode == "F":
        im = im.convert("L")
    if fmt == "JPEG":
        out = im if im.mode in ("L", "RGB", "CMYK") else im.convert("RGB")
    elif fmt == "PNG":
        out = im.convert("RGBA" if has_alpha else ("L" if im.mode in ("1", "L") else "RGB"))
    else:
        out = im.convert("RGBA" if has_alpha else "RGB")
    # The encoders fall back to `info` for comments and the like. `im` is already the private
    # copy made by exif_transpose, so emptying it in place is safe.
    out.info = {}
    buffer = io.BytesIO()
    options: dict[str, Any] = {}
    if icc_profile:
        options["icc_profile"] = icc_profile
    if fmt == "JPEG":
        out.save(buffer, "JPEG", quality=JPEG_QUALITY, **options)
    elif fmt == "PNG":
        out.save(buffer, "PNG", compress_level=6, **options)
    else:
        out.save(buffer, "WEBP", quality=JPEG_QUALITY, method=4, **options)
    return buffer.getvalue()


def _taken_at(exif: Image.Exif, city_tz: tzinfo) -> datetime | None:
    """DateTimeOriginal, in the zone OffsetTimeOriginal names, else the city's zone (cameras
    keep local time)."""
    ifd = exif.get_ifd(_EXIF_IFD)
    raw = ifd.get(_DATETIME_ORIGINAL)
    if not isinstance(raw, str):
        return None
    try:
        naive = datetime.strptime(raw.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    offset = _offset(ifd.get(_OFFSET_TIME_ORIGINAL))
    return naive.replace(tzinfo=offset if offset is not None else city_tz)


def _offset(raw: object) -> tzinfo | None:
    if not isinstance(raw, str):
        return None
    text = raw.strip("\x00 ")
    if len(text) != 6 or text[0] not in "+-" or text[3] != ":":
        return None
    try:
        hours, minutes = int(text[1:3]), int(text[4:6])
    except ValueError:
        return None
    if hours > 14 or minutes > 59:
        return None
    sign = -1 if text[0] == "-" else 1
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _gps(exif: Image.Exif) -> tuple[float, float] | None:
    ifd = exif.get_ifd(_GPS_IFD)
    lat = _degrees(ifd.get(_GPS_LAT), ifd.get(_GPS_LAT_REF), "N", "S", 90)
    lon = _degrees(ifd.get(_GPS_LON), ifd.get(_GPS_LON_REF), "E", "W", 180)
    if lat is None or lon is None:
        return None
    return lat, lon


def _degrees(dms: object, ref: object, positive: str, negative: str, bound: float) -> float | None:
    """(degrees, minutes, seconds) rationals and a hemisphere letter → signed decimal degrees."""
    if not isinstance(dms, tuple) or len(dms) != 3:
        return None
    try:
        d, m, s = (float(part) for part in dms)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    value = d + m / 60 + s / 3600
    if not math.isfinite(value) or not 0 <= value <= bound:
        return None
    hemisphere = ref.strip("\x00 ").upper() if isinstance(ref, str) else ""
    if hemisphere == negative:
        return -value
    if hemisphere == positive:
        return value
    return None


EARTH_RADIUS_M = 6_371_008.8


def haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in metres between two (lat, lon) points."""
    lat1, lon1, lat2, lon2 = (math.radians(v) for v in (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))
