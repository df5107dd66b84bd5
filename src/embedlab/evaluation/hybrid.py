"""Evaluation of a `hybrid` model: two or more registry models fused into one ranking.

Each member ranks its top-N chunks per val query (encoded through its embedding cache, as in
`retrieval.evaluate`); the lists are fused by reciprocal rank fusion or a convex combination of min-max
normalised scores (embedlab.evaluation.fusion), and the result is written in the same summary and per-query
formats as any model (kind "hybrid", plus `fusion*` and `members` columns), so compare and report treat a
hybrid like any model. A relevant chunk outside the fused list gets rank inf. Real questions labelled with
documents (a BEIR folder's real.json) rank documents instead, each scoring its best fused candidate chunk
(evaluation.documents.fused_document_ranks), so their metrics are per document as the plain evaluation's are,
nDCG with the qrels' grades (`QASet.gains`).

Convex weights left unset are tuned on the dev slice of train (`data.training_data.load_training_data`: whole
chunk groups of the train side, the same slice fine-tuning holds out for the same dev_fraction and seed,
so a fine-tuned member never trained on it), ranked against the train-side chunks only. Val is used for the
final numbers only, and its queries and positives must be disjoint from train's.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedlab import io
from embedlab.data.training_data import DatasetFiles, chunk_of, load_training_data
from embedlab.errors import EmbedlabError
from embedlab.evaluation import fusion as fu
from embedlab.evaluation import latency, metrics
from embedlab.evaluation.documents import fused_document_ranks
from embedlab.evaluation.encoding import encode_qa
from embedlab.evaluation.options import EvalOptions
from embedlab.evaluation.qaset import QASet, chunk_groups, load_qa
from embedlab.evaluation.results import RunResult, add_columns, costs, index_bytes, summary_row, write_results
from embedlab.models.embcache import open_encoder
from embedlab.models.spec import ModelSpec

log = logging.getLogger(__name__)

KIND = "hybrid"


@dataclass
class MemberRun:
    """One member's top-N lists on each query set (val first, then dev), and its val-side costs."""

    name: str
    rankings: list[fu.Ranking]
    encode_seconds: float
    search_seconds: float
    encoded: int
    cached: int
    zero_vectors: int
    device: str
    query_ms: float  # one uncached val query encoded + its top-N searched (evaluation.latency)
    index_bytes: int | None


def rank_member(
    spec: ModelSpec,
    sets: Sequence[QASet],
    candidates: int,
    options: EvalOptions,
) -> MemberRun:
    """Encode each set's chunks then queries (BM25 indexes the corpus first) and keep the top-N per query.
    Costs count the first set (val) only, so they compare with the member's own evaluation row."""
    enc = open_encoder(spec, options.device, options.cache_dir)
    rankings: list[fu.Ranking] = []
    try:
        for i, qa in enumerate(sets):
            e = encode_qa(enc, qa)
            t0 = time.perf_counter()
            rankings.append(
                fu.top_candidates(e.queries, e.corpus, metrics.tie_order(qa.corpus_ids), candidates)
            )
            if i == 0:  # val: its costs, and the latency probe while the corpus index is val's
                val, search = e, time.perf_counter() - t0
                query_ms = latency.model_query_ms(
                    enc, e.corpus, candidates, qa.queries, options.latency_queries, options.seed
                )
    finally:
        enc.close()
    return MemberRun(
        spec.name, rankings, val.seconds, search, val.encoded, val.cached, val.zero_vectors,
        enc.encoder.device, query_ms, index_bytes(val.corpus),
    )  # fmt: skip


def dev_slice(
    train_path: str | Path,
    val_path: str | Path,
    chunks_path: str | Path,
    dataset: str,
    dev_fraction: float,
    seed: int,
) -> QASet:
    """The fine-tuning dev slice of train as a QASet: its queries against every train-side chunk."""
    data = load_training_data(
        [DatasetFiles(dataset, train_path, val_path, chunks_path)], dev_fraction, None, seed
    )
    corpus_ids = list(data.dev_corpus)
    index = {cid: i for i, cid in enumerate(corpus_ids)}
    qids = list(data.dev_queries)
    return QASet(
        qids,
        [data.dev_queries[q] for q in qids],
        corpus_ids,
        [data.dev_corpus[c] for c in corpus_ids],
        [sorted(index[c] for c in data.dev_relevant[q]) for q in qids],
        source=f"{train_path} (dev slice)",
    )


def check_disjoint(qa: QASet, train_path: str | Path, name: str, chunks: bool = True) -> None:
    """Val must share no query (id or text) and, with `chunks`, no positive chunk with train, where the dev
    slice lives."""
    train = io.read_json(train_path)
    val_chunks = {qa.corpus_ids[i] for rel in qa.relevant for i in rel}
    train_chunks = {chunk_of(p) for ps in train.get("relevant_docs", {}).values() for p in ps}
    shared = {
        "query ids": set(qa.query_ids) & set(train.get("queries", {})),
        "query texts": set(qa.queries) & set(train.get("queries", {}).values()),
        "positive chunks": val_chunks & train_chunks if chunks else set(),
    }
    for what, common in shared.items():
        if common:
            raise EmbedlabError(
                f"hybrid {name}: {qa.source} shares {len(common)} {what} with {train_path} "
                f"(e.g. {sorted(common)[0]!r}): rerun the split rule"
            )


