"""The "what to deploy" table: every evaluated configuration with its quality, size and speed, Pareto rows
marked, so a team can pick what to run in production from its own data.

A configuration is model × fusion × reranker × dims × precision × backend. A row is Pareto-optimal when no
other configuration of the same corpus/language is at least as good on all three of (higher MRR@10, fewer
bytes per chunk vector, lower query latency) and strictly better on one. An unknown cost (e.g. no bytes per
vector for a sparse index) counts as the worst, so such a row is on the frontier only through its other axes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from embedlab.report.mdtable import md_table
from embedlab.report.plots import metric_label, model_colors, new_figure

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# What a missing column means: the plain configuration (no fusion, no reranker, float32 vectors, the model's
# own runtime); a missing `dims` falls back to the evaluation's `dim`.
PLAIN: dict[str, Any] = {
    "fusion": "none",
    "reranker": "none",
    "precision": "float32",
    "backend": "default",
}
COSTS = ("bytes_per_vector", "query_ms")  # lower is better; quality (the metric) higher is better
KEYS = ("corpus", "lang")
MARKERS = ("o", "X", "s", "P", "D", "^", "v")  # one per precision (float32, int8, binary, …)


def pareto_mask(quality: Sequence[float], costs: Sequence[Sequence[float]]) -> np.ndarray:
    """True for rows no other row dominates (quality ≥, every cost ≤, one strictly better).

    NaN quality is never optimal; NaN costs count as +inf. Identical rows do not dominate each other.
    """
    q = np.asarray(quality, dtype=np.float64)
    c = np.stack([np.asarray(x, dtype=np.float64) for x in costs], axis=1) if costs else np.zeros((len(q), 0))
    c = np.where(np.isnan(c), np.inf, c)
    ok = ~np.isnan(q)
    out = np.zeros(len(q), dtype=bool)
    for i in np.flatnonzero(ok):
        no_worse = ok & (q >= q[i]) & (c <= c[i]).all(axis=1)
        better = (q > q[i]) | (c < c[i]).any(axis=1)
        out[i] = not (no_worse & better).any()
    return out


def _label(r: Any) -> str:
    parts = [str(r["model"])]
    if r["fusion"] != PLAIN["fusion"]:
        parts.append(f"fusion {r['fusion']}")
    if r["reranker"] != PLAIN["reranker"]:
        parts.append(f"→ {r['reranker']}")
    if not _missing(r["dims"]):
        parts.append(f"{int(r['dims'])}d {r['precision']}")
    elif r["precision"] != PLAIN["precision"]:
        parts.append(str(r["precision"]))
    if r["backend"] != PLAIN["backend"]:
        parts.append(str(r["backend"]))
    return " · ".join(parts)


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float | np.floating) and math.isnan(x)) or x == ""


def deploy_table(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per configuration and dataset, best first, with `configuration` (a label) and `pareto`."""
    import pandas as pd

    data = frame.copy()
    for col, default in PLAIN.items():
        data[col] = data[col].fillna(default).replace("", default) if col in data else default
    if "dims" not in data:
        data["dims"] = data.get("dim", np.nan)
    data["dims"] = pd.to_numeric(data["dims"], errors="coerce")
    for col in (f"{metric}_lo", f"{metric}_hi", "index_bytes", *COSTS):
        data[col] = pd.to_numeric(data[col], errors="coerce") if col in data else np.nan
    if "kind" not in data:
        data["kind"] = ""
    data["configuration"] = [_label(r) for _, r in data.iterrows()]
    parts = []
    for _, sub in data.groupby(list(KEYS), sort=True):
        sub = sub.copy()
        sub["pareto"] = pareto_mask(sub[metric].to_numpy(), [sub[c].to_numpy() for c in COSTS])
        sub = sub.sort_values(
            [metric, "bytes_per_vector", "query_ms", "configuration"],
            ascending=[False, True, True, True],
            na_position="last",
            kind="stable",
        )
        parts.append(sub)
    config = ["configuration", "model", "kind", "fusion", "reranker", "dims", "precision", "backend"]
    cols = [*KEYS, *config, metric, f"{metric}_lo", f"{metric}_hi", "bytes_per_vector", "index_bytes"]
    cols += ["query_ms", "pareto"]
    if not parts:
        return pd.DataFrame(columns=cols)
    return pd.concat(parts, ignore_index=True)[cols]


def human_bytes(n: Any) -> str:
    """1536 -> '1.5 KiB' (binary units, as memory is sized)."""
    if _missing(n):
        return "–"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return ""  # unreachable


def _num(x: Any, fmt: str) -> str:
    return "–" if _missing(x) else format(float(x), fmt)


def _with_ci(r: Any, metric: str) -> str:
    return f"{_num(r[metric], '.3f')} [{_num(r[f'{metric}_lo'], '.3f')}, {_num(r[f'{metric}_hi'], '.3f')}]"


