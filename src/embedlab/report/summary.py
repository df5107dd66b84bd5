"""The workflow's last step: every evaluation result in one table, readable Markdown, and the plots.

Why a separate step: the tutorial ends each experiment with a pandas table in a terminal. Here the rules
`report_summary` (numbers: `summary.csv`, `summary.md`) and `plots` (figures only, from the summary and the
per-query / training / MTEB files) gather what the earlier rules wrote, so editing a plot reruns `plots`
alone, in seconds. A fine-tuned model is compared with its base model on the same queries (paired
sign-flip permutation test, seeded; Wilcoxon signed-rank from scipy beside it), and every table says which
query generators the numbers come from, so offline ICT/heading queries are not mistaken for LLM ones.
Formats: docs/formats.md (`results/report/`).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embedlab import io
from embedlab.errors import EmbedlabError
from embedlab.evaluation import metrics
from embedlab.report import trust
from embedlab.report.mdtable import md_table

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

FORMAT = "embedlab.report/1"
REPORT_DIR = "results/report"
DEFAULTS: dict[str, Any] = {
    "metric": "mrr@10",
    "paired_metric": "reciprocal_rank",
    "test_samples": 10000,
    "max_ci_halfwidth": 0.1,
    "dpi": 120,
}
# name -> (caption file under report/, category in Snakemake's HTML report); the order plots are listed in.
PLOTS: dict[str, tuple[str, str]] = {
    "mrr_heatmap": ("mrr_heatmap.rst", "Retrieval"),
    "finetune_vs_base": ("finetune_vs_base.rst", "Fine-tuning"),
    "cost_quality": ("cost_quality.rst", "Retrieval"),
    "rank_distribution": ("rank_distribution.rst", "Retrieval"),
    "mteb_scores": ("mteb_scores.rst", "MTEB"),
    "loss_curves": ("loss_curves.rst", "Fine-tuning"),
}
GENERATOR_NOTES = {
    "ict": "ict = a sentence cut out of the chunk (inverse cloze task, no LLM)",
    "headings": "headings = section titles (written by the document's authors; a generic or repeated "
    "title is qualified by its parent); every chunk under one is relevant",
    "llm": "llm = questions written by an LLM from the chunk (the tutorial's method)",
}


# ---------------------------------------------------------------------------------------------- plan
def settings(config: dict[str, Any]) -> dict[str, Any]:
    return {**DEFAULTS, **(config.get("report") or {})}


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
    from embedlab.workflow import plan as eval_plan
    from embedlab.workflow.config import corpus_languages

    ev = config.get("evaluation") or {}
    mt = config.get("mteb") or {}
    pairs = corpus_languages(config)
    models = eval_plan.eval_models(config) if ev.get("enabled", True) else []
    runs = [(m, c, lang) for m in models for c, lang in pairs]
    runs += [(m, c, f"{a}-{b}") for m in models for c, a, b in eval_plan.crosslingual_pairs(config)]
    finetunes = config.get("finetune") or {}
    bases = {m: finetunes[m]["base"] for m in models if m in finetunes}
    mteb_models = eval_plan.mteb_models(config) if mt.get("enabled", False) else []
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
    from embedlab.report.plots import FORMATS

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


# ---------------------------------------------------------------------------------------------- summary
def headline(columns: Sequence[str], wanted: str) -> str:
    """`wanted` if the evaluation wrote it; an MRR@k with another k otherwise (ks is configurable)."""
    if wanted in columns:
        return wanted
    mrr = sorted((c for c in columns if c.startswith("mrr@") and c[4:].isdigit()), key=lambda c: int(c[4:]))
    if wanted.startswith("mrr@") and mrr:
        log.warning("report.metric %s is not in the evaluation CSVs: using %s", wanted, mrr[-1])
        return mrr[-1]
    known = ", ".join(c for c in columns if "@" in c and not c.endswith(("_lo", "_hi")))
    raise EmbedlabError(
        f"report.metric: {wanted!r} is not an evaluation metric (known: {known}): fix report.metric"
    )


def queries_file(eval_csv: str | Path) -> Path:
    p = Path(eval_csv)
    return p.with_name(p.name[: -len(".csv")] + ".queries.csv")


def _read_queries(path: str | Path) -> pd.DataFrame:
    import pandas as pd

    return pd.read_csv(path, dtype={"query_id": str}).set_index("query_id")


def _provenance_index(paths: Sequence[str | Path]) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for path in paths:
        doc = io.read_json(path)
        out[(doc["corpus"], doc["lang"])] = doc
    return out


def _training_facts(model_dirs: Sequence[str | Path]) -> dict[str, dict[str, Any]]:
    out = {}
    for d in model_dirs:
        f = Path(d) / "training.json"
        if f.is_file():
            facts = io.read_json(f)
            out[facts.get("name") or Path(d).name] = facts
        else:
            log.warning("%s has no training.json: no training time or loss curve for it", d)
    return out


def _mteb_results(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    out = []
    for path in paths:
        doc = io.read_json(path)
        doc.pop("mteb", None)  # the raw MTEB result: large, and main_score already summarises it
        out.append(doc)
    return out


def _generator_counts(qids: Sequence[str], prov: dict[str, Any] | None) -> Counter[str]:
    if prov is None:
        return Counter()
    queries = prov.get("queries", {})
    return Counter(queries.get(q, {}).get("generator", "unknown") for q in qids)


def skipped_generators(prov: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """One line per generator that found nothing for a dataset (provenance `generators.<name>.skipped`)."""
    return [
        f"- {gen} was skipped for {corpus}/{lang}: {info['skipped']}"
        for (corpus, lang), doc in sorted(prov.items())
        for gen, info in sorted(doc.get("generators", {}).items())
        if info.get("skipped")
    ]


def paired(
    a: np.ndarray, b: np.ndarray, samples: int, seed: int, groups: Sequence[str] | None = None
) -> dict[str, Any]:
    """b - a on the same queries: mean difference + paired-bootstrap CI + sign-flip permutation p-value
    (embedlab.evaluation.metrics.paired_test, seeded; whole chunk groups when `groups` is given), and the
    Wilcoxon signed-rank p-value of the per-group mean differences (per query without groups), when scipy is
    there."""
    res = metrics.paired_test(a, b, samples, seed, groups=groups)
    res["p_wilcoxon"] = None
    diff = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    if len(diff):
        try:
            from scipy.stats import wilcoxon
        except ImportError:  # optional: the permutation test needs nothing but numpy
            return res
        cluster, g = metrics.clusters(groups, len(diff))
        unit_diff = np.bincount(cluster, weights=diff, minlength=g) / np.bincount(cluster, minlength=g)
        res["p_wilcoxon"] = 1.0 if not unit_diff.any() else float(wilcoxon(unit_diff).pvalue)
    return res


def summarize(
    eval_csvs: Sequence[str | Path],
    out_csv: str | Path,
    out_md: str | Path,
    *,
    provenance: Sequence[str | Path] = (),
    splits: Sequence[str | Path] = (),
    model_dirs: Sequence[str | Path] = (),
    mteb: Sequence[str | Path] = (),
    bases: dict[str, str] | None = None,
    models: Sequence[str] = (),
    metric: str = "mrr@10",
    paired_metric: str = "reciprocal_rank",
    test_samples: int = 10000,
    max_ci_halfwidth: float = 0.1,
    seed: int = 42,
    notes: Sequence[str] = (),
) -> pd.DataFrame:
    """Rule `report_summary`: one row per model x corpus x language -> summary.csv + summary.md."""
    import pandas as pd

    if not eval_csvs:
        raise EmbedlabError("report: no evaluation results to summarise: enable `evaluation` and list models")
    bases = dict(bases or {})
    prov = _provenance_index(provenance)
    training = _training_facts(model_dirs)
    mteb_docs = _mteb_results(mteb)
    rows, per_query = [], {}
    for path in eval_csvs:
        row = pd.read_csv(path, keep_default_na=False, na_values=[""]).iloc[0].to_dict()
        row.pop("format", None)
        key = (str(row["model"]), str(row["corpus"]), str(row["lang"]))
        qfile = queries_file(path)
        per_query[key] = _read_queries(qfile)
        qlang, _, clang = key[2].partition("-")
        counts = _generator_counts(list(per_query[key].index), prov.get((key[1], qlang)))
        row.update(
            crosslingual=bool(clang),
            query_lang=qlang,
            chunk_lang=clang or qlang,
            generators="+".join(sorted(counts)),
            queries_by_generator=";".join(f"{g}={n}" for g, n in sorted(counts.items())),
            eval_seconds=float(row["encode_seconds"]) + float(row["search_seconds"]),
            queries_file=str(qfile),
        )
        rows.append(row)
    df = pd.DataFrame(rows)
    metric = headline(list(df.columns), metric)
    order = list(dict.fromkeys([*models, *sorted(df["model"].unique())]))
    df["_order"] = [order.index(m) for m in df["model"]]
    df = df.sort_values(["corpus", "crosslingual", "lang", "_order"], kind="stable").drop(columns="_order")
    df = df.reset_index(drop=True)

    extra: dict[str, list[Any]] = {
        k: []
        for k in (
            "base_model",
            f"base_{metric}",
            "paired_metric",
            "diff_vs_base",
            "diff_vs_base_lo",
            "diff_vs_base_hi",
            "p_value_vs_base",
            "p_wilcoxon_vs_base",
            "n_paired",
            "training_seconds",
            "training_backend",
            "training_pairs",
            "mteb_main_score",
        )
    }
    lookup = {(r.model, r.corpus, r.lang): i for i, r in enumerate(df.itertuples())}
    for r in df.itertuples():
        base = bases.get(r.model)
        bi = lookup.get((base, r.corpus, r.lang)) if base else None
        test: dict[str, Any] = {}
        if bi is not None:
            a, b = per_query[(base, r.corpus, r.lang)], per_query[(r.model, r.corpus, r.lang)]
            if paired_metric not in a.columns:
                raise EmbedlabError(
                    f"report.paired_metric: {paired_metric!r} is not a column of the per-query "
                    f"files (columns: {', '.join(a.columns)}): fix report.paired_metric"
                )
            common = a.index.intersection(b.index)
            if len(common) < max(len(a), len(b)):
                log.warning(
                    "%s vs %s on %s/%s: %d of %d/%d queries in common",
                    r.model,
                    base,
                    r.corpus,
                    r.lang,
                    len(common),
                    len(a),
                    len(b),
                )
            test = paired(
                a.loc[common, paired_metric].to_numpy(),
                b.loc[common, paired_metric].to_numpy(),
                test_samples,
                seed,
                groups=a.loc[common, "group"].astype(str).tolist() if "group" in a.columns else None,
            )
        facts = training.get(r.model, {})
        mteb_score = next(
            (
                d.get("main_score")
                for d in mteb_docs
                if d.get("model") == r.model
                and d.get("status") == "ok"
                and (d.get("custom") or {}).get("corpus") == r.corpus
                and (d.get("custom") or {}).get("lang") == r.lang
            ),
            None,
        )
        extra["base_model"].append(base or "")
        extra[f"base_{metric}"].append(df.loc[bi, metric] if bi is not None else None)
        extra["paired_metric"].append(paired_metric if test else "")
        extra["diff_vs_base"].append(test.get("diff"))
        extra["diff_vs_base_lo"].append((test.get("ci") or [None, None])[0])
        extra["diff_vs_base_hi"].append((test.get("ci") or [None, None])[1])
        extra["p_value_vs_base"].append(test.get("p_value"))
        extra["p_wilcoxon_vs_base"].append(test.get("p_wilcoxon"))
        extra["n_paired"].append(test.get("n"))
        extra["training_seconds"].append(facts.get("training_time_s"))
        extra["training_backend"].append(facts.get("backend", ""))
        extra["training_pairs"].append(facts.get("pairs"))
        extra["mteb_main_score"].append(mteb_score)
    for k, v in extra.items():
        df[k] = pd.Series(
            v, dtype=object if k in ("base_model", "paired_metric", "training_backend") else float
        )
    ident = [
        "model",
        "kind",
        "base_model",
        "corpus",
        "lang",
        "query_lang",
        "chunk_lang",
        "crosslingual",
        "generators",
        "queries_by_generator",
        "n_queries",
        "n_chunks",
    ]
    df = trust.mark_too_few(df[ident + [c for c in df.columns if c not in ident]], metric, max_ci_halfwidth)
    with io.atomic_path(out_csv) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g", lineterminator="\n")
    facts = {"metric": metric, "paired_metric": paired_metric, "test_samples": test_samples, "seed": seed}
    trust_lines = trust.section(df, per_query, prov, trust.labels_of(splits), metric, max_ci_halfwidth)
    io.write_text(
        out_md, render_markdown(df, per_query, prov, training, mteb_docs, facts, [*notes], trust_lines)
    )
    log.info("report: %d rows -> %s, %s", len(df), out_csv, out_md)
    return df


# ---------------------------------------------------------------------------------------------- markdown
def _f(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float | np.floating):
        return f"{x:.{digits}f}"
    return str(x)


def _p(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.2g}" if x < 0.001 else f"{x:.3f}"


def _ci(r: Any, metric: str) -> str:
    lo, hi = r[f"{metric}_lo"], r[f"{metric}_hi"]
    if lo is None or (isinstance(lo, float) and math.isnan(lo)):
        return _f(r[metric])
    return f"{_f(r[metric])} [{_f(lo)}, {_f(hi)}]"


def _metric_cols(df: pd.DataFrame, metric: str) -> list[str]:
    want = ["hit@1", "hit@10", metric, "ndcg@10", "recall@10", "map@100"]
    return [c for c in dict.fromkeys(want) if c in df.columns]


def render_markdown(
    df: pd.DataFrame,
    per_query: dict[tuple[str, str, str], pd.DataFrame],
    prov: dict[tuple[str, str], dict[str, Any]],
    training: dict[str, dict[str, Any]],
    mteb_docs: list[dict[str, Any]],
    facts: dict[str, Any],
    notes: list[str],
    trust_lines: list[str],
) -> str:
    """summary.md: datasets, how far to trust them (report.trust), the tutorial's table, every metric,
    fine-tuned vs base, per generator, cross-lingual, MTEB, notes."""
    metric = facts["metric"]
    mono = df[~df["crosslingual"]]
    cached = df["cached_texts"].fillna(0).astype(float) > 0 if "cached_texts" in df else df["model"].isna()
    lines = [
        "# embedlab report",
        "",
        f"Headline metric: **{metric}** (mean over the validation queries; [95 % bootstrap CI]). "
        "Every metric with its interval is in `summary.csv`. The bootstrap resamples whole chunk groups "
        "(the split unit: an article, a section, a run of chunks), not single queries: queries about one "
        "group share positives and wording, so they are not independent evidence.",
        "",
    ]

    # -- what the numbers are measured on
    lines += [
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

    lines += trust_lines

    # -- the tutorial's table
    lines += [
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
                _ci(r, metric),
                f"{r['eval_seconds']:.2f}{' *' if cached[i] else ''}",
                r["n_queries"],
                r["device"],
            ]
        )
    lines += md_table(["language", "corpus", "model", metric, "duration (s)", "queries", "device"], rows)
    lines.append("")

    # -- all headline metrics
    cols = _metric_cols(df, metric)
    lines += ["## Retrieval metrics", ""]
    for corpus in sorted(df["corpus"].unique()):
        sub = df[df["corpus"] == corpus]
        lines += [f"### {corpus}", ""]
        rows = [[r["lang"], r["model"], *(_ci(r, c) for c in cols)] for _, r in sub.iterrows()]
        lines += md_table(["language", "model", *cols], rows)
        lines.append("")

    # -- fine-tuned vs base
    ft = df[df["base_model"].astype(str) != ""]
    lines += ["## Fine-tuned vs base", ""]
    if ft.empty:
        lines += ["No fine-tuned model in this run.", ""]
    else:
        pm = facts["paired_metric"]
        lines += [
            f"Paired test on the same queries, per-query `{pm}`: mean difference (fine-tuned − base) "
            f"with its paired-bootstrap 95 % CI; p = two-sided sign-flip permutation test "
            f"({facts['test_samples']} flips, seed {facts['seed']}); Wilcoxon signed-rank p beside it. "
            "The unit of both is the chunk group: groups are resampled and sign-flipped whole, and the "
            "Wilcoxon test ranks per-group mean differences.",
            "",
        ]
        rows = []
        for _, r in ft.iterrows():
            diff = (
                "–"
                if _missing(r["diff_vs_base"])
                else (f"{r['diff_vs_base']:+.3f} [{r['diff_vs_base_lo']:+.3f}, {r['diff_vs_base_hi']:+.3f}]")
            )
            rows.append(
                [
                    r["corpus"],
                    r["lang"],
                    r["model"],
                    r["base_model"],
                    _f(r[f"base_{metric}"]),
                    _f(r[metric]),
                    diff,
                    _p(r["p_value_vs_base"]),
                    _p(r["p_wilcoxon_vs_base"]),
                    _f(r["training_seconds"], 1),
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

    # -- by generator
    gen_rows = []
    for _, r in mono.iterrows():
        q = per_query[(r["model"], r["corpus"], r["lang"])]
        gens = prov.get((r["corpus"], r["lang"]), {}).get("queries", {})
        by = q.groupby([gens.get(qid, {}).get("generator", "unknown") for qid in q.index])[metric]
        if by.ngroups > 1:
            gen_rows += [[r["corpus"], r["lang"], r["model"], g, f"{v.mean():.3f}", len(v)] for g, v in by]
    if gen_rows:
        lines += [
            "## By query generator",
            "",
            f"{metric} per generator: ICT queries copy a sentence of the chunk and heading queries are "
            "titles, so their scores differ in kind, not only in degree.",
            "",
        ]
        lines += md_table(["corpus", "language", "model", "generator", metric, "queries"], gen_rows)
        lines.append("")

    # -- cross-lingual
    cross = df[df["crosslingual"]]
    if not cross.empty:
        lines += ["## Cross-lingual", "", "Queries in one language against the chunks of another.", ""]
        rows = [
            [r["corpus"], r["query_lang"], r["chunk_lang"], r["model"], _ci(r, metric), r["n_queries"]]
            for _, r in cross.iterrows()
        ]
        lines += [*md_table(["corpus", "queries", "chunks", "model", metric, "queries"], rows), ""]

    # -- MTEB
    if mteb_docs:
        lines += ["## MTEB", ""]
        ok = [d for d in mteb_docs if d.get("status") == "ok"]
        if ok:
            rows = [
                [d["model"], d["task"], d.get("type", ""), _f(d.get("main_score"), 4)]
                for d in sorted(ok, key=lambda d: (d["task"], d["model"]))
            ]
            lines += [*md_table(["model", "task", "type", "main score"], rows), ""]
        for d in sorted(
            (d for d in mteb_docs if d.get("status") != "ok"), key=lambda d: (d["task"], d["model"])
        ):
            notes.append(
                f"MTEB {d.get('task')} for {d.get('model')}: {d.get('status')} — {d.get('reason', '')}"
            )

    # -- training
    if training:
        lines += ["## Training", ""]
        rows = [
            [
                name,
                f.get("base", {}).get("name", ""),
                f.get("backend", ""),
                f.get("pairs", ""),
                (f.get("hyperparameters") or {}).get("epochs", ""),
                (f.get("hyperparameters") or {}).get("steps", ""),
                _f(f.get("training_time_s"), 1),
                (f.get("hardware") or {}).get("device", ""),
            ]
            for name, f in sorted(training.items())
        ]
        lines += md_table(
            ["model", "base", "backend", "pairs", "epochs", "steps", "training (s)", "device"], rows
        )
        lines.append("")

    if notes:
        lines += ["## Notes", "", *(f"- {n}" for n in notes), ""]
    return "\n".join(lines)


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


# ---------------------------------------------------------------------------------------------- plots
def _rank_frame(summary: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    parts = []
    for r in summary[~summary["crosslingual"]].itertuples():
        q = _read_queries(r.queries_file).reset_index()[["query_id", "first_rank", "reciprocal_rank"]]
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
    models: Sequence[str] = (),
    metric: str = "mrr@10",
    dpi: int = 120,
) -> dict[str, Figure]:
    """Rule `plots`: each requested plot ({name: {format: path}}) from summary.csv and the per-query,
    training and MTEB files. A plot whose data is missing becomes a figure that says so."""
    import pandas as pd

    from embedlab.report import plots

    summary = pd.read_csv(
        summary_csv, dtype={"base_model": str}, keep_default_na=False, na_values=[""]
    ).fillna({"base_model": ""})
    summary["crosslingual"] = summary["crosslingual"].astype(str).str.lower().eq("true")
    metric = headline(list(summary.columns), metric)
    order = list(dict.fromkeys([*models, *summary["model"]]))
    figures: dict[str, Figure] = {}
    for name, paths in outputs.items():
        if name not in PLOTS:
            raise EmbedlabError(f"plots: unknown plot {name!r} (known: {', '.join(PLOTS)})")
        fig = _one_plot(name, summary, metric, order, model_dirs, mteb)
        plots.save(fig, paths, dpi)
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
) -> Figure:
    import pandas as pd

    from embedlab.report import plots

    if name == "mrr_heatmap":
        return plots.mrr_heatmap(summary, metric, order)
    if name == "cost_quality":
        return plots.cost_quality(summary, metric, order)
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
        docs = _mteb_results(mteb)
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
        loss, dev = _curve_frames(_training_facts(model_dirs))
        if loss.empty:
            return plots.note_figure(
                "Training loss",
                "No training loss was logged (no fine-tuned model trained here, "
                "or the autotrain backend exported without training).",
            )
        return plots.loss_curves(loss, dev, order)
    raise AssertionError(name)
