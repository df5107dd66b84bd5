"""Retrieval evaluation of one model on one query set: encode once in batches, rank by matrix products.

Queries and chunks are encoded once each (evaluation.encoding, through the embedding cache; a sharded run
reads the corpus from rule encode_shard's files, evaluation.shards), and every relevant chunk's exact rank
gives all metrics at once (see embedlab.evaluation.metrics). Dense vectors are searched by streaming exact
search (evaluation.search: query block x corpus tile products), or, for corpora of
`evaluation.index.min_corpus` chunks and more, by an approximate faiss index whose recall@10 against exact
search is written beside the metrics; BM25's sparse rows by `metrics.relevant_ranks`. A query set whose
labels name documents (real.json of a BEIR folder) ranks documents by their best chunk instead
(evaluation.documents), always exactly, so its metrics are per document (`unit`), nDCG with the qrels'
grades where they are graded (`QASet.gains`). The summary and per-query files are written by
evaluation.results.
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
from embedlab.evaluation import latency, metrics, search
from embedlab.evaluation.documents import document_ranks
from embedlab.evaluation.encoding import Encoded, encode_qa
from embedlab.evaluation.options import EvalOptions
from embedlab.evaluation.qaset import QASet, chunk_groups, load_qa
from embedlab.evaluation.results import (
    RECALL_K,
    RunResult,
    add_columns,
    costs,
    index_bytes,
    summary_row,
    write_results,
)
from embedlab.evaluation.shards import encode_sharded
from embedlab.models.embcache import CachedEncoder, open_encoder
from embedlab.models.encoders import Encoder
from embedlab.models.spec import ModelSpec
from embedlab.settings import IndexSettings, evaluation_default, schema_default

log = logging.getLogger(__name__)


@dataclass
class Ranked:
    """Ranks of the relevant chunks, and which index produced them."""

    ranks: list[np.ndarray]
    index: str  # exact | hnsw | ivf
    recall: float  # index_recall@10: measured for an approximate index, 1.0 for exact search
    ann: Any = None


def _deep(ks: Sequence[int]) -> int:
    """The list depth every metric needs: max(k, MAP@100's 100)."""
    return max([*ks, metrics.MAP_K, metrics.NDCG_K])


def rank_dense(
    queries: np.ndarray,
    shards: Sequence[search.Shard],
    qa: QASet,
    ks: Sequence[int],
    index: IndexSettings,
    seed: int,
    block: int,
) -> Ranked:
    """Exact ranks (streaming search); or, with an approximate `index` for this corpus size, ranks in its top
    max(k, 100) list (inf beyond) and its recall@10 against the exact top 10 of the same queries."""
    ties = metrics.tie_order(qa.corpus_ids)
    if not search.use_ann(index, len(ties)):
        ranks = search.exact_search(queries, shards, ties, relevant=qa.relevant, tile=block).ranks
        return Ranked(ranks, "exact", 1.0)
    ann = search.build_ann(shards, index, seed, tile=block)
    top = search.ann_search(ann, queries, ties, _deep(ks))
    exact = search.exact_search(queries, shards, ties, k=RECALL_K, tile=block).top
    recall = float(search.recall_at(top, exact, RECALL_K).mean())
    log.info(
        "%s index over %d chunks: recall@%d %.4f against exact search",
        index.kind,
        len(ties),
        RECALL_K,
        recall,
    )
    return Ranked(search.list_ranks(top, qa.relevant), index.kind, recall, ann)


def rank_documents(e: Encoded, qa: QASet, index: IndexSettings) -> Ranked:
    """Exact ranks of each query's relevant documents, a document scoring its best chunk; an approximate
    index or shards rank chunks, so documents are ranked exactly in memory instead (and the log says so)."""
    if qa.documents is None or qa.doc_map is None:
        raise EmbedlabError(
            f"{qa.source}: its labels name documents but no chunk file gave the chunks' documents: "
            "load it with QASet.with_documents(<chunk file>)"
        )
    corpus = e.corpus
    if e.shards is not None:
        log.info("%s: documents ranked exactly over the shards joined in memory", qa.source)
        corpus = np.concatenate([s.vectors for s in sorted(e.shards, key=lambda s: s.start)])
    elif not hasattr(corpus, "toarray") and search.use_ann(index, len(qa.corpus)):
        log.info("%s: documents ranked exactly, not by the %s index over chunks", qa.source, index.kind)
    ids = qa.query_ids if qa.ignore_identical_ids else None
    return Ranked(document_ranks(e.queries, corpus, qa.doc_map, qa.documents, ids), "exact", 1.0)


def retrieve(
    encoder: Encoder | CachedEncoder,
    qa: QASet,
    ks: Sequence[int],
    *,
    block: int = evaluation_default("shard_block"),
    index: IndexSettings | None = None,
    seed: int = schema_default("seed"),
    shards: Sequence[tuple[str | Path, str | Path]] = (),
) -> RunResult:
    """Encode (`encode_qa`; with `shards`, rule encode_shard's files give the corpus), rank, compute
    per-query metrics. Dense vectors: `rank_dense` (index None = the schema's, exact); BM25's sparse rows:
    `metrics.relevant_ranks`, every chunk ranked (memory bounded by its score block); documents, for a set
    labelled with them: `rank_documents`."""
    e = encode_sharded(encoder, qa, shards, block) if shards else encode_qa(encoder, qa, block)
    t0 = time.perf_counter()
    index = index or search.index_settings()
    if e.shards is None and hasattr(e.corpus, "toarray"):
        dense = None  # BM25's sparse rows
    else:
        dense = e.shards if e.shards is not None else [search.Shard(0, e.corpus)]
    if qa.documents is not None:
        found = rank_documents(e, qa, index)
    elif dense is None:
        ranks = metrics.relevant_ranks(e.queries, e.corpus, qa.relevant, metrics.tie_order(qa.corpus_ids))
        found = Ranked(ranks, "exact", 1.0)
    else:
        found = rank_dense(e.queries, dense, qa, ks, index, seed, block)
    values = metrics.per_query(found.ranks, ks, qa.gains)
    return RunResult(
        qa, found.ranks, values, e.seconds, time.perf_counter() - t0, e.encoded, e.cached, e.zero_vectors,
        e.dim, e.corpus, shards=dense, index=found.index, index_recall=found.recall, ann=found.ann,
        unit=qa.unit,
    )  # fmt: skip


def evaluate(
    val_path: str | Path,
    out_csv: str | Path,
    out_queries: str | Path,
    spec: ModelSpec,
    *,
    chunks_path: str | Path,
    corpus: str,
    lang: str,
    options: EvalOptions,
    shard_vectors: Sequence[str | Path] = (),
    shard_meta: Sequence[str | Path] = (),
) -> dict[str, Any]:
    """Rule `evaluate_retrieval`: one model on one val split -> summary CSV row + per-query CSV; with
    `shard_vectors`/`shard_meta` (rule encode_shard's files, in shard order) the corpus is read from them.
    A real.json with `documents` is scored per document (`rank_documents`)."""
    if len(shard_vectors) != len(shard_meta):
        raise EmbedlabError(
            f"{len(shard_vectors)} shard vector files but {len(shard_meta)} sidecars: pass both files of "
            "every shard"
        )
    return evaluate_qa(
        load_questions(val_path, chunks_path), out_csv, out_queries, spec, corpus=corpus, lang=lang,
        options=options, shards=list(zip(shard_vectors, shard_meta, strict=True)),
    )  # fmt: skip


def load_questions(path: str | Path, chunks_path: str | Path) -> QASet:
    """A val.json or real.json with its chunks' heading groups (and documents, for labels that name them)."""
    return load_qa(path).with_groups(chunk_groups(chunks_path)).with_documents(chunks_path)


def score(
    val_path: str | Path, chunks_path: str | Path, spec: ModelSpec, options: EvalOptions
) -> dict[str, Any]:
    """One model's summary row on one query set, as rule evaluate_retrieval computes it, without keeping its
    files: for scripts that compare a model before and after training (training itself measures no val)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        return evaluate(val_path, out / "row", out / "per_query", spec, chunks_path=chunks_path, corpus="",
                        lang="", options=options)  # fmt: skip


def evaluate_qa(
    qa: QASet,
    out_csv: str | Path,
    out_queries: str | Path,
    model_spec: ModelSpec,
    *,
    corpus: str,
    lang: str,
    options: EvalOptions,
    shards: Sequence[tuple[str | Path, str | Path]] = (),
) -> dict[str, Any]:
    """`evaluate_with` on the model opened for this one query set."""
    enc = open_encoder(model_spec, options.device, options.cache_dir, options.shard_block)
    try:
        return evaluate_with(enc, qa, out_csv, out_queries, corpus=corpus, lang=lang, options=options,
                             shards=shards)  # fmt: skip
    finally:
        enc.close()


def evaluate_with(
    enc: CachedEncoder,
    qa: QASet,
    out_csv: str | Path,
    out_queries: str | Path,
    *,
    corpus: str,
    lang: str,
    options: EvalOptions,
    shards: Sequence[tuple[str | Path, str | Path]] = (),
) -> dict[str, Any]:
    """Encode (through the cache), rank and write the summary + per-query files for one query set, with
    the query latency (`latency_queries` single uncached queries encoded and searched, median ms) and which
    index ranked the chunks (`index`, `index_recall@10`). The model stays open: one job may score several
    query sets with one load (`embedlab.evaluation.per_model`)."""
    o = options
    run = retrieve(enc, qa, o.ks, block=o.shard_block, index=o.index, seed=o.seed, shards=shards)
    size, query_ms = _deployed(enc, run, max(o.ks), qa.queries, o.latency_queries, o.seed)
    spec = enc.spec
    row = summary_row(
        run, o.ks, spec.name, spec.kind, corpus, lang, enc.encoder.device, o.bootstrap_samples, o.seed
    )
    row = add_columns(row, costs(size, len(qa.corpus), query_ms))
    return write_results(run, row, out_csv, out_queries, o.ks)


def _deployed(
    enc: CachedEncoder, run: RunResult, k: int, queries: Sequence[str], n: int, seed: int
) -> tuple[int | None, float]:
    """Bytes and query latency of the index a deployment would search: the approximate index, an exact
    flat index of the dense rows (every shard), or BM25's sparse matrix."""
    if run.shards is None:
        return index_bytes(run.corpus_vectors), latency.model_query_ms(
            enc, run.corpus_vectors, k, queries, n, seed
        )
    index = run.ann if run.ann is not None else search.flat_index(run.shards)
    encode_one = latency.uncached_query_encoder(enc)
    return search.index_bytes(index), latency.query_latency_ms(
        encode_one, search.searcher(index, k), queries, n, seed
    )
