"""Parsing throughput per format, next to the Markdown loader, on the same text (product_docs).

The 44 Markdown pages of `tests/corpora/product_docs` are converted once into every other format
(headings, paragraphs and code kept): .docx (python-docx Heading styles), .pptx (one slide per section),
.epub (one chapter per page), .rst (docutils titles), saved .html pages (with a navigation bar), a .zip of
the Markdown folder, and PDFs without bookmarks (Helvetica, headings set larger/bold: the typography path).
Each folder is then read by `load_corpus`, best of `--repeat` runs; MB/s is of the input files, and pages/s
is PDF pages per second, else Markdown pages (files) per second. One process, so the numbers are per core.
The "pdf with tables" rows read `tests/corpora/report_pdf` (two NIST reports, their tables ruled as
Word draws them) with the table finder (embedlab.data.pdf_tables, the `pdf` extra) and without it.

Usage: .venv/bin/python benchmarks/parse_formats.py [--corpora tests/corpora] [--repeat 3]
       [--only markdown,docx,pptx,rst,html,epub,zip,pdf,pdf_tables]   (rows to run; default all)
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import textwrap
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests"))

from embedlab.data import pdf_tables  # noqa: E402
from embedlab.data.corpus import load_corpus  # noqa: E402
from embedlab.data.markup import Item, markdown_items  # noqa: E402

CONVERTED = ("docx", "pptx", "rst", "html", "epub", "zip", "pdf")
ROWS = ("markdown", *CONVERTED, "pdf_tables")


def docs(folder: Path) -> dict[str, list[Item]]:
    return {
        p.relative_to(folder).with_suffix("").as_posix(): markdown_items(p.read_text(encoding="utf-8"))
        for p in sorted(folder.rglob("*.md"))
    }


def write_docx(items: list[Item], path: Path) -> None:
    import docx

    document = docx.Document()
    for item in items:
        if item.kind == "heading":
            document.add_heading(item.text, level=min(item.level, 9))
        else:
            document.add_paragraph(item.text)
    document.save(path)


def write_pptx(items: list[Item], path: Path) -> None:
    import pptx

    deck = pptx.Presentation()
    body = None
    for item in items:
        if item.kind == "heading" or body is None:
            slide = deck.slides.add_slide(deck.slide_layouts[1])
            slide.shapes.title.text = item.text if item.kind == "heading" else "Intro"
            body = slide.placeholders[1].text_frame
            if item.kind == "heading":
                continue
        body.add_paragraph().text = item.text
    deck.save(path)


def write_rst(items: list[Item], path: Path) -> None:
    marks = "=-~^\"'+"
    out = []
    for item in items:
        if item.kind == "heading":
            out += [item.text, marks[min(item.level, 7) - 1] * max(len(item.text), 3), ""]
        elif item.kind == "code":
            code = item.text.split("\n")[1:-1]
            out += ["::", "", *("    " + line for line in code), ""]
        else:
            out += [item.text.replace("*", "\\*").replace("`", "\\`").replace("_", "\\_"), ""]
    path.write_text("\n".join(out), encoding="utf-8")


def html_body(items: list[Item]) -> str:
    from html import escape

    parts = []
    for item in items:
        if item.kind == "heading":
            parts.append(f"<h{item.level}>{escape(item.text)}</h{item.level}>")
        elif item.kind == "code":
            parts.append(f"<pre>{escape(chr(10).join(item.text.split(chr(10))[1:-1]))}</pre>")
        else:
            parts.append(f"<p>{escape(item.text)}</p>")
    return "".join(parts)


def write_html(items: list[Item], path: Path) -> None:
    nav = "<nav>" + " ".join(f"<a href='/{i}'>Menu entry {i}</a>" for i in range(20)) + "</nav>"
    foot = "<footer>Copyright, privacy, terms and cookie settings.</footer>"
    page = f"<html><head><title>x</title></head><body>{nav}<main><article>{html_body(items)}"
    path.write_text(page + f"</article></main>{foot}</body></html>", encoding="utf-8")


def write_epub(pages: dict[str, list[Item]], path: Path) -> None:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("bench")
    book.set_title("product docs")
    book.set_language("en")
    chapters = []
    for i, (name, items) in enumerate(pages.items()):
        chapter = epub.EpubHtml(title=name, file_name=f"c{i}.xhtml", lang="en")
        chapter.content = f"<html><body>{html_body(items)}</body></html>"
        book.add_item(chapter)
        chapters.append(chapter)
    book.toc = chapters
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *chapters]
    epub.write_epub(str(path), book)


def write_pdf(items: list[Item], path: Path) -> int:
    from test_formats import text_pdf

    lines: list[tuple[float, bool, str]] = []
    for item in items:
        text = item.text.encode("latin-1", "replace").decode("latin-1")
        text = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        if item.kind == "heading":
            lines.append((max(20 - 3 * item.level, 11), item.level > 2, text[:90]))
        else:
            for raw in text.split("\n"):
                lines.extend((10, False, wrapped) for wrapped in textwrap.wrap(raw, 95) or [""])
    per_page = 45
    chunks = [lines[i : i + per_page] for i in range(0, len(lines), per_page)]
    text_pdf(path, chunks)
    return len(chunks)


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def best(folder: Path, repeat: int) -> tuple[float, int]:
    times, blocks = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        blocks = len(load_corpus(folder, "bench", "apart").blocks)
        times.append(time.perf_counter() - start)
    return min(times), blocks


@contextmanager
def without_table_finder() -> Iterator[None]:
    """PDFs read as without the `pdf` extra (pdf_tables finds no pdfplumber)."""
    saved = pdf_tables._pdfplumber
    pdf_tables._pdfplumber = lambda: None
    try:
        yield
    finally:
        pdf_tables._pdfplumber = saved


def pdf_table_rows(folder: Path, repeat: int) -> list[str]:
    """The report PDFs without and with the table finder: blocks, seconds, MB/s, pages/s, tables found."""
    import pdfplumber
    from pypdf import PdfReader

    files = sorted(folder.glob("*.pdf"))
    pages = sum(len(PdfReader(str(f)).pages) for f in files)
    tables = sum(len(t) for f in files for t in pdf_tables.find_tables(pdfplumber, f).values())
    mb = size_mb(folder)
    with without_table_finder():
        plain = best(folder, repeat)
    found = best(folder, repeat)
    out = []
    for label, (seconds, blocks) in (("report_pdf, no table finder", plain), (f"{tables} tables", found)):
        cells = [f"pdf with tables ({label})", f"{mb:.2f}", str(blocks), f"{seconds:.2f}"]
        cells += [f"{mb / seconds:.2f}", f"{pages / seconds:.1f}"]
        out.append("| " + " | ".join(cells) + " |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpora", default=str(REPO / "tests" / "corpora"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--only", default=",".join(ROWS), help="comma-separated rows to run: " + ",".join(ROWS)
    )
    args = parser.parse_args()
    only = [name for name in args.only.split(",") if name]
    unknown = sorted(set(only) - set(ROWS))
    if unknown:
        parser.error(f"unknown rows {unknown}: choose from {', '.join(ROWS)}")
    source = Path(args.corpora) / "product_docs"
    pages = docs(source)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folders = {name: root / name for name in CONVERTED if name in only}
        for folder in folders.values():
            folder.mkdir()
        writers = {"docx": write_docx, "pptx": write_pptx, "rst": write_rst, "html": write_html}
        pdf_pages = 0
        for name, items in pages.items():
            flat = name.replace("/", "__")
            for kind, write in writers.items():
                if kind in folders:
                    write(items, folders[kind] / f"{flat}.{kind}")
            if "pdf" in folders:
                pdf_pages += write_pdf(items, folders["pdf"] / f"{flat}.pdf")
        if "epub" in folders:
            write_epub(pages, folders["epub"] / "docs.epub")
        if "zip" in folders:
            shutil.make_archive(str(folders["zip"] / "docs"), "zip", source)
            assert zipfile.is_zipfile(folders["zip"] / "docs.zip")
        print(f"{len(pages)} Markdown pages, {size_mb(source):.2f} MB; PDF {pdf_pages} pages")
        print("| format | input MB | blocks | seconds | MB/s | pages/s |")
        print("|---|---|---|---|---|---|")
        for name, folder in [("markdown", source)] * ("markdown" in only) + list(folders.items()):
            seconds, blocks = best(folder, args.repeat)
            mb = size_mb(folder)
            rate = f"{pdf_pages / seconds:.1f}" if name == "pdf" else f"{len(pages) / seconds:.1f}"
            print(f"| {name} | {mb:.2f} | {blocks} | {seconds:.2f} | {mb / seconds:.2f} | {rate} |")
        if "pdf_tables" in only:
            print("\n".join(pdf_table_rows(Path(args.corpora) / "report_pdf", args.repeat)))


if __name__ == "__main__":
    main()
