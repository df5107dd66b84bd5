"""EUR-Lex XHTML in any official language: structure from the page's ids and classes, not its words."""

import re

import pytest

from embedlab.data.chunking import group_key
from embedlab.data.corpus import load_path
from embedlab.evaluation.crosslingual import structure_keys

# The label words of the English page and another language's, as the OJ prints them (number after the
# word, or before it as in Hungarian: "5. cikk", "III. FEJEZET").
GERMAN = {"CHAPTER": "KAPITEL", "SECTION": "ABSCHNITT", "Article": "Artikel", "ANNEX": "ANHANG"}
HUNGARIAN = {"CHAPTER": "FEJEZET", "SECTION": "SZAKASZ", "Article": "cikk", "ANNEX": "MELLÉKLET"}
_LABEL = re.compile(r"\b(CHAPTER|SECTION|Article|ANNEX)(\s)([IVXLC]+|\d+)\b")


def _translate(text: str, words: dict[str, str], number_first: bool) -> str:
    if number_first:
        return _LABEL.sub(lambda m: f"{m.group(3)}.{m.group(2)}{words[m.group(1)]}", text)
    return _LABEL.sub(lambda m: f"{words[m.group(1)]}{m.group(2)}{m.group(3)}", text)


def _structure(blocks):
    """Heading paths (labels) and split-group keys of the blocks, in order."""
    return [tuple(h.label for h in b.headings) for b in blocks], [group_key(b.headings, "") for b in blocks]


def _crosslingual_keys(blocks):
    chunks = [{"id": str(i), "headings": [h.to_json() for h in b.headings]} for i, b in enumerate(blocks)]
    return list(structure_keys(chunks).values())


@pytest.mark.parametrize("words,number_first", [(GERMAN, False), (HUNGARIAN, True)])
def test_other_language_pages_give_the_same_structure(corpora, tmp_path, words, number_first):
    english = (corpora / "eu_ai_act" / "EN.html").read_text(encoding="utf-8")
    page = tmp_path / "page.html"
    page.write_text(_translate(english, words, number_first), encoding="utf-8")
    expected = _structure(load_path(corpora / "eu_ai_act" / "EN.html"))
    blocks = load_path(page)
    assert _structure(blocks) == (
        [tuple(_translate(label, words, number_first) for label in path) for path in expected[0]],
        [_translate(g, words, number_first) for g in expected[1]],
    )
    labels = {h.label for b in blocks for h in b.headings}
    article, chapter, section, annex = (words[k] for k in ("Article", "CHAPTER", "SECTION", "ANNEX"))
    if number_first:
        assert {"5. cikk", "III. FEJEZET", "1. SZAKASZ", "XIII. MELLÉKLET"} <= labels
    else:
        assert {f"{article} 5", f"{chapter} III", f"{section} 1", f"{annex} XIII"} <= labels
    english_blocks = load_path(corpora / "eu_ai_act" / "EN.html")
    assert _crosslingual_keys(blocks) == _crosslingual_keys(english_blocks)  # cross-lingual alignment keys
    art9 = next(b for b in blocks if b.headings and b.headings[-1].title == "Risk management system")
    assert len(art9.headings) == 3  # chapter › section › article, whatever the words
    assert sum(1 for b in blocks if b.headings and b.headings[-1].label.startswith("Recital")) == 180
