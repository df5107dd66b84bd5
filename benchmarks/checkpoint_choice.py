"""Checkpoint choice on a sampled dev index against today's whole train side (issue 27 item 2).

The dev evaluation re-encodes its index at every evaluation, so its size sets the cost of choosing a
checkpoint. `finetune.<name>.dev_corpus_size` ranks the dev chunks plus a seeded sample of training chunks
instead of every train-side chunk. Does that pick the same checkpoint, or one at least as good on val?

For each dataset set, the default recipe (config.yaml's minilm-legal: GIST, 1 epoch, 128 tokens) is trained
twice with the same seed, once per index (dev_corpus_size null, then the sampled size), through the library
call the rule makes. Training does not depend on the evaluator (the loss curves are compared to show it), so
the two runs differ only in the checkpoint they keep. Each kept model's val MRR@10 comes from the
evaluation's own code (`selection.mean_scores`: exact search, no cache). Reads the train/val/chunk files of
a finished run (`--run`, e.g. a run of config/ablation.yaml, which has the default datasets and two test
corpora), writes into `--workdir`.

    .venv/bin/python benchmarks/checkpoint_choice.py --run /tmp/ablation --workdir /tmp/ckbench
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from embedlab.workflow.plan import Plan

REPO = Path(__file__).resolve().parents[1]
SETS = {
    "default (eu_ai_act/en + securities_law/zh)": ["eu_ai_act/en", "securities_law/zh"],
    "product_docs/en (docs folder)": ["product_docs/en"],
    "report_pdf/en (NIST PDFs)": ["report_pdf/en"],
}


def plan_for(size: int) -> Plan:
    """The ablation config's datasets with one fine-tune entry per (set, index): config.yaml's recipe."""
    from embedlab.workflow.plan import Plan

    config = yaml.safe_load((REPO / "config" / "ablation.yaml").read_text(encoding="utf-8"))
    recipe = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))["finetune"]["minilm-legal"]
    recipe = {k: v for k, v in recipe.items() if k not in ("datasets", "export_onnx")}
    config["finetune"] = {
        f"ck{i}-{tag}": {**copy.deepcopy(recipe), "datasets": sets, "dev_corpus_size": dev}
        for i, sets in enumerate(SETS.values())
        for tag, dev in (("all", None), (str(size), size))
    }
    config["corpus_root"] = str(REPO)  # the run's files are read from the workdir, the documents from here
    for key in ("merges", "rerankers", "guard"):
        config.pop(key, None)
    config["evaluation"] = {"rerank": [], "compression": {"models": []}}
    config["mteb"] = {"models": [], "custom_tasks": False}
    config["models"] = {k: v for k, v in config["models"].items() if v.get("kind") != "hybrid"}
    return Plan.of(config, REPO)


def train(plan: Plan, name: str) -> dict[str, Any]:
    """One fine-tune through the rule's library call; its training.json (reused when already trained)."""
    from embedlab.train.finetune import finetune
    from embedlab.workflow import layout

    out = Path(layout.model_dir(name))
    if not (out / "training.json").exists():
        finetune(name, out, plan.finetune_datasets(name), **plan.finetune_args(name), threads=os.cpu_count())
    return json.loads((out / "training.json").read_text(encoding="utf-8"))


def val_mrr(plan: Plan, name: str, datasets: list[str]) -> float:
    """The kept model's val MRR@10 over its datasets' queries together (query-weighted mean)."""
    from embedlab.evaluation.options import EvalOptions
    from embedlab.evaluation.qaset import load_qa
    from embedlab.evaluation.selection import mean_scores

    sets = {ds: load_qa(plan.datasets[ds].val) for ds in datasets}
    scores = mean_scores(plan.registry.spec(name), sets, "mrr@10", EvalOptions.default())
    n = {ds: len(qa.query_ids) for ds, qa in sets.items()}
    return sum(scores[ds] * n[ds] for ds in datasets) / sum(n.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--run", type=Path, required=True, help="a finished run with results/qa and results/chunks"
    )
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--size", type=int, default=256, help="the sampled index's size (dev_corpus_size)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    (args.workdir / "results").mkdir(parents=True, exist_ok=True)
    for part in ("qa", "chunks"):
        link = args.workdir / "results" / part
        if not link.exists():
            link.symlink_to((args.run / "results" / part).resolve())
    os.chdir(args.workdir)
    plan = plan_for(args.size)
    rows = []
    for i, (label, datasets) in enumerate(SETS.items()):
        runs = {}
        for tag in ("all", str(args.size)):
            name = f"ck{i}-{tag}"
            runs[tag] = (name, train(plan, name))
        (full, f_all), (capped, f_cap) = runs["all"], runs[str(args.size)]
        same_training = [c["loss"] for c in f_all["loss_curve"]] == [c["loss"] for c in f_cap["loss_curve"]]
        step_all, step_cap = f_all["selection"]["best_step"], f_cap["selection"]["best_step"]
        v_all = val_mrr(plan, full, datasets)
        v_cap = v_all if step_all == step_cap else val_mrr(plan, capped, datasets)
        curves = [" ".join(f"{p['mrr@10']:.3f}" for p in f["dev_curve"]) for f in (f_all, f_cap)]
        rows.append(
            f"| {label} | {f_all['selection']['dev_corpus']} / {f_cap['selection']['dev_corpus']} | "
            f"{curves[0]} / {curves[1]} | "
            f"{step_all} / {step_cap} | {v_all:.4f} / {v_cap:.4f} | "
            f"{f_all['training_time_s']:.0f} / {f_cap['training_time_s']:.0f} | "
            f"{'yes' if same_training else 'NO'} |"
        )
    print(
        "| dataset set | dev index (all / sampled) | dev MRR@10 at each evaluation | kept step | "
        "val MRR@10 of the kept model | training seconds (steps + dev evaluations) | same training |\n"
        "|---|---|---|---|---|---|---|"
    )
    print("\n".join(rows))


if __name__ == "__main__":
    main()
