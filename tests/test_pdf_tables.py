"""PDF tables come out row by row (embedlab.data.pdf_tables): one paragraph per row, cells joined by " | ",
never glued to prose, their text out of the prose flow; without the `pdf` extra PDFs load as before."""

import logging

import matplotlib
import pdfplumber
import pytest
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from embedlab.data import pdf_tables
from embedlab.data.corpus import load_path
from embedlab.data.pdf import load_pdf
from embedlab.data.pdf_cleanup import CELL_BREAK, ROW_MARK, clean_pages

matplotlib.use("Agg")

SSDF = "NIST.SP.800-218.pdf"
ZTA = "NIST.SP.800-207-ZeroTrustArchitecture.pdf"
CITIES = [["City", "Country", "Population"], ["Oslo", "Norway", "709,000"], ["Lyon", "France", "522,000"]]
ABOVE = [
    "Cities of the survey were picked for their size and their",
    "distance from the sea, as explained below.",
]
BELOW = ["The smallest city in the table still has a large university", "and an airport with daily flights."]


@pytest.fixture
def no_tables(monkeypatch):
    """Loading as without the `pdf` extra (the finder never runs)."""
    monkeypatch.setattr(pdf_tables, "_pdfplumber", lambda: None)


def _paragraphs(blocks):
    return [p for b in blocks for p in b.paragraphs]


def _by_page(blocks):
    """(page, paragraph) of every paragraph: the page it starts on."""
    out = []
    for block in blocks:
        offset = 0
        for paragraph in block.paragraphs:
            out.append((block.page_at(offset), paragraph))
            offset += len(paragraph) + 2
    return out


def _matplotlib_pdf(path, rows):
    """A page with two prose lines, a matplotlib table (cells drawn as framed rectangles) and two more."""
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    with matplotlib.rc_context({"pdf.fonttype": 42}), PdfPages(path, metadata={"CreationDate": None}) as pdf:
        fig = plt.figure(figsize=(8.27, 11.69))
        for y, line in zip((0.9, 0.88), ABOVE, strict=True):
            fig.text(0.1, y, line, fontsize=11)
        ax = fig.add_axes((0.1, 0.55, 0.8, 0.25))
        ax.axis("off")
        ax.table(cellText=rows[1:], colLabels=rows[0], loc="center").set_fontsize(11)
        for y, line in zip((0.45, 0.43), BELOW, strict=True):
            fig.text(0.1, y, line, fontsize=11)
        pdf.savefig(fig)
        plt.close(fig)
    return path


def test_a_matplotlib_table_comes_out_row_by_row(tmp_path, no_tables, monkeypatch):
    path = _matplotlib_pdf(tmp_path / "cities.pdf", CITIES)
    before = _paragraphs(load_pdf(path, "cities.pdf"))
    assert any("Oslo Norway 709,000 Lyon" in p for p in before)  # without the finder: glued into prose
    monkeypatch.undo()
    after = _paragraphs(load_pdf(path, "cities.pdf"))
    rows = ["City | Country | Population", "Oslo | Norway | 709,000", "Lyon | France | 522,000"]
    assert [p for p in after if " | " in p] == rows  # header first, rows in order, one paragraph each
    assert " ".join(ABOVE) in after and " ".join(BELOW) in after  # prose re-joined as before, table out
    assert not [p for p in after if any(w in p for w in ("Oslo", "Norway", "Population")) and p not in rows]
    assert [p for p in before if p not in after] == [
        " ".join(c for r in CITIES for c in r) + " " + " ".join(ABOVE)
    ]


def test_a_rotated_page_keeps_its_rows(tmp_path):
    writer = PdfWriter()
    writer.append(str(_matplotlib_pdf(tmp_path / "cities.pdf", CITIES)))
    writer.pages[0].rotate(90)
    writer.write(tmp_path / "rotated.pdf")
    rows = [p for p in _paragraphs(load_pdf(tmp_path / "rotated.pdf", "rotated.pdf")) if " | " in p]
    assert rows == ["City | Country | Population", "Oslo | Norway | 709,000", "Lyon | France | 522,000"]


