"""Retrieval evaluation of one model on one query set: encode once in batches, rank by matrix product.

Queries and chunks are encoded once each (through the embedding cache), scores are one matrix product per
block of queries, and every relevant chunk's exact rank gives all metrics at once (see
embedlab.evaluation.metrics).
Writes one summary row (`{lang}.csv`) with 95 % bootstrap intervals and a per-query file
(`{lang}.queries.csv`); formats in docs/formats.md.
"""

from __future__ import annotations

import csv
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embedlab import io
from embedlab.errors import EmbedlabError
from embedlab.evaluation import latency, metrics
from embedlab.models.embcache import CachedEncoder, EmbeddingCache
from embedlab.models.encoders import Encoder, load_encoder, zero_rows
from embedlab.models.spec import ModelSpec
from embedlab.workflow.settings import schema_default

log = logging.getLogger(__name__)


CACHE_DIR: str = schema_default("evaluation", "cache", "dir")  # where the rules cache embeddings


def _ev(key: str) -> Any:
    """An `evaluation` default, from the schema (never restated here)."""
    return schema_default("evaluation", key)


FORMAT = "embedlab.eval/1"


@dataclass
class QASet:
    """Queries, chunks and positives as index lists: what one evaluation run needs."""

    query_ids: list[str]
    queries: list[str]
    corpus_ids: list[str]
    corpus: list[str]
    relevant: list[list[int]]
    skipped: dict[str, int] = field(default_factory=dict)
    source: str = ""
    groups: list[str] | None = None  # each query's chunk group: the unit the bootstrap resamples

    def with_groups(self, chunk_group: dict[str, str]) -> QASet:
        """Each query's group is its first positive's chunk group (the split's unit, so all its positives
        lie on the val side together); queries of one group are resampled together."""
        self.groups = [chunk_group[self.corpus_ids[rel[0]]] for rel in self.relevant]
        return self

    @property
    def n_relevant(self) -> list[int]:
        return [len(r) for r in self.relevant]


def qa_from_dataset(data: dict[str, Any], source: str = "") -> QASet:
    """EmbeddingQAFinetuneDataset JSON -> QASet; queries without positives are skipped and counted."""
    corpus_ids = list(data.get("corpus", {}))
    if not corpus_ids:
        raise EmbedlabError(f"{source}: the corpus is empty: rerun the split rule (val corpus = every chunk)")
    index = {cid: i for i, cid in enumerate(corpus_ids)}
    qids, texts, relevant = [], [], []
    skipped = {"no_relevant": 0, "empty_text": 0}
    rel_docs = data.get("relevant_docs", {})
    for qid, text in data.get("queries", {}).items():
        positives = rel_docs.get(qid) or []
        if not positives:
            skipped["no_relevant"] += 1
            continue
        if not str(text).strip():
            skipped["empty_text"] += 1
            continue
        missing = [p for p in positives if p not in index]
        if missing:
            raise EmbedlabError(
                f"{source}: query {qid} points at chunk {missing[0]} that is not in the corpus: rerun split"
            )
        qids.append(qid)
        texts.append(text)
        relevant.append(sorted({index[p] for p in positives}))
    if not qids:
        raise EmbedlabError(
            f"{source}: no query with relevant chunks to evaluate (skipped {skipped}): "
            "the val split is empty; "
            "lower split.val_fraction's granularity or generate more queries"
        )
    for k, v in skipped.items():
        if v:
            log.warning("%s: skipped %d queries (%s)", source, v, k)
    return QASet(qids, texts, corpus_ids, [data["corpus"][c] for c in corpus_ids], relevant, skipped, source)


def load_qa(path: str | Path) -> QASet:
    return qa_from_dataset(io.read_json(path), str(path))


@dataclass
class RunResult:
    qa: QASet
    ranks: list[np.ndarray]
    per_query: dict[str, np.ndarray]
    encode_seconds: float
    search_seconds: float
    encoded: int
    cached: int
    zero_vectors: int
    dim: int | None
    corpus_vectors: Any = None  # what the latency probe searches (dense rows, or BM25's sparse ones)


