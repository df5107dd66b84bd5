"""What every fine-tuning backend shares: the base model, seeds and precision, the evaluators on dev and val,
the loss, trainer callbacks and the facts of training.json (hardware, versions, curves)."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import platform
from pathlib import Path
from typing import Any

from embedlab.data.training_data import TrainingData
from embedlab.errors import EmbedlabError
from embedlab.models.sources import resolve_model_source
from embedlab.models.spec import ModelSpec, load_sentence_transformer
from embedlab.train.teachers import DISTILL_TEMPERATURE, DISTILLED

log = logging.getLogger(__name__)

FORMAT = "embedlab.training/1"
LOSSES = {
    "mnrl": "MultipleNegativesRankingLoss",
    "cached_mnrl": "CachedMultipleNegativesRankingLoss",
    "gist": "GISTEmbedLoss",
    "cached_gist": "CachedGISTEmbedLoss",
    "margin_mse": "MarginMSELoss",
    "distill_kl": "DistillKLDivLoss",
}
IN_BATCH = ("mnrl", "cached_mnrl", "gist", "cached_gist")  # in-batch negatives (gathered under DDP)
CACHED = ("cached_mnrl", "cached_gist")  # GradCache: mini_batch_size applies
SELECTION_METRIC = "cosine_mrr@10"  # on the dev slice; the headline metric
DEFAULT_EVALUATIONS = 4  # dev evaluations per run when eval_steps is not set
CHECKPOINTS = ".checkpoints"
INFERENCE_ONLY_KWARGS = {"torch_dtype", "dtype", "load_in_4bit", "load_in_8bit", "quantization_config"}


def facts_head(
    name: str, final: Path, status: str, spec: ModelSpec, data: TrainingData, settings: dict[str, Any]
) -> dict[str, Any]:
    """The first keys of training.json, the same for every backend (docs/formats.md)."""
    return {
        "format": FORMAT,
        "name": name,
        "status": status,
        "backend": settings["backend"],
        "path": str(final),
        "base": {
            "name": spec.name,
            "source": spec.source,
            "query_prefix": spec.query_prefix,
            "passage_prefix": spec.passage_prefix,
        },
        "datasets": data.stats,
        "pairs": len(data.pairs),
    }


def set_seed(seed: int) -> None:
    """Python, NumPy and torch (all devices) from one seed."""
    import transformers

    transformers.set_seed(seed)


def resolve_precision(requested: str, device: str) -> str:
    """`auto`: bf16 on CUDA where supported, else fp16 on CUDA; fp32 elsewhere."""
    import torch

    if requested == "auto":
        if device == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "fp32"
    if requested == "fp16" and device != "cuda":
        raise EmbedlabError(
            f"precision fp16 needs a CUDA GPU (device is {device}): use precision auto or fp32"
        )
    if requested == "bf16" and device == "cuda" and not torch.cuda.is_bf16_supported():
        raise EmbedlabError("precision bf16: this GPU does not support bf16: use precision auto or fp16")
    return requested


def hardware(device: str, precision: str) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "device": device,
        "precision": precision,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        info["gpu"] = props.name
        info["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
    return info


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("torch", "transformers", "sentence-transformers", "datasets", "llama-index-finetuning"):
        with contextlib.suppress(PackageNotFoundError):
            out[pkg] = version(pkg)
    return out


def load_base(spec: ModelSpec, device: str) -> Any:
    """The base model, or one line saying why it cannot be used (missing, needs network, not a model)."""
    if spec.kind != "sentence-transformers":
        raise EmbedlabError(
            f"base model {spec.name}: kind {spec.kind!r} cannot be fine-tuned "
            "(needs a sentence-transformers model)"
        )
    path = resolve_model_source(spec.source or "")
    local = Path(path)
    if local.is_dir() and not (local / "modules.json").is_file() and not (local / "config.json").is_file():
        raise EmbedlabError(
            f"base model {spec.name}: {path} is not a sentence-transformers model directory "
            "(no modules.json or config.json): point models.<name>.source at a saved model"
        )
    dropped = sorted(k for k in spec.model_kwargs if k in INFERENCE_ONLY_KWARGS or k.startswith("bnb_"))
    if dropped:  # optimizer states need fp32 weights; mixed precision comes from `precision`
        log.info("base model %s: training loads it without %s", spec.name, ", ".join(dropped))
        kept = {k: v for k, v in spec.model_kwargs.items() if k not in dropped}
        spec = dataclasses.replace(spec, model_kwargs=kept)
    try:
        return load_sentence_transformer(spec, device=device)
    except EmbedlabError as exc:  # hub messages span lines: the rule log gets one
        raise EmbedlabError(" ".join(str(exc).split())) from exc
    except Exception as exc:  # hub errors, broken configs: the user fixes the source, not the code
        raise EmbedlabError(
            f"base model {spec.name}: cannot load {spec.source!r} ({type(exc).__name__}: {exc}); "
            "offline, use a local directory or a pkg: source"
        ) from exc


def build_loss(model: Any, settings: dict[str, Any], gather: bool = False, guide: Any = None) -> Any:
    """The configured loss (`guide`: the loaded guide model of the GIST losses; the distillation losses read
    the teacher's scores from the dataset's label column), wrapped in MatryoshkaLoss when dims are configured.

    `gather` (data-parallel runs): the in-batch losses all-gather every rank's embeddings (with gradients),
    so each query meets the in-batch negatives of all devices, as in one batch of world_size x batch_size."""
    from sentence_transformers.sentence_transformer import losses
    from sentence_transformers.util import pairwise_cos_sim

    name, mini = settings["loss"], settings["mini_batch_size"]
    if name == "cached_mnrl":
        loss = losses.CachedMultipleNegativesRankingLoss(
            model, mini_batch_size=mini, gather_across_devices=gather
        )
    elif name == "gist":
        loss = losses.GISTEmbedLoss(model, guide, gather_across_devices=gather)
    elif name == "cached_gist":
        loss = losses.CachedGISTEmbedLoss(model, guide, mini_batch_size=mini, gather_across_devices=gather)
    elif name == "margin_mse":  # the labels are cosine margins of the teacher: the student's are too
        loss = losses.MarginMSELoss(model, similarity_fct=pairwise_cos_sim)
    elif name == "distill_kl":
        loss = losses.DistillKLDivLoss(
            model, similarity_fct=pairwise_cos_sim, temperature=DISTILL_TEMPERATURE
        )
    else:
        loss = losses.MultipleNegativesRankingLoss(model, gather_across_devices=gather)
    dims = sorted(settings.get("matryoshka_dims") or [], reverse=True)
    if dims:
        full = model.get_embedding_dimension()
        if dims[0] > full:
            raise EmbedlabError(
                f"matryoshka_dims {dims}: {dims[0]} exceeds the model's {full} dimensions: use dims <= {full}"
            )
        loss = losses.MatryoshkaLoss(model, loss, matryoshka_dims=dims)
        if name == "gist":
            guide.forward = GuideMemo(guide.forward)
    return loss


class GuideMemo:
    """A frozen guide's forward that remembers its outputs for the columns of the batch it last embedded.

    MatryoshkaLoss calls the GISTEmbedLoss it wraps once per dimension on the same batch, and GIST runs its
    guide each time: the same outputs (eval mode, no gradients) computed once per dimension, which made a
    Matryoshka fine-tune's steps 1.6 times a plain one's. A column is known by its input_ids tensor itself,
    held so that its id cannot be reused by a later batch."""

    COLUMNS = 8  # the last columns remembered: a batch has 2 or 3 (anchor, positive, negatives)

    def __init__(self, forward: Any) -> None:
        self.forward = forward
        self.seen: list[tuple[Any, dict[str, Any]]] = []

    def __call__(self, features: dict[str, Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        ids = features["input_ids"]
        for held, outputs in self.seen:
            if held is ids:
                return {**features, **outputs}
        given = set(features)
        result = self.forward(features, *args, **kwargs)
        outputs = {k: v for k, v in result.items() if k not in given}
        self.seen = [*self.seen[1 - self.COLUMNS :], (ids, outputs)]
        return result


def loss_facts(
    settings: dict[str, Any], gathered: bool = False, helpers: dict[str, ModelSpec] | None = None
) -> dict[str, Any]:
    """training.json's `loss`: the loss class, its knobs, the guide or teacher (`helpers`, by role)."""
    facts: dict[str, Any] = {"name": LOSSES[settings["loss"]]}
    if settings["loss"] in CACHED:
        facts["mini_batch_size"] = settings["mini_batch_size"]
    for role, spec in (helpers or {}).items():
        facts[role] = {"name": spec.name, "source": spec.source}
    if settings["loss"] in DISTILLED:
        facts["similarity"] = "cosine"
    if settings["loss"] == "distill_kl":
        facts["temperature"] = DISTILL_TEMPERATURE
    if gathered:
        facts["gather_across_devices"] = True
    if settings.get("matryoshka_dims"):
        facts["wrapper"] = "MatryoshkaLoss"
        facts["matryoshka_dims"] = sorted(settings["matryoshka_dims"], reverse=True)
    return facts


