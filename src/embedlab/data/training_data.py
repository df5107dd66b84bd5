"""Training data read back from a split: pairs from train.json and a dev slice carved out of it.

The dev slice (for checkpoint selection, and for tuning a hybrid's convex weights) is cut from the train side
by chunk `group`, like the train/val split, so no dev chunk is ever a training positive or a hard negative;
val.json is only read for the final before/after numbers. Here, with the data, because fine-tuning,
reranker training and the hybrid evaluation all read the same slice (train.negatives mines the hard
negatives against the remaining training chunks).
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

    def dev_index(self, size: int | None, seed: int) -> dict[str, str]:
        """The chunks a checkpoint's dev evaluation ranks: every dev chunk (each dev query's positives are
        among them) plus a seeded sample of training chunks as distractors, `size` in all (None, or a size
        above the train side: `dev_corpus` whole). Each evaluation re-encodes its index with the model of
        that step, so the index, not the queries, sets the cost of checkpoint selection."""
        if size is None or size >= len(self.dev_corpus):
            return self.dev_corpus
        distractors = [c for c in self.dev_corpus if c not in self.dev_chunk_ids]
        keep = self.dev_chunk_ids | set(
            random.Random(seed).sample(distractors, max(0, size - len(self.dev_chunk_ids)))
        )
        return {cid: text for cid, text in self.dev_corpus.items() if cid in keep}


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