def _check_args(
    name: str,
    specs: Sequence[ModelSpec],
    fusion: str,
    weights: Sequence[float] | None,
    candidates: int,
    ks: Sequence[int],
) -> None:
    names = [s.name for s in specs]
    if len(specs) < 2 or len(set(names)) != len(names):
        raise EmbedlabError(f"hybrid {name}: members {names} must be two or more distinct models: fix `of`")
    if KIND in {s.kind for s in specs}:
        raise EmbedlabError(f"hybrid {name}: a member is itself a hybrid: list its models instead")
    if fusion not in fu.FUSIONS:
        raise EmbedlabError(
            f"hybrid {name}: fusion {fusion!r} is unknown: use one of {', '.join(fu.FUSIONS)}"
        )
    if fusion == "convex" and weights is not None:
        fu.check_weights(weights, len(specs))
    if candidates < max(ks):
        raise EmbedlabError(
            f"hybrid {name}: candidates={candidates} is below the largest k ({max(ks)}): raise candidates"
        )


def _ranks(fused: fu.Fused, qa: QASet) -> list[np.ndarray]:
    """The relevant chunks' ranks in the fused lists, or the relevant documents' where the labels name
    documents (a document scores its best fused candidate chunk)."""
    if qa.documents is None or qa.doc_map is None:  # with_documents sets both or neither
        return fu.fused_ranks(fused, qa.relevant)
    ids = qa.query_ids if qa.ignore_identical_ids else None
    return fused_document_ranks(fused.ids, fused.scores, qa.doc_map, qa.documents, ids)


def evaluate_hybrid(
    val_path: str | Path,
    train_path: str | Path,
    chunks_path: str | Path,
    out_csv: str | Path,
    out_queries: str | Path,
    *,
    spec: ModelSpec,
    members: Sequence[ModelSpec],
    corpus: str,
    lang: str,
    options: EvalOptions,
    questions: str | Path | None = None,
) -> dict[str, Any]:
    """Rule `evaluate_hybrid`: fuse the members' top-`candidates` lists on val -> summary + per-query CSVs.

    `questions` (real.json, rule evaluate_hybrid_real) is scored instead of val with the same weights; real
    questions may point at train chunks (the documents are the deployment corpus), so only their texts must
    differ from train's.

    `spec` is the hybrid's registry entry (its `fusion` settings, schema: models.*.fusion); `members` the
    specs of its `of` models. Convex `weights` null: grid-searched (`tune_steps` per unit) on the dev slice
    (`dev_fraction` of train's chunk groups, seeded by `options.seed`) for the best mrr@10.
    """
    ks, seed = options.ks, options.seed
    name, f = spec.name, spec.fusion
    fusion, rrf_k, weights, candidates = f["method"], f["rrf_k"], f["weights"], f["candidates"]
    dev_fraction, tune_steps = f["dev_fraction"], f["tune_steps"]
    specs = list(members)
    _check_args(name, specs, fusion, weights, candidates, ks)
    qa = load_qa(questions or val_path).with_groups(chunk_groups(chunks_path)).with_documents(chunks_path)
    check_disjoint(qa, train_path, name, chunks=questions is None)
    tune = fusion == "convex" and weights is None
    dev = (
        dev_slice(train_path, val_path, chunks_path, f"{corpus}/{lang}", dev_fraction, seed) if tune else None
    )
    sets = [qa] if dev is None else [qa, dev]
    runs = [rank_member(s, sets, candidates, options) for s in specs]
    tuning = None
    if dev is not None:
        t0 = time.perf_counter()
        tuning = fu.tune_weights(
            [r.rankings[1] for r in runs], dev.relevant, metrics.tie_order(dev.corpus_ids), tune_steps
        )
        log.info(
            "hybrid %s: convex weights %s (dev %s %.4f on %d queries) in %.2f s",
            name, list(tuning.weights), fu.TUNE_METRIC, tuning.score, tuning.n_queries,
            time.perf_counter() - t0,
        )  # fmt: skip
    used = tuning.weights if tuning is not None else weights
    t0 = time.perf_counter()
    fused = fu.fuse(
        [r.rankings[0] for r in runs], metrics.tie_order(qa.corpus_ids), fusion, k=rrf_k, weights=used
    )
    ranks = _ranks(fused, qa)
    fusion_seconds = time.perf_counter() - t0
    run = RunResult(
        qa, ranks, metrics.per_query(ranks, ks, qa.gains), sum(r.encode_seconds for r in runs),
        sum(r.search_seconds for r in runs) + fusion_seconds, sum(r.encoded for r in runs),
        sum(r.cached for r in runs), sum(r.zero_vectors for r in runs), None, unit=qa.unit,
    )  # fmt: skip
    devices = "+".join(dict.fromkeys(r.device for r in runs))
    row = summary_row(run, ks, name, KIND, corpus, lang, devices, options.bootstrap_samples, seed)
    extra = {
        "fusion": fusion,
        "fusion_k": rrf_k if fusion == "rrf" else None,
        "fusion_weights": json.dumps(list(used)) if fusion == "convex" and used is not None else None,
        "fusion_candidates": candidates,
        "fusion_dev_queries": tuning.n_queries if tuning is not None else None,
        f"fusion_dev_{fu.TUNE_METRIC}": tuning.score if tuning is not None else None,
        "fusion_dev_members": json.dumps(fu.member_scores(tuning, [s.name for s in specs]))
        if tuning is not None
        else None,
        "fusion_seconds": fusion_seconds,
        "members": json.dumps([s.name for s in specs]),
    }
    sizes = [r.index_bytes for r in runs]
    size = None if None in sizes else sum(sizes)
    fused_ms = 1000 * fusion_seconds / max(len(qa.queries), 1)
    row = add_columns(row, {**costs(size, len(qa.corpus), sum(r.query_ms for r in runs) + fused_ms), **extra})
    return write_results(run, row, out_csv, out_queries, ks)
