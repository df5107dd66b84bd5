"""The release gate (issue 25): one hand-made case per verdict and reason, the markdown table, the published
card's section, and the fine-tuned-vs-base plot's one p-value label per comparison."""

from __future__ import annotations

import pandas as pd
import pytest

from embedlab.report import plots
from embedlab.report.release import HOLD, SHIP, UNDECIDED, Candidate, Gate, release_markdown, release_verdicts
from embedlab.train.card import release_section

GATE = Gate(alpha=0.05, margin=0.01, min_seeds=1)  # the single-seed cases; min_seeds 2 below
DS = ("docs", "en")


def _row(model: str, value: float, base: str = "", diff=None, p=None, corpus="docs", query_set="val") -> dict:
    return {
        "model": model,
        "corpus": corpus,
        "lang": "en",
        "crosslingual": False,
        "query_set": query_set,
        "mrr@10": value,
        "base_model": base,
        "base_mrr@10": value - diff if diff is not None else None,
        "diff_vs_base": diff,
        "p_value_vs_base": p,
    }


def _verdict(
    rows: list[dict], cand: Candidate, alternatives=("base", "bm25"), val_rows=None, gate: Gate = GATE
) -> dict:
    frame = pd.DataFrame(rows)
    on_real = {(r["corpus"], r["lang"]) for r in rows if r["query_set"] == "real"}
    table = release_verdicts(
        frame, pd.DataFrame(val_rows or rows), on_real, [cand], alternatives, "mrr@10", gate
    )
    assert len(table) == 1
    return table.iloc[0].to_dict()


BASELINES = [_row("base", 0.50), _row("bm25", 0.52)]


def test_better_than_base_and_every_option_ships():
    v = _verdict([*BASELINES, _row("ft", 0.60, "base", 0.10, 0.001)], Candidate("ft", "base", (DS,)))
    assert v["verdict"] == SHIP
    assert v["reason"].startswith("better than its base: +0.100 vs base (p = 0.001) on synthetic val queries")
    assert "within 0.01 of the best option without fine-tuning (bm25)" in v["reason"]
    assert v["best_alternative"] == "bm25" and v["best_alternative_value"] == 0.52


def test_worse_than_base_is_held_back():
    v = _verdict([*BASELINES, _row("ft", 0.45, "base", -0.05, 0.01)], Candidate("ft", "base", (DS,)))
    assert v["verdict"] == HOLD and v["reason"].startswith("worse than its base: -0.050")


def test_no_significant_difference_is_undecided():
    v = _verdict([*BASELINES, _row("ft", 0.53, "base", 0.03, 0.2)], Candidate("ft", "base", (DS,)))
    assert v["verdict"] == UNDECIDED
    assert v["reason"].startswith("not distinguishable from its base at p < 0.05: +0.030")


def test_below_bm25_beyond_the_margin_is_held_back_even_when_better_than_base():
    rows = [_row("base", 0.40), _row("bm25", 0.60), _row("ft", 0.55, "base", 0.15, 0.001)]
    v = _verdict(rows, Candidate("ft", "base", (DS,)))
    assert v["verdict"] == HOLD
    assert v["reason"] == "below bm25 (mrr@10 0.600) by 0.050, more than the margin 0.01"


def test_within_the_margin_of_bm25_still_ships():
    rows = [_row("base", 0.40), _row("bm25", 0.605), _row("ft", 0.60, "base", 0.2, 0.001)]
    assert _verdict(rows, Candidate("ft", "base", (DS,)))["verdict"] == SHIP


def test_real_questions_decide_and_the_reason_says_so():
    rows = [
        _row("base", 0.50, query_set="real"),
        _row("bm25", 0.40, query_set="real"),
        _row("ft", 0.58, "base", 0.08, 0.004, query_set="real"),
    ]
    v = _verdict(rows, Candidate("ft", "base", (DS,)))
    assert v["verdict"] == SHIP and v["query_set"] == "real" and "on real questions" in v["reason"]


def test_seeds_all_better_ship_with_their_spread():
    rows = [
        *BASELINES,
        _row("ft", 0.60, "base", 0.10, 0.001),
        _row("ft.seed2", 0.62, "base", 0.12, 0.001),
        _row("ft.seed3", 0.58, "base", 0.08, 0.002),
    ]
    v = _verdict(rows, Candidate("ft", "base", (DS,), replicas=("ft", "ft.seed2", "ft.seed3")))
    assert v["verdict"] == SHIP and "in all 3 seeds" in v["reason"]
    assert v["seeds"] == 3 and v["seeds_better"] == 3
    assert v["seed_mean"] == pytest.approx(0.60) and v["seed_sd"] == pytest.approx(0.02)


def test_a_seed_that_does_not_beat_the_base_leaves_it_undecided_and_a_worse_one_holds_it():
    cand = Candidate("ft", "base", (DS,), replicas=("ft", "ft.seed2"))
    mixed = [*BASELINES, _row("ft", 0.60, "base", 0.10, 0.001), _row("ft.seed2", 0.52, "base", 0.02, 0.4)]
    v = _verdict(mixed, cand)
    assert v["verdict"] == UNDECIDED and v["reason"] == "better than its base in 1 of 2 seeds only"
    worse = [*BASELINES, _row("ft", 0.60, "base", 0.10, 0.001), _row("ft.seed2", 0.45, "base", -0.05, 0.01)]
    v = _verdict(worse, cand)
    assert v["verdict"] == HOLD and v["reason"] == "worse than its base with seed replica ft.seed2"


