"""Shared pieces of the document readers: optional libraries, unreadable files, items into blocks.

Office, book and web formats are read by maintained libraries that not every install needs; a missing one
must name the extra that installs it, not end in an ImportError traceback. A file the library cannot open
(password-protected, corrupt, without the structure its format promises) is an `UnreadableFile`: alone it is
an error naming the file, in a folder it is skipped and named, like a scanned PDF.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from embedlab.data.markup import Item, feed_outline
from embedlab.data.outline import Block, OutlineBuilder
from embedlab.errors import EmbedlabError

# Extras of pyproject.toml that install each optional reader (the lead pins them there).
EXTRAS = {
    "docx": "office",
    "pptx": "office",
    "ebooklib": "epub",
    "docutils": "rst",
    "trafilatura": "web",
    "pdfplumber": "pdf",  # PDF tables row by row (pdf_tables); PDFs load without it
    "pypdfium2": "pdf",
}

_CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE compound file: how Office stores an encrypted .docx


class UnreadableFile(EmbedlabError):
    """A file its reader cannot open; in a folder it is skipped and named, the rest is read."""


def require(module: str, path: Path | str) -> ModuleType:
    """Import an optional reader library, or say which extra installs it (one line, naming the file)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = EXTRAS.get(module.split(".")[0], "formats")
        raise EmbedlabError(
            f"{path} needs the Python package {module!r} ({exc.msg}): pip install 'embedlab[{extra}]'"
        ) from None


def check_ooxml(path: Path, kind: str) -> None:
    """An Office Open XML file (.docx, .pptx) is a zip. A password turns it into an OLE (compound file)
    container holding an `EncryptedPackage` stream; an OLE file without one is the old binary format
    (.doc / .ppt) under a new name; anything else is damaged. Each is one line naming the file and the fix."""
    data = path.read_bytes()
    if data.startswith(_CFB_MAGIC):
        if "EncryptedPackage".encode("utf-16-le") in data:  # directory entry names are UTF-16LE
            raise UnreadableFile(
                f"{path} is password-protected (an encrypted {kind} file): save a copy without a password"
            )
        raise UnreadableFile(
            f"{path} is an old binary Office file (97-2003 format) named like a {kind} file: "
            f"save it in the {kind} (Office Open XML) format"
        )
    if not data.startswith(b"PK"):
        raise UnreadableFile(
            f"{path} is not a readable {kind} file (not a zip package): re-save or replace it"
        )


def unreadable(path: Path, kind: str, exc: BaseException) -> UnreadableFile:
    """The one-line error for a file its library failed on."""
    message = " ".join(str(exc).split())
    reason = type(exc).__name__ if not message or str(path) in message else message[:160]
    return UnreadableFile(f"{path} is not a readable {kind} file ({reason}): re-save or replace it")


def items_to_blocks(items: Iterable[Item], name: str) -> list[Block]:
    """Headings, prose and code of any format into outlined blocks, the way Markdown and HTML are built."""
    builder = OutlineBuilder(name)
    feed_outline(list(items), builder)
    return builder.blocks


def row_text(cells: Iterable[str]) -> str:
    """A table row as one line (what a reader sees across the row): cells joined by ' | ', empty ones out."""
    return " | ".join(c for c in (" ".join(cell.split()) for cell in cells) if c)


def text_of(node: Any) -> str:
    """Whitespace-collapsed text of a library node that has `.text`."""
    return " ".join(str(getattr(node, "text", "") or "").split())
