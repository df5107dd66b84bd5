"""The lexical `bm25` kind: `bm25s` over regex words (Latin) or jieba / character tokens (Chinese), or over
bm25s's own tokenizer, with optional stop words (bm25s's lists) and Snowball stemming (PyStemmer), as sparse
rows whose dot product is the BM25 score. MTEB's bm25s baseline is `{tokenizer: bm25s, stopwords: en,
stemmer: english}` with bm25s's default k1, b and method."""

from __future__ import annotations

import logging
import re
from array import array
from typing import Any

import numpy as np

from embedlab.errors import EmbedlabError
from embedlab.models.base import Encoder
from embedlab.models.spec import ModelSpec
from embedlab.text import CJK_CHAR

_WORD = re.compile(r"\w+", re.UNICODE)
_SCORE_BLOCK = 8192
"""Documents whose weights are computed in one vectorised step (bounds the temporaries of pass 2)."""


def tokenize(
    text: str, mode: str = "auto", stopwords: frozenset[str] = frozenset(), stemmer: Any = None
) -> list[str]:
    """Lexical tokens: lower-cased words; Chinese text through jieba (`jieba`) or single characters (`char`);
    `bm25s`: bm25s's own tokenizer (words of two or more characters), as MTEB's baseline calls it.

    `auto` uses jieba when the text has CJK characters. Punctuation is dropped in every mode. Stop words
    are removed before stemming (`stemmer`: a PyStemmer `Stemmer`), as bm25s does.
    """
    if mode == "bm25s":
        import bm25s

        return bm25s.tokenize(
            text, stopwords=list(stopwords), stemmer=stemmer, return_ids=False, show_progress=False
        )[0]
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
        raise EmbedlabError(f"bm25 tokenizer {mode!r}; use auto, word, char, jieba or bm25s")
    toks = [t for t in toks if t not in stopwords] if stopwords else toks
    return stemmer.stemWords(toks) if stemmer is not None else toks


def stop_words(name: str, stopwords: str | list[str] | None) -> frozenset[str]:
    """A bm25s stop-word list by its language key ("en", "de", "zh", …) or the given words."""
    if not isinstance(stopwords, str):
        return frozenset(stopwords or ())
    from bm25s.tokenization import _infer_stopwords  # bm25s's key -> list table (bm25s is pinned)

    try:
        return frozenset(_infer_stopwords(stopwords))
    except ValueError:
        raise EmbedlabError(
            f"model {name}: bm25 stopwords {stopwords!r} is not a bm25s list: use en, de, nl, fr, es, pt, "
            "it, ru, sv, no, zh, tr, ko, da, or a list of words"
        ) from None


def stemmer_for(name: str, language: str) -> Any:
    """PyStemmer's Snowball stemmer for `language` ("english", "german", …)."""
    import Stemmer

    if language not in Stemmer.algorithms():
        raise EmbedlabError(
            f"model {name}: bm25 stemmer {language!r} is not a PyStemmer language: use one of "
            f"{', '.join(Stemmer.algorithms())}"
        )
    return Stemmer.Stemmer(language)


