"""Word, PowerPoint, EPUB, rst, saved web pages, zip archives, mixed folders and PDF typography.

Fixture documents are built here with the libraries that read them (python-docx, python-pptx, ebooklib,
pypdf), so each test states exactly what the file holds.
"""

from __future__ import annotations

import logging
import re
import shutil
import sys
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from embedlab import io
from embedlab.data.chunking import ChunkingSettings, chunk_corpus
from embedlab.data.corpus import load_corpus, load_path
from embedlab.data.markup import markdown_items
from embedlab.data.office import heading_level, style_levels
from embedlab.data.queries import build_dataset, generate_queries
from embedlab.data.split import split_dataset
from embedlab.errors import EmbedlabError

BODY = "Every employee reads this policy once a year and confirms it in the training portal."


def _paths(blocks):
    return [tuple(h.display() for h in b.headings) for b in blocks]


# --- fixture documents ------------------------------------------------------------------------------------


def make_docx(path: Path) -> Path:
    import docx
    from docx.enum.style import WD_STYLE_TYPE
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    document = docx.Document()
    document.add_heading("Travel policy", level=1)
    document.add_paragraph(BODY)
    document.add_heading("Booking flights", level=2)
    document.add_paragraph("Book economy class for flights shorter than six hours.")
    table = document.add_table(rows=3, cols=2)
    for row, (label, value) in zip(
        table.rows, [("Trip", "Limit"), ("Domestic", "300 EUR"), ("Europe", "600 EUR")], strict=True
    ):
        row.cells[0].text, row.cells[1].text = label, value
    style = document.styles.add_style("Chapter Line", WD_STYLE_TYPE.PARAGRAPH)  # a custom style, outline 1
    outline = OxmlElement("w:outlineLvl")
    outline.set(qn("w:val"), "0")
    style.element.get_or_add_pPr().append(outline)
    document.add_paragraph("Expenses", style="Chapter Line")
    document.add_paragraph("Keep every receipt and upload it within thirty days of the trip.")
    document.save(path)
    return path


def make_pptx(path: Path) -> Path:
    import pptx
    from pptx.util import Inches

    deck = pptx.Presentation()
    for title, bullet, notes in [
        (
            "Security basics",
            "Lock your screen when you leave the desk.",
            "Tell the story of the stolen laptop.",
        ),
        ("Passwords", "Use the password manager for every account.", ""),
    ]:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text_frame.text = bullet
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    blank = deck.slides.add_slide(deck.slide_layouts[6])
    box = blank.shapes.add_textbox(Inches(1), Inches(1), Inches(6), Inches(1))
    box.text_frame.text = "Questions are welcome at any time during the session."
    deck.save(path)
    return path


def make_epub(path: Path, nav: bool = True) -> Path:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("embedlab-test")
    book.set_title("Field guide")
    book.set_language("en")
    chapters = []
    for i, title in enumerate(["Getting there", "Staying safe", "Coming home"], start=1):
        chapter = epub.EpubHtml(title=title, file_name=f"ch{i}.xhtml", lang="en")
        chapter.content = (
            f"<html><body><h1>{title}</h1><p>Chapter {i} opens with a paragraph about {title.lower()}.</p>"
            f"<h2>Checklist</h2><p>Pack the items of chapter {i} the evening before.</p></body></html>"
        )
        book.add_item(chapter)
        chapters.append(chapter)
    book.toc = chapters
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *chapters]
    epub.write_epub(str(path), book)
    if not nav:  # the same book without its navigation documents (nav.xhtml, toc.ncx)
        _rezip(path, drop=("nav.xhtml", "toc.ncx"))
    return path


