"""HTML pages: parsing, and any page read by its h1-h6 headings (EUR-Lex pages: embedlab.data.eurlex)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from embedlab.data.markup import feed_outline, node_items
from embedlab.data.outline import OutlineBuilder
from embedlab.data.readers import row_text

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


def flatten_tables(soup: Any) -> None:
    """Each table row (without nested tables) becomes one paragraph, cells joined by ' | ': a row is read
    across, so a value stays with its label in every chunk."""
    for row in soup.find_all("tr"):
        if row.find("table") is not None:
            continue
        cells = row.find_all(["td", "th"])
        paragraph = soup.new_tag("p")
        paragraph.string = row_text(cell.get_text(" ") for cell in cells)
        row.replace_with(paragraph)


def read_generic(soup: Any, builder: OutlineBuilder) -> None:
    """Any HTML page: h1-h6 open headings, block elements end paragraphs, <pre> is code (data.markup)."""
    feed_outline(list(node_items(soup.body or soup)), builder)
