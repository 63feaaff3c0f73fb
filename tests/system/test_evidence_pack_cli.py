"""The evidence pack outside the server: `duban verify-pack FILE` as a process (exit 0 for a
pack as signed, 1 naming the change for one altered byte), and the report's PDF rendered by
poppler's pdftoppm with its Chinese text (skipped without poppler-utils, which `make test`
installs: tests/system/packages.sh)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from services.core.accountability import report
from services.core.accountability.pack import (
    EscalationFacts,
    EventFacts,
    Facts,
    FindingFacts,
    PhotoFacts,
    Receipt,
    Subject,
    csv_files,
    seal,
)
from services.core.platform.keys import pack_signing_key
from services.core.platform.settings import Settings
from tests.helpers import flip_byte, member_offset
from tests.photos import make_jpeg

DUBAN = str(Path(sys.executable).parent / "duban")
TZ = ZoneInfo("Asia/Shanghai")
INSTRUCTION = "请八大关街道三日内清运完毕"
WITHIN = 120.0


def t(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=TZ)


def facts() -> Facts:
    fid = uuid.UUID("0193b2c4-5f1e-7c3a-9a51-2d9b8f3e4a10")
    photo = make_jpeg(320, 240, taken_at=t(9, 9), gps=(36.0571, 120.3466))
    finding = FindingFacts(
        fid, "居庸关路垃圾堆放未清运", "暴露垃圾", "inspection", "市南区八大关 居庸关路",
        "八大关街道", "accepted", None, t(2, 9), t(4, 17), None,
        events=[EventFacts(t(2, 9), "report", None, "assigned", "inspector", None),
                EventFacts(t(9, 14), "acknowledge", "accepted", "accepted", "leader.shinan",
                           INSTRUCTION)],
        escalations=[EscalationFacts(
            7, 2, t(9, 10), "overdue", "示例·市南区委书记", "市南区委书记", "市南区", t(9, 14),
            "leader.shinan", INSTRUCTION, t(12, 17),
            [Receipt("示例·市南区委书记", "inbox", "sent", t(9, 10), None, t(9, 11))],
        )],
        photos=[PhotoFacts(uuid.uuid4(), "before", "ab" * 32, ["far"], t(9, 9), t(9, 9),
                           "image/jpeg", "k", f"photos/{fid}/before-1.jpg", photo)],
    )  # fmt: skip
    return Facts(
        Subject("finding", finding=fid), "问题 0193b2c4", t(30, 9), "discipline", [finding]
    )


def sealed(data_dir: Path) -> bytes:
    f = facts()
    files = {
        "report.html": report.html(f, TZ),
        "report.pdf": report.pdf(f, TZ, None),
        **csv_files(f),
        **{p.path: p.data for p in f.findings[0].photos if p.data},
    }
    key = pack_signing_key(Settings(data_dir=data_dir))
    return seal(files, {"subject": {"kind": "finding"}}, key)


def verify_pack(data_dir: Path, path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    return subprocess.run(
        [DUBAN, "verify-pack", str(path)],
        env=env | {"DUBAN_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=WITHIN,
        check=False,
    )


@pytest.mark.slow(seconds=35)
def test_duban_verify_pack_passes_a_pack_as_signed_and_fails_one_altered_byte(
    tmp_path: Path,
) -> None:
    pack = sealed(tmp_path)
    good = tmp_path / "pack.zip"
    good.write_bytes(pack)
    done = verify_pack(tmp_path, good)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK" in done.stdout
    bad = tmp_path / "altered.zip"
    bad.write_bytes(flip_byte(pack, member_offset(pack, "report.pdf") + 100))
    done = verify_pack(tmp_path, bad)
    assert done.returncode == 1, done.stdout + done.stderr
    # Both the archive's signature and the file it lands in say so.
    assert "the archive's signature does not verify" in done.stdout
    assert "  - report.pdf: " in done.stdout
    # Another installation (another data dir, another key) does not vouch for it.
    other = tmp_path / "other"
    other.mkdir()
    assert verify_pack(other, good).returncode == 1
    missing = verify_pack(tmp_path, tmp_path / "nosuch.zip")
    assert missing.returncode == 2
    assert "cannot read" in missing.stderr


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")
def test_the_pdf_renders_with_its_chinese_text(tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(report.pdf(facts(), TZ, None))
    subprocess.run(
        ["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
        check=True,
        timeout=WITHIN,
    )
    (page,) = tmp_path.glob("page*.png")
    with Image.open(page) as image:
        inked = sum(image.convert("L").histogram()[:128])
    assert inked > 2_000, "the page rendered blank"
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True,
        timeout=WITHIN,
    ).stdout  # fmt: skip
    for words in ("督办证据包", "第2级督办", INSTRUCTION, "位置偏离", "八大关街道"):
        assert words in text, words
    fonts = subprocess.run(
        ["pdffonts", str(pdf)], capture_output=True, text=True, check=True, timeout=WITHIN
    ).stdout
    if any(p.is_file() for p in report.FONT_CANDIDATES):
        # The glyphs travel with the PDF: a reader without Chinese fonts shows them too.
        assert "WenQuanYi" in fonts or "Droid" in fonts or "AR PL" in fonts, fonts