def _ruled_pdf(path, pages):
    """Pages of (prose lines above, table rows, prose lines below); a row is a list of cells, a cell a
    list of wrapped lines. Rules are thin filled rectangles (as Word draws them), each cell shaded grey
    line by line inside its grey cell shade (as Word does), and the text is written column by column,
    the content-stream order that scatters a row's cells in pypdf's text."""
    writer = PdfWriter()
    font = writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
                NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
            }
        )
    )
    widths, lead = [150.0, 300.0], 12.0
    for above, rows, below in pages:
        page = writer.add_blank_page(595, 842)
        ops, y = [], 800.0
        for line in above:
            ops.append(f"BT /F1 10 Tf 50 {y} Td ({line}) Tj ET")
            y -= lead
        y -= 10
        heights = [lead * max(len(cell) for cell in row) + 6 for row in rows]
        xs = [50.0]
        for w in widths:
            xs.append(xs[-1] + w)
        tops = [y]
        for h in heights:
            tops.append(tops[-1] - h)
        ops.append("0.95 g")
        for r in range(len(rows)):
            for c in range(len(widths)):
                ops.append(f"{xs[c]} {tops[r + 1]} {widths[c]} {heights[r]} re f")
                for k in range(len(rows[r][c])):
                    ops.append(f"{xs[c] + 3} {tops[r] - 3 - lead * (k + 1)} {widths[c] - 6} {lead} re f")
        ops.append("0 g")
        for t in tops:
            ops.append(f"{xs[0]} {t - 0.25} {xs[-1] - xs[0]} 0.5 re f")
        for x in xs:
            ops.append(f"{x - 0.25} {tops[-1]} 0.5 {tops[0] - tops[-1]} re f")
        for c in range(len(widths)):
            for r, row in enumerate(rows):
                for k, line in enumerate(row[c]):
                    ops.append(
                        f"BT /F1 10 Tf {xs[c] + 4} {tops[r] - 2 - lead * (k + 1) + 3} Td ({line}) Tj ET"
                    )
        y = tops[-1] - 20
        for line in below:
            ops.append(f"BT /F1 10 Tf 50 {y} Td ({line}) Tj ET")
            y -= lead
        content = DecodedStreamObject()
        content.set_data("\n".join(ops).encode("latin-1"))
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
        page[NameObject("/Contents")] = writer._add_object(content)
    writer.write(path)
    return path


HEADER = [["Control"], ["What it asks for"]]
PAGE_1 = [
    HEADER,
    [["Access review"], ["Review who can reach the build", "servers every quarter."]],
    [["Key rotation"], ["Rotate signing keys after a risk-", "based review of each release."]],
]
PAGE_2 = [
    HEADER,
    [["Backups"], ["Keep the infor-", "mation needed to rebuild."]],
    [["Logging"], ["Log every deployment."]],
]


def test_rows_of_a_scattered_table_stay_together_across_a_page_break(tmp_path, no_tables, monkeypatch):
    pages = [
        (["Controls are chosen with a risk-based method and", "reviewed by the security team."], PAGE_1, []),
        ([], PAGE_2, ["Each control has one owner who reports", "to the board twice a year."]),
    ]
    path = _ruled_pdf(tmp_path / "controls.pdf", pages)
    before = _paragraphs(load_pdf(path, "controls.pdf"))
    assert not any("Access review | " in p for p in before)
    monkeypatch.undo()
    after = _paragraphs(load_pdf(path, "controls.pdf"))
    assert after == [
        "Controls are chosen with a risk-based method and reviewed by the security team.",
        "Control | What it asks for",  # once: the repeat on the next page continues the same table
        "Access review | Review who can reach the build servers every quarter.",
        "Key rotation | Rotate signing keys after a risk-based review of each release.",  # a compound here
        "Backups | Keep the information needed to rebuild.",  # a broken word: joined
        "Logging | Log every deployment.",
        "Each control has one owner who reports to the board twice a year.",
    ]


