import logging
import re

import pytest
from pypdf import PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    NameObject,
    NumberObject,
)

from embedlab.data.corpus import load_path
from embedlab.data.pdf import NoTextLayer, load_pdf, outline_heading
from embedlab.data.pdf_cleanup import clean_pages, dehyphenate, fold_compat
from embedlab.data.section_numbers import NumberedSections
from embedlab.errors import EmbedlabError

ZTA = "NIST.SP.800-207-ZeroTrustArchitecture.pdf"
SSDF = "NIST.SP.800-218.pdf"


def _without_outline(src, dest):
    writer = PdfWriter()
    writer.append(str(src), import_outline=False)
    writer.write(dest)
    return dest


@pytest.fixture(scope="module")
def nist(corpora, tmp_path_factory):
    """Blocks of both NIST PDFs as published (with bookmarks) and as copies without bookmarks."""
    tmp = tmp_path_factory.mktemp("nist")
    loaded = {}
    for name in (ZTA, SSDF):
        src = corpora / "report_pdf" / name
        loaded[name] = load_path(src)
        loaded[f"plain:{name}"] = load_path(_without_outline(src, tmp / name))
    return loaded


def _text(blocks):
    return "\n".join(b.text for b in blocks)


def _paths(blocks):
    return {tuple(h.display() for h in b.headings) for b in blocks}


@pytest.mark.parametrize("key", [ZTA, SSDF, f"plain:{ZTA}", f"plain:{SSDF}"])
def test_layout_artefacts_never_reach_block_text(nist, key):
    text = _text(nist[key])
    assert "available free of charge" not in text  # footer, also where a title page wraps it
    assert "ZERO TRUST ARCHITECTURE" not in text and "SSDF VERSION 1.1" not in text  # running headers
    assert "Table of Contents" not in text and not re.search(r"\.{4,}", text)  # contents pages
    assert not re.search("[\ufb00-\ufb06]", text)  # ﬁ-type ligatures folded
    words = {w.casefold() for w in re.findall(r"\w+", text)}
    broken = [m.group(0) for m in re.finditer(r"(\w+)-\s+(\w+)", text) if (m[1] + m[2]).casefold() in words]
    assert broken == []
    assert not any(re.fullmatch(r"[ivxlc\d]+", p) for b in nist[key] for p in b.paragraphs)  # page numbers


def test_hyphenation_follows_the_document(nist):
    text = _text(nist[ZTA])
    assert "deperimeterization" in text  # neither form elsewhere, neither part a word of its own: joined
    assert "end-to-end" in text and "non-human" in text  # a part is a word elsewhere: a real compound
    assert "Non-Stationarity" in text  # the case changes at the break: a compound
    assert "800-181" in _text(nist[SSDF])


def test_outline_gives_heading_paths_with_titles(nist):
    blocks = nist[ZTA]
    top = {b.headings[0] for b in blocks if b.headings and b.headings[0].label.isdigit()}
    assert {(h.label, h.title) for h in top} == {
        ("1", "Introduction"),
        ("2", "Zero Trust Basics"),
        ("3", "Logical Components of Zero Trust Architecture"),
        ("4", "Deployment Scenarios/Use Cases"),
        ("5", "Threats Associated with Zero Trust Architecture"),
        ("6", "Zero Trust Architecture and Possible Interactions with Existing Federal Guidance"),
        ("7", "Migrating to a Zero Trust Architecture"),
    }
    tenets = next(b for b in blocks if b.headings and b.headings[-1].label == "2.1")
    assert [h.display() for h in tenets.headings] == ["2 — Zero Trust Basics", "2.1 — Tenets of Zero Trust"]
    assert tenets.page_at(0) == 15 and not tenets.text.startswith("2.1")  # the printed title is the heading
    assert (
        "Appendix B — Identified Gaps in the Current State-of-the-Art in ZTA",
        "B.1 — Technology Survey",
    ) in (_paths(blocks))
    # bookmarks out of page order ("Note to Readers" p. 6 after "Executive Summary" p. 8) follow the pages
    ssdf = [b.headings[0].display() for b in nist[SSDF] if b.headings]
    assert ssdf.index("Note to Readers") < ssdf.index("Executive Summary") < ssdf.index("1 — Introduction")


