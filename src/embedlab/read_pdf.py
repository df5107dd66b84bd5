"""PDF documents through pypdf: wrapped lines re-joined, structure detected in the text, pages remembered."""

from __future__ import annotations

import logging
from pathlib import Path

from embedlab.errors import EmbedlabError
from embedlab.outline import Block, OutlineBuilder, TextStructure, is_cjk

log = logging.getLogger(__name__)

_SENTENCE_END = tuple("。！？；：!?;:.」”)")


def load_pdf(path: Path, name: str) -> list[Block]:
    """PDF through pypdf, page by page: wrapped lines are re-joined (without a space between CJK characters),
    a line ending a sentence ends the paragraph, and each block remembers the page of every paragraph."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except Exception as exc:  # pypdf raises several types for unsupported encryption
                raise EmbedlabError(
                    f"{path} is encrypted ({exc}): decrypt it (e.g. qpdf --decrypt) first"
                ) from exc
            if not ok:
                raise EmbedlabError(
                    f"{path} is encrypted with a password: decrypt it (e.g. qpdf --decrypt) first"
                )
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise EmbedlabError(f"{path} is not a readable PDF ({exc}): re-export or replace it") from exc
    if not pages:
        raise EmbedlabError(f"{path} has no pages: replace it")
    builder = OutlineBuilder(name)
    structure = TextStructure(builder)
    empty_pages = 0
    open_paragraph = False
    for number, page_text in enumerate(pages, start=1):
        lines = [ln.strip() for ln in page_text.splitlines() if ln.strip()]
        if not lines:
            empty_pages += 1
            continue
        for line in lines:
            if structure.feed(line, number):
                current = builder.blocks[-1] if builder.blocks else None
                open_paragraph = bool(
                    current
                    and current.paragraphs
                    and builder.is_open()
                    and not current.paragraphs[-1].endswith(_SENTENCE_END)
                )
                continue
            if open_paragraph:
                prev = builder.blocks[-1].paragraphs[-1]
                joiner = "" if (is_cjk(prev[-1]) or is_cjk(line[0])) else " "
                builder.extend_paragraph(line, joiner)
            else:
                builder.paragraph(line, number)
            open_paragraph = not line.endswith(_SENTENCE_END)
    if empty_pages:
        log.warning("%s: %d of %d pages have no extractable text (skipped)", path, empty_pages, len(pages))
    return builder.blocks
