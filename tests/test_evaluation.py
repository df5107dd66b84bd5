"""Evaluation on real val splits (slices of tests/corpora): BM25, MiniLM vs random, the embedding cache,
bad input, cross-lingual alignment and the paired comparison."""

import csv
import json
from dataclasses import replace

import numpy as np
import pytest
from eval_data import MINILM, build_split

from embedlab import io
from embedlab.data.corpus import load_path
from embedlab.errors import EmbedlabError
from embedlab.evaluation.crosslingual import crosslingual_qa, evaluate_crosslingual, structure_keys
from embedlab.evaluation.options import EvalOptions
from embedlab.evaluation.qaset import load_qa, qa_from_dataset
from embedlab.evaluation.results import compare
from embedlab.evaluation.retrieval import evaluate, retrieve
from embedlab.models.embcache import open_encoder
from embedlab.models.spec import ModelSpec

MINI = ModelSpec(name="minilm", source=MINILM, max_seq_length=128, batch_size=32)


@pytest.fixture(scope="module")
def splits(corpora, tmp_path_factory):
    root = tmp_path_factory.mktemp("splits")
    return {lang: build_split(corpora, lang, root / lang) for lang in ("en", "fr", "zh")}


def read_row(path):
    with open(path, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1
    return rows[0]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_bm25_on_real_val_splits(splits, tmp_path, lang):
    d = splits[lang]
    row = evaluate(
        d / "val.json",
        tmp_path / "s.csv",
        tmp_path / "q.csv",
        ModelSpec(name="bm25", kind="bm25"),
        chunks_path=d / "chunks.json",
        corpus="c",
        lang=lang,
        options=EvalOptions.default(bootstrap_samples=200, cache_dir=tmp_path / "cache"),
    )
    val = io.read_json(d / "val.json")
    assert row["n_queries"] == len(val["queries"]) and row["n_chunks"] == len(val["corpus"])
    assert row["mrr@10"] > 0.4  # ICT queries are sentences of their chunk: lexical overlap is high
    assert row["mrr@10_lo"] <= row["mrr@10"] <= row["mrr@10_hi"]
    assert row["hit@1"] <= row["hit@3"] <= row["hit@5"] <= row["hit@10"]
    on_disk = read_row(tmp_path / "s.csv")
    assert on_disk["model"] == "bm25" and float(on_disk["mrr@10"]) == pytest.approx(row["mrr@10"])
    with open(tmp_path / "q.csv", encoding="utf-8") as fh:
        per = list(csv.DictReader(fh))
    assert [p["query_id"] for p in per] == list(val["queries"])
    group_of = {c["id"]: c["group"] for c in io.read_json(d / "chunks.json")["chunks"]}
    assert [p["group"] for p in per] == [group_of[val["relevant_docs"][q][0]] for q in val["queries"]]
    assert row["bootstrap_unit"] == "chunk group" and row["n_groups"] == len({p["group"] for p in per})
    assert row["n_groups"] < row["n_queries"]  # several queries per article: the groups are real clusters
    assert np.mean([float(p["mrr@10"]) for p in per]) == pytest.approx(row["mrr@10"])
    first = [float(p["first_rank"]) for p in per]
    assert all(r >= 1 for r in first)


def test_minilm_beats_random_and_the_cache_skips_all_encoding(splits, tmp_path):
    def run(name: str, spec: ModelSpec, cache) -> dict:
        return evaluate(
            splits["en"] / "val.json", tmp_path / f"{name}.csv", tmp_path / f"{name}.queries.csv", spec,
            chunks_path=splits["en"] / "chunks.json", corpus="c", lang="en",
            options=EvalOptions.default(bootstrap_samples=100, cache_dir=cache),
        )  # fmt: skip

    random = run("r", ModelSpec(name="random", kind="custom", class_path="custom_models:RandomEncoder"), None)
    first = run("m", MINI, tmp_path / "cache")
    assert first["mrr@10"] > random["mrr@10"] + 0.3 and first["mrr@10_lo"] > random["mrr@10_hi"]
    assert first["encoded_texts"] > 0 and first["cached_texts"] == 0
    again = run("m2", MINI, tmp_path / "cache")
    assert again["encoded_texts"] == 0 and again["cached_texts"] == first["encoded_texts"]
    for k in ("hit@1", "mrr@10", "ndcg@10", "map@100", "mrr@10_lo"):
        assert again[k] == first[k]
    assert again["encode_seconds"] < first["encode_seconds"] * 0.5


def test_cache_encodes_only_new_texts_and_counts_encoder_calls(splits, tmp_path):
    qa = load_qa(splits["zh"] / "val.json")
    spec = ModelSpec(name="hash", kind="custom", class_path="custom_models:HashingEncoder")
    enc = open_encoder(spec, "cpu", tmp_path)
    retrieve(enc, qa, [1, 10])
    assert enc.encoder.calls == len(qa.queries) + len(qa.corpus)
    enc.close()
    enc = open_encoder(spec, "cpu", tmp_path)  # a fresh process would see the same
    retrieve(enc, qa, [1, 10])
    assert enc.encoder.calls == 0
    enc.encode_queries(
        [*qa.queries[:3], "一个全新的问题", "一个全新的问题"]
    )  # a repeated new text: encoded once
    assert enc.encoder.calls == 1
    changed = replace(spec, query_prefix="查询: ")
    enc2 = open_encoder(changed, "cpu", tmp_path)  # new settings -> new model identity -> nothing reused
    retrieve(enc2, qa, [1])
    assert enc2.encoder.calls == len(qa.queries) + len(qa.corpus)
    enc.close()
    enc2.close()


def test_bad_input_is_clear_or_counted(tmp_path):
    with pytest.raises(EmbedlabError, match="no query"):
        qa_from_dataset({"queries": {}, "corpus": {"c1": "x"}, "relevant_docs": {}}, "val.json")
    with pytest.raises(EmbedlabError, match="corpus is empty"):
        qa_from_dataset({"queries": {"q": "x"}, "corpus": {}, "relevant_docs": {}}, "val.json")
    with pytest.raises(EmbedlabError, match="not in the corpus"):
        qa_from_dataset({"queries": {"q": "x"}, "corpus": {"c1": "x"}, "relevant_docs": {"q": ["c9"]}}, "v")
    qa = qa_from_dataset(
        {
            "queries": {"q1": "alpha beta", "q2": "gamma", "q3": "  "},
            "corpus": {"c1": "alpha beta text", "c2": "gamma text"},
            "relevant_docs": {"q1": ["c1"], "q2": [], "q3": ["c2"]},
        },
        "v",
    )
    assert qa.query_ids == ["q1"] and qa.skipped == {"no_relevant": 1, "empty_text": 1}
    path = tmp_path / "val.json"
    io.write_json(
        path,
        {
            "queries": {"q1": "alpha", "q2": "zzz"},
            "corpus": {"c1": "alpha", "c2": "beta"},
            "relevant_docs": {"q1": ["c1"], "q2": ["c2"]},
        },
    )
    chunks = tmp_path / "chunks.json"
    io.write_json(chunks, {"chunks": [{"id": "c1", "group": "g1"}, {"id": "c2", "group": "g2"}]})
    row = evaluate(
        path,
        tmp_path / "s.csv",
        tmp_path / "q.csv",
        ModelSpec(name="b", kind="bm25"),
        chunks_path=chunks,
        corpus="c",
        lang="en",
        options=EvalOptions.default(bootstrap_samples=10, cache_dir=None),
    )
    assert row["zero_vectors"] == 1 and row["n_queries"] == 2  # "zzz" matches nothing: scored 0, ranked last


def _chunks(headings_lists):
    return [
        {"id": str(i), "headings": [{"label": lab, "title": None} for lab in labels]}
        for i, labels in enumerate(headings_lists)
    ]


def test_structure_keys_align_languages_without_knowing_their_words():
    en = _chunks([["Recital (1)"], ["CHAPTER I", "Article 1"], ["CHAPTER I", "Article 2"], ["ANNEX I"]])
    hu = _chunks([["Recital (1)"], ["I. FEJEZET", "1. cikk"], ["I. FEJEZET", "2. cikk"], ["I. MELLÉKLET"]])
    fr = _chunks(
        [["Recital (1)"], ["CHAPITRE I", "Article premier"], ["CHAPITRE I", "Article 2"], ["ANNEXE I"]]
    )
    assert list(structure_keys(en).values()) == list(structure_keys(hu).values())
    assert list(structure_keys(en).values()) == list(structure_keys(fr).values())
    assert structure_keys(en)["1"] != structure_keys(en)["3"]  # article 1 vs annex I: different series
    zh = _chunks([["第一章 总则", "第一条"], ["第一章 总则", "第二条"], ["第二章 证券发行"]])
    keys = structure_keys(zh)
    assert len(set(keys.values())) == 3 and keys["0"] != keys["2"]
    assert structure_keys(_chunks([["Introduction"], ["Getting started"]])) == {"0": None, "1": None}


def test_structure_keys_of_the_ai_act_html_and_french_markdown_match(corpora):
    def chunks(path):
        return [
            {"id": str(i), "headings": [h.to_json() for h in b.headings]}
            for i, b in enumerate(load_path(path))
        ]

    def last_label_by_key(path):
        cs = chunks(path)
        keys = structure_keys(cs)
        return {keys[c["id"]]: c["headings"][-1]["label"] for c in cs if c["headings"]}

    en = last_label_by_key(corpora / "eu_ai_act" / "EN.html")
    fr = last_label_by_key(corpora / "eu_ai_act" / "FR.md")
    assert set(en) == set(fr) and len(en) == 180 + 113 + 13  # recitals, articles, annexes (+ no others)
    for key, label in en.items():
        if label.startswith("Article "):
            assert fr[key] in (label, "Article premier"), (label, fr[key])


def test_crosslingual_en_queries_against_fr_chunks(splits, tmp_path):
    en, fr = splits["en"], splits["fr"]
    qa = crosslingual_qa(
        io.read_json(en / "val.json"),
        io.read_json(en / "chunks.json")["chunks"],
        io.read_json(fr / "chunks.json")["chunks"],
    )
    fr_chunks = {c["id"]: c for c in io.read_json(fr / "chunks.json")["chunks"]}
    en_chunks = {c["id"]: c for c in io.read_json(en / "chunks.json")["chunks"]}
    val = io.read_json(en / "val.json")
    en_key = structure_keys(list(en_chunks.values()))
    fr_key = structure_keys(list(fr_chunks.values()))
    for qid, rel in zip(qa.query_ids, qa.relevant, strict=True):
        want = {en_key[c] for c in val["relevant_docs"][qid]}
        got = {fr_key[qa.corpus_ids[i]] for i in rel}
        assert got <= want and got
    assert len(qa.query_ids) >= len(val["queries"]) - sum(qa.skipped.values())
    row = evaluate_crosslingual(
        en / "val.json",
        en / "chunks.json",
        fr / "chunks.json",
        tmp_path / "x.csv",
        tmp_path / "xq.csv",
        ModelSpec(name="bm25", kind="bm25"),
        corpus="eu_ai_act",
        src="en",
        tgt="fr",
        options=EvalOptions.default(bootstrap_samples=50, cache_dir=None),
    )
    assert row["lang"] == "en-fr" and row["n_chunks"] == len(fr_chunks) and 0 <= row["mrr@10"] <= 1


def test_compare_writes_a_paired_test(tmp_path):
    header = "query_id,group,n_relevant,first_rank,reciprocal_rank,mrr@10\n"
    rng = np.random.default_rng(0)
    a = rng.random(80)
    b = np.clip(a + 0.2, 0, 1)
    for name, vals in (("a", a), ("b", b)):
        (tmp_path / f"{name}.csv").write_text(
            header + "".join(f"q{i},g{i // 4},1,1,1,{v}\n" for i, v in enumerate(vals)), encoding="utf-8"
        )
    res = compare(
        tmp_path / "a.csv",
        tmp_path / "b.csv",
        tmp_path / "c.json",
        model_a="base",
        model_b="tuned",
        samples=500,
    )
    assert res["diff"] > 0 and res["p_value"] < 0.05 and "better" in res["verdict"]
    assert res["unit"] == "chunk group" and res["n_groups"] == 20 and res["n"] == 80
    assert json.loads((tmp_path / "c.json").read_text())["model_b"] == "tuned"
    with pytest.raises(EmbedlabError, match="metric"):
        compare(
            tmp_path / "a.csv",
            tmp_path / "b.csv",
            tmp_path / "c.json",
            model_a="a",
            model_b="b",
            metric="ndcg@10",
        )
