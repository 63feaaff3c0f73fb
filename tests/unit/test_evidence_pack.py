"""The evidence pack's seal: every byte of a signed pack counts. Pure: a small pack sealed in
memory with a key made here."""

from __future__ import annotations

import io
import zipfile

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.core.accountability.pack import MANIFEST, MANIFEST_SIG, seal, verify
from tests.helpers import flip_byte

KEY = Ed25519PrivateKey.generate()
FILES = {
    "report.html": "<p>督办证据包 第2级督办 批示：限期整改</p>".encode(),
    "rows/events.csv": "\ufefffinding_id,at,action\nx,2026-11-09T10:00:00+08:00,report\n".encode(),
    "photos/f/before-1.jpg": bytes(range(256)),
}
HEADER = {"subject": {"kind": "finding", "finding": "x"}, "generated_by": "discipline"}


def test_a_sealed_pack_verifies_and_lists_its_files() -> None:
    pack = seal(FILES, HEADER, KEY)
    result = verify(pack, KEY.public_key())
    assert result.ok, result.problems
    assert result.files == len(FILES)
    with zipfile.ZipFile(io.BytesIO(pack)) as zf:
        assert set(zf.namelist()) == {*FILES, MANIFEST, MANIFEST_SIG}
        assert all(zf.read(name) == data for name, data in FILES.items())


def test_every_single_altered_byte_fails_and_never_raises() -> None:
    pack = seal(FILES, HEADER, KEY)
    passed = [at for at in range(len(pack)) if verify(flip_byte(pack, at), KEY.public_key()).ok]
    assert passed == []


def test_cut_short_extended_or_foreign_keyed_packs_fail() -> None:
    pack = seal(FILES, HEADER, KEY)
    assert not verify(pack[:-1], KEY.public_key()).ok
    assert not verify(pack + b"\0", KEY.public_key()).ok
    assert not verify(b"", KEY.public_key()).ok
    assert not verify(pack, Ed25519PrivateKey.generate().public_key()).ok
    # Signed by another key altogether: the manifest and the archive both say so.
    other = verify(seal(FILES, HEADER, Ed25519PrivateKey.generate()), KEY.public_key())
    assert len(other.problems) == 2
