"""Rank fusion of several retrievers' top-N candidate lists, and the weight search for the convex fusion.

Two methods, as ranx defines them (`ranx.fuse(method="rrf")` and `ranx.fuse(norm="min-max", method="wsum")`):
- reciprocal rank fusion: score(d) = Σ_m 1 / (k + rank_m(d)), rank 1-based within member m's top-N list;
- convex combination: score(d) = Σ_m w_m · (s_m(d) − min_m) / (max_m − min_m), min/max over member m's
  top-N list of that query (0 when all its scores are equal), weights ≥ 0 summing to 1.
A chunk missing from a member's list gets nothing from that member. The fused list is the union of the
members' lists, ordered by fused score, ties by ascending chunk id (`metrics.tie_order`), like every ranking.

Hand-rolled with numpy rather than calling ranx; benchmarks/hybrid_overhead.py checks that ranx's fused
scores equal these exactly on the default data. On 2 cores ranx costs ~2 s to import and 25-85 s of numba
compilation in a fresh environment (3-4 s per process once numba's cache is warm), and even warm its fuse
takes ~0.7 ms per query against ~0.15 ms here; its RRF also ranks a member's tied scores in dict order, not
by chunk id.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from embedlab.errors import EmbedlabError
from embedlab.evaluation import metrics

FUSIONS = ("rrf", "convex")
TUNE_METRIC = "mrr@10"  # what the convex weights maximise on the dev slice


@dataclass(frozen=True)
class Ranking:
    """One retriever's top-N candidates per query: chunk indices best first, and their scores."""

    ids: np.ndarray  # (n_queries, n) int64
    scores: np.ndarray  # (n_queries, n) float64

    @property
    def n_queries(self) -> int:
        return int(self.ids.shape[0])


@dataclass(frozen=True)
class Fused:
    """A fused ranking: per query, the union of the members' candidates, best first, and fused scores."""

    ids: list[np.ndarray]
    scores: list[np.ndarray]


@dataclass(frozen=True)
class Tuning:
    """The convex weights chosen on the dev slice, their dev score, and every grid point tried."""

    weights: tuple[float, ...]
    score: float
    n_queries: int
    grid: list[tuple[tuple[float, ...], float]]


def member_scores(tuning: Tuning, names: Sequence[str]) -> dict[str, float]:
    """Each member's dev score alone (its one-hot grid point): what the chosen mix had to beat on dev."""
    alone = {w.index(1.0): score for w, score in tuning.grid if sorted(w)[-1] == 1.0}
    return {name: alone[i] for i, name in enumerate(names) if i in alone}


def top_candidates(q: object, d: object, ties: np.ndarray, n: int, block: int = 256) -> Ranking:
    """The best `n` chunks per query by dot product (scores as `metrics.relevant_ranks` computes them),
    exact, ties at the cut and within the list resolved by chunk id order."""
    n_queries, n_docs = q.shape[0], d.shape[0]  # type: ignore[attr-defined]
    n = min(n, n_docs)
    ids = np.empty((n_queries, n), dtype=np.int64)
    scores = np.empty((n_queries, n), dtype=np.float64)
    for start in range(0, n_queries, block):
        block_scores = metrics.scores_block(q[start : start + block], d)  # type: ignore[index]
        for i, row in enumerate(block_scores, start):
            if n < n_docs:  # every chunk scoring at least the n-th best, then the id order settles the cut
                cand = np.flatnonzero(row >= np.partition(row, n_docs - n)[n_docs - n])
            else:
                cand = np.arange(n_docs)
            best = cand[np.lexsort((ties[cand], -row[cand]))][:n]
            ids[i] = best
            scores[i] = row[best]
    return ranking_of(ids, scores)


def ranking_of(
    ids: Sequence[Sequence[int]] | np.ndarray, scores: Sequence[Sequence[float]] | np.ndarray
) -> Ranking:
    """A Ranking from per-query candidate lists (best first) and their scores, checked for shape."""
    ids_arr = np.asarray(ids, dtype=np.int64)
    scores_arr = np.asarray(scores, dtype=np.float64)
    if ids_arr.ndim != 2 or ids_arr.shape != scores_arr.shape:
        raise ValueError(
            f"ranking: ids {ids_arr.shape} and scores {scores_arr.shape} must be equal 2-D shapes"
        )
    return Ranking(ids_arr, scores_arr)


def rrf_contributions(ranking: Ranking, k: float) -> np.ndarray:
    """1 / (k + rank) of every candidate, rank 1-based within the member's list."""
    ranks = np.arange(1, ranking.ids.shape[1] + 1, dtype=np.float64)
    return np.broadcast_to(1.0 / (k + ranks), ranking.ids.shape)


def minmax_contributions(ranking: Ranking) -> np.ndarray:
    """Each candidate's score min-max normalised over its query's list (all 0 when the scores are equal)."""
    lo = ranking.scores.min(axis=1, keepdims=True)
    span = ranking.scores.max(axis=1, keepdims=True) - lo
    return np.divide(ranking.scores - lo, span, out=np.zeros_like(ranking.scores), where=span > 0)


