"""How far to trust the numbers of one dataset: the report's answer, in facts a reader can check.

A team decides from summary.md whether to ship a model. Synthetic queries, few of them, or labels that miss
a relevant chunk make a ranking of models look firmer than it is; this section puts those facts next to the
numbers: how many queries and groups, how wide the interval, what the label checks found, which generators
made the queries (and what their filters dropped), and whether the models rank the same on every kind of
query.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedlab import io
from embedlab.report.mdtable import md_table

if TYPE_CHECKING:  # pandas is imported where it is used: the Snakefile imports this module's callers
    import pandas as pd

TOO_FEW = "too few queries to rank models"
FEW_GROUPS = 10  # below this many resampled groups a bootstrap interval is itself unstable
# What a generator's queries favour, said once where the ranking of models differs between generators.
GENERATOR_BIAS = {
    "ict": "copying a sentence of the chunk, so they favour lexical matching",
    "headings": "made of the documents' own titles",
    "llm": "written by an LLM from the chunk",
}


def halfwidth(df: pd.DataFrame, metric: str) -> pd.Series:
    """Half the width of each row's bootstrap interval of `metric`."""
    return (df[f"{metric}_hi"] - df[f"{metric}_lo"]) / 2


def ranking_sentence(per_query: pd.DataFrame, generator_of: dict[str, str], metric: str) -> str:
    """A plain sentence when the best model depends on the kind of query, else ''.

    `per_query` has one column per model and one row per query of one dataset."""
    means = per_query.groupby([generator_of.get(q, "unknown") for q in per_query.index]).mean()
    lead = {str(gen): str(row.idxmax()) for gen, row in means.iterrows()}
    if len(set(lead.values())) < 2:
        return ""
    parts = []
    for gen, model in sorted(lead.items()):
        why = f"; {gen} queries are those {GENERATOR_BIAS[gen]}" if gen in GENERATOR_BIAS else ""
        parts.append(f"{model} leads on {gen} queries ({means.loc[gen, model]:.3f} {metric}{why})")
    return "The ranking of models depends on the kind of query: " + "; ".join(parts) + "."


def dropped_counts(stats: dict[str, Any]) -> list[tuple[str, int]]:
    """A generator's filter counts (its nonzero `dropped_<reason>` stats), by reason."""
    return sorted((k, n) for k, n in stats.items() if k.startswith("dropped_") and n)


def section(
    df: pd.DataFrame,
    per_query: dict[tuple[str, str, str], pd.DataFrame],
    prov: dict[tuple[str, str], dict[str, Any]],
    labels: dict[tuple[str, str], dict[str, Any]],
    metric: str,
    max_halfwidth: float,
) -> list[str]:
    """The "How far to trust this" section of summary.md, per same-language dataset."""

    mono = df[~df["crosslingual"]]
    if mono.empty:
        return []
    lines = [
        "## How far to trust this",
        "",
        "Per dataset: validation queries and the chunk groups the intervals resample; the widest 95 % "
        f"interval of {metric} among the models (half-width; wider than ±{max_halfwidth:g} is marked "
        f'"{TOO_FEW}"); the label checks; the generator mix and what the generators\' filters dropped.',
        "",
    ]
    rows, sentences = [], []
    for (corpus, lang), sub in mono.groupby(["corpus", "lang"], sort=True):
        rows.append(_row(corpus, lang, sub, prov.get((corpus, lang), {}), labels.get((corpus, lang), {})))
        sentences += _sentences(corpus, lang, sub, per_query, prov.get((corpus, lang), {}), metric)
    lines += md_table(
        [
            "corpus",
            "language",
            "queries",
            "groups",
            f"{metric} CI half-width",
            "unlabeled verbatim matches",
            "collapsed duplicate chunks",
            "generators",
            "dropped by filters",
        ],
        rows,
    )
    lines += ["", *sentences, ""] if sentences else [""]
    return lines


def mark_too_few(df: pd.DataFrame, metric: str, max_halfwidth: float) -> pd.DataFrame:
    """Add `ci_halfwidth` (of `metric`) and `too_few_queries` (a model of the dataset wider than allowed)."""
    df = df.copy()
    df["ci_halfwidth"] = halfwidth(df, metric)
    wide = df.groupby(["corpus", "lang"])["ci_halfwidth"].transform("max") > max_halfwidth
    df["too_few_queries"] = wide.astype(bool)
    return df


def labels_of(split_paths: Sequence[str | Path]) -> dict[tuple[str, str], dict[str, Any]]:
    """(corpus, lang) -> the label checks of its split file (results/qa/{corpus}/{lang}/split.json)."""
    out = {}
    for path in split_paths:
        corpus, lang = Path(path).parts[-3:-1]
        out[(corpus, lang)] = io.read_json(path).get("labels", {})
    return out


def _row(corpus: str, lang: str, sub: pd.DataFrame, prov: dict[str, Any], check: dict[str, Any]) -> list[Any]:
    """The table row of one dataset (`sub`: its rows of summary.csv)."""
    widest = float(sub["ci_halfwidth"].max())
    gens = prov.get("generators", {})
    dropped = "; ".join(
        f"{gen}: " + ", ".join(f"{k.removeprefix('dropped_')} {n}" for k, n in counts)
        for gen, info in sorted(gens.items())
        if (counts := dropped_counts(info.get("stats", {})))
    )
    return [
        corpus,
        lang,
        int(sub["n_queries"].iloc[0]),
        int(sub["n_groups"].iloc[0]),
        f"±{widest:.3f}" + (f" ({TOO_FEW})" if bool(sub["too_few_queries"].any()) else ""),
        check.get("unlabeled_verbatim", "–"),
        check.get("collapsed_duplicates", "–"),
        str(sub["queries_by_generator"].iloc[0]).replace(";", ", ").replace("=", " ") or "–",
        dropped or "–",
    ]


def _sentences(
    corpus: str,
    lang: str,
    sub: pd.DataFrame,
    per_query: dict[tuple[str, str, str], pd.DataFrame],
    prov: dict[str, Any],
    metric: str,
) -> list[str]:
    """What a reader must know about one dataset beyond its row: few groups, round-trip bias, rankings that
    depend on the kind of query."""
    import pandas as pd

    sentences = []
    groups = int(sub["n_groups"].iloc[0])
    if groups < FEW_GROUPS:
        sentences.append(
            f"- {corpus}/{lang}: the validation queries come from only {groups} chunk groups, so the "
            "intervals rest on few independent units: treat them as rough, and add documents before "
            "relying on small differences."
        )
    rt = prov.get("generators", {}).get("llm", {}).get("settings", {}).get("round_trip") or {}
    if rt.get("enabled"):
        sentences.append(
            f"- {corpus}/{lang}: llm queries were kept only when {rt['retriever']} ranked their chunk in "
            f"its top {rt['top_k']}, so {rt['retriever']}'s own score on them favours it."
        )
    if sub["model"].nunique() > 1:
        table = pd.DataFrame({m: per_query[(m, corpus, lang)][metric] for m in sub["model"]})
        generator_of = {q: info.get("generator", "unknown") for q, info in prov.get("queries", {}).items()}
        text = ranking_sentence(table, generator_of, metric)
        if text:
            sentences.append(f"- {corpus}/{lang}: {text}")
    return sentences