def deploy_markdown(table: pd.DataFrame, metric: str) -> list[str]:
    """Markdown lines: one table per corpus/language (from `deploy_table`), Pareto rows marked ✓."""
    label = metric_label(metric)
    header = ["configuration", f"{label} [95 % CI]", "bytes / vector", "index size", "query ms", "Pareto"]
    lines: list[str] = []
    for (corpus, lang), sub in table.groupby(list(KEYS), sort=True):
        rows = [
            [
                r["configuration"],
                _with_ci(r, metric),
                _num(r["bytes_per_vector"], ".0f"),
                human_bytes(r["index_bytes"]),
                _num(r["query_ms"], ".1f"),
                "✓" if r["pareto"] else "",
            ]
            for _, r in sub.iterrows()
        ]
        lines += [f"### {corpus} / {lang}", "", *md_table(header, rows), ""]
    return lines


def frontier(cost: Sequence[float], quality: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """The 2-D Pareto staircase (lower cost, higher quality): its points sorted by cost."""
    x = np.asarray(cost, dtype=np.float64)
    y = np.asarray(quality, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    order = np.lexsort((-y, x))
    xs, ys, best = [], [], -np.inf
    for i in order:
        if y[i] > best:
            xs.append(x[i])
            ys.append(y[i])
            best = y[i]
    return np.asarray(xs), np.asarray(ys)


def _panel(
    ax: Axes, sub: pd.DataFrame, cost: str, metric: str, colors: dict[str, Any], markers: dict[str, str]
) -> None:
    import seaborn as sns

    y = sub[metric].to_numpy(dtype=float)
    # a percentile bootstrap interval can miss its own mean by a hair: never a negative bar
    err = np.clip(
        [y - sub[f"{metric}_lo"].to_numpy(dtype=float), sub[f"{metric}_hi"].to_numpy(dtype=float) - y],
        0,
        None,
    )
    x = sub[cost].to_numpy(dtype=float)
    ax.errorbar(x, y, yerr=err, fmt="none", ecolor="0.7", elinewidth=1, capsize=2, zorder=1)
    sns.scatterplot(
        data=sub, x=cost, y=metric, hue="model", palette=colors, style="precision", markers=markers, s=60,
        ax=ax, zorder=2, legend=False,
    )  # fmt: skip
    xs, ys = frontier(sub[cost], sub[metric])
    if len(xs):  # the staircase runs on to the costliest point: nothing there does better
        xs, ys = np.append(xs, np.nanmax(sub[cost].to_numpy(dtype=float))), np.append(ys, ys[-1])
        ax.step(xs, ys, where="post", color="0.2", linestyle="--", linewidth=1, zorder=3, label="frontier")
    best = sub[sub["pareto"]]
    ax.scatter(best[cost], best[metric], s=140, facecolors="none", edgecolors="black", zorder=4)
    ax.set_xscale("log")


def deploy_figure(table: pd.DataFrame, metric: str, models: Sequence[str] = ()) -> Figure:
    """Per corpus/language: the metric vs bytes per vector and vs query latency (log axes), the 2-D frontier
    dashed, rows Pareto-optimal on all three axes circled; colour = model, marker = precision."""
    from matplotlib.lines import Line2D

    datasets = list(table.groupby(list(KEYS), sort=True))
    names = list(dict.fromkeys([*models, *table["model"]]))
    colors = model_colors(names)
    markers = dict(zip(sorted(set(table["precision"])), MARKERS, strict=False))
    fig = new_figure(10, 3.2 * max(len(datasets), 1) + 0.6)
    axes = fig.subplots(max(len(datasets), 1), 2, squeeze=False)
    for row, ((corpus, lang), sub) in enumerate(datasets):
        for col, (cost, xlabel) in enumerate(
            [("bytes_per_vector", "bytes per chunk vector (log)"), ("query_ms", "query latency, ms (log)")]
        ):
            ax = axes[row][col]
            _panel(ax, sub, cost, metric, colors, markers)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(metric_label(metric))
            ax.set_title(f"{corpus}/{lang}")
    shown = [m for m in names if m in set(table["model"])]
    handles = [Line2D([], [], marker="o", linestyle="", color=colors[m], label=m) for m in shown]
    handles += [Line2D([], [], marker=mk, linestyle="", color="0.4", label=p) for p, mk in markers.items()]
    handles += [Line2D([], [], linestyle="--", color="0.2", label="frontier (this plot)"),
                Line2D([], [], marker="o", linestyle="", markerfacecolor="none", markeredgecolor="black",
                       markersize=11, label="Pareto (quality, bytes, latency)")]  # fmt: skip
    fig.legend(handles=handles, loc="outside right center", fontsize=8)
    fig.suptitle(f"{metric_label(metric)} vs size and latency")
    return fig