def test_row_lines_are_never_running_lines_page_numbers_or_broken_words():
    """A table header repeated at the top of every page, a row of numbers at the bottom, a row after the
    page number: all stay, and the page edges are those of the text lines, so the running header and the
    page number still go; a cell's line breaks are resolved by the document's own words."""
    words = ["alpha", "beta", "gamma", "delta", "epsilon"]
    rows = [f"Backups | infor-{CELL_BREAK}mation", f"Keys | risk-{CELL_BREAK}based review"]
    pages = [
        "\n".join(
            [
                "Report header",
                ROW_MARK + "Control | Owner",
                f"{w} is a risk-based topic on page {n}, with a self-",
                *(ROW_MARK + r for r in rows),
                f"and {w} closing words.",
                ROW_MARK + "12 | 7",
                str(n),
                ROW_MARK + "Total | all controls",
            ]
        )
        for n, w in enumerate(words)
    ]
    for n, (w, lines) in enumerate(zip(words, clean_pages(pages), strict=True)):
        assert lines == [
            ROW_MARK + "Control | Owner",
            f"{w} is a risk-based topic on page {n}, with a self-",  # a row never continues a word
            ROW_MARK + "Backups | information",  # neither form elsewhere: a broken word
            ROW_MARK + "Keys | risk-based review",  # the document writes risk-based
            f"and {w} closing words.",
            ROW_MARK + "12 | 7",
            ROW_MARK + "Total | all controls",
        ]


@pytest.fixture(scope="module")
def ssdf_pages(corpora, tmp_path_factory):
    """Pages 12-14 of NIST SP 800-218 (prose, then the first two pages of Table 1) with their bookmarks,
    with and without the table finder."""
    path = tmp_path_factory.mktemp("ssdf") / "ssdf.pdf"
    writer = PdfWriter()
    writer.append(str(corpora / "report_pdf" / SSDF), pages=(12, 15))
    writer.write(path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pdf_tables, "_pdfplumber", lambda: None)
        without = load_pdf(path, "ssdf.pdf")
    return load_pdf(path, "ssdf.pdf"), without


def test_a_known_ssdf_row_is_one_line_with_its_cells(ssdf_pages):
    blocks, _ = ssdf_pages
    paragraphs = _paragraphs(blocks)
    row = next(p for p in paragraphs if p.startswith("Define Security Requirements for Software Development"))
    block = next(b for b in blocks if row in b.paragraphs)  # chunks of a table keep its heading path
    assert [h.display() for h in block.headings] == [
        "2 — The Secure Software Development Framework",
        "Prepare the Organization (PO)",
    ]
    cells = row.split(" | ")
    assert len(cells) == 4
    assert cells[0].endswith("external sources (e.g., applicable laws and regulations).")
    assert cells[1] == (
        "PO.1.1: Identify and document all security requirements for the organization’s software "
        "development infrastructures and processes, and maintain the requirements over time."
    )
    assert cells[2].startswith("Example 1: Define policies for securing software development infrastructures")
    assert cells[2].endswith("Example 4: Educate affected individuals on impending changes to requirements.")
    assert cells[3].startswith("BSAFSS: SM.3, DE.1, IA.1, IA.2 BSIMM: CP1.1")
    assert cells[3].endswith("S0010, S0357, S0368; A0033, A0123, A0151")
    assert paragraphs.count("Practices | Tasks | Notional Implementation Examples | References") == 1
    assert "Table 1: The Secure Software Development Framework (SSDF) Version 1.1" in paragraphs
    assert any(
        p.startswith("PO.1.2: Identify and document all security requirements for organization-")
        for p in paragraphs
    )
    assert any(
        p.startswith("Example 4: Require third parties to provide provenance") for p in paragraphs
    )  # row cut by the page break
    assert not any(
        "PO.1.1:" in p and not p.startswith("Define Security") for p in paragraphs
    )  # no copy in prose


