"""Headings of a PDF without bookmarks or numbered structure, from its typography: font size and bold runs.

Many exported reports and manuals carry their structure only in how titles look: larger or bold lines,
short, not ending a sentence. pypdf's text visitor reports the font and size of every text run, so a line's
look is measured, not guessed from its words. The document's body size is the size most characters are set
in; larger sizes are heading levels (largest first), and bold lines at body size come below them. Used only
when neither the outline nor the text's own numbering gives any heading, so documents read well today keep
their paths.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

LARGER = 1.15  # a heading size is at least this much larger than the body size
MAX_WORDS = 15  # a heading line is short
MAX_HEADING_SHARE = 0.4  # a document whose lines are mostly "headings" has no usable typography
_SENTENCE_END = tuple(".,;:。；，")


@dataclass
class StyledLine:
    """One extracted line with the characters it sets per (size, bold)."""

    text: str = ""
    runs: Counter[tuple[float, bool]] = field(default_factory=Counter)

    @property
    def size(self) -> float:
        sizes: Counter[float] = Counter()
        for (size, _), n in self.runs.items():
            sizes[size] += n
        return sizes.most_common(1)[0][0] if sizes else 0.0

    @property
    def bold(self) -> bool:
        total = sum(self.runs.values())
        return total > 0 and sum(n for (_, b), n in self.runs.items() if b) >= 0.8 * total


def styled_lines(page: Any) -> list[StyledLine]:
    """A page's lines with their font sizes (Tf size times the text and graphics scale) and boldness."""
    lines = [StyledLine()]

    def visit(text: str, cm: Any, tm: Any, font: Any, size: float) -> None:
        scale = math.sqrt(abs(tm[0] * tm[3] - tm[1] * tm[2]) * abs(cm[0] * cm[3] - cm[1] * cm[2])) or 1.0
        name = str((font or {}).get("/BaseFont", "")).casefold()
        bold = any(w in name for w in ("bold", "black", "heavy", "semibold"))
        for i, piece in enumerate(text.split("\n")):
            if i:
                lines.append(StyledLine())
            if piece.strip():
                lines[-1].text += piece
                lines[-1].runs[(round(size * scale * 2) / 2, bold)] += len(piece.strip())

    page.extract_text(visitor_text=visit)
    return [line for line in lines if line.text.strip()]


def heading_levels(pages: list[list[StyledLine]]) -> list[list[tuple[int, str]]]:
    """Per page, the (level, text) of lines that look like headings; [] everywhere when the document's
    typography does not mark headings (one size, or "headings" on most lines)."""
    chars: Counter[tuple[float, bool]] = Counter()
    for lines in pages:
        for line in lines:
            chars.update(line.runs)
    if not chars:
        return [[] for _ in pages]
    sizes: Counter[float] = Counter()
    for (size, _), n in chars.items():
        sizes[size] += n
    body = sizes.most_common(1)[0][0]
    body_bold = sum(n for (s, b), n in chars.items() if s == body and b) > 0.5 * sizes[body]
    looks = [[_look(line, body, body_bold) for line in lines] for lines in pages]
    larger = sorted({look for page in looks for look in page if look and look > 0}, reverse=True)
    rank = {size: i + 1 for i, size in enumerate(larger)}
    found = [
        [
            (rank.get(look, len(larger) + 1), " ".join(line.text.split()))
            for line, look in zip(lines, page, strict=True)
            if look
        ]
        for lines, page in zip(pages, looks, strict=True)
    ]
    count = sum(len(page) for page in found)
    total = sum(len(lines) for lines in pages)
    if count < 2 or count > MAX_HEADING_SHARE * total:
        return [[] for _ in pages]
    return found


def _look(line: StyledLine, body: float, body_bold: bool) -> float | None:
    """The heading size of a line (-1 for a bold line at or a little above body size), or None."""
    text = " ".join(line.text.split())
    if not any(ch.isalpha() for ch in text) or len(text.split()) > MAX_WORDS or text.endswith(_SENTENCE_END):
        return None
    if line.size >= body * LARGER:
        return line.size
    if line.bold and not body_bold and line.size >= body - 0.5:  # bold, at or a little above body size
        return -1.0
    return None
