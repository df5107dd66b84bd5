"""PDF documents through pypdf: layout artefacts removed, wrapped lines re-joined, structure from the PDF's
outline (bookmarks) when it has one, else from the text (legal markers, numbered sections), else from its
typography (font size and bold runs, pdf_fonts), pages kept. Tables (pdf_tables, with the `pdf` extra) are
paragraphs of one row each, never joined with prose; a row is a heading only when it is a single cell that
prints a bookmark's title (a group row across the table). A reference list (references) is left out."""

from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import Path
from typing import Any

from embedlab.data.markup import heading_of
from embedlab.data.outline import Block, Heading, OutlineBuilder, TextStructure, parse_marker, split_title
from embedlab.data.pdf_cleanup import ROW_MARK, clean_pages, fold_compat, is_row
from embedlab.data.pdf_fonts import LARGER, StyledLine, heading_levels, styled_lines
from embedlab.data.pdf_tables import Piece, extract_page, with_table_rows
from embedlab.data.readers import UnreadableFile
from embedlab.data.references import reference_lines
from embedlab.data.section_numbers import is_title, numbered_sections, split_number
from embedlab.errors import EmbedlabError
from embedlab.text import is_cjk

log = logging.getLogger(__name__)

_SENTENCE_END = tuple("。！？；：!?;:.」”)")
MAX_TITLE_LINES = 3  # a bookmarked title may wrap over this many lines of its page

OutlineEntry = tuple[int, int, Heading, str]  # (page index, level, heading, matching key)
Look = tuple[float, bool]  # a line's font size and whether it is bold


class NoTextLayer(EmbedlabError):
    """A PDF whose pages carry no text at all (a scan): only OCR can help, so a folder can skip it."""


def load_pdf(path: Path, name: str) -> list[Block]:
    """PDF through pypdf, page by page: running headers/footers, page numbers and contents pages dropped,
    hyphenated line ends resolved, wrapped lines re-joined (without a space between CJK characters), a line
    ending a sentence ends the paragraph, each table row is a paragraph of its own, and each block remembers
    the page of every paragraph."""
    reader, pages, pieces = _read(path)
    if not any(text.strip() for text in pages):
        raise NoTextLayer(
            f"{path} has no text layer (no extractable text on any of its {len(pages)} pages; a scan?): "
            f"run OCR (e.g. ocrmypdf) on it first"
        )
    empty_pages = sum(1 for text in pages if not text.strip())
    if empty_pages:
        log.warning("%s: %d of %d pages have no extractable text (skipped)", path, empty_pages, len(pages))
    lines = clean_pages(with_table_rows(path, pages, pieces))
    builder = OutlineBuilder(name)
    entries = _outline(reader)
    if len(entries) >= 2:
        _build_from_outline(builder, lines, entries)
        return builder.blocks
    styled = _styled(reader)
    _build_from_text(builder, lines, _line_looks(styled, lines))
    if any(block.headings for block in builder.blocks):
        return builder.blocks
    typographic = _font_entries(styled, lines)
    if len(typographic) < 2:
        return builder.blocks
    builder = OutlineBuilder(name)
    _build_from_outline(builder, lines, typographic)
    return builder.blocks


def _styled(reader: Any) -> list[list[StyledLine]] | None:
    """Every page's lines with their font size and weight (pdf_fonts), or None."""
    try:
        return [styled_lines(page) for page in reader.pages]
    except Exception as exc:  # a font pypdf cannot measure must not cost the text
        log.warning("font sizes unreadable (%s): no headings from typography", exc)
        return None


def _line_looks(styled: list[list[StyledLine]] | None, pages: list[list[str]]) -> list[Look | None]:
    """The look (size, bold) of every cleaned line in document order, found by its letters among its
    page's styled lines; None where no styled line spells it (a line the cleanup joined)."""
    looks: list[Look | None] = []
    for index, lines in enumerate(pages):
        by_key: dict[str, Look] = {}
        for line in styled[index] if styled and index < len(styled) else []:
            by_key.setdefault(_key(fold_compat(line.text)), (line.size, line.bold))
        looks += [by_key.get(_key(line)) for line in lines]
    return looks


def _font_entries(styled: list[list[StyledLine]] | None, pages: list[list[str]]) -> list[OutlineEntry]:
    """Headings from font size and bold runs (pdf_fonts), as outline entries anchored on their page's
    cleaned lines: a running header, dropped by the cleanup, is never a heading. A plain title is a
    TitleHeading, as in Markdown and HTML, so the headings generator asks it."""
    if styled is None:
        return []
    entries: list[OutlineEntry] = []
    for index, found in enumerate(heading_levels(styled)):
        for level, text in found:
            key = _key(fold_compat(text))
            if index < len(pages) and key and _anchor(pages[index], 0, key):
                title = " ".join(fold_compat(text).split())
                entries.append((index, level, split_number(title) or heading_of(title), key))
    return entries


