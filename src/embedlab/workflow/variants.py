"""The models a `finetune` entry adds besides itself: seed replicas (`seeds`) and merges with its base
(`merge`), their names and what each is built from.

Apart from workflow/plan.py so the plan, the registry and the checks name them one way: a further seed s of
entry `ft` trains `ft.seed{s}` (rule finetune_model, the entry's settings with that seed), a merge weight w
builds `ft.merge{w}` and `merge.choose` builds `ft.merged` (rule merge_model). The folders are
`layout.model_dir(name)` like every trained model's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from embedlab.train.merge import weight_label

CHOSEN = "merged"  # `{name}.merged`: the merge whose weight merge.choose picked


def replica_name(name: str, seed: int) -> str:
    """The model a further seed of fine-tune entry `name` trains."""
    return f"{name}.seed{seed}"


def merge_name(name: str, weight: float | None) -> str:
    """Fine-tune `name` merged at `weight` (`ft.merge0.5`), or at the chosen weight (None: `ft.merged`)."""
    return f"{name}.{CHOSEN}" if weight is None else f"{name}.merge{weight_label(weight)}"


def replicas_of(name: str, entry: dict[str, Any]) -> list[str]:
    """The entry's further seed models (none without `seeds`)."""
    return [replica_name(name, s) for s in (entry["seeds"] or [])[1:]]


def with_replicas(finetunes: dict[str, Any]) -> dict[str, Any]:
    """The `finetune` section with each entry's seed replicas right after it, each the entry with its own
    seed and no seeds, merges or ONNX export of its own; an entry with `seeds` trains with the first one.
    Every rule and planning answer about trained models then covers the replicas too."""
    out: dict[str, Any] = {}
    for name, entry in finetunes.items():
        seeds = entry["seeds"] or []
        out[name] = {**entry, "seed": seeds[0]} if seeds else entry
        for seed in seeds[1:]:
            out[replica_name(name, seed)] = {
                **entry,
                "seed": seed,
                "seeds": None,
                "merge": {**entry["merge"], "weights": [], "choose": False},
                "export_onnx": {**entry["export_onnx"], "enabled": False},
            }
    return out


@dataclass(frozen=True)
class MergeModel:
    """A merged model: fine-tune entry `finetune` with its base at `weight` (None: chosen, `ft.merged`)."""

    name: str
    finetune: str
    weight: float | None


def merges_of(finetunes: dict[str, Any]) -> dict[str, MergeModel]:
    """Every merged model of the `finetune` section, by name, in config order (fixed weights, then the chosen
    one)."""
    out: dict[str, MergeModel] = {}
    for name, entry in finetunes.items():
        merge = entry["merge"]
        weights: list[float | None] = [*merge["weights"], *([None] if merge["choose"] else [])]
        for w in weights:
            out[merge_name(name, w)] = MergeModel(merge_name(name, w), name, w)
    return out


def generated(finetunes: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, the setting that makes it) of every model the `finetune` section generates, duplicates kept
    (two weights with one label, 0.1 and 0.10000001, make one name twice: checks.generated says so)."""
    out = []
    for name, entry in finetunes.items():
        out += [(r, f"finetune.{name}.seeds") for r in replicas_of(name, entry)]
        merge = entry["merge"]
        out += [(merge_name(name, w), f"finetune.{name}.merge.weights") for w in merge["weights"]]
        if merge["choose"]:
            out.append((merge_name(name, None), f"finetune.{name}.merge.choose"))
    return out
