"""Documents attached to a hosting request: PDF letters checked by content, stored by sha256.

A letter is parsed (pypdf), not searched as bytes: names written with `#xx` escapes and objects
packed in compressed object streams read the same to the checker as to a PDF viewer. Every object
the file lists, and every object reachable from its trailer, is looked at; one that can run
something (a script, a launch, a form that sends or fetches data, rich media, an embedded file) has
no place in a letter. The parse has budgets of its own, so a crafted file is refused, not waited on.
"""
from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any, BinaryIO

from pypdf import PasswordType, PdfReader, apply_configuration
from pypdf.errors import LimitReachedError
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

from agents.protocol.artifacts import ArtifactStore, ArtifactTooLarge
from panel.i18n import gettext as _
from panel.i18n import lazy_gettext as _l
from panel.models import AttachmentKind
from panel.services.refused import Refused

MAX_OBJECTS = 50_000  # a long scanned letter holds a few thousand
MAX_PAGES = 500
MAX_VISITS = 2_000_000  # dictionary values and array items looked at, all objects together
MAX_SECONDS = 10.0  # a backstop: the budgets above end a crafted file well before this
# Tighter than pypdf's own defaults: a letter's object and cross-reference streams are small.
PARSE_LIMITS: dict[str, int] = {
    "maximum_declared_stream_length": 64 * 1024 * 1024,
    "zlib_maximum_output_length": 16 * 1024 * 1024,
    "lzw_maximum_output_length": 16 * 1024 * 1024,
    "run_length_maximum_output_length": 16 * 1024 * 1024,
    "brotli_maximum_output_length": 16 * 1024 * 1024,
    "stream_decoding_work_maximum_length": 64 * 1024 * 1024,
    "array_maximum_element_count": 100_000,
    "dictionary_maximum_element_count": 10_000,
    "page_tree_maximum_entries": 10_000,
}

# Keys that only exist to carry active content: scripts, embedded files, XFA forms, rich media.
_ACTIVE_KEYS = frozenset({"/JS", "/JavaScript", "/EmbeddedFiles", "/EF", "/XFA", "/RichMediaContent",
                          "/RichMediaSettings"})
# Actions (/S) that run a script, start a program, open another file, or send or fetch form data.
_ACTIVE_ACTIONS = frozenset({"/JavaScript", "/Launch", "/SubmitForm", "/ImportData", "/RichMediaExecute",
                             "/GoToE", "/GoToR", "/Rendition"})
_ACTIVE_TYPES = frozenset({"/EmbeddedFile"})
_ACTIVE_SUBTYPES = frozenset({"/FileAttachment", "/RichMedia", "/Screen", "/Movie", "/Sound", "/3D"})
_ACTIVE_URI_SCHEMES = ("javascript:", "vbscript:", "file:", "data:", "\\\\")


class DocumentRefused(Refused):
    """The upload is not an acceptable PDF; the message says why, in Indonesian."""


class _TooComplex(Exception):
    pass


