"""Semantic dedup of LLM questions across chunks: an embedding model's cosine catches the paraphrases that the
lexical pass (cleaning.QuestionIndex: same or nearly the same characters) lets through ("Who must register a
high-risk system?" / "Which providers have to enter their high-risk AI system in the EU database?").

The rule: questions in document order; a question whose cosine with an earlier kept question *of another
chunk* is at least `threshold` is dropped, the earlier chunk keeping its own (as the lexical pass does).
Questions of one chunk never drop each other: two paraphrases with the same positive do no harm to the split
or to in-batch negatives.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from embedlab.models.encoders import load_encoder
from embedlab.models.spec import ModelSpec

log = logging.getLogger(__name__)


def semantic_duplicates(
    texts: Sequence[str], chunk_ids: Sequence[str], spec: ModelSpec, threshold: float, device: str = "auto"
) -> list[int]:
    """Indices of the questions to drop (see the module docstring); texts are encoded as queries."""
    if not texts:
        return []
    encoder = load_encoder(spec, device)
    vectors = np.asarray(encoder.encode_queries(list(texts)), dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.where(norms == 0, 1.0, norms)
    kept: list[int] = []
    dropped: list[int] = []
    for i, vector in enumerate(vectors):
        others = [k for k in kept if chunk_ids[k] != chunk_ids[i]]
        if others and float((vectors[others] @ vector).max()) >= threshold:
            dropped.append(i)
        else:
            kept.append(i)
    log.info("semantic dedup (%s, cosine >= %s): %d of %d questions dropped", spec.name, threshold,
             len(dropped), len(texts))  # fmt: skip
    return dropped
