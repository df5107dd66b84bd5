"""Real questions in the report: what every model scores on questions nobody in the pipeline wrote, beside
the synthetic val queries, and which of the two the decisions are made on.

Synthetic queries (ICT sentences, heading titles) share words with their chunk far more than questions people
ask, so a table computed on them alone favours lexical retrieval and can hide whether fine-tuning helps.
Where a dataset has enough real questions (`report.min_real_questions`), the top line and "what to deploy"
are computed on them, with the synthetic number beside.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedlab.report.mdtable import ci_cell, md_table, missing, p_cell

if TYPE_CHECKING:
    import pandas as pd


def decided_on_real(df_real: pd.DataFrame, min_questions: int) -> set[tuple[str, str]]:
    """The datasets whose decisions use real questions: at least `min_questions` of them were scored."""
    if df_real.empty:
        return set()
    counts = df_real.groupby(["corpus", "lang"])["n_queries"].max()
    return {key for key, n in counts.items() if n >= min_questions}


def decision_rows(df_val: pd.DataFrame, df_real: pd.DataFrame, min_questions: int) -> pd.DataFrame:
    """The rows the decisions read: real-question rows for the datasets `decided_on_real`, val rows for the
    rest (cross-lingual rows stay val: real questions are monolingual)."""
    import pandas as pd

    real = decided_on_real(df_real, min_questions)
    if not real:
        return df_val
    keep_val = [(c, lang) not in real for c, lang in zip(df_val["corpus"], df_val["lang"], strict=True)]
    keep_real = [(c, lang) in real for c, lang in zip(df_real["corpus"], df_real["lang"], strict=True)]
    return pd.concat([df_val[keep_val], df_real[keep_real]], ignore_index=True)


def _trust_line(real: pd.DataFrame, metric: str) -> str:
    """How far to trust the real-question numbers: chunk groups resampled, the widest interval."""
    widest = float(real["ci_halfwidth"].max())
    few = bool(real["too_few_queries"].any())
    verdict = (
        "wider than `report.max_ci_halfwidth`: too few questions to rank the models"
        if few
        else "within `report.max_ci_halfwidth`"
    )
    return (
        f"How far to trust this: the bootstrap resampled {int(real['n_groups'].max())} chunk groups; the "
        f"widest 95 % interval of {metric} is ±{widest:.3f} ({verdict})."
    )


def _mapping_line(corpus: str, lang: str, doc: dict[str, Any]) -> str:
    stats = doc["stats"]
    reasons = ", ".join(f"{n} {r}" for r, n in stats["unmapped_by_reason"].items()) or "none"
    kinds = ", ".join(
        f"{k} {v.get('mapped', 0)}/{sum(v.values())}" for k, v in stats["labels_by_kind"].items()
    )
    merged = f", {doc['merged_rows']} repeated rows merged" if doc.get("merged_rows") else ""
    series = f" (bare numbers: series '{stats['series']}')" if stats.get("series") else ""
    return (
        f"- **{corpus}/{lang}**: {stats['questions']} questions from `{doc['file']}`{merged}; "
        f"{stats['mapped']} mapped onto chunks, {stats['unmapped']} not ({reasons}; each listed with its "
        f"reason in real.mapping.json). Labels mapped by kind: {kinds}{series}.{_placement(stats)}"
    )


def _placement(stats: dict[str, Any]) -> str:
    """Which real questions were trained on (questions.training: split; a BEIR folder's train qrels)."""
    placed = stats.get("placement") or {}
    parts = []
    if placed.get("training") == "split":
        parts.append(
            f"With `questions.training: split`, {placed['evaluated']} on the val side evaluated, "
            f"{placed['trained_on']} on the train side trained on, {placed['dropped_straddling']} straddling "
            "dropped"
        )
    if beir := placed.get("beir_train"):
        parts.append(
            f"Train qrels: {beir['trained_on']} of {beir['questions']} questions trained on "
            f"({beir['on_val_side']} on the val side, {beir['unmapped']} not mapped)"
        )
    return "".join(f" {p}." for p in parts)


def real_section(
    df_val: pd.DataFrame,
    df_real: pd.DataFrame,
    mappings: dict[tuple[str, str], dict[str, Any]],
    metric: str,
    min_questions: int,
    lexical: list[str] | None = None,
) -> list[str]:
    """summary.md's first section when any dataset has real questions: the top line per dataset, then each
    model on real and synthetic queries with its paired test against its base on the real ones."""
    if df_real.empty and not mappings:
        return []
    decided = decided_on_real(df_real, min_questions)
    lines = [
        "## Real questions first",
        "",
        "Questions written outside this pipeline (`corpora.<c>.languages.<l>.questions`), each label mapped "
        "onto the chunks that hold it, scored against every chunk; those evaluated are never trained on. "
        f"Datasets with at least {min_questions} of them (`report.min_real_questions`) have their decisions "
        "(what to deploy) computed on them; the synthetic val result is beside.",
        "",
        *(_mapping_line(c, lang, doc) for (c, lang), doc in sorted(mappings.items())),
        "",
    ]
    for (corpus, lang), real in df_real.groupby(["corpus", "lang"], sort=True):
        synth = df_val[(df_val["corpus"] == corpus) & (df_val["lang"] == lang)].set_index("model")
        real = real.sort_values(metric, ascending=False, kind="stable")
        best = real.iloc[0]
        top = synth[metric].idxmax() if not synth.empty else None
        basis = "decisions use these" if (corpus, lang) in decided else "too few for decisions"
        lines += [
            f"### {corpus}/{lang}: {int(best['n_queries'])} real questions ({basis})",
            "",
            f"**Top line:** on the real questions the best model is **{best['model']}** ({metric} "
            f"{ci_cell(best, metric)})"
            + (
                f"; on the synthetic val queries it is **{top}** ({synth.loc[top, metric]:.3f})."
                if top
                else "."
            ),
            "",
            _trust_line(real, metric),
            "",
        ]
        rows = []
        for _, r in real.iterrows():
            s = synth.loc[r["model"]] if r["model"] in synth.index else None
            base = r.get("base_model") or ""
            vs = "–"
            if base and not missing(r.get("diff_vs_base")):
                vs = (
                    f"{base}: {r['diff_vs_base']:+.3f} [{r['diff_vs_base_lo']:+.3f}, "
                    f"{r['diff_vs_base_hi']:+.3f}], p = {p_cell(r['p_value_vs_base'])}"
                )
            rows.append([
                r["model"],
                ci_cell(r, metric),
                ci_cell(s, metric) if s is not None else "–",
                f"{r[metric] - s[metric]:+.3f}" if s is not None else "–",
                vs,
            ])  # fmt: skip
        header = [
            "model", f"{metric} real [95 % CI]", f"{metric} synthetic [95 % CI]", "real − synthetic",
            "vs base on real: diff [CI], p",
        ]  # fmt: skip
        lines += md_table(header, rows)
        lines.append("")
    if lexical:
        lines += [*lexical, ""]
    return lines


SET_COLUMNS = (
    ("set", "query set"),
    ("n", "queries"),
    ("mean_content_share", "content words in the relevant chunk"),
    ("bm25_mrr@10", "BM25 MRR@10"),
    ("median_bm25_rank", "BM25 median rank"),
    ("mean_length", "mean length"),
    ("in_language", "in the corpus language"),
    ("exact_duplicates", "exact duplicates"),
    ("near_duplicates", "near duplicates"),
)


def lexical_section(
    query_sets: Sequence[str | Path], df_val: pd.DataFrame, df_real: pd.DataFrame, metric: str
) -> list[str]:
    """summary.md's "How lexical is each query set": query_sets.csv per dataset, the sentence when the
    synthetic sets are far more lexical than the real ones, and whether they rank the models alike."""
    import pandas as pd

    from embedlab.evaluation.diagnostics import lexical_gap_sentences, ordering_agreement, ordering_sentence

    if not query_sets:
        return []
    lines = [
        "## How lexical is each query set",
        "",
        "Per query set: the share of a query's content words (rare in the corpus) that occur in its relevant "
        "chunk, how BM25 ranks that chunk, length, language, duplicates (query_sets.csv; per query: "
        "query_sets.queries.csv). Synthetic queries copied from their chunk favour lexical retrieval.",
        "",
    ]
    for path in query_sets:
        sets = pd.read_csv(path, keep_default_na=False, dtype=str)
        corpus, lang = Path(path).parts[-3], Path(path).parts[-2]
        cols = [(c, name) for c, name in SET_COLUMNS if c in sets.columns]
        rows = [[_cell(r[c]) for c, _ in cols] for _, r in sets.iterrows()]
        lines += [f"**{corpus}/{lang}**", "", *md_table([name for _, name in cols], rows), ""]
        records = sets.to_dict("records")
        lines += [*lexical_gap_sentences(records)]
        real = (
            df_real[(df_real["corpus"] == corpus) & (df_real["lang"] == lang)] if not df_real.empty else None
        )
        if real is not None and not real.empty:
            synth = df_val[(df_val["corpus"] == corpus) & (df_val["lang"] == lang)]
            agreement = ordering_agreement(
                dict(zip(synth["model"], synth[metric], strict=True)),
                dict(zip(real["model"], real[metric], strict=True)),
            )
            lines.append(ordering_sentence(*agreement))
        lines.append("")
    return lines


def _cell(value: str) -> str:
    try:
        number = float(value)
    except ValueError:
        return value or "–"
    return f"{number:.3g}" if not number.is_integer() else str(int(number))
