"""The query set one evaluation run scores: queries, chunks and positives as index lists (QASet).

Every evaluator (plain, hybrid, rerank, compression, cross-lingual, the crosscheck, MTEB's custom task) reads
a val split into the same QASet, so they skip the same queries and resample the same groups; its own module
because the encoding, ranking and result-writing modules all take one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embedlab import io
from embedlab.errors import EmbedlabError
from embedlab.evaluation.documents import DocumentMap, chunk_documents, document_map

log = logging.getLogger(__name__)


@dataclass
class QASet:
    """Queries, chunks and positives as index lists: what one evaluation run needs."""

    query_ids: list[str]
    queries: list[str]
    corpus_ids: list[str]
    corpus: list[str]
    relevant: list[list[int]]
    skipped: dict[str, int] = field(default_factory=dict)
    source: str = ""
    groups: list[str] | None = None  # each query's chunk group: the unit the bootstrap resamples
    # Labels naming whole documents (a BEIR folder's qrels, real.json `documents`): each query's relevant
    # documents; documents are then ranked by their best chunk, so the metrics are per document.
    documents: list[list[str]] | None = None
    ignore_identical_ids: bool = False  # MTEB's rule: a query's own document leaves its ranking
    # Graded labels (real.json `grades`): each query's grades aligned with its `documents`, the gains nDCG
    # uses (metrics.per_query); None: every relevant item has gain 1 (chunk labels, binary qrels).
    gains: list[list[float]] | None = None
    doc_map: DocumentMap | None = None  # the documents of the corpus rows (`with_documents`)

    def with_groups(self, chunk_group: dict[str, str]) -> QASet:
        """Each query's group is its first positive's chunk group (the split's unit, so all its positives
        lie on the val side together); queries of one group are resampled together."""
        self.groups = [chunk_group[self.corpus_ids[rel[0]]] for rel in self.relevant]
        return self

    def with_documents(self, chunks_path: str | Path) -> QASet:
        """For a set labelled with documents, which documents each corpus row holds, from the chunk file
        (`source`, every location of a collapsed chunk); a set labelled with chunks is left as it is."""
        if self.documents is None:
            return self
        chunks = io.read_json(chunks_path)["chunks"]
        of_chunk = dict(zip((c["id"] for c in chunks), chunk_documents(chunks), strict=True))
        missing = [cid for cid in self.corpus_ids if cid not in of_chunk]
        if missing:
            raise EmbedlabError(
                f"{self.source}: chunk {missing[0]} is not in {chunks_path}: rerun map_questions"
            )
        self.doc_map = document_map([of_chunk[cid] for cid in self.corpus_ids])
        return self

    @property
    def unit(self) -> str:
        """What is ranked and counted: `documents` for document labels, else `chunks`."""
        return "chunks" if self.documents is None else "documents"

    @property
    def n_relevant(self) -> list[int]:
        """Relevant units per query: documents for document labels, else chunks."""
        return [len(r) for r in (self.relevant if self.documents is None else self.documents)]


def qa_from_dataset(data: dict[str, Any], source: str = "") -> QASet:
    """EmbeddingQAFinetuneDataset JSON -> QASet; queries without positives are skipped and counted."""
    corpus_ids = list(data.get("corpus", {}))
    if not corpus_ids:
        raise EmbedlabError(f"{source}: the corpus is empty: rerun the split rule (val corpus = every chunk)")
    index = {cid: i for i, cid in enumerate(corpus_ids)}
    qids, texts, relevant = [], [], []
    skipped = {"no_relevant": 0, "empty_text": 0}
    rel_docs = data.get("relevant_docs", {})
    labelled = data.get("documents")
    for qid, text in data.get("queries", {}).items():
        positives = rel_docs.get(qid) or []
        if not positives:
            skipped["no_relevant"] += 1
            continue
        if not str(text).strip():
            skipped["empty_text"] += 1
            continue
        missing = [p for p in positives if p not in index]
        if missing:
            raise EmbedlabError(
                f"{source}: query {qid} points at chunk {missing[0]} that is not in the corpus: rerun split"
            )
        qids.append(qid)
        texts.append(text)
        relevant.append(sorted({index[p] for p in positives}))
    if not qids:
        raise EmbedlabError(
            f"{source}: no query with relevant chunks to evaluate (skipped {skipped}): "
            "the val split is empty; "
            "lower split.val_fraction's granularity or generate more queries"
        )
    for k, v in skipped.items():
        if v:
            log.warning("%s: skipped %d queries (%s)", source, v, k)
    documents = None
    if labelled is not None:
        unlabelled = [qid for qid in qids if not labelled.get(qid)]
        if unlabelled:
            raise EmbedlabError(f"{source}: query {unlabelled[0]} has no documents: rerun map_questions")
        documents = [list(dict.fromkeys(labelled[qid])) for qid in qids]
    return QASet(
        qids, texts, corpus_ids, [data["corpus"][c] for c in corpus_ids], relevant, skipped, source,
        documents=documents, ignore_identical_ids=bool(data.get("ignore_identical_ids", False)),
        gains=_gains(data.get("grades"), qids, documents, source),
    )  # fmt: skip


def _gains(
    grades: dict[str, dict[str, float]] | None,
    qids: list[str],
    documents: list[list[str]] | None,
    source: str,
) -> list[list[float]] | None:
    """Each query's gains aligned with its documents, from real.json `grades` (a document it leaves out has
    grade 1); None without grades. A listed document is relevant, so its grade must be positive."""
    if grades is None:
        return None
    if documents is None:
        raise EmbedlabError(
            f"{source}: `grades` grade documents, but it has no `documents`: rerun map_questions"
        )
    gains = [
        [float(grades.get(q, {}).get(d, 1)) for d in docs] for q, docs in zip(qids, documents, strict=True)
    ]
    for q, g in zip(qids, gains, strict=True):
        if min(g) <= 0:
            raise EmbedlabError(
                f"{source}: query {q} has a document graded {min(g):g}: "
                "list only relevant documents (grade > 0)"
            )
    return gains


def load_qa(path: str | Path) -> QASet:
    return qa_from_dataset(io.read_json(path), str(path))


def chunk_groups(chunks_path: str | Path) -> dict[str, str]:
    """Chunk id -> its group, from a chunk file (results/chunks/{corpus}/{lang}.json)."""
    return {c["id"]: c["group"] for c in io.read_json(chunks_path)["chunks"]}
