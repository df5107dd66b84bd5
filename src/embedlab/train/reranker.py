"""Fine-tuning a reranker: sentence-transformers' CrossEncoderTrainer on train.json queries, each with its
positive and hard negatives that a retriever mined from the training chunks.

Split discipline is the bi-encoder's (embedlab.data.training_data): only train.json is read for training;
its dev slice (carved by chunk group) picks the checkpoint with a CrossEncoderRerankingEvaluator over the
retriever's top candidates among the train-side chunks; negatives come only from the training chunks (no
dev, no val chunk), and an assertion checks that no chunk relevant to a val query reaches training. The
model folder (README.md card + training.json) is built beside its final place and renamed at the end
(`io.atomic_dir`); `CrossEncoder(path)` loads it offline. Any embedding model kind can mine (BM25 too).
"""

from __future__ import annotations

import logging
import math
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embedlab import filenames, io
from embedlab.data.training_data import DatasetFiles, TrainingData, chunk_of, load_training_data
from embedlab.errors import EmbedlabError
from embedlab.models.embcache import open_encoder
from embedlab.models.rerank import load_cross_encoder
from embedlab.models.spec import ModelSpec, pick_device
from embedlab.train.common import (
    CHECKPOINTS,
    hardware,
    selection_args,
    set_seed,
    trainer_callbacks,
    versions,
)

log = logging.getLogger(__name__)

FORMAT = "embedlab.reranker-training/1"
LOSSES = {"bce": "BinaryCrossEntropyLoss", "lambda": "LambdaLoss", "listnet": "ListNetLoss"}
SELECTION_METRIC = "mrr@10"  # dev, reranking the retriever's top DEV_CANDIDATES train-side chunks
DEV_CANDIDATES = 10  # each dev evaluation scores dev queries x this many pairs: the run's main cost
DEV_EVALUATIONS = 2  # checkpoints compared on dev (the last step is always one)
POSITIVES_PER_QUERY = 1  # a heading query has dozens of chunks: one seeded positive keeps lists even
WARMUP = 0.1


@dataclass
class RerankExample:
    """One training query: its positive, the mined negatives, and every chunk it must never be negative to."""

    query_id: str
    query: str
    positive: str
    positive_chunk: str
    relevant: frozenset[str]
    negative_ids: list[str] = field(default_factory=list)
    negatives: list[str] = field(default_factory=list)


def finetune_reranker(
    datasets: list[DatasetFiles],
    out_dir: str | Path,
    *,
    base_source: str,
    loss: str,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    max_length: int,
    negatives: int,
    retriever: ModelSpec,
    dev_fraction: float,
    max_queries: int | None,
    seed: int,
    device: str,
    cache_dir: str | Path | None = None,
    name: str = "reranker",
) -> dict[str, Any]:
    """Train a cross-encoder from `base_source` (a cross-encoder, or a bi-encoder folder that gets a new
    one-score head) into `out_dir`; returns the facts written to `out_dir/training.json`.

    `max_queries` caps the training queries (a seeded sample; None = all): the knob that keeps CPU runs
    short. `cache_dir` is the embedding cache the retriever mines through.
    """
    if loss not in LOSSES:
        raise EmbedlabError(f"reranker {name}: loss {loss!r} unknown (allowed: {', '.join(LOSSES)})")
    if negatives < 1:
        raise EmbedlabError(f"reranker {name}: negatives is {negatives}: use at least 1 per query")
    started = time.monotonic()
    device = pick_device(device)
    set_seed(seed)
    data = load_training_data(datasets, dev_fraction, POSITIVES_PER_QUERY, seed)
    examples = _examples(data, max_queries, seed)
    if len(examples) < max(batch_size, 2):
        raise EmbedlabError(
            f"reranker {name}: {len(examples)} training queries, fewer than one batch of {batch_size}: "
            "lower batch_size or dev_fraction, or add documents/queries"
        )
    t0 = time.monotonic()
    dev_docs = mine(examples, data, retriever, negatives, device, cache_dir)
    mining_s = time.monotonic() - t0
    assert_no_val_chunks(examples, data)
    with io.atomic_dir(out_dir) as workdir:
        model = load_cross_encoder(base_source, device, name=name, max_length=max_length, num_labels=1)
        evaluator = _dev_evaluator(data, dev_docs, batch_size)
        run = _train(
            model, examples, loss, epochs, batch_size, learning_rate, evaluator, seed, device, workdir
        )
        dev = _dev_metrics(evaluator, model)
        model.save(str(workdir))
        facts = {
            "format": FORMAT,
            "name": name,
            "path": str(out_dir),
            "base": base_source,
            "retriever": retriever.name,
            "loss": LOSSES[loss],
            "datasets": data.stats,
            "training_queries": len(examples),
            "training_pairs": len(examples) * (1 + negatives),
            "hyperparameters": {
                "epochs": epochs,
                "batch_size": batch_size,
                "learning_rate": learning_rate,
                "warmup": WARMUP,
                "max_length": max_length,
                "negatives": negatives,
                "positives_per_query": POSITIVES_PER_QUERY,
                "max_queries": max_queries,
                "dev_fraction": dev_fraction,
                "seed": seed,
            },
            "dev": dev,
            **run,
            "mining_time_s": round(mining_s, 2),
            "hardware": hardware(device, "fp32"),
            "versions": versions(),
        }
        facts["total_time_s"] = round(time.monotonic() - started, 2)
        io.write_json(workdir / filenames.TRAINING_FACTS, facts)
        io.write_text(workdir / filenames.MODEL_CARD, render_card(facts))
    log.info("reranker %s: wrote %s (%.1f s)", name, out_dir, facts["total_time_s"])
    return facts


