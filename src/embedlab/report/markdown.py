"""summary.md: the report a reader opens first, one function per section, rendered from summary.csv's
frame and the files it was built from (`embedlab.report.summary`)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from embedlab.report.mdtable import ci_cell, md_table, missing, num_cell, p_cell

if TYPE_CHECKING:
    import pandas as pd

GENERATOR_NOTES = {
    "ict": "ict = a sentence cut out of the chunk (inverse cloze task, no LLM)",
    "headings": "headings = section titles (written by the document's authors; a generic or repeated "
    "title is qualified by its parent); every chunk under one is relevant",
    "llm": "llm = questions written by an LLM from the chunk (the tutorial's method)",
}


def render_markdown(
    df: pd.DataFrame,
    per_query: dict[tuple[str, str, str], pd.DataFrame],
    prov: dict[tuple[str, str], dict[str, Any]],
    training: dict[str, dict[str, Any]],
    mteb_docs: list[dict[str, Any]],
    facts: dict[str, Any],
    notes: list[str],
    sections: dict[str, list[str]],
) -> str:
    """summary.md: the release verdicts (`sections["release"]`, report.release), datasets, how far to trust
    them (`sections["trust"]`, report.trust), the tutorial's table, every metric, what to deploy
    (`sections["deploy"]`, report.deploy), fine-tuned vs base, hybrids against their members
    (`sections["hybrids"]`, report.hybrids), per generator, cross-lingual, MTEB, training,
    notes."""
    metric = facts["metric"]
    mono = df[~df["crosslingual"]]
    mteb_lines, mteb_notes = mteb_section(mteb_docs)
    lines = [
        *intro(metric),
        *sections.get("release", []),
        *sections.get("real", []),
        *datasets_section(prov, mono),
        *sections["trust"],
        *tutorial_table(df, mono, metric),
        *metrics_section(df, metric),
        *sections["deploy"],
        *finetune_section(df, facts),
        *sections.get("hybrids", []),
        *generator_section(mono, per_query, prov, metric),
        *crosslingual_section(df, metric),
        *mteb_lines,
        *training_section(training),
    ]
    notes = [*notes, *mteb_notes]
    if notes:
        lines += ["## Notes", "", *(f"- {n}" for n in notes), ""]
    return "\n".join(lines)


def intro(metric: str) -> list[str]:
    return [
        "# embedlab report",
        "",
        f"Headline metric: **{metric}** (mean over the validation queries; [95 % bootstrap CI]). "
        "Every metric with its interval is in `summary.csv`. The bootstrap resamples whole chunk groups "
        "(the split unit: an article, a section, a run of chunks), not single queries: queries about one "
        "group share positives and wording, so they are not independent evidence.",
        "",
    ]


def datasets_section(prov: dict[tuple[str, str], dict[str, Any]], mono: pd.DataFrame) -> list[str]:
    """What the numbers are measured on: queries per generator, per dataset."""
    lines = [
        "## Datasets: where the queries come from",
        "",
        "Queries are synthetic: read the numbers with their generator in mind (notes below the table).",
        "",
    ]
    rows, gens_seen = [], set()
    for (corpus, lang), doc in sorted(prov.items()):
        total = Counter(q.get("generator", "unknown") for q in doc.get("queries", {}).values())
        evaluated = next((r for r in mono.itertuples() if r.corpus == corpus and r.lang == lang), None)
        gens_seen |= set(total)
        rows.append(
            [
                corpus,
                lang,
                ", ".join(sorted(total)) or "–",
                ", ".join(f"{g} {n}" for g, n in sorted(total.items())) or "0",
                evaluated.queries_by_generator.replace(";", ", ").replace("=", " ") if evaluated else "–",
                evaluated.n_chunks if evaluated else "–",
            ]
        )
    lines += md_table(
        [
            "corpus",
            "language",
            "generators",
            "queries (all)",
            "validation queries evaluated",
            "chunks searched",
        ],
        rows,
    )
    lines += [""] + [f"- {GENERATOR_NOTES.get(g, g)}" for g in sorted(gens_seen)]
    lines += skipped_generators(prov)
    if "llm" not in gens_seen:
        lines.append(
            "- No LLM-written queries in this run: these are not the tutorial's LLM-question numbers."
        )
    lines.append("")
    return lines


def skipped_generators(prov: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """One line per generator that found nothing for a dataset (provenance `generators.<name>.skipped`)."""
    return [
        f"- {gen} was skipped for {corpus}/{lang}: {info['skipped']}"
        for (corpus, lang), doc in sorted(prov.items())
        for gen, info in sorted(doc.get("generators", {}).items())
        if info.get("skipped")
    ]


def tutorial_table(df: pd.DataFrame, mono: pd.DataFrame, metric: str) -> list[str]:
    """The tutorial's summary table: language, model, headline metric, duration."""
    cached = df["cached_texts"].fillna(0).astype(float) > 0 if "cached_texts" in df else df["model"].isna()
    lines = [
        "## Language × model × MRR × duration",
        "",
        f"The tutorial's summary table. Duration = encode + search seconds of the evaluation"
        f"{' (* = embeddings partly reused from the cache, so not comparable)' if cached.any() else ''}.",
        "",
    ]
    rows = []
    for i, r in mono.iterrows():
        rows.append(
            [
                r["lang"],
                r["corpus"],
                r["model"],
                ci_cell(r, metric),
                f"{r['eval_seconds']:.2f}{' *' if cached[i] else ''}",
                r["n_queries"],
                r["device"],
            ]
        )
    lines += md_table(["language", "corpus", "model", metric, "duration (s)", "queries", "device"], rows)
    lines.append("")
    return lines


