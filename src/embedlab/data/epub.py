"""EPUB books through ebooklib: chapters from the navigation document, their text from the XHTML.

The navigation document (EPUB 3 nav, or the EPUB 2 NCX) is the book's own table of contents, so its
entries, not the files the publisher happened to split the book into, are the chapters. Each chapter file
in reading order (the spine) opens its navigation entry as a heading; the headings inside the file nest
below it (a first heading that repeats the chapter title is the title, not a second level). A book without
any navigation document has no chapters to read: one line naming the file.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from embedlab.data.markup import Item, html_items
from embedlab.data.outline import Block
from embedlab.data.readers import UnreadableFile, items_to_blocks, require, unreadable

Entry = tuple[int, str]  # (depth in the navigation tree, 1 = top; title)


def load_epub(path: Path, name: str) -> list[Block]:
    """An .epub as chapters (navigation entries) with the headings, paragraphs and code of each file."""
    require("ebooklib", path)
    from ebooklib import ITEM_DOCUMENT, epub

    try:
        book = epub.read_epub(str(path), options={"ignore_ncx": False})
    except Exception as exc:  # ebooklib raises EpubException, KeyError, zip and lxml errors
        raise unreadable(path, "EPUB", exc) from None
    chapters = navigation(book.toc)
    if not chapters:
        raise UnreadableFile(
            f"{path} has no navigation document (nav.xhtml or toc.ncx) with chapters: re-export the book "
            "with a table of contents"
        )
    return items_to_blocks(_book_items(book, chapters, ITEM_DOCUMENT), name)


def navigation(toc: Any, depth: int = 1) -> dict[str, list[Entry]]:
    """File name (without #fragment) -> its navigation entries, in order: the first is the chapter."""
    found: dict[str, list[Entry]] = {}

    def walk(entries: Any, level: int) -> None:
        for entry in entries:
            if isinstance(entry, tuple | list):  # (Section, [children])
                section, children = entry[0], entry[1]
                _add(found, getattr(section, "href", "") or "", level, getattr(section, "title", ""))
                walk(children, level + 1)
            else:
                _add(found, getattr(entry, "href", "") or "", level, getattr(entry, "title", ""))

    walk(toc, depth)
    return found


def _add(found: dict[str, list[Entry]], href: str, level: int, title: str) -> None:
    title = " ".join(str(title or "").split())
    file = unquote(href.split("#", 1)[0])
    if file and title:
        found.setdefault(posixpath.normpath(file), []).append((level, title))


def _book_items(book: Any, chapters: dict[str, list[Entry]], document_type: int) -> Iterator[Item]:
    """Spine files in reading order; a file with a navigation entry starts a chapter at its depth."""
    level = 0  # the depth of the chapter the current file belongs to (0: front matter before any)
    for idref, _linear in book.spine:
        item = book.get_item_with_id(idref)
        if item is None or item.get_type() != document_type:
            continue
        if getattr(item, "is_chapter", lambda: True)() is False:
            continue  # the nav document itself
        entries = chapters.get(posixpath.normpath(item.get_name()), [])
        title = ""
        if entries:
            level, title = entries[0]
            yield Item("heading", title, level)
        body = item.get_body_content() or item.get_content()
        yield from _nested(html_items(body.decode("utf-8", errors="replace")), level, title)


def _nested(items: list[Item], level: int, title: str) -> Iterator[Item]:
    """A chapter file's own headings below the chapter: h1..h6 become levels level+1.., and a first
    heading that repeats the chapter title is dropped."""
    first = True
    for item in items:
        if item.kind == "heading":
            if first and " ".join(item.text.split()).casefold() == title.casefold():
                first = False
                continue
            first = False
            yield Item("heading", item.text, level + item.level)
        else:
            yield item
