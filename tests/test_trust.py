"""The report's "How far to trust this" section: interval width, label checks, generator mix, a plain
sentence when the ranking of models depends on the kind of query, and the real questions' row beside the
synthetic one (first where the decisions use them)."""

from __future__ import annotations

import pandas as pd
import pytest

from embedlab import io
from embedlab.report import trust
from embedlab.report.summary import summarize


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
    row = (
        "| a | en | synthetic val | 40 | 10 | ±0.120 (too few queries to rank models) | 0 | 7 | headings 10,"
    )
    assert row + " ict 30 |" in text
    assert "llm: round_trip_miss 3 |" in text and "empty" not in text
    assert "- a/en: The ranking of models depends on the kind of query" in text
    assert "- a/en: llm queries were kept only when bm25 ranked their chunk in its top 20" in text
    assert "come from only 10 chunk groups" not in text  # 10 groups are enough
    few = trust.mark_too_few(pd.DataFrame(_rows("a", "en", {"bm25": 0.04}, n=20)), "mrr@10", 0.1)
    text = "\n".join(trust.section(few, per_query, prov, {}, "mrr@10", 0.1))
    assert "- a/en: the validation queries come from only 5 chunk groups" in text


def _eval(root, name, model, corpus, lang, groups, widths, per_group=4):
    """An evaluation CSV (results/eval/<model>/<corpus>/<name>.csv) with its per-query file: `groups` chunk
    groups of `per_group` queries each, mrr@10 0.5 ± `widths[model]`."""
    path = root / "results" / "eval" / model / corpus / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    n, w = groups * per_group, widths[model]
    row = {
        "model": model, "kind": "dense", "corpus": corpus, "lang": lang, "n_queries": n, "n_chunks": 100,
        "mrr@10": 0.5, "mrr@10_lo": 0.5 - w, "mrr@10_hi": 0.5 + w, "encode_seconds": 1.0,
        "search_seconds": 0.1, "dim": 8, "device": "cpu", "bootstrap_unit": "chunk group",
        "n_groups": groups, "format": 1,
    }  # fmt: skip
    pd.DataFrame([row]).to_csv(path, index=False)
    queries = {"query_id": [f"q{i}" for i in range(n)], "group": [f"g{i // per_group}" for i in range(n)]}
    pd.DataFrame({**queries, "mrr@10": [0.5] * n}).to_csv(path.with_name(f"{name}.queries.csv"), index=False)
    return path


def test_summary_trusts_real_questions_first_where_decisions_use_them(tmp_path):
    """a/en has 40 real questions (decided on them: real row first), b/zh 12 from 3 groups (too few: after
    the synthetic row, with the few-groups sentence); each row shows its own CSV's numbers."""
    models = {"bm25": 0.04, "dense": 0.10}
    evals, reals = [], []
    for m in models:
        evals += [_eval(tmp_path, "en", m, "a", "en", 15, {"bm25": 0.03, "dense": 0.05})]
        evals += [_eval(tmp_path, "zh", m, "b", "zh", 12, {"bm25": 0.03, "dense": 0.04})]
        reals += [_eval(tmp_path, "en.real", m, "a", "en", 10, models)]
        reals += [_eval(tmp_path, "zh.real", m, "b", "zh", 3, {"bm25": 0.2, "dense": 0.3})]
    mapping = tmp_path / "results" / "qa" / "a" / "en" / "real.mapping.json"
    stats = {
        "questions": 44, "mapped": 40, "unmapped": 4, "series": None,
        "unmapped_by_reason": {"article_not_found": 3, "no_label": 1},
        "labels_by_kind": {"article": {"mapped": 40, "not_found": 3}},
        "placement": {"training": "split", "evaluated": 40, "trained_on": 25, "dropped_straddling": 2,
                      "beir_train": {"questions": 9, "unmapped": 1, "trained_on": 6, "on_val_side": 2}},
    }  # fmt: skip
    io.write_json(mapping, {"corpus": "a", "lang": "en", "file": "questions.csv", "stats": stats})
    prov = tmp_path / "results" / "qa" / "a" / "en" / "provenance.json"
    queries = {f"q{i}": {"generator": "ict"} for i in range(60)}
    generators = {"ict": {"stats": {"dropped_short": 2}}}
    io.write_json(prov, {"corpus": "a", "lang": "en", "queries": queries, "generators": generators})
    md = tmp_path / "summary.md"
    summarize(
        evals, tmp_path / "summary.csv", md, real=reals, mappings=[mapping], provenance=[prov],
        metric="mrr@10", max_ci_halfwidth=0.15, min_real_questions=30,
    )  # fmt: skip
    trust_md = md.read_text(encoding="utf-8").split("## How far to trust this", 1)[1].split("\n## ", 1)[0]
    rows = [ln for ln in trust_md.splitlines() if ln.startswith(("| a |", "| b |"))]
    assert rows == [
        "| a | en | real | 40 | 10 | ±0.100 | – | – | real questions "
        "| unmapped: article_not_found 3, no_label 1 |",
        "| a | en | synthetic val | 60 | 15 | ±0.050 | – | – | ict 60 | ict: short 2 |",
        "| b | zh | synthetic val | 48 | 12 | ±0.040 | – | – | – | – |",
        "| b | zh | real | 12 | 3 | ±0.300 (too few queries to rank models) | – | – | real questions | – |",
    ]
    assert "- b/zh: the real questions come from only 3 chunk groups" in trust_md
    real_md = md.read_text(encoding="utf-8").split("## Real questions first", 1)[1].split("\n## ", 1)[0]
    assert (
        "Labels mapped by kind: article 40/43. With `questions.training: split`, 40 on the val side "
        "evaluated, 25 on the train side trained on, 2 straddling dropped. Train qrels: 6 of 9 questions "
        "trained on (2 on the val side, 1 not mapped)." in " ".join(real_md.split())
    )
    assert "the validation queries come from" not in trust_md and "a/en: the real questions" not in trust_md
