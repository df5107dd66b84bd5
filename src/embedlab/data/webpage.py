"""Saved web pages (not EUR-Lex): the main content through trafilatura, headings kept, boilerplate gone.

A page saved from a site carries its menus, cookie banners, footers and "related articles" on every page;
chunked, they repeat across the corpus and draw queries to the wrong pages. trafilatura (maintained, and
tested on thousands of sites) finds the main content; its HTML output keeps h1-h6, code and tables, which
are then read like any HTML page (embedlab.data.html). When trafilatura finds no main content (a short or
unusual page), the whole page body is read instead; when it is not installed, the same, with a warning
naming the extra once per run.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path
from typing import Any

from embedlab.data.html import flatten_tables, parse_html, read_generic
from embedlab.data.outline import OutlineBuilder
from embedlab.data.readers import EXTRAS

log = logging.getLogger(__name__)


def main_content(raw: bytes) -> str | None:
    """The page's main content as HTML (trafilatura), or None when it finds none or is not installed."""
    trafilatura = _trafilatura()
    if trafilatura is None:
        return None
    html = raw.decode("utf-8", errors="replace")
    return trafilatura.extract(
        html,
        output_format="html",
        include_tables=True,
        include_formatting=True,
        include_comments=False,
        include_images=False,
        favor_recall=True,  # a docs page's short sections are content, not boilerplate
        deduplicate=False,
    )


@cache
def _trafilatura() -> Any:
    try:
        import trafilatura
    except ImportError as exc:
        log.warning(
            "web pages are read whole, navigation included: trafilatura cannot be imported (%s); "
            "pip install 'embedlab[%s]'",
            " ".join(str(exc).split()),
            EXTRAS["trafilatura"],
        )
        return None
    return trafilatura


def read_webpage(path: Path, builder: OutlineBuilder) -> None:
    """Headings, paragraphs, code and table rows of the page's main content into `builder`."""
    content = main_content(path.read_bytes())
    soup = _soup(content) if content else parse_html(path)
    flatten_tables(soup)
    read_generic(soup, builder)


def _soup(html: str) -> Any:
    from bs4 import BeautifulSoup

    return BeautifulSoup(html, "lxml")