def _rezip(path: Path, drop: tuple[str, ...]) -> None:
    with zipfile.ZipFile(path) as src:
        members = {i.filename: src.read(i) for i in src.infolist() if not i.filename.endswith(drop)}
    opf = next(name for name in members if name.endswith(".opf"))
    text = members[opf].decode()
    for name in drop:
        text = "\n".join(line for line in text.split("\n") if name not in line)
    members[opf] = text.replace(' toc="ncx"', "").encode()
    with zipfile.ZipFile(path, "w") as out:
        for name, data in members.items():
            out.writestr(name, data)


RST = """\
=========
Handbook
=========

Welcome to the handbook of the support team.

On-call duty
============

Each engineer is on call one week per quarter.

Escalation
----------

Escalate to the team lead after thirty minutes without progress.

::

    # not a heading: a comment in a literal block
    page --team support

Handover
========

Write a handover note at the end of the week.
"""


def text_pdf(path: Path, pages: list[list[tuple[float, bool, str]]]) -> Path:
    """A PDF of Helvetica lines (size, bold, text), top to bottom, without bookmarks."""
    writer = PdfWriter()

    def font(base: str):
        return writer._add_object(
            DictionaryObject(
                {
                    NameObject("/Type"): NameObject("/Font"),
                    NameObject("/Subtype"): NameObject("/Type1"),
                    NameObject("/BaseFont"): NameObject(base),
                    NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
                }
            )
        )

    fonts = DictionaryObject(
        {NameObject("/F1"): font("/Helvetica"), NameObject("/F2"): font("/Helvetica-Bold")}
    )
    for lines in pages:
        page = writer.add_blank_page(595, 842)
        y, ops = 800.0, []
        for size, bold, text in lines:
            ops.append(f"BT /{'F2' if bold else 'F1'} {size} Tf 50 {y} Td ({text}) Tj ET")
            y -= size * 1.6
        content = DecodedStreamObject()
        content.set_data("\n".join(ops).encode("latin-1"))
        page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): fonts})
        page[NameObject("/Contents")] = writer._add_object(content)
    writer.write(path)
    return path


GUIDE_PAGES = [
    [
        (20, True, "Getting started"),
        (11, False, "This guide shows how to install the tool on a machine of your own."),
        (11, False, "It takes a few minutes to read."),
        (14, True, "Install on Linux"),
        (11, False, "Run the installer and wait until it reports success."),
        (11, True, "Check the result"),
        (11, False, "The tool prints its version number and exits."),
    ],
    [
        (20, True, "Configuration"),
        (11, False, "Edit the file config.yaml in the project folder."),
        (11, False, "Save it and run the tool again."),
    ],
]


# --- formats ---------------------------------------------------------------------------------------------


def test_docx_headings_from_styles_and_outline_levels_tables_by_row(tmp_path):
    blocks = load_path(make_docx(tmp_path / "policy.docx"), corpus="c")
    assert _paths(blocks) == [
        ("Travel policy",),
        ("Travel policy", "Booking flights"),
        ("Expenses",),  # custom style with Word outline level 1 (w:outlineLvl 0)
    ]
    assert blocks[0].paragraphs == [BODY]
    assert blocks[1].paragraphs[1:] == ["Trip | Limit", "Domestic | 300 EUR", "Europe | 600 EUR"]


def test_docx_heading_level_of_body_text_is_zero(tmp_path):
    import docx

    document = docx.Document(str(make_docx(tmp_path / "p.docx")))
    levels = [heading_level(p, style_levels(document)) for p in document.paragraphs if p.text]
    assert levels == [1, 0, 2, 0, 1, 0]


@pytest.mark.parametrize("notes", ["apart", "drop"])
def test_pptx_one_block_per_slide_notes_apart_or_dropped(tmp_path, notes):
    blocks = load_corpus(make_pptx(tmp_path / "deck.pptx"), "c", notes).blocks
    texts = [b.paragraphs for b in blocks]
    if notes == "apart":
        assert _paths(blocks) == [("Security basics",), ("Security basics",), ("Passwords",), ("Slide 3",)]
        assert texts[1] == ["Tell the story of the stolen laptop."]  # a block of its own
    else:
        assert _paths(blocks) == [("Security basics",), ("Passwords",), ("Slide 3",)]
        assert "stolen laptop" not in " ".join(b.text for b in blocks)
    assert texts[0] == ["Lock your screen when you leave the desk."]
    assert blocks[-1].headings[0].label == "Slide 3" and blocks[-1].headings[0].title is None  # no query


