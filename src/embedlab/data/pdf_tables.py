"""PDF tables row by row: pdfplumber's table finder on the page's drawn lines, cell text from pdfium, and
the table's text taken out of pypdf's prose flow.

pypdf emits a table's cells in content-stream order (a cell's wrapped lines, then the next cell's), and the
paragraph re-joiner glues them into prose: a row's cells end up sentences apart. Each table found becomes
one line per row, cells joined by " | ", header row first. The page's prose stays pypdf's own text: pypdf
reports every piece of text it extracts with where it starts (`visitor_text`), so the pieces that start
inside a table are replaced by its rows and the others kept as they are; pages without tables are not
touched at all.

The finder is pdfplumber's ("lines" strategy: `merge_edges`, `edges_to_intersections`,
`intersections_to_cells`, `cells_to_tables`, with its default tolerances), fed with the line segments that
pypdfium2 reads from the page's paths, and the cells' text is pdfium's (`get_text_bounded`). pdfplumber's
own `page.find_tables()` finds the same tables (pages, rows, columns) in the two NIST reports, but parses
every character with pdfminer first: 2.3 to 3 times pypdf's whole extraction, where pdfium takes 3 to 9 ms
a page.

Two things the rulings of real documents need: Word shades each text line of a shaded cell with its own
rectangle in the cell's colour, whose edges would cut every cell into lines; a fill inside a fill of the
same colour is invisible, so it draws no edge. And a table continued on the next page repeats its header
row: that repeat is dropped, so the header is read once; the continued rows stay rows (never glued).

pdfplumber and pypdfium2 are optional (the `pdf` extra): without them PDFs load as before and the log says
once which extra reads tables row by row.
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import logging
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from embedlab.data.pdf_cleanup import CELL_BREAK, ROW_MARK, without_marks
from embedlab.data.readers import EXTRAS, require, row_text

log = logging.getLogger(__name__)

EDGE_EPS = 0.1  # points: a fill within this of another's edges lies inside it; a leg this thin is straight
MIN_ROWS = 2  # a table has at least two rows with text...
MIN_COLUMNS = 2  # ...and a row with text in at least two cells; anything less is a framed box of prose
PDFIUM_HYPHEN = "\x02"  # pdfium's mark for a hyphen it took out at a line end (the line break with it)

Box = tuple[float, float, float, float]  # x0, top, x1, bottom: PDF user space with y negated (grows down)
Piece = tuple[str, float, float]  # a piece of pypdf's page text and where it starts (x, y in PDF user space)
Edge = dict[str, Any]  # an edge as pdfplumber.table takes it


@dataclass(frozen=True)
class Table:
    """A table of one page: where it is, and its rows of cell texts (CELL_BREAK where a cell wrapped)."""

    bbox: Box
    rows: tuple[tuple[str, ...], ...]

    def lines(self) -> list[str]:
        """One ROW_MARK line per row with text, cells joined by " | "."""
        return [ROW_MARK + line for line in (row_text(row) for row in self.rows) if line]


@functools.cache
def _pdfplumber() -> ModuleType | None:
    """pdfplumber, or None: logged once per process, naming the extra that installs it."""
    try:
        return importlib.import_module("pdfplumber")
    except ImportError:
        log.info(
            "PDF tables are read as prose: pip install 'embedlab[%s]' (pdfplumber) to read them row by row",
            EXTRAS["pdfplumber"],
        )
        return None


def extract_page(page: Any) -> tuple[str, list[Piece]]:
    """pypdf's text of a page (`extract_text`), and the pieces pypdf reports on the way, each with where it
    starts: their concatenation is the text, so a table page is rebuilt without extracting it again."""
    pieces: list[Piece] = []

    def visit(text: str, cm: list[float], tm: list[float], font: Any, size: float) -> None:
        if text:
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            pieces.append((without_marks(text), x, y))

    text = page.extract_text(visitor_text=visit) or ""
    return without_marks(text), pieces


def with_table_rows(path: Path, pages: list[str], pieces: list[list[Piece]]) -> list[str]:
    """`pages` (pypdf's text of each page of `path`, made of `pieces`, see extract_page) with every table's
    text replaced by its row lines where it starts; pages without tables, and every page when pdfplumber is
    not installed, are returned as they are."""
    plumber = _pdfplumber()
    if plumber is None:
        return pages
    try:
        found = find_tables(plumber, path)
    except Exception as exc:  # pdfium may choke on a file pypdf reads: the text must not depend on it
        log.warning("%s: tables unreadable (%s): they are read as prose", path, exc)
        return pages
    out = list(pages)
    placed = 0
    for index, tables in found.items():
        if index < len(out):
            out[index], n = page_text(pieces[index], tables)
            placed += n
    if placed:
        log.info("%s: %d table(s) read row by row", path.name, placed)
    return out


def find_tables(plumber: ModuleType, path: Path) -> dict[int, list[Table]]:
    """The tables of each page index that has any, in the finder's order; a table continuing the previous
    page's last table (same header row) without its repeated header."""
    pypdfium2 = require("pypdfium2", path)
    pdfium_c = require("pypdfium2.raw", path)
    settings = plumber.table.TableSettings.resolve(None)
    document = pypdfium2.PdfDocument(str(path))
    found: dict[int, list[Table]] = {}
    try:
        for index in range(len(document)):
            page = document[index]
            cells = _cells(plumber, settings, _rulings(pdfium_c, page))
            groups = [g for g in plumber.table.cells_to_tables(cells) if len(g) > 1]  # 1 cell: a framed box
            if groups:
                text = page.get_textpage()
                # a Table's rows and bbox come from its cells alone: the page is only read by its extract()
                tables = [_table(plumber.table.Table(None, group), text) for group in groups]
                kept = [t for t in tables if t is not None]
                if kept:
                    found[index] = kept
                text.close()
            page.close()
    finally:
        document.close()
    return _drop_repeated_headers(found)


def _cells(plumber: ModuleType, settings: Any, edges: list[Edge]) -> list[Box]:
    """pdfplumber's "lines" strategy (TableFinder) on the given edges: snapped and joined, short ones out,
    cells from their intersections."""
    edges = plumber.table.merge_edges(
        _long(edges, settings.edge_min_length_prefilter),
        settings.snap_x_tolerance,
        settings.snap_y_tolerance,
        settings.join_x_tolerance,
        settings.join_y_tolerance,
    )
    crossings = plumber.table.edges_to_intersections(
        _long(edges, settings.edge_min_length),
        settings.intersection_x_tolerance,
        settings.intersection_y_tolerance,
    )
    return list(plumber.table.intersections_to_cells(crossings))


def _rulings(pdfium_c: ModuleType, page: Any) -> list[Edge]:
    """The horizontal and vertical legs of the page's paths (lines, rectangle sides, the control polygon
    of curves, as pdfplumber makes edges of curves), except those of a fill lying inside a fill of the
    same colour, which no one sees (see _nested)."""
    shapes: list[tuple[list[Edge], tuple[int, ...] | None, Box]] = []
    for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_PATH,)):
        points, legs = _legs(pdfium_c, obj)
        if not points:
            continue
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        edges = [edge for leg in legs if (edge := _edge(*leg)) is not None]
        shapes.append((edges, _fill_only(pdfium_c, obj), (min(xs), min(ys), max(xs), max(ys))))
    hidden = _nested([(fill, box) for _, fill, box in shapes])
    return [edge for k, (edges, _, _) in enumerate(shapes) if k not in hidden for edge in edges]


