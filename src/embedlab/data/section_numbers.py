"""Numbered section headings in plain text lines: "2 Zero Trust Basics", "2.1 Tenets", "IV. EVALUATION",
"A. Threat Model", "Appendix B — Gaps", "B.1 Survey".

Reports, standards and papers number their sections; the numbers are language-free and their depth is the
heading level. Arabic numbers nest by dots (2.1.3); roman numerals hold lettered subsections (IEEE: IV. …,
A. …); appendices switch to letters after the last section ("A Proofs", "Appendix A — …", "A.1 …"). A
numbered list item, a footnote, a table cell or a figure's legend also starts with a number, so a line is
only a candidate when it looks like a title (short, capitalised or uncased, no sentence end, not wrapped
into a lower-case line, not directly followed by another candidate of its depth as in a list or a legend),
and the headings are the longest chain of candidates in which each number follows the one before (the next
number at some level, or the first one level down): a stray "2 Replicas" in a figure of section 1 cannot
take the place of "2 Background", as it could when lines were accepted one at a time.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass

from embedlab.data.outline import Heading, roman_number

MAX_TITLE_CHARS = 100
MAX_TITLE_WORDS = 12
MAX_DEPTH = 6
MAX_GAP = 2  # numbers a chain may skip

# "2", "2.1.3" or an appendix's "B.2.1" (a letter, then numbers), then the title
_SENTENCE_INSIDE = re.compile(r"[.!?。！？]\s+\S")
_NUMBERED = re.compile(r"^((?:\d{1,3}|[^\W\d_](?=\.\d))(?:\.\d{1,3}){0,5})\.?\s+(\S.*)$")
_ROMAN = re.compile(r"^([IVXLC]{1,7})\.\s+(\S.*)$")  # "IV. EVALUATION": the dot is part of the shape
_LETTER = re.compile(r"^([A-Z])(?:\.\s*|\s+)(\S.*)$")  # "A. Threat Model", "A Proofs"
# "Appendix A — Acronyms", "ANHANG B: …": a word, a capital letter, the title
_APPENDIX = re.compile(r"^([^\W\d_]{2,30}\s+([A-Z]))(?:\s*[—–:.]\s*|\s+[—–-]\s+|\s+)(\S.*)$")

# A section number: per level its scheme ("1" arabic, "I" roman, "A" letters) and value.
Number = tuple[tuple[str, int], ...]
_Node = tuple[int, Number, Heading, int | None, int]  # line, number, heading, previous node, chain length
_ROOTS: tuple[Number, ...] = ((("1", 0),), (("I", 0),))  # before "1" (or "0.1") and before "I."


def split_number(text: str) -> Heading | None:
    """Heading("2.1", "Tenets of Zero Trust") from "2.1 Tenets of Zero Trust"; None without a number."""
    m = _NUMBERED.match(" ".join(text.split()))
    return Heading(m.group(1), m.group(2)) if m else None


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


@dataclass(frozen=True)
class _Reading:
    """One way to read a candidate line: its heading and its number, whole (`number`) or only its last
    level (`last`: "A." is an appendix at the top or a subsection under a roman section)."""

    heading: Heading
    number: Number | None = None
    last: tuple[str, int] | None = None


def _readings(line: str) -> list[_Reading]:
    """Every numbered-heading reading of a title-shaped line ("C. Design": roman 100 or the letter C)."""
    line = " ".join(line.split())
    found: list[_Reading] = []
    m = _NUMBERED.match(line)
    if m:
        parts = m.group(1).split(".")
        head = ("A", ord(parts[0]) - 64) if parts[0].isalpha() else ("1", int(parts[0]))
        if head[0] == "1" or "A" <= parts[0] <= "Z":
            number = (head, *(("1", int(p)) for p in parts[1:]))
            found.append(_Reading(Heading(m.group(1), m.group(2)), number))
    m = _ROMAN.match(line)
    value = roman_number(m.group(1)) if m else None
    if m and value:
        found.append(_Reading(Heading(m.group(1), m.group(2)), (("I", value),)))
    m = _LETTER.match(line)
    if m:
        found.append(_Reading(Heading(m.group(1), m.group(2)), last=("A", ord(m.group(1)) - 64)))
    m = _APPENDIX.match(line)
    if m:
        found.append(_Reading(Heading(m.group(1), m.group(3)), (("A", ord(m.group(2)) - 64),)))
    return [r for r in found if r.heading.title and is_title(r.heading.title)]


def _depth(readings: list[_Reading]) -> int:
    """The shallowest level a candidate line may be at (a bare letter may be a top-level appendix)."""
    return min(len(r.number) if r.number else 1 for r in readings)


def _predecessors(number: Number) -> Iterator[tuple[object, ...]]:
    """Keys of what a chain must end in for `number` to come next: ("under", n) n or any subsection of it
    (the previous sibling), ("at", n) exactly n (the parent of a first subsection), ("not-appendix",) any
    number outside the appendices (letters start the appendices after arabic or roman sections). A number
    may skip up to MAX_GAP before it (a heading lost to extraction, or left out by the document: NIST SP
    800-207 goes from B.3 to B.3.3); skipping costs the chain the headings it skips, so real ones win."""
    scheme, value = number[-1]
    parent = number[:-1]
    for before in range(max(value - 1 - MAX_GAP, 0), value):
        if before or (not parent and scheme != "A"):  # the roots stand before 1 and I
            yield "under", (*parent, (scheme, before))
    if 1 <= value <= 1 + MAX_GAP and parent and scheme == ("A" if parent[-1][0] == "I" else "1"):
        yield ("at", parent)
    if value == 1 and not parent and scheme == "A":
        yield ("not-appendix",)


def _keys(number: Number) -> Iterator[tuple[object, ...]]:
    """The keys (see _predecessors) a chain ending in `number` answers to."""
    yield "at", number
    for depth in range(1, len(number) + 1):
        yield "under", number[:depth]
    if number[0][0] != "A":
        yield ("not-appendix",)
    if number[0][0] == "I" and len(number) == 1:
        yield ("roman",)
    if number[0][0] == "I" and len(number) > 1 and number[1][0] == "A":
        yield "roman-letter", number[1][1]


def numbered_sections(
    lines: Sequence[str | None], looks: Sequence[Hashable | None] = ()
) -> dict[int, tuple[int, Heading]]:
    """The section headings among `lines` (every line of the document in order; None for a line that can
    be no heading, e.g. a table row): line index -> (level, heading). `looks` (per line, its typeface, or
    None) settles what numbers alone cannot: a top-level number not set like the top-level headings of
    the chain ("2 Nodes" in a figure before "2 Background") is no heading."""
    candidates: dict[int, list[_Reading]] = {}
    for i, line in enumerate(lines):
        if not line:
            continue
        following = lines[i + 1] if i + 1 < len(lines) else None
        if following and following[0].islower():
            continue  # wrapped into the next line: a list item or a sentence
        readings = _readings(line)
        if readings:
            candidates[i] = readings
    for i in list(candidates):  # numbered titles line after line at one depth: a list or a figure's legend
        if i + 1 in candidates and _depth(candidates[i + 1]) == _depth(candidates[i]):
            del candidates[i]
    chain = _longest_chain(candidates)
    top = Counter(looks[i] for i, (level, _) in chain.items() if level == 1 and i < len(looks) and looks[i])
    if not top:
        return chain
    look = top.most_common(1)[0][0]
    for i in list(candidates):
        if i < len(looks) and looks[i] not in (None, look):
            candidates[i] = [r for r in candidates[i] if not _numbered_top(r)]
    return _longest_chain({i: readings for i, readings in candidates.items() if readings})


def _numbered_top(reading: _Reading) -> bool:
    """A top-level arabic or roman number (where stray numbers come from: legends, cells, list items)."""
    return reading.number is not None and len(reading.number) == 1 and reading.number[0][0] != "A"


def _options(
    readings: list[_Reading], best: dict[tuple[object, ...], tuple[int, int | None]], nodes: list[_Node]
) -> Iterator[tuple[Number, tuple[object, ...], Heading]]:
    """(number, key of a chain it may follow, heading) for every reading of a candidate line."""
    for reading in readings:
        if reading.last:  # a bare letter under a roman section (its first, A., or the next one) comes first:
            value = reading.last[1]  # of equal chains, a subsection of II. rather than an appendix
            key = ("roman",) if value == 1 else ("roman-letter", value - 1)
            if key in best and best[key][1] is not None:
                yield (nodes[best[key][1]][1][0], reading.last), key, reading.heading
        number = reading.number or ((reading.last,) if reading.last else ())
        for key in _predecessors(number):
            yield number, key, reading.heading


def _longest_chain(candidates: dict[int, list[_Reading]]) -> dict[int, tuple[int, Heading]]:
    """The longest sequence of candidates whose numbers follow each other (of equal ones, the earliest)."""
    nodes: list[_Node] = []
    best: dict[tuple[object, ...], tuple[int, int | None]] = {}  # key -> (chain length, its last node)
    for root in _ROOTS:
        best["under", root] = best["at", root] = (0, None)  # "0.1" documents start under the arabic root
    for line, readings in candidates.items():
        options: dict[Number, tuple[int, int | None, Heading]] = {}  # per reading of the line: the best
        for number, key, heading in _options(readings, best, nodes):
            if key in best and len(number) <= MAX_DEPTH and best[key][0] + 1 > options.get(number, (0,))[0]:
                options[number] = (best[key][0] + 1, best[key][1], heading)
        added = [(number, len(nodes) + k) for k, number in enumerate(options)]
        for number, (size, previous, heading) in options.items():
            nodes.append((line, number, heading, previous, size))
        for number, node in added:  # after every reading: a line never follows itself
            for key in _keys(number):
                if key not in best or best[key][0] < options[number][0]:
                    best[key] = (options[number][0], node)
    chain: dict[int, tuple[int, Heading]] = {}
    last = max(range(len(nodes)), key=lambda n: nodes[n][4], default=None)
    while last is not None:
        line, number, heading, last, _ = nodes[last]
        chain[line] = (len(number), heading)
    return chain