def make_symbol_deck(path: Path) -> Path:
    """A slide as PowerPoint saves symbol-font text: Wingdings bullets as paragraph bullets (a:buChar) and
    typed into a run, Word's "-->" arrow as Wingdings U+F0E0 marked by a:sym (what Insert Symbol writes), a
    Symbol-font bullet, and an icon-font glyph no font here explains."""
    import pptx
    from pptx.oxml.ns import qn
    from pptx.util import Inches

    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "Escaping \uf0e0 in XML"
    frame = slide.shapes.add_textbox(Inches(1), Inches(2), Inches(8), Inches(3)).text_frame
    lines = [
        [("Escape the five characters ( &, <, > ) ", None), ("\uf0e0", "sym:Wingdings"), (" &entity;", None)],
        [("\uf0a7", "Wingdings"), (" Entities are case sensitive.", None)],
        [("\uf0b7", "Symbol"), (" Numeric references always work.", None)],
        [("Icon \ue62a fonts draw nothing here.", "Font Awesome")],
    ]
    for i, runs in enumerate(lines):
        paragraph = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
        bullet = paragraph._p.get_or_add_pPr().makeelement(qn("a:buChar"), {"char": "\uf0a7"})
        font = paragraph._p.get_or_add_pPr().makeelement(qn("a:buFont"), {"typeface": "Wingdings"})
        paragraph._p.get_or_add_pPr().extend([font, bullet])
        for text, typeface in runs:
            run = paragraph.add_run()
            run.text = text
            if typeface and typeface.startswith("sym:"):
                run._r.get_or_add_rPr().append(run._r.makeelement(qn("a:sym"), {"typeface": typeface[4:]}))
            elif typeface:
                run.font.name = typeface
    deck.save(path)
    return path


def test_pptx_symbol_font_glyphs_read_as_what_they_draw(tmp_path):
    path = make_symbol_deck(tmp_path / "symbols.pptx")
    doc = chunk_corpus(
        path,
        tmp_path / "chunks.json",
        "deck",
        "en",
        ChunkingSettings.default(tokenizer="cl100k_base", speaker_notes="drop"),
    )
    text = "\n".join(c["text"] + c["heading_path"] for c in doc["chunks"])
    assert "( &, <, > ) \u2192 &entity;" in text  # Wingdings 0xE0 is an arrow
    assert "\u25aa Entities are case sensitive." in text  # Wingdings 0xA7: a small square bullet
    assert "\u2022 Numeric references always work." in text  # Symbol 0xB7: a bullet
    assert "Icon fonts draw nothing here." in text  # no font says what it is: dropped
    assert not re.search("[\ue000-\uf8ff]", text)
    assert doc["chunks"][0]["headings"] == [{"label": "", "title": "Escaping in XML"}]  # the title too


def test_pptx_needs_the_speaker_notes_setting(tmp_path):
    with pytest.raises(EmbedlabError, match=r"speaker_notes.*apart or drop"):
        load_corpus(make_pptx(tmp_path / "deck.pptx"), "c", None)


def test_epub_chapters_from_the_navigation_document(tmp_path):
    blocks = load_path(make_epub(tmp_path / "guide.epub"), corpus="c")
    assert _paths(blocks) == [
        ("Getting there",),
        ("Getting there", "Checklist"),
        ("Staying safe",),
        ("Staying safe", "Checklist"),
        ("Coming home",),
        ("Coming home", "Checklist"),
    ]
    assert blocks[2].paragraphs == ["Chapter 2 opens with a paragraph about staying safe."]


