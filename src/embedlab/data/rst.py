"""reStructuredText documents through docutils: section titles are headings, literal blocks are code.

The underline characters of rst titles carry no fixed level (the first style seen is level 1), so only
the docutils parser knows the nesting; patterns would have to re-implement it. The document is parsed
without running side effects: file inclusion and raw passthrough are off, and directives or roles docutils
does not know (Sphinx's toctree, :ref:) leave their text, not an error or a message in the chunks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from embedlab.data.markup import Item, code_paragraph
from embedlab.data.outline import Block
from embedlab.data.readers import items_to_blocks, require, row_text

_SETTINGS = {
    "report_level": 5,  # no system messages in the tree's text
    "halt_level": 5,  # an unknown directive is not fatal
    "file_insertion_enabled": False,  # `.. include::` of another file: not read (no file access)
    "raw_enabled": False,
    "doctitle_xform": False,  # the top section stays a section, so its title is a heading
    "sectsubtitle_xform": False,
    "input_encoding": "utf-8",
    "warning_stream": False,
}
_ROLE = re.compile(r":[\w:.+-]+:`([^`<]*?)(?:\s*<[^>]*>)?`")  # :ref:`Title <target>` -> Title


def load_rst(path: Path, name: str) -> list[Block]:
    """An .rst file as nested sections (docutils' own levels), paragraphs, list items, table rows, code."""
    require("docutils", path)
    from docutils.core import publish_doctree

    text = path.read_text(encoding="utf-8")
    doctree = publish_doctree(text, source_path=str(path), settings_overrides=_SETTINGS)
    return items_to_blocks(rst_items(doctree), name)


def rst_items(doctree: Any) -> Iterator[Item]:
    """Walk the docutils tree in document order."""
    from docutils import nodes

    def walk(node: Any, depth: int) -> Iterator[Item]:
        for child in node.children:
            if isinstance(child, nodes.system_message | nodes.comment | nodes.substitution_definition):
                continue
            if isinstance(child, nodes.section):
                title = next((c for c in child.children if isinstance(c, nodes.title)), None)
                if title is not None and _text(title):
                    yield Item("heading", _text(title), depth + 1)
                yield from walk(child, depth + 1)
            elif isinstance(child, nodes.title):
                continue  # read by its section
            elif isinstance(child, nodes.literal_block | nodes.doctest_block):
                code = child.astext()
                if code.strip():
                    classes = [c for c in child.get("classes", []) if c != "code"]
                    yield Item("code", code_paragraph(code, " ".join(classes)))
            elif isinstance(child, nodes.row):
                line = row_text(_text(entry) for entry in child.children)
                if line:
                    yield Item("text", line)
            elif isinstance(child, nodes.paragraph | nodes.line | nodes.rubric | nodes.term):
                if _text(child):
                    yield Item("text", _text(child))
            elif isinstance(child, nodes.Element):
                yield from walk(child, depth)

    return walk(doctree, 0)


def _text(node: Any) -> str:
    """A node's text, whitespace collapsed, unknown roles reduced to their text."""
    return _ROLE.sub(lambda m: m.group(1), " ".join(node.astext().split()))
