"""A document's list of references (bibliography), found by the shape of its entries, in any language.

A reference list is apparatus, like a contents page: its entries ("[12] A. Author. Title. Venue, 2020.")
are citations, not text a reader asks about, and as chunks they would give the `ict` generator citation
"sentences" as queries. An entry starts with a bracketed label, numbered ([1], [2], … one after another)
or keyed ([ACT-IAC], [Anderson]); three or more such entries close together are the list (a table row of
one counts too), with the short unnumbered heading line right above it ("References", "REFERENCES",
"Literatur") and the lines that continue the last entry, a link on a line of its own included.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import pairwise

from embedlab.data.section_numbers import is_title, split_number

MIN_ENTRIES = 3
MAX_ENTRY_LINES = 8  # an entry wraps over at most this many lines
MAX_HEADING_WORDS = 3
MAX_NEXT_HEADING_WORDS = 6

_ENTRY = re.compile(r"^\[([^\[\]]{1,30})\]\s*\S")
_LINK = re.compile(r"^(?:https?://|www\.|doi:)\S*$")


def reference_lines(lines: Sequence[str]) -> set[int]:
    """Indices of the lines of every reference list in `lines` (a document's lines in order, table rows
    as their text), its heading line included."""
    runs: list[list[int]] = []
    for i, line in enumerate(lines):
        m = _ENTRY.match(line)
        if not m:
            continue
        label = m.group(1).strip()
        if runs and i - runs[-1][-1] <= MAX_ENTRY_LINES and _follows(_label(lines[runs[-1][-1]]), label):
            runs[-1].append(i)
        else:
            runs.append([i])
    found: set[int] = set()
    for run in (r for r in runs if len(r) >= MIN_ENTRIES):
        start, end = run[0], run[-1]
        span = max(b - a for a, b in pairwise(run))  # the longest entry: the last one may be as long
        while end + 1 < len(lines) and end + 1 - run[-1] < span and not _heading_like(lines[end + 1]):
            end += 1  # the last entry's wrapped lines
        while end + 1 < len(lines) and _LINK.match(lines[end + 1]):
            end += 1
        heading = lines[start - 1] if start else None
        if heading and is_title(heading) and len(heading.split()) <= MAX_HEADING_WORDS:
            start -= 1  # a numbered "7 References" is no title here: it stays a section
        found.update(range(start, end + 1))
    return found


def _label(line: str) -> str:
    m = _ENTRY.match(line)
    return m.group(1).strip() if m else ""


def _follows(previous: str, label: str) -> bool:
    """[4] after [3] (a citation at a line start, "[12] showed", is not numbered in turn); a key after a
    key."""
    if previous.isdigit() or label.isdigit():
        return previous.isdigit() and label.isdigit() and int(label) == int(previous) + 1
    return True


def _heading_like(line: str) -> bool:
    """What ends a reference list's last entry: a numbered line or a short title (the next heading)."""
    return split_number(line) is not None or (is_title(line) and len(line.split()) <= MAX_NEXT_HEADING_WORDS)
