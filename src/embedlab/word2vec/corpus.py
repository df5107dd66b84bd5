"""Word2vec input: texts from chunk files, text files or literal sentences, cut into sentences and tokens.

Skip-gram windows must not reach across a sentence end, so text is split into sentences first; tokens are
lowercased words (`words`), jieba's words (`jieba`, for Chinese) or CJK characters one by one (`chars`).
Named `w2v_*` because chunking and lexical retrieval have their own sentence splitting and tokenising with
other rules; what is a CJK character comes from `embedlab.text`.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from embedlab import io
from embedlab.errors import EmbedlabError
from embedlab.text import CJK_CLASS, is_cjk

TOKENIZERS = ("words", "jieba", "chars")

# The tutorial's toy sentences (its PDF wraps two of them mid-sentence; these are the sentences it means).
TOY_SENTENCES: tuple[str, ...] = (
    "longge like dog",
    "longge like cat",
    "longge like animal",
    "dog cat animal",
    "banana apple cat dog like",
    "dog fish milk like",
    "dog cat animal like",
    "longge like apple",
    "apple like",
    "longge like banana",
    "apple banana longge movie book music like",
    "cat dog hate",
    "cat dog like",
)

_WORD = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")
_CHAR_TOKEN = re.compile(f"(?=[{CJK_CLASS}])[^\\W_]|(?:(?![{CJK_CLASS}])[^\\W_])+")  # CJK letters one by one
# Sentence ends (windows never cross them): line breaks, CJK and Latin end punctuation.
_SENTENCE_END = re.compile(r"[\n\r]+|[。！？；]+|[.!?;]+(?=\s|$)")
_FILE_SUFFIXES = (".json", ".txt", ".md", ".markdown")


def w2v_sentences(text: str) -> list[str]:
    """Sentences (non-empty, stripped): skip-gram windows must not reach across a sentence end."""
    return [p.strip() for p in _SENTENCE_END.split(text) if p.strip()]


@cache
def _jieba() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)  # its "Building prefix dict" lines would flood every rule log
    return jieba


def w2v_tokens(text: str, tokenizer: str = "words") -> list[str]:
    """Tokens of one sentence, lowercased, punctuation dropped.

    `words`: runs of letters/digits (with inner apostrophes or hyphens), for Latin scripts; `jieba`: jieba's
    default (HMM) segmentation, for Chinese; `chars`: one token per CJK character, Latin runs kept whole.
    """
    if tokenizer == "words":
        return [t.lower() for t in _WORD.findall(text)]
    if tokenizer == "chars":
        return [t.lower() for t in _CHAR_TOKEN.findall(text)]
    if tokenizer == "jieba":
        return [t.strip().lower() for t in _jieba().lcut(text) if _WORD.search(t)]
    raise EmbedlabError(f"word2vec tokenizer {tokenizer!r} is not allowed (allowed: {', '.join(TOKENIZERS)})")


def cjk_fraction(texts: Iterable[str], limit: int = 200_000) -> float:
    """Share of CJK characters among letters (first `limit` characters): catches `words` on Chinese text."""
    letters = cjk = 0
    for text in texts:
        for ch in text:
            if ch.isalpha():
                letters += 1
                cjk += is_cjk(ch)
            if letters >= limit:
                return cjk / letters
    return cjk / letters if letters else 0.0


def read_texts(sources: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Texts from chunk files (`{"chunks": [{"text": ...}]}`), plain text/Markdown files, or literal strings.

    A `Path`, or a string naming an existing file, is read; a string ending in .json/.txt/.md that is not a
    file is an error (a typo must not be trained on as a sentence); any other string is text itself.
    """
    texts: list[str] = []
    for src in sources:
        path = Path(src)
        is_file_like = isinstance(src, os.PathLike) or (
            "\n" not in str(src) and (path.suffix.lower() in _FILE_SUFFIXES or path.is_file())
        )
        if not is_file_like:
            texts.append(str(src))
            continue
        if not path.is_file():
            raise EmbedlabError(f"word2vec input {path}: file not found (run the chunk rule or fix the path)")
        if path.suffix.lower() == ".json":
            data = io.read_json(path)
            chunks = data.get("chunks") if isinstance(data, dict) else None
            if not isinstance(chunks, list):
                raise EmbedlabError(
                    f"word2vec input {path}: not a chunks file (no 'chunks' list); give a chunks JSON"
                )
            texts.extend(str(c.get("text", "")) for c in chunks)
        else:
            texts.append(path.read_text(encoding="utf-8"))
    return texts


def tokenize_corpus(texts: Iterable[str], tokenizer: str) -> list[list[str]]:
    """Texts -> sentences -> token lists (empty sentences dropped)."""
    out = []
    for text in texts:
        for sentence in w2v_sentences(text):
            tokens = w2v_tokens(sentence, tokenizer)
            if tokens:
                out.append(tokens)
    return out
