"""Reading an uploaded file the same way at every endpoint that takes one: a form field the
endpoint does not take is a 422 naming it (so a client that thinks it can set, say, the
capture time learns it cannot), and the file is read no further than the evidence limit.
Reading a stored one back the same way at every endpoint that serves one."""

from __future__ import annotations

from fastapi import Request, UploadFile

from services.core.evidence.storage import ObjectMissing, StorageError, make_storage
from services.core.platform.settings import Settings

from .problems import Problem

# Fields a client might send in the belief that they set what only the photo's EXIF tells.
_EXIF_FIELDS = frozenset({"taken_at", "gps", "lat", "lon"})


async def read_upload(
    request: Request, file: UploadFile, settings: Settings, fields: frozenset[str]
) -> bytes:
    """The file's bytes, at most one past `DUBAN_EVIDENCE_MAX_BYTES` (one byte more than the
    limit is enough to know it is too large); `fields` are the form fields the endpoint
    takes."""
    extra = sorted(set((await request.form()).keys()) - fields)
    if extra:
        message = (
            "The capture time and place come from the photo's EXIF and cannot be given."
            if extra[0] in _EXIF_FIELDS
            else f"Unknown form field {extra[0]!r}; send only {' and '.join(sorted(fields))}."
        )
        raise Problem(
            422, message, kind="validation", errors=[{"field": extra[0], "message": message}]
        )
    return await file.read(settings.evidence_max_bytes + 1)


async def stored_bytes(settings: Settings, key: str, *, missing: str, what: str) -> bytes:
    """The stored object's bytes: 404 saying `missing` when the object is gone, 503 (retry)
    when the `what` storage does not answer."""
    try:
        return await make_storage(settings).get(key)
    except ObjectMissing as exc:
        raise Problem(404, missing) from exc
    except StorageError as exc:
        raise Problem(
            503, f"The {what} storage is unavailable; retry shortly.", headers={"Retry-After": "5"}
        ) from exc
