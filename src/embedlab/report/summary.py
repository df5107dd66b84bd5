"""Rule `summarize_results`: every evaluation result in one table (summary.csv), with the fine-tuned vs base
paired tests, training facts and MTEB scores beside each row; summary.md is rendered from it
(`embedlab.report.markdown`).

Why a separate step: the tutorial ends each experiment with a pandas table in a terminal. Here the rules
`summarize_results` (numbers: `summary.csv`, `summary.md`) and `draw_plots` (figures only,
`embedlab.report.figures`, from the summary and the per-query / training / MTEB files) gather what the earlier
rules wrote, so editing a plot reruns `draw_plots` alone, in seconds. A fine-tuned model is compared with its
base model on the same queries (paired sign-flip permutation test, seeded; Wilcoxon signed-rank from scipy
beside it), and every table says which query generators the numbers come from, so offline ICT/heading
queries are not mistaken for LLM ones.
What the rules read and write: the workflow layer's `Plan.report` (workflow/report_plan.py). Formats:
docs/formats.md (`results/report/`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embedlab import filenames, io
from embedlab.errors import EmbedlabError
from embedlab.evaluation import metrics
from embedlab.report import deploy, trust
from embedlab.report import real as real_report
from embedlab.report import release as release_gate
from embedlab.report.hybrids import hybrid_section
from embedlab.report.markdown import render_markdown
from embedlab.settings import schema_default

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


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
    return p.with_name(filenames.per_query(p.name))


def read_queries(path: str | Path) -> pd.DataFrame:
    import pandas as pd

    return pd.read_csv(path, dtype={"query_id": str}).set_index("query_id")


def _provenance_index(paths: Sequence[str | Path]) -> dict[tuple[str, str], dict[str, Any]]:
    """(corpus, lang) -> the JSON file of that dataset (provenance.json, real.mapping.json)."""
    out = {}
    for path in paths:
        doc = io.read_json(path)
        out[(doc["corpus"], doc["lang"])] = doc
    return out


def training_facts(model_dirs: Sequence[str | Path]) -> dict[str, dict[str, Any]]:
    out = {}
    for d in model_dirs:
        f = Path(d) / filenames.TRAINING_FACTS
        if f.is_file():
            facts = io.read_json(f)
            out[facts.get("name") or Path(d).name] = facts
        else:
            log.warning("%s has no training.json: no training time or loss curve for it", d)
    return out


def mteb_results(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
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
    compression: Sequence[str | Path] = (),
    real: Sequence[str | Path] = (),
    mappings: Sequence[str | Path] = (),
    query_sets: Sequence[str | Path] = (),
    out_deploy: str | Path | None = None,
    out_release: str | Path | None = None,
    bases: dict[str, str] | None = None,
    candidates: Sequence[release_gate.Candidate] = (),
    alternatives: Sequence[str] = (),
    gate: release_gate.Gate | None = None,
    models: Sequence[str] = (),
    metric: str = schema_default("report", "metric"),
    paired_metric: str = schema_default("report", "paired_metric"),
    test_samples: int = schema_default("report", "test_samples"),
    max_ci_halfwidth: float = schema_default("report", "max_ci_halfwidth"),
    seed: int = schema_default("seed"),
    min_real_questions: int = schema_default("report", "min_real_questions"),
    notes: Sequence[str] = (),
) -> pd.DataFrame:
    """Rule `summarize_results`: one row per model x corpus x language x query set (`val`: the generators'
    queries; `real`: real questions, `real` evaluation CSVs) -> summary.csv + summary.md, and every
    deployable configuration (evaluations + compression variants) -> deploy.csv (`out_deploy`), on real
    questions where a dataset has at least `min_real_questions` of them; the release gate's verdict for each
    of the fine-tunes `candidates` (`report.release`) -> release.csv (`out_release`) and summary.md's top."""
    import pandas as pd

    if not eval_csvs:
        raise EmbedlabError("report: no evaluation results to summarise: enable `evaluation` and list models")
    prov = _provenance_index(provenance)
    training = training_facts(model_dirs)
    mteb_docs = mteb_results(mteb)
    df, per_query = _eval_rows(eval_csvs, prov)
    metric = headline(list(df.columns), metric)
    order = list(dict.fromkeys([*models, *sorted(df["model"].unique())]))
    df["_order"] = [order.index(m) for m in df["model"]]
    df = df.sort_values(["corpus", "crosslingual", "lang", "_order"], kind="stable").drop(columns="_order")
    df = df.reset_index(drop=True)
    tests = BaseTests(paired_metric, test_samples, seed)
    df = _add_columns(df, per_query, dict(bases or {}), training, mteb_docs, metric, tests)
    df = trust.mark_too_few(df, metric, max_ci_halfwidth)
    df_real, _ = _real_rows(real, order, dict(bases or {}), training, mteb_docs, metric, tests)
    df_real = trust.mark_too_few(df_real, metric, max_ci_halfwidth) if not df_real.empty else df_real
    both = pd.concat([df.assign(query_set="val"), df_real.assign(query_set="real")], ignore_index=True)
    _write_csv(both, out_csv)
    facts = {"metric": metric, "paired_metric": paired_metric, "test_samples": test_samples, "seed": seed}
    decisions = real_report.decision_rows(df, df_real, min_real_questions)
    real_sets = real_report.decided_on_real(df_real, min_real_questions)
    mapped = _provenance_index(mappings)
    trust_lines = trust.section(
        df, per_query, prov, trust.labels_of(splits), metric, max_ci_halfwidth,
        real=df_real, mappings=mapped, decided=real_sets,
    )  # fmt: skip
    table = deploy.deploy_table(deploy_frame(decisions, compression, skip=real_sets), metric)
    verdicts = release_gate.release_verdicts(
        decisions, df, real_sets, candidates, alternatives, metric,
        gate or release_gate.Gate(**schema_default("report", "release")),
    )  # fmt: skip
    for frame, path in ((table, out_deploy), (verdicts, out_release)):
        if path is not None:
            _write_csv(frame, path)
    sections = {
        "release": release_gate.release_markdown(verdicts),
        "real": real_report.real_section(df, df_real, mapped, metric, min_real_questions)
        + real_report.lexical_section(query_sets, df, df_real, metric),
        "trust": trust_lines,
        "deploy": deploy_section(table, metric, real_sets),
        "hybrids": hybrid_section(decisions, metric, real_sets),
    }
    io.write_text(
        out_md, render_markdown(df, per_query, prov, training, mteb_docs, facts, [*notes], sections)
    )
    log.info("report: %d rows -> %s, %s", len(df), out_csv, out_md)
    return df