def curves(history: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split a trainer's log_history into the loss curve and the dev-metric curve."""
    loss_curve, dev_curve = [], []
    for entry in history:
        if "loss" in entry:
            loss_curve.append(
                {k: entry[k] for k in ("step", "epoch", "loss", "learning_rate", "grad_norm") if k in entry}
            )
        dev = {k: v for k, v in entry.items() if k.startswith("eval_") and "cosine_" in k}
        if dev:
            point = {"step": entry.get("step"), "epoch": entry.get("epoch")}
            for k, v in dev.items():
                point[k.split("cosine_", 1)[1]] = v
            dev_curve.append(point)
    return loss_curve, dev_curve


def trainer_callbacks(log_every: int | None = None) -> tuple[Any, Any]:
    """Trainer callbacks: log progress to the rule log (forcing a loss log every `log_every` steps where the
    trainer's own logging_steps is out of reach); evaluate and save at the very last step too."""
    from transformers import TrainerCallback

    class ProgressLog(TrainerCallback):
        def __init__(self) -> None:
            self.history: list[dict[str, Any]] = []

        def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            if log_every and (state.global_step % log_every == 0 or state.global_step == 1):
                control.should_log = True
            return control

        def on_log(self, args, state, control, logs=None, **kwargs):  # type: ignore[no-untyped-def]
            if logs and "loss" in logs:
                log.info(
                    "step %d/%d loss %.4f lr %.3g",
                    state.global_step,
                    state.max_steps,
                    logs["loss"],
                    logs.get("learning_rate", 0.0),
                )

        def on_train_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            self.history = list(state.log_history)

    class EvalAtEnd(TrainerCallback):
        """Without this the last steps after the final multiple of eval_steps are never a candidate."""

        def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            if state.global_step >= state.max_steps and args.eval_strategy != "no":
                control.should_evaluate = True
                control.should_save = True
            return control

    return ProgressLog(), EvalAtEnd()


def check_pairs(name: str, data: TrainingData, settings: dict[str, Any], world_size: int = 1) -> None:
    """At least one full batch per rank (and two pairs): in-batch negatives need company, and every rank of
    a data-parallel run needs a batch of its own."""
    n, bs = len(data.pairs), settings["batch_size"]
    if n < max(bs * world_size, 2):
        ranks = f" for each of {world_size} ranks" if world_size > 1 else ""
        raise EmbedlabError(
            f"fine-tune {name}: {n} training pairs, fewer than one batch of {bs}{ranks}: lower "
            f"finetune.{name}.batch_size (or gpus), lower dev_fraction, or add documents/queries"
        )


def selection_args(eval_steps: int, selecting: bool, seed: int, metric: str) -> dict[str, Any]:
    """Training arguments shared by the bi-encoder and cross-encoder trainers: seeded, and with a dev
    evaluator (`selecting`) the best dev checkpoint by `metric` is kept and loaded at the end."""
    return {
        "seed": seed,
        "data_seed": seed,
        "eval_strategy": "steps" if selecting else "no",
        "eval_steps": eval_steps if selecting else None,
        "save_strategy": "steps" if selecting else "no",
        "save_steps": eval_steps,
        "save_total_limit": 1,
        "save_only_model": True,
        "load_best_model_at_end": selecting,
        "metric_for_best_model": f"eval_dev_{metric}" if selecting else None,
        "greater_is_better": True,
    }
