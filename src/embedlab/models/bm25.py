"""The lexical `bm25` kind: `bm25s` over regex words (Latin) or jieba / character tokens (Chinese), as
sparse rows whose dot product is the BM25 score."""

from __future__ import annotations

import logging
import re
from typing import Any

import numpy as np

from embedlab.errors import EmbedlabError
from embedlab.models.base import Encoder
from embedlab.models.spec import ModelSpec
from embedlab.text import CJK_CHAR

_WORD = re.compile(r"\w+", re.UNICODE)


def tokenize(text: str, mode: str = "auto", stopwords: frozenset[str] = frozenset()) -> list[str]:
    """Lexical tokens: lower-cased words; Chinese text through jieba (`jieba`) or single characters (`char`).

    `auto` uses jieba when the text has CJK characters. Punctuation is dropped in every mode.
    """
    text = text.lower()
    if mode == "auto":
        mode = "jieba" if CJK_CHAR.search(text) else "word"
    if mode == "word":
        toks = _WORD.findall(text)
    elif mode == "char":
        toks = [t for w in _WORD.findall(text) for t in (list(w) if CJK_CHAR.search(w) else [w])]
    elif mode == "jieba":
        import jieba

        jieba.setLogLevel(logging.WARNING)
        toks = [t for t in (w.strip() for w in jieba.cut_for_search(text)) if t and _WORD.fullmatch(t)]
    else:
        raise EmbedlabError(f"bm25 tokenizer {mode!r}; use auto, word, char or jieba")
    return [t for t in toks if t not in stopwords] if stopwords else toks


class BM25Encoder(Encoder):
    """BM25 (bm25s) as sparse vectors: a chunk is its BM25 term weights, a query its term counts, so
    query · chunk is exactly bm25s's score. `init_kwargs`: k1, b, method (lucene, robertson, atire, bm25l,
    bm25+), tokenizer (auto/word/char/jieba), stopwords ("en" or a list)."""

    lexical = True

    def __init__(self, spec: ModelSpec, device: str = "auto") -> None:
        super().__init__(spec, "cpu")
        opts = dict(spec.init_kwargs)
        self.tokenizer = str(opts.pop("tokenizer", "auto"))
        sw = opts.pop("stopwords", None)
        if sw == "en":
            from bm25s.stopwords import STOPWORDS_EN

            sw = STOPWORDS_EN
        self.stopwords = frozenset(sw or ())
        self.bm25_kwargs = {k: opts.pop(k) for k in ("k1", "b", "delta", "method") if k in opts}
        if opts:
            raise EmbedlabError(
                f"model {spec.name}: unknown bm25 init_kwargs {sorted(opts)} (allowed: k1, b, delta, "
                "method, tokenizer, stopwords)"
            )
        self.vocab: dict[str, int] | None = None

    def _weights_identity(self) -> Any:
        import bm25s

        return [
            "bm25s",
            getattr(bm25s, "__version__", "?"),
            self.tokenizer,
            sorted(self.stopwords),
            self.bm25_kwargs,
        ]

    def _post(self, vecs: Any, n: int) -> Any:
        return vecs  # sparse term weights: normalizing would change the BM25 scores

    def _run(self, texts: list[str], role: str) -> Any:
        self.calls += len(texts)
        return self._encode(texts, role)

    def _encode(self, texts: list[str], role: str) -> Any:
        import scipy.sparse as sp

        if role == "passage":
            return self._index(texts)
        toks = [tokenize(self.prefix(role) + t, self.tokenizer, self.stopwords) for t in texts]
        if self.vocab is None:
            raise EmbedlabError(f"model {self.name}: BM25 encodes the corpus before the queries")
        rows, cols = [], []
        for i, doc in enumerate(toks):
            ids = [self.vocab[t] for t in doc if t in self.vocab]
            rows.extend([i] * len(ids))
            cols.extend(ids)
        data = np.ones(len(rows), dtype=np.float32)
        return sp.csr_matrix((data, (rows, cols)), shape=(len(texts), self.n_terms), dtype=np.float32)

    def _index(self, texts: list[str]) -> Any:
        """bm25s's index over the corpus, from token ids numbered in first-seen order: bm25s numbers a
        token list through a set, whose order changes with the process's hash seed, and the term order
        decides the last bits of every score (so ties between near-equal chunks changed run to run).
        Documents are tokenized one at a time into ids, so no token strings are held for the corpus."""
        import bm25s
        import scipy.sparse as sp

        vocab: dict[str, int] = {}
        ids = []
        for text in texts:
            tokens = tokenize(self.prefix("passage") + text, self.tokenizer, self.stopwords) or [""]
            ids.append([vocab.setdefault(t, len(vocab)) for t in tokens])
        retriever = bm25s.BM25(**self.bm25_kwargs)
        retriever.index((ids, vocab), show_progress=False)
        s = retriever.scores  # CSC by token: data/indices/indptr over documents
        n_terms = (
            len(s["indptr"]) - 1
        )  # the vocabulary may also hold bm25s's empty token, which has no column
        self.vocab = {t: i for t, i in retriever.vocab_dict.items() if i < n_terms}
        self.n_terms = n_terms
        mat = sp.csc_matrix((s["data"], s["indices"], s["indptr"]), shape=(s["num_docs"], n_terms))
        return mat.tocsr().astype(np.float32)
