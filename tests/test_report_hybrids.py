"""summary.md's hybrid section (issue 25): a hybrid against each member on the decision questions, and why it
is below one when it is (weights chosen on dev, a member chosen alone, or fixed weights)."""

from __future__ import annotations

import json

import pandas as pd

from embedlab.report.hybrids import hybrid_section


def _row(model, corpus, value, kind="dense", **fusion):
    return {"model": model, "corpus": corpus, "lang": "en", "crosslingual": False, "kind": kind,
            "mrr@10": value, "members": None, **fusion}  # fmt: skip


def _hybrid(corpus, value, weights, dev=None, alone=None):
    return _row(
        "bm25+ft", corpus, value, kind="hybrid", members=json.dumps(["bm25", "ft"]), fusion="convex",
        fusion_weights=json.dumps(weights), **{"fusion_dev_mrr@10": dev},
        fusion_dev_members=json.dumps(alone) if alone else None,
    )  # fmt: skip


def test_each_hybrid_is_set_against_its_members_with_the_reason_it_is_below_one():
    rows = pd.DataFrame(
        [
            _row("bm25", "act", 0.535), _row("ft", "act", 0.550),
            _hybrid("act", 0.520, [0.7, 0.3], dev=0.93, alone={"bm25": 0.92, "ft": 0.61}),
            _row("bm25", "law", 0.90), _row("ft", "law", 0.60),
            _hybrid("law", 0.95, [0.8, 0.2], dev=0.96, alone={"bm25": 0.94, "ft": 0.50}),
            _row("bm25", "docs", 0.70), _row("ft", "docs", 0.75),
            _hybrid("docs", 0.70, [1.0, 0.0], dev=0.88, alone={"bm25": 0.88, "ft": 0.80}),
            _row("bm25", "fixed", 0.70), _row("ft", "fixed", 0.75), _hybrid("fixed", 0.72, [0.5, 0.5]),
        ]
    )  # fmt: skip
    md = hybrid_section(rows, "mrr@10", on_real={("act", "en")})
    assert md[0] == "## Hybrids: better than their parts?"
    by_dataset = {line.split(" | ")[1]: line for line in md if line.startswith("| bm25+ft |")}
    act = by_dataset["act/en"]
    assert "| real questions | 0.520 | bm25 0.535, ft 0.550 |" in act
    assert "bm25 0.7 / ft 0.3 (dev 0.930; bm25 alone 0.920, ft alone 0.610)" in act
    assert "below ft by 0.030 on real questions: the dev slice (synthetic queries of train chunks)" in act
    assert "preferred these weights to any member alone, and these questions do not bear that out" in act
    law, docs, fixed = by_dataset["law/en"], by_dataset["docs/en"], by_dataset["fixed/en"]
    assert "| val |" in law and "beats every member (+0.050 over bm25)" in law
    assert "preferred bm25 alone, and these questions do not bear that out" in docs
    assert "(fixed)" in fixed and "its weights are fixed in the config" in fixed


def test_no_hybrid_no_section():
    assert hybrid_section(pd.DataFrame([_row("bm25", "act", 0.5)]), "mrr@10", set()) == []
