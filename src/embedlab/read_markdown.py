"""Markdown documents: "#" headings give the outline; articles and recitals are found inside paragraphs."""

from __future__ import annotations

import re
from pathlib import Path

from embedlab.outline import Block, OutlineBuilder, TextStructure, split_title


def load_markdown(path: Path, name: str) -> list[Block]:
    """Markdown: '#' headings give the outline (a single H1 is the document title, not a path level);
    inside it, Chinese article paragraphs (第…条) and recitals before the first heading are detected too."""
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    builder = OutlineBuilder(name)
    structure = TextStructure(builder)
    lines = text.splitlines()
    h1 = [ln for ln in lines if re.match(r"^#\s", ln)]
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            para = " ".join(paragraph)
            if not structure.feed(para):
                builder.paragraph(para)
            paragraph.clear()

    for line in lines:
        m = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if m:
            flush()
            depth = len(m.group(1))
            if depth == 1 and len(h1) == 1:
                continue
            heading = split_title(m.group(2).rstrip("`"))
            builder.heading(depth, heading)
            structure.in_preamble = False
            if re.match(r"^第\S+条$", heading.label):
                structure.last_zh_article += 1
            continue
        if line.strip():
            paragraph.append(line.strip())
        else:
            flush()
    flush()
    return builder.blocks
