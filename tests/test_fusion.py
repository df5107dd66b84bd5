"""Hybrid retrieval: RRF and convex fusion equal their formulas on hand-made rankings, the convex weights are
tuned on the train-side dev slice only, and evaluate_hybrid (BM25 + the packaged MiniLM) on a real slice of
the AI Act writes the same files as any model."""

import csv
import inspect
import json

import numpy as np
import pytest
from ft_fixtures import MINILM, build_dataset_files

from embedlab import io
from embedlab.errors import EmbedlabError
from embedlab.evaluation import fusion as fu
from embedlab.evaluation.hybrid import evaluate_hybrid
from embedlab.evaluation.metrics import tie_order
from embedlab.evaluation.options import EvalOptions
from embedlab.evaluation.retrieval import evaluate
from embedlab.models.spec import ModelSpec

# Two members over five chunks (ids "c0".."c4"), one query; lists best first.
A = fu.ranking_of([[0, 1, 2]], [[3.0, 2.0, 1.0]])
B = fu.ranking_of([[1, 2, 4]], [[0.9, 0.8, 0.1]])
TIES = tie_order([f"c{i}" for i in range(5)])


def test_rrf_equals_formula():
    fused = fu.fuse([A, B], TIES, "rrf", k=60)
    expected = {
        1: 1 / (60 + 2) + 1 / (60 + 1),  # 2nd in A, 1st in B
        2: 1 / (60 + 3) + 1 / (60 + 2),
        0: 1 / (60 + 1),  # absent from B: nothing from it
        4: 1 / (60 + 3),
    }
    assert fused.ids[0].tolist() == [1, 2, 0, 4]
    assert fused.scores[0] == pytest.approx([expected[i] for i in (1, 2, 0, 4)], rel=1e-12)
    k0 = fu.fuse([A, B], TIES, "rrf", k=0)  # k = 0: plain reciprocal ranks; c0 now beats c2
    assert k0.ids[0].tolist() == [1, 0, 2, 4]
    assert k0.scores[0] == pytest.approx([1 / 2 + 1, 1.0, 1 / 3 + 1 / 2, 1 / 3], rel=1e-12)


def test_convex_equals_formula():
    fused = fu.fuse([A, B], TIES, "convex", weights=[0.3, 0.7])
    # min-max per member: A (3,2,1) -> (1, .5, 0); B (.9,.8,.1) -> (1, .875, 0)
    expected = {0: 0.3 * 1, 1: 0.3 * 0.5 + 0.7 * 1, 2: 0.3 * 0 + 0.7 * 0.875, 4: 0.7 * 0}
    assert fused.ids[0].tolist() == [1, 2, 0, 4]
    assert fused.scores[0] == pytest.approx([0.85, 0.6125, 0.3, 0.0], rel=1e-12)
    assert fused.scores[0] == pytest.approx([expected[i] for i in (1, 2, 0, 4)], rel=1e-12)
    only_a = fu.fuse([A, B], TIES, "convex", weights=[1.0, 0.0])
    assert only_a.ids[0].tolist()[:3] == [0, 1, 2]  # weight 1 on A: A's order, B's extra chunk last


def test_ties_follow_chunk_id_order():
    # c0 1st in A and 2nd in B, c1 the reverse: equal RRF scores; the lower chunk id wins
    a = fu.ranking_of([[0, 1]], [[2.0, 1.0]])
    b = fu.ranking_of([[1, 0]], [[2.0, 1.0]])
    assert fu.fuse([a, b], tie_order(["x", "y"]), "rrf", k=60).ids[0].tolist() == [0, 1]
    assert fu.fuse([a, b], tie_order(["y", "x"]), "rrf", k=60).ids[0].tolist() == [1, 0]
    # a member whose scores are all equal contributes nothing to a convex fusion
    flat = fu.ranking_of([[2, 3]], [[0.5, 0.5]])
    fused = fu.fuse([a, flat], tie_order(["a", "b", "c", "d"]), "convex", weights=[0.5, 0.5])
    assert fused.ids[0].tolist() == [0, 1, 2, 3] and fused.scores[0].tolist() == [0.5, 0.0, 0.0, 0.0]


