"""The release gate: per fine-tune and dataset it trained on, ship / do not ship / undecided, with the reason
in one line, so the report answers the question users ask of a fine-tune before any table.

A fine-tune ships when every check passes, is held back ("do not ship") when one fails, and is undecided when
none fails but one cannot be settled (too few queries to tell it from its base, a seed that does not
agree, a guard set that was not evaluated):
- better than its base by the paired test (p < alpha), on real questions where the dataset has enough of
  them (`report.min_real_questions`), else on the synthetic val queries (which favour lexical matching: the
  reason says so);
- every seed replica better than the base too (training randomness, beside the query sampling the test
  covers), with at least `min_seeds` seeds: one seed's win can be luck of the draw;
- not worse than the best option that involves no fine-tune (BM25, the base, a hybrid of the base) by more
  than `margin` of the headline metric;
- on each forgetting-guard dataset, no more than `max_loss` below its base.

A retrieve-then-rerank pipeline with a trained reranker is judged the same way, its first stage taking the
base's place: a reranker that does not beat the retriever it reorders is held back, and the table says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from embedlab.report.mdtable import md_table, missing, num_cell, p_cell

if TYPE_CHECKING:
    import pandas as pd

SHIP, HOLD, UNDECIDED = "ship", "do not ship", "undecided"
COLUMNS = [
    "model",
    "corpus",
    "lang",
    "query_set",
    "verdict",
    "reason",
    "metric",
    "value",
    "base_model",
    "base_value",
    "diff_vs_base",
    "p_value_vs_base",
    "best_alternative",
    "best_alternative_value",
    "seeds",
    "seeds_better",
    "seed_mean",
    "seed_sd",
    "guard_loss",
]


class Candidate(NamedTuple):
    """A fine-tune the gate judges: its base, the datasets it trained on, its seed replicas (itself first)
    and its forgetting-guard datasets with the loss allowed there; for a rerank pipeline, `base` is its first
    stage and `base_role` says so in the reasons. A NamedTuple, so that Snakemake's params rerun trigger sees
    a change (see EvalOptions)."""

    name: str
    base: str
    datasets: tuple[tuple[str, str], ...]
    replicas: tuple[str, ...] = ()
    guard: tuple[tuple[str, str], ...] = ()
    max_loss: float = 0.0
    guard_metric: str = ""  # the guard's metric (`guard.metric`); empty: the report's headline metric
    base_role: str = "base"  # what `base` is to it, in the reasons: "base", or a pipeline's "first stage"
    seedable: bool = True  # False for a rerank pipeline: rerankers have no `seeds`, so min_seeds cannot apply


class Gate(NamedTuple):
    """The thresholds (config `report.release`)."""

    alpha: float
    margin: float
    min_seeds: int


@dataclass
class _Checks:
    """What each check found: the first failure decides, then the first open question."""

    failed: list[str] = field(default_factory=list)
    open: list[str] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)

    def verdict(self) -> tuple[str, str]:
        if self.failed:
            return HOLD, self.failed[0]
        if self.open:
            return UNDECIDED, self.open[0]
        return SHIP, "; ".join(self.passed)


def release_verdicts(
    rows: pd.DataFrame,
    val_rows: pd.DataFrame,
    on_real: set[tuple[str, str]],
    candidates: Sequence[Candidate],
    alternatives: Sequence[str],
    metric: str,
    gate: Gate,
) -> pd.DataFrame:
    """One verdict per candidate x dataset it trained on. `rows`: the decision rows (real questions for the
    datasets `on_real`, val for the rest: `report.real.decision_rows`); `val_rows`: the val rows (the guard
    sets); `alternatives`: the evaluated models that involve no fine-tune."""
    import pandas as pd

    index = {(r["model"], r["corpus"], r["lang"]): r for r in _records(rows)}
    val_index = {(r["model"], r["corpus"], r["lang"]): r for r in _records(val_rows)}
    out = []
    for cand in candidates:
        for corpus, lang in cand.datasets:
            row = index.get((cand.name, corpus, lang))
            if row is None:
                continue
            query_set = "real" if (corpus, lang) in on_real else "val"
            out.append(_judge(cand, row, query_set, index, val_index, alternatives, metric, gate))
    return pd.DataFrame(out, columns=COLUMNS)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    if frame.empty:
        return []
    mono = frame[~frame["crosslingual"].astype(bool)] if "crosslingual" in frame.columns else frame
    return mono.to_dict("records")


def _judge(
    cand: Candidate,
    row: dict[str, Any],
    query_set: str,
    index: dict[tuple[str, str, str], dict[str, Any]],
    val_index: dict[tuple[str, str, str], dict[str, Any]],
    alternatives: Sequence[str],
    metric: str,
    gate: Gate,
) -> dict[str, Any]:
    corpus, lang = row["corpus"], row["lang"]
    checks = _Checks()
    on = "real questions" if query_set == "real" else "synthetic val queries (lexical: see the trust section)"
    won = _vs_base(checks, row, cand, on, gate)
    seeds = _seeds(checks, cand, corpus, lang, index, metric, gate, won)
    best = _vs_alternatives(checks, row, corpus, lang, index, alternatives, metric, gate)
    guard_loss = _guard(checks, cand, val_index, metric)
    verdict, reason = checks.verdict()
    return {
        "model": cand.name,
        "corpus": corpus,
        "lang": lang,
        "query_set": query_set,
        "verdict": verdict,
        "reason": reason,
        "metric": metric,
        "value": row[metric],
        "base_model": cand.base,
        "base_value": row.get(f"base_{metric}"),
        "diff_vs_base": row.get("diff_vs_base"),
        "p_value_vs_base": row.get("p_value_vs_base"),
        "best_alternative": best[0] if best else "",
        "best_alternative_value": best[1] if best else None,
        **seeds,
        "guard_loss": guard_loss,
    }


def _better(row: dict[str, Any], alpha: float) -> int:
    """+1 better than the base (p < alpha), -1 worse, 0 not distinguishable or not tested."""
    diff, p = row.get("diff_vs_base"), row.get("p_value_vs_base")
    if missing(diff) or missing(p) or p >= alpha:
        return 0
    return 1 if diff > 0 else -1 if diff < 0 else 0


def _vs_base(checks: _Checks, row: dict[str, Any], cand: Candidate, on: str, gate: Gate) -> str | None:
    """The paired test against the base; returns the win's words when it is better (for `_seeds`)."""
    diff, p = row.get("diff_vs_base"), row.get("p_value_vs_base")
    its = f"its {cand.base_role}"
    if missing(diff) or missing(p):
        checks.open.append(f"not evaluated next to {its} {cand.base} on {on}")
        return None
    said = f"{diff:+.3f} vs {cand.base} (p = {p_cell(p)}) on {on}"
    side = _better(row, gate.alpha)
    if side > 0:
        checks.passed.append(f"better than {its}: {said}")
        return checks.passed[-1]
    if side < 0:
        checks.failed.append(f"worse than {its}: {said}")
    else:
        checks.open.append(f"not distinguishable from {its} at p < {gate.alpha:g}: {said}")
    return None


