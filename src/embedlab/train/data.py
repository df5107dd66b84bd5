"""Training data for fine-tuning: pairs from train.json, a dev slice carved out of it, and hard negatives.

The dev slice (for checkpoint selection) is cut from the train side by chunk `group`, like the train/val
split, so no dev chunk is ever a training positive or a hard negative; val.json is only read for the
final before/after numbers. Hard negatives are mined against the remaining training chunks only, never
against dev or val chunks, and never a chunk the query belongs to.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embedlab import io
from embedlab.data.split import POSITIVE_SEP, assign_groups
from embedlab.errors import EmbedlabError
from embedlab.text import compact

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetFiles:
    """One corpus/language the model trains on: `name` is "corpus/lang"."""

    name: str
    train: str | Path
    val: str | Path
    chunks: str | Path


@dataclass
class Pair:
    """One training example: the query, its (possibly rewritten) positive, and the chunk it comes from."""

    dataset: str
    query_id: str
    query: str
    positive_id: str  # train.json corpus id (may be "<chunk id>#<query id>")
    positive: str
    chunk_id: str
    relevant_chunks: frozenset[str]  # every chunk the query counts as relevant (never a negative)
    negative_ids: list[str] = field(default_factory=list)
    negatives: list[str] = field(default_factory=list)


@dataclass
class TrainingData:
    """Everything a backend needs; ids of queries are "<dataset>|<query id>" so datasets can be merged."""

    pairs: list[Pair]
    dev_queries: dict[str, str]  # qid -> raw query text
    dev_relevant: dict[str, set[str]]  # qid -> chunk ids
    dev_corpus: dict[str, str]  # every train-side chunk (dev + training), the dev evaluator's index
    train_chunks: dict[str, str]  # training-side chunks (no dev, no val): the only hard-negative pool
    dev_chunk_ids: set[str]
    val: dict[str, dict[str, Any]]  # dataset -> val.json
    stats: dict[str, dict[str, Any]]  # dataset -> counts for the model card
    dev_groups: dict[str, list[str]]  # dataset -> groups carved out for dev


def chunk_of(corpus_id: str) -> str:
    """The chunk a train.json corpus id points at ("<chunk id>#<query id>" -> "<chunk id>")."""
    return corpus_id.split(POSITIVE_SEP, 1)[0]


def load_training_data(
    datasets: list[DatasetFiles], dev_fraction: float, max_pairs_per_query: int | None, seed: int
) -> TrainingData:
    """Read each dataset's train/val/chunks files, carve the dev slice by group, and list the pairs."""
    if not datasets:
        raise EmbedlabError("fine-tune entry lists no datasets: add datasets: [corpus/lang, ...]")
    rng = random.Random(seed)
    data = TrainingData([], {}, {}, {}, {}, set(), {}, {}, {})
    for ds in datasets:
        train = io.read_json(ds.train)
        data.val[ds.name] = io.read_json(ds.val)
        chunks = io.read_json(ds.chunks)["chunks"]
        train_ids = {cid for cid in train["corpus"] if POSITIVE_SEP not in cid}
        train_side = [c for c in chunks if c["id"] in train_ids]
        missing = train_ids - {c["id"] for c in train_side}
        if missing:
            raise EmbedlabError(
                f"dataset {ds.name}: {ds.train} names {len(missing)} chunks absent from {ds.chunks} "
                f"(e.g. {sorted(missing)[0]}): rerun the split for these chunks"
            )
        side = assign_groups(train_side, dev_fraction, seed) if dev_fraction > 0 else {}
        dev_ids = {cid for cid, s in side.items() if s == "val"}
        data.dev_groups[ds.name] = sorted({c["group"] for c in train_side if c["id"] in dev_ids})
        for chunk in train_side:
            data.dev_corpus[chunk["id"]] = chunk["text"]
            if chunk["id"] not in dev_ids:
                data.train_chunks[chunk["id"]] = chunk["text"]
        data.dev_chunk_ids |= dev_ids
        n_pairs = n_dev = straddling = 0
        for qid, text in train["queries"].items():
            positives = train["relevant_docs"][qid]
            relevant = frozenset(chunk_of(p) for p in positives)
            key = f"{ds.name}|{qid}"
            in_dev = {c in dev_ids for c in relevant}
            if in_dev == {True}:
                data.dev_queries[key] = text
                data.dev_relevant[key] = set(relevant)
                n_dev += 1
                continue
            if in_dev != {False}:
                straddling += 1
                continue
            chosen = list(positives)
            if max_pairs_per_query and len(chosen) > max_pairs_per_query:
                chosen = sorted(rng.sample(chosen, max_pairs_per_query), key=positives.index)
            for pid in chosen:
                data.pairs.append(
                    Pair(ds.name, key, text, pid, train["corpus"][pid], chunk_of(pid), relevant)
                )
                n_pairs += 1
        data.stats[ds.name] = {
            "train_queries": len(train["queries"]),
            "pairs": n_pairs,
            "dev_queries": n_dev,
            "dev_chunks": len(dev_ids),
            "dev_groups": len(data.dev_groups[ds.name]),
            "train_chunks": len(train_ids) - len(dev_ids),
            "dropped_straddling": straddling,
            "val_queries": len(data.val[ds.name]["queries"]),
            "val_corpus": len(data.val[ds.name]["corpus"]),
        }
        log.info("dataset %s: %s", ds.name, data.stats[ds.name])
        val_chunks = {c for ids in data.val[ds.name]["relevant_docs"].values() for c in ids}
        if val_chunks & (set(data.dev_corpus) | {p.chunk_id for p in data.pairs}):
            raise EmbedlabError(
                f"dataset {ds.name}: {ds.val} shares chunks with {ds.train}: rerun the split rule"
            )
    return data


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