def test_rst_sections_nest_and_literal_blocks_are_code(tmp_path):
    (tmp_path / "handbook.rst").write_text(RST, encoding="utf-8")
    blocks = load_path(tmp_path / "handbook.rst", corpus="c")
    assert _paths(blocks) == [
        ("Handbook",),
        ("Handbook", "On-call duty"),
        ("Handbook", "On-call duty", "Escalation"),
        ("Handbook", "Handover"),
    ]
    escalation = blocks[2].paragraphs
    assert escalation[1].startswith("```") and "# not a heading" in escalation[1]


def test_web_page_keeps_headings_and_table_rows(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        "<html><body><nav><a href='/'>Home</a><a href='/p'>Products</a></nav><main><article>"
        "<h1>Install guide</h1><p>This guide explains how to install the tool on a server of yours.</p>"
        "<h2>Requirements</h2><p>You need Python 3.11 and two CPU cores for the pipeline to run.</p>"
        "<table><tr><th>Name</th><th>Value</th></tr><tr><td>cores</td><td>2</td></tr></table>"
        "</article></main></body></html>",
        encoding="utf-8",
    )
    blocks = load_path(page, corpus="c")
    assert _paths(blocks) == [("Install guide",), ("Install guide", "Requirements")]
    assert blocks[1].paragraphs[1:] == ["Name | Value", "cores | 2"]
    assert "Products" not in " ".join(b.text for b in blocks)


def test_pdf_without_outline_or_numbering_gets_headings_from_font_size_and_bold(tmp_path):
    blocks = load_path(text_pdf(tmp_path / "guide.pdf", GUIDE_PAGES), corpus="c")
    assert _paths(blocks) == [
        ("Getting started",),
        ("Getting started", "Install on Linux"),
        ("Getting started", "Install on Linux", "Check the result"),
        ("Configuration",),
    ]
    assert blocks[3].page_at(0) == 2


def test_pdf_in_one_size_gets_no_headings(tmp_path):
    flat = [[(11, False, text) for _, _, text in page] for page in GUIDE_PAGES]
    blocks = load_path(text_pdf(tmp_path / "flat.pdf", flat), corpus="c")
    assert _paths(blocks) == [()]


# --- Markdown by the parser --------------------------------------------------------------------------------


def test_front_matter_is_not_text_a_rule_is_not_front_matter():
    items = markdown_items("---\ntitle: Guide\nsource: x.py\n---\n\n# Guide\n\nIntro.\n\n---\n\nMore text.\n")
    assert [(i.kind, i.text) for i in items] == [
        ("heading", "Guide"),
        ("text", "Intro."),
        ("text", "More text."),
    ]


def test_product_docs_no_heading_from_inside_code(corpora):
    from markdown_it import MarkdownIt

    root = corpora / "product_docs"
    comments, headings = set(), set()
    for file in sorted(root.rglob("*.md")):
        for token in MarkdownIt("commonmark").parse(file.read_text(encoding="utf-8")):
            if token.type in ("fence", "code_block"):
                comments |= {
                    ln.strip().lstrip("#").strip()
                    for ln in token.content.split("\n")
                    if ln.strip().startswith("#")
                }
            elif token.type == "inline" and token.map and token.level == 1:
                headings.add(token.content.strip())
    code_only = {c for c in comments if c} - headings
    assert len(code_only) > 20  # the corpus really has '# comment' lines in code
    blocks = load_path(root, corpus="product_docs")
    titles = {h.title or h.label for b in blocks for h in b.headings}
    assert titles & code_only == set()


# --- folders, archives, bad input ---------------------------------------------------------------------------


def _mixed_folder(root: Path, corpora: Path) -> Path:
    root.mkdir()
    shutil.copy(corpora / "product_docs" / "tutorial" / "quickstart.md", root / "quickstart.md")
    (root / "office").mkdir()
    make_docx(root / "office" / "policy.docx")
    make_pptx(root / "office" / "deck.pptx")
    text_pdf(root / "guide.pdf", GUIDE_PAGES)
    (root / "budget.xlsx").write_bytes(b"PK\x03\x04 not read")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return root