@dataclass
class Encoded:
    """A query set's chunk and query vectors, and what producing them cost (columns of the summary row)."""

    corpus: Any
    queries: Any
    seconds: float
    encoded: int  # texts the model computed
    cached: int  # texts the embedding cache served
    zero_vectors: int

    @property
    def dim(self) -> int | None:
        return int(self.corpus.shape[1]) if self.corpus.ndim == 2 else None


def encode_qa(encoder: Encoder | CachedEncoder, qa: QASet) -> Encoded:
    """Chunks then queries (a lexical model indexes the corpus first), through the cache when there is one;
    every evaluator (plain, hybrid member, rerank retriever, compression) encodes through here."""
    t0 = time.perf_counter()
    before = dict(getattr(encoder, "stats", {}))
    d = encoder.encode_corpus(qa.corpus)
    q = encoder.encode_queries(qa.queries)
    seconds = time.perf_counter() - t0
    zeros = zero_rows(q) + zero_rows(d)
    if zeros:
        log.warning(
            "%s: %d zero vectors (empty or unknown-token texts): they score 0 against everything",
            encoder.spec.name,
            zeros,
        )
    stats = getattr(encoder, "stats", None)
    encoded = stats["encoded"] - before.get("encoded", 0) if stats else len(qa.corpus) + len(qa.queries)
    cached = stats["cached"] - before.get("cached", 0) if stats else 0
    return Encoded(d, q, seconds, encoded, cached, zeros)


def retrieve(
    encoder: Encoder | CachedEncoder, qa: QASet, ks: Sequence[int], top: int | None = None
) -> RunResult:
    """Encode (`encode_qa`), rank, compute per-query metrics."""
    e = encode_qa(encoder, qa)
    t0 = time.perf_counter()
    ranks = metrics.relevant_ranks(
        e.queries, e.corpus, qa.relevant, metrics.tie_order(qa.corpus_ids), top=top
    )
    values = metrics.per_query(ranks, ks)
    return RunResult(
        qa, ranks, values, e.seconds, time.perf_counter() - t0, e.encoded, e.cached, e.zero_vectors, e.dim,
        e.corpus,
    )  # fmt: skip


def open_encoder(spec: ModelSpec, device: str, cache_dir: str | Path | None) -> CachedEncoder:
    encoder = load_encoder(spec, device)
    cache = (
        None
        if (cache_dir is None or encoder.lexical)
        else EmbeddingCache(cache_dir, spec.name, encoder.fingerprint())
    )
    # API models: commit every request's vectors, so an error mid-run loses nothing that was paid for
    commit_every = spec.batch_size if spec.kind in ("openai", "openai-compatible") else 1024
    return CachedEncoder(encoder, cache, commit_every=commit_every)


def _fmt(x: Any) -> str:
    if isinstance(x, float | np.floating):
        if math.isnan(x):
            return ""
        if math.isinf(x):
            return "inf"
        return format(float(x), ".10g")
    return "" if x is None else str(x)