def _seeds(
    checks: _Checks,
    cand: Candidate,
    corpus: str,
    lang: str,
    index: dict[tuple[str, str, str], dict[str, Any]],
    metric: str,
    gate: Gate,
    won: str | None,
) -> dict[str, Any]:
    """Every replica against the base; mean and spread of the metric across the seeds that were scored. Too
    few seeds leave it open, keeping the win against the base (`won`) in the reason."""
    replicas = cand.replicas or [cand.name]
    scored = [index[(m, corpus, lang)] for m in replicas if (m, corpus, lang) in index]
    values = [float(r[metric]) for r in scored]
    sides = [_better(r, gate.alpha) for r in scored]
    n, better = len(replicas), sum(s > 0 for s in sides)
    if n > 1:
        worse = [m for m, s in zip(replicas, sides, strict=False) if s < 0]
        if worse:
            checks.failed.append(f"worse than its base with seed replica {', '.join(worse)}")
        elif len(scored) < n:
            checks.open.append(f"{n - len(scored)} of {n} seed replicas not evaluated")
        elif better < n:
            checks.open.append(f"better than its base in {better} of {n} seeds only")
        else:
            checks.passed.append(f"in all {n} seeds")
    if cand.seedable and n < gate.min_seeds and not checks.failed:
        lead = f"{won}, but with " if won else "trained with "
        checks.open.append(
            f"{lead}{n} seed{'s' if n > 1 else ''} only: stability across training seeds unknown "
            f"(`report.release.min_seeds` {gate.min_seeds}; list seeds in its finetune entry's `seeds`)"
        )
    mean = sum(values) / len(values) if values else None
    sd = (
        math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
        if mean is not None and len(values) > 1
        else None
    )
    return {"seeds": n, "seeds_better": better, "seed_mean": mean, "seed_sd": sd}