def _legs(pdfium_c: ModuleType, obj: Any) -> tuple[list[tuple[float, float]], list[tuple[Any, Any]]]:
    """A path's points in page space (y negated) and its straight legs, closing legs included."""
    matrix, container = obj.get_matrix(), obj.container
    while container is not None:  # a path inside a form XObject: its matrix is the form's, then up
        matrix, container = matrix.multiply(container.get_matrix()), container.container
    x, y = ctypes.c_float(), ctypes.c_float()
    points: list[tuple[float, float]] = []
    legs: list[tuple[Any, Any]] = []
    start = previous = None
    for i in range(pdfium_c.FPDFPath_CountSegments(obj)):
        segment = pdfium_c.FPDFPath_GetPathSegment(obj, i)
        pdfium_c.FPDFPathSegment_GetPoint(segment, x, y)
        px, py = matrix.on_point(x.value, y.value)
        point = (px, -py)
        points.append(point)
        if pdfium_c.FPDFPathSegment_GetType(segment) == pdfium_c.FPDF_SEGMENT_MOVETO or previous is None:
            start = previous = point
            continue
        legs.append((previous, point))
        if pdfium_c.FPDFPathSegment_GetClose(segment):
            legs.append((point, start))
        previous = point
    return points, legs


def _fill_only(pdfium_c: ModuleType, obj: Any) -> tuple[int, ...] | None:
    """The fill colour (r, g, b, alpha) of a path that is filled and not stroked, else None."""
    mode, stroke = ctypes.c_int(), ctypes.c_int()
    if not pdfium_c.FPDFPath_GetDrawMode(obj, mode, stroke) or not mode.value or stroke.value:
        return None
    rgba = [ctypes.c_uint() for _ in range(4)]
    if not pdfium_c.FPDFPageObj_GetFillColor(obj, *rgba):
        return None
    return tuple(c.value for c in rgba)