def test_numbered_sections_without_outline(nist):
    blocks = nist[f"plain:{ZTA}"]
    top = sorted({b.headings[0].label for b in blocks if b.headings}, key=int)
    assert top == [
        str(n) for n in range(1, 8)
    ]  # numbered lists ("1." … "10.") and footnotes are not sections
    assert {h.title for b in blocks for h in b.headings if h.label == "3.1.2"} == {
        "ZTA Using Micro-Segmentation"
    }

    def numbered(blocks):
        return {h.label for b in blocks for h in b.headings if re.fullmatch(r"\d+(\.\d+)*", h.label)}

    assert len(numbered(blocks)) == 53 and numbered(blocks) == numbered(nist[ZTA])  # the bookmarked ones
    ssdf = {b.headings[0].display() for b in nist[f"plain:{SSDF}"] if b.headings}
    assert ssdf == {"1 — Introduction", "2 — The Secure Software Development Framework"}


def test_numbered_list_inside_a_section_is_not_a_section():
    sections = NumberedSections()
    lines = [
        "1 Scope",
        "2 Basics",
        "2.1 Tenets",
        "1. All data sources",
        "2. All communication is secured",
        "3. Access is granted per session",
        "2.2 A View of a Network",
        "3 Components",
        "3.1 Variations that wrap onto the",
        "next line in lower case",
    ]
    found = [sections.match(line, nxt) for line, nxt in zip(lines, [*lines[1:], None], strict=True)]
    assert [f[1].label if f else None for f in found] == [
        "1",
        "2",
        "2.1",
        None,
        None,
        None,
        "2.2",
        "3",
        None,
        None,
    ]
    assert found[2] == (2, found[2][1])


def test_bookmarks_from_a_built_outline(corpora, tmp_path):
    writer = PdfWriter()
    writer.append(str(corpora / "report_pdf" / ZTA), pages=(12, 17), import_outline=False)
    top = writer.add_outline_item("2 Zero Trust Basics", 0)
    writer.add_outline_item("Printed nowhere", 1, parent=top)
    writer.add_outline_item("2.1 Tenets of Zero Trust", 2, parent=top)
    path = tmp_path / "zta.pdf"
    writer.write(path)
    blocks = load_pdf(path, "zta.pdf")
    assert [[h.display() for h in b.headings] for b in blocks] == [
        ["2 — Zero Trust Basics"],
        ["2 — Zero Trust Basics", "Printed nowhere"],
        ["2 — Zero Trust Basics", "2.1 — Tenets of Zero Trust"],
    ]
    assert blocks[0].text.startswith("Zero trust is a cybersecurity paradigm")
    assert blocks[1].page_at(0) == 2  # an unprinted bookmark opens at the top of its page
    assert blocks[2].page_at(0) == 3 and "2.1 Tenets" not in blocks[2].text


def test_outline_titles_split_into_label_and_title():
    assert outline_heading("3.1.2 ZTA Using Micro-Segmentation").to_json() == {
        "label": "3.1.2",
        "title": "ZTA Using Micro-Segmentation",
    }
    assert outline_heading("Appendix A— Acronyms").display() == "Appendix A — Acronyms"


