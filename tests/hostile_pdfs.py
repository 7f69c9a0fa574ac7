"""Generators of hostile PDFs, written byte by byte (fpdf2 cannot make most of them): oversized pages,
decompression bombs, content streams that are slow to extract, many pages sharing one stream; and what a
reader process holds after reading one (`process_memory`, for tests/test_hostile.py and
bench/document_memory.py)."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path


def process_memory(pid: int) -> dict[str, int]:
    """VmHWM (peak resident), VmRSS and VmSize of a process, in bytes, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS", "VmSize"):
            fields[name] = int(value.split()[0]) * 1024
    return fields


def text_stream(lines: Sequence[str]) -> bytes:
    """A content stream showing each line in Helvetica, one line under the other."""
    ops = [b"BT /F1 10 Tf 12 TL 40 800 Td"]
    for line in lines:
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append(b"(" + escaped.encode("latin-1") + b") Tj T*")
    ops.append(b"ET")
    return b"\n".join(ops)


class Deflated(bytes):
    """Stream data already compressed with zlib (raw_pdf sends it as is, with /FlateDecode)."""


def bomb(expands_to: int, head: bytes = b"BT /F1 10 Tf 40 800 Td (boom) Tj ET\n") -> Deflated:
    """A content stream of `expands_to` bytes (mostly spaces) compressed to a few kilobytes."""
    packer = zlib.compressobj(6)
    chunk = b" " * (1 << 20)
    parts = [packer.compress(head)]
    parts += [packer.compress(chunk) for _ in range(expands_to // len(chunk) + 1)]
    return Deflated(b"".join(parts) + packer.flush())


def to_unicode(mapping: dict[int, int]) -> bytes:
    """A ToUnicode CMap sending one-byte character codes to UTF-16 code units (lone surrogates included)."""
    pairs = b"\n".join(b"<%02X> <%04X>" % (code, unit) for code, unit in mapping.items())
    return (b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /X def /CMapType 2 def\n"
            b"1 begincodespacerange <00> <FF> endcodespacerange\n%d beginbfchar\n" % len(mapping) + pairs
            + b"\nendbfchar endcmap CMapName currentdict /CMap defineresource pop end end")


def raw_pdf(
    path: Path, streams: Sequence[bytes], pages: Sequence[int] | None = None, flate: bool = False,
    cmap: bytes | None = None,
) -> Path:
    """A PDF whose page i shows content stream `streams[pages[i]]` (default: one page per stream).
    `flate=True` compresses every stream with FlateDecode; a `Deflated` stream (`bomb`) is always sent so.
    `cmap`: a ToUnicode CMap for the font (`to_unicode`)."""
    order = list(range(len(streams))) if pages is None else list(pages)
    n_pages, n_streams = len(order), len(streams)
    first_page, first_stream = 4, 4 + n_pages
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % (first_page + i) for i in range(n_pages))
        + b"] /Count %d >>" % n_pages,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica%s >>"
        % (b" /ToUnicode %d 0 R" % (first_stream + n_streams) if cmap else b""),
    ]
    objects += [
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> "
        b"/Contents %d 0 R >>" % (first_stream + index)
        for index in order
    ]
    for data in streams:
        packed = flate or isinstance(data, Deflated)
        body = data if isinstance(data, Deflated) or not flate else zlib.compress(data, 6)
        head = b"<< /Length %d%s >>" % (len(body), b" /Filter /FlateDecode" if packed else b"")
        objects.append(head + b"\nstream\n" + body + b"\nendstream")
    if cmap:
        objects.append(b"<< /Length %d >>\nstream\n" % len(cmap) + cmap + b"\nendstream")
    assert len(objects) == 3 + n_pages + n_streams + (1 if cmap else 0)
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out))
    return path


def many_bombs(path: Path, pages: int = 40, expands_to: int = 70_000_000) -> Path:
    """`pages` pages, each with its own content stream of `expands_to` bytes (default 70 MB, under pypdf's
    75 MB limit per stream): 2.7 MB on disk, 2.8 GB decoded. pypdf caches every decoded stream of a reader,
    so without a per-document bound reading it took 2.9 GB of memory and came back `ok`."""
    stream = bomb(expands_to)  # the same compressed bytes, in `pages` separate stream objects
    return raw_pdf(path, [stream] * pages)