def store_pdf(store: ArtifactStore, stream: BinaryIO, max_bytes: int) -> tuple[str, int]:
    """Check that `stream` is a plain PDF within `max_bytes` and store it; return (sha256, size)."""
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise DocumentRefused(_("Berkas lebih besar dari %(size)d MB.", size=max_bytes // (1024 * 1024)))
    if not data.startswith(b"%PDF-"):
        raise DocumentRefused(_("Berkas bukan PDF (isi berkas diperiksa, bukan nama berkasnya)."))
    if b"%%EOF" not in data[-2048:]:
        raise DocumentRefused(_("Berkas PDF tidak utuh (terpotong atau rusak)."))
    check_pdf(data)
    try:
        return store.put(io.BytesIO(data), max_bytes)
    except ArtifactTooLarge as error:  # pragma: no cover - checked above
        raise DocumentRefused(str(error)) from error


def check_pdf(data: bytes) -> None:
    """Raise DocumentRefused unless `data` parses as a PDF holding no active content."""
    try:
        with apply_configuration(None, **PARSE_LIMITS):  # None: overwrite the current configuration
            reader = PdfReader(io.BytesIO(data), xref_stream_maximum_entries=MAX_OBJECTS,
                               root_object_recovery_limit=MAX_OBJECTS)
            # Encrypted with an empty user password (a "no editing" letter) still reads; a password does not.
            if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
                raise DocumentRefused(_("PDF dikunci dengan sandi; unggah PDF tanpa sandi."))
            active = _first_active(reader, time.monotonic() + MAX_SECONDS)
            if len(reader.pages) > MAX_PAGES:
                raise _TooComplex
    except DocumentRefused:
        raise
    except (_TooComplex, LimitReachedError, RecursionError, MemoryError) as error:
        raise DocumentRefused(_("PDF terlalu rumit untuk diperiksa (terlalu banyak objek, halaman atau "
                                "data terkompresi); simpan ulang sebagai PDF biasa.")) from error
    except Exception as error:  # noqa: BLE001 - any failure of the parser on a hostile file is a refusal
        raise DocumentRefused(_("PDF tidak dapat dibaca (rusak atau tidak sesuai standar); simpan ulang "
                                "sebagai PDF biasa.")) from error
    if active is not None:
        raise DocumentRefused(_("PDF memuat konten aktif (%(what)s): surat tidak boleh berisi skrip, "
                                "tautan peluncur, formulir yang mengirim data atau berkas sisipan.",
                                what=active))


def _listed_objects(reader: PdfReader) -> Iterator[IndirectObject]:
    # Objects the cross-reference lists, whether or not anything refers to them.
    for generation, entries in reader.xref.items():
        for number in entries:
            yield IndirectObject(number, generation, reader)
    for number in reader.xref_objStm:
        yield IndirectObject(number, 0, reader)


def _first_active(reader: PdfReader, deadline: float) -> str | None:
    """Return the first active content found in any object of `reader`, or None."""
    listed = list(_listed_objects(reader))
    if len(listed) > MAX_OBJECTS:
        raise _TooComplex
    pending: list[Any] = [reader.trailer, *listed]
    seen: set[tuple[int, int]] = set()
    visits = 0
    while pending:
        item = pending.pop()
        visits += 1
        if visits > MAX_VISITS or visits % 1024 == 0 and time.monotonic() > deadline:
            raise _TooComplex
        if isinstance(item, IndirectObject):
            if (item.idnum, item.generation) in seen:
                continue
            seen.add((item.idnum, item.generation))
            if len(seen) > MAX_OBJECTS:
                raise _TooComplex
            item = item.get_object()
        if isinstance(item, DictionaryObject):  # stream dictionaries included
            found = _active_in(item)
            if found is not None:
                return found
            pending.extend(dict.values(item))  # unresolved: references are followed once, above
        elif isinstance(item, ArrayObject):
            pending.extend(list.__iter__(item))
    return None


def _active_in(dictionary: DictionaryObject) -> str | None:
    for key in dictionary:
        if key in _ACTIVE_KEYS:
            return str(key)
    action, kind, subtype = (_resolved(dictionary, key) for key in ("/S", "/Type", "/Subtype"))
    for value, active in ((action, _ACTIVE_ACTIONS), (kind, _ACTIVE_TYPES), (subtype, _ACTIVE_SUBTYPES)):
        if isinstance(value, str) and value in active:
            return value
    uri = _resolved(dictionary, "/URI")
    if action == "/URI" and isinstance(uri, (str, bytes)):
        text = (uri.decode("latin-1") if isinstance(uri, bytes) else uri).strip().lower()
        if text.startswith(_ACTIVE_URI_SCHEMES):
            return "/URI " + text.split(":", 1)[0]
    return None


def _resolved(dictionary: DictionaryObject, key: str) -> Any:
    value = dictionary.get(key)
    return value.get_object() if isinstance(value, IndirectObject) else value


LABELS = {
    AttachmentKind.REQUEST_LETTER: _l("Surat permohonan"),
    AttachmentKind.RECOMMENDATION: _l("Rekomendasi Tim Teknis"),
    AttachmentKind.APPOINTMENT_LETTER: _l("Surat penunjukan pengelola aplikasi"),
    AttachmentKind.INSTALL_GUIDE: _l("Petunjuk instalasi"),
    AttachmentKind.SCAN_REPORT: _l("Laporan pemindaian"),
    AttachmentKind.HOSTING_REPORT: _l("Surat laporan hosting"),
    AttachmentKind.RESPONSE_LETTER: _l("Surat tanggapan"),
}
