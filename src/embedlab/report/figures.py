"""Rule `draw_plots`: each requested figure from summary.csv and the per-query, training and MTEB files; the
figures themselves (and their saver, `save_figure`) are in `embedlab.report.plots`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedlab.errors import EmbedlabError
from embedlab.report import deploy, plots
from embedlab.report.summary import headline, mteb_results, read_queries, training_facts
from embedlab.settings import schema_default

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

# Report plots: name -> (caption file under report/, category in Snakemake's HTML report), in report order.
PLOTS: dict[str, tuple[str, str]] = {
    "mrr_heatmap": ("mrr_heatmap.rst", "Retrieval"),
    "finetune_vs_base": ("finetune_vs_base.rst", "Fine-tuning"),
    "deploy_frontier": ("deploy_frontier.rst", "Deployment"),
    "rank_distribution": ("rank_distribution.rst", "Retrieval"),
    "mteb_scores": ("mteb_scores.rst", "MTEB"),
    "loss_curves": ("loss_curves.rst", "Fine-tuning"),
}


def _rank_frame(summary: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    parts = []
    for r in summary[~summary["crosslingual"]].itertuples():
        q = read_queries(r.queries_file).reset_index()[["query_id", "first_rank", "reciprocal_rank"]]
        parts.append(q.assign(model=r.model, corpus=r.corpus, lang=r.lang))
    return pd.concat(parts, ignore_index=True)


def _curve_frames(training: dict[str, dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    import pandas as pd

    loss = [
        {"model": name, "step": p.get("step"), "loss": p.get("loss")}
        for name, f in training.items()
        for p in f.get("loss_curve") or []
        if p.get("loss") is not None
    ]
    dev = [
        {"model": name, "step": p.get("step"), "mrr@10": p.get("mrr@10")}
        for name, f in training.items()
        for p in f.get("dev_curve") or []
        if p.get("mrr@10") is not None
    ]
    return pd.DataFrame(loss, columns=["model", "step", "loss"]), pd.DataFrame(
        dev, columns=["model", "step", "mrr@10"]
    )


def make_plots(
    summary_csv: str | Path,
    outputs: dict[str, dict[str, str | Path]],
    *,
    model_dirs: Sequence[str | Path] = (),
    mteb: Sequence[str | Path] = (),
    deploy_csv: str | Path | None = None,
    models: Sequence[str] = (),
    metric: str = schema_default("report", "metric"),
    dpi: int = schema_default("report", "dpi"),
) -> dict[str, Figure]:
    """Rule `draw_plots`: each requested plot ({name: {format: path}}) from summary.csv and the per-query,
    training and MTEB files. A plot whose data is missing becomes a figure that says so."""
    import pandas as pd

    summary = pd.read_csv(
        summary_csv, dtype={"base_model": str}, keep_default_na=False, na_values=[""]
    ).fillna({"base_model": ""})
    summary["crosslingual"] = summary["crosslingual"].astype(str).str.lower().eq("true")
    if "query_set" in summary.columns:  # real questions: their own column of every per-dataset plot
        real = summary["query_set"] == "real"
        summary.loc[real, "lang"] = summary.loc[real, "lang"].astype(str) + " real"
    metric = headline(list(summary.columns), metric)
    order = list(dict.fromkeys([*models, *summary["model"]]))
    figures: dict[str, Figure] = {}
    for name, paths in outputs.items():
        if name not in PLOTS:
            raise EmbedlabError(f"plots: unknown plot {name!r} (known: {', '.join(PLOTS)})")
        fig = _one_plot(name, summary, metric, order, model_dirs, mteb, deploy_csv)
        plots.save_figure(fig, paths, dpi)
        figures[name] = fig
        log.info("plot %s -> %s", name, ", ".join(map(str, paths.values())))
    return figures


def _one_plot(
    name: str,
    summary: pd.DataFrame,
    metric: str,
    order: list[str],
    model_dirs: Sequence[str | Path],
    mteb: Sequence[str | Path],
    deploy_csv: str | Path | None,
) -> Figure:
    import pandas as pd

    if name == "mrr_heatmap":
        return plots.mrr_heatmap(summary, metric, order)
    if name == "deploy_frontier":
        if deploy_csv is None:
            return plots.note_figure("What to deploy", "No deploy.csv was given (rule summarize_results).")
        table = pd.read_csv(deploy_csv, keep_default_na=False, na_values=[""])
        return deploy.deploy_figure(table, metric, order)
    if name == "rank_distribution":
        return plots.rank_distribution(_rank_frame(summary), order)
    if name == "finetune_vs_base":
        ft = summary[(summary["base_model"] != "") & ~summary["crosslingual"]]
        if ft.empty or not ft["base_model"].isin(summary["model"]).any():
            return plots.note_figure(
                "Fine-tuned vs base", "No fine-tuned model was evaluated next to its base model."
            )
        return plots.finetune_bars(summary, metric, order)
    if name == "mteb_scores":
        docs = mteb_results(mteb)
        ok = pd.DataFrame(
            [
                {"model": d["model"], "task": d["task"], "main_score": d["main_score"]}
                for d in docs
                if d.get("status") == "ok" and d.get("main_score") is not None
            ]
        )
        if ok.empty:
            why = (
                "; ".join(sorted({f"{d.get('task')}: {d.get('status')}" for d in docs})) or "no MTEB results"
            )
            return plots.note_figure("MTEB main score per task", f"No MTEB task produced a score ({why}).")
        return plots.mteb_scores(ok, order)
    if name == "loss_curves":
        loss, dev = _curve_frames(training_facts(model_dirs))
        if loss.empty:
            return plots.note_figure(
                "Training loss",
                "No training loss was logged (no fine-tuned model trained here, "
                "or the autotrain backend exported without training).",
            )
        return plots.loss_curves(loss, dev, order)
    raise AssertionError(name)
