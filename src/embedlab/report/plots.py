"""The report's figures, and their styling in one place.

Every figure function takes tidy pandas frames and returns a matplotlib `Figure` (built without pyplot, so
no global state and no display is needed), which tests inspect and `save_figure` writes as PNG and SVG.
Change the look of every plot here: `THEME`, `model_colors`, `DPI`, `save_figure`.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedlab import io
from embedlab.settings import schema_default

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

# ---------------------------------------------------------------------------------------------- style
THEME: dict[str, Any] = {
    "context": "notebook",
    "style": "whitegrid",
    "font_scale": 0.9,
    "rc": {"axes.titleweight": "bold", "axes.titlesize": 11, "figure.titlesize": 13, "legend.frameon": False},
}
PALETTE = "colorblind"  # seaborn palette for models; fixed order = the order models are listed in the config
PALETTE_SIZE = 10  # distinct colours in PALETTE; more models than that switch to evenly spaced "husl" hues
HEATMAP_CMAP = "viridis"
DPI = schema_default("report", "dpi")
FORMATS = ("png", "svg")
SMOOTH_POINTS = 12  # loss curves: moving average over len/12 steps (per-batch MNRL loss is noisy)
RANK_BINS: tuple[tuple[str, float, float], ...] = (
    ("1", 1, 1),
    ("2-3", 2, 3),
    ("4-5", 4, 5),
    ("6-10", 6, 10),
    ("11-100", 11, 100),
    (">100", 101, math.inf),
)


def _apply_theme() -> None:
    import matplotlib
    import seaborn as sns

    matplotlib.use("Agg", force=False)
    sns.set_theme(
        context=THEME["context"], style=THEME["style"], font_scale=THEME["font_scale"], rc=THEME["rc"]
    )
    matplotlib.rcParams["svg.hashsalt"] = "embedlab"  # stable element ids: same data -> same SVG bytes


def model_colors(models: Sequence[str]) -> dict[str, Any]:
    """One colour per model, the same in every plot of a report."""
    import seaborn as sns

    n = max(len(models), 1)
    colors = sns.color_palette(
        PALETTE if n <= PALETTE_SIZE else "husl", n_colors=n
    )  # no two models share one
    return {m: colors[i % len(colors)] for i, m in enumerate(models)}


def new_figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    _apply_theme()
    return Figure(figsize=(width, height), layout="constrained")


def save_figure(fig: Figure, paths: dict[str, str | Path], dpi: float | str = DPI) -> None:
    """Write `fig` to each {format: path} atomically; no dates or versions in the files (stable bytes).

    The one figure saver of embedlab (report and word2vec); `dpi="figure"` keeps the figure's own dpi."""
    for fmt, path in paths.items():
        with io.atomic_path(path, suffix=f".{fmt}") as tmp:
            meta = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
            fig.savefig(tmp, format=fmt, dpi=dpi, metadata=meta)


def note_figure(title: str, note: str) -> Figure:
    """A figure that says why there is nothing to plot (an output must exist even when its data does not)."""
    fig = new_figure(7, 2.2)
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.5, "\n".join(textwrap.wrap(note, 80)), ha="center", va="center", transform=ax.transAxes)
    return fig


def dataset_label(corpus: str, lang: str) -> str:
    return f"{lang}\n{corpus}"


def metric_label(metric: str) -> str:
    name, _, k = metric.partition("@")
    pretty = {"mrr": "MRR", "hit": "Hit rate", "ndcg": "nDCG", "recall": "Recall", "map": "MAP"}.get(
        name, name
    )
    return f"{pretty}@{k}" if k else pretty


