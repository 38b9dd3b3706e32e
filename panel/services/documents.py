"""Documents attached to a hosting request: PDF letters checked by content, stored by sha256."""
from __future__ import annotations

import io
import re
from typing import BinaryIO

from agents.artifacts import ArtifactStore, ArtifactTooLarge
from panel.i18n import gettext as _

# Active content has no place in a letter: scripts, launch actions, embedded files, forms that submit.
_ACTIVE_PDF = re.compile(rb"/(JavaScript|JS|Launch|EmbeddedFile|SubmitForm|RichMedia|XFA)\b")


class DocumentRefused(ValueError):
    """The upload is not an acceptable PDF; the message says why, in Indonesian."""


def store_pdf(store: ArtifactStore, stream: BinaryIO, max_bytes: int) -> tuple[str, int]:
    """Check that `stream` is a plain PDF within `max_bytes` and store it; return (sha256, size)."""
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise DocumentRefused(_("Berkas lebih besar dari %(size)d MB.", size=max_bytes // (1024 * 1024)))
    if not data.startswith(b"%PDF-"):
        raise DocumentRefused(_("Berkas bukan PDF (isi berkas diperiksa, bukan nama berkasnya)."))
    if b"%%EOF" not in data[-2048:]:
        raise DocumentRefused(_("Berkas PDF tidak utuh (terpotong atau rusak)."))
    if _ACTIVE_PDF.search(data):
        raise DocumentRefused(_("PDF memuat konten aktif (skrip, tautan peluncur atau berkas sisipan)."))
    try:
        return store.put(io.BytesIO(data), max_bytes)
    except ArtifactTooLarge as error:  # pragma: no cover - checked above
        raise DocumentRefused(str(error)) from error