def test_top_candidates_cut_ties_by_chunk_id():
    q = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    d = np.array([[1, 0], [1, 0], [1, 0], [0, 1]], dtype=np.float32)  # chunks 0-2 tie for query 0
    r = fu.top_candidates(q, d, tie_order(["c", "b", "a", "d"]), 2)
    assert r.ids.tolist() == [[2, 1], [3, 2]]  # "a" before "b"; query 1: chunk 3, then the 0-ties by id
    assert r.scores.tolist() == [[1.0, 1.0], [1.0, 0.0]]
    assert fu.top_candidates(q, d, tie_order(list("cbad")), 10).ids.shape == (2, 4)


def test_tune_weights_uses_only_dev_input():
    # member A puts the relevant chunk first for every dev query, B puts it third: A's side must win
    a = fu.ranking_of([[0, 1, 2], [3, 4, 5]], [[0.9, 0.5, 0.1], [0.8, 0.7, 0.0]])
    b = fu.ranking_of([[2, 1, 0], [5, 4, 3]], [[0.9, 0.8, 0.7], [0.9, 0.85, 0.8]])
    tuned = fu.tune_weights([a, b], [[0], [3]], tie_order([f"c{i}" for i in range(6)]), 10)
    assert tuned.score == 1.0 and tuned.n_queries == 2 and len(tuned.grid) == 11
    assert tuned.weights[0] > 0.5 and sum(tuned.weights) == pytest.approx(1.0)
    assert (0.5, 0.5) not in [w for w, s in tuned.grid if s == 1.0]
    alone = fu.member_scores(tuned, ["a", "b"])  # each member's one-hot grid point: what the mix had to beat
    assert (
        alone == {"a": dict(tuned.grid)[(1.0, 0.0)], "b": dict(tuned.grid)[(0.0, 1.0)]} and alone["a"] == 1.0
    )
    assert list(inspect.signature(fu.tune_weights).parameters) == [
        "dev_rankings",
        "dev_relevant",
        "dev_ties",
        "steps",
    ]
    assert len(fu.simplex_grid(3, 10)) == 66 and all(
        sum(w) == pytest.approx(1) for w in fu.simplex_grid(3, 4)
    )


def test_bad_fusion_settings():
    with pytest.raises(EmbedlabError, match="sum to 1"):
        fu.fuse([A, B], TIES, "convex", weights=[0.5, 0.6])
    with pytest.raises(EmbedlabError, match="one per member"):
        fu.fuse([A, B], TIES, "convex", weights=[1.0])
    with pytest.raises(EmbedlabError, match="unknown"):
        fu.fuse([A, B], TIES, "borda", k=60)
    with pytest.raises(EmbedlabError, match="at least two"):
        fu.fuse([A], TIES, "rrf", k=60)


# --- end to end on a real slice ---------------------------------------------------------------------------
MEMBERS = [
    ModelSpec(name="bm25", kind="bm25"),
    ModelSpec(name="minilm", source=MINILM, max_seq_length=128, batch_size=32),
]


@pytest.fixture(scope="module")
def data(corpora, tmp_path_factory):
    return build_dataset_files(corpora, "eu_ai_act/en", tmp_path_factory.mktemp("hybrid"), val_fraction=0.3)


def hybrid(data, out, fusion, val=None, **kw):
    settings = {"method": fusion, "rrf_k": 60, "weights": None, "candidates": 50, "dev_fraction": 0.3,
                "tune_steps": 10, **kw}  # fmt: skip
    spec = ModelSpec(name="hy", kind="hybrid", of=[m.name for m in MEMBERS], fusion=settings)
    return evaluate_hybrid(
        val or data.val, data.train, data.chunks, out / "s.csv", out / "q.csv", spec=spec,
        members=MEMBERS, corpus="eu_ai_act", lang="en",
        options=EvalOptions.default(
            ks=(1, 5, 10), bootstrap_samples=200, seed=42, device="cpu", cache_dir=out.parent / "cache",
            latency_queries=5,
        ),
    )  # fmt: skip


