"""Files attached to a step (PDF, Word and Excel documents), pure and synchronous: what the
bytes are, by their content alone, and whether we take them. Photos attached to a step go
through `images.process` like evidence (re-encoded, no metadata)."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

from services.core.evidence.images import PhotoRejected

PDF = ("application/pdf", "pdf")
DOCX = ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx")
XLSX = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx")
# An Office Open XML package names its parts in [Content_Types].xml; its main part says what
# it is. Macros live in vbaProject.bin (a .docm or .xlsm renamed): never taken.
_MAIN_PARTS = {"word/document.xml": DOCX, "xl/workbook.xml": XLSX}
_MACROS = "vbaproject.bin"
# A document names a few hundred parts at most; this many is a crafted archive.
MAX_PARTS = 10_000
ACCEPTED = "PDF, Word (.docx) or Excel (.xlsx) documents, or JPEG, PNG or WebP photos"


@dataclass(frozen=True)
class Document:
    media_type: str
    extension: str


def sniff_document(data: bytes) -> Document:
    """The document type by its content, or PhotoRejected (415 not one we take, 422 broken)."""
    if data.startswith(b"%PDF-"):
        if b"%%EOF" not in data[-2048:]:
            raise PhotoRejected(422, "The PDF is truncated (no end-of-file marker).")
        return Document(*PDF)
    if data.startswith(b"PK\x03\x04"):
        return _office(data)
    raise PhotoRejected(415, f"Send {ACCEPTED}; these bytes are none of them.")


def _office(data: bytes) -> Document:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise PhotoRejected(422, f"The document cannot be read: {exc}.") from exc
    if len(names) > MAX_PARTS:
        raise PhotoRejected(422, "The document has too many parts.")
    lowered = {n.lower() for n in names}
    if "[content_types].xml" not in lowered:
        raise PhotoRejected(415, f"Send {ACCEPTED}; this archive is not an Office document.")
    if any(n.rsplit("/", 1)[-1] == _MACROS for n in lowered):
        raise PhotoRejected(415, "Documents with macros (.docm, .xlsm) are not accepted.")
    for part, kind in _MAIN_PARTS.items():
        if part in lowered:
            return Document(*kind)
    raise PhotoRejected(415, f"Send {ACCEPTED}; this Office document is of another kind.")


def clean_name(name: str | None, extension: str) -> str:
    """The name the uploader gave, without any path or control character, at most 200
    characters, ending in the extension its content has (a PDF called .exe is shown as .pdf)."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip(" .")
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return f"{stem[:190] or 'attachment'}.{extension}"
