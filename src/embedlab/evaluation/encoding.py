"""The one encoding path every evaluator uses: a query set's vectors from a model behind the embedding cache
(`models.embcache.open_encoder`).

`encode_rows` encodes chunks in calls of `shard_block` texts starting at block multiples, so each chunk's
vector comes from the same batch whether the corpus is encoded here in one job or by rule encode_shard in
shards (a model's output depends in its last bits on what else is in the batch; evaluation.shards).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from embedlab.evaluation import search
from embedlab.evaluation.qaset import QASet
from embedlab.models.embcache import CachedEncoder
from embedlab.models.encoders import Encoder, zero_rows
from embedlab.settings import evaluation_default, schema_default

log = logging.getLogger(__name__)

CACHE_DIR: str = schema_default("evaluation", "cache", "dir")  # where the rules cache embeddings


@dataclass
class Encoded:
    """A query set's chunk and query vectors, and what producing them cost (columns of the summary row)."""

    corpus: Any
    queries: Any
    seconds: float
    encoded: int  # texts the model computed
    cached: int  # texts the embedding cache served
    zero_vectors: int
    shards: list[search.Shard] | None = None  # a sharded run's corpus (encode_shard's files); corpus None

    @property
    def dim(self) -> int | None:
        rows = self.corpus if self.corpus is not None else self.queries
        return int(rows.shape[1]) if rows.ndim == 2 else None


def encode_rows(encoder: Encoder | CachedEncoder, texts: Sequence[str], block: int) -> Any:
    """Chunk texts (the first at a multiple of `block` in its corpus) in calls of `block` texts: each
    chunk's vector then comes from the same batch whether the corpus is encoded in one job or in shards.
    Blocks are written into one array as they come, so peak memory is the vectors plus one block (collecting
    the blocks and concatenating them held the vectors twice)."""
    out = None
    for i in range(0, len(texts), block):
        part = encoder.encode_corpus(texts[i : i + block])
        if out is None:
            out = np.empty((len(texts), *part.shape[1:]), dtype=part.dtype)
        out[i : i + len(part)] = part
    return out if out is not None else encoder.encode_corpus([])


def counted(encoder: Any, before: dict[str, Any], n_texts: int) -> tuple[int, int]:
    """(texts encoded, texts served by the cache) since `before` (the encoder's stats then)."""
    stats = getattr(encoder, "stats", None)
    if not stats:
        return n_texts, 0
    return stats["encoded"] - before.get("encoded", 0), stats["cached"] - before.get("cached", 0)


def warn_zeros(encoder: Any, zeros: int) -> None:
    """Zero vectors score 0 against everything: say how many, so a silent metric drop has a reason."""
    if zeros:
        log.warning(
            "%s: %d zero vectors (empty or unknown-token texts): they score 0 against everything",
            encoder.spec.name,
            zeros,
        )


def encode_qa(
    encoder: Encoder | CachedEncoder, qa: QASet, block: int = evaluation_default("shard_block")
) -> Encoded:
    """Chunks then queries (a lexical model indexes the whole corpus first; dense chunks go in `encode_rows`
    blocks), through the cache when there is one; every evaluator (plain, hybrid member, rerank retriever,
    compression) encodes through here."""
    t0 = time.perf_counter()
    before = dict(getattr(encoder, "stats", {}))
    lexical = getattr(getattr(encoder, "encoder", encoder), "lexical", False)
    d = encoder.encode_corpus(qa.corpus) if lexical else encode_rows(encoder, qa.corpus, block)
    q = encoder.encode_queries(qa.queries)
    seconds = time.perf_counter() - t0
    zeros = zero_rows(q) + zero_rows(d)
    warn_zeros(encoder, zeros)
    encoded, cached = counted(encoder, before, len(qa.corpus) + len(qa.queries))
    return Encoded(d, q, seconds, encoded, cached, zeros)
