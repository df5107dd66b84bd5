"""Corpus loading: files, folders and zip archives of documents into outlined blocks.

Formats: PDF, HTML (EUR-Lex by its legal structure, any other page by its main content), Markdown, text,
Word, PowerPoint, EPUB and reStructuredText. A folder (or a zip of one) is read file by file; what cannot be
read is skipped, named, and returned in `LoadedCorpus` so the chunk file and provenance can record it. A BEIR
folder (corpus.jsonl + queries.jsonl + qrels/) is read record by record instead (embedlab.data.beir).

Also resolves where a corpus file lives (a local file under `corpus_root` or `resources_dir`, else its URL,
downloaded once into `resources_dir`), so every later stage reads the same bytes whatever the source was.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from embedlab import io
from embedlab.data.archive import extract_zip
from embedlab.data.beir import is_beir_folder, load_beir
from embedlab.data.epub import load_epub
from embedlab.data.eurlex import is_eurlex, read_eurlex
from embedlab.data.html import parse_html
from embedlab.data.markdown import load_markdown
from embedlab.data.office import load_docx, load_pptx
from embedlab.data.outline import Block, OutlineBuilder, TextStructure
from embedlab.data.pdf import NoTextLayer, load_pdf
from embedlab.data.readers import UnreadableFile
from embedlab.data.rst import load_rst
from embedlab.data.webpage import read_webpage
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
    ".docx": "word",
    ".pptx": "powerpoint",
    ".epub": "epub",
    ".rst": "rst",
    ".rest": "rst",
    ".zip": "archive",
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


@dataclass
class LoadedCorpus:
    """The blocks of every readable document, and what was left out (relative names, sorted).

    `skipped` counts unsupported files by extension ("(none)" without one); `needs_ocr` are PDFs without a
    text layer; `unreadable` are files their library could not open (password, damage, no navigation);
    `empty` are files without any text.
    """

    blocks: list[Block]
    skipped: dict[str, int] = field(default_factory=dict)
    needs_ocr: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)

    def left_out(self) -> dict[str, Any]:
        """What was not read, for the chunk file and provenance.json (JSON, deterministic)."""
        return {
            "unsupported_by_extension": dict(sorted(self.skipped.items())),
            "needs_ocr": sorted(self.needs_ocr),
            "unreadable": sorted(self.unreadable),
            "empty": sorted(self.empty),
        }


def load_path(path: str | Path, corpus: str = "?", speaker_notes: str | None = None) -> list[Block]:
    """The blocks of `load_corpus` (see there)."""
    return load_corpus(path, corpus, speaker_notes).blocks


def load_corpus(path: str | Path, corpus: str, speaker_notes: str | None) -> LoadedCorpus:
    """Load a file, a zip archive, a BEIR folder (one document per record) or every supported file of a
    folder (sorted, recursive) into blocks.

    In a folder or archive, unsupported files, files without text, unreadable files and PDFs without a
    text layer (scans) are skipped with a log line and listed in the result; a single such file, or a
    folder that yields no text at all, is an error naming the corpus and the file. `speaker_notes`
    ("apart" or "drop") is how .pptx speaker notes are read.
    """
    path = Path(path)
    if not path.exists():
        raise EmbedlabError(f"corpus {corpus}: {path} does not exist")
    if is_beir_folder(path):
        return _load_beir(path, corpus)
    single = path.is_file() and path.suffix.lower() != ".zip"
    loaded = LoadedCorpus([])
    with tempfile.TemporaryDirectory(prefix="embedlab-unzip-") as tmp:
        try:
            documents = list(_documents(path, Path(tmp), loaded.unreadable))
        except EmbedlabError as exc:
            raise EmbedlabError(f"corpus {corpus}: {exc}") from None
        for file, name in documents:
            _load_one(file, name, corpus, speaker_notes, single, loaded)
    _log_left_out(corpus, loaded)
    if not loaded.blocks:
        ocr = f"; {len(loaded.needs_ocr)} PDF(s) without a text layer need OCR" if loaded.needs_ocr else ""
        bad = f"; unreadable: {', '.join(loaded.unreadable)}" if loaded.unreadable else ""
        raise EmbedlabError(
            f"corpus {corpus}: no supported documents with text in {path} "
            f"({', '.join(sorted(SUFFIXES))}){ocr}{bad}"
        )
    return loaded


def _load_beir(path: Path, corpus: str) -> LoadedCorpus:
    """A BEIR folder: one document per record (embedlab.data.beir); records without text are `empty`."""
    try:
        blocks, empty = load_beir(path)
    except EmbedlabError as exc:
        raise EmbedlabError(f"corpus {corpus}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise EmbedlabError(f"corpus {corpus}: {path} is not UTF-8 ({exc.reason}): convert it") from None
    loaded = LoadedCorpus(blocks, empty=empty)
    _log_left_out(corpus, loaded)
    if not blocks:
        raise EmbedlabError(
            f"corpus {corpus}: the BEIR corpus {path / 'corpus.jsonl'} has no document with text"
        )
    return loaded


def _documents(
    path: Path, tmp: Path, unreadable: list[str], prefix: str = "", depth: int = 0
) -> Iterator[tuple[Path, str]]:
    """(file, relative name) of every file to read: a folder's files sorted, a zip's members unpacked into
    `tmp` (zips inside are read the same, three levels at most; a damaged one is added to `unreadable`)."""
    if path.is_file() and path.suffix.lower() != ".zip":
        yield path, prefix + path.name
        return
    if path.is_file():
        if depth >= 3:
            raise EmbedlabError(f"{path}: zip archives nested more than 3 deep: unpack them yourself")
        root = tmp / f"{depth}-{len(list(tmp.iterdir()))}"
        root.mkdir()
        extract_zip(path, root)
        path = root
    files = sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p.relative_to(path)))
    for file in files:
        name = prefix + file.relative_to(path).as_posix()
        if file.suffix.lower() == ".zip":
            try:
                members = list(_documents(file, tmp, unreadable, f"{name}/", depth + 1))
            except UnreadableFile as exc:
                unreadable.append(name)
                log.warning("skipping %s", exc)
                continue
            yield from members
        else:
            yield file, name


def _hidden(relative: Path) -> bool:
    """Dot files and folders (.git, .DS_Store) and macOS zip resource forks (__MACOSX) are not documents."""
    return any(part.startswith(".") or part == "__MACOSX" for part in relative.parts)


def _load_one(
    file: Path, name: str, corpus: str, speaker_notes: str | None, single: bool, loaded: LoadedCorpus
) -> None:
    """Read one file into `loaded`, or record why it was skipped (a single file: raise instead)."""
    kind = SUFFIXES.get(file.suffix.lower())
    if kind is None:
        if single:
            raise EmbedlabError(
                f"corpus {corpus}: {file} has an unknown format {file.suffix!r}; "
                f"supported: {', '.join(sorted(SUFFIXES))}"
            )
        extension = file.suffix.lower() or "(none)"
        loaded.skipped[extension] = loaded.skipped.get(extension, 0) + 1
        log.warning("corpus %s: skipping %s (unsupported format)", corpus, name)
        return
    try:
        blocks = _read(kind, file, name, speaker_notes)
    except (NoTextLayer, UnreadableFile) as exc:
        if single:
            raise EmbedlabError(f"corpus {corpus}: {exc}") from None
        # a scan or a damaged file among readable ones: skip it, say so, read the rest
        (loaded.needs_ocr if isinstance(exc, NoTextLayer) else loaded.unreadable).append(name)
        log.warning("corpus %s: skipping %s", corpus, exc)
        return
    except EmbedlabError as exc:
        raise EmbedlabError(f"corpus {corpus}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise EmbedlabError(
            f"corpus {corpus}: {file} is not UTF-8 text ({exc.reason}): convert it to UTF-8"
        ) from None
    if not any(b.paragraphs for b in blocks):
        if single:
            raise EmbedlabError(
                f"corpus {corpus}: {file} contains no extractable text: remove it, or OCR it if it is a scan"
            )
        loaded.empty.append(name)  # an empty page among many: skip it, the rest is the corpus
        return
    loaded.blocks.extend(blocks)


def _read(kind: str, file: Path, name: str, speaker_notes: str | None) -> list[Block]:
    if kind == "powerpoint":
        return load_pptx(file, name, speaker_notes)
    return LOADERS[kind](file, name)


def _log_left_out(corpus: str, loaded: LoadedCorpus) -> None:
    """One warning per kind of file left out of a folder or archive (also in the chunk file's `left_out`)."""
    if loaded.skipped:
        log.warning(
            "corpus %s: skipped %d unsupported file(s): %s",
            corpus,
            sum(loaded.skipped.values()),
            dict(sorted(loaded.skipped.items())),
        )
    for files, what in (
        (loaded.empty, "file(s) without text"),
        (loaded.unreadable, "unreadable file(s)"),
        (loaded.needs_ocr, "PDF(s) without a text layer (run OCR on them)"),
    ):
        if files:
            log.warning("corpus %s: skipped %d %s: %s", corpus, len(files), what, ", ".join(files))


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
    """HTML: EUR-Lex pages by their legal structure, any other page by its main content (webpage)."""
    soup = parse_html(path)
    builder = OutlineBuilder(name)
    if is_eurlex(soup):
        read_eurlex(soup, builder)
    else:
        read_webpage(path, builder)
    return builder.blocks


LOADERS: dict[str, Callable[[Path, str], list[Block]]] = {
    "pdf": load_pdf,
    "html": load_html,
    "markdown": load_markdown,
    "text": load_text,
    "word": load_docx,
    "epub": load_epub,
    "rst": load_rst,
}
