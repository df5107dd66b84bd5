"""PDF page text cleanup: what the page layout adds to the words is removed before structure detection.

Running headers and footers, page numbers, contents pages, ligatures and line-end hyphens are artefacts of
typesetting, not text: left in, they become chunk text shared by every page (so near-duplicate chunks and
queries that match the header) and split words that no query can match. Everything here is derived from the
document itself (repetition across pages, the words it uses elsewhere), never from word lists, so it works
for any language. Table rows (lines starting with ROW_MARK, see pdf_tables) are the table's own text: they
are never running lines, page numbers or contents entries, and a cell's wrapped lines are re-joined by the
same hyphenation evidence as prose.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from functools import lru_cache
from itertools import pairwise

EDGE_LINES = 4  # a running header/footer sits among the first or last few extracted lines of a page
RUNNING_SHARE = 0.4  # ...and comes back on this share of the pages with text (odd/even variants: ~half each)
MIN_RUNNING_PAGES = 3  # two pages sharing an edge line is not evidence of a running line

_ROMAN = re.compile(r"\b[ivxlcdm]+\b")  # after casefold: lower-case page numbers of front matter
_DIGITS = re.compile(r"\d+")
_LEADER = re.compile(r"(?:\.\s?){4,}\s*\S{0,8}\s*$|(?:[…·]\s?){2,}\s*\S{0,8}\s*$")
_WORD = re.compile(r"\w+(?:[-\u2010]\w+)*")
_BROKEN = re.compile(r"(\w+(?:[-\u2010]\w+)*)([-\u2010\u00ad])$")  # a word ending a line in a hyphen
_HYPHENS = re.compile(r"[-\u2010]")
_NEXT_WORD = re.compile(r"^(\w+(?:[-\u2010]\w+)*)\S*")

# Unicode noncharacters are reserved for a program's internal use: no text carries them, so they mark table
# rows inside page text (a row line starts with ROW_MARK; CELL_BREAK sits where a cell's text wrapped).
ROW_MARK = "\ufdd0"
CELL_BREAK = "\ufdd1"
_CELL_HYPHEN = re.compile(rf"(\w+(?:[-\u2010]\w+)*)([-\u2010\u00ad]){CELL_BREAK}(\w+(?:[-\u2010]\w+)*)")


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    # Width variants (full-width ，：（ in CJK text) are the script's own typography, not an extraction
    # artefact: they stay. Every other compatibility form (ﬁ ligatures, superscripts, NBSP) is folded.
    if unicodedata.decomposition(ch).startswith(("<wide>", "<narrow>")):
        return ch
    return unicodedata.normalize("NFKC", ch)


def fold_compat(text: str) -> str:
    """NFKC without width folding: ligatures (ﬁ → fi) and other presentation forms become plain letters."""
    if unicodedata.is_normalized("NFKC", text):
        return text
    return unicodedata.normalize("NFC", "".join(_fold_char(ch) for ch in text))


def is_row(line: str) -> bool:
    """A table row line (written by pdf_tables), not running text."""
    return line.startswith(ROW_MARK)


def without_marks(text: str) -> str:
    """Page text as extracted, rid of the two internal marks in the (unseen) case a broken font emits them."""
    if ROW_MARK in text or CELL_BREAK in text:
        return text.replace(ROW_MARK, "").replace(CELL_BREAK, "")
    return text


def line_key(line: str) -> str:
    """A line's identity across pages: case, spacing, digits and roman numerals (page numbers) masked."""
    masked = _DIGITS.sub("#", _ROMAN.sub("#", line.casefold()))
    return "".join(masked.split())


def is_page_number(line: str) -> bool:
    """A bare page number ("12", "- 12 -", "iv", "12/59"): nothing but numbers and punctuation."""
    key = line_key(line)
    return "#" in key and not any(ch.isalpha() for ch in key)


def is_leader_line(line: str) -> bool:
    """A contents entry: text, a dot leader ("....", ". . .", "…") and a page reference at the end."""
    return bool(_LEADER.search(line))


def page_lines(pages: list[str]) -> list[list[str]]:
    """Each page's non-empty lines, stripped, compatibility forms folded."""
    return [[ln.strip() for ln in fold_compat(text).splitlines() if ln.strip()] for text in pages]


def running_keys(pages: list[list[str]]) -> set[str]:
    """Keys of lines at a page edge that come back on most pages: running headers and footers."""
    counts: Counter[str] = Counter()
    for page in pages:
        lines = [ln for ln in page if not is_row(ln)]
        counts.update({line_key(ln) for ln in lines[:EDGE_LINES] + lines[-EDGE_LINES:]})
    with_text = sum(1 for lines in pages if lines)
    needed = max(MIN_RUNNING_PAGES, math.ceil(RUNNING_SHARE * with_text))
    return {key for key, n in counts.items() if n >= needed and key}