def write_csv(path: str | Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    with io.atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        for row in rows:
            w.writerow([_fmt(x) for x in row])


def summary_row(
    run: RunResult,
    ks: Sequence[int],
    model: str,
    kind: str,
    corpus: str,
    lang: str,
    device: str,
    bootstrap_samples: int,
    seed: int,
) -> dict[str, Any]:
    names = metrics.metric_names(ks)
    vals = {k: run.per_query[k] for k in names}
    cis = metrics.bootstrap_ci(vals, bootstrap_samples, seed, groups=run.qa.groups)
    row: dict[str, Any] = {
        "model": model,
        "kind": kind,
        "corpus": corpus,
        "lang": lang,
        "n_queries": len(run.qa.queries),
        "n_chunks": len(run.qa.corpus),
        "skipped_queries": sum(run.qa.skipped.values()),
    }
    for k in names:
        row[k] = float(vals[k].mean())
        row[f"{k}_lo"], row[f"{k}_hi"] = cis[k]
    row.update(
        {
            "encode_seconds": run.encode_seconds,
            "search_seconds": run.search_seconds,
            "encoded_texts": run.encoded,
            "cached_texts": run.cached,
            "zero_vectors": run.zero_vectors,
            "dim": run.dim,
            "device": device,
            "bootstrap_samples": bootstrap_samples,
            "bootstrap_unit": "chunk group" if run.qa.groups is not None else "query",
            "n_groups": len(set(run.qa.groups)) if run.qa.groups is not None else len(run.qa.queries),
            "seed": seed,
            "format": FORMAT,
        }
    )
    return row


def write_results(
    run: RunResult, row: dict[str, Any], out_csv: str | Path, out_queries: str | Path, ks: Sequence[int]
) -> dict[str, Any]:
    """The summary `row` (from `summary_row`) as a one-row CSV, and the run's per-query CSV."""
    write_csv(out_csv, list(row), [list(row.values())])
    names = metrics.metric_names(ks)
    header = ["query_id", "group", "n_relevant", "first_rank", "reciprocal_rank", *names]
    rows = [
        [
            qid,
            run.qa.groups[i] if run.qa.groups is not None else qid,
            len(run.qa.relevant[i]),
            run.per_query["first_rank"][i],
            run.per_query["reciprocal_rank"][i],
            *(run.per_query[k][i] for k in names),
        ]
        for i, qid in enumerate(run.qa.query_ids)
    ]
    write_csv(out_queries, header, rows)
    log.info(
        "%s on %s/%s: %s",
        row["model"],
        row["corpus"],
        row["lang"],
        ", ".join(f"{k}={row[k]:.4f}" for k in names if k.startswith(("hit@", "mrr@")) or "@1" in k[-3:]),
    )
    return row


def chunk_groups(chunks_path: str | Path) -> dict[str, str]:
    """Chunk id -> its group, from a chunk file (results/chunks/{corpus}/{lang}.json)."""
    return {c["id"]: c["group"] for c in io.read_json(chunks_path)["chunks"]}


def evaluate(
    val_path: str | Path,
    out_csv: str | Path,
    out_queries: str | Path,
    spec: ModelSpec,
    *,
    chunks_path: str | Path,
    corpus: str,
    lang: str,
    ks: Sequence[int] = tuple(_ev("ks")),
    bootstrap_samples: int = _ev("bootstrap_samples"),
    seed: int = schema_default("seed"),
    device: str = _ev("device"),
    cache_dir: str | Path | None = CACHE_DIR,
    exact_max_corpus: int = _ev("exact_max_corpus"),
    latency_queries: int = _ev("latency_queries"),
) -> dict[str, Any]:
    """Rule `evaluate_retrieval`: one model on one val split -> summary CSV row + per-query CSV."""
    qa = load_qa(val_path).with_groups(chunk_groups(chunks_path))
    return evaluate_qa(
        qa, out_csv, out_queries, spec, corpus=corpus, lang=lang, ks=ks,
        bootstrap_samples=bootstrap_samples, seed=seed, device=device, cache_dir=cache_dir,
        latency_queries=latency_queries, top=_top(qa, ks, exact_max_corpus),
    )  # fmt: skip


def evaluate_qa(
    qa: QASet,
    out_csv: str | Path,
    out_queries: str | Path,
    model_spec: ModelSpec,
    *,
    corpus: str,
    lang: str,
    ks: Sequence[int],
    bootstrap_samples: int,
    seed: int,
    device: str,
    cache_dir: str | Path | None,
    latency_queries: int,
    top: int | None = None,
) -> dict[str, Any]:
    """Encode (through the cache), rank and write the summary + per-query files for one query set, with
    the query latency (`latency_queries` single uncached queries encoded and searched, median ms)."""
    enc = open_encoder(model_spec, device, cache_dir)
    try:
        run = retrieve(enc, qa, ks, top=top)
        query_ms = latency.model_query_ms(enc, run.corpus_vectors, max(ks), qa.queries, latency_queries, seed)
    finally:
        enc.close()
    row = summary_row(
        run, ks, model_spec.name, model_spec.kind, corpus, lang, enc.encoder.device, bootstrap_samples, seed
    )
    size = index_bytes(run.corpus_vectors)
    row = add_columns(row, costs(size, len(qa.corpus), query_ms))
    return write_results(run, row, out_csv, out_queries, ks)


def costs(index_size: int | None, n_chunks: int, query_ms: float | None) -> dict[str, Any]:
    """The deployment costs beside the metrics: bytes per chunk vector, the corpus index size and the
    measured query latency; what the report's "what to deploy" table weighs."""
    per_vector = index_size / n_chunks if index_size is not None and n_chunks else None
    return {"bytes_per_vector": per_vector, "index_bytes": index_size, "query_ms": query_ms}


def add_columns(row: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`row` with `extra` columns inserted before its last column, `format`."""
    fmt = row.pop("format")
    return {**row, **extra, "format": fmt}


def index_bytes(vectors: Any) -> int | None:
    """Bytes the corpus index holds: a dense float matrix's buffer, a sparse matrix's data and indices."""
    if vectors is None:
        return None
    if hasattr(vectors, "data") and hasattr(vectors, "indices"):  # scipy sparse (BM25)
        return int(vectors.data.nbytes + vectors.indices.nbytes + vectors.indptr.nbytes)
    return int(np.asarray(vectors).nbytes)


def _top(qa: QASet, ks: Sequence[int], exact_max_corpus: int) -> int | None:
    """Rank every chunk up to `exact_max_corpus` chunks; beyond, faiss finds the top max(k, 100) (exact)."""
    if len(qa.corpus) <= exact_max_corpus:
        return None
    return max([*ks, metrics.MAP_K, metrics.NDCG_K])


def compare(
    a_queries: str | Path,
    b_queries: str | Path,
    out_json: str | Path,
    *,
    model_a: str,
    model_b: str,
    metric: str = _ev("compare_metric"),
    samples: int = _ev("compare_samples"),
    seed: int = schema_default("seed"),
    corpus: str = "",
    lang: str = "",
) -> dict[str, Any]:
    """Rule `compare_models`: paired bootstrap + permutation test of model_b - model_a on the same queries."""
    import pandas as pd

    a = pd.read_csv(a_queries, dtype={"query_id": str}).set_index("query_id")
    b = pd.read_csv(b_queries, dtype={"query_id": str}).set_index("query_id")
    if metric not in a.columns or metric not in b.columns:
        raise EmbedlabError(
            f"compare: metric {metric!r} is not in the per-query files (columns: {', '.join(a.columns)})"
        )
    common = a.index.intersection(b.index)
    groups = a.loc[common, "group"].astype(str).tolist() if "group" in a.columns else None
    if len(common) != len(a) or len(common) != len(b):
        log.warning(
            "compare %s vs %s: %d/%d/%d queries in common", model_a, model_b, len(common), len(a), len(b)
        )
    result = {
        "format": "embedlab.compare/1",
        "corpus": corpus,
        "lang": lang,
        "metric": metric,
        "model_a": model_a,
        "model_b": model_b,
        "samples": samples,
        "seed": seed,
        "unit": "chunk group" if groups is not None else "query",
        **metrics.paired_test(
            a.loc[common, metric].to_numpy(), b.loc[common, metric].to_numpy(), samples, seed, groups=groups
        ),
    }
    p = result["p_value"]
    if p is None:
        result["verdict"] = "no queries"
    elif p < 0.05:
        direction = "better" if result["diff"] > 0 else "worse"
        result["verdict"] = f"{model_b} {direction} than {model_a} beyond noise (p={p:.4f})"
    else:
        result["verdict"] = f"no significant difference (p={p:.4f})"
    io.write_json(out_json, result)
    log.info("compare %s: %s", metric, result["verdict"])
    return result