def _write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    with io.atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g", lineterminator="\n")


def deploy_frame(
    df: pd.DataFrame, compression: Sequence[str | Path], skip: set[tuple[str, str]] = frozenset()
) -> pd.DataFrame:
    """Every configuration evaluated on a val split: the evaluation rows (cross-lingual runs are not
    deployments; an ONNX export's backend is onnxruntime) and each compression variant except the full
    float32 one, which is the evaluation row. Datasets in `skip` are decided on real questions, which the
    compression variants were not scored on: their variants are left out."""
    import pandas as pd

    frames = [df[~df["crosslingual"]].assign(backend=lambda f: f["kind"].map({"onnx": "onnxruntime"}))]
    full = {(r["model"], r["corpus"], r["lang"]): r["dim"] for _, r in frames[0].iterrows()}
    for path in compression:
        v = pd.read_csv(path, keep_default_na=False, na_values=[""])
        v = v[[(c, lang) not in skip for c, lang in zip(v["corpus"], v["lang"], strict=True)]]
        own = [full.get((m, c, lang)) for m, c, lang in zip(v["model"], v["corpus"], v["lang"], strict=True)]
        frames.append(v[~((v["precision"] == "float32") & (v["dims"] == pd.Series(own, index=v.index)))])
    return pd.concat(frames, ignore_index=True)


def deploy_section(
    table: pd.DataFrame, metric: str, real_sets: set[tuple[str, str]] = frozenset()
) -> list[str]:
    """summary.md's "What to deploy": per dataset, every configuration's quality, size and speed."""
    if table.empty:
        return []
    on_real = ", ".join(f"{c}/{lang}" for c, lang in sorted(real_sets))
    return [
        "## What to deploy",
        "",
        "Every evaluated configuration (model × fusion × reranker × dimensions × precision × backend) "
        "with its quality, the bytes of one chunk vector, the index of this corpus and the median latency "
        "of one query on this machine (encoded by the model, never the cache, then searched). ✓ = "
        "Pareto-optimal: no other configuration is at least as good on all three and better on one."
        + (
            f" Quality on **real questions** for {on_real} (compression variants, scored on synthetic "
            "queries only, are left out there); on the synthetic val queries elsewhere."
            if on_real
            else ""
        ),
        "",
        *deploy.deploy_markdown(table, metric),
    ]


def _eval_rows(
    eval_csvs: Sequence[str | Path], prov: dict[tuple[str, str], dict[str, Any]]
) -> tuple[pd.DataFrame, dict[tuple[str, str, str], pd.DataFrame]]:
    """One row per evaluation CSV, with its languages, generator mix and duration; and each run's per-query
    file, keyed (model, corpus, lang)."""
    import pandas as pd

    rows, per_query = [], {}
    for path in eval_csvs:
        row = pd.read_csv(path, keep_default_na=False, na_values=[""]).iloc[0].to_dict()
        row.pop("format", None)
        key = (str(row["model"]), str(row["corpus"]), str(row["lang"]))
        qfile = queries_file(path)
        per_query[key] = read_queries(qfile)
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
    return pd.DataFrame(rows), per_query


