"""Train/validation split by chunk group: no chunk is a positive on both sides, by construction.

The unit is the chunk's `group` (its deepest titled heading: an article, a section), so a heading query
and all of its positives land on one side. `val.json` searches every chunk (train chunks are the
distractors a real index holds); its queries are only those whose positives are all val chunks.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

from embedlab import io
from embedlab.errors import EmbedlabError

log = logging.getLogger(__name__)

SPLIT_FORMAT = "embedlab.split/1"
POSITIVE_SEP = "#"  # train.json ids of rewritten positives: "<chunk id>#<query id>"


def assign_groups(chunks: list[dict[str, Any]], val_fraction: float, seed: int) -> dict[str, str]:
    """Map chunk id -> "train" | "val": whole groups, shuffled with `seed`, until val holds the fraction."""
    groups: dict[str, list[str]] = defaultdict(list)
    for chunk in chunks:
        groups[chunk["group"]].append(chunk["id"])
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    target = val_fraction * len(chunks)
    side: dict[str, str] = {}
    val_count = 0
    for key in keys:
        to_val = val_count < target  # overshoots by at most one group
        for cid in groups[key]:
            side[cid] = "val" if to_val else "train"
        if to_val:
            val_count += len(groups[key])
    return side


def split_dataset(
    chunks_path: str | Path,
    dataset_path: str | Path,
    provenance_path: str | Path,
    train_out: str | Path,
    val_out: str | Path,
    report_out: str | Path,
    val_fraction: float,
    seed: int,
) -> dict[str, Any]:
    """Write train.json, val.json (EmbeddingQAFinetuneDataset JSON) and split.json (the assignment)."""
    chunks = io.read_json(chunks_path)["chunks"]
    dataset = io.read_json(dataset_path)
    provenance = io.read_json(provenance_path)["queries"]
    side = assign_groups(chunks, val_fraction, seed)
    train = {"queries": {}, "corpus": {}, "relevant_docs": {}, "mode": "text"}
    val = {"queries": {}, "corpus": dict(dataset["corpus"]), "relevant_docs": {}, "mode": "text"}
    for chunk in chunks:
        if side[chunk["id"]] == "train":
            train["corpus"][chunk["id"]] = chunk["text"]
    straddling = 0
    for qid, text in dataset["queries"].items():
        positives = dataset["relevant_docs"][qid]
        sides = {side[cid] for cid in positives}
        if sides == {"val"}:
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
        },
        "val_groups": sorted({c["group"] for c in chunks if side[c["id"]] == "val"}),
        "side": side,
    }
    io.write_json(train_out, train)
    io.write_json(val_out, val)
    io.write_json(report_out, report)
    log.info("split %s: chunks %s, queries %s", dataset_path, report["chunks"], report["queries"])
    return report