class BM25Encoder(Encoder):
    """BM25 (bm25s) as sparse vectors: a chunk is its BM25 term weights, a query its term counts, so
    query · chunk is exactly bm25s's score. `init_kwargs`: k1, b, delta, method (lucene, robertson, atire,
    bm25l, bm25+), tokenizer (auto/word/char/jieba/bm25s), stopwords (a bm25s key such as "en", or a list),
    stemmer (a PyStemmer language such as "english")."""

    lexical = True

    def __init__(self, spec: ModelSpec, device: str = "auto") -> None:
        super().__init__(spec, "cpu")
        opts = dict(spec.init_kwargs)
        self.tokenizer = str(opts.pop("tokenizer", "auto"))
        self.stopwords = stop_words(spec.name, opts.pop("stopwords", None))
        self.stemmer_language = opts.pop("stemmer", None)
        self.stemmer = stemmer_for(spec.name, self.stemmer_language) if self.stemmer_language else None
        self.bm25_kwargs = {k: opts.pop(k) for k in ("k1", "b", "delta", "method") if k in opts}
        if opts:
            raise EmbedlabError(
                f"model {spec.name}: unknown bm25 init_kwargs {sorted(opts)} (allowed: k1, b, delta, "
                "method, tokenizer, stopwords, stemmer)"
            )
        self.vocab: dict[str, int] | None = None

    def _weights_identity(self) -> Any:
        import bm25s

        return [
            "bm25s",
            getattr(bm25s, "__version__", "?"),
            self.tokenizer,
            sorted(self.stopwords),
            self.stemmer_language,
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
        toks = [tokenize(self.prefix(role) + t, self.tokenizer, self.stopwords, self.stemmer) for t in texts]
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
        """The corpus's BM25 rows in two passes, so that memory is the sparse matrix itself plus the
        vocabulary: pass 1 (`_term_counts`) tokenizes each document once into its distinct token ids and
        their counts, packed arrays that become the matrix's indices and data; pass 2 (`_weigh`) turns the
        counts into weights in place. bm25s's own `index` holds every document's token-id list as Python ints
        (~6.4x the matrix at a million chunks, benchmarks/README.md).

        Token ids are numbered in first-seen order by this encoder: bm25s numbers tokens through a set,
        whose order changes with the process's hash seed, and the term order decides the last bits of every
        score."""
        import scipy.sparse as sp

        vocab: dict[str, int] = {}
        terms, counts, lengths = array("i"), array("f"), array("q")
        indptr = array("q", [0])
        for text in texts:
            tokens = tokenize(
                self.prefix("passage") + text, self.tokenizer, self.stopwords, self.stemmer
            ) or [""]
            ids, tf = np.unique([vocab.setdefault(t, len(vocab)) for t in tokens], return_counts=True)
            terms.extend(ids.astype(np.int32))
            counts.extend(tf.astype(np.float32))
            lengths.append(len(tokens))
            indptr.append(len(terms))
        cols, weights = np.frombuffer(terms, dtype=np.int32), np.frombuffer(counts, dtype=np.float32)
        rows = np.frombuffer(indptr, dtype=np.int64)
        _weigh(self.bm25_kwargs, cols, weights, rows, np.frombuffer(lengths, dtype=np.int64), len(vocab))
        self.vocab = vocab
        self.n_terms = len(vocab)
        return sp.csr_matrix((weights, cols, rows), shape=(len(lengths), len(vocab)))


def _weigh(
    bm25_kwargs: dict[str, Any],
    cols: np.ndarray,
    weights: np.ndarray,
    indptr: np.ndarray,
    doc_len: np.ndarray,
    n_terms: int,
) -> None:
    """Term counts (`weights`, CSR rows `indptr` x `cols`) -> BM25 weights, in place, `_SCORE_BLOCK`
    documents at a time, with bm25s's idf and term-frequency functions and the same operand types as
    bm25s's own indexer (the test compares the two matrices bit for bit for every method)."""
    from bm25s import BM25
    from bm25s.scoring import (
        _build_idf_array,
        _build_nonoccurrence_array,
        _select_idf_scorer,
        _select_tfc_scorer,
    )

    bm25 = BM25(**bm25_kwargs)  # bm25s's defaults and its check of the arguments
    n_docs = len(doc_len)
    blocks = [(d, min(d + _SCORE_BLOCK, n_docs)) for d in range(0, n_docs, _SCORE_BLOCK)]
    df = np.zeros(n_terms, dtype=np.int64)
    for d0, d1 in blocks:  # by block: bincount would copy all of `cols` to int64 at once
        df += np.bincount(cols[indptr[d0] : indptr[d1]], minlength=n_terms)
    doc_freq = dict(enumerate(df.tolist()))
    avg_len = doc_len.mean() if n_docs else np.float64(0)
    idf_of, tfc_of = _select_idf_scorer(bm25.idf_method), _select_tfc_scorer(bm25.method)
    idf = _build_idf_array(doc_freq, n_docs, idf_of, dtype=bm25.dtype)
    absent = None
    if bm25.method in bm25.methods_requiring_nonoccurrence:
        absent = _build_nonoccurrence_array(
            doc_freq, n_docs, idf_of, tfc_of, avg_len, avg_len, bm25.k1, bm25.b, bm25.delta, bm25.dtype
        )
    for d0, d1 in blocks:
        p0, p1 = indptr[d0], indptr[d1]
        voc = cols[p0:p1]
        l_d = np.repeat(doc_len[d0:d1], np.diff(indptr[d0 : d1 + 1]))
        block = idf[voc] * tfc_of(weights[p0:p1], l_d, avg_len, bm25.k1, bm25.b, bm25.delta)
        if absent is not None:
            block -= absent[voc]
        weights[p0:p1] = block
