import os
import tracemalloc
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from pipeline.errors import InputError
from pipeline.ingest import find_pdfs, ingest
from tests.conftest import SAMPLES, encrypt_pdf


def test_pages_keep_physical_numbers_labels_and_empty_slots(make_pdf):
    path = make_pdf("labels.pdf", ["Cover page text.", "", "Preface text.", "Chapter one text."],
                    labels=[(0, "r", "", 1), (3, "D", "", 1)])
    doc = ingest(path)
    assert [p.page_number for p in doc.pages] == [1, 2, 3, 4]
    assert [p.page_label for p in doc.pages] == ["i", "ii", "iii", "1"]
    assert doc.pages[1].status == "empty" and doc.pages[1].text.strip() == ""
    assert "Chapter one" in doc.pages[3].text
    assert doc.doc_id == doc.source.sha256[:16] and doc.source.page_count == 4


def test_doc_id_is_the_content_hash_not_the_name(make_pdf, tmp_path):
    a = make_pdf("a.pdf", ["Same text."])
    b = tmp_path / "other name.pdf"
    b.write_bytes(a.read_bytes())
    assert ingest(a).doc_id == ingest(b).doc_id


def test_encrypted_with_empty_user_password_opens(make_pdf, tmp_path):
    plain = make_pdf("plain.pdf", ["Secret terms."])
    locked = encrypt_pdf(plain, tmp_path / "owner-only.pdf", "")
    assert "Secret terms" in ingest(locked).pages[0].text


def test_encrypted_needs_the_password(make_pdf, tmp_path):
    locked = encrypt_pdf(make_pdf("plain.pdf", ["Secret terms."]), tmp_path / "locked.pdf", "asdfzxcv")
    with pytest.raises(InputError, match="needs a password"):
        ingest(locked)
    with pytest.raises(InputError, match="wrong"):
        ingest(locked, password="nope")
    assert "Secret terms" in ingest(locked, password="asdfzxcv").pages[0].text


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty file"), (b"hello, not a pdf at all", "not a PDF"), (b"%PDF-1.7\n1 0 obj <<", "truncated"),
     (b"%PDF-1.7\n1 0 obj <<\n%%EOF\n", "corrupt")],
)
def test_bad_files_raise_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.pdf"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        ingest(path)


def test_truncated_pdf_is_an_input_error(make_pdf, tmp_path):
    good = make_pdf("good.pdf", ["Some text " * 50] * 3)
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 3])
    with pytest.raises(InputError, match="truncated PDF"):
        ingest(cut)


def test_scan_without_text_layer_says_so(make_pdf):
    with pytest.raises(InputError, match="no text layer"):
        ingest(make_pdf("scan.pdf", ["", ""]))


def test_find_pdfs_recurses_sorted_and_skips_symlinks(make_pdf, tmp_path):
    make_pdf("b/two.pdf", ["x"])
    make_pdf("a/one.PDF", ["x"])
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "loop").symlink_to(tmp_path)
    found = [p.relative_to(tmp_path).as_posix() for p in find_pdfs([tmp_path])]
    assert found == ["a/one.PDF", "b/two.pdf"]


def test_samples_ingest():
    for path in sorted(SAMPLES.glob("*.pdf")):
        doc = ingest(path)
        assert doc.source.page_count == len(doc.pages) > 0
        assert sum(p.status == "ok" for p in doc.pages) >= len(doc.pages) - 1


def test_ingest_reads_through_the_file_not_a_copy_of_it(make_pdf, tmp_path):
    """A 16 MiB file whose bulk (an attachment) no page uses: ingest's peak memory stays far below it."""
    writer = PdfWriter(clone_from=PdfReader(make_pdf("small.pdf", ["Governing law: Delaware."])))
    writer.add_attachment("blob.bin", os.urandom(16 << 20))
    big = tmp_path / "big.pdf"
    with big.open("wb") as handle:
        writer.write(handle)
    tracemalloc.start()
    try:
        doc = ingest(big)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "Delaware" in doc.pages[0].text and big.stat().st_size > 16 << 20
    assert peak < 4 << 20, f"peak {peak / 2**20:.1f} MiB"


def test_symlinks_inside_the_folder_are_read_links_out_are_skipped(make_pdf, tmp_path):
    inbox = tmp_path / "inbox"
    real = make_pdf("inbox/real.pdf", ["Inside."])
    make_pdf("elsewhere/secret.pdf", ["Not yours."])
    (inbox / "alias.pdf").symlink_to(real)
    (inbox / "escape.pdf").symlink_to(tmp_path / "elsewhere" / "secret.pdf")
    (inbox / "loop.pdf").symlink_to("loop.pdf")
    names = [p.name for p in find_pdfs([inbox])]
    assert names == ["alias.pdf", "loop.pdf", "real.pdf"]
    assert "Inside" in ingest(inbox / "alias.pdf").pages[0].text
    with pytest.raises(InputError, match="symlink loop"):
        ingest(inbox / "loop.pdf")
