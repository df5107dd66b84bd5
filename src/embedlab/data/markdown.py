"""Markdown documents: parsed by markdown-it-py (embedlab.data.markup), '#' headings give the outline;
articles and recitals are found inside paragraphs."""

from __future__ import annotations

from pathlib import Path

from embedlab.data.markup import feed_outline, markdown_items
from embedlab.data.outline import Block, OutlineBuilder


def load_markdown(path: Path, name: str) -> list[Block]:
    """Markdown without its site-generator markup (front matter, anchors, admonition and include lines,
    HTML and template tags); code blocks are fenced paragraphs. See `feed_outline` for the document title."""
    builder = OutlineBuilder(name)
    feed_outline(markdown_items(path.read_text(encoding="utf-8")), builder)
    return builder.blocks
