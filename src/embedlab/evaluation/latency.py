"""Query latency on this machine: what one user query costs end to end, comparable across every evaluator.

A batch evaluation's seconds say little about serving: batches amortise the model call, and the embedding
cache can make a rerun look free. `query_latency_ms` times what a deployed retriever does per request —
encode ONE query with the model itself (never the cache) and search the corpus index — over a seeded sample
of the val queries after a warm-up, and reports the median in milliseconds.

`encode_one(text)` may return anything `search_one` accepts, so one timer serves every pipeline:
- a dense model: `uncached_query_encoder(encoder)` + `matrix_searcher(corpus_vectors, k)`;
- BM25: the same two (its corpus matrix is sparse: `matrix_searcher` takes scipy rows);
- a hybrid: `encode_one = lambda t: [e(t) for e in member_encoders]`,
  `search_one = lambda vs: fuse([s(v) for s, v in zip(member_searches, vs)])`;
- a rerank pipeline: `encode_one = lambda t: (t, encode(t))`, `search_one` retrieves then calls the
  cross-encoder on the (query text, top-k chunk) pairs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from embedlab.errors import EmbedlabError

WARMUP = 3  # untimed queries first: lazy initialisation, allocator and cache warm-up are not per-query costs


def sample_queries(queries: Sequence[str], n: int, seed: int) -> list[str]:
    """A seeded sample of `n` query texts (all of them, shuffled, when there are fewer)."""
    if n < 1:
        raise EmbedlabError(f"latency sample size {n}: it must be at least 1 query")
    if not queries:
        raise EmbedlabError("query latency: no queries to time (the val split has none)")
    order = np.random.default_rng(seed).permutation(len(queries))[:n]
    return [queries[int(i)] for i in order]


def timed(fn: Callable[[Any], Any], inputs: Sequence[Any]) -> tuple[list[Any], np.ndarray]:
    """`fn` on each input, one call at a time: the outputs and the milliseconds of each call.

    The first WARMUP inputs run once untimed before (lazy initialisation, allocator and CPU caches)."""
    for x in inputs[:WARMUP]:
        fn(x)
    out: list[Any] = []
    ms = np.empty(len(inputs))
    for i, x in enumerate(inputs):
        t0 = time.perf_counter_ns()
        out.append(fn(x))
        ms[i] = (time.perf_counter_ns() - t0) / 1e6
    return out, ms


@contextmanager
def one_search_thread() -> Iterator[None]:
    """faiss on one OpenMP thread inside the block (restored after): one query's search is microseconds of
    work, and waking a second thread on a busy machine costs a scheduler slice (milliseconds), so the int8
    and binary searches would time the machine's load instead of the index."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def query_latency_ms(
    encode_one: Callable[[str], Any],
    search_one: Callable[[Any], Any],
    queries: Sequence[str],
    n: int,
    seed: int,
) -> float:
    """Median over a seeded sample of `n` queries of (encode one query + search with it), in milliseconds.

    Several indexes over one model's vectors (evaluation.compression) time the encodes once with `timed`
    and add each index's search times per query: the same quantity, without re-measuring the encoder's
    noise into the comparison of indexes.
    """
    sample = sample_queries(queries, n, seed)
    vectors, encode_ms = timed(encode_one, sample)
    with one_search_thread():
        _, search_ms = timed(search_one, vectors)
    return float(np.median(encode_ms + search_ms))


def model_query_ms(
    encoder: Any, corpus_vectors: Any, k: int, queries: Sequence[str], n: int, seed: int
) -> float:
    """`query_latency_ms` of one model over its corpus vectors: encode a query uncached, search the top k."""
    return query_latency_ms(
        uncached_query_encoder(encoder), matrix_searcher(corpus_vectors, k), queries, n, seed
    )


def uncached_query_encoder(encoder: Any) -> Callable[[str], Any]:
    """Encode one query with the model itself: a CachedEncoder is unwrapped so the cache is never asked."""
    raw = getattr(encoder, "encoder", encoder)

    def encode_one(text: str) -> Any:
        return raw.encode_queries([text])

    return encode_one


def top_ids(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the `k` best scores, best first (argpartition then a sort of the k)."""
    k = min(k, scores.shape[0])
    cand = np.argpartition(-scores, k - 1)[:k]
    return cand[np.argsort(-scores[cand], kind="stable")]


def matrix_searcher(corpus: Any, k: int) -> Callable[[Any], np.ndarray]:
    """Top-`k` chunk ids for one encoded query (a 1-row matrix) by inner product with `corpus`.

    Dense float rows go into a faiss exact inner-product index (the same search at every precision, see
    evaluation.compression); sparse rows (BM25) are scored by one sparse product.
    """
    if hasattr(corpus, "tocsr"):
        corpus_t = corpus.T.tocsr()

        def search_sparse(q: Any) -> np.ndarray:
            row = q @ corpus_t
            return top_ids(np.asarray(row.toarray() if hasattr(row, "toarray") else row).ravel(), k)

        return search_sparse
    import faiss

    dense = np.ascontiguousarray(corpus, dtype=np.float32)
    index = faiss.IndexFlatIP(dense.shape[1])
    index.add(dense)
    k = min(k, dense.shape[0])

    def search_dense(q: Any) -> np.ndarray:
        _, ids = index.search(np.ascontiguousarray(np.atleast_2d(q), dtype=np.float32), k)
        return ids[0]

    return search_dense