def _examples(data: TrainingData, max_queries: int | None, seed: int) -> list[RerankExample]:
    """One example per training query (its one sampled positive), capped by a seeded sample."""
    examples = [
        RerankExample(p.query_id, p.query, p.positive, p.chunk_id, p.relevant_chunks) for p in data.pairs
    ]
    if max_queries and len(examples) > max_queries:
        keep = sorted(random.Random(seed).sample(range(len(examples)), max_queries))
        examples = [examples[i] for i in keep]
    return examples


def _top(encoder: Any, queries: list[str], pool_texts: list[str], n: int, block: int = 256) -> np.ndarray:
    """Indices of each query's `n` best pool texts by the retriever's score, best first (ties: pool order)."""
    d = encoder.encode_corpus(pool_texts)  # lexical models need the corpus before the queries
    q = encoder.encode_queries(queries)
    n = min(n, len(pool_texts))
    out = []
    for start in range(0, len(queries), block):
        s = q[start : start + block] @ d.T
        s = np.asarray(s.toarray() if hasattr(s, "toarray") else s, dtype=np.float32)
        part = np.argpartition(-s, n - 1, axis=1)[:, :n]
        for row, cand in zip(s, part, strict=True):
            out.append(cand[np.lexsort((cand, -row[cand]))])
    return np.stack(out) if out else np.zeros((0, n), dtype=np.int64)


def mine(
    examples: list[RerankExample],
    data: TrainingData,
    retriever: ModelSpec,
    num: int,
    device: str,
    cache_dir: str | Path | None,
) -> dict[str, list[str]]:
    """Fill each example's `negatives` with the retriever's best training chunks that are not relevant to
    it and do not hold the query text (an overlapping neighbour of an ICT chunk); returns the dev queries'
    top DEV_CANDIDATES among all train-side chunks (the dev evaluator's documents), by query id."""
    pool_ids = sorted(data.train_chunks)
    if len(pool_ids) < num + 2:
        raise EmbedlabError(f"reranker: only {len(pool_ids)} training chunks to mine from: lower negatives")
    dev_ids = sorted(data.dev_queries)
    dev_pool = sorted(data.dev_corpus)
    enc = open_encoder(retriever, device, cache_dir)
    try:
        spare = num + max(len(e.relevant) for e in examples) + 8
        top = _top(enc, [e.query for e in examples], [data.train_chunks[c] for c in pool_ids], spare)
        dev_top = _top(enc, [data.dev_queries[q] for q in dev_ids], [data.dev_corpus[c] for c in dev_pool],
                       DEV_CANDIDATES) if dev_ids else np.zeros((0, 0), dtype=np.int64)  # fmt: skip
    finally:
        enc.close()
    rng = random.Random(0)
    fills = 0
    for ex, cand in zip(examples, top, strict=True):
        query = _norm(ex.query)
        ok = [pool_ids[i] for i in cand if pool_ids[i] not in ex.relevant]
        chosen = [c for c in ok if query not in _norm(data.train_chunks[c])][:num]
        if len(chosen) < num:  # rare: every near chunk overlaps the query; seeded random training chunks
            rest = [c for c in pool_ids if c not in ex.relevant and c not in chosen]
            fills += num - len(chosen)
            chosen += rng.sample(rest, num - len(chosen))
        ex.negative_ids = chosen
        ex.negatives = [data.train_chunks[c] for c in chosen]
    log.info("reranker negatives: %d per query mined by %s, %d random fills", num, retriever.name, fills)
    return {q: [data.dev_corpus[dev_pool[i]] for i in row] for q, row in zip(dev_ids, dev_top, strict=True)}


