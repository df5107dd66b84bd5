"""The report's "How far to trust this" section: interval width, label checks, generator mix, and a plain
sentence when the ranking of models depends on the kind of query."""

from __future__ import annotations

import pandas as pd
import pytest

from embedlab import io
from embedlab.report import trust


def _rows(corpus, lang, widths, n=40):
    return [
        {
            "model": m,
            "corpus": corpus,
            "lang": lang,
            "crosslingual": False,
            "n_queries": n,
            "n_groups": n // 4,
            "mrr@10": 0.5,
            "mrr@10_lo": 0.5 - w,
            "mrr@10_hi": 0.5 + w,
            "queries_by_generator": "headings=10;ict=30",
        }
        for m, w in widths.items()
    ]


def test_a_dataset_with_a_wide_interval_is_marked_too_few():
    df = pd.DataFrame(_rows("a", "en", {"bm25": 0.04, "dense": 0.12}) + _rows("b", "zh", {"bm25": 0.05}))
    marked = trust.mark_too_few(df, "mrr@10", 0.1)
    assert list(marked["ci_halfwidth"]) == pytest.approx([0.04, 0.12, 0.05])
    assert list(marked["too_few_queries"]) == [True, True, False]  # one wide model marks its dataset


def test_ranking_sentence_names_the_leader_per_generator():
    per_query = pd.DataFrame(
        {"bm25": [1.0, 1.0, 0.1, 0.2], "tuned": [0.5, 0.5, 0.6, 0.8]}, index=["i1", "i2", "h1", "h2"]
    )
    gen = {"i1": "ict", "i2": "ict", "h1": "headings", "h2": "headings"}
    text = trust.ranking_sentence(per_query, gen, "mrr@10")
    assert text.startswith("The ranking of models depends on the kind of query:")
    assert "tuned leads on headings queries (0.700 mrr@10" in text
    assert "bm25 leads on ict queries (1.000 mrr@10; ict queries are those copying a sentence" in text
    same = pd.DataFrame({"bm25": [1.0, 0.9], "tuned": [0.5, 0.1]}, index=["i1", "h1"])
    assert trust.ranking_sentence(same, {"i1": "ict", "h1": "headings"}, "mrr@10") == ""


def test_section_reports_the_facts_of_each_dataset(tmp_path):
    df = trust.mark_too_few(pd.DataFrame(_rows("a", "en", {"bm25": 0.04, "tuned": 0.12})), "mrr@10", 0.1)
    qids = [f"q{i}" for i in range(40)]
    per_query = {
        ("bm25", "a", "en"): pd.DataFrame({"mrr@10": [1.0] * 30 + [0.0] * 10}, index=qids),
        ("tuned", "a", "en"): pd.DataFrame({"mrr@10": [0.5] * 30 + [1.0] * 10}, index=qids),
    }
    prov = {
        ("a", "en"): {
            "generators": {
                "llm": {
                    "stats": {"dropped_round_trip_miss": 3, "dropped_empty": 0},
                    "settings": {"round_trip": {"enabled": True, "retriever": "bm25", "top_k": 20}},
                }
            },
            "queries": {q: {"generator": "ict" if i < 30 else "headings"} for i, q in enumerate(qids)},
        }
    }
    split = tmp_path / "results" / "qa" / "a" / "en" / "split.json"
    io.write_json(split, {"labels": {"unlabeled_verbatim": 0, "collapsed_duplicates": 7}})
    lines = trust.section(df, per_query, prov, trust.labels_of([split]), "mrr@10", 0.1)
    text = "\n".join(lines)
    assert lines[0] == "## How far to trust this"
    row = "| a | en | 40 | 10 | ±0.120 (too few queries to rank models) | 0 | 7 | headings 10, ict 30 |"
    assert row in text
    assert "llm: round_trip_miss 3 |" in text and "empty" not in text
    assert "- a/en: The ranking of models depends on the kind of query" in text
    assert "- a/en: llm queries were kept only when bm25 ranked their chunk in its top 20" in text
    assert "come from only 10 chunk groups" not in text  # 10 groups are enough
    few = trust.mark_too_few(pd.DataFrame(_rows("a", "en", {"bm25": 0.04}, n=20)), "mrr@10", 0.1)
    text = "\n".join(trust.section(few, per_query, prov, {}, "mrr@10", 0.1))
    assert "- a/en: the validation queries come from only 5 chunk groups" in text
