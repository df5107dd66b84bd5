"""Models that help train another: the guide of GISTEmbedLoss and the teacher of a distillation loss.

`gist` / `cached_gist`: a frozen guide model (default: a copy of the base) scores the in-batch candidates, and
those it rates at least as similar to the query as the positive are masked out of the loss: false negatives
the batches could not keep apart. `margin_mse` / `distill_kl`: the student learns the teacher's scores of
(query, positive) and (query, hard negative) instead of 1 and 0; they are computed once before training,
cosine of the teacher's embeddings (its own prefixes applied), and stored as the dataset's `label` column.
Which model plays each role comes from the plan as a ModelSpec (`finetune_args`): only it reads the config.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from embedlab.data.training_data import Pair
from embedlab.errors import EmbedlabError
from embedlab.models.spec import ModelSpec, load_sentence_transformer

log = logging.getLogger(__name__)

GUIDED = ("gist", "cached_gist")
DISTILLED = ("margin_mse", "distill_kl")
DISTILL_TEMPERATURE = 0.05
"""DistillKLDivLoss's temperature on cosine scores (student and teacher): scores span [-1, 1], so the
sentence-transformers default of 1.0 (meant for dot products) would give nearly flat distributions; 0.05 is
MNRL's scale of 20."""


def helper_models(settings: Mapping[str, Any]) -> dict[str, str]:
    """Registry names of the models a `finetune` entry's loss uses besides the base: {"guide": ...} for the
    GIST losses (the base when `guide` is null), {"teacher": ...} for the distillation losses."""
    loss = settings["loss"]
    if loss in GUIDED:
        return {"guide": settings["guide"] or settings["base"]}
    if loss in DISTILLED and settings["teacher"]:
        return {"teacher": settings["teacher"]}
    return {}


def loss_problem(settings: Mapping[str, Any]) -> str | None:
    """Why a `finetune` entry's loss settings cannot train (None if they can), naming the setting to fix."""
    loss = settings["loss"]
    if loss in (*GUIDED, *DISTILLED) and settings["backend"] != "sentence-transformers":
        return f"loss {loss} needs backend sentence-transformers: set loss: mnrl or change the backend"
    if settings["guide"] and loss not in GUIDED:
        return f"guide is set but loss {loss} uses no guide: set loss: gist or cached_gist, or drop guide"
    if settings["teacher"] and loss not in DISTILLED:
        return f"teacher is set but loss {loss} has none: set loss: margin_mse or distill_kl, or drop teacher"
    if loss in DISTILLED and not settings["teacher"]:
        return f"loss {loss} distills a teacher: set teacher to a registry model name"
    if loss in DISTILLED and not settings["hard_negatives"]["enabled"]:
        return f"loss {loss} scores the positive against hard negatives: set hard_negatives.enabled: true"
    return None


def load_helper(spec: ModelSpec, role: str, device: str, max_seq_length: int) -> Any:
    """The guide or teacher, frozen in eval mode (no dropout in its scores), reading at most the student's
    training length (GIST re-tokenizes for a guide that reads shorter texts than the student)."""
    try:
        model = load_sentence_transformer(spec, device=device)
    except Exception as exc:  # hub errors, broken configs: one line naming the role and the model
        raise EmbedlabError(
            f"{role} model {spec.name}: cannot load {spec.source!r} ({' '.join(str(exc).split())}); "
            "offline, use a local directory or a pkg: source"
        ) from exc
    model.max_seq_length = min(model.max_seq_length, max_seq_length)
    model.eval()
    model.requires_grad_(False)
    log.info("%s %s (%s) loaded on %s", role, spec.name, spec.source, device)
    return model


def teacher_scores(teacher: Any, spec: ModelSpec, pairs: Sequence[Pair]) -> list[list[float]]:
    """Per pair: the teacher's cosine of (query, positive), then of (query, each negative), with the teacher's
    prefixes; each distinct text encoded once."""
    queries = sorted({p.query for p in pairs})
    passages = sorted({t for p in pairs for t in (p.positive, *p.negatives)})
    encode = {"batch_size": spec.batch_size, "normalize_embeddings": True, "convert_to_tensor": True}
    q = teacher.encode(queries, prompt=spec.query_prefix or None, **encode)
    d = teacher.encode(passages, prompt=spec.passage_prefix or None, **encode)
    qi = {t: i for i, t in enumerate(queries)}
    di = {t: i for i, t in enumerate(passages)}
    scores = []
    for p in pairs:
        docs = d[[di[t] for t in (p.positive, *p.negatives)]]
        scores.append([float(s) for s in (docs @ q[qi[p.query]]).tolist()])
    log.info("teacher %s: scored %d pairs (%d queries, %d passages)", spec.name, len(pairs), len(q), len(d))
    return scores
