"""Rerankers: a tiny cross-encoder (the tiny BERT of ft_fixtures, given a one-score head) is fine-tuned on a
planted task, reloads offline and moves the planted relevant chunk up a weak retriever's top-k; rerank@1
changes nothing; val chunks never reach the training rows.

The planted task: chunks are random filler words; a query holds one word of its chunk among other fillers.
Each training query's positive (a rewritten positive, "<chunk>#<query>" as ICT writes them) carries a marker
word that no training chunk has, so mined negatives never hold it; val chunks carry it in their text. The
retriever is the untrained tiny bi-encoder (near random), so only a reranker that learned the marker lifts
the relevant val chunk. (A 2-layer BERT from random weights does not learn lexical matching in a test's
budget: tried, the dev MRR stayed at chance.)"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest
from ft_fixtures import build_tiny_model

from embedlab import io
from embedlab.data.training_data import DatasetFiles, load_training_data
from embedlab.errors import EmbedlabError
from embedlab.evaluation.fusion import top_candidates
from embedlab.evaluation.options import EvalOptions
from embedlab.evaluation.qaset import chunk_groups, load_qa
from embedlab.evaluation.rerank import evaluate_rerank, rerank_qa, reranked_ranks
from embedlab.evaluation.results import summary_row, write_results
from embedlab.evaluation.retrieval import retrieve
from embedlab.models.embcache import open_encoder
from embedlab.models.rerank import Reranker
from embedlab.models.spec import ModelSpec
from embedlab.train.reranker import DEV_CANDIDATES, _examples, assert_no_val_chunks, finetune_reranker, mine

pytestmark = pytest.mark.slow
N_TRAIN, N_VAL = 80, 30
KS = [1, 3, 5, 10]
OPTIONS = EvalOptions.default(
    ks=tuple(KS), bootstrap_samples=200, seed=1, device="cpu", cache_dir=None, latency_queries=3
)


def _words(tiny: Path) -> list[str]:
    """Whole lowercase words of the tiny model's vocabulary (one token each)."""
    from transformers import AutoTokenizer

    vocab = AutoTokenizer.from_pretrained(str(tiny)).get_vocab()
    return sorted(w for w in vocab if w.isascii() and w.isalpha() and len(w) >= 5)


def _planted(tiny: Path, out: Path) -> DatasetFiles:
    """chunks.json / train.json / val.json of the marker task (val corpus = every chunk)."""
    rng = random.Random(7)
    words = _words(tiny)
    marker, fillers = words[0], words[1:201]
    chunks, queries, marked = [], {}, {}
    for i in range(N_TRAIN + N_VAL):
        body = rng.sample(fillers, 14)
        q = [rng.choice(body), *rng.sample(fillers, 4)]
        rng.shuffle(q)
        queries[f"c{i:03d}"] = " ".join(q)
        marked[f"c{i:03d}"] = " ".join([*body[: i % 7], marker, *body[i % 7 :]])
        text = marked[f"c{i:03d}"] if i >= N_TRAIN else " ".join(body)
        chunks.append({"id": f"c{i:03d}", "text": text, "group": f"g{i:03d}"})
    train_ids = [c["id"] for c in chunks[:N_TRAIN]]
    val_ids = [c["id"] for c in chunks[N_TRAIN:]]
    texts = {c["id"]: c["text"] for c in chunks}
    out.mkdir(parents=True, exist_ok=True)
    io.write_json(out / "chunks.json", {"chunks": chunks})
    train = {
        "queries": {f"q{c}": queries[c] for c in train_ids},
        "corpus": {**{c: texts[c] for c in train_ids}, **{f"{c}#q{c}": marked[c] for c in train_ids}},
        "relevant_docs": {f"q{c}": [f"{c}#q{c}"] for c in train_ids},
        "mode": "text",
    }
    val = {
        "queries": {f"q{c}": queries[c] for c in val_ids},
        "corpus": texts,
        "relevant_docs": {f"q{c}": [c] for c in val_ids},
        "mode": "text",
    }
    io.write_json(out / "train.json", train)
    io.write_json(out / "val.json", val)
    return DatasetFiles("planted/en", out / "train.json", out / "val.json", out / "chunks.json")


