"""Retrieve-then-rerank evaluation: a retriever's top-k of each val query, reordered by a cross-encoder.

The retriever ranks every chunk as in embedlab.evaluation.retrieval (embeddings through the cache, ties by
chunk id); the reranker scores the top-k (query, chunk) pairs and reorders them (ties keep the retriever's
order). The full ranking after reranking is the reranked top-k followed by the retriever's own order for
the rest, so a relevant chunk outside the top-k keeps its exact retriever rank (always > k): metrics at
cut-offs above k, recall@k and MAP still see it, as a deployed pipeline would show it. Rerank with k = 1
therefore changes nothing. Writes the same summary and per-query CSVs as `retrieval.evaluate` (kind
`rerank`), with extra summary columns `retriever`, `reranker`, `rerank_k`, `rerank_ms_per_query`;
`search_seconds` includes the reranking, `rerank_ms_per_query` is the reranking alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedlab.errors import EmbedlabError
from embedlab.evaluation import fusion as fu
from embedlab.evaluation import latency, metrics
from embedlab.evaluation.encoding import encode_qa
from embedlab.evaluation.options import EvalOptions
from embedlab.evaluation.qaset import QASet, chunk_groups, load_qa
from embedlab.evaluation.results import RunResult, add_columns, costs, index_bytes, summary_row, write_results
from embedlab.models.embcache import open_encoder
from embedlab.models.rerank import Reranker
from embedlab.models.spec import ModelSpec

log = logging.getLogger(__name__)

KIND = "rerank"


@dataclass
class RerankRun:
    """Both sides of one pipeline on one query set: the retriever alone and after reranking."""

    before: RunResult
    after: RunResult
    candidates: list[np.ndarray]  # each query's top-k chunk indices, reranked order
    rerank_seconds: float
    retriever_ms: float  # the retriever's own query latency (evaluation.latency), without the reranker

    @property
    def ms_per_query(self) -> float:
        return 1000.0 * self.rerank_seconds / max(len(self.after.qa.queries), 1)


def reranked_ranks(
    before: Sequence[np.ndarray], relevant: Sequence[Sequence[int]], order: Sequence[np.ndarray]
) -> list[np.ndarray]:
    """Sorted 1-based ranks after reranking: a relevant chunk in the reranked top-k takes its new position;
    one outside keeps its retriever rank (`before`, sorted ranks of all relevant chunks; those beyond the
    top-k are its largest ones, at least k + 1)."""
    out = []
    for ranks, rel, cand in zip(before, relevant, order, strict=True):
        pos = {int(c): i + 1 for i, c in enumerate(cand)}
        inside = [pos[int(r)] for r in rel if int(r) in pos]
        outside = np.maximum(np.sort(ranks)[len(inside) :], len(cand) + 1)
        out.append(np.sort(np.concatenate([np.asarray(inside, dtype=np.float64), outside])))
    return out


def rerank_qa(
    qa: QASet,
    retriever: ModelSpec,
    reranker: Reranker,
    *,
    top_k: int,
    options: EvalOptions,
) -> RerankRun:
    """Retrieve (through the embedding cache), rank exactly, rerank each query's top-k; both runs."""
    if top_k < 1:
        raise EmbedlabError(f"rerank top_k is {top_k}: rerank at least the top 1 candidate")
    enc = open_encoder(retriever, options.device, options.cache_dir)
    try:
        e = encode_qa(enc, qa)
        retriever_ms = latency.model_query_ms(
            enc, e.corpus, top_k, qa.queries, options.latency_queries, options.seed
        )
    finally:
        enc.close()
    d = e.corpus
    t1 = time.perf_counter()
    ties = metrics.tie_order(qa.corpus_ids)
    ranks = metrics.relevant_ranks(e.queries, d, qa.relevant, ties)
    cands = list(fu.top_candidates(e.queries, d, ties, top_k).ids)
    t2 = time.perf_counter()
    scores = reranker.rerank_many(qa.queries, [[qa.corpus[i] for i in c] for c in cands])
    order = [c[np.lexsort((np.arange(len(c)), -s))] for c, s in zip(cands, scores, strict=True)]
    t3 = time.perf_counter()
    after = reranked_ranks(ranks, qa.relevant, order)

    def run(r: list[np.ndarray], search: float) -> RunResult:
        return RunResult(qa, r, metrics.per_query(r, options.ks), e.seconds, search, e.encoded, e.cached,
                         e.zero_vectors, e.dim, corpus_vectors=d)  # fmt: skip

    return RerankRun(run(ranks, t2 - t1), run(after, t3 - t1), order, t3 - t2, retriever_ms)


def evaluate_rerank(
    val_path: str | Path,
    chunks_path: str | Path,
    out_csv: str | Path,
    out_queries: str | Path,
    *,
    model: str,
    retriever: ModelSpec,
    reranker_source: str,
    reranker_name: str,
    top_k: int,
    corpus: str,
    lang: str,
    options: EvalOptions,
    batch_size: int,
    max_length: int | None,
) -> dict[str, Any]:
    """Rule `evaluate_rerank`: pipeline `model` (e.g. "bm25.minilm-rerank@10") on one val split -> summary CSV
    row + per-query CSV, in the formats of `retrieval.evaluate`. `max_length` None: the reranker's own."""
    spec = retriever
    qa = load_qa(val_path).with_groups(chunk_groups(chunks_path))
    if qa.documents is not None:
        raise EmbedlabError(
            f"{val_path}: its labels name documents (a BEIR folder's qrels) and a rerank pipeline ranks "
            "chunks: score pipelines on questions labelled with chunks"
        )
    reranker = Reranker(reranker_source, name=reranker_name, device=options.device, batch_size=batch_size,
                        max_length=max_length)  # fmt: skip
    try:
        result = rerank_qa(qa, spec, reranker, top_k=top_k, options=options)
    finally:
        reranker.close()
    ks = options.ks
    row = summary_row(
        result.after, ks, model, KIND, corpus, lang, reranker.device, options.bootstrap_samples, options.seed
    )
    query_ms = result.retriever_ms + result.ms_per_query  # retrieve one query, then rerank its top k
    extra = {"retriever": spec.name, "reranker": reranker_name, "rerank_k": top_k,
             "rerank_ms_per_query": result.ms_per_query}  # fmt: skip
    size = index_bytes(result.after.corpus_vectors)
    row = add_columns(row, {**costs(size, len(qa.corpus), query_ms), **extra})
    log.info(
        "%s: retriever mrr@10 %.4f -> reranked %.4f, %.1f ms/query",
        model,
        float(result.before.per_query.get("mrr@10", np.zeros(1)).mean()),
        float(result.after.per_query.get("mrr@10", np.zeros(1)).mean()),
        result.ms_per_query,
    )
    return write_results(result.after, row, out_csv, out_queries, ks)
