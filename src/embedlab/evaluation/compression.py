"""How small can a dense index get? One model at truncated dimensions × float32 / int8 / binary vectors.

Queries and chunks are encoded ONCE (through the embedding cache); every variant is then derived from the
full vectors, so a sweep costs one encoding plus cheap rankings:
- dims: the first d dimensions (sentence-transformers' `truncate_dim` slices the output after its Normalize
  module and only re-normalises with `normalize_embeddings=True`; its similarity and evaluator are cosine,
  so for a `normalize` spec the slice is re-normalised here and a dot product stays that cosine). A d at or
  above the model's dimension is the untouched full vector: exactly the plain evaluation's numbers.
- int8: sentence-transformers' `quantize_embeddings(precision="int8")` with ranges calibrated on the corpus
  vectors; the query is quantized with the same ranges and stage 1 scores are the integer dot product (what
  an int8 inner-product index computes).
- binary: `quantize_embeddings(precision="ubinary")` (1 bit per dimension, packed); stage 1 scores are minus
  the Hamming distance.
- rescoring, as sentence-transformers' `semantic_search_faiss` / `semantic_search_usearch` do for a float
  query over a quantized corpus: the top `rescore_multiplier × max(ks)` stage-1 candidates are re-ranked by
  float query · the corpus codes decoded (int8 dequantized with the same ranges, binary bits unpacked to 0/1),
  so no float32 copy of the corpus is needed. `rescore_multiplier: 0` ranks by stage 1 alone.
Ranks are exact over the whole corpus: rescored candidates first, then every other chunk in stage-1 order;
ties (stage 1 or rescored) go to the lower chunk id, as in evaluation.metrics.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from embedlab.errors import EmbedlabError
from embedlab.evaluation import latency, metrics
from embedlab.evaluation.encoding import Encoded, encode_qa
from embedlab.evaluation.options import EvalOptions
from embedlab.evaluation.qaset import QASet, chunk_groups, load_qa
from embedlab.evaluation.results import RunResult, summary_row, write_csv
from embedlab.models.embcache import CachedEncoder, open_encoder
from embedlab.models.spec import ModelSpec
from embedlab.settings import CompressionSettings

PRECISIONS = ("float32", "int8", "binary")
FORMAT = "embedlab.compression/1"


@dataclass(frozen=True)
class Variant:
    dims: int
    precision: str

    @property
    def name(self) -> str:
        return f"{self.dims}d-{self.precision}"


def bytes_per_vector(dims: int, precision: str) -> int:
    """Storage of one chunk vector: 4 bytes a dimension (float32), 1 (int8), 1 bit rounded up to bytes."""
    return {"float32": 4 * dims, "int8": dims, "binary": math.ceil(dims / 8)}[precision]


def variants(dims: Sequence[int], precisions: Sequence[str], full_dim: int) -> list[Variant]:
    """dims × precisions in the given order; a dim above the model's is its full dimension (deduplicated)."""
    if not dims or not precisions:
        raise EmbedlabError("compression: give at least one of `dims` and one of `precisions`")
    bad = [p for p in precisions if p not in PRECISIONS]
    if bad:
        raise EmbedlabError(f"compression precision {bad[0]!r}: use {', '.join(PRECISIONS)}")
    if min(dims) < 1:
        raise EmbedlabError(f"compression dims {min(dims)}: every dimension must be at least 1")
    eff = list(dict.fromkeys(min(int(d), full_dim) for d in dims))
    return [Variant(d, p) for d in eff for p in dict.fromkeys(precisions)]


def truncate(vectors: np.ndarray, dims: int, normalize: bool) -> np.ndarray:
    """The first `dims` dimensions, re-normalised when the spec normalises; at full size: unchanged."""
    if dims >= vectors.shape[1]:
        return vectors
    out = np.ascontiguousarray(vectors[:, :dims], dtype=np.float32)
    if normalize:
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out = np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)
    return out