@pytest.fixture(scope="module")
def setup(corpora: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    import torch

    # the tiny model's training is only reproducible for a fixed thread count: earlier tests change it
    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("rerank")
    tiny = build_tiny_model(corpora, root / "tiny")
    files = _planted(tiny, root / "data")
    retriever = ModelSpec(name="tiny", source=str(tiny), batch_size=64)
    facts = finetune_reranker(
        [files], root / "rr", base_source=str(tiny), loss="bce", epochs=8, batch_size=16,
        learning_rate=2e-3, max_length=32, negatives=3, retriever=ModelSpec(name="bm25", kind="bm25"),
        dev_fraction=0.0, max_queries=None, seed=42, device="cpu", name="rr-tiny",
    )  # fmt: skip
    return {"root": root, "tiny": tiny, "files": files, "retriever": retriever, "facts": facts}


def test_trains_reloads_offline_and_writes_card(setup: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from sentence_transformers import CrossEncoder

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rr = setup["root"] / "rr"
    assert {"README.md", "training.json", "config.json"} <= {p.name for p in rr.iterdir()}
    assert not list(rr.parent.glob(".rr.partial-*"))
    facts = io.read_json(rr / "training.json")
    assert facts["training_queries"] == facts["datasets"]["planted/en"]["pairs"] == N_TRAIN
    assert facts["training_pairs"] == 4 * N_TRAIN
    assert facts["loss"] == "BinaryCrossEntropyLoss"
    assert facts["steps"] == 8 * 4 * N_TRAIN // 16 and facts["selection"]["metric"] is None
    assert facts["loss_curve"][-1]["loss"] < facts["loss_curve"][0]["loss"]
    card = (rr / "README.md").read_text(encoding="utf-8")
    assert "BinaryCrossEntropyLoss" in card and "planted/en" in card and "No dev slice" in card
    model = CrossEncoder(str(rr), local_files_only=True, device="cpu")
    assert model.num_labels == 1
    scores = model.predict([("a b", "a b"), ("a b", "c d")])
    assert np.isfinite(scores).all()


def test_reranker_lifts_the_planted_chunk(setup: dict, tmp_path: Path) -> None:
    files = setup["files"]
    qa = load_qa(files.val).with_groups(chunk_groups(files.chunks))
    reranker = Reranker(str(setup["root"] / "rr"), name="rr-tiny", device="cpu", batch_size=64)
    run = rerank_qa(qa, setup["retriever"], reranker, top_k=20, options=OPTIONS)
    before, after = run.before.per_query["mrr@10"].mean(), run.after.per_query["mrr@10"].mean()
    first_before = run.before.per_query["first_rank"]
    first_after = run.after.per_query["first_rank"]
    inside = first_before <= 20  # only those can move
    assert inside.sum() >= 8
    assert after > before + 0.05, (before, after)
    assert (first_after[inside] < first_before[inside]).sum() > (
        first_after[inside] > first_before[inside]
    ).sum()
    assert (first_after[~inside] == first_before[~inside]).all()  # outside the top-k: retriever rank kept
    assert reranker.pairs_scored == 20 * len(qa.queries)
    # the same through evaluate_rerank: summary columns and the per-query file
    out = evaluate_rerank(
        files.val, files.chunks, tmp_path / "s.csv", tmp_path / "q.csv", model="tiny>rr-tiny@20",
        retriever=setup["retriever"], reranker_source=str(setup["root"] / "rr"), reranker_name="rr-tiny",
        top_k=20, corpus="planted", lang="en", options=OPTIONS._replace(cache_dir=tmp_path / "cache"),
        batch_size=64, max_length=None,
    )  # fmt: skip
    assert out["kind"] == "rerank" and out["retriever"] == "tiny" and out["reranker"] == "rr-tiny"
    assert out["rerank_k"] == 20 and out["rerank_ms_per_query"] > 0
    assert out["query_ms"] > out["rerank_ms_per_query"] and out["index_bytes"] > 0
    assert out["mrr@10"] == pytest.approx(after) and out["mrr@10_lo"] <= out["mrr@10"] <= out["mrr@10_hi"]
    rows = list(csv.DictReader((tmp_path / "q.csv").read_text(encoding="utf-8").splitlines()))
    assert len(rows) == len(qa.queries)
    assert [float(r["first_rank"]) for r in rows] == list(first_after)


def test_rerank_at_1_changes_nothing(setup: dict, tmp_path: Path) -> None:
    files = setup["files"]
    qa = load_qa(files.val).with_groups(chunk_groups(files.chunks))
    enc = open_encoder(setup["retriever"], "cpu", None)
    run = retrieve(enc, qa, KS)
    enc.close()
    base = summary_row(run, KS, "tiny", "sentence-transformers", "planted", "en", "cpu", 200, 1)
    write_results(run, base, tmp_path / "b.csv", tmp_path / "bq.csv", KS)
    out = evaluate_rerank(
        files.val, files.chunks, tmp_path / "r.csv", tmp_path / "rq.csv", model="tiny>rr@1",
        retriever=setup["retriever"], reranker_source=str(setup["root"] / "rr"), reranker_name="rr",
        top_k=1, corpus="planted", lang="en", options=OPTIONS, batch_size=64, max_length=None,
    )  # fmt: skip
    for k in [*(f"{m}@{k}" for m in ("hit", "mrr", "recall") for k in KS), "ndcg@10", "map@100"]:
        assert out[k] == base[k] and out[f"{k}_lo"] == base[f"{k}_lo"], k
    assert (tmp_path / "rq.csv").read_text() == (tmp_path / "bq.csv").read_text()


def test_val_chunks_never_reach_training(setup: dict) -> None:
    files, facts = setup["files"], setup["facts"]
    data = load_training_data([files], 0.15, 1, 42)  # with a dev slice this time
    examples = _examples(data, None, 42)
    dev_docs = mine(examples, data, ModelSpec(name="bm25", kind="bm25"), 3, "cpu", None)
    val_ids = {f"c{i:03d}" for i in range(N_TRAIN, N_TRAIN + N_VAL)}
    used = {c for e in examples for c in [e.positive_chunk, *e.negative_ids]}
    assert used and not used & val_ids and not used & data.dev_chunk_ids
    assert len(examples) == N_TRAIN - len(data.dev_queries) and data.dev_queries
    assert sorted(dev_docs) == sorted(data.dev_queries) and all(
        len(d) == DEV_CANDIDATES for d in dev_docs.values()
    )
    val_texts = {t for c, t in io.read_json(files.val)["corpus"].items() if c in val_ids}
    assert not val_texts & {t for d in dev_docs.values() for t in d}
    assert facts["training_queries"] == N_TRAIN
    assert all(len(e.negative_ids) == 3 and e.positive_chunk not in e.negative_ids for e in examples)
    examples[0].negative_ids.append(sorted(val_ids)[0])  # a leak is caught
    with pytest.raises(EmbedlabError, match="val/dev chunks"):
        assert_no_val_chunks(examples, data)


def test_reranked_ranks_and_top_candidates() -> None:
    q = np.array([[1.0, 0.0]], dtype=np.float32)
    d = np.array([[0.5, 0], [0.9, 0], [0.5, 0], [0.1, 0]], dtype=np.float32)
    ties = np.arange(4)
    assert top_candidates(q, d, ties, 3).ids[0].tolist() == [1, 0, 2]  # tie 0/2 broken by id order
    before = [np.array([3.0, 4.0])]  # chunks 2 and 3 relevant, ranks 3 and 4
    assert reranked_ranks(before, [[2, 3]], [np.array([2, 1, 0])])[0].tolist() == [1.0, 4.0]
    assert reranked_ranks(before, [[2, 3]], [np.array([1, 0])])[0].tolist() == [3.0, 4.0]


def test_bad_inputs_are_one_line_errors(setup: dict, tmp_path: Path) -> None:
    with pytest.raises(EmbedlabError, match="loss 'pointwise' unknown"):
        finetune_reranker(
            [setup["files"]], tmp_path / "x", base_source=str(setup["tiny"]), loss="pointwise", epochs=1,
            batch_size=4, learning_rate=1e-4, max_length=32, negatives=1, retriever=setup["retriever"],
            dev_fraction=0.1, max_queries=None, seed=1, device="cpu",
        )  # fmt: skip
    with pytest.raises(EmbedlabError, match="does not exist"):
        Reranker(str(tmp_path / "missing"), name="rr", device="cpu", batch_size=4)
    with pytest.raises(EmbedlabError, match="top_k"):
        rerank_qa(load_qa(setup["files"].val), setup["retriever"], None, top_k=0, options=OPTIONS)  # type: ignore[arg-type]
    val = json.loads(Path(setup["files"].val).read_text(encoding="utf-8"))
    labelled = {**val, "documents": {q: ["doc-1"] for q in val["queries"]}}  # a BEIR folder's real.json
    io.write_json(tmp_path / "real.json", labelled)
    with pytest.raises(EmbedlabError, match=r"labels name documents .* score pipelines on questions"):
        evaluate_rerank(
            tmp_path / "real.json", setup["files"].chunks, tmp_path / "s.csv", tmp_path / "q.csv",
            model="tiny.rr@5", retriever=setup["retriever"], reranker_source=str(setup["root"] / "rr"),
            reranker_name="rr-tiny", top_k=5, corpus="planted", lang="en", options=OPTIONS, batch_size=8,
            max_length=None,
        )  # fmt: skip
