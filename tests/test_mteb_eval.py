"""MTEB: the custom val-split task offline (user classes and BM25 too), a standard task offline, the card."""

import pytest
from eval_data import MINILM, build_split

from embedlab import io
from embedlab.errors import EmbedlabError
from embedlab.evaluation.mteb_card import model_card
from embedlab.evaluation.mteb_tasks import custom_task_name, mteb_lang, run_mteb
from embedlab.evaluation.options import EvalOptions
from embedlab.evaluation.retrieval import evaluate
from embedlab.models.spec import ModelSpec


@pytest.fixture(scope="module")
def val(corpora, tmp_path_factory):
    return build_split(corpora, "zh", tmp_path_factory.mktemp("zh")) / "val.json"


def test_custom_task_offline_matches_our_ndcg(val, tmp_path):
    spec = ModelSpec(name="minilm", source=MINILM, max_seq_length=128)
    task = custom_task_name("securities_law", "zh")
    res = run_mteb(
        tmp_path / f"{task}.json",
        spec,
        task,
        val_path=val,
        corpus="securities_law",
        lang="zh",
        cache_dir=tmp_path / "cache",
        device="cpu",
    )
    assert res["status"] == "ok" and res["type"] == "Retrieval"
    on_disk = io.read_json(tmp_path / f"{task}.json")
    scores = on_disk["mteb"]["scores"]["test"][0]
    assert scores["languages"] == ["zho-Hans"] and on_disk["main_score"] == pytest.approx(
        scores["ndcg_at_10"]
    )
    ours = evaluate(
        val,
        tmp_path / "e.csv",
        tmp_path / "q.csv",
        spec,
        chunks_path=val.parent / "chunks.json",
        corpus="securities_law",
        lang="zh",
        options=EvalOptions.default(bootstrap_samples=10, cache_dir=tmp_path / "cache"),
    )
    assert ours["encoded_texts"] == 0  # mteb's run filled the embedding cache
    assert scores["ndcg_at_10"] == pytest.approx(ours["ndcg@10"], abs=1e-4)
    assert scores["mrr_at_10"] == pytest.approx(ours["mrr@10"], abs=1e-4)


@pytest.mark.parametrize(
    "spec",
    [
        ModelSpec(name="hash", kind="custom", class_path="custom_models:HashingEncoder"),
        ModelSpec(name="bm25", kind="bm25"),
    ],
)
def test_user_classes_and_bm25_run_in_mteb(val, tmp_path, spec):
    task = custom_task_name("securities_law", "zh")
    res = run_mteb(tmp_path / "r.json", spec, task, val_path=val, corpus="securities_law", lang="zh")
    assert res["status"] == "ok" and 0 < res["main_score"] <= 1


def test_mteb_language_labels_for_any_language_code():
    from mteb.languages.check_language_code import check_language_code

    labels = [mteb_lang(code) for code in ("zh", "ja", "ko", "hu", "pl", "eng", "sw")]
    assert labels == ["zho-Hans", "jpn-Jpan", "kor-Kore", "hun-Latn", "pol-Latn", "eng-Latn", "swa-Latn"]
    for label in labels:
        check_language_code(label)  # mteb accepts them
    with pytest.raises(EmbedlabError) as err:
        mteb_lang("xx")
    assert "'xx' is not a language code" in str(err.value) and "\n" not in str(err.value)


def test_standard_task_offline_is_unavailable_not_a_crash(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    res = run_mteb(
        tmp_path / "Banking77Classification.json",
        ModelSpec(name="minilm", source=MINILM),
        "Banking77Classification",
    )
    assert (
        res["status"] == "unavailable" and "Hugging Face hub" in res["reason"] and "network" in res["reason"]
    )
    assert io.read_json(tmp_path / "Banking77Classification.json")["status"] == "unavailable"
    bm = run_mteb(tmp_path / "b.json", ModelSpec(name="bm25", kind="bm25"), "Banking77Classification")
    assert bm["status"] == "unsupported"
    with pytest.raises(EmbedlabError, match="unknown MTEB task"):
        run_mteb(tmp_path / "x.json", ModelSpec(name="bm25", kind="bm25"), "Banking77Clasification")


def test_model_card_from_results(val, tmp_path):
    task = custom_task_name("securities_law", "zh")
    run_mteb(
        tmp_path / "a.json",
        ModelSpec(name="bm25", kind="bm25"),
        task,
        val_path=val,
        corpus="securities_law",
        lang="zh",
    )
    io.write_json(
        tmp_path / "b.json",
        {
            "format": "embedlab.mteb/1",
            "model": "bm25",
            "task": "T2Retrieval",
            "status": "unavailable",
            "reason": "offline",
        },
    )
    meta = model_card([tmp_path / "a.json", tmp_path / "b.json"], tmp_path / "README.md", "bm25")
    text = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n") and "model-index:" in text and "T2Retrieval: unavailable" in text
    result = meta["model-index"][0]["results"][0]
    assert result["dataset"]["type"] == task and any(m["type"] == "ndcg_at_10" for m in result["metrics"])


def test_custom_reranking_task_offline_matches_an_independent_map_and_mrr(val, tmp_path):
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from embedlab.evaluation.mteb_tasks import rerank_candidates, rerank_task_name
    from embedlab.evaluation.qaset import load_qa
    from embedlab.models.sources import resolve_model_source

    spec = ModelSpec(name="minilm", source=MINILM, max_seq_length=128)
    task = rerank_task_name("securities_law", "zh")
    res = run_mteb(tmp_path / f"{task}.json", spec, task, val_path=val, corpus="securities_law", lang="zh",
                   cache_dir=tmp_path / "cache", device="cpu", rerank_negatives=5)  # fmt: skip
    assert res["status"] == "ok" and res["type"] == "Reranking" and res["custom"]["negatives"] == 5
    scores = res["mteb"]["scores"]["test"][0]
    assert res["main_score"] == pytest.approx(scores["map_at_1000"])

    qa = load_qa(val)
    lists = rerank_candidates(qa, 5)
    for rel, cand in zip(qa.relevant, lists, strict=True):  # positives first, then 5 others
        assert cand[: len(rel)] == sorted(rel) and len(cand) == len(rel) + 5 and len(set(cand)) == len(cand)
    model = SentenceTransformer(resolve_model_source(MINILM), device="cpu")
    model.max_seq_length = 128
    q = model.encode(qa.queries, normalize_embeddings=True)
    d = model.encode(qa.corpus, normalize_embeddings=True)
    aps, rrs = [], []
    for qi, (rel, cand) in enumerate(zip(qa.relevant, lists, strict=True)):
        order = [cand[i] for i in np.argsort(-(d[cand] @ q[qi]), kind="stable")]
        hits = [i for i, c in enumerate(order, 1) if c in set(rel)]
        aps.append(np.mean([(k + 1) / rank for k, rank in enumerate(hits)]))
        rrs.append(1 / hits[0] if hits[0] <= 10 else 0.0)
    assert scores["map_at_1000"] == pytest.approx(np.mean(aps), abs=1e-3)
    assert scores["mrr_at_10"] == pytest.approx(np.mean(rrs), abs=1e-3)
