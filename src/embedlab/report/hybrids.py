"""summary.md's hybrid section: does each hybrid beat every member on the questions the decisions use, and
when it does not, why. Convex weights are chosen on the dev slice (synthetic queries of train chunks), where a
member alone is one of the grid points; so a hybrid below a member either had that member's weight chosen
away by dev scores that the decision questions do not bear out, or was given fixed weights."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from embedlab.evaluation.fusion import TUNE_METRIC
from embedlab.report.mdtable import md_table, missing, num_cell

if TYPE_CHECKING:
    import pandas as pd


HEADER = ["hybrid", "dataset", "decided on", "members alone", "weights (dev)", "why"]


def hybrid_section(rows: pd.DataFrame, metric: str, on_real: set[tuple[str, str]]) -> list[str]:
    """One line per hybrid x dataset of `rows` (the decision rows: real questions for the datasets `on_real`,
    val for the rest): its score, each member's, the weights and the dev scores they were chosen by."""
    if rows.empty or "members" not in rows.columns:
        return []
    mono = rows[~rows["crosslingual"].astype(bool)]
    index = {(r["model"], r["corpus"], r["lang"]): r for r in mono.to_dict("records")}
    table = []
    for r in mono[mono["kind"] == "hybrid"].to_dict("records"):
        members = json.loads(r["members"])
        key = (r["corpus"], r["lang"])
        scored = {m: float(index[(m, *key)][metric]) for m in members if (m, *key) in index}
        on = "real questions" if key in on_real else "val"
        table.append(
            [
                r["model"],
                f"{r['corpus']}/{r['lang']}",
                on,
                num_cell(r[metric]),
                ", ".join(f"{m} {v:.3f}" for m, v in scored.items()),
                _weights(r, members),
                _why(r, members, scored, on, metric),
            ]
        )
    if not table:
        return []
    return [
        "## Hybrids: better than their parts?",
        "",
        f"Each hybrid against each of its members on the same questions ({metric}); convex weights are "
        f"chosen on train's dev slice by {TUNE_METRIC}, where each member alone is a candidate too.",
        "",
        *md_table([*HEADER[:3], metric, *HEADER[3:]], table),
        "",
    ]


def _weights(r: dict[str, Any], members: list[str]) -> str:
    """The weights and, when tuned, the dev scores of the mix and of each member alone."""
    if missing(r.get("fusion_weights")):
        return f"{r['fusion']} (k {r.get('fusion_k')})" if r.get("fusion") == "rrf" else "–"
    weights = json.loads(r["fusion_weights"])
    text = " / ".join(f"{m} {w:g}" for m, w in zip(members, weights, strict=True))
    dev = r.get(f"fusion_dev_{TUNE_METRIC}")
    if missing(dev):
        return text + " (fixed)"
    alone = json.loads(r["fusion_dev_members"]) if not missing(r.get("fusion_dev_members")) else {}
    parts = ", ".join(f"{m} alone {v:.3f}" for m, v in alone.items())
    return f"{text} (dev {dev:.3f}" + (f"; {parts})" if parts else ")")


def _why(r: dict[str, Any], members: list[str], scored: dict[str, float], on: str, metric: str) -> str:
    if not scored:
        return "its members were not evaluated here"
    best, value = max(scored.items(), key=lambda kv: kv[1])
    gap = float(r[metric]) - value
    if gap > 0:
        return f"beats every member (+{gap:.3f} over {best})"
    if gap == 0:
        return f"ties {best}"
    if missing(r.get(f"fusion_dev_{TUNE_METRIC}")):
        return f"below {best} by {-gap:.3f}: its weights are fixed in the config, not chosen on dev"
    weights = json.loads(r["fusion_weights"])
    pure = max(weights) == 1
    chose = f"{members[weights.index(1.0)]} alone" if pure else "these weights to any member alone"
    return (
        f"below {best} by {-gap:.3f} on {on}: the dev slice (synthetic queries of train chunks) preferred "
        f"{chose}, and these questions do not bear that out"
    )