def _norm(text: str) -> str:
    return "".join(text.split()).lower()


def assert_no_val_chunks(examples: list[RerankExample], data: TrainingData) -> None:
    """No chunk relevant to a val query (nor a dev chunk) is a training positive or negative; the split and
    the pool guarantee it, this proves it for every run."""
    val_ids = {chunk_of(c) for v in data.val.values() for ids in v["relevant_docs"].values() for c in ids}
    used = {c for e in examples for c in [e.positive_chunk, *e.relevant, *e.negative_ids]}
    leaked = used & (val_ids | data.dev_chunk_ids)
    if leaked:
        raise EmbedlabError(
            f"reranker: {len(leaked)} val/dev chunks (e.g. {sorted(leaked)[0]}) reached the training rows: "
            "rerun the split rule"
        )


def _dataset(examples: list[RerankExample], loss: str) -> Any:
    """BCE: (query, text, label) rows; listwise losses: (query, [positive, negatives...], [1, 0, ...])."""
    from datasets import Dataset

    if loss == "bce":
        rows = [
            (e.query, t, float(i == 0)) for e in examples for i, t in enumerate([e.positive, *e.negatives])
        ]
        return Dataset.from_dict(
            {"query": [r[0] for r in rows], "text": [r[1] for r in rows], "label": [r[2] for r in rows]}
        )
    return Dataset.from_dict(
        {
            "query": [e.query for e in examples],
            "docs": [[e.positive, *e.negatives] for e in examples],
            "labels": [[1.0] + [0.0] * len(e.negatives) for e in examples],
        }
    )


def _loss(model: Any, loss: str) -> Any:
    from sentence_transformers.cross_encoder import losses

    return getattr(losses, LOSSES[loss])(model)


def _dev_evaluator(data: TrainingData, dev_docs: dict[str, list[str]], batch_size: int) -> Any:
    """Dev queries: rerank the retriever's top DEV_CANDIDATES train-side chunks (positives always in)."""
    from sentence_transformers.cross_encoder.evaluation import CrossEncoderRerankingEvaluator

    if not dev_docs:
        return None
    samples = [
        {
            "query": data.dev_queries[q],
            "positive": [data.dev_corpus[c] for c in sorted(data.dev_relevant[q])],
            "documents": docs,
        }
        for q, docs in dev_docs.items()
    ]
    return CrossEncoderRerankingEvaluator(
        samples, at_k=10, name="dev", batch_size=batch_size, write_csv=False
    )


def _dev_metrics(evaluator: Any, model: Any) -> dict[str, Any]:
    """The selected model on dev, and the retriever's own order on the same candidates (`base_*`)."""
    if evaluator is None:
        return {"queries": 0}
    scores = evaluator(model)
    return {
        "queries": len(evaluator.samples),
        **{k.removeprefix("dev_"): float(v) for k, v in scores.items()},
    }


