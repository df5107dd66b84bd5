"""Hard negatives for fine-tuning, mined for the pairs of `data.training_data.load_training_data`.

Hard negatives are mined against the remaining training chunks only, never against dev or val chunks, and
never a chunk the query belongs to. The miner is the base model or another registry model (the fine-tune of
a previous round, say); `sentence_transformers.util.mine_hard_negatives` ranks the candidates and applies
the range and margins (the field's knobs: FlagEmbedding's hn_mine range, NV-Retriever's relative margin); a
cross-encoder oracle may then veto candidates it takes for unlabelled positives.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from embedlab.data.training_data import Pair, TrainingData
from embedlab.errors import EmbedlabError
from embedlab.models.base import free_cuda
from embedlab.models.rerank import Reranker
from embedlab.models.spec import ModelSpec, load_sentence_transformer
from embedlab.text import compact

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Oracle:
    """A `rerankers` entry as the hard-negative oracle: where its weights are (its fine-tuned folder, else its
    source) and how it reads (query, chunk) pairs."""

    name: str
    source: str
    max_length: int | None
    batch_size: int


def miner_name(entry: Mapping[str, Any]) -> str | None:
    """The registry name of the model that mines a `finetune` entry's hard negatives (`base`: the entry's
    base); None when it mines none."""
    hn = entry["hard_negatives"]
    if not hn["enabled"]:
        return None
    return entry["base"] if hn["miner"] == "base" else hn["miner"]


def mine_job_negatives(
    groups: list[list[Pair]],
    data: TrainingData,
    settings: Mapping[str, Any],
    seed: int,
    base_model: Any,
    base: ModelSpec,
    miner: ModelSpec | None,
    oracle: Oracle | None,
    device: str,
) -> dict[str, Any]:
    """Mine each group of pairs (`settings`: the entry's hard_negatives) with the miner (the loaded base
    unless another model is named) and the oracle, freeing what was loaded here; the counts summed over the
    groups and which models mined (for training.json)."""
    spec = miner or base
    model = base_model if spec == base else load_sentence_transformer(spec, device)
    judge = (
        Reranker(
            oracle.source,
            name=oracle.name,
            device=device,
            batch_size=oracle.batch_size,
            max_length=oracle.max_length,
        )
        if oracle
        else None
    )
    counts = dict.fromkeys(("mined", "oracle_dropped", "random_fill"), 0)
    try:
        for pairs in groups:
            if not pairs:
                continue
            got = mine_negatives(
                pairs,
                data.train_chunks,
                data.dev_corpus,
                model,
                settings,
                seed,
                query_prefix=spec.query_prefix,
                passage_prefix=spec.passage_prefix,
                batch_size=spec.batch_size,
                oracle=judge,
            )
            counts = {k: v + got[k] for k, v in counts.items()}
    finally:
        if judge is not None:
            judge.close()
        if model is not base_model:
            del model
            free_cuda()
    return {**counts, "miner_source": spec.source, "oracle_source": oracle.source if oracle else None}


def mine_negatives(
    pairs: list[Pair],
    pool: dict[str, str],
    chunk_texts: dict[str, str],
    model: Any,
    settings: Mapping[str, Any],
    seed: int,
    *,
    query_prefix: str = "",
    passage_prefix: str = "",
    batch_size: int = 32,
    oracle: Any = None,
) -> dict[str, int]:
    """Fill `negative_ids`/`negatives` of every pair with `settings["num"]` hard negatives from `pool`.

    `pool` is the training chunks (`TrainingData.train_chunks`: never dev or val chunks); `chunk_texts`
    holds the original text of every chunk a pair is relevant to (`TrainingData.dev_corpus`); `settings` is
    a `hard_negatives` entry. `mine_hard_negatives` ranks the pool for each query against its original
    chunk(s) (the lowest-scoring one sets the margins) and returns the window range_min..range_max, best
    first; a candidate that is one of the query's relevant chunks or contains the query text verbatim (an
    overlapping neighbour of an ICT chunk) is skipped; `oracle` (a `Reranker`, or anything with its
    `score_pairs`) drops the candidates it scores at or above the lowest positive minus `oracle_margin`.
    Pairs left short get seeded random training chunks (never one the oracle dropped). Returns counts:
    negatives mined and filled per pair, candidates the oracle dropped per query.
    """
    from datasets import Dataset
    from sentence_transformers.util import mine_hard_negatives

    num, low, high = settings["num"], settings["range_min"], settings["range_max"]
    if len(pool) < num + 2:
        raise EmbedlabError(
            f"hard negatives: only {len(pool)} training chunks to mine from: lower hard_negatives.num"
        )
    by_text: dict[str, set[str]] = {}
    for cid, text in pool.items():
        by_text.setdefault(text, set()).add(cid)
    rows = sorted({(p.query, chunk_texts[c]) for p in pairs for c in p.relevant_chunks})
    mined = mine_hard_negatives(
        Dataset.from_dict({"anchor": [r[0] for r in rows], "positive": [r[1] for r in rows]}),
        model,
        corpus=list(pool.values()),
        range_min=low,
        range_max=high,
        num_negatives=high - low,  # the whole window, best first: the filters below pick from it
        relative_margin=settings["relative_margin"],
        absolute_margin=settings["absolute_margin"],
        sampling_strategy="top",
        output_format="labeled-list",
        query_prompt=query_prefix or None,
        corpus_prompt=passage_prefix or None,
        batch_size=batch_size,
        verbose=False,
    )
    ranked: dict[str, list[str]] = {}
    for row in mined:
        docs = [d for d, label in zip(row["positive"], row["labels"], strict=True) if label == 0]
        ranked.setdefault(row["anchor"], docs)
    queries = {p.query_id: p for p in pairs}  # a query's pairs share its text and relevant chunks
    eligible = {q: _eligible(p, ranked.get(p.query, []), by_text) for q, p in queries.items()}
    dropped: dict[str, set[str]] = {q: set() for q in queries}
    if oracle is not None:
        eligible, dropped = _vet(eligible, queries, pool, chunk_texts, oracle, num, settings["oracle_margin"])
    rng = random.Random(seed)
    pool_ids = sorted(pool)
    counts = {"mined": 0, "oracle_dropped": sum(len(d) for d in dropped.values()), "random_fill": 0}
    for pair in pairs:
        chosen = eligible[pair.query_id][:num]
        counts["mined"] += len(chosen)
        if len(chosen) < num:
            avoid = set(chosen) | dropped[pair.query_id]
            fill = _random_negatives(pair, avoid, pool, pool_ids, num - len(chosen), rng)
            chosen.extend(fill)
            counts["random_fill"] += len(fill)
        pair.negative_ids = chosen
        pair.negatives = [pool[c] for c in chosen]
    log.info(
        "hard negatives: %d mined, %d dropped by the oracle, %d random fills, %d pairs",
        counts["mined"],
        counts["oracle_dropped"],
        counts["random_fill"],
        len(pairs),
    )
    return counts


def _eligible(pair: Pair, candidates: list[str], by_text: dict[str, set[str]]) -> list[str]:
    """Chunk ids of the mined texts, best first: never a chunk the query is relevant to, nor one that holds
    the query text (an overlapping neighbour of an ICT chunk), nor a non-training text."""
    query = compact(pair.query)
    chosen: list[str] = []
    for text in candidates:
        ids = sorted(by_text.get(text, set()) - pair.relevant_chunks)
        if not ids or query in compact(text) or ids[0] in chosen:  # ids == []: not a training chunk
            continue
        chosen.append(ids[0])
    return chosen


def _vet(
    ranked: dict[str, list[str]],
    queries: dict[str, Pair],
    pool: dict[str, str],
    chunk_texts: dict[str, str],
    oracle: Any,
    num: int,
    margin: float,
) -> tuple[dict[str, list[str]], dict[str, set[str]]]:
    """The first `num` candidates of each query that the oracle does not take for a positive (scored at or
    above the query's lowest positive minus `margin`), and those it dropped.

    Scored in rounds across all queries, each round only as many next candidates as a query still needs,
    so the oracle reads the candidates that could be picked, not the whole window."""
    kept: dict[str, list[str]] = {q: [] for q in ranked}
    dropped: dict[str, set[str]] = {q: set() for q in ranked}
    seen = dict.fromkeys(ranked, 0)
    bar: dict[str, float] = {}
    while True:
        todo = {
            q: ids[seen[q] : seen[q] + num - len(kept[q])]
            for q, ids in ranked.items()
            if len(kept[q]) < num and seen[q] < len(ids)
        }
        if not todo:
            return kept, dropped
        texts: list[tuple[str, str]] = []
        for q, ids in todo.items():
            if q not in bar:
                texts += [(q, chunk_texts[c]) for c in sorted(queries[q].relevant_chunks)]
            texts += [(q, pool[c]) for c in ids]
        scores = iter(oracle.score_pairs([(queries[q].query, t) for q, t in texts]).tolist())
        for q, ids in todo.items():
            if q not in bar:
                bar[q] = min([next(scores) for _ in queries[q].relevant_chunks]) - margin
            for c in ids:
                if next(scores) >= bar[q]:
                    dropped[q].add(c)
                else:
                    kept[q].append(c)
            seen[q] += len(ids)


def _random_negatives(
    pair: Pair, avoid: set[str], pool: dict[str, str], pool_ids: list[str], n: int, rng: random.Random
) -> list[str]:
    """`n` seeded random training chunks for a pair that mining left short (same exclusions as mined ones,
    and none in `avoid`: already chosen, or dropped by the oracle)."""
    query = compact(pair.query)
    eligible = [
        c
        for c in pool_ids
        if c not in pair.relevant_chunks and c not in avoid and query not in compact(pool[c])
    ]
    if len(eligible) < n:
        raise EmbedlabError(
            f"hard negatives: query {pair.query_id} has too few other training chunks: "
            "lower hard_negatives.num"
        )
    return rng.sample(eligible, n)