def test_prose_of_the_page_before_the_table_is_unchanged(ssdf_pages):
    with_tables, without = ssdf_pages
    prose = [(page, p) for page, p in _by_page(without) if page == 1]
    assert len(prose) > 5 and prose == [(page, p) for page, p in _by_page(with_tables) if page == 1]


@pytest.mark.slow
@pytest.mark.parametrize("name", [SSDF, ZTA])
def test_whole_reports_keep_headings_and_prose_outside_tables(corpora, name, monkeypatch, caplog):
    """Chunks elsewhere are unchanged: every block keeps its heading path and first page, and every
    paragraph on a page without tables is the same."""
    path = corpora / "report_pdf" / name
    with caplog.at_level(logging.INFO, logger="embedlab.data.pdf_tables"):
        with_tables = load_path(path)
    monkeypatch.setattr(pdf_tables, "_pdfplumber", lambda: None)
    without = load_path(path)

    def outline(blocks):
        return [(tuple(h.display() for h in b.headings), b.page_at(0)) for b in blocks]

    assert outline(with_tables) == outline(without)
    table_pages = {i + 1 for i in pdf_tables.find_tables(pdfplumber, path)}
    assert len(table_pages) == {SSDF: 16, ZTA: 3}[name]
    assert f"{name}: {len(table_pages)} table(s) read row by row" in caplog.text
    assert [x for x in _by_page(with_tables) if x[0] not in table_pages] == [
        x for x in _by_page(without) if x[0] not in table_pages
    ]
    if name == SSDF:  # a bookmark printed as a one-cell group row opens where the row is, as before
        ps = next(
            b for b in with_tables if b.headings and b.headings[-1].display() == "Protect Software (PS)"
        )
        assert ps.paragraphs[0].startswith("Protect All Forms of Code from Unauthorized Access and Tampering")


def test_without_the_extra_pdfs_load_as_before_and_the_log_says_so_once(tmp_path, monkeypatch, caplog):
    import importlib

    real = importlib.import_module

    def no_pdfplumber(name, *args, **kwargs):
        if name == "pdfplumber":
            raise ImportError("No module named 'pdfplumber'")
        return real(name, *args, **kwargs)

    path = _matplotlib_pdf(tmp_path / "cities.pdf", CITIES)
    monkeypatch.setattr(importlib, "import_module", no_pdfplumber)
    pdf_tables._pdfplumber.cache_clear()
    try:
        with caplog.at_level(logging.INFO, logger="embedlab.data.pdf_tables"):
            first = _paragraphs(load_pdf(path, "a.pdf"))
            second = _paragraphs(load_pdf(path, "b.pdf"))
    finally:
        monkeypatch.undo()
        pdf_tables._pdfplumber.cache_clear()
    assert first == second and not [p for p in first if " | " in p]
    assert caplog.text.count("pip install 'embedlab[pdf]'") == 1


def test_a_finder_failure_costs_the_rows_not_the_text(tmp_path, monkeypatch, caplog):
    path = _matplotlib_pdf(tmp_path / "cities.pdf", CITIES)

    def broken(plumber, path):
        raise RuntimeError("cannot parse the xref table")

    monkeypatch.setattr(pdf_tables, "find_tables", broken)
    with caplog.at_level(logging.WARNING):
        got = _paragraphs(load_pdf(path, "cities.pdf"))
    monkeypatch.setattr(pdf_tables, "_pdfplumber", lambda: None)
    assert got == _paragraphs(load_pdf(path, "cities.pdf"))
    assert (
        "cities.pdf: tables unreadable (cannot parse the xref table): they are read as prose" in caplog.text
    )
