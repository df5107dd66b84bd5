"""Model merging: a fine-tune interpolated with its base, parameter by parameter (LM-Cocktail's linear merge).

Fine-tuning on a narrow corpus tends to forget what the base knew; a merge (1 - w) x base + w x fine-tune
keeps much of the gain at a fraction of the loss elsewhere, at no training cost. `merge_models` writes one
merge; `choose_merge` merges each candidate weight, has the caller score it (`Score`: the workflow layer
scores with the evaluation's retrieval code, which this stage may not import) on the dev slice and on
forgetting-guard datasets, and keeps the weight with the best dev score whose guard loss against the base is
within bounds (`choose_weight`, pure). Both write a folder `SentenceTransformer(path)` loads offline,
atomically, with merge.json (docs/formats.md). Weight 0 is exactly the base and 1 exactly the fine-tune, bit
for bit: those two are copied, not computed.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embedlab import filenames, io
from embedlab.errors import EmbedlabError
from embedlab.models.sources import resolve_model_source
from embedlab.models.spec import ModelSpec
from embedlab.train.card import render_merge_card

log = logging.getLogger(__name__)

FORMAT = "embedlab.merge/1"
METHOD = "linear"  # (1 - w) x base + w x fine-tune, every floating-point parameter
GRID = tuple(round(0.1 * i, 1) for i in range(1, 11))  # merge.choose's candidates when merge.weights is empty
CANDIDATES = ".candidates"  # candidate folders inside the output's temp dir, removed before it is renamed
TOLERANCE = 1e-9  # a guard loss equal to max_loss qualifies despite float rounding

Model = ModelSpec | str | os.PathLike[str]  # a registry spec, or a model folder
# A candidate folder -> (its dev score, {guard dataset: score}); see `choose_merge`.
Score = Callable[[Path], tuple[float, dict[str, float]]]


def weight_label(weight: float) -> str:
    """A weight as model names spell it: compact (`0.5`, `1`, `0.25`), so `{name}.merge{w}` stays short."""
    return f"{float(weight):g}"


@dataclass
class Endpoints:
    """Base and fine-tune loaded once on the CPU: their parameters, and the fine-tune's modules that every
    merge is saved with (tokenizer, pooling, max_seq_length of the fine-tune)."""

    model: Any  # the fine-tune's SentenceTransformer; its weights are overwritten by each merge
    base: dict[str, Any]
    finetuned: dict[str, Any]
    facts: dict[str, Any]  # merge.json's "base" and "finetuned"

    def write(self, weight: float, folder: str | os.PathLike[str]) -> None:
        """Save the merge at `weight` into `folder` (a plain folder: callers make it atomic)."""
        self.model.load_state_dict(interpolate(self.base, self.finetuned, weight))
        self.model.save(str(folder), create_model_card=False)


def _named(model: Model) -> tuple[dict[str, Any], str, bool]:
    """merge.json's facts of a model, where it loads from, and whether it runs remote code."""
    if isinstance(model, ModelSpec):
        facts = {"name": model.name, "source": model.source}
        return facts, resolve_model_source(model.source or ""), model.trust_remote_code
    return {"name": Path(model).name, "source": str(model)}, str(model), False


def _load(source: str, trust_remote_code: bool) -> Any:
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(source, device="cpu", trust_remote_code=trust_remote_code)
    except OSError as exc:
        reason = " ".join(str(exc).split())
        raise EmbedlabError(
            f"merge: cannot load {source!r} ({reason}); offline, use a local dir or a pkg: source"
        ) from exc


def load_endpoints(base: Model, finetuned: Model, name: str = "merge") -> Endpoints:
    """Load the base and the fine-tune on the CPU (each a registry spec or a model folder; the specs'
    inference-only model_kwargs are not applied); both must have the same parameters (names and shapes), or
    a one-line error says which differs."""
    base_facts, base_source, base_trust = _named(base)
    ft_facts, ft_source, ft_trust = _named(finetuned)
    base_model = _load(base_source, base_trust)
    model = _load(ft_source, ft_trust or base_trust)
    base_state = {k: v.detach().clone() for k, v in base_model.state_dict().items()}
    ft_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    del base_model
    _check_same(name, base_facts["name"], ft_facts["name"], base_state, ft_state)
    return Endpoints(model, base_state, ft_state, {"base": base_facts, "finetuned": ft_facts})


def _check_same(name: str, base: str, finetuned: str, a: dict[str, Any], b: dict[str, Any]) -> None:
    """Same parameter names and shapes; integer buffers (position ids) equal."""
    fix = "merging needs the fine-tune's own base (same architecture)"
    only = sorted(set(a) ^ set(b))
    if only:
        raise EmbedlabError(
            f"merge {name}: base {base} and fine-tune {finetuned} have different parameters "
            f"({len(only)}, e.g. {only[0]}): {fix}"
        )
    for key, t in a.items():
        u = b[key]
        if t.shape != u.shape:
            raise EmbedlabError(
                f"merge {name}: parameter {key} is {tuple(t.shape)} in base {base} but {tuple(u.shape)} in "
                f"fine-tune {finetuned}: {fix}"
            )
        if not t.is_floating_point() and not bool((t == u).all()):
            raise EmbedlabError(f"merge {name}: buffer {key} differs in base {base} and {finetuned}: {fix}")