def metrics_section(df: pd.DataFrame, metric: str) -> list[str]:
    """Every headline metric with its interval, per corpus."""
    cols = _metric_cols(df, metric)
    lines = ["## Retrieval metrics", ""]
    for corpus in sorted(df["corpus"].unique()):
        sub = df[df["corpus"] == corpus]
        lines += [f"### {corpus}", ""]
        rows = [[r["lang"], r["model"], *(ci_cell(r, c) for c in cols)] for _, r in sub.iterrows()]
        lines += md_table(["language", "model", *cols], rows)
        lines.append("")
    return lines


def finetune_section(df: pd.DataFrame, facts: dict[str, Any]) -> list[str]:
    """Fine-tuned vs base: the paired tests of summary.csv."""
    metric = facts["metric"]
    ft = df[df["base_model"].astype(str) != ""]
    lines = ["## Fine-tuned vs base", ""]
    if ft.empty:
        return [*lines, "No fine-tuned model in this run.", ""]
    pm = facts["paired_metric"]
    lines += [
        f"Paired test on the same queries, per-query `{pm}`: mean difference (fine-tuned − base) "
        f"with its paired-bootstrap 95 % CI; p = two-sided sign-flip permutation test "
        f"({facts['test_samples']} flips, seed {facts['seed']}); Wilcoxon signed-rank p beside it. "
        "The unit of both is the chunk group: groups are resampled and sign-flipped whole, and the "
        "Wilcoxon test ranks per-group mean differences. A pipeline with a trained reranker is compared with "
        "its first stage (the base column).",
        "",
    ]
    rows = []
    for _, r in ft.iterrows():
        diff = (
            "–"
            if missing(r["diff_vs_base"])
            else (f"{r['diff_vs_base']:+.3f} [{r['diff_vs_base_lo']:+.3f}, {r['diff_vs_base_hi']:+.3f}]")
        )
        rows.append(
            [
                r["corpus"],
                r["lang"],
                r["model"],
                r["base_model"],
                num_cell(r[f"base_{metric}"]),
                num_cell(r[metric]),
                diff,
                p_cell(r["p_value_vs_base"]),
                p_cell(r["p_wilcoxon_vs_base"]),
                num_cell(r["training_seconds"], 1),
            ]
        )
    lines += md_table(
        [
            "corpus",
            "language",
            "model",
            "base",
            f"base {metric}",
            metric,
            f"Δ {pm} [CI]",
            "p (permutation)",
            "p (Wilcoxon)",
            "training (s)",
        ],
        rows,
    )
    lines.append("")
    return lines


