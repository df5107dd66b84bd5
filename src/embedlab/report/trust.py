"""How far to trust the numbers of one dataset: the report's answer, in facts a reader can check.

A team decides from summary.md whether to ship a model. Synthetic queries, few of them, or labels that miss
a relevant chunk make a ranking of models look firmer than it is; this section puts those facts next to the
numbers: how many queries and groups, how wide the interval, what the label checks found, which generators
made the queries (and what their filters dropped), and whether the models rank the same on every kind of
query. Synthetic queries favour lexical retrieval, so where a dataset has real questions their row stands
beside the synthetic one, first where the decisions are made on them (`embedlab.report.real`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
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
    return sorted((k.removeprefix("dropped_"), n) for k, n in stats.items() if k.startswith("dropped_") and n)


def section(
    df: pd.DataFrame,
    per_query: dict[tuple[str, str, str], pd.DataFrame],
    prov: dict[tuple[str, str], dict[str, Any]],
    labels: dict[tuple[str, str], dict[str, Any]],
    metric: str,
    max_halfwidth: float,
    *,
    real: pd.DataFrame | None = None,
    mappings: dict[tuple[str, str], dict[str, Any]] | None = None,
    decided: Collection[tuple[str, str]] = frozenset(),
) -> list[str]:
    """The "How far to trust this" section of summary.md, per same-language dataset and query set.

    `real` (rows of the real questions, marked by `mark_too_few`) adds a row beside the synthetic one, with
    what `mappings` (real.mapping.json per dataset) says did not map; it comes first for the datasets in
    `decided` (`real.decided_on_real`), whose decisions are made on it."""
    # iter(): dict() would take a GroupBy, which has a `keys` attribute, for a mapping
    synthetic = dict(iter(df[~df["crosslingual"]].groupby(["corpus", "lang"], sort=True)))
    questions = {} if real is None or real.empty else dict(iter(real.groupby(["corpus", "lang"], sort=True)))
    if not synthetic and not questions:
        return []
    lines = [
        "## How far to trust this",
        "",
        "Per dataset and query set (the real questions, where a dataset has them, beside the synthetic val "
        "queries; first where the decisions use them, `report.min_real_questions`): queries and the chunk "
        f"groups the intervals resample; the widest 95 % interval of {metric} among the models (half-width; "
        f'wider than ±{max_halfwidth:g} is marked "{TOO_FEW}"); the label checks of the synthetic split; the '
        "generator mix and what the generators' filters dropped (for real questions: those that mapped onto "
        "no chunk, by reason).",
        "",
    ]
    rows, sentences = [], []
    for key in sorted(synthetic.keys() | questions.keys()):
        corpus, lang = key
        sets = [("synthetic val", synthetic.get(key)), ("real", questions.get(key))]
        for name, sub in reversed(sets) if key in decided else sets:
            if sub is None:
                continue
            if name == "real":
                rows.append(_real_row(corpus, lang, sub, (mappings or {}).get(key, {})))
                sentences += _few_groups(corpus, lang, sub, "real questions")
            else:
                rows.append(_synthetic_row(corpus, lang, sub, prov.get(key, {}), labels.get(key, {})))
                sentences += _few_groups(corpus, lang, sub, "validation queries")
        if key in synthetic:
            sentences += _sentences(corpus, lang, synthetic[key], per_query, prov.get(key, {}), metric)
    lines += md_table(
        [
            "corpus",
            "language",
            "query set",
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


def _row(
    corpus: str,
    lang: str,
    query_set: str,
    sub: pd.DataFrame,
    check: dict[str, Any],
    generators: str,
    dropped: dict[str, list[tuple[str, int]]],
) -> list[Any]:
    """The table row of one dataset's query set (`sub`: its rows of summary.csv); `dropped`: the counts by
    reason of each source that dropped queries (a generator's filters, or the real questions' mapping)."""
    widest = float(sub["ci_halfwidth"].max())
    dropped_cell = "; ".join(
        f"{source}: " + ", ".join(f"{reason} {n}" for reason, n in counts)
        for source, counts in sorted(dropped.items())
        if counts
    )
    return [
        corpus,
        lang,
        query_set,
        int(sub["n_queries"].iloc[0]),
        int(sub["n_groups"].iloc[0]),
        f"±{widest:.3f}" + (f" ({TOO_FEW})" if bool(sub["too_few_queries"].any()) else ""),
        check.get("unlabeled_verbatim", "–"),
        check.get("collapsed_duplicates", "–"),
        generators or "–",
        dropped_cell or "–",
    ]


def _synthetic_row(
    corpus: str, lang: str, sub: pd.DataFrame, prov: dict[str, Any], check: dict[str, Any]
) -> list[Any]:
    """The row of the synthetic val queries: the split's label checks, the generator mix and what each
    generator's filters dropped (provenance.json)."""
    gens = prov.get("generators", {})
    mix = str(sub["queries_by_generator"].iloc[0]).replace(";", ", ").replace("=", " ")
    dropped = {gen: dropped_counts(info.get("stats", {})) for gen, info in gens.items()}
    return _row(corpus, lang, "synthetic val", sub, check, mix, dropped)


def _real_row(corpus: str, lang: str, sub: pd.DataFrame, mapping: dict[str, Any]) -> list[Any]:
    """The row of the real questions: no split label checks (people wrote their labels); what did not map
    onto a chunk, by reason (`mapping`: real.mapping.json), in place of the filters' drops."""
    by_reason = mapping.get("stats", {}).get("unmapped_by_reason", {})
    return _row(corpus, lang, "real", sub, {}, "real questions", {"unmapped": sorted(by_reason.items())})


def _few_groups(corpus: str, lang: str, sub: pd.DataFrame, queries: str) -> list[str]:
    """The warning when `queries` (validation queries, real questions) come from too few chunk groups for a
    stable bootstrap interval."""
    groups = int(sub["n_groups"].iloc[0])
    if groups >= FEW_GROUPS:
        return []
    return [
        f"- {corpus}/{lang}: the {queries} come from only {groups} chunk groups, so the intervals rest on "
        "few independent units: treat them as rough, and add documents before relying on small differences."
    ]


def _sentences(
    corpus: str,
    lang: str,
    sub: pd.DataFrame,
    per_query: dict[tuple[str, str, str], pd.DataFrame],
    prov: dict[str, Any],
    metric: str,
) -> list[str]:
    """What a reader must know about one dataset's synthetic queries beyond its row: round-trip bias,
    rankings that depend on the kind of query."""
    import pandas as pd

    sentences = []
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
