from embedlab.data.outline import (
    Heading,
    OutlineBuilder,
    TextStructure,
    parse_marker,
    roman_number,
    zh_number,
)


def _outline(lines):
    """Feed `lines` as a loader does (the whole document first, then line by line)."""
    builder = OutlineBuilder("doc.txt")
    structure = TextStructure(builder, lines)
    for line in lines:
        if not structure.feed(line):
            builder.paragraph(line)
    return builder.blocks


def test_zh_number_parses_statute_numbers():
    assert [zh_number(t) for t in ["一", "十", "十四", "二十", "一百", "一百零七", "二百二十六"]] == [
        1,
        10,
        14,
        20,
        100,
        107,
        226,
    ]


def test_article_citation_at_line_start_is_not_a_new_article():
    builder = OutlineBuilder("law.txt")
    structure = TextStructure(builder)
    for line in [
        "第一章 总则",
        "第一条 为了规范证券发行。",
        "第二条 适用本法。",
        "第一百条规定的情形除外。",
        "第三条 公开。",
    ]:
        if not structure.feed(line):
            builder.paragraph(line)
    labels = [b.headings[-1].label for b in builder.blocks]
    assert labels == ["第一条", "第二条", "第三条"]
    assert "第一百条规定的情形除外。" in builder.blocks[1].text
    assert builder.blocks[0].headings[0] == Heading("第一章", "总则")


def test_heading_display_and_levels():
    builder = OutlineBuilder("a.md")
    builder.heading(2, Heading("CHAPTER I", "GENERAL"))
    builder.heading(4, Heading("Article 1", "Subject matter"))
    builder.paragraph("Text one.", page=3)
    builder.heading(4, Heading("Article 2", "Scope"))
    builder.paragraph("Text two.")
    assert [h.display() for h in builder.blocks[1].headings] == ["CHAPTER I — GENERAL", "Article 2 — Scope"]
    assert builder.blocks[0].page_at(0) == 3
    assert Heading("第三章", "证券交易").display() == "第三章 证券交易"


def test_recitals_only_before_the_first_structural_heading():
    lines = [
        "(1) The purpose of this Regulation.",
        "Article 3 — Definitions",
        "(1) 'AI system' means a machine-based system",
        "Article 4 — AI literacy",
    ]
    builder = OutlineBuilder("a.txt")
    structure = TextStructure(builder, lines)
    assert structure.feed(lines[0])
    assert structure.feed(lines[1])
    assert not structure.feed(lines[2])
    assert structure.feed(lines[3])


def test_markers_in_either_order_and_roman_numbers():
    assert parse_marker("5. cikk").key == parse_marker("5. CIKK").key == "cikk"
    assert parse_marker("5. cikk").number == (5, "")
    assert parse_marker("Artículo 5a — Ámbito").number == (5, "a")
    m = parse_marker("KAPITEL III — Allgemeine Bestimmungen")
    assert (m.key, m.number, m.label) == ("kapitel", (3, ""), "KAPITEL III")
    assert m.title == "Allgemeine Bestimmungen"
    assert parse_marker("III. FEJEZET: Általános rendelkezések").title == "Általános rendelkezések"
    assert parse_marker("Article 5 of Regulation (EU) 2019/1020 applies.") is None
    assert parse_marker("Section 3.2.1) or access resources via a portal") is None
    assert [roman_number(t) for t in ["I", "IV", "XIV", "XC", "IIII", "VX"]] == [1, 4, 14, 90, None, None]


def test_numbered_structure_in_a_made_up_language():
    """Keywords no table knows: "Kapo N" chapters holding "Paragrafo N" (restarting in each chapter);
    levels come from the numbering, not from the words."""
    lines = [
        "Kapo I — Unuaj aferoj",
        "Paragrafo 1 — Celo",
        "La celo de ci tiu leĝo.",
        "Paragrafo 2 — Amplekso",
        "Paragrafo 2 of the previous law is cited at the start of this sentence.",
        "Tabelo 3",
        "Kapo II — Duaj aferoj",
        "Paragrafo 1 — Difinoj",
        "Difinoj de terminoj.",
        "Paragrafo 2: Reguloj",
        "Reguloj por ĉiuj.",
    ]
    blocks = _outline(lines)
    assert [[h.display() for h in b.headings] for b in blocks] == [
        ["Kapo I — Unuaj aferoj", "Paragrafo 1 — Celo"],
        ["Kapo I — Unuaj aferoj", "Paragrafo 2 — Amplekso"],
        ["Kapo II — Duaj aferoj", "Paragrafo 1 — Difinoj"],
        ["Kapo II — Duaj aferoj", "Paragrafo 2 — Reguloj"],
    ]
    # a sentence starting with keyword + number, and a lone "Tabelo 3", stay text
    assert blocks[1].paragraphs == [lines[4], "Tabelo 3"]


def test_number_first_series_hungarian_style():
    lines = ["I. FEJEZET", "Általános rendelkezések", "1. cikk", "A rendelet tárgya.", "2. cikk", "Hatály."]
    lines += ["II. FEJEZET", "Tilalmak", "3. cikk", "Tilos.", "4. cikk", "Szankciók."]
    blocks = _outline(lines)
    assert [[h.label for h in b.headings] for b in blocks] == [
        ["I. FEJEZET"],
        ["I. FEJEZET", "1. cikk"],
        ["I. FEJEZET", "2. cikk"],
        ["II. FEJEZET"],
        ["II. FEJEZET", "3. cikk"],
        ["II. FEJEZET", "4. cikk"],
    ]


def test_keyword_lines_without_a_consecutive_series_are_text():
    lines = ["Figure 1", "Some text.", "Figure 4", "Article 7 — Scope", "More text.", "Article 9 — Other"]
    blocks = _outline(lines)
    assert [b.headings for b in blocks] == [()]
    assert blocks[0].paragraphs == lines


def test_series_restarting_without_a_parent_is_not_structure():
    """Table cells "Example 1, 2, 3" restarts on its own again and again: an enumeration, not headings."""
    lines = [f"Example {n}: Define policies for {k}" for k in ("a", "b", "c") for n in (1, 2, 3)]
    assert [b.headings for b in _outline(lines)] == [()]