def test_forgetting_a_guard_set_holds_it_back():
    guard_rows = [_row("base", 0.70, corpus="beir"), _row("ft", 0.65, "base", -0.05, 0.01, corpus="beir")]
    rows = [*BASELINES, _row("ft", 0.60, "base", 0.10, 0.001)]
    cand = Candidate("ft", "base", (DS,), guard=(("beir", "en"),), max_loss=0.02)
    v = _verdict(rows, cand, val_rows=rows + guard_rows)
    assert v["verdict"] == HOLD
    assert v["reason"] == "forgets beir/en: mrr@10 0.050 below its base, more than 0.02"
    assert v["guard_loss"] == pytest.approx(0.05)
    kept = [_row("base", 0.70, corpus="beir"), _row("ft", 0.69, "base", -0.01, 0.3, corpus="beir")]
    v = _verdict(rows, cand, val_rows=rows + kept)
    assert v["verdict"] == SHIP and "guard sets within 0.02 of its base" in v["reason"]
    v = _verdict(rows, cand, val_rows=rows)
    assert v["verdict"] == UNDECIDED and v["reason"] == "guard set beir/en not evaluated for it and its base"


def test_only_datasets_the_fine_tune_trained_on_are_judged_and_the_table_renders(tmp_path):
    rows = [*BASELINES, _row("ft", 0.60, "base", 0.10, 0.001), _row("ft", 0.3, "base", 0.0, 1.0, corpus="x")]
    table = release_verdicts(
        pd.DataFrame(rows),
        pd.DataFrame(rows),
        set(),
        [Candidate("ft", "base", (DS,))],
        ["base", "bm25"],
        "mrr@10",
        GATE,
    )
    assert list(zip(table["corpus"], table["verdict"], strict=True)) == [("docs", SHIP)]
    md = release_markdown(table)
    assert md[0] == "## Release verdict" and any(
        line.startswith("| ft | docs/en | val | **ship** |") for line in md
    )
    table.to_csv(tmp_path / "release.csv", index=False)
    card = release_section(tmp_path / "release.csv", "ft")
    assert "## Release verdict" in card and "- docs/en: **ship**: better than its base" in card
    assert release_section(tmp_path / "release.csv", "other") == ""


def test_finetune_plot_draws_one_p_label_per_comparison_above_its_own_bar():
    """Two fine-tunes of one base on one dataset: two labels at their own bars (they used to share one x)."""
    rows = []
    for model, base, value, p in (
        ("base", "", 0.5, None),
        ("ft-a", "base", 0.6, 0.001),
        ("ft-b", "base", 0.55, 0.2),
    ):
        rows.append(
            {"model": model, "corpus": "docs", "lang": "en", "crosslingual": False, "base_model": base,
             "mrr@10": value, "mrr@10_lo": value - 0.05, "mrr@10_hi": value + 0.05,
             "p_value_vs_base": float("nan") if p is None else p}
        )  # fmt: skip
    fig = plots.finetune_bars(pd.DataFrame(rows), "mrr@10", ["base", "ft-a", "ft-b"])
    ax = next(a for a in fig.axes if a.get_title())
    labels = [t for t in ax.texts if t.get_text().startswith("p=")]
    assert sorted(t.get_text() for t in labels) == ["p=0.001", "p=0.2"]
    bars = {patch.get_x() + patch.get_width() / 2 for patch in ax.patches}
    xs = [t.get_position()[0] for t in labels]
    assert len(set(xs)) == 2 and all(min(abs(x - b) for b in bars) < 1e-9 for x in xs)


def test_a_reranker_below_its_first_stage_is_held_back_and_the_reason_names_the_first_stage():
    """The trained reranker of issue 25 lost to BM25: the gate says so in plain words."""
    rows = [*BASELINES, _row("bm25.rr@10", 0.40, "bm25", -0.12, 0.001)]
    v = _verdict(rows, Candidate("bm25.rr@10", "bm25", (DS,), base_role="first stage"))
    assert v["verdict"] == HOLD
    assert v["reason"].startswith("worse than its first stage: -0.120 vs bm25 (p = ")


def test_a_single_seed_win_stays_undecided_until_min_seeds_seeds_agree():
    """One seed's p < 0.05 can be luck (the default recipe: p = 0.045 with seed 42, 0.21-0.46 with three
    others): with `min_seeds` 2 it is undecided, and the reason keeps the win and says what to add."""
    two = Gate(alpha=0.05, margin=0.01, min_seeds=2)
    won = [*BASELINES, _row("ft", 0.60, "base", 0.10, 0.001)]
    v = _verdict(won, Candidate("ft", "base", (DS,)), gate=two)
    assert v["verdict"] == UNDECIDED
    assert v["reason"].startswith("better than its base: +0.100 vs base (p = 0.001)")
    assert "but with 1 seed only" in v["reason"] and "`seeds`" in v["reason"]
    seeded = [*won, _row("ft.seed2", 0.62, "base", 0.12, 0.001)]
    assert (
        _verdict(seeded, Candidate("ft", "base", (DS,), replicas=("ft", "ft.seed2")), gate=two)["verdict"]
        == SHIP
    )
    worse = [*BASELINES, _row("ft", 0.45, "base", -0.05, 0.01)]
    assert _verdict(worse, Candidate("ft", "base", (DS,)), gate=two)["reason"].startswith(
        "worse than its base"
    )
    rerank = [*BASELINES, _row("base.rr@10", 0.60, "base", 0.10, 0.001)]
    pipeline = Candidate("base.rr@10", "base", (DS,), base_role="first stage", seedable=False)
    assert _verdict(rerank, pipeline, gate=two)["verdict"] == SHIP
