"""Document structure: turn a stream of headings and text lines into blocks under one leaf heading each.

Every loader (PDF, HTML, Markdown, text) feeds an `OutlineBuilder`, so the heading path of a chunk
(`CHAPTER II — … › Article 5 — …`, `第三章 证券交易 › 第二节 … › 第四十条`) means the same in every format,
and chunks never straddle two articles: that is what lets heading queries have exact positives and the
split keep whole articles on one side.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from embedlab.data.glyphs import drop_private_use, has_private_use
from embedlab.text import is_cjk

PATH_SEP = " › "
TITLE_SEP = " — "

# Levels of Chinese statute markers (章 chapter, 节 section, 条 article): the '#' depths their Markdown uses.
LEVEL_CHAPTER, LEVEL_SECTION, LEVEL_ARTICLE = 2, 3, 4

ZH_NUMERALS = "零〇一二三四五六七八九十百千两"
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
        """Shows "Article 5 — Title", "第五条 标题"; a heading that is only a title (empty label) shows
        the title, so paths read "Serializers › Example"."""
        if not self.title:
            return self.label
        if not self.label:
            return self.title
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
    """Collects blocks; `heading()` opens a new block, `paragraph()` adds text to the current one. Every
    loader's text passes here, so no private-use character (a symbol or icon font's glyph) gets through."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.stack: list[tuple[int, Heading]] = []
        self.blocks: list[Block] = []
        self._current: Block | None = None

    def heading(self, level: int, heading: Heading) -> None:
        if has_private_use(heading.label + (heading.title or "")):
            title = " ".join(drop_private_use(heading.title or "").split())
            heading = Heading(" ".join(drop_private_use(heading.label).split()), title or None)
        while self.stack and self.stack[-1][0] >= level:
            self.stack.pop()
        self.stack.append((level, heading))
        self._current = None

    def paragraph(self, text: str, page: int | None = None) -> None:
        text = drop_private_use(text).strip()
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
        self._current.paragraphs[-1] += joiner + drop_private_use(text).strip()


# --- plain-text structure detection (PDF pages, .txt, Markdown paragraphs) --------------------------------

# Numbered structure found in plain text nests below any Markdown '#' heading (levels 1-6); its own levels
# come from the document (see `_scan_series`). A recital is the deepest level: any heading closes it.
LEVEL_TEXT_BASE = 6
LEVEL_RECITAL = 99

_ZH_PATTERNS: list[tuple[int, re.Pattern[str]]] = [
    (LEVEL_CHAPTER, re.compile(rf"^(第[{ZH_NUMERALS}]+章)[ \u3000]*(.*)$")),
    (LEVEL_SECTION, re.compile(rf"^(第[{ZH_NUMERALS}]+节)[ \u3000]*(.*)$")),
    (LEVEL_ARTICLE, re.compile(rf"^(第[{ZH_NUMERALS}]+条)(?:[ \u3000]+(.*))?$")),
]
_RECITAL = re.compile(r"^\((\d+)\)\s+(.+)$")
_ZH_ARTICLE = re.compile(rf"^第([{ZH_NUMERALS}]+)条")

# "Article 5", "KAPITEL III — Title", "Artículo 5. Title", "5. cikk", "III. FEJEZET: Title": one word (any
# script) and one number (arabic, optionally lettered like 5a, or roman), either order, then an optional
# title after a dash, colon or full stop. A sentence ("Article 5 of Regulation …") has no such separator.
_NUM = r"\d{1,4}[a-z]?|[IVXLCDM]{1,7}"
_WORD = r"[^\W\d_]{2,30}"
_TITLE = r"(?:\s+[—–-]\s+|[:.]\s+)(?P<title>\S.*)"
_WORD_FIRST = re.compile(rf"^(?P<label>(?P<kw>{_WORD})\s+(?P<num>{_NUM}))\.?(?:{_TITLE})?$")
_NUMBER_FIRST = re.compile(rf"^(?P<label>(?P<num>{_NUM})\.\s*(?P<kw>{_WORD}))(?:{_TITLE})?$")
_MAX_LINE = 300
_MAX_GAP = 3  # numbers a series may skip (a marker lost to extraction) and still continue
_ROMAN = (("M", 1000), ("CM", 900), ("D", 500), ("CD", 400), ("C", 100), ("XC", 90), ("L", 50), ("XL", 40))
_ROMAN += (("X", 10), ("IX", 9), ("V", 5), ("IV", 4), ("I", 1))

