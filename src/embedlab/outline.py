"""Document structure: turn a stream of headings and text lines into blocks under one leaf heading each.

Every loader (PDF, HTML, Markdown, text) feeds an `OutlineBuilder`, so the heading path of a chunk
(`CHAPTER II — … › Article 5 — …`, `第三章 证券交易 › 第二节 … › 第四十条`) means the same in every format,
and chunks never straddle two articles: that is what lets heading queries have exact positives and the
split keep whole articles on one side.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PATH_SEP = " › "
TITLE_SEP = " — "

# Structural levels used by the plain-text detector (Markdown uses its own '#' depth).
LEVEL_PART, LEVEL_CHAPTER, LEVEL_SECTION, LEVEL_ARTICLE = 1, 2, 3, 4

_ZH_NUM = "零〇一二三四五六七八九十百千两"
_ZH_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000}


def zh_number(text: str) -> int:
    """Parse a Chinese numeral such as 二百二十六 or 十四 (the article numbers of PRC statutes)."""
    total, digit = 0, 0
    for ch in text:
        if ch in _ZH_DIGITS:
            digit = _ZH_DIGITS[ch]
        elif ch in _ZH_UNITS:
            total += (digit or 1) * _ZH_UNITS[ch]
            digit = 0
        else:
            raise ValueError(f"not a Chinese numeral: {text!r}")
    return total + digit


@dataclass(frozen=True)
class Heading:
    label: str
    title: str | None = None

    def display(self) -> str:
        if not self.title:
            return self.label
        return (
            f"{self.label} {self.title}" if is_cjk(self.label[-1]) else f"{self.label}{TITLE_SEP}{self.title}"
        )

    def to_json(self) -> dict[str, str | None]:
        return {"label": self.label, "title": self.title}


@dataclass
class Block:
    """Text under one heading path, with the page each character offset starts on (PDF only)."""

    source: str
    headings: tuple[Heading, ...]
    paragraphs: list[str] = field(default_factory=list)
    pages: list[tuple[int, int]] = field(default_factory=list)  # (character offset in text, page number)

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)

    def page_at(self, offset: int) -> int | None:
        page = None
        for start, number in self.pages:
            if start > offset:
                break
            page = number
        return page


class OutlineBuilder:
    """Collects blocks; `heading()` opens a new block, `paragraph()` adds text to the current one."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.stack: list[tuple[int, Heading]] = []
        self.blocks: list[Block] = []
        self._current: Block | None = None

    def heading(self, level: int, heading: Heading) -> None:
        while self.stack and self.stack[-1][0] >= level:
            self.stack.pop()
        self.stack.append((level, heading))
        self._current = None

    def paragraph(self, text: str, page: int | None = None) -> None:
        text = text.strip()
        if not text:
            return
        if self._current is None:
            self._current = Block(self.source, tuple(h for _, h in self.stack))
            self.blocks.append(self._current)
        block = self._current
        if page is not None and (not block.pages or block.pages[-1][1] != page):
            offset = len(block.text) + (2 if block.paragraphs else 0)
            block.pages.append((offset, page))
        block.paragraphs.append(text)

    def is_open(self) -> bool:
        """True while paragraphs go to the last block (no heading opened since)."""
        return self._current is not None

    def extend_paragraph(self, text: str, joiner: str) -> None:
        """Continue the last paragraph (a line wrapped by the PDF layout, not a new paragraph)."""
        if self._current is None or not self._current.paragraphs:
            self.paragraph(text)
            return
        self._current.paragraphs[-1] += joiner + text.strip()


# --- plain-text structure detection (PDF pages, .txt, Markdown paragraphs) --------------------------------

_PATTERNS: list[tuple[int, re.Pattern[str]]] = [
    (LEVEL_CHAPTER, re.compile(rf"^(第[{_ZH_NUM}]+章)[ \u3000]*(.*)$")),
    (LEVEL_SECTION, re.compile(rf"^(第[{_ZH_NUM}]+节)[ \u3000]*(.*)$")),
    (LEVEL_ARTICLE, re.compile(rf"^(第[{_ZH_NUM}]+条)(?:[ \u3000]+(.*))?$")),
    (LEVEL_CHAPTER, re.compile(r"^((?:CHAPTER|CHAPITRE|KAPITOLA|FEJEZET)\s+[IVXLC]+)(?:\s+[—-]\s+(.*))?$")),
    (LEVEL_SECTION, re.compile(r"^((?:SECTION|ODDÍL|SZAKASZ)\s+\d+)(?:\s+[—-]\s+(.*))?$")),
    (LEVEL_ARTICLE, re.compile(r"^((?:Article|Článek|cikk)\s+(?:\d+|premier))(?:\s+[—-]\s+(.*))?$")),
    (LEVEL_CHAPTER, re.compile(r"^((?:ANNEX|ANNEXE|PŘÍLOHA|MELLÉKLET)\s+[IVXLC]+)(?:\s+[—-]\s+(.*))?$")),
]
_RECITAL = re.compile(r"^\((\d+)\)\s+(.+)$")
_ZH_ARTICLE = re.compile(rf"^第([{_ZH_NUM}]+)条")


class TextStructure:
    """Detects chapter/section/article lines in plain text and keeps article numbering consistent.

    Chinese statutes cite other articles ("第一百二十条规定…") at the start of wrapped lines; only an
    article marker that continues the numbering (n+1) opens a new article, so citations stay text.
    """

    def __init__(self, builder: OutlineBuilder) -> None:
        self.builder = builder
        self.last_zh_article = 0
        self.in_preamble = True  # numbered "(n)" paragraphs before the first chapter/article are recitals

    def match(self, line: str) -> tuple[int, Heading, str] | None:
        """Return (level, heading, rest of line) if `line` opens a heading."""
        recital = _RECITAL.match(line) if self.in_preamble else None
        if recital:
            return LEVEL_ARTICLE, Heading(f"Recital ({recital.group(1)})"), recital.group(2)
        for level, pattern in _PATTERNS:
            m = pattern.match(line)
            if not m:
                continue
            label, rest = m.group(1), (m.group(2) or "").strip()
            self.in_preamble = False
            zh = _ZH_ARTICLE.match(label)
            if zh:
                number = zh_number(zh.group(1))
                if number != self.last_zh_article + 1:
                    return None
                self.last_zh_article = number
                return level, Heading(label), rest  # Chinese articles: untitled, the rest is body text
            return level, Heading(label, rest or None), ""
        return None

    def feed(self, line: str, page: int | None = None) -> bool:
        """Open a heading if `line` is one (its trailing body text becomes a paragraph); else return False."""
        found = self.match(line.strip())
        if found is None:
            return False
        level, heading, rest = found
        self.builder.heading(level, heading)
        if rest:
            self.builder.paragraph(rest, page)
        return True


def is_cjk(ch: str) -> bool:
    return "\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef"


def split_title(text: str) -> Heading:
    """A heading line as label + title: "Article 5 — Title", "第三章 证券交易", or a bare title."""
    text = " ".join(text.split())
    if TITLE_SEP in text:
        label, title = text.split(TITLE_SEP, 1)
        return Heading(label.strip(), title.strip() or None)
    m = re.match(r"^(第\S+?[章节编])[ \u3000]+(.+)$", text)
    if m:
        return Heading(m.group(1), m.group(2))
    return Heading(text)