def interpolate(base: dict[str, Any], finetuned: dict[str, Any], weight: float) -> dict[str, Any]:
    """(1 - w) x base + w x fine-tune for every floating-point tensor (computed in fp32, stored in the
    fine-tune's dtype); w = 0 and w = 1 return the endpoints' tensors themselves, so they are exact (no -0.0
    or rounding)."""
    if not 0 <= weight <= 1:
        raise EmbedlabError(f"merge weight {weight} is outside [0, 1]: fix finetune.<name>.merge.weights")
    if weight == 0:
        return dict(base)
    if weight == 1:
        return dict(finetuned)
    out = {}
    for key, b in base.items():
        f = finetuned[key]
        out[key] = (b.float() * (1 - weight) + f.float() * weight).to(f.dtype) if f.is_floating_point() else f
    return out


def _facts(name: str, ends: Endpoints, weight: float, choice: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "name": name,
        "method": METHOD,
        **ends.facts,
        "weight": weight,
        "parameters": len(ends.base),
        "choice": choice,
    }


def merge_models(
    base: Model, finetuned: Model, weight: float, out: str | os.PathLike[str], name: str | None = None
) -> dict[str, Any]:
    """Write the merge (1 - weight) x base + weight x fine-tune into `out` (atomically) with merge.json;
    `base`: the fine-tune's base, `finetuned`: the fine-tune (each a registry spec or a model folder).
    Returns merge.json's facts."""
    name = name or Path(out).name
    ends = load_endpoints(base, finetuned, name)
    facts = _facts(name, ends, float(weight), None)
    with io.atomic_dir(out) as workdir:
        ends.write(weight, workdir)
        io.write_json(workdir / filenames.MERGE_FACTS, facts)
        io.write_text(workdir / filenames.MODEL_CARD, render_merge_card(facts))
    finetune = ends.facts["finetuned"]["name"]
    log.info("merge %s: weight %s of %s -> %s", name, weight_label(weight), finetune, out)
    return facts


@dataclass(frozen=True)
class Candidate:
    """A candidate weight and its scores: the dev score and each guard dataset's."""

    weight: float
    dev: float
    guard: dict[str, float]


def choose_weight(candidates: Sequence[Candidate], max_loss: float) -> tuple[float, list[dict[str, Any]]]:
    """The weight with the best dev score among the candidates that lose at most `max_loss` against the
    base (the candidate at weight 0, which always qualifies: the floor) on every guard dataset; a tie goes to
    the smaller weight (closer to the base). Returns it and the table of candidates for merge.json."""
    base = next((c for c in candidates if c.weight == 0), None)
    if base is None:
        raise EmbedlabError("merge choice: no candidate at weight 0 (the base) to measure guard losses by")
    rows = []
    for c in sorted(candidates, key=lambda c: c.weight):
        loss = {ds: base.guard[ds] - score for ds, score in c.guard.items()}
        ok = all(v <= max_loss + TOLERANCE for v in loss.values())
        rows.append({"weight": c.weight, "dev": c.dev, "guard": c.guard, "guard_loss": loss, "qualifies": ok})
    best = max((r for r in rows if r["qualifies"]), key=lambda r: (r["dev"], -r["weight"]))
    for r in rows:
        r["chosen"] = r is best
    return best["weight"], rows


def choose_merge(
    base: Model,
    finetuned: Model,
    out: str | os.PathLike[str],
    weights: Sequence[float],
    max_loss: float,
    score: Score,
    about: dict[str, Any],
    name: str | None = None,
) -> dict[str, Any]:
    """Merge at weight 0 (the base) and each of `weights` (GRID when empty), score each merge with `score`
    (dev score, guard scores: higher is better), keep the chosen weight (`choose_weight`) in `out`
    (atomically) with merge.json, whose `choice` holds `about` (metric, datasets, counts), `max_loss`, the
    table of candidates and the chosen weight. Returns merge.json's facts."""
    name = name or Path(out).name
    grid = sorted({0.0, *(float(w) for w in (weights or GRID))})
    ends = load_endpoints(base, finetuned, name)
    with io.atomic_dir(out) as workdir:
        candidates = []
        for w in grid:
            folder = workdir / CANDIDATES / weight_label(w)
            ends.write(w, folder)
            dev, guard = score(folder)
            shutil.rmtree(folder)
            log.info("merge %s: weight %s dev %.4f guard %s", name, weight_label(w), dev, guard)
            candidates.append(Candidate(w, dev, guard))
        shutil.rmtree(workdir / CANDIDATES, ignore_errors=True)
        chosen, table = choose_weight(candidates, max_loss)
        choice = {**about, "max_loss": max_loss, "candidates": table, "chosen": chosen}
        facts = _facts(name, ends, chosen, choice)
        ends.write(chosen, workdir)
        io.write_json(workdir / filenames.MERGE_FACTS, facts)
        io.write_text(workdir / filenames.MODEL_CARD, render_merge_card(facts))
    log.info("merge %s: chose weight %s of %d candidates -> %s", name, weight_label(chosen), len(grid), out)
    return facts
