"""Per-document ranks: a document scores the best score of its chunks, and documents are what is ranked.

BEIR and MTEB rank whole documents, and their labels name documents. A BEIR folder chunked like any corpus
(chunking.whole_documents false) is scored the same way, so its numbers stay comparable with the published
ones: each document gets the maximum over its chunks (a chunk that stands for several identical documents
counts for each), documents are ranked by it (ties: the lower document id first, as for chunks), and the
metrics (embedlab.evaluation.metrics.per_query) take the ranks of each query's relevant documents, in the
order its labels list them so that graded labels (real.json `grades`) stay paired with them. With one chunk
per document the ranks are the chunk ranks. Rules evaluate_retrieval_real and evaluate_hybrid_real
score a real.json with `documents` this way (evaluation.retrieval, evaluation.hybrid: a hybrid's document
scores its best fused candidate chunk).

MTEB's rule for tasks whose queries are documents too (ArguAna, Quora, FiQA, …: `ignore_identical_ids`):
given `query_ids`, the document whose id is the query's own is dropped from that query's ranking, so it
neither pushes the others down nor counts as found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from embedlab.evaluation import metrics, search


@dataclass(frozen=True)
class DocumentMap:
    """Which chunk rows make up each document, as (document, chunk) pairs grouped by document."""

    ids: list[str]  # document ids, ascending: a document's position is its tie order
    pair_chunks: np.ndarray  # chunk row of each pair, the pairs of `ids[0]` first
    starts: np.ndarray  # index of each document's first pair in `pair_chunks`


def chunk_documents(chunks: Sequence[dict[str, Any]]) -> list[list[str]]:
    """The documents of each chunk record (chunk file format): the `source` of every location, since a chunk
    collapsed from identical texts (chunking.collapse_identical) stands for all of them."""
    return [sorted({loc["source"] for loc in c.get("locations") or [c]}) for c in chunks]


def document_map(chunk_docs: Sequence[Sequence[str]]) -> DocumentMap:
    """The map from each chunk row's documents (`chunk_documents`)."""
    pairs = sorted({(doc, row) for row, docs in enumerate(chunk_docs) for doc in docs})
    ids = sorted({doc for doc, _ in pairs})
    first = {}
    for i, (doc, _) in enumerate(pairs):
        first.setdefault(doc, i)
    return DocumentMap(
        ids,
        np.array([row for _, row in pairs], dtype=np.int64),
        np.array([first[d] for d in ids], dtype=np.int64),
    )


def document_scores(scores: np.ndarray, docs: DocumentMap) -> np.ndarray:
    """(queries, chunks) scores -> (queries, documents): the best chunk of each document."""
    return np.maximum.reduceat(np.asarray(scores)[:, docs.pair_chunks], docs.starts, axis=1)


def document_ranks(
    queries: Any,
    corpus: Any,
    docs: DocumentMap,
    relevant: Sequence[Sequence[str]],
    query_ids: Sequence[str] | None = None,
) -> list[np.ndarray]:
    """1-based ranks of each query's relevant documents among all documents, in the order of `relevant[q]`
    (so its grades stay paired; `metrics.per_query` sorts), by the dot product of the query with the
    document's best chunk (dense rows or BM25's sparse ones). A relevant document with no chunk (no text),
    or dropped by the identical-id rule (`query_ids`), is never found: rank inf. Queries are scored a block
    at a time, the block shrunk so that its scores stay under `metrics.SCORE_CELLS`."""
    if len(relevant) != queries.shape[0]:
        raise ValueError(f"{len(relevant)} relevant lists for {queries.shape[0]} queries")
    index = {doc: i for i, doc in enumerate(docs.ids)}
    ties = np.arange(len(docs.ids))
    block = max(1, metrics.SCORE_CELLS // max(len(docs.pair_chunks), 1))
    out: list[np.ndarray] = []
    for start in range(0, queries.shape[0], block):
        scores = document_scores(metrics.scores_block(queries[start : start + block], corpus), docs)
        for q, row in enumerate(scores, start):
            own = index.get(query_ids[q]) if query_ids is not None else None
            if own is not None:
                row[own] = -np.inf
            keys = search.score_keys(row, ties)
            ranks = np.full(len(relevant[q]), np.inf)
            at = [j for j, d in enumerate(relevant[q]) if d in index and index[d] != own]
            found = np.array([index[relevant[q][j]] for j in at], dtype=np.int64)
            ranks[at] = 1 + (keys[None, :] > keys[found][:, None]).sum(axis=1)
            out.append(ranks)
    return out


def fused_document_ranks(
    ids: Sequence[np.ndarray],
    scores: Sequence[np.ndarray],
    docs: DocumentMap,
    relevant: Sequence[Sequence[str]],
    query_ids: Sequence[str] | None = None,
) -> list[np.ndarray]:
    """`document_ranks` for a hybrid: each query's candidate chunk rows and fused scores
    (evaluation.fusion.Fused) -> ranks of its relevant documents in `relevant[q]`'s order, a document
    scoring its best candidate chunk (ties: the lower document id first); a document without a candidate
    chunk is outside the fused list: rank inf. `query_ids`: the identical-id rule, as in `document_ranks`."""
    if len(relevant) != len(ids):
        raise ValueError(f"{len(relevant)} relevant lists for {len(ids)} queries")
    index = {doc: i for i, doc in enumerate(docs.ids)}
    owner = np.repeat(np.arange(len(docs.ids)), np.diff(np.append(docs.starts, len(docs.pair_chunks))))
    of_chunk: dict[int, list[int]] = {}
    for doc, row in zip(owner.tolist(), docs.pair_chunks.tolist(), strict=True):
        of_chunk.setdefault(row, []).append(doc)
    out: list[np.ndarray] = []
    for q, (rows, values) in enumerate(zip(ids, scores, strict=True)):
        own = index.get(query_ids[q]) if query_ids is not None else None
        best: dict[int, float] = {}
        for row, value in zip(np.asarray(rows).tolist(), np.asarray(values).tolist(), strict=True):
            for doc in of_chunk.get(row, ()):
                if doc != own and value > best.get(doc, -np.inf):
                    best[doc] = value
        position = {doc: i for i, doc in enumerate(sorted(best, key=lambda d: (-best[d], d)), 1)}
        ranks = [position.get(index[d], np.inf) if d in index else np.inf for d in relevant[q]]
        out.append(np.array(ranks, dtype=np.float64))
    return out