def test_mixed_folder_runs_to_a_dataset_and_lists_what_was_skipped(tmp_path, corpora, caplog):
    folder = _mixed_folder(tmp_path / "docs", corpora)
    loaded = load_corpus(folder, "mixed/en", "apart")
    assert {b.source for b in loaded.blocks} == {
        "quickstart.md",
        "office/policy.docx",
        "office/deck.pptx",
        "guide.pdf",
    }
    assert loaded.left_out() == {
        "unsupported_by_extension": {".png": 1, ".xlsx": 1},
        "needs_ocr": [],
        "unreadable": [],
        "empty": [],
    }
    chunks = tmp_path / "chunks.json"
    with caplog.at_level(logging.WARNING):
        chunk_corpus(
            folder,
            chunks,
            "mixed",
            "en",
            ChunkingSettings.default(
                chunk_size=128,
                chunk_overlap=16,
                tokenizer="cl100k_base",
                code_blocks="keep",
                speaker_notes="apart",
            ),
        )
    assert "skipped 2 unsupported file(s): {'.png': 1, '.xlsx': 1}" in caplog.text
    assert io.read_json(chunks)["left_out"] == loaded.left_out()
    written = io.read_json(chunks)["chunks"]
    assert all(c["heading_path"].split(" › ")[0] == c["source"] for c in written)  # the file tops the path
    assert "office/policy.docx › Travel policy › Booking flights" in {c["heading_path"] for c in written}
    queries = []
    for generator in ("ict", "headings"):
        queries.append(tmp_path / f"{generator}.json")
        generate_queries(chunks, queries[-1], generator, {}, 1)
    build_dataset(chunks, queries, tmp_path / "dataset.json", tmp_path / "provenance.json")
    assert io.read_json(tmp_path / "provenance.json")["left_out"]["unsupported_by_extension"] == {
        ".png": 1,
        ".xlsx": 1,
    }
    split_dataset(
        chunks, tmp_path / "dataset.json", tmp_path / "provenance.json", tmp_path / "train.json",
        tmp_path / "val.json", tmp_path / "split.json", 0.2, 1,
    )  # fmt: skip
    dataset = io.read_json(tmp_path / "dataset.json")
    sources = {c["source"] for c in io.read_json(chunks)["chunks"] if c["id"] in dataset["corpus"]}
    assert sources == {"quickstart.md", "office/policy.docx", "office/deck.pptx", "guide.pdf"}
    headings_doc = io.read_json(tmp_path / "headings.json")
    assert {"Booking flights", "Install on Linux"} <= {q["text"] for q in headings_doc["queries"]}
    assert io.read_json(tmp_path / "train.json")["queries"]


def test_a_zip_of_the_folder_reads_the_same(tmp_path, corpora):
    folder = _mixed_folder(tmp_path / "docs", corpora)
    archive = tmp_path / "docs.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for file in sorted(folder.rglob("*")):
            zf.write(file, file.relative_to(folder).as_posix())
    from_folder = load_corpus(folder, "c", "drop")
    from_zip = load_corpus(archive, "c", "drop")
    assert [(b.source, b.headings, b.paragraphs) for b in from_zip.blocks] == [
        (b.source, b.headings, b.paragraphs) for b in from_folder.blocks
    ]
    assert from_zip.left_out() == from_folder.left_out()