def strip_page(lines: list[str], running: set[str]) -> list[str]:
    """One page without its running lines and page numbers (peeled off both edges), without running text
    wrapped over two lines anywhere (a title page prints the footer URL on its own line), and without
    contents entries (a page that is mostly contents entries loses all its text lines: the others are the
    contents' own titles and wrapped entries). Table rows stay, and the edges are those of the text lines."""

    def edge(line: str) -> bool:
        return line_key(line) in running or is_page_number(line)

    text = [i for i, line in enumerate(lines) if not is_row(line)]
    for _ in range(EDGE_LINES):
        if text and edge(lines[text[0]]):
            text.pop(0)
    for _ in range(EDGE_LINES):
        if text and edge(lines[text[-1]]):
            text.pop()
    kept: list[int] = []
    k = 0
    while k < len(text):
        if k + 1 < len(text) and line_key(lines[text[k]]) + line_key(lines[text[k + 1]]) in running:
            k += 2
            continue
        kept.append(text[k])
        k += 1
    leaders = sum(1 for i in kept if is_leader_line(lines[i]))
    if leaders and 2 * leaders >= len(kept):
        kept = []
    keep = {i for i in kept if not is_leader_line(lines[i])}
    return [line for i, line in enumerate(lines) if i in keep or is_row(line)]


def clean_pages(pages: list[str]) -> list[list[str]]:
    """Page texts as lists of clean lines: layout artefacts removed, line-end hyphenation resolved."""
    lines = page_lines(pages)
    running = running_keys(lines)
    cleaned = [strip_page(page, running) for page in lines]
    dehyphenate(cleaned)
    return cleaned


def dehyphenate(pages: list[list[str]]) -> None:
    """Rejoin words broken at a line end (in place; the broken word moves up to the line it starts on).

    A hyphen before a line that continues the word is either typesetting (`infor-`/`mation`) or a real
    compound broken at its hyphen (`end-to-`/`end`, `Non-`/`Stationarity`). Rules, in order: a soft hyphen
    (U+00AD) is a break; a continuation that switches to upper case is a compound; else the document
    decides: the form (joined or hyphenated) that occurs more often elsewhere in it wins, and if neither
    does, the hyphen is kept when one of the two parts is a word of its own elsewhere in the document (a
    compound of real words) and dropped otherwise (`perimeteri-`/`zation`).
    """
    flat = [(p, i) for p, page in enumerate(pages) for i in range(len(page))]
    words: Counter[str] = Counter()
    at_breaks: Counter[str] = Counter()
    for page in pages:
        for line in page:
            for token in _WORD.findall(line.casefold()):
                words[token] += 1
                if _HYPHENS.search(token):  # the parts of a compound are words of their own too
                    words.update(_HYPHENS.split(token))
    for (p, i), (q, j) in pairwise(flat):
        left, right = _BROKEN.search(pages[p][i]), _NEXT_WORD.match(pages[q][j])
        if left and right and not is_row(pages[p][i]):
            at_breaks.update(_sides(left.group(1), right.group(1)))
    for page in pages:
        for line in page:
            if is_row(line):
                for m in _CELL_HYPHEN.finditer(line):
                    at_breaks.update(_sides(m.group(1), m.group(3)))
    for k, (p, i) in enumerate(flat):
        if is_row(pages[p][i]):
            continue  # its cells are joined below; the line after a row starts afresh (no word starts a row)
        for q, j in (flat[m] for m in range(k + 1, len(flat))):
            left, right = _BROKEN.search(pages[p][i]), _NEXT_WORD.match(pages[q][j])
            if not left or not right:
                break
            keep = _hyphen_kept(left.group(1), left.group(2), right.group(1), words, at_breaks)
            pages[p][i] = pages[p][i][: left.start(2)] + ("-" if keep else "") + right.group(0)
            pages[q][j] = pages[q][j][right.end() :].lstrip()
            if pages[q][j]:
                break  # else the joined word may continue on the line after
    for page in pages:
        page[:] = [_join_cell_lines(ln, words, at_breaks) if is_row(ln) else ln for ln in page]
        # soft hyphens inside a line are invisible break points: no text
        page[:] = [ln.replace("\u00ad", "") for ln in page if ln.replace("\u00ad", "")]


def _join_cell_lines(row: str, words: Counter[str], at_breaks: Counter[str]) -> str:
    """A row's cells as one line each: a break after a hyphen is decided as at a prose line end, any
    other break is a space."""

    def join(m: re.Match[str]) -> str:
        keep = _hyphen_kept(m.group(1), m.group(2), m.group(3), words, at_breaks)
        return m.group(1) + ("-" if keep else "") + m.group(3)

    return _CELL_HYPHEN.sub(join, row).replace(CELL_BREAK, " ")


def _hyphen_kept(left: str, hyphen: str, right: str, words: Counter[str], at_breaks: Counter[str]) -> bool:
    """Whether `left` + hyphen, broken at a line end before `right`, is a compound that keeps its hyphen."""
    if hyphen == "\u00ad":
        return False
    if right[0].isupper() and not left[-1].isupper():
        return True  # typesetting never breaks a word where its case changes: a compound
    return _keep_hyphen(*_sides(left, right), words, at_breaks)


def _sides(left: str, right: str) -> tuple[str, str]:
    """The two word parts that meet at a break (the last part of a compound before it, the first after)."""
    return _HYPHENS.split(left.casefold())[-1], _HYPHENS.split(right.casefold())[0]


def _keep_hyphen(a: str, b: str, words: Counter[str], at_breaks: Counter[str]) -> bool:
    """The document's own evidence for `a-b` against `ab` (both case folded)."""
    joined, hyphenated = words[a + b], words[f"{a}-{b}"]
    if joined != hyphenated:
        return hyphenated > joined
    return any(words[w] > at_breaks[w] for w in (a, b))
