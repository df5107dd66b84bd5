"""The sentence-transformers backend: SentenceTransformerTrainer with MultipleNegativesRankingLoss and the
no-duplicates sampler (optional cached loss, Matryoshka and mined hard negatives), the dev slice selecting the
checkpoint."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

from embedlab.models.spec import ModelSpec
from embedlab.train.common import (
    CHECKPOINTS,
    DEFAULT_EVALUATIONS,
    SELECTION_METRIC,
    build_loss,
    curves,
    selection_args,
    trainer_callbacks,
)
from embedlab.train.data import TrainingData

log = logging.getLogger(__name__)


def dev_evaluator(data: TrainingData, spec: ModelSpec, batch_size: int, name: str = "dev") -> Any:
    """The checkpoint-selection evaluator: dev queries against every train-side chunk; None if no dev."""
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    if not data.dev_queries:
        return None
    return InformationRetrievalEvaluator(
        data.dev_queries,
        data.dev_corpus,
        data.dev_relevant,
        name=name,
        query_prompt=spec.query_prefix or None,
        corpus_prompt=spec.passage_prefix or None,
        batch_size=batch_size,
        write_csv=False,
    )


def train_sentence_transformers(
    model: Any,
    data: TrainingData,
    spec: ModelSpec,
    settings: dict[str, Any],
    seed: int,
    workdir: Path,
    precision: str,
    device: str,
) -> dict[str, Any]:
    """SentenceTransformerTrainer with the dev slice selecting the checkpoint (load_best_model_at_end)."""
    from sentence_transformers import SentenceTransformerTrainer
    from transformers import PrinterCallback

    dataset = _pairs_dataset(data, spec)
    bs = settings["batch_size"]
    evaluator = dev_evaluator(data, spec, batch_size=max(bs, spec.batch_size))
    total = settings["max_steps"] or math.ceil(len(dataset) / bs) * settings["epochs"]
    eval_steps = settings["eval_steps"] or max(1, math.ceil(total / DEFAULT_EVALUATIONS))
    selecting = evaluator is not None
    args = _training_args(settings, workdir, precision, device, seed, total, eval_steps, selecting)
    progress, at_end = trainer_callbacks()
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        loss=build_loss(model, settings),
        evaluator=evaluator,
        callbacks=[progress, at_end],
    )
    trainer.remove_callback(PrinterCallback)
    log.info(
        "training %d pairs x %d epochs, batch %d, %d steps, %s, on %s (%s)",
        len(dataset),
        settings["epochs"],
        bs,
        total,
        f"dev eval every {eval_steps} steps" if selecting else "no dev slice: the last step is kept",
        device,
        precision,
    )
    t0 = time.monotonic()
    trainer.train()
    train_time = time.monotonic() - t0
    loss_curve, dev_curve = curves(trainer.state.log_history)
    best = trainer.state.best_model_checkpoint
    return {
        "training_time_s": train_time,
        "steps": trainer.state.global_step,
        "epochs_run": float(trainer.state.epoch or 0),
        "eval_steps": eval_steps if selecting else None,
        "selection": {
            "metric": f"dev {SELECTION_METRIC}" if selecting else None,
            "best_step": int(best.rsplit("-", 1)[1]) if best else trainer.state.global_step,
            "best_score": trainer.state.best_metric,
        },
        "loss_curve": loss_curve,
        "dev_curve": dev_curve,
    }


def _pairs_dataset(data: TrainingData, spec: ModelSpec) -> Any:
    """Columns anchor, positive[, negative_1..n], prefixes applied: what MNRL reads."""
    from datasets import Dataset

    qp, pp = spec.query_prefix, spec.passage_prefix
    columns: dict[str, list[str]] = {
        "anchor": [qp + p.query for p in data.pairs],
        "positive": [pp + p.positive for p in data.pairs],
    }
    for i in range(len(data.pairs[0].negatives)):
        columns[f"negative_{i + 1}"] = [pp + p.negatives[i] for p in data.pairs]
    return Dataset.from_dict(columns)


def _training_args(
    settings: dict[str, Any],
    workdir: Path,
    precision: str,
    device: str,
    seed: int,
    total: int,
    eval_steps: int,
    selecting: bool,
) -> Any:
    """The trainer's arguments; not `selecting` (no dev slice): no evaluation, the last step is kept."""
    from sentence_transformers import SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers

    bs = settings["batch_size"]
    warmup = settings["warmup"]
    return SentenceTransformerTrainingArguments(
        output_dir=str(workdir / CHECKPOINTS),
        num_train_epochs=settings["epochs"],
        max_steps=settings["max_steps"] or -1,
        per_device_train_batch_size=bs,
        per_device_eval_batch_size=bs,
        learning_rate=settings["learning_rate"],
        warmup_steps=float(warmup) if warmup < 1 else int(warmup),
        weight_decay=settings["weight_decay"],
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        fp16=precision == "fp16",
        bf16=precision == "bf16",
        use_cpu=device == "cpu",
        **selection_args(eval_steps, selecting, seed, SELECTION_METRIC),
        logging_steps=max(1, total // 50),
        logging_first_step=True,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
