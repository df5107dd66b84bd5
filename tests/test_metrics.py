"""Metrics on hand-made rankings (ties, several positives, k beyond the corpus), bootstrap, paired test."""

import math

import numpy as np
import pytest

from embedlab.evaluation import metrics


def ranks_for(scores, relevant, ids=None):
    scores = np.asarray(scores, dtype=np.float32)
    ids = ids or [f"d{i}" for i in range(scores.shape[1])]
    q = scores
    d = np.eye(scores.shape[1], dtype=np.float32)  # q @ d.T == scores
    return metrics.relevant_ranks(q, d, relevant, metrics.tie_order(ids))


def test_single_positive_by_hand():
    # query 0: relevant d2 ranked 3rd; query 1: relevant d0 ranked 1st
    ranks = ranks_for([[0.9, 0.8, 0.7, 0.1], [0.9, 0.1, 0.2, 0.3]], [[2], [0]])
    assert [r.tolist() for r in ranks] == [[3.0], [1.0]]
    v = metrics.per_query(ranks, [1, 3, 5])
    assert v["hit@1"].tolist() == [0, 1]
    assert v["hit@3"].tolist() == [1, 1]
    assert v["mrr@1"].tolist() == [0, 1]
    assert v["mrr@3"].tolist() == pytest.approx([1 / 3, 1])
    assert v["ndcg@10"].tolist() == pytest.approx([1 / math.log2(4), 1])
    assert v["map@100"].tolist() == pytest.approx([1 / 3, 1])


def test_multi_positive_mrr_counts_the_first_relevant_anywhere():
    # relevant {d3, d1}: ranks 2 (d1) and 4 (d3); the tutorial would look at d3 only (MRR 1/4)
    ranks = ranks_for([[0.9, 0.8, 0.7, 0.6]], [[3, 1]])
    assert ranks[0].tolist() == [2.0, 4.0]
    v = metrics.per_query(ranks, [1, 3, 5])
    assert v["mrr@3"][0] == pytest.approx(0.5)
    assert v["hit@1"][0] == 0 and v["hit@3"][0] == 1
    assert v["recall@3"][0] == pytest.approx(0.5)
    assert v["recall@5"][0] == pytest.approx(1.0)
    idcg = 1 + 1 / math.log2(3)
    assert v["ndcg@10"][0] == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / idcg)
    assert v["map@100"][0] == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert v["first_rank"][0] == 2 and v["reciprocal_rank"][0] == pytest.approx(0.5)


def test_ties_break_by_ascending_chunk_id():
    # all scores tied: rank = position of the id in sorted order ("a" < "b" < "c")
    ranks = ranks_for([[0.5, 0.5, 0.5]], [[0]], ids=["c", "a", "b"])
    assert ranks[0].tolist() == [3.0]
    ranks = ranks_for([[0.5, 0.5, 0.5]], [[1]], ids=["c", "a", "b"])
    assert ranks[0].tolist() == [1.0]


def test_k_larger_than_the_corpus():
    ranks = ranks_for([[0.1, 0.9]], [[0]])
    v = metrics.per_query(ranks, [1, 5, 100])
    assert v["hit@100"][0] == 1 and v["recall@100"][0] == 1 and v["mrr@100"][0] == pytest.approx(0.5)


def test_topk_mode_matches_exact_within_k():
    rng = np.random.default_rng(0)
    q, d = rng.normal(size=(20, 8)).astype(np.float32), rng.normal(size=(50, 8)).astype(np.float32)
    rel = [sorted(rng.choice(50, size=3, replace=False).tolist()) for _ in range(20)]
    ties = metrics.tie_order([f"d{i:02d}" for i in range(50)])
    exact = metrics.per_query(metrics.relevant_ranks(q, d, rel, ties), [1, 5, 10])
    top = metrics.per_query(metrics.relevant_ranks(q, d, rel, ties, top=10), [1, 5, 10])
    for k in ("hit@10", "mrr@10", "recall@10", "ndcg@10"):
        assert np.allclose(exact[k], top[k])
    # dense vectors take the streaming exact search, sparse ones (BM25) argpartition: the same top
    from scipy import sparse

    sparse_top = metrics.relevant_ranks(sparse.csr_matrix(q), sparse.csr_matrix(d), rel, ties, top=10)
    dense_top = metrics.relevant_ranks(q, d, rel, ties, top=10)
    assert all(np.array_equal(a, b) for a, b in zip(sparse_top, dense_top, strict=True))


