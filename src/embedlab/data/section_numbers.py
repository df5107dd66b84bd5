"""Decimal-numbered section headings ("2 Zero Trust Basics", "2.1 Tenets of Zero Trust") in plain text lines.

Reports, standards and papers number their sections; the numbers are language-free and their depth is the
heading level. A numbered list item, a footnote or a table row also starts with a number, so a line only
opens a section when it looks like a title (short, capitalised or uncased, no sentence end) and its number
continues the document's numbering: the next number at some level, or `.1` one level down.
"""

from __future__ import annotations

import re

from embedlab.data.outline import Heading

MAX_TITLE_CHARS = 100
MAX_TITLE_WORDS = 12

# "2", "2.1.3" or an appendix's "B.2.1" (a letter, then numbers), then the title
_SENTENCE_INSIDE = re.compile(r"[.!?。！？]\s+\S")
_NUMBERED = re.compile(r"^((?:\d{1,3}|[^\W\d_](?=\.\d))(?:\.\d{1,3}){0,5})\.?\s+(\S.*)$")


def split_number(text: str) -> Heading | None:
    """Heading("2.1", "Tenets of Zero Trust") from "2.1 Tenets of Zero Trust"; None without a number."""
    m = _NUMBERED.match(" ".join(text.split()))
    return Heading(m.group(1), m.group(2)) if m else None


def next_numbers(last: tuple[int, ...]) -> set[tuple[int, ...]]:
    """Section numbers that may follow `last`: 2.1.3 → 2.1.4, 2.2, 3 or 2.1.3.1."""
    following = {(*last[:depth], last[depth] + 1) for depth in range(len(last))}
    return following | {(*last, 1)}


def is_title(text: str) -> bool:
    """A heading title: short, starts with a letter that is not lower case, no sentence or clause end in
    it or after it ("3. Access is granted per session. Trust in" is a list item)."""
    return (
        text[0].isalpha()
        and not text[0].islower()
        and len(text) <= MAX_TITLE_CHARS
        and len(text.split()) <= MAX_TITLE_WORDS
        and not text.endswith((".", ",", ";", ":"))
        and not _SENTENCE_INSIDE.search(text)
        and "://" not in text
    )


class NumberedSections:
    """Follows a document's section numbering line by line; `match` returns (level, heading) or None.

    A numbered list ("1." … "4.") inside section 2.1 would offer "3." as the next top-level number: a
    title-shaped line whose number is out of sequence is remembered until the next heading, and a number
    whose predecessor was such a line continues that list, not the sections.
    """

    def __init__(self) -> None:
        self.last: tuple[int, ...] = (0,)  # before "1" (or "0.1": documents that number from 0)
        self.listed: set[tuple[int, ...]] = set()

    def match(self, line: str, next_line: str | None = None) -> tuple[int, Heading] | None:
        """`next_line` is the line after: one continuing in lower case makes `line` a wrapped item."""
        heading = split_number(line)
        if heading is None or not heading.label[0].isdigit() or not heading.title:
            return None
        if not is_title(heading.title) or (next_line and next_line[0].islower()):
            return None
        number = tuple(int(n) for n in heading.label.split("."))
        previous = (*number[:-1], number[-1] - 1)
        if number not in next_numbers(self.last) or previous in self.listed:
            self.listed.add(number)
            return None
        self.last = number
        self.listed.clear()
        return len(number), heading