def query_kind(provenance: dict[str, Any]) -> str:
    """A query's generator, with its question type when it has one (`llm · keyword`)."""
    kind = provenance.get("generator", "unknown")
    return f"{kind} · {provenance['query_type']}" if provenance.get("query_type") else kind


def generator_section(
    mono: pd.DataFrame,
    per_query: dict[tuple[str, str, str], pd.DataFrame],
    prov: dict[tuple[str, str], dict[str, Any]],
    metric: str,
) -> list[str]:
    """The headline metric per query generator, where a dataset has more than one."""
    gen_rows = []
    for _, r in mono.iterrows():
        q = per_query[(r["model"], r["corpus"], r["lang"])]
        gens = prov.get((r["corpus"], r["lang"]), {}).get("queries", {})
        by = q.groupby([query_kind(gens.get(qid, {})) for qid in q.index], sort=False)[metric]
        if by.ngroups > 1:
            gen_rows += [[r["corpus"], r["lang"], r["model"], g, f"{v.mean():.3f}", len(v)] for g, v in by]
    if not gen_rows:
        return []
    lines = [
        "## By query generator",
        "",
        f"{metric} per generator: ICT queries copy a sentence of the chunk and heading queries are "
        "titles, so their scores differ in kind, not only in degree. LLM questions are split by their type "
        "(`generators.llm.types`): which kinds of question each model fails.",
        "",
    ]
    lines += md_table(["corpus", "language", "model", "generator", metric, "queries"], gen_rows)
    lines.append("")
    return lines


def crosslingual_section(df: pd.DataFrame, metric: str) -> list[str]:
    cross = df[df["crosslingual"]]
    if cross.empty:
        return []
    rows = [
        [r["corpus"], r["query_lang"], r["chunk_lang"], r["model"], ci_cell(r, metric), r["n_queries"]]
        for _, r in cross.iterrows()
    ]
    return [
        "## Cross-lingual",
        "",
        "Queries in one language against the chunks of another.",
        "",
        *md_table(["corpus", "queries", "chunks", "model", metric, "queries"], rows),
        "",
    ]


def mteb_section(mteb_docs: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """The MTEB scores, and a note per task that did not run."""
    if not mteb_docs:
        return [], []
    lines = ["## MTEB", ""]
    ok = [d for d in mteb_docs if d.get("status") == "ok"]
    if ok:
        rows = [
            [d["model"], d["task"], d.get("type", ""), num_cell(d.get("main_score"), 4)]
            for d in sorted(ok, key=lambda d: (d["task"], d["model"]))
        ]
        lines += [*md_table(["model", "task", "type", "main score"], rows), ""]
    notes = [
        f"MTEB {d.get('task')} for {d.get('model')}: {d.get('status')} — {d.get('reason', '')}"
        for d in sorted(
            (d for d in mteb_docs if d.get("status") != "ok"), key=lambda d: (d["task"], d["model"])
        )
    ]
    return lines, notes


def training_section(training: dict[str, dict[str, Any]]) -> list[str]:
    if not training:
        return []
    rows = [
        [
            name,
            f.get("base", {}).get("name", ""),
            f.get("backend", ""),
            f.get("pairs", ""),
            (f.get("hyperparameters") or {}).get("epochs", ""),
            (f.get("hyperparameters") or {}).get("steps", ""),
            num_cell(f.get("training_time_s"), 1),
            (f.get("hardware") or {}).get("device", ""),
        ]
        for name, f in sorted(training.items())
    ]
    return [
        "## Training",
        "",
        *md_table(["model", "base", "backend", "pairs", "epochs", "steps", "training (s)", "device"], rows),
        "",
    ]


def _metric_cols(df: pd.DataFrame, metric: str) -> list[str]:
    want = ["hit@1", "hit@10", metric, "ndcg@10", "recall@10", "map@100"]
    return [c for c in dict.fromkeys(want) if c in df.columns]