Number = tuple[int, str]  # (value, letter suffix): 5 -> (5, ""), 5a -> (5, "a")


def roman_number(text: str) -> int | None:
    """Value of a canonical uppercase roman numeral ("XIV" -> 14); None for anything else ("IIII", "VX")."""
    value, rest = 0, text
    for symbol, amount in _ROMAN:
        while rest.startswith(symbol):
            value += amount
            rest = rest[len(symbol) :]
    if rest or not value:
        return None
    return value if _to_roman(value) == text else None


def _to_roman(value: int) -> str:
    out = []
    for symbol, amount in _ROMAN:
        count, value = divmod(value, amount)
        out.append(symbol * count)
    return "".join(out)


@dataclass(frozen=True)
class Marker:
    """A line that looks like a numbered structure heading: series key, number, label and title."""

    key: str  # the keyword, case-folded: "article", "cikk"
    number: Number
    label: str
    title: str | None


def parse_marker(line: str) -> Marker | None:
    """The keyword + number shape of a structure heading, or None; whether it is one depends on the series."""
    line = " ".join(line.split())
    if len(line) > _MAX_LINE:
        return None
    m = _WORD_FIRST.match(line) or _NUMBER_FIRST.match(line)
    if not m:
        return None
    num = m.group("num")
    if num[0].isdigit():
        number: Number = (int(num.rstrip("abcdefghijklmnopqrstuvwxyz")), num.lstrip("0123456789"))
    else:
        value = roman_number(num)
        if value is None:
            return None
        number = (value, "")
    return Marker(m.group("kw").casefold(), number, m.group("label"), m.group("title"))


def _follows(prev: Number, number: Number) -> bool:
    """5 -> 6, 5 -> 5a, 5a -> 5b, 5a -> 6: the next number of a series."""
    return number > prev and (number[0] == prev[0] or (number[0] == prev[0] + 1 and not number[1]))


@dataclass
class _Series:
    """What the whole document says about one keyword's numbering."""

    numbers: list[Number] = field(default_factory=list)  # in document order
    in_run: set[Number] = field(default_factory=set)  # numbers with a consecutive neighbour
    rank: int = 1

    @property
    def start(self) -> Number:
        """The number a run of this series starts at (1, I, or wherever an excerpt begins)."""
        return min(self.in_run)


def _scan_series(markers: list[Marker]) -> dict[str, _Series]:
    """Keywords whose numbering is consecutive somewhere in the document are structure, with their levels.

    A series that restarts (back to its first number) must do so right after a heading of another series
    (sections restart in each chapter; "Example 1, 2, 3" in table cells restart on their own and are not
    structure). Levels: a series restarting right after another lies below it; otherwise A lies above B when
    the gaps between A's headings hold B's headings more often than the reverse (chapters hold articles).
    """
    series: dict[str, _Series] = {}
    for marker in markers:
        series.setdefault(marker.key, _Series()).numbers.append(marker.number)
    for s in series.values():
        for prev, number in zip(s.numbers, s.numbers[1:], strict=False):
            if _follows(prev, number):
                s.in_run.update((prev, number))
    keys = {k for k, s in series.items() if s.in_run}
    while True:
        runs = [m for m in markers if m.key in keys and m.number in series[m.key].in_run]
        gaps, holds, parents, unexplained = _interleaving(runs, series)
        keep = keys - unexplained
        if keep == keys:
            break
        keys = keep
    above = {
        (a, b)
        for a in keys
        for b in keys
        if a in parents[b]
        or (
            b not in parents[a]
            and holds[a][b] * max(gaps[b], 1) > holds[b][a] * max(gaps[a], 1)  # ratio(a,b) > ratio(b,a)
        )
    }
    for _ in keys:  # longest chain of series above; bounded, so a contradictory document cannot loop
        for a, b in sorted(above):
            series[b].rank = max(series[b].rank, series[a].rank + 1)
    return {k: series[k] for k in keys}


