"""EUR-Lex Official Journal XHTML: recitals, chapters, sections, articles and annexes by the page's markup.

The OJ XHTML is the same in all 24 official languages: every structural unit is a `div` whose id names it
(`cpt_II`, `cpt_III.sct_1`, `art_5`, `anx_III`, `rct_12`, also `prt_`/`tis_` in acts with parts or
titles), its label paragraph has a class (`oj-ti-section-1`, `oj-ti-art`, `oj-doc-ti`) and its title
follows in the next title class (`oj-ti-section-2`, `oj-sti-art`, the second `oj-doc-ti`). Levels come
from how these units nest, never from the words ("CHAPTER", "KAPITEL", "FEJEZET"), so every language
gives the same heading paths.
"""

from __future__ import annotations

import re
from typing import Any

from embedlab.data.html import BLOCK_TAGS, clean
from embedlab.data.outline import Heading, OutlineBuilder

_UNIT_ID = re.compile(r"(?:^|\.)(?P<kind>[a-z]{3})_[^.]+$")  # last id segment: kind_number
_NOT_UNITS = {"tit"}  # cpt_II.tit_1: the title wrapper of a unit, not a unit
_LABELS = {"oj-ti-section-1", "oj-ti-art", "oj-doc-ti"}
_TITLES = {"oj-ti-section-2", "oj-sti-art", "oj-doc-ti"}
_RECITAL_NUMBER = re.compile(r"\(\d+\)")


def is_eurlex(soup: Any) -> bool:
    """EUR-Lex OJ pages mark article titles with the class oj-ti-art."""
    return soup.find(class_="oj-ti-art") is not None


def _unit_of(el: Any) -> Any | None:
    """The innermost structural unit (a div with a unit id) containing `el`."""
    for parent in el.parents:
        m = _UNIT_ID.search(parent.get("id") or "") if parent.name == "div" else None
        if m and m.group("kind") not in _NOT_UNITS:
            return parent
    return None


def _kind(unit: Any) -> str:
    return _UNIT_ID.search(unit["id"]).group("kind")


class _Units:
    """Which units carry a heading of their own, and how deep each one sits among those."""

    def __init__(self) -> None:
        self.headed: set[int] = set()

    def depth(self, unit: Any) -> int:
        depth, parent = 1, _unit_of(unit)
        while parent is not None:
            depth += id(parent) in self.headed
            parent = _unit_of(parent)
        return depth


def read_eurlex(soup: Any, builder: OutlineBuilder) -> None:
    """Each unit's label paragraph (+ its title paragraph) opens a heading at the unit's nesting depth;
    recital units (rct_N) open "Recital (n)"; footnotes (oj-note) are dropped, the rest is text."""
    for note in soup.select("p.oj-note, .oj-note-tag"):
        note.decompose()
    body = soup.body or soup
    units = _Units()
    pending: tuple[int, str, Any] | None = None  # (level, label, unit): a label waiting for its title
    for el in body.find_all(BLOCK_TAGS):
        if el.find(BLOCK_TAGS):
            continue
        text = clean(el.get_text(" "))
        if not text:
            continue
        classes = set(el.get("class") or [])
        unit = _unit_of(el)
        if unit is not None and pending is not None and pending[2] is unit and classes & _TITLES:
            builder.heading(pending[0], Heading(pending[1], text.rstrip("`")))
            pending = None
            continue
        if pending is not None:  # a label without a title
            builder.heading(pending[0], Heading(pending[1]))
            pending = None
        if unit is not None and classes & _LABELS and id(unit) not in units.headed:
            units.headed.add(id(unit))
            pending = (units.depth(unit), text, unit)
            continue
        if (
            unit is not None
            and _kind(unit) == "rct"
            and id(unit) not in units.headed
            and _RECITAL_NUMBER.fullmatch(text)
        ):
            units.headed.add(id(unit))
            builder.heading(units.depth(unit), Heading(f"Recital {text}"))
            continue
        builder.paragraph(text)