def _vs_alternatives(
    checks: _Checks,
    row: dict[str, Any],
    corpus: str,
    lang: str,
    index: dict[tuple[str, str, str], dict[str, Any]],
    alternatives: Sequence[str],
    metric: str,
    gate: Gate,
) -> tuple[str, float] | None:
    """The best option without a fine-tune on the same questions; below it by more than the margin fails."""
    scored = [
        (m, float(index[(m, corpus, lang)][metric])) for m in alternatives if (m, corpus, lang) in index
    ]
    if not scored:
        return None
    name, value = max(scored, key=lambda x: x[1])
    gap = float(row[metric]) - value
    if gap < -gate.margin:
        checks.failed.append(
            f"below {name} ({metric} {value:.3f}) by {-gap:.3f}, more than the margin {gate.margin:g}"
        )
    else:
        checks.passed.append(f"within {gate.margin:g} of the best option without fine-tuning ({name})")
    return name, value


def _guard(
    checks: _Checks, cand: Candidate, val_index: dict[tuple[str, str, str], dict[str, Any]], metric: str
) -> float | None:
    """The largest loss against the base on the guard sets (general retrieval the fine-tune may forget)."""
    metric = cand.guard_metric or metric
    losses, forgot = [], False
    for corpus, lang in cand.guard:
        mine, base = val_index.get((cand.name, corpus, lang)), val_index.get((cand.base, corpus, lang))
        if mine is None or base is None:
            checks.open.append(f"guard set {corpus}/{lang} not evaluated for it and its base")
            continue
        loss = float(base[metric]) - float(mine[metric])
        losses.append(loss)
        if loss > cand.max_loss:
            forgot = True
            checks.failed.append(
                f"forgets {corpus}/{lang}: {metric} {loss:.3f} below its base, more than {cand.max_loss:g}"
            )
    if cand.guard and losses and not forgot:
        checks.passed.append(f"guard sets within {cand.max_loss:g} of its base")
    return max(losses) if losses else None


def release_markdown(table: pd.DataFrame) -> list[str]:
    """summary.md's first section: the verdicts, one line each."""
    if table.empty:
        return []
    rows = [
        [
            r["model"],
            f"{r['corpus']}/{r['lang']}",
            r["query_set"],
            f"**{r['verdict']}**",
            num_cell(r["value"]),
            num_cell(r["seed_sd"]) if r["seeds"] > 1 else "–",
            r["reason"],
        ]
        for r in table.to_dict("records")
    ]
    header = ["model", "dataset", "decided on", "verdict", table["metric"].iloc[0], "seed sd", "why"]
    return [
        "## Release verdict",
        "",
        "Ship a fine-tune when it beats its base by the paired test, in every seed (at least "
        "`report.release.min_seeds` of them), is not worse than the "
        "best option without fine-tuning beyond `report.release.margin`, and keeps the forgetting-guard "
        "sets within their `guard.max_loss`; the first failed check holds it back, an open one leaves it "
        "undecided. A trained reranker is judged by its pipeline, its first stage in the base's place.",
        "",
        *md_table(header, rows),
        "",
    ]
