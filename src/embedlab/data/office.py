"""Word (.docx) and PowerPoint (.pptx) documents through python-docx and python-pptx.

Word: the heading path comes from the heading styles ("Heading 1".."Heading 9", "Title") or, for custom
styles, from the outline level Word itself uses for its navigation pane; tables are read row by row, each
row one line, so a chunk never pairs a value with another row's label. PowerPoint: each slide is one block
under its title (an untitled slide is "Slide N", a label no heading query is made from); speaker notes are
kept in a block of their own under the same slide (`speaker_notes="apart"`) or dropped (`"drop"`): notes
are often the only full sentences of a deck, but they are not what the audience read. A character set in
a symbol font (a Wingdings arrow or bullet) is read as what its run's font draws (embedlab.data.glyphs).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from embedlab.data.glyphs import has_private_use, symbol_text
from embedlab.data.markup import Item, heading_of
from embedlab.data.outline import Block, Heading, OutlineBuilder
from embedlab.data.readers import check_ooxml, items_to_blocks, require, row_text, unreadable
from embedlab.errors import EmbedlabError

SPEAKER_NOTES = ("apart", "drop")
_A_SYM = "{http://schemas.openxmlformats.org/drawingml/2006/main}sym"
_HEADING_STYLE = re.compile(r"^(?:heading|überschrift|titre|título|titolo|kop)\s*(\d)$", re.I)


# --- Word ---------------------------------------------------------------------------------------------------


def load_docx(path: Path, name: str) -> list[Block]:
    """A .docx as headings (styles / outline levels), paragraphs and table rows, in document order."""
    docx = require("docx", path)
    check_ooxml(path, "Word")
    try:
        document = docx.Document(str(path))
    except Exception as exc:  # python-docx raises its own PackageNotFoundError and lxml errors
        raise unreadable(path, "Word", exc) from None
    return items_to_blocks(docx_items(document), name)


def docx_items(document: Any) -> Iterator[Item]:
    """Body paragraphs and tables in the order they appear (python-docx `iter_inner_content`)."""
    levels = style_levels(document)
    for part in document.iter_inner_content():
        if hasattr(part, "rows"):
            yield from _table_items(part)
            continue
        text = " ".join(_symbols_read(part.text, part.runs, _docx_font).split())
        if not text:
            continue
        level = heading_level(part, levels)
        yield Item("heading", text, level) if level else Item("text", text)


def style_levels(document: Any) -> dict[str | None, int]:
    """Paragraph style id -> heading level (0: body), once per document: python-docx looks a paragraph's
    style up by a linear search, so asking per paragraph made reading 20x slower than Markdown."""
    levels: dict[str | None, int] = {None: _style_level(document.styles.default(_paragraph_type()))}
    for style in document.styles:
        if style.type == _paragraph_type():
            levels[style.style_id] = _style_level(style)
    return levels


def _paragraph_type() -> Any:
    from docx.enum.style import WD_STYLE_TYPE

    return WD_STYLE_TYPE.PARAGRAPH


def _style_level(style: Any) -> int:
    """A heading style's number ("Title" is 1), else the outline level of the style or one it is based on
    (Word's 0-based w:outlineLvl; 9 is body text)."""
    chain = []
    while style is not None and len(chain) < 20:
        chain.append(style)
        style = style.base_style
    for style in chain:
        name = style.name or ""
        if name == "Title":
            return 1
        m = _HEADING_STYLE.match(name) or _HEADING_STYLE.match(style.style_id or "")
        if m and m.group(1) != "0":
            return int(m.group(1))
    for style in chain:
        level = _outline_level(style.element)
        if level is not None:
            return level
    return 0


def _outline_level(element: Any) -> int | None:
    values = element.xpath("./w:pPr/w:outlineLvl/@w:val")
    if not values:
        return None
    level = int(values[0]) + 1
    return level if 1 <= level <= 9 else 0


def heading_level(paragraph: Any, levels: dict[str | None, int]) -> int:
    """1-9 for a heading paragraph, 0 for body text: an outline level set on the paragraph itself wins
    over its style's (`style_levels`)."""
    own = _outline_level(paragraph._p)
    if own is not None:
        return own
    style_id = paragraph._p.style
    return levels.get(style_id, levels[None])


def _table_items(table: Any) -> Iterator[Item]:
    """Each row one text line; a merged cell (python-docx repeats it) counts once; nested tables flatten."""
    for row in table.rows:
        seen: set[int] = set()
        cells = []
        for cell in row.cells:
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            cells.append(" ".join(p.text for p in cell.paragraphs))
        line = row_text(cells)
        if line:
            yield Item("text", line)


# --- PowerPoint ---------------------------------------------------------------------------------------------


def load_pptx(path: Path, name: str, speaker_notes: str | None) -> list[Block]:
    """A .pptx as one block per slide under its title, speaker notes apart or dropped."""
    if speaker_notes not in SPEAKER_NOTES:
        raise EmbedlabError(
            f"{path}: speaker_notes is {speaker_notes!r}: set chunking.speaker_notes to apart or drop"
        )
    pptx = require("pptx", path)
    check_ooxml(path, "PowerPoint")
    try:
        presentation = pptx.Presentation(str(path))
        slides = list(presentation.slides)
    except Exception as exc:  # python-pptx: PackageNotFoundError, KeyError, lxml errors on damaged parts
        raise unreadable(path, "PowerPoint", exc) from None
    builder = OutlineBuilder(name)
    for number, slide in enumerate(slides, start=1):
        title_shape = slide.shapes.title
        title = " ".join((title_shape.text_frame.text if title_shape is not None else "").split())
        heading: Heading = heading_of(title) if title else Heading(f"Slide {number}")
        builder.heading(1, heading)
        for line in _slide_lines(slide.shapes, skip=title_shape):
            builder.paragraph(line)
        notes = _notes(slide) if speaker_notes == "apart" else []
        if notes:
            builder.heading(1, heading)  # the same path, a block of its own: never in a chunk with the slide
            for line in notes:
                builder.paragraph(line)
    return builder.blocks


def _slide_lines(shapes: Any, skip: Any) -> Iterator[str]:
    """Text of a slide's shapes in reading order (top to bottom, left to right); groups are entered and
    tables read row by row."""

    def position(shape: Any) -> tuple[int, int]:
        return (shape.top or 0, shape.left or 0)

    for shape in sorted(shapes, key=position):
        if skip is not None and shape.shape_id == skip.shape_id:
            continue
        if getattr(shape, "shape_type", None) is not None and hasattr(shape, "shapes"):
            yield from _slide_lines(shape.shapes, skip=None)  # a group shape
        elif getattr(shape, "has_table", False):
            for row in shape.table.rows:
                line = row_text(cell.text for cell in row.cells)
                if line:
                    yield line
        elif getattr(shape, "has_text_frame", False):
            for paragraph in shape.text_frame.paragraphs:
                text = " ".join(_symbols_read(paragraph.text, paragraph.runs, _pptx_font).split())
                if text:
                    yield text


def _symbols_read(text: str, runs: Any, font_of: Any) -> str:
    """A paragraph's text with its symbol-font characters as what the font of their run draws."""
    if not has_private_use(text):
        return text
    fonts = {ch: font for run in runs if (font := font_of(run)) for ch in run.text if has_private_use(ch)}
    return symbol_text(text, fonts)


def _pptx_font(run: Any) -> str | None:
    """The font a PowerPoint run's characters are drawn in: its symbol font (`a:sym`, what Insert Symbol
    sets) or its Latin font."""
    rpr = run._r.rPr
    sym = rpr.find(_A_SYM) if rpr is not None else None
    return sym.get("typeface") if sym is not None else run.font.name


def _docx_font(run: Any) -> str | None:
    return run.font.name


def _notes(slide: Any) -> list[str]:
    if not slide.has_notes_slide:
        return []
    frame = slide.notes_slide.notes_text_frame
    if frame is None:
        return []
    return [t for t in (" ".join(p.text.split()) for p in frame.paragraphs) if t]