def test_evaluate_hybrid_end_to_end(data, tmp_path):
    members = {}
    for spec in MEMBERS:
        (tmp_path / spec.name).mkdir()
        members[spec.name] = evaluate(
            data.val, tmp_path / spec.name / "s.csv", tmp_path / spec.name / "q.csv", spec,
            chunks_path=data.chunks, corpus="eu_ai_act", lang="en",
            options=EvalOptions.default(ks=(1, 5, 10), bootstrap_samples=200, cache_dir=tmp_path / "cache"),
        )  # fmt: skip
    (tmp_path / "rrf").mkdir()
    row = hybrid(data, tmp_path / "rrf", "rrf")
    val = io.read_json(data.val)
    assert row["kind"] == "hybrid" and row["n_queries"] == len(val["queries"])
    assert (
        row["fusion"] == "rrf" and row["fusion_k"] == 60 and json.loads(row["members"]) == ["bm25", "minilm"]
    )
    assert row["cached_texts"] > 0  # MiniLM's vectors came from the cache the member run filled
    best, worst = max(m["mrr@10"] for m in members.values()), min(m["mrr@10"] for m in members.values())
    assert worst - 0.05 < row["mrr@10"] <= 1.0 and row["mrr@10"] > 0.5
    assert row["mrr@10_lo"] <= row["mrr@10"] <= row["mrr@10_hi"]
    with open(tmp_path / "rrf" / "s.csv", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    with open(tmp_path / "bm25" / "s.csv", encoding="utf-8") as fh:
        member_header = next(csv.reader(fh))
    assert header[: len(member_header) - 1] == member_header[:-1] and header[-1] == "format"
    with open(tmp_path / "rrf" / "q.csv", encoding="utf-8") as fh:
        per = list(csv.DictReader(fh))
    with open(tmp_path / "bm25" / "q.csv", encoding="utf-8") as fh:
        member_per = list(csv.DictReader(fh))
    assert [p["query_id"] for p in per] == [p["query_id"] for p in member_per] == list(val["queries"])
    assert np.mean([float(p["mrr@10"]) for p in per]) == pytest.approx(row["mrr@10"])
    # all weight on BM25: its top 10 exactly as its own evaluation ranks them (same scores, same ties)
    (tmp_path / "w").mkdir()
    only_bm25 = hybrid(data, tmp_path / "w", "convex", weights=[1.0, 0.0])
    assert only_bm25["mrr@10"] == members["bm25"]["mrr@10"]
    assert only_bm25["hit@1"] == members["bm25"]["hit@1"]
    print(f"mrr@10: bm25 {members['bm25']['mrr@10']:.3f} minilm {members['minilm']['mrr@10']:.3f} "
          f"rrf {row['mrr@10']:.3f} (best member {best:.3f})")  # fmt: skip


def test_convex_weights_never_see_val(data, tmp_path):
    (tmp_path / "a").mkdir()
    row = hybrid(data, tmp_path / "a", "convex")
    weights = json.loads(row["fusion_weights"])
    assert len(weights) == 2 and sum(weights) == pytest.approx(1.0) and row["fusion_dev_queries"] > 0
    val = io.read_json(data.val)  # another val set: every other query
    keep = list(val["queries"])[::2]
    val["queries"] = {q: val["queries"][q] for q in keep}
    val["relevant_docs"] = {q: val["relevant_docs"][q] for q in keep}
    io.write_json(tmp_path / "val2.json", val)
    (tmp_path / "b").mkdir()
    row2 = hybrid(data, tmp_path / "b", "convex", val=tmp_path / "val2.json")
    assert row2["n_queries"] == len(keep)
    assert row2["fusion_weights"] == row["fusion_weights"]
    assert row2["fusion_dev_mrr@10"] == row["fusion_dev_mrr@10"]
    alone = json.loads(row["fusion_dev_members"])  # the members' own dev scores, beside the mix's
    assert list(alone) == ["bm25", "minilm"] and max(alone.values()) <= row["fusion_dev_mrr@10"]
    fixed = hybrid(data, tmp_path / "b", "convex", weights=[0.5, 0.5])
    assert fixed["fusion_weights"] == "[0.5, 0.5]" and fixed["fusion_dev_queries"] is None
    assert fixed["fusion_dev_members"] is None


def test_val_overlapping_train_is_refused(data, tmp_path):
    val, train = io.read_json(data.val), io.read_json(data.train)
    qid = next(iter(train["queries"]))
    val["queries"][qid] = train["queries"][qid]
    val["relevant_docs"][qid] = [p.split("#")[0] for p in train["relevant_docs"][qid]]
    io.write_json(tmp_path / "val.json", val)
    with pytest.raises(EmbedlabError, match="rerun the split"):
        hybrid(data, tmp_path, "rrf", val=tmp_path / "val.json")
    with pytest.raises(EmbedlabError, match="candidates"):
        hybrid(data, tmp_path, "rrf", candidates=5)
