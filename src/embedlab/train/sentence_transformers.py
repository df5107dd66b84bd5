"""The sentence-transformers backend: SentenceTransformerTrainer with MultipleNegativesRankingLoss and the
no-duplicates sampler (optional cached loss, Matryoshka and mined hard negatives), the dev slice selecting the
checkpoint. Inside a torchrun world (embedlab.train.distributed) the same trainer runs DDP: accelerate deals
the sampler's batches to the ranks, the loss gathers in-batch negatives across devices, and rank 0 runs
the dev evaluator (the other ranks help it encode) and saves the checkpoints."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from embedlab.data.training_data import TrainingData
from embedlab.models.spec import ModelSpec
from embedlab.train import distributed
from embedlab.train.common import (
    CHECKPOINTS,
    DEFAULT_EVALUATIONS,
    SELECTION_METRIC,
    build_loss,
    curves,
    selection_args,
    trainer_callbacks,
)

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
    model: Any, job: distributed.TrainingJob, data: TrainingData, precision: str, device: str
) -> dict[str, Any]:
    """SentenceTransformerTrainer with the dev slice selecting the checkpoint (load_best_model_at_end)."""
    from transformers import PrinterCallback

    spec, settings = job.base, job.settings
    dataset = _pairs_dataset(data, spec)
    bs = settings["batch_size"]
    world = distributed.world_size()
    evaluator = dev_evaluator(data, spec, batch_size=max(bs, spec.batch_size))
    # one step takes one batch per rank; under DDP the last incomplete round is dropped (see _training_args)
    per_epoch = len(dataset) // (bs * world) if world > 1 else math.ceil(len(dataset) / bs)
    total = settings["max_steps"] or per_epoch * settings["epochs"]
    eval_steps = settings["eval_steps"] or max(1, math.ceil(total / DEFAULT_EVALUATIONS))
    selecting = evaluator is not None
    args = _training_args(job, precision, device, total, eval_steps, selecting, world)
    progress, at_end = trainer_callbacks()
    trainer = _trainer_class()(
        model=model,
        args=args,
        train_dataset=dataset,
        loss=build_loss(model, settings, gather=world > 1),
        evaluator=evaluator,
        callbacks=[progress, at_end],
    )
    trainer.remove_callback(PrinterCallback)
    log.info(
        "training %d pairs x %d epochs, batch %d%s, %d steps, %s, on %s (%s)",
        len(dataset),
        settings["epochs"],
        bs,
        f" x {world} ranks (in-batch negatives gathered: effective batch {bs * world})" if world > 1 else "",
        total,
        f"dev eval every {eval_steps} steps" if selecting else "no dev slice: the last step is kept",
        device,
        precision,
    )
    t0 = time.monotonic()
    trainer.train()
    distributed.barrier()  # every rank has loaded the best checkpoint before rank 0 removes them
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


def _trainer_class() -> type:
    """SentenceTransformerTrainer whose checkpoints only the saving rank (rank 0) writes.

    transformers 5.24 calls `_save` on every rank and checks `args.should_save` inside its own `_save`
    (huggingface/transformers#48569); sentence-transformers 6.2 overrides `_save` assuming it only runs on
    process zero, so without this guard every rank of a DDP run writes the same checkpoint files at once."""
    from sentence_transformers import SentenceTransformerTrainer

    class RankZeroSavingTrainer(SentenceTransformerTrainer):
        def _save(self, output_dir: str | None = None, state_dict: Any = None) -> None:
            if self.args.should_save:
                super()._save(output_dir, state_dict)

    return RankZeroSavingTrainer


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
    job: distributed.TrainingJob,
    precision: str,
    device: str,
    total: int,
    eval_steps: int,
    selecting: bool,
    world: int = 1,
) -> Any:
    """The trainer's arguments; not `selecting` (no dev slice): no evaluation, the last step is kept.

    Under DDP (`world` > 1): the backend of the process group, and drop_last, because accelerate's batch
    sharding (even_batches off in the sentence-transformers trainer) would otherwise give the first ranks
    one batch more than the others at the end of an epoch, and DDP would wait for the missing ones; and
    find_unused_parameters, because a BERT's pooler never reaches the loss (transformers' default for a
    model that is not a PreTrainedModel, spelled out)."""
    from sentence_transformers import SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers

    settings = job.settings
    bs = settings["batch_size"]
    warmup = settings["warmup"]
    return SentenceTransformerTrainingArguments(
        output_dir=str(job.workdir / CHECKPOINTS),
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
        **selection_args(eval_steps, selecting, job.seed, SELECTION_METRIC),
        logging_steps=max(1, total // 50),
        logging_first_step=True,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        **(
            {
                "ddp_backend": distributed.ddp_backend(device),
                "dataloader_drop_last": True,
                "ddp_find_unused_parameters": True,
            }
            if world > 1
            else {}
        ),
    )
