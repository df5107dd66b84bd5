"""Exact search streamed over corpus shards, and approximate (faiss) indexes with their measured recall.

Why: a query block × whole-corpus score matrix, and one process holding every vector, stop scaling long
before a million chunks. Here the corpus is a sequence of `Shard`s (row offset + dense rows: in-memory
arrays or the read-only memmaps of the files rule encode_shard writes), scored one query block × one corpus
tile at a time, so peak memory is block × tile scores plus a queries × k running top list, never
queries × chunks.

Exact, with no cut-off: each relevant chunk's rank is 1 + #(higher score) + #(equal score, lower tie
position), summed over tiles, so every metric and the per-query first rank stay exact at any size. A chunk's
tie position is its place in ascending chunk-id order (`metrics.tie_order`). Score and tie position are
packed into one uint64 key (the float's order-preserving bits, then the complemented position), so a larger
key is exactly "better under the tie rule": ranks count larger keys, a top-k keeps the k largest.

The same under any sharding: BLAS rounds the last bit of a product differently for other matrix shapes, so
a score must come from the same call however the corpus is cut. Scores are products of a query block
(`block` rows) with a corpus tile (global rows [t·tile, (t+1)·tile)); shard boundaries must fall on tile
multiples, so sharded and unsharded runs multiply identical operands of identical shapes. A relevant chunk's
own key comes from its tile's product too (one extra product per tile holding a relevant chunk of the
block), so it compares equal to itself.

Approximate: `build_ann` fills a faiss HNSW or IVF inner-product index tile by tile (seeded: HNSW's level
draws, IVF's k-means and training sample; HNSW on one thread, as faiss's parallel insertion order varies),
`ann_search` returns its top lists under the same tie rule, and `recall_at` compares them with the exact
top lists of `exact_search(..., k=10)`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedlab import io
from embedlab.errors import EmbedlabError
from embedlab.evaluation.latency import one_search_thread
from embedlab.settings import IndexSettings, schema_default, section

TILE: int = schema_default("evaluation", "shard_block")
"""Corpus rows per product when the caller does not say (the schema's evaluation.shard_block)."""
PAIR_CHUNK = 512
"""Relevant (query, chunk) pairs compared with one tile at once: bounds that comparison's memory."""
SHARD_FORMAT = "embedlab.shard/1"
ANN_KINDS = ("hnsw", "ivf")
_LOW32 = np.uint64(0xFFFFFFFF)
_SIGN = np.uint32(0x80000000)


@dataclass(frozen=True)
class Shard:
    """Corpus rows [start, start + len(vectors)) as dense float rows."""

    start: int
    vectors: np.ndarray

    @property
    def stop(self) -> int:
        return self.start + int(self.vectors.shape[0])


@dataclass
class TopK:
    """Per query, its best k chunks under the tie rule, best first (id -1 and score -inf past the list)."""

    ids: np.ndarray  # (queries, k) int64
    scores: np.ndarray  # (queries, k) float32


@dataclass
class ExactResult:
    """What `exact_search` was asked for."""

    ranks: list[np.ndarray]  # per query, the sorted 1-based ranks of its relevant chunks ([] if not asked)
    top: TopK  # per query, its best k chunks (k = 0 columns if not asked)


def score_keys(scores: np.ndarray, ties: np.ndarray) -> np.ndarray:
    """uint64 keys, larger = better: float32 score bits made order-preserving, then the complemented tie
    position (a lower position wins among equal scores). -0.0 and +0.0 are one score."""
    bits = (np.asarray(scores, dtype=np.float32) + np.float32(0.0)).view(np.uint32)
    ordered = np.where(bits >= _SIGN, ~bits, bits | _SIGN)
    return (ordered.astype(np.uint64) << np.uint64(32)) | (_LOW32 - np.asarray(ties).astype(np.uint64))


def key_scores(keys: np.ndarray) -> np.ndarray:
    """The float32 scores packed in `score_keys` keys (key 0, an empty slot, decodes to a negative NaN)."""
    ordered = (np.asarray(keys, dtype=np.uint64) >> np.uint64(32)).astype(np.uint32)
    return np.where(ordered >= _SIGN, ordered & ~_SIGN, ~ordered).view(np.float32)


def _product(qb: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Scores of a query block against a tile, float32 (float64 inputs multiply in float64 first)."""
    return np.asarray(qb @ np.asarray(rows).T, dtype=np.float32)


def tiles(shards: Sequence[Shard], n_rows: int, tile: int, dim: int | None = None) -> list[tuple[int, Any]]:
    """(first row, rows) of each corpus tile, in order; the shards must cover rows 0..n_rows in order, and
    only the last one may end inside a tile (so every shard starts on a tile multiple)."""
    if tile < 1:
        raise EmbedlabError(f"corpus tile of {tile} rows: evaluation.shard_block must be at least 1")
    out: list[tuple[int, Any]] = []
    at = 0
    for i, shard in enumerate(shards):
        rows = int(shard.vectors.shape[0])
        if shard.start != at:
            raise EmbedlabError(
                f"corpus shard {i} starts at row {shard.start}, the previous one ended at {at}: "
                "pass every shard of the corpus, in row order"
            )
        if rows and dim is not None and shard.vectors.shape[1] != dim:
            raise EmbedlabError(
                f"corpus shard {i} holds {shard.vectors.shape[1]}-d vectors, the queries {dim}-d: "
                "re-encode the shards with this model"
            )
        out += [(shard.start + t0, shard.vectors[t0 : t0 + tile]) for t0 in range(0, rows, tile)]
        at += rows
        if rows % tile and at != n_rows:
            raise EmbedlabError(
                f"corpus shard {i} ends at row {at}, inside a {tile}-row tile: only the last shard may "
                "(re-encode the shards with this evaluation.shard_block)"
            )
    if at != n_rows:
        raise EmbedlabError(
            f"corpus shards hold {at} rows, the corpus {n_rows}: pass every shard (rule encode_shard)"
        )
    return out


def _merge(
    best_keys: np.ndarray, best_ids: np.ndarray, keys: np.ndarray, first_row: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The k largest keys per row among the running list and one tile's keys (unordered)."""
    rows = keys.shape[1]
    if rows > k:
        cand = np.argpartition(keys, rows - k, axis=1)[:, rows - k :]
    else:
        cand = np.broadcast_to(np.arange(rows), keys.shape)
    all_keys = np.concatenate([best_keys, np.take_along_axis(keys, cand, 1)], axis=1)
    all_ids = np.concatenate([best_ids, cand + first_row], axis=1)
    keep = np.argpartition(all_keys, all_keys.shape[1] - k, axis=1)[:, -k:]
    return np.take_along_axis(all_keys, keep, 1), np.take_along_axis(all_ids, keep, 1)


def _ordered_top(keys: np.ndarray, ids: np.ndarray) -> TopK:
    """Rows sorted best first; empty slots (key 0) become id -1, score -inf."""
    order = np.argsort(keys, axis=1, kind="stable")[:, ::-1]
    keys = np.take_along_axis(keys, order, 1)
    ids = np.where(keys > 0, np.take_along_axis(ids, order, 1), -1)
    return TopK(ids, np.where(keys > 0, key_scores(keys), np.float32(-np.inf)).astype(np.float32))


def _own_keys(
    qb: np.ndarray,
    pair_q: np.ndarray,
    pair_r: np.ndarray,
    tile_list: list[tuple[int, Any]],
    ties: np.ndarray,
    tile: int,
) -> np.ndarray:
    """Each relevant pair's key, from the product of the query block with the tile holding the chunk."""
    own = np.empty(len(pair_r), dtype=np.uint64)
    where = pair_r // tile
    for t in np.unique(where):
        first, rows = tile_list[int(t)]
        keys = score_keys(_product(qb, rows), ties[first : first + rows.shape[0]])
        mask = where == t
        own[mask] = keys[pair_q[mask], pair_r[mask] - first]
    return own


def exact_search(
    queries: np.ndarray,
    shards: Sequence[Shard],
    ties: np.ndarray,
    *,
    relevant: Sequence[Sequence[int]] | None = None,
    k: int = 0,
    block: int = 256,
    tile: int = TILE,
) -> ExactResult:
    """Exact ranks of each query's `relevant` chunks (if given) and its top `k` (if k > 0), streamed over
    `shards` one query block × corpus tile at a time (see the module docstring for the tie rule)."""
    q = np.asarray(queries)
    ties = np.asarray(ties, dtype=np.int64)
    n_rows, n_q = len(ties), q.shape[0]
    tile_list = tiles(shards, n_rows, tile, int(q.shape[1]))
    k = min(k, n_rows)
    best_keys = np.zeros((n_q, k), dtype=np.uint64)
    best_ids = np.full((n_q, k), -1, dtype=np.int64)
    if relevant is not None:
        if len(relevant) != n_q:
            raise ValueError(f"{len(relevant)} relevant lists for {n_q} queries")
        sizes = np.array([len(r) for r in relevant], dtype=np.int64)
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        pair_r = np.concatenate([np.asarray(r, dtype=np.int64) for r in relevant] or [np.zeros(0, np.int64)])
        if pair_r.size and (pair_r.min() < 0 or pair_r.max() >= n_rows):
            raise ValueError(f"relevant chunk index outside the corpus of {n_rows} rows")
        pair_q = np.repeat(np.arange(n_q), sizes)
        higher = np.zeros(len(pair_r), dtype=np.int64)
    for a in range(0, n_q, block):
        b = min(a + block, n_q)
        qb = q[a:b]
        if relevant is not None:
            lo, hi = int(bounds[a]), int(bounds[b])
            pq, pr = pair_q[lo:hi] - a, pair_r[lo:hi]
            own = _own_keys(qb, pq, pr, tile_list, ties, tile)
        for first, rows in tile_list:
            keys = score_keys(_product(qb, rows), ties[first : first + rows.shape[0]])
            if relevant is not None:
                for c in range(0, hi - lo, PAIR_CHUNK):
                    part = slice(c, min(c + PAIR_CHUNK, hi - lo))
                    higher[lo + part.start : lo + part.stop] += (keys[pq[part]] > own[part, None]).sum(axis=1)
            if k:
                best_keys[a:b], best_ids[a:b] = _merge(best_keys[a:b], best_ids[a:b], keys, first, k)
    ranks = []
    if relevant is not None:
        flat = (1 + higher).astype(np.float64)
        ranks = [np.sort(flat[bounds[i] : bounds[i + 1]]) for i in range(n_q)]
    return ExactResult(ranks, _ordered_top(best_keys, best_ids))


def list_ranks(top: TopK, relevant: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Sorted 1-based positions of each query's relevant chunks in its top list (inf when not in it)."""
    out = []
    for row, rel in zip(top.ids, relevant, strict=True):
        pos = {int(c): i + 1 for i, c in enumerate(row) if c >= 0}
        out.append(np.sort(np.array([pos.get(int(r), np.inf) for r in rel], dtype=np.float64)))
    return out


def recall_at(approx: TopK, exact: TopK, k: int) -> np.ndarray:
    """Per query, the share of the exact top k (tie rule) that the approximate top k holds."""
    out = np.empty(len(exact.ids))
    for i, (a, e) in enumerate(zip(approx.ids[:, :k], exact.ids[:, :k], strict=True)):
        want = e[e >= 0]
        out[i] = np.isin(want, a[a >= 0]).sum() / len(want) if len(want) else 1.0
    return out


# --- approximate indexes ------------------------------------------------------------------------------------
def index_settings(**overrides: Any) -> IndexSettings:
    """The schema's evaluation.index with `overrides` (e.g. kind="hnsw", hnsw={"ef_search": 256}): for
    callers without a config (benchmarks, notebooks); an unknown key is an error, not ignored."""
    merged = schema_default("evaluation", "index")
    for key, value in overrides.items():
        if key not in merged:
            raise EmbedlabError(f"index setting {key!r} is unknown (known: {', '.join(merged)})")
        if isinstance(value, dict):
            unknown = set(value) - set(merged[key])
            if unknown:
                raise EmbedlabError(
                    f"index setting {key}.{sorted(unknown)[0]} is unknown (known: {', '.join(merged[key])})"
                )
            value = {**merged[key], **value}
        merged[key] = value
    return section(IndexSettings, {"index": merged}, "index")


def use_ann(settings: IndexSettings, n_rows: int) -> bool:
    """Whether a corpus of `n_rows` chunks is searched with the approximate index (else exactly)."""
    return settings.kind in ANN_KINDS and n_rows >= settings.min_corpus


def ivf_lists(settings: IndexSettings, n_rows: int) -> int:
    """IVF cells: the setting, or 4·√chunks when it is null; never more cells than chunks."""
    nlist = settings.ivf.nlist or max(1, round(4 * math.sqrt(n_rows)))
    if nlist > n_rows:
        raise EmbedlabError(
            f"evaluation.index.ivf.nlist is {nlist}, more cells than the corpus's {n_rows} chunks: lower it "
            "(or null for 4 x sqrt(chunks))"
        )
    return nlist


def _sample_rows(tile_list: list[tuple[int, Any]], n_rows: int, want: int, seed: int) -> np.ndarray:
    """A seeded sample of `want` corpus rows (all when the corpus is smaller), in row order."""
    if want >= n_rows:
        return np.concatenate([np.asarray(rows, dtype=np.float32) for _, rows in tile_list])
    pick = np.sort(np.random.default_rng(seed).choice(n_rows, size=want, replace=False))
    parts = []
    for first, rows in tile_list:
        mine = pick[(pick >= first) & (pick < first + rows.shape[0])] - first
        if mine.size:
            parts.append(np.asarray(rows[mine], dtype=np.float32))
    return np.concatenate(parts)


def build_ann(shards: Sequence[Shard], settings: IndexSettings, seed: int, tile: int = TILE) -> Any:
    """A faiss HNSW or IVF inner-product index over the shards, filled tile by tile (the same adds however
    the corpus is sharded), seeded; the HNSW graph is built on one thread so a rerun builds the same one."""
    import faiss

    n_rows = sum(int(s.vectors.shape[0]) for s in shards)
    tile_list = tiles(shards, n_rows, tile)
    if not tile_list:
        raise EmbedlabError("approximate index: the corpus is empty")
    dim = int(tile_list[0][1].shape[1])
    if settings.kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, settings.hnsw.m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = settings.hnsw.ef_construction
        index.hnsw.efSearch = settings.hnsw.ef_search
        index.hnsw.rng = faiss.RandomGenerator(seed)
    elif settings.kind == "ivf":
        index = faiss.IndexIVFFlat(
            faiss.IndexFlatIP(dim), dim, ivf_lists(settings, n_rows), faiss.METRIC_INNER_PRODUCT
        )
        index.cp.seed = seed
        index.train(_sample_rows(tile_list, n_rows, index.nlist * index.cp.max_points_per_centroid, seed))
        index.nprobe = settings.ivf.nprobe
    else:
        raise EmbedlabError(
            f"index kind {settings.kind!r} is not approximate: use one of {', '.join(ANN_KINDS)}"
        )
    with one_search_thread() if settings.kind == "hnsw" else nullcontext():
        for _, rows in tile_list:
            index.add(np.ascontiguousarray(rows, dtype=np.float32))
    return index


def ann_search(index: Any, queries: np.ndarray, ties: np.ndarray, k: int, block: int = 256) -> TopK:
    """The index's top `k` per query, ordered by the tie rule (faiss's own order ignores chunk ids)."""
    q = np.asarray(queries)
    k = min(k, int(index.ntotal))
    ties = np.asarray(ties, dtype=np.int64)
    keys = np.zeros((q.shape[0], k), dtype=np.uint64)
    ids = np.full((q.shape[0], k), -1, dtype=np.int64)
    for a in range(0, q.shape[0], block):
        scores, found = index.search(np.ascontiguousarray(q[a : a + block], dtype=np.float32), k)
        valid = found >= 0
        keys[a : a + block] = np.where(valid, score_keys(scores, ties[np.where(valid, found, 0)]), 0)
        ids[a : a + block] = found
    return _ordered_top(keys, ids)


def flat_index(shards: Sequence[Shard]) -> Any:
    """A faiss exact inner-product index holding every shard's rows (what exact search deploys)."""
    import faiss

    dim = next((int(s.vectors.shape[1]) for s in shards if s.vectors.shape[0]), 0)
    index = faiss.IndexFlatIP(dim)
    for shard in shards:
        if shard.vectors.shape[0]:
            index.add(np.ascontiguousarray(shard.vectors, dtype=np.float32))
    return index


def index_bytes(index: Any) -> int:
    """Bytes the index holds in memory: vectors, plus HNSW's links or IVF's ids and centroids."""
    vectors = int(index.ntotal) * int(index.d) * 4
    if hasattr(index, "hnsw"):
        h = index.hnsw
        return vectors + 4 * (h.neighbors.size() + h.levels.size()) + 8 * h.offsets.size()
    if hasattr(index, "nlist"):
        return vectors + 8 * int(index.ntotal) + 4 * int(index.nlist) * int(index.d)
    return vectors


def searcher(index: Any, k: int) -> Callable[[Any], np.ndarray]:
    """One encoded query (a 1-row matrix) -> the index's top-k chunk ids: the latency probe's search."""
    k = min(k, int(index.ntotal))

    def search_one(q: Any) -> np.ndarray:
        return index.search(np.ascontiguousarray(np.atleast_2d(q), dtype=np.float32), k)[1][0]

    return search_one


# --- shard files -------------------------------------------------------------------------------------------
def write_shard(
    vectors_path: str | Path, meta_path: str | Path, vectors: np.ndarray, meta: dict[str, Any]
) -> None:
    """The shard's rows as float32 .npy and its JSON sidecar (written last), each atomically."""
    rows = np.ascontiguousarray(vectors, dtype=np.float32)
    with io.atomic_path(vectors_path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, rows, allow_pickle=False)
        fh.flush()
        os.fsync(fh.fileno())
    io.write_json(meta_path, {"format": SHARD_FORMAT, **meta, "rows": int(rows.shape[0])})


def read_shard(vectors_path: str | Path, meta_path: str | Path) -> tuple[Shard, dict[str, Any]]:
    """A shard file as a read-only memmap (rows are read when searched) and its sidecar, checked."""
    meta = io.read_json(meta_path)
    if meta.get("format") != SHARD_FORMAT:
        raise EmbedlabError(
            f"{meta_path}: not a corpus shard sidecar ({SHARD_FORMAT}): rerun rule encode_shard"
        )
    vectors = np.load(vectors_path, mmap_mode="r", allow_pickle=False)
    if vectors.ndim != 2 or vectors.shape[0] != meta["rows"] or meta["stop"] - meta["start"] != meta["rows"]:
        raise EmbedlabError(
            f"{vectors_path}: shape {vectors.shape} does not match its sidecar (rows {meta['start']}.."
            f"{meta['stop']}): rerun rule encode_shard"
        )
    return Shard(int(meta["start"]), vectors), meta