def _train(
    model: Any,
    examples: list[RerankExample],
    loss: str,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    evaluator: Any,
    seed: int,
    device: str,
    workdir: Path,
) -> dict[str, Any]:
    """CrossEncoderTrainer; with a dev slice the best dev checkpoint is kept (load_best_model_at_end)."""
    from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments
    from transformers import PrinterCallback

    dataset = _dataset(examples, loss)
    total = math.ceil(len(dataset) / batch_size) * epochs
    eval_steps = max(1, math.ceil(total / DEV_EVALUATIONS))
    selecting = evaluator is not None
    args = CrossEncoderTrainingArguments(
        output_dir=str(workdir / CHECKPOINTS),
        num_train_epochs=epochs,
        per_device_train_batch_size=batch_size,
        learning_rate=learning_rate,
        warmup_steps=WARMUP,
        use_cpu=device == "cpu",
        **selection_args(eval_steps, selecting, seed, SELECTION_METRIC),
        logging_steps=max(1, total // 20),
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    progress, at_end = trainer_callbacks()  # at_end: the last step is a checkpoint candidate too
    trainer = CrossEncoderTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        loss=_loss(model, loss),
        evaluator=evaluator,
        callbacks=[progress, at_end],
    )
    trainer.remove_callback(PrinterCallback)
    log.info("reranker: %d rows x %d epochs, batch %d, %d steps, loss %s", len(dataset), epochs, batch_size,
             total, LOSSES[loss])  # fmt: skip
    t0 = time.monotonic()
    try:
        trainer.train()
    finally:
        shutil.rmtree(workdir / CHECKPOINTS, ignore_errors=True)
    best = trainer.state.best_model_checkpoint
    history = trainer.state.log_history
    return {
        "training_time_s": round(time.monotonic() - t0, 2),
        "steps": trainer.state.global_step,
        "selection": {
            "metric": f"dev {SELECTION_METRIC}" if selecting else None,
            "best_step": int(best.rsplit("-", 1)[1]) if best else trainer.state.global_step,
            "best_score": trainer.state.best_metric,
        },
        "loss_curve": [
            {k: h[k] for k in ("step", "epoch", "loss") if k in h} for h in history if "loss" in h
        ],
        "dev_curve": [
            {
                "step": h.get("step"),
                **{k.removeprefix("eval_dev_"): v for k, v in h.items() if "eval_dev_" in k},
            }
            for h in history
            if any("eval_dev_" in k for k in h)
        ],
    }


def render_card(facts: dict[str, Any]) -> str:
    """README.md: what the reranker was trained on, how, and how it does on the dev slice."""
    hp, dev, sel = facts["hyperparameters"], facts["dev"], facts["selection"]
    rows = "\n".join(
        f"| {ds} | {s['train_queries']} | {s['dev_queries']} | {s['val_queries']} |"
        for ds, s in facts["datasets"].items()
    )
    dev_line = (
        f"Dev slice ({dev['queries']} queries, {DEV_CANDIDATES} candidates each from `{facts['retriever']}` "
        f"among the train-side chunks, positives always included): MRR@10 {dev.get('mrr@10', 0):.4f} "
        f"reranked vs {dev.get('base_mrr@10', 0):.4f} in the retriever's order; NDCG@10 "
        f"{dev.get('ndcg@10', 0):.4f} vs {dev.get('base_ndcg@10', 0):.4f}."
        if dev.get("queries")
        else "No dev slice (dev_fraction 0): the last step is kept."
    )
    return "\n".join(
        [
            "---",
            "library_name: sentence-transformers",
            "pipeline_tag: text-ranking",
            f"base_model: {facts['base']}",
            "tags: [sentence-transformers, cross-encoder, reranker, embedlab]",
            "---",
            "",
            f"# {facts['name']}",
            "",
            f"A reranker (cross-encoder, one score per query–chunk pair) fine-tuned by embedlab from "
            f"`{facts['base']}` with `{facts['loss']}` on synthetic queries. Load offline with "
            f'`CrossEncoder("{facts["path"]}")`.',
            "",
            "## Training data",
            "",
            "| dataset | train.json queries | dev queries | val queries (never used here) |",
            "|---|---|---|---|",
            rows,
            "",
            f"{facts['training_queries']} training queries, each with {POSITIVES_PER_QUERY} positive and "
            f"{hp['negatives']} hard negatives mined by `{facts['retriever']}` from the training chunks only "
            f"(no dev or val chunk); {facts['training_pairs']} pairs in all. The dev slice is carved out of "
            "train.json by chunk group and selects the checkpoint; val.json is never read for training.",
            "",
            "## Training",
            "",
            "| setting | value |",
            "|---|---|",
            *[f"| {k} | {v} |" for k, v in hp.items()],
            f"| selection | {sel['metric']} (best step {sel['best_step']}) |",
            f"| training time (s) | {facts['training_time_s']} |",
            f"| total time (s) | {facts['total_time_s']} |",
            "",
            "## Dev metrics",
            "",
            dev_line,
            "",
            "Hardware: " + ", ".join(f"{k} {v}" for k, v in facts["hardware"].items()) + ".",
            "Versions: " + ", ".join(f"{k} {v}" for k, v in facts["versions"].items()) + ".",
            "",
        ]
    )