def _nested(fills: list[tuple[tuple[int, ...] | None, Box]]) -> set[int]:
    """Indices of fills lying inside a larger fill of the same colour (on ties, an earlier one)."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for k, (colour, _) in enumerate(fills):
        if colour is not None:
            groups.setdefault(colour, []).append(k)
    hidden: set[int] = set()
    for members in groups.values():
        if len(members) < 2:
            continue
        box = np.array([fills[k][1] for k in members], dtype=float)
        area = (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])
        order = np.arange(len(members))
        for i, k in enumerate(members):
            starts_before = (box[:, :2] <= box[i, :2] + EDGE_EPS).all(axis=1)
            ends_after = (box[:, 2:] >= box[i, 2:] - EDGE_EPS).all(axis=1)
            larger = (area > area[i]) | ((area == area[i]) & (order < i))
            if (starts_before & ends_after & larger).any():
                hidden.add(k)
    return hidden


def _edge(a: tuple[float, float], b: tuple[float, float]) -> Edge | None:
    """A leg as a pdfplumber edge when it is horizontal or vertical, else None."""
    (x0, x1), (top, bottom) = sorted((a[0], b[0])), sorted((a[1], b[1]))
    if x1 - x0 <= EDGE_EPS < bottom - top:
        x0 = x1 = (x0 + x1) / 2
        orientation = "v"
    elif bottom - top <= EDGE_EPS < x1 - x0:
        top = bottom = (top + bottom) / 2
        orientation = "h"
    else:
        return None
    return {
        "object_type": "line_edge",
        "orientation": orientation,
        "x0": x0,
        "x1": x1,
        "top": top,
        "bottom": bottom,
        "width": x1 - x0,
        "height": bottom - top,
    }


def _long(edges: list[Edge], length: float) -> list[Edge]:
    return [e for e in edges if (e["height"] if e["orientation"] == "v" else e["width"]) >= length]


def _table(found: Any, text: Any) -> Table | None:
    """A found table (pdfplumber.table.Table) with pdfium's text of each cell, or None when it is a box
    of prose (see MIN_ROWS, MIN_COLUMNS)."""
    rows = tuple(
        tuple("" if c is None else _cell(text.get_text_bounded(c[0], -c[3], c[2], -c[1])) for c in row.cells)
        for row in found.rows
    )
    filled = [sum(1 for cell in row if cell) for row in rows]
    if sum(1 for n in filled if n) < MIN_ROWS or max(filled, default=0) < MIN_COLUMNS:
        return None
    x0, top, x1, bottom = found.bbox
    return Table((float(x0), float(top), float(x1), float(bottom)), rows)


def _cell(text: str) -> str:
    """A cell's lines, whitespace collapsed, CELL_BREAK between them (the cleanup decides their hyphens;
    pdfium's own line-end hyphen mark becomes a hyphen and a break again)."""
    text = without_marks(text).replace(PDFIUM_HYPHEN, "-\n")
    return CELL_BREAK.join(" ".join(line.split()) for line in text.splitlines() if line.strip())


def _drop_repeated_headers(found: dict[int, list[Table]]) -> dict[int, list[Table]]:
    """A page's first table whose first row is the header of the previous page's last table continues
    it: the header is not repeated."""
    out: dict[int, list[Table]] = {}
    for index in sorted(found):
        tables = list(found[index])
        before = found.get(index - 1)
        if before and len(tables[0].rows) > 1 and tables[0].rows[0] == before[-1].rows[0]:
            tables[0] = Table(tables[0].bbox, tables[0].rows[1:])
        out[index] = tables
    return out


def page_text(pieces: list[Piece], tables: list[Table]) -> tuple[str, int]:
    """A page's text (its `pieces`) with the pieces that start inside a table dropped and the table's row
    lines put where its first piece was, and how many tables were put; a table no piece starts in (its text
    not where pypdf sees it) is left out, so its text stays prose and nothing is doubled."""
    out: list[str] = []
    placed: set[int] = set()
    for text, x, y in pieces:
        k = _inside(x, -y, tables)
        if k is None:
            out.append(text)
        elif k not in placed:
            placed.add(k)
            out.append("\n" + "\n".join(tables[k].lines()) + "\n")
        else:
            out.append("\n")  # the rest of the table's text: gone, but no two prose lines are joined over it
    return "".join(out), len(placed)


def _inside(x: float, top: float, tables: list[Table]) -> int | None:
    for k, table in enumerate(tables):
        x0, t0, x1, b0 = table.bbox
        if x0 - EDGE_EPS <= x <= x1 + EDGE_EPS and t0 - EDGE_EPS <= top <= b0 + EDGE_EPS:
            return k
    return None
