"""EUR-Lex Official Journal XHTML: recitals, chapters, sections, articles and annexes by the page's markup."""

from __future__ import annotations

import re
from typing import Any

from embedlab.outline import LEVEL_ARTICLE, LEVEL_CHAPTER, LEVEL_SECTION, Heading, OutlineBuilder
from embedlab.read_html import BLOCK_TAGS, clean


def is_eurlex(soup: Any) -> bool:
    """EUR-Lex OJ pages mark article titles with the class oj-ti-art."""
    return soup.find(class_="oj-ti-art") is not None


def read_eurlex(soup: Any, builder: OutlineBuilder) -> None:
    """EUR-Lex OJ XHTML: recitals (rct_N), chapters/sections (oj-ti-section-1/2), articles (oj-ti-art +
    oj-sti-art), annexes (oj-doc-ti inside anx_*); footnotes (oj-note) are dropped."""
    for note in soup.select("p.oj-note, .oj-note-tag"):
        note.decompose()
    body = soup.body or soup
    pending: tuple[int, str] | None = None  # a label waiting for its title paragraph
    for el in body.find_all(BLOCK_TAGS):
        if el.find(BLOCK_TAGS):
            continue
        classes = el.get("class") or []
        text = clean(el.get_text(" "))
        if not text:
            continue
        if "oj-ti-section-1" in classes:
            level = LEVEL_SECTION if text.upper().startswith("SECTION") else LEVEL_CHAPTER
            pending = (level, text)
            continue
        if "oj-ti-art" in classes:
            pending = (LEVEL_ARTICLE, text)
            continue
        if "oj-doc-ti" in classes and el.find_parent(id=re.compile(r"^anx_")):
            if pending is None and re.match(r"^ANN", text):
                pending = (LEVEL_CHAPTER, text)
                continue
            if pending is not None:
                builder.heading(pending[0], Heading(pending[1], text))
                pending = None
                continue
        if pending is not None and ("oj-ti-section-2" in classes or "oj-sti-art" in classes):
            builder.heading(pending[0], Heading(pending[1], text.rstrip("`")))
            pending = None
            continue
        if pending is not None:  # a label without a title
            builder.heading(pending[0], Heading(pending[1]))
            pending = None
        if re.fullmatch(r"\(\d+\)", text) and el.find_parent(id=re.compile(r"^rct_\d+$")) is not None:
            builder.heading(LEVEL_ARTICLE, Heading(f"Recital {text}"))
            continue
        builder.paragraph(text)
