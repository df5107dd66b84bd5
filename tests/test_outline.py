from embedlab.outline import Heading, OutlineBuilder, TextStructure, zh_number


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
    builder = OutlineBuilder("a.txt")
    structure = TextStructure(builder)
    assert structure.feed("(1) The purpose of this Regulation.")
    assert structure.feed("Article 3 — Definitions")
    assert not structure.feed("(1) 'AI system' means a machine-based system")