# ---------------------------------------------------------------------------------------------- figures
def mrr_heatmap(summary: pd.DataFrame, metric: str, models: Sequence[str]) -> Figure:
    """Models (rows) x corpus/language (columns), cell = the headline metric of the monolingual runs."""
    import seaborn as sns

    mono = summary[~summary["crosslingual"]].copy()
    mono["dataset"] = [dataset_label(c, lang) for c, lang in zip(mono["corpus"], mono["lang"], strict=True)]
    columns = list(dict.fromkeys(mono.sort_values(["corpus", "lang"])["dataset"]))
    rows = [m for m in models if m in set(mono["model"])]
    table = mono.pivot_table(index="model", columns="dataset", values=metric, aggfunc="first")
    table = table.reindex(index=rows, columns=columns)
    fig = new_figure(1.6 + 1.3 * len(columns), 1.2 + 0.5 * len(rows))
    ax = fig.add_subplot()
    sns.heatmap(
        table,
        ax=ax,
        annot=True,
        fmt=".3f",
        cmap=HEATMAP_CMAP,
        vmin=0,
        vmax=1,
        linewidths=0.5,
        cbar_kws={"label": metric_label(metric)},
    )
    ax.set_xlabel("language (corpus)")
    ax.set_ylabel("model")
    ax.set_title(f"{metric_label(metric)} on the validation queries")
    ax.tick_params(axis="x", rotation=0)
    ax.tick_params(axis="y", rotation=0)
    return fig


def finetune_bars(summary: pd.DataFrame, metric: str, models: Sequence[str]) -> Figure:
    """Per corpus: base and fine-tuned models side by side per language, 95 % CI whiskers, paired p-value."""
    ft = summary[summary["base_model"].fillna("").astype(str).ne("") & ~summary["crosslingual"]]
    corpora = sorted(ft["corpus"].unique())
    fig = new_figure(max(4.5, 3.2 * len(corpora) + 1.5), 4.2)
    axes = fig.subplots(1, len(corpora), squeeze=False, sharey=True)[0]
    colors = model_colors(models)
    for ax, corpus in zip(axes, corpora, strict=True):
        rows = ft[ft["corpus"] == corpus]
        pairs = [(r.base_model, r.model, r.lang) for r in rows.itertuples()]
        langs = sorted({p[2] for p in pairs})
        shown = [m for m in models if m in {p[0] for p in pairs} | {p[1] for p in pairs}]
        width = 0.8 / max(len(shown), 1)
        for j, model in enumerate(shown):
            xs, ys, lo, hi = [], [], [], []
            for i, lang in enumerate(langs):
                hit = summary[
                    (summary["model"] == model) & (summary["corpus"] == corpus) & (summary["lang"] == lang)
                ]
                if hit.empty:
                    continue
                r = hit.iloc[0]
                xs.append(i - 0.4 + width * (j + 0.5))
                ys.append(r[metric])
                lo.append(r[metric] - r[f"{metric}_lo"])
                hi.append(r[f"{metric}_hi"] - r[metric])
            ax.bar(
                xs,
                ys,
                width=width * 0.95,
                color=colors[model],
                label=model,
                yerr=[lo, hi],
                capsize=3,
                error_kw={"elinewidth": 1},
            )
        for r in rows.itertuples():  # one label per comparison, above the fine-tuned model's own bar
            p = r.p_value_vs_base
            if r.lang in langs and r.model in shown and isinstance(p, float) and not math.isnan(p):
                top = summary[
                    (summary["corpus"] == corpus)
                    & (summary["lang"] == r.lang)
                    & summary["model"].isin([r.model, r.base_model])
                ][f"{metric}_hi"].max()
                ax.text(
                    langs.index(r.lang) - 0.4 + width * (shown.index(r.model) + 0.5),
                    min(top + 0.03, 1.08),
                    f"p={p:.2g}",
                    ha="center",
                    va="bottom",
                    fontsize=7,
                    rotation=90 if len(shown) > 3 else 0,
                )
        ax.set_xticks(range(len(langs)), langs)
        ax.set_ylim(0, 1.15)
        ax.set_title(corpus)
        ax.set_xlabel("language")
        ax.set_ylabel(metric_label(metric) if ax is axes[0] else "")
        ax.legend(loc="upper left", fontsize=8)
    fig.suptitle(f"Fine-tuned vs base: {metric_label(metric)} with 95 % CI, paired test p-value")
    return fig