def _interleaving(
    markers: list[Marker], series: dict[str, _Series]
) -> tuple[dict[str, int], dict[str, dict[str, int]], dict[str, set[str]], set[str]]:
    """One pass over the markers: gaps per key, gaps of a holding b, restart parents, unexplained restarts."""
    gaps: dict[str, int] = {}
    holds: dict[str, dict[str, int]] = {}
    parents: dict[str, set[str]] = {}
    unexplained: set[str] = set()
    since: dict[str, set[str]] = {}
    last: dict[str, Number] = {}
    previous: str | None = None  # key of the marker just before
    for m in markers:
        holds.setdefault(m.key, {})
        parents.setdefault(m.key, set())
        if m.key in since:
            gaps[m.key] = gaps.get(m.key, 0) + 1
            for other in since[m.key]:
                holds[m.key][other] = holds[m.key].get(other, 0) + 1
            if m.number <= last[m.key] and m.number == series[m.key].start:
                if previous is not None and previous != m.key:
                    parents[m.key].add(previous)  # "CHAPTER V" right before "SECTION 1" again
                else:
                    unexplained.add(m.key)
        for key, seen in since.items():
            if key != m.key:
                seen.add(m.key)
        since[m.key] = set()
        last[m.key] = m.number
        previous = m.key
    for key in holds:
        for other in holds:
            holds[key].setdefault(other, 0)
        gaps.setdefault(key, 0)
    return gaps, holds, parents, unexplained


class TextStructure:
    """Detects numbered structure lines in plain text, in any language, from the document's own numbering.

    A keyword + number line ("Article 5", "5. cikk", "KAPITEL III — Title") is a heading only when the same
    keyword recurs with consecutive numbers in the document (`lines`, every line the caller will feed), and
    only where it continues its series (or restarts it under a higher heading): a sentence or a stray
    reference ("Table 3") stays text. Chinese statutes (第N章/节/条) use their own numerals and cite other
    articles ("第一百二十条规定…") at the start of wrapped lines; only an article marker that continues the
    numbering (n+1) opens a new article, so citations stay text. Numbered "(n)" paragraphs before the first
    heading are recitals.
    """

    def __init__(self, builder: OutlineBuilder, lines: Iterable[str] = ()) -> None:
        self.builder = builder
        self.last_zh_article = 0
        self.in_preamble = True  # numbered "(n)" paragraphs before the first chapter/article are recitals
        self.series = _scan_series([m for m in map(parse_marker, lines) if m is not None])
        self._last: dict[str, Number] = {}
        self._since: dict[str, int] = {}  # per series: the highest level opened since its last heading

    def match(self, line: str) -> tuple[int, Heading, str] | None:
        """Return (level, heading, rest of line) if `line` opens a heading."""
        recital = _RECITAL.match(line) if self.in_preamble else None
        if recital:
            return LEVEL_RECITAL, Heading(f"Recital ({recital.group(1)})"), recital.group(2)
        for level, pattern in _ZH_PATTERNS:
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
        marker = parse_marker(line)
        if marker is None or not self._continues(marker):
            return None
        self.in_preamble = False
        return LEVEL_TEXT_BASE + self.series[marker.key].rank, Heading(marker.label, marker.title), ""

    def series_as_labels(self) -> set[str]:
        """Stop reading keyword series as headings; return their keywords. Inside numbered sections,
        "Figure 3", "Table 2" or "Listing 1" label figures and tables: they open no section."""
        keys = set(self.series)
        self.series = {}
        return keys

    def _continues(self, marker: Marker) -> bool:
        """Accept (and record) a marker that starts, continues or restarts its series."""
        series = self.series.get(marker.key)
        if series is None:
            return False
        prev = self._last.get(marker.key)
        number = marker.number
        if prev is None:
            ok = number in series.in_run
        elif _follows(prev, number):
            ok = True
        elif number > prev:
            ok = number[0] - prev[0] <= _MAX_GAP and number in series.in_run
        else:  # back to the first number: a new run under a higher heading (sections in the next chapter)
            ok = number == series.start and self._since.get(marker.key, series.rank) < series.rank
        if ok:
            self._last[marker.key] = number
            for key in self._since:
                self._since[key] = min(self._since[key], series.rank)
            self._since[marker.key] = series.rank
        return ok

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
