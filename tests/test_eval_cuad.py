"""Reading a CUAD-layout folder and placing the expert's spans on pages."""

import pytest

from pipeline.errors import ConfigError
from pipeline.eval.cuad import category_names, load_cuad, place_spans
from pipeline.models import ChecklistItem, Page


def _master(folder, text):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "master_clauses.csv").write_text(text, encoding="utf-8")


def test_load_reads_list_literals_and_finds_pdfs_recursively(tmp_path):
    (tmp_path / "pdf" / "Part_I" / "Deals").mkdir(parents=True)
    (tmp_path / "pdf" / "Part_I" / "Deals" / "Deal One.PDF").write_bytes(b"%PDF-1.4")
    _master(tmp_path, 'Filename,Parties,Parties-Answer,Governing Law,Notice Period To Terminate Renewal- Answer\n'
                      '"deal one.pdf","[\'Acme Inc.\', \'Acme Inc.\', \'Buyer\', \' \']",Acme; Buyer,[],30 days\n')
    (doc,), missing = load_cuad(tmp_path)
    assert missing == ()
    assert doc.pdf.name == "Deal One.PDF"
    assert doc.spans == {"Parties": ("Acme Inc.", "Buyer"), "Governing Law": ()}  # answers ignored, repeats once


def test_rows_without_pdf_are_returned_by_name(tmp_path):
    (tmp_path / "pdf").mkdir()
    (tmp_path / "pdf" / "a.pdf").write_bytes(b"%PDF-1.4")
    _master(tmp_path, "pdf_file,Parties\na.pdf,[]\ngone.pdf,[]\n")
    docs, missing = load_cuad(tmp_path)
    assert [d.pdf.name for d in docs] == ["a.pdf"] and missing == ("gone.pdf",)


@pytest.mark.parametrize(("rows", "message"), [
    ("pdf_file,Parties\nmissing.pdf,[]\n", "none of its 1 contracts"),
    ("pdf_file,Parties\na.pdf,not a list\n", "list literal"),
    ("pdf_file,Parties\na.pdf,\"{'x': 1}\"\n", "list of strings"),
    ("name,Parties\na.pdf,[]\n", "no file column"),
])
def test_load_rejects_bad_sheets_naming_the_place(tmp_path, rows, message):
    (tmp_path / "pdf").mkdir()
    (tmp_path / "pdf" / "a.pdf").write_bytes(b"%PDF-1.4")
    _master(tmp_path, rows)
    with pytest.raises(ConfigError, match=message):
        load_cuad(tmp_path)


def test_a_folder_without_master_sheet_is_not_cuad(tmp_path):
    with pytest.raises(ConfigError, match="CUAD's layout"):
        load_cuad(tmp_path)


def test_category_names_map_cuads_title_case_to_the_checklist():
    names = category_names(["Ip Ownership Assignment", "Rofr/Rofo/Rofn", "Covenant Not To Sue"])
    assert names == {"Ip Ownership Assignment": "IP Ownership Assignment", "Rofr/Rofo/Rofn": "Rofr/Rofo/Rofn",
                     "Covenant Not To Sue": "Covenant Not to Sue"}
    with pytest.raises(ConfigError, match="Secret Sauce"):
        category_names(["Parties", "Secret Sauce"], [ChecklistItem(name="Parties")])


def _pages(*texts):
    return [Page(page_number=i, page_label=str(i), text=t) for i, t in enumerate(texts, start=1)]


def test_place_spans_on_pages_across_breaks_and_with_omitted_pieces():
    pages = _pages(
        "Section 1. The Company (\"Acme\") agrees.\nThis Agreement shall be governed by the laws",
        "of the State of New York. Acme shall pay. Neither party\nmay assign this Agreement.",
        "",
        "Acme shall not compete. Other text. The Licensee shall\nnot disclose anything.",
    )
    placed = place_spans([
        "Acme",  # on three pages
        "neither party may assign this agreement",  # one page; case, spaces and line breaks ignored
        "This Agreement shall be governed by the laws of the State of New York",  # over the 1-2 break
        "Acme shall pay.<omitted>The Licensee shall not disclose",  # pieces in order, pages 2 and 4
        "a sentence that is nowhere",
        "<omitted>",
    ], pages)
    assert placed == {
        "Acme": (1, 2, 4),
        "neither party may assign this agreement": (2,),
        "This Agreement shall be governed by the laws of the State of New York": (1, 2),
        "Acme shall pay.<omitted>The Licensee shall not disclose": (2, 4),
        "a sentence that is nowhere": (),
        "<omitted>": (),
    }