def test_topk_faiss_breaks_ties_by_lower_id():
    d = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    q = np.array([[1.0, 0.0]], dtype=np.float32)
    ties = metrics.tie_order(["c", "a", "d", "b"])  # ids of rows 0..3
    ranks = metrics.relevant_ranks(q, d, [[0, 1, 3]], ties, top=3)
    exact = metrics.relevant_ranks(q, d, [[0, 1, 3]], ties)
    assert ranks[0].tolist() == exact[0].tolist() == [1.0, 2.0, 3.0]
    assert metrics.relevant_ranks(q, d, [[2]], ties, top=2)[0].tolist() == [np.inf]


def test_bootstrap_ci_contains_the_estimate_and_is_seeded():
    rng = np.random.default_rng(1)
    vals = {"mrr@10": rng.random(200), "hit@1": (rng.random(200) > 0.4).astype(float)}
    a = metrics.bootstrap_ci(vals, samples=500, seed=7)
    b = metrics.bootstrap_ci(vals, samples=500, seed=7)
    c = metrics.bootstrap_ci(vals, samples=500, seed=8)
    assert a == b and a != c
    for k, (lo, hi) in a.items():
        assert lo <= vals[k].mean() <= hi and hi - lo < 0.2


def test_paired_test_detects_a_real_difference_and_not_noise():
    rng = np.random.default_rng(2)
    base = rng.random(300)
    better = np.clip(base + 0.1 + rng.normal(0, 0.05, 300), 0, 1)
    res = metrics.paired_test(base, better, samples=2000, seed=3)
    assert res["diff"] > 0 and res["p_value"] < 0.01 and res["ci"][0] > 0
    same = metrics.paired_test(base, base[rng.permutation(300)], samples=2000, seed=3)
    assert same["p_value"] > 0.05


def test_cluster_bootstrap_of_perfectly_correlated_groups_equals_the_group_level_bootstrap():
    rng = np.random.default_rng(0)
    per_group = rng.random(40)
    size = 3
    values = np.repeat(per_group, size)  # every query of a group scores the same
    groups = [f"g{i}" for i in range(40) for _ in range(size)]
    clustered = metrics.bootstrap_ci({"m": values}, samples=800, seed=5, groups=groups)
    group_level = metrics.bootstrap_ci({"m": per_group}, samples=800, seed=5)
    assert clustered["m"] == pytest.approx(group_level["m"], abs=1e-12)
    naive = metrics.bootstrap_ci({"m": values}, samples=800, seed=5)
    assert naive["m"][1] - naive["m"][0] < clustered["m"][1] - clustered["m"][0]  # too narrow
    assert metrics.bootstrap_ci({"m": values}, samples=800, seed=5, groups=groups) == clustered  # seeded
    singletons = metrics.bootstrap_ci({"m": values}, samples=800, seed=5, groups=[str(i) for i in range(120)])
    assert singletons == naive  # one query per group is the plain query bootstrap


def test_clustered_paired_test_flips_whole_groups():
    rng = np.random.default_rng(1)
    base = rng.random(60)
    groups = [f"g{i // 6}" for i in range(60)]  # 10 groups of 6
    shift = np.repeat(rng.normal(0, 0.3, 10), 6)  # a per-group effect, no real difference overall
    b = base + shift
    plain = metrics.paired_test(base, b, samples=4000, seed=2)
    clustered = metrics.paired_test(base, b, samples=4000, seed=2, groups=groups)
    assert clustered["n"] == 60 and clustered["n_groups"] == 10 and plain["n_groups"] == 60
    assert clustered["diff"] == pytest.approx(plain["diff"])
    assert clustered["p_value"] > plain["p_value"]  # 10 independent units, not 60
    assert clustered["ci"][1] - clustered["ci"][0] > plain["ci"][1] - plain["ci"][0]


def test_graded_ndcg_by_hand_and_pairs_stay_with_their_ranks():
    """Grades [2, 1] at ranks [3, 1] (not sorted: the pairs are sorted together): nDCG uses the grades as
    linear gains, ideal from the grades sorted descending; hit, MRR, recall and MAP stay binary."""
    v = metrics.per_query([np.array([3.0, 1.0])], [1, 3], gains=[[2, 1]])
    dcg = 2 / math.log2(4) + 1 / math.log2(2)
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    assert v["ndcg@10"][0] == pytest.approx(dcg / idcg)
    assert v["first_rank"][0] == 1 and v["hit@1"][0] == 1 and v["mrr@3"][0] == 1
    assert v["recall@1"][0] == 0.5 and v["map@100"][0] == pytest.approx((1 / 1 + 2 / 3) / 2)
    swapped = metrics.per_query([np.array([1.0, 3.0])], [1, 3], gains=[[1, 2]])
    assert all(np.array_equal(swapped[k], v[k]) for k in v)
    flipped = metrics.per_query([np.array([1.0, 3.0])], [10], gains=[[2, 1]])["ndcg@10"][0]
    assert flipped == pytest.approx((2 + 1 / math.log2(4)) / idcg) and flipped > v["ndcg@10"][0]


