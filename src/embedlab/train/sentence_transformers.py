"""The sentence-transformers backend: SentenceTransformerTrainer with the configured loss (MNRL, its cached
variant, GIST with a guide, or distillation from a teacher's scores: train.teachers), the configured batch
sampler (train.batches), optional Matryoshka and mined hard negatives, the dev slice selecting the
checkpoint. Inside a torchrun world (embedlab.train.distributed) the same trainer runs DDP: accelerate deals
the sampler's batches to the ranks, the loss gathers in-batch negatives across devices, and rank 0 runs
the dev evaluator (the other ranks help it encode) and saves the checkpoints."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from embedlab.data.training_data import TrainingData
from embedlab.errors import EmbedlabError
from embedlab.models.spec import ModelSpec
from embedlab.train import distributed
from embedlab.train.batches import batch_plan_facts, batch_sampler, steps_per_epoch
from embedlab.train.common import (
    CHECKPOINTS,
    DEFAULT_EVALUATIONS,
    SELECTION_METRIC,
    build_loss,
    curves,
    selection_args,
    trainer_callbacks,
)
from embedlab.train.lora import has_lora, load_adapter_checkpoint
from embedlab.train.teachers import DISTILLED, GUIDED, load_helper, teacher_scores

log = logging.getLogger(__name__)


def dev_evaluator(data: TrainingData, spec: ModelSpec, batch_size: int, index: dict[str, str]) -> Any:
    """The checkpoint-selection evaluator: dev queries against `index` (`TrainingData.dev_index`); None if
    no dev."""
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    if not data.dev_queries:
        return None
    return InformationRetrievalEvaluator(
        data.dev_queries,
        index,
        data.dev_relevant,
        name="dev",
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
    guide, labels = _helpers(job, model, data, device)
    dataset = _pairs_dataset(data, spec, labels)
    bs = settings["batch_size"]
    world = distributed.world_size()
    index = data.dev_index(settings["dev_corpus_size"], job.seed)
    evaluator = dev_evaluator(data, spec, max(bs, spec.batch_size), index)
    sampler = batch_sampler(settings["batches"], data.pairs, world)
    # one step takes one batch per rank; under DDP the last incomplete round is dropped (see _training_args)
    per_epoch = steps_per_epoch(sampler, len(dataset), bs, world, job.seed)
    total = settings["max_steps"] or per_epoch * settings["epochs"]
    eval_steps = settings["eval_steps"] or max(1, math.ceil(total / DEFAULT_EVALUATIONS))
    selecting = evaluator is not None
    args = _training_args(job, precision, device, total, eval_steps, selecting, sampler, world)
    progress, at_end = trainer_callbacks()
    trainer = _trainer_class()(
        model=model,
        args=args,
        train_dataset=dataset,
        loss=build_loss(model, settings, gather=world > 1, guide=guide),
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
        f"dev eval every {eval_steps} steps ({len(index)} chunks)"
        if selecting
        else "no dev slice: last step kept",
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
            "dev_corpus": len(index) if selecting else None,
            "best_step": int(best.rsplit("-", 1)[1]) if best else trainer.state.global_step,
            "best_score": trainer.state.best_metric,
        },
        "loss_curve": loss_curve,
        "dev_curve": dev_curve,
        "batch_plan": batch_plan_facts(sampler),
    }


def _helpers(
    job: distributed.TrainingJob, model: Any, data: TrainingData, device: str
) -> tuple[Any, list[list[float]] | None]:
    """The loaded guide of the GIST losses (the base when the job names none), and the teacher's scores of
    the distillation losses (the label column; the teacher is freed before training)."""
    import torch

    loss, train_len = job.settings["loss"], model.max_seq_length
    guide = load_helper(job.guide or job.base, "guide", device, train_len) if loss in GUIDED else None
    if loss not in DISTILLED:
        return guide, None
    if job.teacher is None:
        raise EmbedlabError(
            f"fine-tune {job.name}: loss {loss} needs a teacher: pass finetune(..., teacher=spec)"
        )
    teacher = load_helper(job.teacher, "teacher", device, train_len)
    labels = teacher_scores(teacher, job.teacher, data.pairs)
    del teacher
    if device == "cuda":
        torch.cuda.empty_cache()
    return guide, labels


def _trainer_class() -> type:
    """SentenceTransformerTrainer whose checkpoints only the saving rank (rank 0) writes.

    transformers 5.24 calls `_save` on every rank and checks `args.should_save` inside its own `_save`
    (huggingface/transformers#48569); sentence-transformers 6.2 overrides `_save` assuming it only runs on
    process zero, so without this guard every rank of a DDP run writes the same checkpoint files at once.
    With LoRA a checkpoint holds the adapter alone, and the best one is loaded back as such (train.lora)."""
    from sentence_transformers import SentenceTransformerTrainer

    class RankZeroSavingTrainer(SentenceTransformerTrainer):
        def _save(self, output_dir: str | None = None, state_dict: Any = None) -> None:
            if self.args.should_save:
                super()._save(output_dir, state_dict)

        def _load_from_checkpoint(self, checkpoint_path: str) -> None:
            model = getattr(self.model, "_orig_mod", self.model)
            if has_lora(model):
                load_adapter_checkpoint(model, checkpoint_path)
            else:
                super()._load_from_checkpoint(checkpoint_path)

    return RankZeroSavingTrainer


def _pairs_dataset(data: TrainingData, spec: ModelSpec, labels: list[list[float]] | None = None) -> Any:
    """Columns anchor, positive[, negative_1..n], prefixes applied: what MNRL reads; and `label` (the
    teacher's scores [positive, negative_1..n]) for the distillation losses."""
    from datasets import Dataset

    qp, pp = spec.query_prefix, spec.passage_prefix
    columns: dict[str, list[str]] = {
        "anchor": [qp + p.query for p in data.pairs],
        "positive": [pp + p.positive for p in data.pairs],
    }
    for i in range(len(data.pairs[0].negatives)):
        columns[f"negative_{i + 1}"] = [pp + p.negatives[i] for p in data.pairs]
    if labels is not None:
        columns["label"] = labels
    return Dataset.from_dict(columns)


def _training_args(
    job: distributed.TrainingJob,
    precision: str,
    device: str,
    total: int,
    eval_steps: int,
    selecting: bool,
    sampler: Any,
    world: int = 1,
) -> Any:
    """The trainer's arguments (`sampler`: the `batch_sampler` of train.batches); not `selecting` (no dev
    slice): no evaluation, the last step is kept.

    Under DDP (`world` > 1): the backend of the process group, and drop_last, because accelerate's batch
    sharding (even_batches off in the sentence-transformers trainer) would otherwise give the first ranks
    one batch more than the others at the end of an epoch, and DDP would wait for the missing ones; and
    find_unused_parameters, because a BERT's pooler never reaches the loss (transformers' default for a
    model that is not a PreTrainedModel, spelled out)."""
    from sentence_transformers import SentenceTransformerTrainingArguments

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
        batch_sampler=sampler,
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
