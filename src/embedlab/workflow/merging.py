"""What rule merge_model runs: a merge of a fine-tune with its base at a fixed weight (`train.merge`), or the
weight chosen on the dev slice under the forgetting guard, each candidate scored by the evaluation's
retrieval code (`evaluation.selection`).

Here, in the workflow layer, because the choice joins training (merging) and evaluation (scoring), two
stages that may not import each other; the plan builds a `MergeJob` per merged model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embedlab.data.training_data import DatasetFiles
from embedlab.evaluation.options import EvalOptions
from embedlab.evaluation.selection import dev_set, mean_scores, train_side_set
from embedlab.models.spec import ModelSpec
from embedlab.train.merge import choose_merge, merge_models

DEV = "dev"  # the dev slice's key among the scored sets (guard sets are keyed by their corpus/lang)


@dataclass(frozen=True)
class MergeChoice:
    """How `{name}.merged` picks its weight: finetune.<name>.merge and .guard, and the entry's dev slice."""

    weights: list[float]  # candidates besides 0 (empty: train.merge.GRID)
    metric: str
    max_loss: float
    datasets: list[DatasetFiles]  # the entry's training datasets: their dev slice
    guard: list[DatasetFiles]  # guard datasets: their train side
    dev_fraction: float
    max_pairs_per_query: int | None
    seed: int


@dataclass(frozen=True)
class MergeJob:
    """One merged model: `weight` fixed, or None with `choice` set."""

    name: str
    base: ModelSpec
    finetuned: ModelSpec
    weight: float | None
    choice: MergeChoice | None = None


def merge_model(job: MergeJob, output: str | Path, options: EvalOptions) -> dict[str, Any]:
    """Write the merged model `job.name` into `output` (its merge.json facts are returned)."""
    if job.choice is None:
        assert job.weight is not None
        return merge_models(job.base, job.finetuned, job.weight, output, name=job.name)
    c = job.choice
    sets = {DEV: dev_set(c.datasets, c.dev_fraction, c.max_pairs_per_query, c.seed)}
    sets |= {ds.name: train_side_set(ds, c.seed) for ds in c.guard}

    def score(folder: Path) -> tuple[float, dict[str, float]]:
        spec = dataclasses.replace(job.finetuned, name=f"{job.name}.candidate", source=str(folder))
        scores = mean_scores(spec, sets, c.metric, options)
        return scores.pop(DEV), scores

    about = {
        "metric": c.metric,
        "dev": {"datasets": [ds.name for ds in c.datasets], "queries": len(sets[DEV].queries)},
        "guard": {ds.name: {"queries": len(sets[ds.name].queries)} for ds in c.guard},
    }
    return choose_merge(job.base, job.finetuned, output, c.weights, c.max_loss, score, about, name=job.name)
