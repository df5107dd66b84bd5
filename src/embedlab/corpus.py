"""Corpus loading: files and folders of PDF, HTML (EUR-Lex included), Markdown and text into outlined blocks.

Also resolves where a corpus file lives (a `corpus_root` folder, or `resources/` where URLs are downloaded
once), so every later stage reads the same bytes whatever the source was.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse

from embedlab import io
from embedlab.errors import EmbedlabError
from embedlab.outline import (
    LEVEL_ARTICLE,
    LEVEL_CHAPTER,
    LEVEL_SECTION,
    TITLE_SEP,
    Block,
    Heading,
    OutlineBuilder,
    TextStructure,
    is_cjk,
)

log = logging.getLogger(__name__)

SUFFIXES = {
    ".pdf": "pdf",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
}


# --- where files live ------------------------------------------------------------------------------------


def resolve_source(file: str, corpus_root: str | None, resources_dir: str) -> Path:
    """The path a corpus file is read from: under `corpus_root` when set, else under `resources_dir`."""
    if Path(file).is_absolute():
        return Path(file)
    return Path(corpus_root or resources_dir) / file


def download(url: str, dest: str | Path, timeout: float = 60.0) -> None:
    """Fetch `url` once into `dest` (atomic); offline, say which URL and where to put the file by hand."""
    import requests

    if urlparse(url).scheme not in ("http", "https"):
        raise EmbedlabError(f"corpus url {url!r} is not http(s): give a local file instead")
    log.info("downloading %s -> %s", url, dest)
    try:
        response = requests.get(
            url, timeout=timeout, headers={"User-Agent": "embedlab/0.1 (+corpus download)"}
        )
        response.raise_for_status()
    except requests.RequestException as exc:
        raise EmbedlabError(
            f"cannot download {url} ({type(exc).__name__}): download it yourself and save it as {dest}, "
            f"or set corpus_root to a folder that holds it"
        ) from exc
    if not response.content:
        raise EmbedlabError(f"{url} returned an empty body: save the document as {dest} yourself")
    io.write_bytes(dest, response.content)


# --- loading ---------------------------------------------------------------------------------------------


def load_path(path: str | Path, corpus: str = "?") -> list[Block]:
    """Load a file or every supported file of a folder (sorted, recursive) into blocks.

    In a folder, unsupported files are skipped with a log line and a count; a single unsupported file,
    or a source that yields no text at all, is an error naming the corpus and the file.
    """
    path = Path(path)
    if not path.exists():
        raise EmbedlabError(f"corpus {corpus}: {path} does not exist")
    if path.is_file():
        files = [path]
        base = path.parent
    else:
        base = path
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    blocks: list[Block] = []
    skipped: Counter[str] = Counter()
    for file in files:
        kind = SUFFIXES.get(file.suffix.lower())
        if kind is None:
            if path.is_file():
                raise EmbedlabError(
                    f"corpus {corpus}: {file} has an unknown format {file.suffix!r}; "
                    f"supported: {', '.join(sorted(SUFFIXES))}"
                )
            skipped[file.suffix.lower() or "(none)"] += 1
            log.warning("corpus %s: skipping %s (unsupported format)", corpus, file)
            continue
        name = file.relative_to(base).as_posix()
        try:
            file_blocks = LOADERS[kind](file, name)
        except EmbedlabError as exc:
            raise EmbedlabError(f"corpus {corpus}: {exc}") from None
        except UnicodeDecodeError as exc:
            raise EmbedlabError(
                f"corpus {corpus}: {file} is not UTF-8 text ({exc.reason}): convert it to UTF-8"
            ) from None
        if not any(b.paragraphs for b in file_blocks):
            raise EmbedlabError(
                f"corpus {corpus}: {file} contains no extractable text: remove it, or OCR it if it is a scan"
            )
        blocks.extend(file_blocks)
    if skipped:
        log.warning(
            "corpus %s: skipped %d unsupported file(s): %s", corpus, sum(skipped.values()), dict(skipped)
        )
    if not blocks:
        raise EmbedlabError(
            f"corpus {corpus}: no supported documents in {path} ({', '.join(sorted(SUFFIXES))})"
        )
    return blocks


def _split_title(text: str) -> Heading:
    text = " ".join(text.split())
    if TITLE_SEP in text:
        label, title = text.split(TITLE_SEP, 1)
        return Heading(label.strip(), title.strip() or None)
    m = re.match(r"^(第\S+?[章节编])[ \u3000]+(.+)$", text)
    if m:
        return Heading(m.group(1), m.group(2))
    return Heading(text)


def load_markdown(path: Path, name: str) -> list[Block]:
    """Markdown: '#' headings give the outline (a single H1 is the document title, not a path level);
    inside it, Chinese article paragraphs (第…条) and recitals before the first heading are detected too."""
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    builder = OutlineBuilder(name)
    structure = TextStructure(builder)
    lines = text.splitlines()
    h1 = [ln for ln in lines if re.match(r"^#\s", ln)]
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            para = " ".join(paragraph)
            if not structure.feed(para):
                builder.paragraph(para)
            paragraph.clear()

    for line in lines:
        m = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if m:
            flush()
            depth = len(m.group(1))
            if depth == 1 and len(h1) == 1:
                continue
            heading = _split_title(m.group(2).rstrip("`"))
            builder.heading(depth, heading)
            structure.in_preamble = False
            if re.match(r"^第\S+条$", heading.label):
                structure.last_zh_article += 1
            continue
        if line.strip():
            paragraph.append(line.strip())
        else:
            flush()
    flush()
    return builder.blocks


def load_text(path: Path, name: str) -> list[Block]:
    """Plain text: blank lines separate paragraphs; chapter/section/article lines open headings."""
    builder = OutlineBuilder(name)
    structure = TextStructure(builder)
    text = path.read_text(encoding="utf-8", errors="strict")
    for para in re.split(r"\n\s*\n", text):
        lines = [ln.strip() for ln in para.splitlines() if ln.strip()]
        if not lines:
            continue
        if structure.feed(lines[0]):
            lines = lines[1:]
        if lines:
            builder.paragraph(" ".join(lines))
    return builder.blocks


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


# --- HTML ------------------------------------------------------------------------------------------------

_BLOCK_TAGS = ["p", "li", "td", "th", "pre", "blockquote", "dd", "dt", "h1", "h2", "h3", "h4", "h5", "h6"]


def _clean(text: str) -> str:
    return " ".join(text.replace("\xa0", " ").split())


def load_html(path: Path, name: str) -> list[Block]:
    """HTML: EUR-Lex pages (oj-* classes) by their legal structure, any other page by its h1-h6 headings."""
    from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning

    raw = path.read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", XMLParsedAsHTMLWarning
        )  # EUR-Lex serves XHTML; lxml's HTML parser copes
        soup = BeautifulSoup(raw, "lxml")
    for tag in soup(["script", "style", "noscript", "head", "nav"]):
        tag.decompose()
    builder = OutlineBuilder(name)
    if soup.find(class_="oj-ti-art"):
        _eurlex(soup, builder)
    else:
        _generic_html(soup, builder)
    return builder.blocks


def _generic_html(soup, builder: OutlineBuilder) -> None:  # type: ignore[no-untyped-def]
    body = soup.body or soup
    for el in body.find_all(_BLOCK_TAGS):
        if el.find(_BLOCK_TAGS):
            continue  # a container of other blocks: its children carry the text
        text = _clean(el.get_text(" "))
        if not text:
            continue
        if el.name and re.fullmatch(r"h[1-6]", el.name):
            builder.heading(int(el.name[1]), _split_title(text))
        else:
            builder.paragraph(text)


def _eurlex(soup, builder: OutlineBuilder) -> None:  # type: ignore[no-untyped-def]
    """EUR-Lex OJ XHTML: recitals (rct_N), chapters/sections (oj-ti-section-1/2), articles (oj-ti-art +
    oj-sti-art), annexes (oj-doc-ti inside anx_*); footnotes (oj-note) are dropped."""
    for note in soup.select("p.oj-note, .oj-note-tag"):
        note.decompose()
    body = soup.body or soup
    pending: tuple[int, str] | None = None  # a label waiting for its title paragraph
    for el in body.find_all(_BLOCK_TAGS):
        if el.find(_BLOCK_TAGS):
            continue
        classes = el.get("class") or []
        text = _clean(el.get_text(" "))
        if not text:
            continue
        if "oj-ti-section-1" in classes:
            level = LEVEL_SECTION if text.upper().startswith("SECTION") else LEVEL_CHAPTER
            pending = (level, text)
            continue
        if "oj-ti-art" in classes:
            pending = (LEVEL_ARTICLE, text)
            continue
        if "oj-doc-ti" in classes and el.find_parent(id=re.compile(r"^anx_")):
            if pending is None and re.match(r"^ANN", text):
                pending = (LEVEL_CHAPTER, text)
                continue
            if pending is not None:
                builder.heading(pending[0], Heading(pending[1], text))
                pending = None
                continue
        if pending is not None and ("oj-ti-section-2" in classes or "oj-sti-art" in classes):
            builder.heading(pending[0], Heading(pending[1], text.rstrip("`")))
            pending = None
            continue
        if pending is not None:  # a label without a title
            builder.heading(pending[0], Heading(pending[1]))
            pending = None
        if re.fullmatch(r"\(\d+\)", text) and el.find_parent(id=re.compile(r"^rct_\d+$")) is not None:
            builder.heading(LEVEL_ARTICLE, Heading(f"Recital {text}"))
            continue
        builder.paragraph(text)


LOADERS = {"pdf": load_pdf, "html": load_html, "markdown": load_markdown, "text": load_text}
