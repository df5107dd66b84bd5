"""Retrieval metrics from exact ranks, with bootstrap confidence intervals and a paired test.

Everything starts from the full-corpus rank of every relevant chunk of every query (1-based; ties broken by
ascending chunk id, the order sentence-transformers' InformationRetrievalEvaluator uses), so all metrics
count every positive (the tutorial looked at the first one only) and the per-query file can say where the
first relevant chunk landed even when it is outside the top k.

Definitions (R = number of relevant items of the query, r_1 < r_2 < … their ranks, g_j > 0 the grade of the
item at r_j, 1 unless the labels are graded, g*_1 ≥ g*_2 ≥ … the same grades sorted descending):
hit@k = [r_1 ≤ k]; MRR@k = 1/r_1 if r_1 ≤ k else 0; recall@k = |{r_j ≤ k}| / R;
nDCG@10 = Σ_{r_j ≤ 10} g_j/log2(r_j+1) / Σ_{i=1..min(R,10)} g*_i/log2(i+1);
MAP@100 = Σ_{r_j ≤ 100} (j / r_j) / min(R, 100). Binary labels match sentence-transformers' evaluator exactly;
graded ones (a BEIR folder's qrels grades) give nDCG the linear gain of trec_eval's `ndcg_cut`, which BEIR
and MTEB score through pytrec_eval, while every other metric stays binary (grade > 0 is relevant), as there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from embedlab.evaluation import search

NDCG_K = 10
MAP_K = 100


def metric_names(ks: Sequence[int]) -> list[str]:
    ks = sorted(set(ks))
    return (
        [f"hit@{k}" for k in ks]
        + [f"mrr@{k}" for k in ks]
        + [f"recall@{k}" for k in ks]
        + [f"ndcg@{NDCG_K}", f"map@{MAP_K}"]
    )


def scores_block(q: Any, d: Any) -> np.ndarray:
    """Scores of a query block against every chunk. A sparse corpus (BM25) is multiplied with the dense
    query block (csr x dense): the same sums in the same term order as sparse x sparse, without scipy's
    sparse intermediate, which grew to most of a GB per block at a million chunks."""
    if hasattr(d, "toarray"):
        qd = q.toarray() if hasattr(q, "toarray") else np.asarray(q)
        return np.asarray((d @ qd.T).T, dtype=np.float32)
    return np.asarray(q @ d.T, dtype=np.float32)


def tie_order(corpus_ids: Sequence[str]) -> np.ndarray:
    """Position of each chunk in ascending id order: the tie-break (lower id wins)."""
    order = np.argsort(np.asarray(corpus_ids, dtype=object), kind="stable")
    pos = np.empty(len(corpus_ids), dtype=np.int64)
    pos[order] = np.arange(len(corpus_ids))
    return pos


SCORE_CELLS = 1 << 24  # most float32 scores held at once by the sparse path (64 MiB)


def relevant_ranks(
    q: Any,
    d: Any,
    relevant: Sequence[Sequence[int]],
    ties: np.ndarray,
    block: int = 256,
    top: int | None = None,
) -> list[np.ndarray]:
    """Sorted 1-based ranks of each query's relevant chunks among all chunks, by dot product.

    Exact: rank = 1 + #(higher score) + #(equal score, lower id), the one tie rule of `search.score_keys`.
    Dense vectors are ranked by `search.exact_search` (query block x corpus tile at a time, so memory does
    not grow with the corpus); sparse ones (BM25) here, a block of queries x the corpus, the block shrunk so
    that its score matrix stays under SCORE_CELLS (memory flat as the corpus grows). With `top` set, relevant
    chunks ranked below it get rank inf (what a top-`top` list reports).
    """
    n_docs = d.shape[0]
    if hasattr(d, "toarray"):
        ranks = _sparse_ranks(q, d, relevant, ties, max(1, min(block, SCORE_CELLS // max(n_docs, 1))))
    else:
        shards = [search.Shard(0, np.asarray(d))]
        ranks = search.exact_search(q, shards, ties, relevant=relevant, block=block).ranks
    return ranks if top is None or top >= n_docs else [np.where(r > top, np.inf, r) for r in ranks]


def _sparse_ranks(
    q: Any, d: Any, relevant: Sequence[Sequence[int]], ties: np.ndarray, block: int
) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    for start in range(0, q.shape[0], block):
        scores = scores_block(q[start : start + block], d)
        for row, rel in zip(scores, relevant[start : start + block], strict=True):
            keys = search.score_keys(row, ties)
            own = keys[np.asarray(rel, dtype=np.int64)]
            out.append(np.sort((1 + (keys[None, :] > own[:, None]).sum(1)).astype(np.float64)))
    return out


def per_query(
    ranks: Sequence[np.ndarray], ks: Sequence[int], gains: Sequence[Sequence[float]] | None = None
) -> dict[str, np.ndarray]:
    """Per-query values of every metric (one array per metric name), plus first_rank and reciprocal_rank.

    `gains`: each query's relevant items' grades (> 0), in the order of its `ranks`; None gives every item
    gain 1. Ranks may come in any order: (rank, gain) pairs are sorted together, so a grade stays with its
    item's rank. Only nDCG reads the gains."""
    ks = sorted(set(ks))
    n = len(ranks)
    pairs = [_by_rank(r, None if gains is None else gains[i]) for i, r in enumerate(ranks)]
    first = np.array([r[0] if len(r) else np.inf for r, _ in pairs], dtype=np.float64)
    n_rel = np.array([len(r) for r, _ in pairs], dtype=np.float64)
    out: dict[str, np.ndarray] = {}
    for k in ks:
        out[f"hit@{k}"] = (first <= k).astype(np.float64)
    for k in ks:
        out[f"mrr@{k}"] = np.where(first <= k, 1.0 / first, 0.0)
    for k in ks:
        out[f"recall@{k}"] = np.array([(r <= k).sum() for r, _ in pairs], dtype=np.float64) / np.maximum(
            n_rel, 1
        )
    ndcg = np.zeros(n)
    ap = np.zeros(n)
    for i, (r, g) in enumerate(pairs):
        top = r <= NDCG_K
        best = np.sort(g)[::-1][:NDCG_K]
        ideal = (best / np.log2(np.arange(2, len(best) + 2))).sum()
        ndcg[i] = (g[top] / np.log2(r[top] + 1)).sum() / ideal if ideal > 0 else 0.0
        within = r[r <= MAP_K]
        ap[i] = (np.arange(1, len(within) + 1) / within).sum() / min(len(r), MAP_K) if len(r) else 0.0
    out[f"ndcg@{NDCG_K}"] = ndcg
    out[f"map@{MAP_K}"] = ap
    out["first_rank"] = first
    out["reciprocal_rank"] = np.where(np.isfinite(first), 1.0 / first, 0.0)
    return out


