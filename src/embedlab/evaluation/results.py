"""What an evaluation run found, and the files it is written to: the one-row summary CSV (`{lang}.csv`, with
95 % bootstrap intervals and the deployment costs) and the per-query CSV (`{lang}.queries.csv`); formats in
docs/formats.md.

Every evaluator (plain, hybrid, rerank, compression, cross-lingual) writes its rows through here, so their
files share one format; rule compare_models reads two per-query files back for a paired test (`compare`).
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedlab import io
from embedlab.errors import EmbedlabError
from embedlab.evaluation import metrics, search
from embedlab.evaluation.qaset import QASet
from embedlab.settings import evaluation_default, schema_default

log = logging.getLogger(__name__)

FORMAT = "embedlab.eval/1"
RECALL_K = 10  # the approximate index's recall is measured on top-10 lists (`index_recall@10`)


@dataclass
class RunResult:
    """What one run found (ranks, per-query metrics) and what it cost: the summary row's inputs."""

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
    shards: list[search.Shard] | None = None  # the dense corpus as searched (None: BM25's sparse rows)
    index: str = "exact"  # what ranked the chunks: exact, hnsw or ivf (evaluation.index)
    index_recall: float = 1.0  # recall@10 of that index against exact search (1.0 by definition when exact)
    ann: Any = None  # the approximate faiss index, when one ranked the chunks
    unit: str = "chunks"  # what was ranked and counted: chunks, or documents (labels naming documents)


def _fmt(x: Any) -> str:
    if isinstance(x, float | np.floating):
        if math.isnan(x):
            return ""
        if math.isinf(x):
            return "inf"
        return format(float(x), ".10g")
    return "" if x is None else str(x)


def write_csv(path: str | Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Atomically, in one number format for every evaluator (NaN empty, inf `inf`, 10 significant digits)."""
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
        "unit": run.unit,
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
            "index": run.index,
            f"index_recall@{RECALL_K}": run.index_recall,
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
    n_relevant = run.qa.n_relevant  # relevant documents, for a set labelled with them
    rows = [
        [
            qid,
            run.qa.groups[i] if run.qa.groups is not None else qid,
            n_relevant[i],
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


def compare(
    a_queries: str | Path,
    b_queries: str | Path,
    out_json: str | Path,
    *,
    model_a: str,
    model_b: str,
    metric: str = evaluation_default("compare_metric"),
    samples: int = evaluation_default("compare_samples"),
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