def _bad_inputs(tmp_path: Path) -> dict[str, Path]:
    from msoffcrypto.format.ooxml import OOXMLFile

    plain = make_docx(tmp_path / "plain.docx")
    locked = tmp_path / "locked.docx"  # encrypted as Word does with a password (ECMA-376 agile encryption)
    with open(plain, "rb") as src, open(locked, "wb") as out:
        OOXMLFile(src).encrypt("secret", out)
    plain.unlink()
    legacy = tmp_path / "legacy.pptx"  # a 97-2003 binary file renamed: an OLE container, no encrypted package
    olefile_header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504
    legacy.write_bytes(olefile_header + "PowerPoint Document".encode("utf-16-le"))
    deck = make_pptx(tmp_path / "deck.pptx")
    broken = tmp_path / "broken.pptx"
    broken.write_bytes(deck.read_bytes()[: deck.stat().st_size // 2])
    deck.unlink()
    nonav = make_epub(tmp_path / "nonav.epub", nav=False)
    return {
        "password-protected": locked,
        "old binary Office file": legacy,
        "not a readable PowerPoint": broken,
        "no navigation document": nonav,
    }


def test_bad_files_are_one_line_alone_and_skipped_in_a_folder(tmp_path, caplog):
    folder = tmp_path / "docs"
    folder.mkdir()
    bad = _bad_inputs(folder)
    for message, path in bad.items():
        with pytest.raises(EmbedlabError) as err:
            load_corpus(path, "c", "apart")
        text = str(err.value)
        assert message in text and path.name in text and "\n" not in text, text
    (folder / "ok.md").write_text("# Notes\n\nA readable file among damaged ones.\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        loaded = load_corpus(folder, "c", "apart")
    assert {b.source for b in loaded.blocks} == {"ok.md"}
    assert loaded.unreadable == sorted(p.name for p in bad.values())
    assert "skipped 4 unreadable file(s)" in caplog.text


@pytest.mark.parametrize("member", ["../escape.md", "/tmp/absolute.md", "a/../../escape.md"])
def test_zip_with_an_escaping_path_is_refused_and_writes_nothing(tmp_path, member):
    work = tmp_path / "work"
    work.mkdir()
    archive = work / "docs.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("fine.md", "# Fine\n\nText.\n")
        zf.writestr(member, "# Evil\n\nText.\n")
    with pytest.raises(EmbedlabError) as err:
        load_corpus(archive, "c", "apart")
    text = str(err.value)
    assert "docs.zip" in text and member in text and "outside" in text and "\n" not in text
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["docs.zip", "work"]
    assert not Path("/tmp/absolute.md").exists()


@pytest.mark.parametrize(
    ("suffix", "package", "extra"),
    [(".docx", "docx", "office"), (".pptx", "pptx", "office"), (".epub", "ebooklib", "epub"),
     (".rst", "docutils", "rst"), (".html", "trafilatura", "web")],
)  # fmt: skip
def test_a_missing_reader_names_the_extra_to_install(tmp_path, monkeypatch, caplog, suffix, package, extra):
    """Office, EPUB and rst files cannot be read without their package: one line naming the extra. A web
    page is still read (whole, navigation included), with a warning naming the extra."""
    makers = {".docx": make_docx, ".pptx": make_pptx, ".epub": make_epub}
    path = tmp_path / f"doc{suffix}"
    if suffix in makers:
        makers[suffix](path)
    elif suffix == ".rst":
        path.write_text("Title\n=====\n\nSome text about travel.\n", encoding="utf-8")
    else:
        path.write_text("<html><body><h1>Travel</h1><p>Some text about travel.</p></body></html>")
    for name in [m for m in sys.modules if m == package or m.startswith(f"{package}.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, package, None)  # what an uninstalled package looks like to import
    install = f"pip install 'embedlab[{extra}]'"
    if suffix == ".html":
        from embedlab.data import webpage

        webpage._trafilatura.cache_clear()  # the import is tried once per process
        try:
            with caplog.at_level(logging.WARNING):
                assert load_corpus(path, "c", "apart").blocks
        finally:
            webpage._trafilatura.cache_clear()
        assert install in caplog.text
        return
    with pytest.raises(EmbedlabError) as err:
        load_corpus(path, "c", "apart")
    message = str(err.value)
    assert install in message and path.name in message and "\n" not in message
