import os
import subprocess
import threading
import tracemalloc

import pypdf
import pytest

from pipeline.errors import ChangedError, InputError
from pipeline.ingest.read import Limits, file_sha256, find_pdfs, ingest
from tests.conftest import SAMPLES, encrypt_pdf, with_attachment
from tests.hostile_pdfs import bomb, raw_pdf, text_stream, to_unicode


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
    big = with_attachment(make_pdf("small.pdf", ["Governing law: Delaware."]), tmp_path / "big.pdf", 16 << 20)
    tracemalloc.start()
    try:
        doc = ingest(big)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "Delaware" in doc.pages[0].text and big.stat().st_size > 16 << 20
    assert peak < 4 << 20, f"peak {peak / 2**20:.1f} MiB"


def test_links_named_on_the_command_line_say_what_is_wrong(make_pdf, tmp_path):
    (tmp_path / "loop.pdf").symlink_to("loop.pdf")
    (tmp_path / "dangling.pdf").symlink_to("nowhere.pdf")
    with pytest.raises(InputError, match="symlink loop"):
        ingest(tmp_path / "loop.pdf")
    with pytest.raises(InputError, match="dangling symlink"):
        ingest(tmp_path / "dangling.pdf")


def test_the_sha256_is_of_the_bytes_read_and_another_expected_one_is_a_change(make_pdf):
    pdf = make_pdf("a.pdf", ["Governing law: Delaware."])
    sha = file_sha256(pdf)
    assert ingest(pdf).source.sha256 == sha and ingest(pdf, sha256=sha).doc_id == sha[:16]
    with pytest.raises(ChangedError, match="changed while the run was reading it"):
        ingest(pdf, sha256="ab" * 32)  # what a survey saw before the file was overwritten
    pdf.unlink()
    with pytest.raises(ChangedError, match="vanished"):
        ingest(pdf, sha256=sha)


def test_too_many_pages_is_a_clear_error(tmp_path):
    many = raw_pdf(tmp_path / "many.pdf", [text_stream(["same page"])], pages=[0] * 5001)  # 0.8 MB
    with pytest.raises(InputError, match=r"5,001 pages, over the limit of 5,000 .*--max-pages"):
        ingest(many)
    few = raw_pdf(tmp_path / "few.pdf", [text_stream(["same page"])], pages=[0] * 4)
    assert len(ingest(few, limits=Limits(max_pages=4)).pages) == 4
    with pytest.raises(InputError, match="--max-pages"):
        ingest(few, limits=Limits(max_pages=3))


def test_oversized_page_is_a_clear_error(tmp_path):
    huge = raw_pdf(tmp_path / "huge.pdf", [text_stream(["fine"]), text_stream(["word " * 50_000])])  # 250k chars
    with pytest.raises(InputError, match=r"page 2 has 250,00\d characters .* 200,000 per page \(--max-page-chars\)"):
        ingest(huge)
    assert ingest(huge, limits=Limits(max_page_chars=300_000)).pages[1].text.startswith("word word")


def test_pypdf_decompression_limit_stays_on(tmp_path):
    assert pypdf.get_configuration().zlib_maximum_output_length == 75_000_000  # docpipe changes no default
    big = raw_pdf(tmp_path / "bomb.pdf", [text_stream(["cover"]), bomb(80_000_000)])  # 80 MB in ~80 kB
    assert big.stat().st_size < 200_000
    with pytest.raises(InputError, match=r"page 2 is over pypdf's safety limits .* 75 MB \(--max-decompressed-mb\)"):
        ingest(big)


def test_decompression_limit_is_configurable(tmp_path):
    small = raw_pdf(tmp_path / "two-mb.pdf", [bomb(2_000_000)])
    assert "boom" in ingest(small).pages[0].text
    with pytest.raises(InputError, match="over pypdf's safety limits"):
        ingest(small, limits=Limits(max_decompressed_mb=1))
    assert pypdf.get_configuration().zlib_maximum_output_length == 75_000_000  # set for that read only


def _finishes(call, seconds=10.0):
    """Run `call` in a thread; True when it returned (or raised) within `seconds`."""
    done = threading.Event()

    def target():
        try:
            call()
        except Exception:  # noqa: BLE001
            pass
        done.set()

    threading.Thread(target=target, daemon=True).start()
    return done.wait(seconds)


def test_fifo_named_like_a_pdf_never_blocks(tmp_path):
    fifo = tmp_path / "pipe.pdf"
    os.mkfifo(fifo)
    assert find_pdfs([tmp_path]) == []
    with pytest.raises(InputError, match="not a regular file"):
        ingest(fifo)  # would block forever on a plain open()
    with pytest.raises(OSError):
        file_sha256(fifo)
    assert _finishes(lambda: ingest(fifo))


def test_symlinks_followed_only_when_asked_and_loops_end(make_pdf, tmp_path):
    make_pdf("outside/secret.pdf", ["outside the input folder"])
    make_pdf("in/real/one.pdf", ["inside"])
    inputs = tmp_path / "in"
    (inputs / "to-outside").symlink_to(tmp_path / "outside")
    (inputs / "alias.pdf").symlink_to(inputs / "real" / "one.pdf")
    (inputs / "real" / "loop").symlink_to(inputs)
    (inputs / "self").symlink_to(inputs / "self")  # a link to itself: stat fails, skipped
    (inputs / "broken.pdf").symlink_to(tmp_path / "nowhere.pdf")
    names = lambda paths: [p.relative_to(inputs).as_posix() for p in paths]  # noqa: E731
    assert names(find_pdfs([inputs])) == ["real/one.pdf"]
    followed = find_pdfs([inputs], follow_symlinks=True)
    # one path per real file (alias.pdf is one.pdf), the loop back to `in` is visited once
    assert names(followed) == ["alias.pdf", "to-outside/secret.pdf"]


def test_very_deep_folders_do_not_hit_the_recursion_limit(make_pdf, tmp_path):
    deep = tmp_path
    for _ in range(1100):  # deeper than Python's recursion limit
        deep = deep / "d"
        deep.mkdir()
    (deep / "x.pdf").write_bytes(make_pdf("x.pdf", ["deep"]).read_bytes())
    try:
        assert find_pdfs([tmp_path / "d"]) == [deep / "x.pdf"]
    finally:
        # pytest's own clean-up of old temp folders recurses and would die on this tree in a later session.
        subprocess.run(["rm", "-rf", str(tmp_path / "d")], check=True)


def test_lone_surrogates_from_a_hostile_font_map_become_replacement_characters(tmp_path):
    # A maps to a lone high surrogate, B to "A", C+D to a proper surrogate pair (U+1F600).
    cmap = to_unicode({0x41: 0xD800, 0x42: 0x41, 0x43: 0xD83D, 0x44: 0xDE00})
    doc = ingest(raw_pdf(tmp_path / "surrogate.pdf", [b"BT /F1 12 Tf 40 800 Td (ABABCD) Tj ET"], cmap=cmap))
    assert doc.pages[0].text.strip() == "\ufffdA\ufffdA\U0001F600"
    doc.model_dump_json()  # JSON (and the tokenizer) would refuse a lone surrogate
