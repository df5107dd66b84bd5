"""What the report rules read and write for a config: the evaluation runs, provenance and split files,
model folders and MTEB results they summarise, and the plots worth drawing (computed when the workflow is
parsed; rules/report.smk and the default target use it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from embedlab.report.plots import FORMATS
from embedlab.workflow import plan as eval_plan
from embedlab.workflow.config import corpus_languages
from embedlab.workflow.settings import Settings

REPORT_DIR = "results/report"
# name -> (caption file under report/, category in Snakemake's HTML report); the order plots are listed in.
PLOTS: dict[str, tuple[str, str]] = {
    "mrr_heatmap": ("mrr_heatmap.rst", "Retrieval"),
    "finetune_vs_base": ("finetune_vs_base.rst", "Fine-tuning"),
    "cost_quality": ("cost_quality.rst", "Retrieval"),
    "rank_distribution": ("rank_distribution.rst", "Retrieval"),
    "mteb_scores": ("mteb_scores.rst", "MTEB"),
    "loss_curves": ("loss_curves.rst", "Fine-tuning"),
}


@dataclass
class ReportPlan:
    """What the report rules read and write for a config (computed when the workflow is parsed)."""

    models: list[str]
    runs: list[tuple[str, str, str]]  # (model, corpus, lang or "src-tgt")
    provenance: list[str]
    splits: list[str]  # split.json per dataset: the label checks of the trust section
    model_dirs: list[str]
    mteb: list[str]
    bases: dict[str, str]
    plots: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def eval_csvs(self) -> list[str]:
        return [f"results/eval/{m}/{c}/{lang}.csv" for m, c, lang in self.runs]

    @property
    def query_csvs(self) -> list[str]:
        return [f"results/eval/{m}/{c}/{lang}.queries.csv" for m, c, lang in self.runs]


def plan(config: dict[str, Any]) -> ReportPlan:
    """Inputs and plot list of the report; plots without data in this config are left out (with a note)."""
    settings = Settings.of(config)
    pairs = corpus_languages(config)
    models = eval_plan.eval_models(config) if settings.evaluation.enabled else []
    runs = [(m, c, lang) for m in models for c, lang in pairs]
    runs += [(m, c, f"{a}-{b}") for m in models for c, a, b in eval_plan.crosslingual_pairs(config)]
    finetunes = config["finetune"]
    bases = {m: finetunes[m]["base"] for m in models if m in finetunes}
    mteb_models = eval_plan.mteb_models(config) if settings.mteb.enabled else []
    mteb_files = [f"results/mteb/{m}/{t}.json" for m in mteb_models for t in eval_plan.mteb_tasks(config)]
    trained = [m for m in finetunes if m in models or m in mteb_models]
    notes = []
    plots = ["mrr_heatmap"]
    if any(b in models for b in bases.values()):
        plots.append("finetune_vs_base")
    else:
        notes.append(
            "No fine-tuned model was evaluated next to its base model (config `finetune:`), so there is "
            "no base-vs-fine-tuned plot and no paired test."
        )
    plots += ["cost_quality", "rank_distribution"]
    if mteb_files:
        plots.append("mteb_scores")
    else:
        notes.append("MTEB was not run (config `mteb.enabled: false` or no tasks), so there is no MTEB plot.")
    if trained:
        plots.append("loss_curves")
    notes += [
        f"Fine-tune `{name}` was exported, not trained (backend autotrain, `autotrain.run: false`): its "
        f"AutoTrain data and config are in results/models/{name}/autotrain; it is not evaluated, run through "
        "MTEB or published."
        for name in eval_plan.exported_only(config)
    ]
    return ReportPlan(
        models=list(dict.fromkeys([*models, *mteb_models])),
        runs=runs,
        provenance=[f"results/qa/{c}/{lang}/provenance.json" for c, lang in pairs] if runs else [],
        splits=[f"results/qa/{c}/{lang}/split.json" for c, lang in pairs] if runs else [],
        model_dirs=[f"results/models/{m}" for m in trained],
        mteb=mteb_files,
        bases=bases,
        plots=plots if runs else [],
        notes=notes,
    )


def plot_paths(name: str, out_dir: str = REPORT_DIR) -> dict[str, str]:
    return {fmt: f"{out_dir}/plots/{name}.{fmt}" for fmt in FORMATS}


def plot_outputs(plan: ReportPlan, report: Any) -> dict[str, Any]:
    """Named outputs of rule `plots`: each plot's SVG, and its PNG wrapped in Snakemake's `report()` (shown in
    the HTML report with its caption from report/*.rst, under its category)."""
    out: dict[str, Any] = {}
    for name in plan.plots:
        caption, category = PLOTS[name]
        paths = plot_paths(name)
        out[f"{name}_svg"] = paths["svg"]
        out[f"{name}_png"] = report(
            paths["png"], caption=f"../report/{caption}", category=category, labels={"plot": name}
        )
    return out


def targets(config: dict[str, Any]) -> list[str]:
    """The report's files (for the default target): summary.csv, summary.md and every planned plot."""
    p = plan(config)
    if not p.runs:
        return []
    return [
        f"{REPORT_DIR}/summary.csv",
        f"{REPORT_DIR}/summary.md",
        *(path for name in p.plots for path in plot_paths(name).values()),
    ]