def test_cleanup_rules_on_plain_pages():
    words = ["alpha", "beta", "gamma", "delta", "epsilon"]
    bodies = [[f"Page {w} is about {w}.", f"It ends with {w} text."] for w in words]
    pages = [
        f"Report Title  Draft\n{n}\n{a}\n{b}\nhttps://example.org/report/{n}"
        for n, (a, b) in enumerate(bodies)
    ]
    pages.insert(1, "Contents\n1 Scope ........ 3\n2 Terms . . . . . 4\n3 Rules …… 5\n")
    pages.insert(3, "i\nReport Title Draft\nA title page\nhttps://example.org/\nreport/7\nwith text")
    cleaned = clean_pages(pages)
    assert cleaned[1] == []  # a contents page goes whole
    assert cleaned[3] == ["A title page", "with text"]  # the running footer, wrapped, goes too
    assert [page for i, page in enumerate(cleaned) if i not in (1, 3)] == bodies
    folded = fold_compat("ﬁle ﬂow ２０ａｂ，：（")
    assert folded == "file flow ２０ａｂ，：（"  # ligatures folded, CJK width forms kept


def test_line_end_hyphens_follow_the_document():
    pages = [
        [
            "configured twice; end and path and process",
            "a con-",
            "figured host, an end-to-",
            "end path, a Non-",
        ],
        ["Stationary pro-", "cess."],
    ]
    dehyphenate(pages)
    assert pages == [
        [
            "configured twice; end and path and process",
            "a configured",
            "host, an end-to-end",
            "path, a Non-Stationary",
        ],
        ["process."],
    ]


def _image_only_pdf(path, pages=1):
    writer = PdfWriter()
    for _ in range(pages):
        page = writer.add_blank_page(200, 200)
        image = DecodedStreamObject()
        image.set_data(b"\x80")
        image.update(
            {
                NameObject("/Type"): NameObject("/XObject"),
                NameObject("/Subtype"): NameObject("/Image"),
                NameObject("/Width"): NumberObject(1),
                NameObject("/Height"): NumberObject(1),
                NameObject("/ColorSpace"): NameObject("/DeviceGray"),
                NameObject("/BitsPerComponent"): NumberObject(8),
            }
        )
        content = DecodedStreamObject()
        content.set_data(b"q 200 0 0 200 0 0 cm /Im0 Do Q")
        resources = DictionaryObject(
            {NameObject("/XObject"): DictionaryObject({NameObject("/Im0"): writer._add_object(image)})}
        )
        page[NameObject("/Resources")] = resources
        page[NameObject("/Contents")] = ArrayObject([writer._add_object(content)])
    writer.write(path)


def test_image_only_pdf_needs_ocr(tmp_path):
    path = tmp_path / "scan.pdf"
    _image_only_pdf(path, pages=2)
    with pytest.raises(NoTextLayer):
        load_pdf(path, "scan.pdf")
    with pytest.raises(EmbedlabError) as err:
        load_path(path, corpus="scans")
    message = str(err.value)
    assert "no text layer" in message and "OCR" in message and "scan.pdf" in message and "\n" not in message


def test_some_image_only_pages_are_counted(corpora, tmp_path, caplog):
    scan = tmp_path / "scan.pdf"
    _image_only_pdf(scan)
    writer = PdfWriter()
    writer.append(str(corpora / "securities_law" / "securities_law_2019.pdf"), pages=(0, 2))
    writer.append(str(scan))
    path = tmp_path / "mixed.pdf"
    writer.write(path)
    with caplog.at_level(logging.WARNING):
        blocks = load_pdf(path, "mixed.pdf")
    assert blocks and "1 of 3 pages have no extractable text" in caplog.text


def test_a_scan_in_a_folder_is_skipped_and_named_the_rest_is_read(tmp_path, corpora, caplog):
    import shutil

    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(corpora / "securities_law" / "securities_law_2019.pdf", folder / "law.pdf")
    _image_only_pdf(folder / "scan.pdf")
    with caplog.at_level("WARNING"):
        blocks = load_path(folder, corpus="mixed")
    assert {b.source for b in blocks} == {"law.pdf"}
    assert "skipped 1 PDF(s) without a text layer (run OCR on them): scan.pdf" in caplog.text
    (folder / "law.pdf").unlink()
    with pytest.raises(EmbedlabError) as err:
        load_path(folder, corpus="mixed")
    assert "1 PDF(s) without a text layer need OCR" in str(err.value) and "\n" not in str(err.value)
