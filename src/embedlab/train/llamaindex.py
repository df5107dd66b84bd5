"""The llamaindex backend: the tutorial's SentenceTransformersFinetuneEngine, with the dev slice as its
val_dataset (it keeps the model of best dev nDCG@10)."""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator
from typing import Any

from embedlab.data.training_data import TrainingData
from embedlab.models.sources import resolve_model_source
from embedlab.models.spec import ModelSpec
from embedlab.train.common import (
    CHECKPOINTS,
    DEFAULT_EVALUATIONS,
    build_loss,
    curves,
    set_seed,
    trainer_callbacks,
)
from embedlab.train.distributed import TrainingJob

log = logging.getLogger(__name__)

LLAMAINDEX_LR = 2e-5  # SentenceTransformer.fit's default, which the engine does not let us change


@contextlib.contextmanager
def _extra_trainer_callback(callback: Any) -> Iterator[None]:
    """Attach a callback to every Trainer built inside the block (fit() builds its own, out of reach)."""
    import transformers.trainer as hf_trainer

    hf_trainer.DEFAULT_CALLBACKS.append(callback)
    try:
        yield
    finally:
        hf_trainer.DEFAULT_CALLBACKS.remove(callback)


def train_llamaindex(
    job: TrainingJob, data: TrainingData, device: str, train_len: int
) -> tuple[Any, dict[str, Any]]:
    """The tutorial's SentenceTransformersFinetuneEngine, with the dev slice as its val_dataset."""
    from llama_index.finetuning import SentenceTransformersFinetuneEngine
    from sentence_transformers import SentenceTransformer
    from torch.utils.data import DataLoader

    spec, settings, workdir = job.base, job.settings, job.workdir
    base_path = resolve_model_source(spec.source or "")  # before the chdir below (a relative source)
    train_ds, dev_ds = _qa_datasets(data, spec, data.dev_index(settings["dev_corpus_size"], job.seed))
    bs = settings["batch_size"]
    n_batches = math.ceil(len(data.pairs) / bs)
    total = min(settings["max_steps"] or n_batches * settings["epochs"], n_batches * settings["epochs"])
    eval_steps = settings["eval_steps"] or max(1, math.ceil(total / DEFAULT_EVALUATIONS))
    set_seed(job.seed)
    scratch = workdir / CHECKPOINTS
    scratch.mkdir()
    with contextlib.chdir(scratch):  # fit() puts a checkpoints/ folder in the working directory
        engine = SentenceTransformersFinetuneEngine(
            train_ds,
            model_id=base_path,
            model_output_path=str(workdir),
            batch_size=bs,
            val_dataset=dev_ds,
            epochs=settings["epochs"],
            show_progress_bar=False,
            evaluation_steps=eval_steps,
            use_all_docs=True,
            trust_remote_code=spec.trust_remote_code,
            device=device,
        )
        engine.model.max_seq_length = train_len
        engine.loss = build_loss(engine.model, settings)
        if settings["max_steps"]:  # the engine has no step limit: train on the first max_steps batches
            engine.examples = engine.examples[: settings["max_steps"] * bs]
            engine.loader = DataLoader(engine.examples, batch_size=bs)
        warmup = settings["warmup"]
        engine.warmup_steps = int(warmup * total) if warmup < 1 else int(warmup)
        progress, _ = trainer_callbacks(log_every=max(1, total // 50))
        log.info(
            "llamaindex engine: %d pairs x %d epochs, batch %d, dev eval every %d steps",
            len(engine.examples),
            settings["epochs"],
            bs,
            eval_steps,
        )
        t0 = time.monotonic()
        with _extra_trainer_callback(progress):
            engine.finetune()
        train_time = time.monotonic() - t0
    loss_curve, dev_curve = curves(progress.history)
    best = max(dev_curve, key=lambda r: r.get("ndcg@10", float("-inf")), default=None)
    model = SentenceTransformer(str(workdir), device=device)  # the engine saved its best (dev nDCG@10) model
    return model, {
        "training_time_s": train_time,
        "steps": progress.history[-1].get("step") if progress.history else None,
        "epochs_run": float(progress.history[-1].get("epoch") or 0) if progress.history else 0.0,
        "eval_steps": eval_steps if dev_ds else None,
        "selection": {
            "metric": "dev cosine_ndcg@10 (llama-index engine)" if dev_ds else None,
            "best_step": best["step"] if best else None,
            "best_score": best.get("ndcg@10") if best else None,
        },
        "loss_curve": loss_curve,
        "dev_curve": dev_curve,
    }


def _qa_datasets(data: TrainingData, spec: ModelSpec, index: dict[str, str]) -> tuple[Any, Any]:
    """The engine's training set (the pairs) and dev set (None without a dev slice; its corpus `index`),
    prefixes applied."""
    from llama_index.finetuning import EmbeddingQAFinetuneDataset

    qp, pp = spec.query_prefix, spec.passage_prefix
    queries: dict[str, str] = {}
    corpus: dict[str, str] = {}
    relevant: dict[str, list[str]] = {}
    for p in data.pairs:
        queries[p.query_id] = qp + p.query
        corpus[p.positive_id] = pp + p.positive
        relevant.setdefault(p.query_id, []).append(p.positive_id)
    train_ds = EmbeddingQAFinetuneDataset(queries=queries, corpus=corpus, relevant_docs=relevant)
    dev_ds = None
    if data.dev_queries:
        dev_ds = EmbeddingQAFinetuneDataset(
            queries={q: qp + t for q, t in data.dev_queries.items()},
            corpus={c: pp + t for c, t in index.items()},
            relevant_docs={q: sorted(ids) for q, ids in data.dev_relevant.items()},
        )
    return train_ds, dev_ds
