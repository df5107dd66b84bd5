"""Hard negatives for fine-tuning, mined for the pairs of `data.training_data.load_training_data`.

Hard negatives are mined against the remaining training chunks only, never against dev or val chunks, and
never a chunk the query belongs to.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from embedlab.data.training_data import Pair
from embedlab.errors import EmbedlabError
from embedlab.text import compact

log = logging.getLogger(__name__)


def mine_negatives(
    pairs: list[Pair],
    pool: dict[str, str],
    chunk_texts: dict[str, str],
    model: Any,
    num: int,
    margin: float,
    seed: int,
    query_prefix: str = "",
    passage_prefix: str = "",
    batch_size: int = 32,
) -> dict[str, int]:
    """Fill `negative_ids`/`negatives` of every pair with `num` hard negatives from `pool`.

    `pool` is the training chunks (`TrainingData.train_chunks`: never dev or val chunks); `chunk_texts`
    holds the original text of every chunk a pair is relevant to (`TrainingData.dev_corpus`).
    `sentence_transformers.util.mine_hard_negatives` ranks the pool for
    each query against its original chunk(s), with `margin` as relative margin; a candidate that is one of
    the query's relevant chunks or contains the query text verbatim (an overlapping neighbour of an ICT
    chunk) is skipped. Pairs left short get seeded random training chunks. Returns counts.
    """
    from datasets import Dataset
    from sentence_transformers.util import mine_hard_negatives

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
        num_negatives=num + 3,  # spare candidates for the filters below
        relative_margin=margin,
        sampling_strategy="top",
        output_format="labeled-list",
        query_prompt=query_prefix or None,
        corpus_prompt=passage_prefix or None,
        batch_size=batch_size,
        verbose=False,
    )
    candidates: dict[str, list[str]] = {}
    for row in mined:
        docs = [d for d, label in zip(row["positive"], row["labels"], strict=True) if label == 0]
        candidates.setdefault(row["anchor"], docs)
    rng = random.Random(seed)
    pool_ids = sorted(pool)
    counts = {"mined": 0, "random_fill": 0}
    for pair in pairs:
        chosen = _pick_negatives(pair, candidates.get(pair.query, []), by_text, num)
        counts["mined"] += len(chosen)
        if len(chosen) < num:
            fill = _random_negatives(pair, chosen, pool, pool_ids, num - len(chosen), rng)
            chosen.extend(fill)
            counts["random_fill"] += len(fill)
        pair.negative_ids = chosen
        pair.negatives = [pool[c] for c in chosen]
    log.info(
        "hard negatives: %d mined, %d random fills, %d pairs",
        counts["mined"],
        counts["random_fill"],
        len(pairs),
    )
    return counts


def _pick_negatives(pair: Pair, candidates: list[str], by_text: dict[str, set[str]], num: int) -> list[str]:
    """Up to `num` chunk ids from the mined texts, best first: never a chunk the query is relevant to, nor
    one that holds the query text (an overlapping neighbour of an ICT chunk), nor a non-training text."""
    query = compact(pair.query)
    chosen: list[str] = []
    for text in candidates:
        ids = sorted(by_text.get(text, set()) - pair.relevant_chunks)
        if not ids or query in compact(text) or ids[0] in chosen:  # ids == []: not a training chunk
            continue
        chosen.append(ids[0])
        if len(chosen) == num:
            break
    return chosen


def _random_negatives(
    pair: Pair, chosen: list[str], pool: dict[str, str], pool_ids: list[str], n: int, rng: random.Random
) -> list[str]:
    """`n` seeded random training chunks for a pair that mining left short (same exclusions as mined ones)."""
    query = compact(pair.query)
    eligible = [
        c
        for c in pool_ids
        if c not in pair.relevant_chunks and c not in chosen and query not in compact(pool[c])
    ]
    if len(eligible) < n:
        raise EmbedlabError(
            f"hard negatives: query {pair.query_id} has too few other training chunks: "
            "lower hard_negatives.num"
        )
    return rng.sample(eligible, n)