def _by_rank(ranks: np.ndarray, gains: Sequence[float] | None) -> tuple[np.ndarray, np.ndarray]:
    """One query's ranks ascending and its gains in the same order (all 1 without gains)."""
    r = np.asarray(ranks, dtype=np.float64)
    g = np.ones(len(r)) if gains is None else np.asarray(gains, dtype=np.float64)
    if len(g) != len(r):
        raise ValueError(f"{len(g)} gains for {len(r)} ranks")
    order = np.argsort(r, kind="stable")
    return r[order], g[order]


def _resample_counts(rng: np.random.Generator, n: int, samples: int, chunk: int = 200):
    """Bootstrap resamples as count vectors (draws per unit): a mean is then counts @ values / n."""
    p = np.full(n, 1.0 / n)
    for start in range(0, samples, chunk):
        yield rng.multinomial(n, p, size=min(chunk, samples - start)).astype(np.float64)


def clusters(groups: Sequence[str] | None, n: int) -> tuple[np.ndarray, int]:
    """Cluster index of each query (first-seen order) and the number of clusters; no groups: one per query.

    Queries about one chunk group (an article, a section) share positives and vocabulary, so they are not
    independent: the bootstrap and the permutation test resample whole groups.
    """
    if groups is None:
        return np.arange(n), n
    if len(groups) != n:
        raise ValueError(f"{len(groups)} groups for {n} queries")
    index: dict[str, int] = {}
    return np.array([index.setdefault(g, len(index)) for g in groups], dtype=np.int64), len(index)


def _cluster_sums(values: np.ndarray, cluster: np.ndarray, n_clusters: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster sums of `values` (rows = queries) and per-cluster query counts."""
    sums = np.zeros((n_clusters, *values.shape[1:]))
    np.add.at(sums, cluster, values)
    return sums, np.bincount(cluster, minlength=n_clusters).astype(np.float64)


def bootstrap_ci(
    values: dict[str, np.ndarray],
    samples: int = 1000,
    seed: int = 42,
    level: float = 0.95,
    groups: Sequence[str] | None = None,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap CI of each metric's mean over queries.

    With `groups`, whole groups are drawn with replacement (a cluster bootstrap) and each resample's mean
    is over the queries of the drawn groups; without, single queries are drawn.
    """
    names = list(values)
    if not names:
        return {}
    mat = np.stack([values[k] for k in names], axis=1)
    n = mat.shape[0]
    if n == 0 or samples <= 0:
        return {k: (float("nan"), float("nan")) for k in names}
    cluster, g = clusters(groups, n)
    sums, sizes = _cluster_sums(mat, cluster, g)
    rng = np.random.default_rng(seed)
    means = np.concatenate([(c @ sums) / (c @ sizes)[:, None] for c in _resample_counts(rng, g, samples)])
    alpha = (1 - level) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha], axis=0)
    return {k: (float(lo[i]), float(hi[i])) for i, k in enumerate(names)}


def paired_test(
    a: np.ndarray,
    b: np.ndarray,
    samples: int = 10000,
    seed: int = 42,
    level: float = 0.95,
    groups: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Is b better than a on the same queries? Mean difference (b - a), its paired-bootstrap CI, and a
    two-sided sign-flip permutation p-value (exchangeable under 'no difference').

    With `groups`, the bootstrap draws whole groups and the permutation flips the sign of a whole group's
    differences at once: queries of one group are not independent evidence.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    diff = b - a
    n = len(diff)
    if n == 0:
        return {"n": 0, "mean_a": None, "mean_b": None, "diff": None, "ci": [None, None], "p_value": None}
    cluster, g = clusters(groups, n)
    sums, sizes = _cluster_sums(diff, cluster, g)
    rng = np.random.default_rng(seed)
    boots = np.concatenate([(c @ sums) / (c @ sizes) for c in _resample_counts(rng, g, samples)])
    alpha = (1 - level) / 2
    lo, hi = np.quantile(boots, [alpha, 1 - alpha])
    observed = abs(diff.mean())
    extreme = 0
    for start in range(0, samples, 500):
        m = min(500, samples - start)
        signs = rng.choice(np.array([-1.0, 1.0]), size=(m, g))
        extreme += int((np.abs(signs @ sums / n) >= observed - 1e-12).sum())
    return {
        "n": n,
        "n_groups": g,
        "mean_a": float(a.mean()),
        "mean_b": float(b.mean()),
        "diff": float(diff.mean()),
        "ci": [float(lo), float(hi)],
        "p_value": (extreme + 1) / (samples + 1),
        "b_better": int((diff > 0).sum()),
        "a_better": int((diff < 0).sum()),
        "ties": int((diff == 0).sum()),
    }