def _real_rows(
    real_csvs: Sequence[str | Path],
    order: list[str],
    bases: dict[str, str],
    training: dict[str, dict[str, Any]],
    mteb_docs: list[dict[str, Any]],
    metric: str,
    tests: BaseTests,
) -> tuple[pd.DataFrame, dict[tuple[str, str, str], pd.DataFrame]]:
    """The real-question rows, with their own paired tests against each base on the same real questions."""
    import pandas as pd

    if not real_csvs:
        return pd.DataFrame(), {}
    df, per_query = _eval_rows(real_csvs, {})
    df["generators"] = "real"
    df["queries_by_generator"] = [f"real={int(n)}" for n in df["n_queries"]]
    df["_order"] = [order.index(m) if m in order else len(order) for m in df["model"]]
    df = df.sort_values(["corpus", "lang", "_order"], kind="stable").drop(columns="_order")
    df = _add_columns(df.reset_index(drop=True), per_query, bases, training, mteb_docs, metric, tests)
    return df, per_query


@dataclass(frozen=True)
class BaseTests:
    """How a fine-tuned model is tested against its base: the per-query metric, resamples and seed."""

    paired_metric: str
    samples: int
    seed: int


# Columns added to every row, in this order; text columns are kept as text, the others are floats.
ADDED_COLUMNS = (
    "base_model",
    "base_{metric}",
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
TEXT_COLUMNS = ("base_model", "paired_metric", "training_backend")
IDENT_COLUMNS = [
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


def _add_columns(
    df: pd.DataFrame,
    per_query: dict[tuple[str, str, str], pd.DataFrame],
    bases: dict[str, str],
    training: dict[str, dict[str, Any]],
    mteb_docs: list[dict[str, Any]],
    metric: str,
    tests: BaseTests,
) -> pd.DataFrame:
    """Per row: the paired test against its base model (same corpus and language), training facts and the
    MTEB score of its custom task; identifying columns first."""
    import pandas as pd

    extra: dict[str, list[Any]] = {k.format(metric=metric): [] for k in ADDED_COLUMNS}
    lookup = {(r.model, r.corpus, r.lang): i for i, r in enumerate(df.itertuples())}
    for r in df.itertuples():
        base = bases.get(r.model)
        bi = lookup.get((base, r.corpus, r.lang)) if base else None
        test = _vs_base(per_query, base, r, tests) if bi is not None else {}
        facts = training.get(r.model, {})
        ci = test.get("ci") or [None, None]
        values = [
            base or "",
            df.loc[bi, metric] if bi is not None else None,
            tests.paired_metric if test else "",
            test.get("diff"),
            ci[0],
            ci[1],
            test.get("p_value"),
            test.get("p_wilcoxon"),
            test.get("n"),
            facts.get("training_time_s"),
            facts.get("backend", ""),
            facts.get("pairs"),
            _mteb_score(mteb_docs, r.model, r.corpus, r.lang),
        ]
        for column, value in zip(extra, values, strict=True):
            extra[column].append(value)
    for k, v in extra.items():
        df[k] = pd.Series(v, dtype=object if k in TEXT_COLUMNS else float)
    return df[IDENT_COLUMNS + [c for c in df.columns if c not in IDENT_COLUMNS]]


def _vs_base(
    per_query: dict[tuple[str, str, str], pd.DataFrame], base: str, r: Any, tests: BaseTests
) -> dict[str, Any]:
    """The paired test of row `r`'s model against `base` on the queries both answered."""
    a, b = per_query[(base, r.corpus, r.lang)], per_query[(r.model, r.corpus, r.lang)]
    if tests.paired_metric not in a.columns:
        raise EmbedlabError(
            f"report.paired_metric: {tests.paired_metric!r} is not a column of the per-query "
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
    return paired(
        a.loc[common, tests.paired_metric].to_numpy(),
        b.loc[common, tests.paired_metric].to_numpy(),
        tests.samples,
        tests.seed,
        groups=a.loc[common, "group"].astype(str).tolist() if "group" in a.columns else None,
    )


def _mteb_score(mteb_docs: list[dict[str, Any]], model: str, corpus: str, lang: str) -> float | None:
    """The main score of `model` on the custom MTEB task of corpus/lang, when it ran."""
    return next(
        (
            d.get("main_score")
            for d in mteb_docs
            if d.get("model") == model
            and d.get("status") == "ok"
            and (d.get("custom") or {}).get("corpus") == corpus
            and (d.get("custom") or {}).get("lang") == lang
        ),
        None,
    )
