"""HTML pages: parsing, and any page read by its h1-h6 headings (EUR-Lex pages: embedlab.data.eurlex)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from embedlab.data.markup import feed_outline, node_items
from embedlab.data.outline import OutlineBuilder

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
    """Any HTML page: h1-h6 open headings, block elements end paragraphs, <pre> is code (data.markup)."""
    feed_outline(list(node_items(soup.body or soup)), builder)
