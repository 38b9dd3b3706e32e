"""Hand-built PDFs for the letter checks: well-formed files, and hostile ones a viewer would still open."""
from __future__ import annotations

import zlib

PAGE = b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>"


def build(objects: dict[int, bytes], *, packed: frozenset[int] = frozenset(), root: int = 1,
          compress: bool = True) -> bytes:
    """Return a PDF whose object `n` is `objects[n]`, with a correct cross-reference.

    Objects named in `packed` go into one object stream (Flate-compressed unless `compress` is
    false), which needs a PDF 1.5 cross-reference stream; otherwise a classic xref table is written.
    """
    out = bytearray(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n" if packed else b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    for number in sorted(set(objects) - packed):
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, objects[number])
    if not packed:
        size = max(objects) + 1
        xref_at = len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % size
        for number in range(1, size):
            out += b"%010d 00000 n \n" % offsets[number] if number in offsets else b"0000000000 65535 f \n"
        out += b"trailer\n<</Size %d/Root %d 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (size, root, xref_at)
        return bytes(out)

    stream_number, xref_number = max(objects) + 1, max(objects) + 2
    header, body, index = bytearray(), bytearray(), {}
    for position, number in enumerate(sorted(packed)):
        header += b"%d %d " % (number, len(body))
        body += objects[number] + b"\n"
        index[number] = position
    content = bytes(header) + bytes(body)
    data = zlib.compress(content) if compress else content
    offsets[stream_number] = len(out)
    out += (b"%d 0 obj\n<</Type/ObjStm/N %d/First %d/Length %d%s>>\nstream\n" % (
        stream_number, len(packed), len(header), len(data), b"/Filter/FlateDecode" if compress else b"")
        + data + b"\nendstream\nendobj\n")

    size = xref_number + 1
    rows = bytearray(b"\x00" + (0).to_bytes(4, "big") + (65535).to_bytes(2, "big"))
    offsets[xref_number] = len(out)
    for number in range(1, size):
        if number in index:
            rows += b"\x02" + stream_number.to_bytes(4, "big") + index[number].to_bytes(2, "big")
        elif number in offsets:
            rows += b"\x01" + offsets[number].to_bytes(4, "big") + (0).to_bytes(2, "big")
        else:
            rows += b"\x00" + (0).to_bytes(4, "big") + (65535).to_bytes(2, "big")
    packed_rows = zlib.compress(bytes(rows))
    out += b"%d 0 obj\n<</Type/XRef/Size %d/W[1 4 2]/Root %d 0 R/Filter/FlateDecode/Length %d>>\n" % (
        xref_number, size, root, len(packed_rows))
    out += b"stream\n" + packed_rows + b"\nendstream\nendobj\n"
    out += b"startxref\n%d\n%%%%EOF\n" % offsets[xref_number]
    return bytes(out)


def letter(catalog_extra: bytes = b"", *extra: bytes, packed: frozenset[int] = frozenset()) -> bytes:
    """Return a one-page PDF whose catalog also holds `catalog_extra`; `extra` are objects 4, 5, …"""
    objects = {1: b"<</Type/Catalog/Pages 2 0 R" + catalog_extra + b">>",
               2: b"<</Type/Pages/Kids[3 0 R]/Count 1>>", 3: PAGE}
    objects.update({4 + i: body for i, body in enumerate(extra)})
    return build(objects, packed=packed)
