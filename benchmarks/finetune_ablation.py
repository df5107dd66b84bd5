"""The training-lever ablation (issue 25): config/ablation.yaml through the workflow, then one table.

Each lever is a `finetune` entry of config/ablation.yaml (three seeds, a step budget, 128-token training
texts) trained on the default datasets and two more document sets; the workflow evaluates every seed like any
model, so the run is resumable (one model folder and one evaluation CSV per lever x seed x dataset: a stopped
run continues where it stopped) and the table is read from the report it ends in:

    .venv/bin/python benchmarks/finetune_ablation.py --workdir /tmp/ablation     # runs, then prints the table
    .venv/bin/python benchmarks/finetune_ablation.py --workdir /tmp/ablation --table-only
    .venv/bin/python benchmarks/finetune_ablation.py --workdir /tmp/loss --config config/ablation-default.yaml

Per lever and dataset: val MRR@10 of the first seed with its 95 % interval, the mean and standard deviation
across seeds, the same on real questions where the dataset has them, training seconds, and the release gate's
verdict; the baselines (base, BM25) for reference. The wall time of the workflow run is printed at the end.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config" / "ablation.yaml"


def run_workflow(workdir: Path, cores: int, config: Path = CONFIG) -> float:
    """snakemake on an ablation config in `workdir` (documents read from the checkout); wall seconds."""
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(Path(sys.executable).parent / "snakemake"),
        "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(workdir),
        "--configfile", str(config),
        "--config", f"corpus_root={REPO}",
        "--cores", str(cores),
        "--resources", "gpu=1",
        "--rerun-incomplete",
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "EMBEDLAB_CORPUS_ROOT": ""}
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, env=env)
    return time.monotonic() - t0


def lever_of(model: str) -> tuple[str, str]:
    """(lever, seed label) of a model: `nofn.seed2` -> (nofn, seed2); `nofn` is its entry's first seed."""
    lever, _, rest = model.partition(".seed")
    return (lever, f"seed{rest}") if rest else (model, "first")


def partial_summary(workdir: Path) -> pd.DataFrame:
    """What a stopped run has scored so far, in summary.csv's columns the table reads: each evaluation CSV
    (`{lang}.csv` val, `{lang}.real.csv` real questions) with its model's training seconds."""
    import json

    import pandas as pd

    frames = []
    for path in sorted((workdir / "results/eval").glob("*/*/*.csv")):
        if path.name.endswith(".queries.csv") or "-" in path.name.split(".")[0]:
            continue  # per-query files, cross-lingual runs
        row = (
            pd.read_csv(path).iloc[:1].assign(query_set="real" if path.name.endswith(".real.csv") else "val")
        )
        facts = workdir / "results/models" / str(row["model"].iloc[0]) / "training.json"
        seconds = json.loads(facts.read_text())["training_time_s"] if facts.is_file() else float("nan")
        frames.append(row.assign(training_seconds=seconds, crosslingual=False))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def table(workdir: Path) -> str:
    """The ablation table in Markdown, from the run's summary.csv and release.csv; from the evaluation CSVs
    written so far when the run has not reached its report (no verdicts then)."""
    import pandas as pd

    report = workdir / "results/report"
    if (report / "summary.csv").is_file():
        summary = pd.read_csv(report / "summary.csv", keep_default_na=False, na_values=[""])
        release = pd.read_csv(report / "release.csv", keep_default_na=False)
    else:
        summary, release = (
            partial_summary(workdir),
            pd.DataFrame(columns=["model", "corpus", "lang", "verdict"]),
        )
        if summary.empty:
            return "(no evaluation written yet)"
    summary = summary[~summary["crosslingual"].astype(str).str.lower().eq("true")]
    summary[["lever", "seed"]] = [lever_of(m) for m in summary["model"]]
    verdicts = {(r.model, r.corpus, r.lang): r.verdict for r in release.itertuples()}
    rows = []
    for (lever, corpus, lang), group in summary.groupby(["lever", "corpus", "lang"], sort=False):
        cells = [lever, f"{corpus}/{lang}"]
        for query_set in ("val", "real"):
            part = group[group["query_set"] == query_set]
            if part.empty:
                cells.append("–")
                continue
            firsts = part[part["seed"] == "first"]  # a stopped run may lack it: then another seed's
            first = (firsts if len(firsts) else part).iloc[0]
            ci = f"{first['mrr@10']:.3f} [{first['mrr@10_lo']:.3f}, {first['mrr@10_hi']:.3f}]"
            spread = f" · {part['mrr@10'].mean():.3f} ± {part['mrr@10'].std():.3f} ({len(part)} seeds)"
            cells.append(ci + (spread if len(part) > 1 else ""))
        seconds = group[group["query_set"] == "val"]["training_seconds"].dropna()
        cells.append(f"{seconds.mean():.0f}" if len(seconds) else "–")
        cells.append(verdicts.get((lever, corpus, lang), ""))
        rows.append(cells)
    header = ["lever", "dataset", "val MRR@10 [95 % CI] · seeds mean ± sd", "real MRR@10", "train s"]
    header.append("verdict")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in sorted(rows, key=lambda r: (r[1], r[0]))]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/embedlab-ablation"))
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--config", type=Path, default=CONFIG, help="e.g. config/ablation-default.yaml")
    parser.add_argument("--table-only", action="store_true", help="only read a finished (or partial) run")
    args = parser.parse_args()
    wall = None if args.table_only else run_workflow(args.workdir, args.cores, args.config)
    text = table(args.workdir)
    (args.workdir / "ablation.md").write_text(text + "\n", encoding="utf-8")
    print(text)
    if wall is not None:
        print(f"\nworkflow wall time: {wall / 60:.1f} min on {args.cores} cores")


if __name__ == "__main__":
    main()
