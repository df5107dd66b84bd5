"""Corpus loading: files and folders of PDF, HTML (EUR-Lex included), Markdown and text into outlined blocks.

Also resolves where a corpus file lives (a local file under `corpus_root` or `resources_dir`, else its URL,
downloaded once into `resources_dir`), so every later stage reads the same bytes whatever the source was.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from embedlab import io
from embedlab.data.eurlex import is_eurlex, read_eurlex
from embedlab.data.html import parse_html, read_generic
from embedlab.data.markdown import load_markdown
from embedlab.data.outline import Block, OutlineBuilder, TextStructure
from embedlab.data.pdf import NoTextLayer, load_pdf
from embedlab.errors import EmbedlabError

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


@dataclass(frozen=True)
class Source:
    """Where one corpus/language is read from, and the URL that fetches it when it is not there yet."""

    path: Path
    url: str | None = None  # set only when `path` is missing and must be downloaded


def resolve_source(
    corpus: str, lang: str, file: str, url: str | None, corpus_root: str | None, resources_dir: str
) -> Source:
    """A file that exists locally (under `corpus_root`, then `resources_dir`) is used as it is; a missing one
    with a `url` is downloaded once into `resources_dir`; a missing one without is an error naming the places.
    """
    if Path(file).is_absolute():
        candidates = [Path(file)]
    else:
        candidates = [Path(root) / file for root in (corpus_root, resources_dir) if root]
    for path in candidates:
        if path.exists():
            return Source(path)
    if url:
        name = Path(file).name if Path(file).is_absolute() else file
        return Source(Path(resources_dir) / name, url)
    where = " or ".join(str(p) for p in candidates)
    raise EmbedlabError(
        f"corpus {corpus}/{lang}: {file} is not at {where}: put it there, point corpus_root at a folder "
        f"that holds it, or give corpora.{corpus}.languages.{lang}.url to download it from"
    )


def locate_corpus_root(root: str | None, workflow_dir: str | Path) -> str | None:
    """A relative `corpus_root` is read from the working directory, or else from the workflow's own folder:
    `data/corpora` of the default config is found from any `--directory`."""
    if not root or Path(root).is_absolute() or Path(root).is_dir():
        return root
    shipped = Path(workflow_dir) / root
    return str(shipped) if shipped.is_dir() else root


def plan_sources(config: dict[str, Any]) -> dict[tuple[str, str], Source]:
    """Every corpus/language of a validated config and its source, checked before any job starts."""
    return {
        (corpus, lang): resolve_source(
            corpus, lang, spec["file"], spec.get("url"), config["corpus_root"], config["resources_dir"]
        )
        for corpus, c in config["corpora"].items()
        for lang, spec in c["languages"].items()
    }


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

    In a folder, unsupported files, files without text and PDFs without a text layer (scans) are skipped
    with a log line and a count; a single such file, or a folder that yields no text at all, is an error
    naming the corpus and the file.
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
    needs_ocr: list[str] = []
    empty: list[str] = []
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
        except NoTextLayer as exc:
            if path.is_file():
                raise EmbedlabError(f"corpus {corpus}: {exc}") from None
            needs_ocr.append(name)  # a scan among readable files: skip it, say so, read the rest
            log.warning("corpus %s: skipping %s", corpus, exc)
            continue
        except EmbedlabError as exc:
            raise EmbedlabError(f"corpus {corpus}: {exc}") from None
        except UnicodeDecodeError as exc:
            raise EmbedlabError(
                f"corpus {corpus}: {file} is not UTF-8 text ({exc.reason}): convert it to UTF-8"
            ) from None
        if not any(b.paragraphs for b in file_blocks):
            if path.is_file():
                raise EmbedlabError(
                    f"corpus {corpus}: {file} contains no extractable text: remove it, or OCR it if it is "
                    "a scan"
                )
            empty.append(name)  # an empty page among many: skip it, the rest is the corpus
            continue
        blocks.extend(file_blocks)
    if skipped:
        log.warning(
            "corpus %s: skipped %d unsupported file(s): %s", corpus, sum(skipped.values()), dict(skipped)
        )
    if empty:
        log.warning("corpus %s: skipped %d file(s) without text: %s", corpus, len(empty), ", ".join(empty))
    if needs_ocr:
        log.warning(
            "corpus %s: skipped %d PDF(s) without a text layer (run OCR on them): %s",
            corpus,
            len(needs_ocr),
            ", ".join(needs_ocr),
        )
    if not blocks:
        ocr = f"; {len(needs_ocr)} PDF(s) without a text layer need OCR" if needs_ocr else ""
        raise EmbedlabError(
            f"corpus {corpus}: no supported documents with text in {path} "
            f"({', '.join(sorted(SUFFIXES))}){ocr}"
        )
    return blocks


def load_text(path: Path, name: str) -> list[Block]:
    """Plain text: blank lines separate paragraphs; chapter/section/article lines open headings."""
    text = path.read_text(encoding="utf-8", errors="strict")
    builder = OutlineBuilder(name)
    structure = TextStructure(builder, text.splitlines())
    for para in re.split(r"\n\s*\n", text):
        lines = [ln.strip() for ln in para.splitlines() if ln.strip()]
        if not lines:
            continue
        if structure.feed(lines[0]):
            lines = lines[1:]
        if lines:
            builder.paragraph(" ".join(lines))
    return builder.blocks


def load_html(path: Path, name: str) -> list[Block]:
    """HTML: EUR-Lex pages by their legal structure, any other page by its h1-h6 headings."""
    soup = parse_html(path)
    builder = OutlineBuilder(name)
    if is_eurlex(soup):
        read_eurlex(soup, builder)
    else:
        read_generic(soup, builder)
    return builder.blocks


LOADERS = {"pdf": load_pdf, "html": load_html, "markdown": load_markdown, "text": load_text}