def rank_distribution(ranks: pd.DataFrame, models: Sequence[str]) -> Figure:
    """Share of queries whose first relevant chunk lands in each rank bucket, per model and dataset."""
    import seaborn as sns

    data = ranks.copy()
    labels = [b[0] for b in RANK_BINS]
    data["bucket"] = [_bucket(r) for r in data["first_rank"]]
    data["dataset"] = [f"{c}/{lang}" for c, lang in zip(data["corpus"], data["lang"], strict=True)]
    counts = data.groupby(["dataset", "model", "bucket"], observed=False).size().rename("n").reset_index()
    totals = counts.groupby(["dataset", "model"])["n"].transform("sum")
    counts["share"] = counts["n"] / totals.where(totals > 0, 1)
    counts = counts[counts["bucket"].isin(labels)]
    datasets = sorted(data["dataset"].unique())
    shown = [m for m in models if m in set(data["model"])]
    ncol = min(len(datasets), 3)
    nrow = math.ceil(len(datasets) / ncol)
    fig = new_figure(4.2 * ncol + 1.2, 3.2 * nrow)
    axes = fig.subplots(nrow, ncol, squeeze=False, sharey=True).ravel()
    for ax, ds in zip(axes, datasets, strict=False):
        sns.barplot(
            data=counts[counts["dataset"] == ds],
            x="bucket",
            y="share",
            hue="model",
            order=labels,
            hue_order=shown,
            palette=model_colors(models),
            ax=ax,
        )
        ax.set_title(ds)
        ax.set_xlabel("rank of the first relevant chunk")
        ax.set_ylabel("share of queries")
        ax.set_ylim(0, 1)
        if ax is not axes[0]:
            legend = ax.get_legend()
            if legend is not None:
                legend.remove()
    for ax in axes[len(datasets) :]:
        ax.set_axis_off()
    fig.suptitle("Where the first relevant chunk is ranked")
    return fig


def _bucket(rank: float) -> str:
    for label, lo, hi in RANK_BINS:
        if lo <= rank <= hi:
            return label
    return RANK_BINS[-1][0]


def mteb_scores(scores: pd.DataFrame, models: Sequence[str]) -> Figure:
    """MTEB main score per task (horizontal bars, one colour per model)."""
    import seaborn as sns

    tasks = sorted(scores["task"].unique())
    shown = [m for m in models if m in set(scores["model"])]
    fig = new_figure(7.5, 1.4 + 0.35 * len(tasks) * max(len(shown), 1))
    ax = fig.add_subplot()
    sns.barplot(
        data=scores,
        y="task",
        x="main_score",
        hue="model",
        order=tasks,
        hue_order=shown,
        palette=model_colors(models),
        orient="h",
        ax=ax,
    )
    ax.set_xlabel("MTEB main score")
    ax.set_ylabel("task")
    ax.set_xlim(0, 1)
    ax.set_title("MTEB main score per task")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def loss_curves(curves: pd.DataFrame, dev: pd.DataFrame, models: Sequence[str]) -> Figure:
    """Training loss per step per fine-tuned model; dev MRR@10 (checkpoint selection) beside it if logged."""
    import seaborn as sns

    with_dev = not dev.empty
    fig = new_figure(11 if with_dev else 6.5, 4)
    axes = fig.subplots(1, 2 if with_dev else 1, squeeze=False)[0]
    colors = model_colors(models)
    shown = [m for m in models if m in set(curves["model"])]
    for model in shown:  # every logged step, faint; a moving average on top, so the trend is readable
        one = curves[curves["model"] == model].sort_values("step")
        axes[0].plot(one["step"], one["loss"], color=colors[model], alpha=0.35, linewidth=1)
        window = max(1, len(one) // SMOOTH_POINTS)
        smooth = one["loss"].rolling(window, min_periods=1, center=True).mean()
        axes[0].plot(
            one["step"],
            smooth,
            color=colors[model],
            linewidth=2,
            label=model if window == 1 else f"{model} (mean of {window} steps)",
        )
    axes[0].legend(fontsize=8)
    axes[0].set_xlabel("training step")
    axes[0].set_ylabel("training loss")
    axes[0].set_title("Training loss")
    if with_dev:
        dshown = [m for m in models if m in set(dev["model"])]
        sns.lineplot(
            data=dev,
            x="step",
            y="mrr@10",
            hue="model",
            hue_order=dshown,
            palette=colors,
            marker="o",
            ax=axes[1],
        )
        axes[1].set_xlabel("training step")
        axes[1].set_ylabel("dev MRR@10")
        axes[1].set_title("Dev slice MRR@10 (checkpoint selection)")
    return fig
