"""Fine-tuning: a `finetune` config entry -> a model directory that `SentenceTransformer(path)` loads offline.

Backends: `sentence-transformers` (SentenceTransformerTrainer: MNRL or its cached variant, GIST with a guide
model or distillation from a teacher (train.teachers), batches without in-batch false negatives or without
duplicates (train.batches), optional Matryoshka and mined hard negatives), `llamaindex` (the
tutorial's SentenceTransformersFinetuneEngine) and `autotrain` (export for HuggingFace AutoTrain, run it when
asked and installed), each in its own module; this one holds the rule's inputs and parameters, the entry
point and the frame the first two share (load, mine, train, save). All of them pick the checkpoint on a dev
slice carved out of train.json by chunk group; val.json only keeps its chunks out of training: its numbers
are the evaluation's (measured once per model, shown before -> after on the published card). The directory
is built beside its final place and renamed at the end (`io.atomic_dir`), so a killed run never leaves a
directory that looks finished. With `gpus`/`nodes` above 1 the same training runs in
every rank of a torchrun world (`embedlab.train.distributed`), rank 0 writing into that directory.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from embedlab import filenames, io
from embedlab.data.training_data import DatasetFiles, TrainingData, load_training_data
from embedlab.errors import EmbedlabError
from embedlab.models.spec import ModelSpec, pick_device
from embedlab.train import distributed
from embedlab.train.autotrain import autotrain_backend
from embedlab.train.card import render_model_card
from embedlab.train.common import (
    CHECKPOINTS,
    IN_BATCH,
    LOSSES,
    check_pairs,
    facts_head,
    hardware,
    load_base,
    loss_facts,
    resolve_precision,
    set_seed,
    versions,
)
from embedlab.train.llamaindex import LLAMAINDEX_LR, train_llamaindex
from embedlab.train.lora import add_lora, lora_problem, merge_lora
from embedlab.train.negatives import Oracle, mine_job_negatives
from embedlab.train.sentence_transformers import train_sentence_transformers
from embedlab.train.teachers import loss_problem

log = logging.getLogger(__name__)

BACKENDS = ("sentence-transformers", "llamaindex", "autotrain")


def finetune(
    name: str,
    output: str | os.PathLike[str],
    datasets: list[DatasetFiles],
    settings: dict[str, Any],
    base: ModelSpec,
    seed: int,
    threads: int = 0,
    guide: ModelSpec | None = None,
    teacher: ModelSpec | None = None,
    miner: ModelSpec | None = None,
    oracle: Oracle | None = None,
) -> dict[str, Any]:
    """Fine-tune `base` on `datasets` per `settings` (a `finetune` entry, defaults filled) into `output`.

    Returns the facts written to `output/training.json`. `threads` caps torch's CPU threads (split between
    the ranks of a data-parallel run). `guide` (loss gist / cached_gist; None: the base) and `teacher` (loss
    margin_mse / distill_kl) are the specs the plan resolved from the entry's `guide` / `teacher`; `miner`
    (None: the base) and `oracle` those of its hard_negatives' `miner` / `oracle`. On a machine with several
    GPUs, callers outside Snakemake wrap the call in the workflow layer's `gpu.gpu_slot(gpus)` (rules get
    theirs from `run_rule`).
    """
    backend = settings["backend"]
    if backend not in BACKENDS:
        raise EmbedlabError(f"fine-tune {name}: backend {backend!r} unknown (allowed: {', '.join(BACKENDS)})")
    problem = distributed.backend_problem(settings) or loss_problem(settings) or lora_problem(settings)
    if problem:
        raise EmbedlabError(f"fine-tune {name}: {problem}")
    with io.atomic_dir(output) as workdir:
        job = distributed.TrainingJob(
            name,
            Path(output),
            workdir,
            list(datasets),
            settings,
            base,
            seed,
            threads,
            guide=guide,
            teacher=teacher,
            miner=miner,
            oracle=oracle,
        )
        if distributed.world_of(settings).size > 1:
            facts = distributed.launch(job)
        else:
            facts = run_training(job)
            assert facts is not None  # a single process is rank 0
    log.info("fine-tune %s: wrote %s", name, output)
    return facts


def run_training(job: distributed.TrainingJob) -> dict[str, Any] | None:
    """Seed, read the data (dev slice carved before any sharding), train, and write training.json and the
    card into `job.workdir`. In a data-parallel run every rank calls this; rank 0 alone writes and gets the
    facts, the others get None."""
    started = time.monotonic()
    import torch

    settings = job.settings
    if job.threads:
        torch.set_num_threads(job.threads)
    set_seed(job.seed)
    dev, per_query = settings["dev_fraction"], settings["max_pairs_per_query"]
    data = load_training_data(job.datasets, dev, per_query, job.seed)
    device = pick_device("auto")
    backend = autotrain_backend if settings["backend"] == "autotrain" else _train
    facts = backend(job, data, device)
    if facts is None:
        return None
    gathered = LOSSES[settings["loss"]] if settings["loss"] in IN_BATCH else None
    facts["distributed"] = distributed.run_facts(job.world, job.launcher, settings, gathered, device)
    facts["total_time_s"] = round(time.monotonic() - started, 2)
    write_outputs(job.workdir, facts)
    return facts


def _train(job: distributed.TrainingJob, data: TrainingData, device: str) -> dict[str, Any] | None:
    """Common frame of the sentence-transformers and llamaindex backends: load, mine, train, save.

    In a data-parallel run every rank prepares the same data (checked) and trains; rank 0 alone saves and
    returns the facts (None on the other ranks). Val is not measured here: the evaluation scores the base and
    the fine-tune once each (rule evaluate_retrieval), and the published card reads those numbers."""
    name, spec, settings = job.name, job.base, job.settings
    check_pairs(name, data, settings, distributed.world_size())
    precision = resolve_precision(settings["precision"], device)
    model = load_base(spec, device)
    infer_len = model.max_seq_length
    train_len = settings["max_seq_length"] or infer_len
    log.info(
        "base %s (%s): max_seq_length %s, train at %s, device %s",
        spec.name,
        spec.source,
        infer_len,
        train_len,
        device,
    )
    neg_counts = _hard_negatives(job, model, data, device)
    distributed.check_same_on_every_rank(name, "the training pairs and dev slice", _data_fingerprint(data))
    main = distributed.is_main()
    if settings["backend"] == "llamaindex":
        model = None  # the engine loads its own copy: free the base's memory first
    lora = add_lora(model, settings["lora"]) if settings["lora"]["enabled"] else None
    model, run = _run_backend(job, model, data, precision, device, train_len)
    if not main:
        return None
    if lora:
        merge_lora(model, job.workdir)
    model.max_seq_length = infer_len  # train short for speed, keep the base's reading length for use
    model.save(str(job.workdir), create_model_card=False)
    facts = facts_head(name, job.final, "trained", spec, data, settings)
    facts["base"]["max_seq_length"] = infer_len
    hn = settings["hard_negatives"]
    return {
        **facts,
        "loss": loss_facts(
            settings,
            gathered=distributed.world_size() > 1 and settings["loss"] in IN_BATCH,
            helpers=job.helpers,
        ),
        "batch_sampler": settings["batches"]
        if settings["backend"] == "sentence-transformers"
        else "random (llama-index engine)",
        "batch_plan": run.get("batch_plan"),
        "hard_negatives": {**hn, "used": neg_counts is not None, **(neg_counts or {})},
        "lora": lora or {"enabled": False},
        "hyperparameters": _hyperparameters(settings, run, train_len, job.seed),
        "selection": {
            **run["selection"],
            "dev_queries": len(data.dev_queries),
            "dev_groups": data.dev_groups,
        },
        "training_time_s": round(run["training_time_s"], 2),
        "pairs_per_second": round(run["epochs_run"] * len(data.pairs) / max(run["training_time_s"], 1e-9), 2),
        "hardware": hardware(device, run["precision"]),
        "versions": versions(),
        "loss_curve": run["loss_curve"],
        "dev_curve": run["dev_curve"],
    }


def _data_fingerprint(data: TrainingData) -> dict[str, Any]:
    """What must be identical on every rank: the pairs (with their negatives) in order and the dev slice."""
    return {
        "pairs": [[p.query_id, p.positive_id, p.negative_ids] for p in data.pairs],
        "dev": sorted(data.dev_queries),
        "dev_groups": data.dev_groups,
    }


def _hard_negatives(
    job: distributed.TrainingJob, model: Any, data: TrainingData, device: str
) -> dict[str, Any] | None:
    """Mine hard negatives into the pairs when asked (counts and miner, or None); say what the llamaindex
    engine ignores."""
    name, settings = job.name, job.settings
    hn = settings["hard_negatives"]
    llamaindex = settings["backend"] == "llamaindex"
    if llamaindex and settings["learning_rate"] != LLAMAINDEX_LR:
        log.warning(
            "fine-tune %s: the llamaindex engine trains at its fixed learning rate %g; learning_rate %g "
            "is ignored (use backend sentence-transformers)",
            name,
            LLAMAINDEX_LR,
            settings["learning_rate"],
        )
    if hn["enabled"] and llamaindex:
        log.warning(
            "fine-tune %s: the llamaindex engine trains on (query, positive) pairs: hard negatives "
            "are ignored (use backend sentence-transformers)",
            name,
        )
    if not hn["enabled"] or llamaindex:
        return None
    return mine_job_negatives(
        [data.pairs], data, hn, job.seed, model, job.base, job.miner, job.oracle, device
    )


def _run_backend(
    job: distributed.TrainingJob,
    model: Any | None,
    data: TrainingData,
    precision: str,
    device: str,
    train_len: int,
) -> tuple[Any, dict[str, Any]]:
    """Train with the configured backend (`model`: the base for sentence-transformers, None for llamaindex):
    the trained model and the run's facts (with the precision used).

    Out of memory becomes one line naming the knobs; the checkpoints folder never outlives the call.
    """
    import torch

    try:
        if job.settings["backend"] == "sentence-transformers":
            model.max_seq_length = train_len
            run = train_sentence_transformers(model, job, data, precision, device)
        else:
            model, run = train_llamaindex(job, data, device, train_len)
            precision = "fp32"  # fit() inside the engine runs without AMP
    except Exception as exc:
        if _is_oom(exc):
            raise _oom_error(job.name, job.settings, train_len, device) from exc
        raise
    finally:
        if distributed.is_main():  # rank 0 wrote them (the others read the best one, then passed a barrier)
            shutil.rmtree(job.workdir / CHECKPOINTS, ignore_errors=True)
        if device == "cuda":
            torch.cuda.empty_cache()
    return model, {**run, "precision": precision}


def _hyperparameters(
    settings: dict[str, Any], run: dict[str, Any], train_len: int, seed: int
) -> dict[str, Any]:
    return {
        "epochs": settings["epochs"],
        "batch_size": settings["batch_size"],
        "learning_rate": settings["learning_rate"]
        if settings["backend"] == "sentence-transformers"
        else LLAMAINDEX_LR,
        "warmup": settings["warmup"],
        "weight_decay": settings["weight_decay"],
        "max_steps": settings["max_steps"],
        "steps": run["steps"],
        "eval_steps": run["eval_steps"],
        "train_max_seq_length": train_len,
        "precision": run["precision"],
        "seed": seed,
        "dev_fraction": settings["dev_fraction"],
        "dev_corpus_size": settings["dev_corpus_size"],
        "max_pairs_per_query": settings["max_pairs_per_query"],
    }


def _oom_error(name: str, settings: dict[str, Any], train_len: int, device: str) -> EmbedlabError:
    where = "GPU memory" if device == "cuda" else "memory"
    return EmbedlabError(
        f"fine-tune {name}: out of {where} (batch_size {settings['batch_size']}, max_seq_length "
        f"{train_len}, loss {settings['loss']}): lower finetune.{name}.batch_size, set loss: cached_mnrl "
        "(memory of mini_batch_size, same in-batch negatives), or lower max_seq_length"
    )


def _is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def write_outputs(workdir: Path, facts: dict[str, Any]) -> None:
    """training.json and the README.md model card (replacing sentence-transformers' own card)."""
    io.write_json(workdir / filenames.TRAINING_FACTS, facts)
    io.write_text(workdir / filenames.MODEL_CARD, render_model_card(facts))
