"""Scores for choices made before val is looked at (a merge weight): one metric's mean on train-side query
sets, by the same retrieval code and metrics as the evaluation CSVs (`retrieval.retrieve`, exact search), so a
choice is measured the way the report measures the result.

Two kinds of set: the fine-tuning dev slice (`dev_set`: the queries training held out, against every
train-side chunk, carved with the entry's dev_fraction and seed exactly as training carved it), and a whole
train side (`train_side_set`: a forgetting-guard dataset's train.json queries against its train-side chunks).
Val is never scored here: it stays the report's.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from embedlab.data.training_data import DatasetFiles, TrainingData, load_training_data
from embedlab.errors import EmbedlabError
from embedlab.evaluation.options import EvalOptions
from embedlab.evaluation.qaset import QASet
from embedlab.evaluation.retrieval import retrieve
from embedlab.models.embcache import open_encoder
from embedlab.models.spec import ModelSpec

log = logging.getLogger(__name__)


def _qa(
    queries: Mapping[str, str], relevant: Mapping[str, set[str]], corpus: Mapping[str, str], source: str
) -> QASet:
    """A QASet of these queries against `corpus` (positives outside it dropped, then queries without any)."""
    ids = list(corpus)
    index = {cid: i for i, cid in enumerate(ids)}
    kept = {q: sorted(index[c] for c in relevant[q] if c in index) for q in queries}
    qids = [q for q, rel in kept.items() if rel]
    if not qids:
        raise EmbedlabError(f"{source}: no query with a positive among its chunks: rerun the split rule")
    return QASet(
        qids,
        [queries[q] for q in qids],
        ids,
        [corpus[c] for c in ids],
        [kept[q] for q in qids],
        source=source,
    )


def dev_set(
    datasets: Sequence[DatasetFiles], dev_fraction: float, max_pairs_per_query: int | None, seed: int
) -> QASet:
    """The dev slice a fine-tune held out (its datasets together, as in training), against every train-side
    chunk (checkpoint selection ranks a sample of them: `TrainingData.dev_index`)."""
    data = load_training_data(list(datasets), dev_fraction, max_pairs_per_query, seed)
    if not data.dev_queries:
        names = ", ".join(ds.name for ds in datasets)
        raise EmbedlabError(f"{names}: the dev slice has no queries: raise dev_fraction (or add documents)")
    return _qa(
        data.dev_queries,
        data.dev_relevant,
        data.dev_corpus,
        f"dev slice of {', '.join(d.name for d in datasets)}",
    )


def train_side_set(files: DatasetFiles, seed: int) -> QASet:
    """Every train.json query of a dataset against its train-side chunks (val read only for the split's
    disjointness check)."""
    data: TrainingData = load_training_data([files], 0.0, None, seed)
    queries = {p.query_id: p.query for p in data.pairs}
    relevant = {p.query_id: set(p.relevant_chunks) for p in data.pairs}
    return _qa(queries, relevant, data.dev_corpus, f"{files.train} (train side of {files.name})")


def mean_scores(
    spec: ModelSpec, sets: Mapping[str, QASet], metric: str, options: EvalOptions
) -> dict[str, float]:
    """`metric`'s mean over each set's queries for one model, encoded without the embedding cache (the
    candidates are temporary) and ranked exactly."""
    enc = open_encoder(spec, options.device, None, options.shard_block)
    try:
        out = {}
        for name, qa in sets.items():
            run = retrieve(enc, qa, options.ks, block=options.shard_block, seed=options.seed)
            if metric not in run.per_query:
                known = ", ".join(k for k in run.per_query if "@" in k)
                raise EmbedlabError(f"metric {metric!r} is not computed (known: {known}): fix guard.metric")
            out[name] = float(run.per_query[metric].mean())
    finally:
        enc.close()
    return out