def combine(rankings: Sequence[Ranking], contributions: Sequence[np.ndarray], ties: np.ndarray) -> Fused:
    """Sum every chunk's contributions across members per query; order by sum, ties by chunk id."""
    n_queries = rankings[0].n_queries
    if any(r.n_queries != n_queries for r in rankings):
        raise ValueError("fusion: members ranked different numbers of queries")
    n_docs = len(ties)
    ids = np.concatenate([r.ids for r in rankings], axis=1)
    contrib = np.concatenate([np.asarray(c, dtype=np.float64) for c in contributions], axis=1)
    keys = np.arange(n_queries, dtype=np.int64)[:, None] * n_docs + ids
    uniq, inverse = np.unique(keys.ravel(), return_inverse=True)
    summed = np.bincount(inverse.ravel(), weights=contrib.ravel(), minlength=len(uniq))
    query, doc = np.divmod(uniq, n_docs)
    order = np.lexsort((ties[doc], -summed, query))
    cuts = np.cumsum(np.bincount(query, minlength=n_queries))[:-1]
    return Fused(np.split(doc[order], cuts), np.split(summed[order], cuts))


def fuse(
    rankings: Sequence[Ranking],
    ties: np.ndarray,
    method: str,
    k: float | None = None,
    weights: Sequence[float] | None = None,
) -> Fused:
    """Fuse members' rankings by `rrf` (needs `k`) or `convex` (needs `weights`, one per member)."""
    if len(rankings) < 2:
        raise EmbedlabError(
            f"fusion needs at least two members, got {len(rankings)}: list two or more models"
        )
    if method == "rrf":
        if k is None or k < 0:
            raise EmbedlabError(f"reciprocal rank fusion needs k ≥ 0, got {k}: set the fusion's k")
        return combine(rankings, [rrf_contributions(r, k) for r in rankings], ties)
    if method == "convex":
        w = check_weights(weights, len(rankings))
        return combine(
            rankings, [wi * minmax_contributions(r) for wi, r in zip(w, rankings, strict=True)], ties
        )
    raise EmbedlabError(f"fusion {method!r} is unknown: use one of {', '.join(FUSIONS)}")


def check_weights(weights: Sequence[float] | None, n_members: int) -> tuple[float, ...]:
    """Convex weights: one per member, none negative, summing to 1."""
    if weights is None or len(weights) != n_members:
        raise EmbedlabError(
            f"convex fusion needs {n_members} weights (one per member), got {weights}: fix weights or leave "
            "them unset to tune them on the dev slice"
        )
    w = tuple(float(x) for x in weights)
    if min(w) < 0 or abs(sum(w) - 1.0) > 1e-6:
        raise EmbedlabError(f"convex fusion weights {list(w)} must be ≥ 0 and sum to 1: fix weights")
    return w


def fused_ranks(fused: Fused, relevant: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Sorted 1-based ranks of each query's relevant chunks in the fused list; inf outside it."""
    out: list[np.ndarray] = []
    for ids, rel in zip(fused.ids, relevant, strict=True):
        pos = {int(c): i + 1 for i, c in enumerate(ids)}
        out.append(np.sort(np.array([pos.get(int(r), np.inf) for r in rel], dtype=np.float64)))
    return out


def simplex_grid(n_members: int, steps: int) -> list[tuple[float, ...]]:
    """Every weight vector with entries in {0, 1/steps, …, 1} summing to 1 (single members included)."""
    if steps < 1:
        raise EmbedlabError(f"fusion weight grid steps must be ≥ 1, got {steps}: raise the steps")
    return [
        tuple(c / steps for c in combo)
        for combo in itertools.product(range(steps, -1, -1), repeat=n_members)
        if sum(combo) == steps
    ]


def tune_weights(
    dev_rankings: Sequence[Ranking], dev_relevant: Sequence[Sequence[int]], dev_ties: np.ndarray, steps: int
) -> Tuning:
    """Grid search of convex weights maximising dev mrr@10. Takes only the dev slice (train side): val
    never reaches it. Equal scores: the weights closest to uniform win, then the grid order."""
    if not dev_relevant:
        raise EmbedlabError(
            "convex fusion: the dev slice has no queries to tune the weights on: "
            "raise dev_fraction or set weights"
        )
    k = int(TUNE_METRIC.split("@")[1])
    uniform = np.full(len(dev_rankings), 1.0 / len(dev_rankings))
    grid: list[tuple[tuple[float, ...], float]] = []
    for w in simplex_grid(len(dev_rankings), steps):
        fused = fuse(dev_rankings, dev_ties, "convex", weights=w)
        values = metrics.per_query(fused_ranks(fused, dev_relevant), [k])[TUNE_METRIC]
        grid.append((w, float(values.mean())))
    best = min(
        range(len(grid)),
        key=lambda i: (-grid[i][1], float(np.abs(np.asarray(grid[i][0]) - uniform).sum()), i),
    )
    return Tuning(grid[best][0], grid[best][1], len(dev_relevant), grid)
