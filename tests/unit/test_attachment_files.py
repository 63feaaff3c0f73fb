"""What a file attached to a step is, from its bytes alone (services/core/evidence/files.py)."""

from __future__ import annotations

import pytest

from services.core.evidence.files import DOCX, PDF, XLSX, clean_name, sniff_document
from services.core.evidence.images import PhotoRejected
from tests.helpers import make_office, make_pdf


def test_documents_are_known_by_their_content() -> None:
    assert sniff_document(make_pdf()).media_type == PDF[0]
    assert sniff_document(make_office("word/document.xml")).media_type == DOCX[0]
    assert sniff_document(make_office("xl/workbook.xml")).extension == XLSX[1]


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"MZ\x90\x00", 415),
        (b"", 415),
        (make_office("xl/workbook.xml", macros=True), 415),
        (make_office("ppt/presentation.xml"), 415),
        (b"PK\x03\x04garbage", 422),
        (make_pdf()[:-10], 422),
    ],
)
def test_what_is_not_taken(data: bytes, status: int) -> None:
    with pytest.raises(PhotoRejected) as refused:
        sniff_document(data)
    assert refused.value.status == status


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("../../权属说明.exe", "权属说明.pdf"),
        ("C:\\Users\\x\\报告.PDF", "报告.pdf"),
        ("bad\x00name\n.pdf", "badname.pdf"),
        (None, "attachment.pdf"),
        ("...", "attachment.pdf"),
        ("a" * 300 + ".pdf", "a" * 190 + ".pdf"),
    ],
)
def test_names_keep_no_path_and_say_what_the_content_is(given: str | None, expected: str) -> None:
    assert clean_name(given, "pdf") == expected
