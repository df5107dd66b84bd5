"""Train/validation split by chunk group: no chunk is a positive on both sides, by construction.

The unit is the chunk's `group` (its deepest titled heading: an article, a section), so a heading query
and all of its positives land on one side. `val.json` searches every chunk (train chunks are the
distractors a real index holds); its queries are only those whose positives are all val chunks.
A generator that draws several queries per chunk (ICT: `draw` in provenance, `draws` per side in its
provenance entry) keeps its first draws[side] on each side, so val can have more queries per chunk than
training without training seeing them. split.json also holds the val label checks the report shows.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

from embedlab import io
from embedlab.data.labels import VerbatimIndex
from embedlab.data.queries import TITLE_GENERATORS, verbatim_in
from embedlab.errors import EmbedlabError

log = logging.getLogger(__name__)

SPLIT_FORMAT = "embedlab.split/1"
POSITIVE_SEP = "#"  # train.json ids of rewritten positives: "<chunk id>#<query id>"
REAL_PREFIX = "real:"  # train.json ids of real questions trained on (real.train.json)


def assign_groups(
    chunks: list[dict[str, Any]], val_fraction: float, seed: int, held_out: set[str] = frozenset()
) -> dict[str, str]:
    """Map chunk id -> "train" | "val": whole groups, shuffled with `seed`, until val holds the fraction;
    the `held_out` groups (those real questions point to, under `questions.training: strict`) go to val
    first, so no training query comes from them."""
    groups: dict[str, list[str]] = defaultdict(list)
    for chunk in chunks:
        groups[chunk["group"]].append(chunk["id"])
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    keys = [k for k in keys if k in held_out] + [k for k in keys if k not in held_out]
    target = val_fraction * len(chunks)
    side: dict[str, str] = {}
    val_count = 0
    for key in keys:
        to_val = key in held_out or val_count < target  # overshoots by at most one group
        for cid in groups[key]:
            side[cid] = "val" if to_val else "train"
        if to_val:
            val_count += len(groups[key])
    return side


def held_out_groups(chunks: list[dict[str, Any]], relevant: dict[str, list[str]]) -> set[str]:
    """The chunk groups that real questions (question id -> relevant chunk ids) point to."""
    group_of = {c["id"]: c["group"] for c in chunks}
    return {group_of[cid] for ids in relevant.values() for cid in ids}


def by_side(relevant: dict[str, list[str]], side: dict[str, str]) -> dict[str, dict[str, list[str]]]:
    """Questions (id -> relevant chunk ids) grouped by the side all their chunks lie on (`side`:
    `assign_groups`'): "train", "val", or "straddling" (both), as for a generator's queries."""
    out: dict[str, dict[str, list[str]]] = {"train": {}, "val": {}, "straddling": {}}
    for qid, ids in relevant.items():
        sides = {side[cid] for cid in ids}
        out[sides.pop() if len(sides) == 1 else "straddling"][qid] = ids
    return out


def split_dataset(
    chunks_path: str | Path,
    dataset_path: str | Path,
    provenance_path: str | Path,
    train_out: str | Path,
    val_out: str | Path,
    report_out: str | Path,
    val_fraction: float,
    seed: int,
    real_questions: str | Path | None = None,
    real_train: str | Path | None = None,
) -> dict[str, Any]:
    """Write train.json, val.json (EmbeddingQAFinetuneDataset JSON) and split.json (the assignment); under
    `questions.training: strict`, `real_questions` (real.json) names the groups kept out of training;
    `real_train` (real.train.json) adds real questions to train.json as training queries (ids `real:<id>`)."""
    chunks = io.read_json(chunks_path)["chunks"]
    held_out = (
        held_out_groups(chunks, io.read_json(real_questions)["relevant_docs"])
        if real_questions is not None
        else set()
    )
    dataset = io.read_json(dataset_path)
    prov = io.read_json(provenance_path)
    provenance = prov["queries"]
    draws = {name: g["draws"] for name, g in prov["generators"].items() if "draws" in g}
    side = assign_groups(chunks, val_fraction, seed, held_out)
    train = {"queries": {}, "corpus": {}, "relevant_docs": {}, "mode": "text"}
    val = {"queries": {}, "corpus": dict(dataset["corpus"]), "relevant_docs": {}, "mode": "text"}
    for chunk in chunks:
        if side[chunk["id"]] == "train":
            train["corpus"][chunk["id"]] = chunk["text"]
    straddling, unused = _place_queries(dataset, provenance, draws, side, train, val)
    n_real = _add_real_training(train, real_train, side) if real_train is not None else 0
    if not val["queries"] and val_fraction > 0:
        raise EmbedlabError(
            f"{dataset_path}: the split left no validation queries: raise split.val_fraction or add documents"
        )
    if not train["queries"]:
        raise EmbedlabError(f"{dataset_path}: the split left no training queries: lower split.val_fraction")
    report = {
        "format": SPLIT_FORMAT,
        "seed": seed,
        "val_fraction": val_fraction,
        "chunks": {
            "train": sum(v == "train" for v in side.values()),
            "val": sum(v == "val" for v in side.values()),
        },
        "queries": {
            "train": len(train["queries"]),
            "val": len(val["queries"]),
            "dropped_straddling": straddling,
            "unused_draws": unused,
            "real_train": n_real,
        },
        "draws": draws,
        "labels": label_checks(chunks, val, provenance),
        "val_groups": sorted({c["group"] for c in chunks if side[c["id"]] == "val"}),
        **({"held_out_groups": sorted(held_out)} if real_questions is not None else {}),
        "side": side,
    }
    io.write_json(train_out, train)
    io.write_json(val_out, val)
    io.write_json(report_out, report)
    log.info(
        "split %s: chunks %s, queries %s, labels %s",
        dataset_path,
        report["chunks"],
        report["queries"],
        report["labels"],
    )
    return report


def _place_queries(
    dataset: dict[str, Any],
    provenance: dict[str, dict[str, Any]],
    draws: dict[str, dict[str, int]],
    side: dict[str, str],
    train: dict[str, Any],
    val: dict[str, Any],
) -> tuple[int, dict[str, int]]:
    """Put each query of the dataset on the side all its positives lie on (a rewritten positive becomes a
    train corpus entry of its own); (straddling queries dropped, unused draws per side)."""
    straddling = 0
    unused = {"train": 0, "val": 0}
    for qid, text in dataset["queries"].items():
        positives = dataset["relevant_docs"][qid]
        sides = {side[cid] for cid in positives}
        if len(sides) == 1 and not _drawn_for(provenance[qid], draws, *sides):
            unused[next(iter(sides))] += 1
        elif sides == {"val"}:
            val["queries"][qid] = text
            val["relevant_docs"][qid] = positives
        elif sides == {"train"}:
            train["queries"][qid] = text
            rewritten = provenance[qid].get("positive_text")
            if rewritten is not None:
                ids = [f"{cid}{POSITIVE_SEP}{qid}" for cid in positives]
                for pid in ids:
                    train["corpus"][pid] = rewritten
                train["relevant_docs"][qid] = ids
            else:
                train["relevant_docs"][qid] = positives
        else:
            straddling += 1
    return straddling, unused


def _add_real_training(train: dict[str, Any], real_train: str | Path, side: dict[str, str]) -> int:
    """Add real.train.json's questions to `train`. Rule map_questions chose them with `assign_groups` on
    the same chunks, val_fraction and seed, so every one lies on the train side; else the file is stale."""
    real = io.read_json(real_train)
    for qid, text in real["queries"].items():
        positives = real["relevant_docs"][qid]
        if any(side[cid] != "train" for cid in positives):
            raise EmbedlabError(
                f"{real_train}: question {qid} points at val chunks: it was written for another split "
                "(split.val_fraction, seed or chunks changed): rerun map_questions"
            )
        train["queries"][f"{REAL_PREFIX}{qid}"] = text
        train["relevant_docs"][f"{REAL_PREFIX}{qid}"] = list(positives)
    return len(real["queries"])


def _drawn_for(query: dict[str, Any], draws: dict[str, dict[str, int]], side: str) -> bool:
    """Whether a query is one of the draws its generator keeps on `side` (always, without a `draw`)."""
    limits = draws.get(query["generator"])
    return limits is None or "draw" not in query or query["draw"] < limits[side]


def label_checks(
    chunks: list[dict[str, Any]], val: dict[str, Any], provenance: dict[str, dict[str, Any]]
) -> dict[str, int]:
    """What the report says about the val labels, counted on the written val.json.

    `unlabeled_verbatim`: queries whose text a chunk not marked relevant holds word for word (0 by
    construction; title queries are not counted: a mention of a title is not the section about it).
    `title_mentions`: title queries whose text such a chunk holds, for the record. `labels_completed`:
    queries that were given such chunks as positives by the dataset stage. `collapsed_duplicates`:
    identical chunks made one by chunking (all chunks, not only val).
    """
    ids = [c["id"] for c in chunks]
    index = VerbatimIndex([c["text"] for c in chunks])
    checks = {"unlabeled_verbatim": 0, "title_mentions": 0, "labels_completed": 0}
    for qid, text in val["queries"].items():
        if verbatim_in({"text": text, "chunk_ids": val["relevant_docs"][qid]}, index, ids):
            title = provenance[qid]["generator"] in TITLE_GENERATORS
            checks["title_mentions" if title else "unlabeled_verbatim"] += 1
        checks["labels_completed"] += "verbatim_chunk_ids" in provenance[qid]
    checks["collapsed_duplicates"] = sum(len(c["locations"]) - 1 for c in chunks if "locations" in c)
    return checks