class CompressedIndex:
    """A corpus stored as one variant (codes + int8 ranges) and how queries are scored against it."""

    def __init__(self, corpus: np.ndarray, variant: Variant, normalize: bool) -> None:
        from sentence_transformers.util import quantize_embeddings

        self.variant = variant
        self.normalize = normalize
        vectors = truncate(corpus, variant.dims, normalize)
        self.ranges: np.ndarray | None = None
        if variant.precision == "float32":
            self.codes = np.ascontiguousarray(vectors, dtype=np.float32)
        elif variant.precision == "int8":
            self.ranges = np.vstack([vectors.min(axis=0), vectors.max(axis=0)]).astype(np.float32)
            self.codes = quantize_embeddings(vectors, precision="int8", ranges=self.ranges)
        else:
            self.codes = quantize_embeddings(vectors, precision="ubinary")
        self._stage1: np.ndarray | None = None
        self._decoded: np.ndarray | None = None

    @property
    def nbytes(self) -> int:
        """Index size for this corpus: the codes plus the int8 calibration ranges."""
        return int(self.codes.nbytes + (self.ranges.nbytes if self.ranges is not None else 0))

    def query(self, q_full: np.ndarray) -> np.ndarray:
        """Full query vectors -> this variant's float queries (truncated, re-normalised)."""
        return truncate(np.atleast_2d(q_full), self.variant.dims, self.normalize)

    def query_codes(self, q: np.ndarray) -> np.ndarray:
        """Float queries -> stage-1 codes (int8 with the corpus ranges; packed bits)."""
        from sentence_transformers.util import quantize_embeddings

        if self.variant.precision == "int8":
            return quantize_embeddings(q, precision="int8", ranges=self.ranges)
        return quantize_embeddings(q, precision="ubinary")

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Codes -> the float64 vectors rescoring uses (sentence-transformers' own dequantization)."""
        if self.variant.precision == "int8":
            from sentence_transformers.util.quantization import _dequantize_embeddings

            return _dequantize_embeddings(codes, "int8", self.ranges)
        return _bits(codes, self.variant.dims)

    def stage1_scores(self, q: np.ndarray) -> np.ndarray:
        """Exact stage-1 scores (float64, integer-valued) of float queries `q` against every chunk."""
        qc = self.query_codes(q)
        if self.variant.precision == "int8":
            if self._stage1 is None:
                self._stage1 = self.codes.astype(np.float64)
            return qc.astype(np.float64) @ self._stage1.T
        if self._stage1 is None:
            self._stage1 = _bits(self.codes, self.variant.dims)
        qb = _bits(qc, self.variant.dims)
        ham = qb.sum(1)[:, None] + self._stage1.sum(1)[None, :] - 2 * (qb @ self._stage1.T)
        return -ham

    def rescore(self, q: np.ndarray, cand: np.ndarray) -> np.ndarray:
        """float query · decoded candidate codes (queries × candidates), as sentence-transformers rescores."""
        if self._decoded is None:
            self._decoded = self.decode(self.codes)
        return np.einsum("ij,ikj->ik", q.astype(np.float64), self._decoded[cand])


def _bits(packed: np.ndarray, dims: int) -> np.ndarray:
    """Packed ubinary codes -> 0/1 float64 rows (the padding bits of the last byte dropped)."""
    return np.unpackbits(packed, axis=-1)[..., :dims].astype(np.float64)


def compressed_ranks(
    index: CompressedIndex,
    q: np.ndarray,
    relevant: Sequence[Sequence[int]],
    ties: np.ndarray,
    candidates: int,
    block: int = 64,
) -> list[np.ndarray]:
    """Sorted 1-based ranks of each query's relevant chunks in the variant's two-stage order (see module)."""
    if index.variant.precision == "float32":
        return metrics.relevant_ranks(q, index.codes, relevant, ties)
    n = index.codes.shape[0]
    m = min(candidates, n)
    out: list[np.ndarray] = []
    for start in range(0, q.shape[0], block):
        qb = q[start : start + block]
        s1 = index.stage1_scores(qb)
        tie_keys = np.broadcast_to(ties, s1.shape)
        order = np.lexsort((tie_keys, -s1), axis=-1)
        if m > 0:
            cand = order[:, :m]
            s2 = index.rescore(qb, cand)
            order[:, :m] = np.take_along_axis(cand, np.lexsort((ties[cand], -s2), axis=-1), axis=1)
        pos = np.empty_like(order)
        np.put_along_axis(pos, order, np.broadcast_to(np.arange(1, n + 1), order.shape), axis=1)
        for row, rel in zip(pos, relevant[start : start + block], strict=True):
            out.append(np.sort(row[np.asarray(rel, dtype=np.int64)].astype(np.float64)))
    return out


def index_searcher(index: CompressedIndex, k: int, candidates: int) -> Callable[[np.ndarray], np.ndarray]:
    """Top-`k` chunk ids for one full query vector, served from the variant's codes by faiss (exact flat
    indexes: inner product over float32 or int8 codes, Hamming over bits) then rescored: the per-query
    search a deployment runs, for query_latency_ms."""
    import faiss

    n = index.codes.shape[0]
    k = min(k, n)
    precision = index.variant.precision
    if precision == "float32":
        search = latency.matrix_searcher(index.codes, k)
        return lambda q_full: search(index.query(q_full))
    if precision == "int8":
        flat: Any = faiss.IndexScalarQuantizer(
            index.codes.shape[1], faiss.ScalarQuantizer.QT_8bit_direct_signed, faiss.METRIC_INNER_PRODUCT
        )
        flat.add(index.codes.astype(np.float32))
    else:
        flat = faiss.IndexBinaryFlat(index.codes.shape[1] * 8)
        flat.add(index.codes)
    first = min(max(candidates, k), n)

    def search(q_full: np.ndarray) -> np.ndarray:
        q = index.query(q_full)
        qc = index.query_codes(q)
        _, ids = flat.search(qc.astype(np.float32) if precision == "int8" else qc, first)
        cand = ids[0][ids[0] >= 0]
        if candidates <= 0:
            return cand[:k]
        scores = index.decode(index.codes[cand]) @ q[0].astype(np.float64)
        return cand[np.argsort(-scores, kind="stable")[:k]]

    return search


def _encode_once(enc: Any, qa: QASet) -> Encoded:
    """Chunks then queries, through the cache (`encode_qa`), as float32; a lexical model is refused."""
    if enc.encoder.lexical:
        raise EmbedlabError(
            f"model {enc.spec.name}: compression needs a dense model (kind {enc.spec.kind} is lexical); "
            "drop it from the compression models"
        )
    e = encode_qa(enc, qa)
    return replace(e, corpus=np.asarray(e.corpus, np.float32), queries=np.asarray(e.queries, np.float32))


def evaluate_variants(
    val_path: str | Path,
    chunks_path: str | Path,
    out_csv: str | Path,
    out_queries: str | Path,
    *,
    spec: ModelSpec,
    sweep: CompressionSettings,
    corpus: str,
    lang: str,
    options: EvalOptions,
) -> list[dict[str, Any]]:
    """`variants_with` on the model opened for this one val split."""
    enc = open_encoder(spec, options.device, options.cache_dir)
    try:
        return variants_with(enc, val_path, chunks_path, out_csv, out_queries, sweep=sweep, corpus=corpus,
                             lang=lang, options=options)  # fmt: skip
    finally:
        enc.close()


def variants_with(
    enc: CachedEncoder,
    val_path: str | Path,
    chunks_path: str | Path,
    out_csv: str | Path,
    out_queries: str | Path,
    *,
    sweep: CompressionSettings,
    corpus: str,
    lang: str,
    options: EvalOptions,
) -> list[dict[str, Any]]:
    """One dense model on one val split at every dims × precision of `sweep` (its `models` are the plan's
    business): a summary CSV (a row per variant) and a per-query CSV (a `variant` column, then the evaluate
    rule's per-query columns). The model stays open: one job may score several sets with one load
    (`embedlab.evaluation.per_model`)."""
    rescore_multiplier = sweep.rescore_multiplier
    if rescore_multiplier < 0:
        raise EmbedlabError(f"compression rescore_multiplier {rescore_multiplier}: use 0 (off) or more")
    qa = load_qa(val_path).with_groups(chunk_groups(chunks_path))
    ties = metrics.tie_order(qa.corpus_ids)
    ks, seed, samples = options.ks, options.seed, options.bootstrap_samples
    k = max(ks)
    candidates = rescore_multiplier * k
    spec = enc.spec
    rows: list[dict[str, Any]] = []
    per_query: list[list[Any]] = []
    names = metrics.metric_names(ks)
    e = _encode_once(enc, qa)
    d, q = e.corpus, e.queries
    sample = latency.sample_queries(qa.queries, options.latency_queries, seed)
    vectors, encode_ms = latency.timed(latency.uncached_query_encoder(enc), sample)
    for v in variants(sweep.dims, sweep.precisions, d.shape[1]):
        t0 = time.perf_counter()
        index = CompressedIndex(d, v, spec.normalize)
        ranks = compressed_ranks(index, index.query(q), qa.relevant, ties, candidates)
        values = metrics.per_query(ranks, ks)
        run = RunResult(qa, ranks, values, e.seconds, time.perf_counter() - t0, e.encoded, e.cached,
                        e.zero_vectors, v.dims)  # fmt: skip
        row = summary_row(run, ks, spec.name, spec.kind, corpus, lang, enc.encoder.device, samples, seed)
        row["format"] = FORMAT
        row.update(
            variant=v.name,
            dims=v.dims,
            precision=v.precision,
            rescore_candidates=0 if v.precision == "float32" else candidates,
            bytes_per_vector=bytes_per_vector(v.dims, v.precision),
            index_bytes=index.nbytes,
        )
        with latency.one_search_thread():
            _, search_ms = latency.timed(index_searcher(index, k, candidates), vectors)
        row["query_ms"] = float(np.median(encode_ms + search_ms))  # per query: encode + search
        row["search_ms"] = float(np.median(search_ms))
        rows.append(row)
        for i, qid in enumerate(qa.query_ids):
            group = qa.groups[i] if qa.groups is not None else qid
            per_query.append([v.name, qid, group, len(qa.relevant[i]), values["first_rank"][i],
                              values["reciprocal_rank"][i], *(values[m][i] for m in names)])  # fmt: skip
    write_csv(out_csv, list(rows[0]), [list(r.values()) for r in rows])
    header = ["variant", "query_id", "group", "n_relevant", "first_rank", "reciprocal_rank", *names]
    write_csv(out_queries, header, per_query)
    return rows