def test_gains_of_one_give_the_binary_numbers_exactly():
    rng = np.random.default_rng(3)
    ranks = [
        np.sort(rng.choice(np.arange(1.0, 40.0), size=n, replace=False)) for n in rng.integers(1, 15, 50)
    ]
    ranks[0][-1] = np.inf
    binary = metrics.per_query(ranks, [1, 5, 10])
    ones = metrics.per_query(ranks, [1, 5, 10], gains=[[1] * len(r) for r in ranks])
    assert all(np.array_equal(binary[k], ones[k]) for k in binary)
    with pytest.raises(ValueError, match="2 gains for 1 ranks"):
        metrics.per_query([np.array([1.0])], [1], gains=[[1, 2]])


def _graded_run(seed: int) -> tuple[dict, dict]:
    """Qrels with grades 0-3 (0: judged, not relevant) and a run of distinct scores, pytrec_eval's input."""
    rng = np.random.default_rng(seed)
    qrels, run = {}, {}
    for q in range(40):
        docs = [f"d{i}" for i in range(30)]
        judged = rng.choice(30, size=int(rng.integers(1, 14)), replace=False)
        grades = rng.integers(0, 4, len(judged))
        grades[0] = max(grades[0], 1)  # a query with a relevant document
        qrels[f"q{q}"] = {docs[j]: int(g) for j, g in zip(judged, grades, strict=True)}
        run[f"q{q}"] = {d: float(s) for d, s in zip(docs, rng.permutation(30), strict=True)}
    return qrels, run


def _ours(qrels: dict, run: dict) -> tuple[list[np.ndarray], list[list[int]]]:
    """The run's ranks of each query's grade > 0 documents, in qrels order, and their grades."""
    ranks, gains = [], []
    for q, judged in qrels.items():
        order = sorted(run[q], key=lambda d: -run[q][d])
        relevant = [d for d, g in judged.items() if g > 0]
        ranks.append(np.array([order.index(d) + 1 for d in relevant], dtype=np.float64))
        gains.append([judged[d] for d in relevant])
    return ranks, gains


def test_graded_ndcg_is_trec_evals_ndcg_cut():
    """Against trec_eval's `ndcg_cut` written out (m_ndcg_cut.c: the ranked list walked to the cutoff, gain =
    the qrels grade, discount log2(i + 2) at 0-based position i; ideal: the grades sorted descending)."""
    qrels, run = _graded_run(5)
    ranks, gains = _ours(qrels, run)
    ours = metrics.per_query(ranks, [10], gains)
    for i, (q, judged) in enumerate(qrels.items()):
        ranked = sorted(run[q], key=lambda d: -run[q][d])[:10]
        dcg = sum(
            judged.get(d, 0) / math.log2(pos + 2) for pos, d in enumerate(ranked) if judged.get(d, 0) > 0
        )
        ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:10]
        idcg = sum(g / math.log2(pos + 2) for pos, g in enumerate(ideal))
        assert ours["ndcg@10"][i] == pytest.approx(dcg / idcg, abs=1e-12), q


def test_graded_metrics_match_pytrec_eval():
    """pytrec_eval (what BEIR and MTEB score with), where installed: nDCG@10 graded, recall@10 and the
    reciprocal rank binary on grade > 0; the grades change nDCG."""
    pytrec_eval = pytest.importorskip("pytrec_eval")
    qrels, run = _graded_run(6)
    ranks, gains = _ours(qrels, run)
    ours = metrics.per_query(ranks, [10], gains)
    theirs = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.10", "recip_rank"}).evaluate(run)
    for i, q in enumerate(qrels):
        assert ours["ndcg@10"][i] == pytest.approx(theirs[q]["ndcg_cut_10"], abs=1e-6), q
        assert ours["recall@10"][i] == pytest.approx(theirs[q]["recall_10"], abs=1e-6), q
        assert ours["reciprocal_rank"][i] == pytest.approx(theirs[q]["recip_rank"], abs=1e-6), q
    assert (ours["ndcg@10"] != metrics.per_query(ranks, [10])["ndcg@10"]).any()
