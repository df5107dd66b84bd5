"""HTML pages: parsing, and any page read by its h1-h6 headings (EUR-Lex pages: embedlab.eurlex)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

from embedlab.outline import OutlineBuilder, split_title

BLOCK_TAGS = ["p", "li", "td", "th", "pre", "blockquote", "dd", "dt", "h1", "h2", "h3", "h4", "h5", "h6"]


def clean(text: str) -> str:
    return " ".join(text.replace("\xa0", " ").split())


def parse_html(path: Path) -> Any:
    """Parse with lxml (EUR-Lex serves XHTML, its HTML parser copes); drop scripts and navigation."""
    from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning

    raw = path.read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        soup = BeautifulSoup(raw, "lxml")
    for tag in soup(["script", "style", "noscript", "head", "nav"]):
        tag.decompose()
    return soup


def read_generic(soup: Any, builder: OutlineBuilder) -> None:
    """Any HTML page: h1-h6 open headings, block elements are paragraphs."""
    body = soup.body or soup
    for el in body.find_all(BLOCK_TAGS):
        if el.find(BLOCK_TAGS):
            continue  # a container of other blocks: its children carry the text
        text = clean(el.get_text(" "))
        if not text:
            continue
        if el.name and re.fullmatch(r"h[1-6]", el.name):
            builder.heading(int(el.name[1]), split_title(text))
        else:
            builder.paragraph(text)