def _read(path: Path) -> tuple[Any, list[str], list[list[Piece]]]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except Exception as exc:  # pypdf raises several types for unsupported encryption
                raise UnreadableFile(
                    f"{path} is encrypted ({exc}): decrypt it (e.g. qpdf --decrypt) first"
                ) from exc
            if not ok:
                raise UnreadableFile(
                    f"{path} is encrypted with a password: decrypt it (e.g. qpdf --decrypt) first"
                )
        extracted = [extract_page(page) for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise UnreadableFile(f"{path} is not a readable PDF ({exc}): re-export or replace it") from exc
    if not extracted:
        raise UnreadableFile(f"{path} has no pages: replace it")
    return reader, [text for text, _ in extracted], [pieces for _, pieces in extracted]


def _key(text: str) -> str:
    """Letters and digits only, case folded: a bookmark title and its printed line compare equal."""
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def outline_heading(title: str) -> Heading:
    """A bookmark title as a heading: "2.1 Tenets…" → label 2.1 + title; "Appendix A— Acronyms" → label +
    title at the dash; anything else as the other formats split their heading lines."""
    title = " ".join(fold_compat(title).split())
    numbered = split_number(title)
    if numbered:
        return numbered
    return split_title(re.sub(r"\s*\u2014\s+", " \u2014 ", title, count=1))


def _outline(reader: Any) -> list[OutlineEntry]:
    """The PDF's bookmarks in page order, each with its nesting depth as level (1 = top)."""
    entries: list[OutlineEntry] = []

    def walk(items: list[Any], level: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, level + 1)
                continue
            try:
                page = reader.get_destination_page_number(item)
            except Exception:  # a bookmark to a missing page or a broken named destination: no anchor
                continue
            title = str(item.title or "").strip()
            if page is not None and page >= 0 and _key(title):
                entries.append((page, level, outline_heading(title), _key(fold_compat(title))))

    try:
        outline = reader.outline
    except Exception as exc:  # a malformed outline tree must not cost the text: fall back to the text
        log.warning("unreadable PDF outline (%s): headings come from the text", exc)
        return []
    walk(outline, 1)
    entries.sort(key=lambda e: e[0])  # stable: bookmarks of one page keep their order
    return entries


def _anchor(lines: list[str], start: int, key: str) -> tuple[int, int] | None:
    """(first line, line count) of the lines from `start` on that spell the bookmark title, or None. A table
    row spells one only alone and as a single cell: a group row across the table ("Protect Software (PS)")."""
    for i in range(start, len(lines)):
        joined = ""
        for span in range(1, MAX_TITLE_LINES + 1):
            if i + span > len(lines):
                break
            line = lines[i + span - 1]
            if is_row(line) and (span > 1 or " | " in line):
                break
            joined += _key(line)
            if joined == key:
                return i, span
            if not key.startswith(joined) or is_row(line):
                break
    return None


def _build_from_outline(builder: OutlineBuilder, pages: list[list[str]], entries: list[OutlineEntry]) -> None:
    """Bookmarks open headings where their title is printed on the destination page (its lines are the
    heading, not text), or at the top of that page (after the previous bookmark) when it is not printed;
    a reference list's lines are left out."""
    by_page: dict[int, list[OutlineEntry]] = {}
    for entry in entries:
        by_page.setdefault(entry[0], []).append(entry)
    flat = [(index, i) for index, lines in enumerate(pages) for i in range(len(lines))]
    references = {flat[k] for k in reference_lines([pages[p][i].removeprefix(ROW_MARK) for p, i in flat])}
    writer = _ParagraphWriter(builder)
    for index, lines in enumerate(pages):
        opens: dict[int, list[tuple[int, Heading]]] = {}
        skip: set[int] = set()
        position = search = 0
        for _, level, heading, key in by_page.get(index, []):
            found = _anchor(lines, search, key)
            if found:
                position, search = found[0], found[0] + found[1]
                skip.update(range(position, search))
            opens.setdefault(position, []).append((level, heading))
        for i in range(len(lines) + 1):
            for level, heading in opens.get(i, []):
                builder.heading(level, heading)
                writer.close()
            if (index, i) in references:
                writer.close()
            elif i < len(lines) and i not in skip:
                writer.line(lines[i], index + 1)


def _build_from_text(builder: OutlineBuilder, pages: list[list[str]], looks: list[Look | None]) -> None:
    """Structure from the lines: legal markers (chapters, articles…), numbered sections, and lines set like
    the numbered sections' titles (`_set_like_sections`); table rows and reference lists are neither.
    Where a document numbers its sections (two top-level numbers or more), they are its outline and a
    keyword series ("Figure 3", "Table 2", "Listing 1") labels things inside them: such a caption starts
    a paragraph of the section it sits in, it opens no section of its own."""
    lines = [(index + 1, line) for index, page in enumerate(pages) for line in page]
    references = reference_lines([line.removeprefix(ROW_MARK) for _, line in lines])
    texts = [None if is_row(line) or k in references else line for k, (_, line) in enumerate(lines)]
    structure = TextStructure(builder, [text for text in texts if text])
    sections = numbered_sections(texts, looks)
    captions = structure.series_as_labels() if sum(lv == 1 for lv, _ in sections.values()) >= 2 else set()
    headings, title_lines = _set_like_sections(texts, looks, sections, captions)
    headings = {**sections, **headings}
    writer = _ParagraphWriter(builder)
    in_caption = False
    for k, (page, line) in enumerate(lines):
        if k in references or k in title_lines:
            writer.close()
        elif is_row(line):
            writer.line(line, page)
        elif structure.feed(line, page):
            writer.after_structure()
        elif k in headings:
            builder.heading(*headings[k])
            structure.in_preamble = False  # numbered "(n)" paragraphs inside a section are not recitals
            writer.close()
        else:
            caption = in_caption or _is_caption(line, captions)
            if caption and not in_caption:
                writer.close()
            writer.line(line, page)
            # a caption goes on while the next line continues it in lower case, then it ends its paragraph
            in_caption = caption and k + 1 < len(lines) and lines[k + 1][1][:1].islower()
            if caption and not in_caption:
                writer.close()


def _is_caption(line: str, captions: set[str]) -> bool:
    marker = parse_marker(line)
    return marker is not None and marker.key in captions


def _set_like_sections(
    texts: list[str | None],
    looks: list[Look | None],
    sections: dict[int, tuple[int, Heading]],
    captions: set[str],
) -> tuple[dict[int, tuple[int, Heading]], set[int]]:
    """Headings the numbers do not give, from how the numbered top-level titles are set (their size and
    weight, when it is not the body's): an unnumbered title-shaped line set the same way is a top-level
    heading too ("Abstract", "Acknowledgments", "References"), a line set the same way right under a
    heading continues its title, and the lines above the first heading set larger than it are the
    document's title, the heading of its front matter (authors, affiliations). Returns the headings by line
    (numbered ones whose title wrapped included) and the lines that only continue a heading's title."""
    top = Counter(looks[k] for k, (level, _) in sections.items() if level == 1 and looks[k])
    sizes = Counter[Look]()
    for text, look in zip(texts, looks, strict=True):
        if text and look:
            sizes[look] += len(text)
    if not top or top.most_common(1)[0][1] < 2 or not sizes:
        return {}, set()
    look, body = top.most_common(1)[0][0], sizes.most_common(1)[0][0]
    if look == body:
        return {}, set()
    found: dict[int, tuple[int, Heading]] = {}
    owner: dict[int, int] = {}  # a line that continues a heading's title -> the heading's line
    for k, text in enumerate(texts):
        if not text or looks[k] != look or k in sections or not is_title(text) or _is_caption(text, captions):
            continue
        above = owner.get(k - 1, k - 1)
        if (above in found or above in sections) and looks[above] == look:
            level, heading = found.get(above) or sections[above]
            found[above] = (level, Heading(heading.label, f"{heading.title or ''} {text}".strip()))
            owner[k] = above
        else:
            found[k] = (1, heading_of(text))
    first = min([*sections, *found])
    larger = [
        (k, lk[0])
        for k in range(first)
        if texts[k] and (lk := looks[k]) and lk[0] > look[0] and lk[0] >= body[0] * LARGER
    ]
    if not larger:
        return found, set(owner)
    size = max(size for _, size in larger)
    start = next(k for k, at in larger if at == size)
    end = start
    while end + 1 < first and texts[end + 1] and looks[end + 1] == looks[start]:
        end += 1
    found[start] = (1, Heading("", " ".join(t for t in texts[start : end + 1] if t)))
    return found, {*owner, *range(start + 1, end + 1)}


class _ParagraphWriter:
    """Re-joins the lines of a paragraph wrapped by the layout (also across a page break); a line that
    ends a sentence ends the paragraph. A table row is a paragraph of its own: nothing joins it."""

    def __init__(self, builder: OutlineBuilder) -> None:
        self.builder = builder
        self.open = False

    def close(self) -> None:
        self.open = False

    def after_structure(self) -> None:
        """A structure line may have left body text in a new paragraph that the next line continues."""
        current = self.builder.blocks[-1] if self.builder.blocks else None
        self.open = bool(
            current
            and current.paragraphs
            and self.builder.is_open()
            and not current.paragraphs[-1].endswith(_SENTENCE_END)
        )

    def line(self, line: str, page: int) -> None:
        if is_row(line):
            self.builder.paragraph(line.removeprefix(ROW_MARK), page)
            self.open = False
            return
        if self.open:
            prev = self.builder.blocks[-1].paragraphs[-1]
            joiner = "" if (is_cjk(prev[-1]) or is_cjk(line[0])) else " "
            self.builder.extend_paragraph(line, joiner)
        else:
            self.builder.paragraph(line, page)
        self.open = not line.endswith(_SENTENCE_END)
