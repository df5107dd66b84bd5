import logging
import re

import pytest
from pypdf import PdfReader, PdfWriter
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
from embedlab.data.section_numbers import numbered_sections
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


def test_hyphenation_follows_the_document(nist, corpora):
    text = _text(nist[ZTA])
    assert "deperimeterization" in text  # neither form elsewhere, neither part a word of its own: joined
    assert "end-to-end" in text and "non-human" in text  # a part is a word elsewhere: a real compound

    def cleaned(name):  # the lines the structure is read from: the reference lists are still there
        pages = clean_pages([page.extract_text() for page in PdfReader(corpora / "report_pdf" / name).pages])
        return "\n".join(line for page in pages for line in page)

    assert "Non-Stationarity" in cleaned(ZTA)  # the case changes at the break: a compound
    assert "(SP) 800-181" in cleaned(SSDF)
    assert "McGrew D (2017)" not in text and "(SP) 800-181" not in _text(
        nist[SSDF]
    )  # reference lists left out


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
    top = [b.headings[0].label for b in blocks if b.headings and b.headings[0].label]
    assert list(dict.fromkeys(top)) == [
        *(str(n) for n in range(1, 8)),
        "Appendix A",
        "Appendix B",
    ]  # numbered lists ("1." … "10.") and footnotes are not sections; appendices are
    assert {h.title for b in blocks for h in b.headings if h.label == "3.1.2"} == {
        "ZTA Using Micro-Segmentation"
    }

    def numbered(blocks, first=r"\d+"):
        return {h.label for b in blocks for h in b.headings if re.fullmatch(rf"{first}(\.\d+)*", h.label)}

    assert len(numbered(blocks)) == 53 and numbered(blocks) == numbered(nist[ZTA])  # the bookmarked ones
    # appendix B's sections too, but B.4.5-B.4.7: the document goes from B.4 to B.4.5 (more than MAX_GAP)
    assert numbered(nist[ZTA], "B") - numbered(blocks, "B") == {"B.4.5", "B.4.6", "B.4.7"}
    assert numbered(blocks, "B") == {"B.1", "B.2", "B.2.1", "B.2.2", "B.3", "B.3.3", "B.3.4", "B.4"}
    assert not [h for b in blocks for h in b.headings if h.label.startswith(("Figure", "Table"))]  # captions
    # unnumbered titles set like the numbered ones are headings too (SSDF bookmarks two of them)
    front = {"Abstract", "Keywords", "Acknowledgments", "Audience"}
    assert front <= {b.headings[0].display() for b in blocks if b.headings}
    plain = {b.headings[0].display() for b in nist[f"plain:{SSDF}"] if b.headings}
    bookmarked = {"Executive Summary", "Note to Readers"}
    assert {*front, *bookmarked} <= plain and bookmarked <= {
        h.display() for b in nist[SSDF] for h in b.headings
    }
    ssdf = {b.headings[0].display() for b in nist[f"plain:{SSDF}"] if b.headings and b.headings[0].label}
    assert ssdf == {"1 — Introduction", "2 — The Secure Software Development Framework"}
    titles = [
        b.headings[0].display() for name in (ZTA, SSDF) for b in nist[f"plain:{name}"][:2] if b.headings
    ]
    assert "Zero Trust Architecture" in titles  # the front matter's heading: the title, set largest


def test_numbered_list_inside_a_section_is_not_a_section():
    lines = [
        "1 Scope",
        "Text.",
        "2 Basics",
        "2.1 Tenets",
        "1. All data sources",
        "2. All communication is secured",
        "3. Access is granted per session",
        "Text.",
        "2.2 A View of a Network",
        "3 Components",
        "3.1 Variations that wrap onto the",
        "next line in lower case",
    ]
    found = numbered_sections(lines)
    assert [found[i][1].label if i in found else None for i in range(len(lines))] == [
        "1",
        None,
        "2",
        "2.1",
        None,
        None,
        None,  # "3." continues the list, not the sections: 2.2 and 3 follow 2.1 in a longer chain
        None,
        "2.2",
        "3",
        None,
        None,
    ]
    assert found[3][0] == 2


def test_a_stray_number_in_a_figure_does_not_take_a_sections_place():
    """A legend ("2 Replicas", "3 Replicas") or a lone table cell ("2 Nodes") inside section 1 offers the
    next number; the chain through the real headings is the longer one (the old line-by-line reading took
    "2 Nodes" for section 2 and lost every section after it)."""
    lines = (
        "1 Introduction|Text.|2 Nodes|Text.|2 Replicas|3 Replicas|Text.|2 Background|Text.|2.1 Gossip|Text."
    )
    lines = [
        *lines.split("|"),
        "3 Design",
        "Text.",
        "4 Evaluation",
        "Text.",
        "A Proofs",
        "Text.",
        "A.1 Lemma",
    ]
    looks = [("bold", 12) if line[0].isdigit() else ("body", 9) for line in lines]
    looks[2] = ("body", 9)  # "2 Nodes" is set in the figure's font
    assert numbered_sections(lines)[2][1].display() == "2 — Nodes"  # by the numbers alone: the earliest
    found = numbered_sections(lines, looks)
    assert [(found[i][0], found[i][1].display()) for i in sorted(found)] == [
        (1, "1 — Introduction"),
        (1, "2 — Background"),
        (2, "2.1 — Gossip"),
        (1, "3 — Design"),
        (1, "4 — Evaluation"),
        (1, "A — Proofs"),  # letter-numbered appendices after the sections
        (2, "A.1 — Lemma"),
    ]


def test_roman_sections_hold_lettered_subsections():
    """IEEE papers: "II. RELATED WORK" holds "A. Gossip"; "C." reads as the letter C, not roman 100."""
    lines = ["I. INTRODUCTION", "Text.", "II. RELATED WORK", "Text.", "A. Gossip", "Text.", "B. Detectors"]
    lines += [
        "Text.",
        "C. Probes",
        "Text.",
        "III. DESIGN",
        "Text.",
        "A. Threat Model",
        "Text.",
        "Appendix A — Proofs",
    ]
    found = numbered_sections([*lines, "Text."])
    assert [(found[i][0], found[i][1].display()) for i in sorted(found)] == [
        (1, "I — INTRODUCTION"),
        (1, "II — RELATED WORK"),
        (2, "A — Gossip"),
        (2, "B — Detectors"),
        (2, "C — Probes"),
        (1, "III — DESIGN"),
        (2, "A — Threat Model"),
        (1, "Appendix A — Proofs"),
    ]


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
