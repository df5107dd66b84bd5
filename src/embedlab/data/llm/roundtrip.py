"""Round-trip consistency: keep a generated question only when a reference retriever, searching every chunk
of the corpus/language, ranks one of its positives within the top k.

Why: a question that its own chunk does not answer better than nearly all other chunks is generic ("What is
the purpose of this Regulation?"), hallucinated, or about text many chunks share; its single label is then
wrong or incomplete, and a model that finds a better chunk is scored as a miss. The filter runs inside the
generator, before the split, so train and val are filtered alike and no val information reaches training
(round-trip consistency: Alberti et al. 2019; Promptagator, Dai et al. 2022).

The price is selection bias: the kept questions are the ones the reference retriever finds, so they favour
it and models like it (BM25 keeps questions that reuse the chunk's words). Hence off by default, a loose
top_k, and the retriever named in the generator's report.

Ranks are pessimistic about ties: a positive ranks behind every non-positive chunk scoring at least as high,
so a question without a single word the retriever knows (every score 0) is never kept by luck of chunk ids.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from embedlab.errors import EmbedlabError
from embedlab.models.encoders import Encoder, load_encoder, needs_gpu
from embedlab.models.spec import ModelSpec, registry_spec

log = logging.getLogger(__name__)

KEY = "generators.llm.round_trip"


def resolve_retriever(name: str, models: dict[str, Any]) -> ModelSpec:
    """`name` as evaluation resolves it among the `models` entries; `bm25` without an entry is plain BM25.

    Fine-tuned models are not allowed: they are trained on these very queries (a dependency cycle).
    """
    if name not in models and name == "bm25":
        return ModelSpec(name="bm25", kind="bm25")
    try:
        return registry_spec(models, name)
    except EmbedlabError:
        known = ", ".join(sorted({"bm25", *models}))
        raise EmbedlabError(
            f"config error at {KEY}.retriever: unknown model {name!r}; use one of {known} (a `models` "
            "entry, not a fine-tune: those are trained on these queries)"
        ) from None


def retriever_needs_gpu(spec: ModelSpec | None) -> bool:
    """Whether the filter computes a neural model here (the rule then takes a GPU slot)."""
    return spec is not None and needs_gpu(spec)


def pessimistic_ranks(q: Any, d: Any, positives: Sequence[Sequence[int]], block: int = 256) -> np.ndarray:
    """1-based rank of each query's best positive among all chunks by dot product, counting every
    non-positive chunk that scores at least as high as ahead of it."""
    out = np.empty(len(positives), dtype=np.float64)
    for start in range(0, q.shape[0], block):
        scores = q[start : start + block] @ d.T
        scores = np.asarray(scores.toarray() if hasattr(scores, "toarray") else scores, dtype=np.float32)
        for i, row in enumerate(scores):
            pos = np.asarray(positives[start + i], dtype=np.int64)
            best = row[pos].max()
            out[start + i] = 1 + int((row >= best).sum()) - int((row[pos] >= best).sum())
    return out


@dataclass
class RoundTripResult:
    """Which questions passed, and the rank of every question's best positive (for reports and tests)."""

    kept: list[int]
    missed: list[int]
    ranks: np.ndarray


def round_trip(
    encoder: Encoder,
    questions: Sequence[str],
    positives: Sequence[Sequence[str]],
    chunks: Sequence[dict],
    top_k: int,
) -> RoundTripResult:
    """Rank every chunk for every question with `encoder`; keep a question when a positive is in the top_k."""
    index = {c["id"]: i for i, c in enumerate(chunks)}
    rel = [[index[cid] for cid in ids] for ids in positives]
    if not questions:
        return RoundTripResult([], [], np.zeros(0))
    d = encoder.encode_corpus([c["text"] for c in chunks])  # first: BM25 builds its vocabulary here
    q = encoder.encode_queries(list(questions))
    ranks = pessimistic_ranks(q, d, rel)
    kept = [i for i, r in enumerate(ranks) if r <= top_k]
    missed = [i for i, r in enumerate(ranks) if r > top_k]
    return RoundTripResult(kept, missed, ranks)


def open_retriever(spec: ModelSpec, device: str = "auto") -> Encoder:
    """The reference retriever's encoder (no embedding cache: a few hundred chunks, encoded once)."""
    return load_encoder(spec, device)


def filter_questions(
    questions: Sequence[str],
    positives: Sequence[Sequence[str]],
    chunks: Sequence[dict],
    settings: dict[str, Any],
    retriever_spec: ModelSpec | None,
) -> tuple[RoundTripResult, dict[str, Any]]:
    """The filter as the llm generator runs it (`settings`: its `round_trip` section, enabled), and what its
    report says about it. `retriever_spec`: the retriever resolved in the config's models (None: plain BM25
    for `bm25`)."""
    spec = retriever_spec or resolve_retriever(settings["retriever"], {})
    encoder = open_retriever(spec)
    try:
        res = round_trip(encoder, questions, positives, chunks, settings["top_k"])
    finally:
        encoder.close()
    log.info(
        "round trip (%s, top %d of %d chunks): kept %d of %d questions",
        spec.name,
        settings["top_k"],
        len(chunks),
        len(res.kept),
        len(questions),
    )
    report = {
        "enabled": True,
        "retriever": spec.name,
        "kind": spec.kind,
        "source": spec.source,
        "top_k": settings["top_k"],
        "checked": len(questions),
        "kept": len(res.kept),
        "missed": len(res.missed),
    }
    return res, report
