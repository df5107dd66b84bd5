"""Rerankers: a sentence-transformers `CrossEncoder` that scores (query, chunk) pairs jointly.

A reranker reads each candidate together with the query, so it is slower than a bi-encoder but sees word
interactions a single vector cannot hold; it is used on a retriever's top-k only
(embedlab.evaluation.rerank). Sources are resolved like the embedding models' (HF id, local dir, `pkg:`),
so the packaged MiniLM and fine-tuned rerankers under results/ load offline. A bi-encoder folder (like the
packaged MiniLM) loads too: sentence-transformers converts it to a one-label cross-encoder with a new,
untrained classification head (only useful as a starting point for fine-tuning).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embedlab.errors import EmbedlabError
from embedlab.models.base import free_cuda, path_fingerprint
from embedlab.models.sources import resolve_model_source
from embedlab.models.spec import pick_device

log = logging.getLogger(__name__)


def load_cross_encoder(
    source: str, device: str, *, name: str, max_length: int | None = None, num_labels: int | None = None
) -> Any:
    """A `CrossEncoder` from `source`; local dirs and `pkg:` sources never touch the network.

    `num_labels=1` turns a bi-encoder folder into a cross-encoder with a fresh scoring head (fine-tuning).
    """
    from sentence_transformers import CrossEncoder

    path = resolve_model_source(source)
    local = Path(path).is_dir()
    try:
        model = CrossEncoder(
            path,
            device=pick_device(device),
            local_files_only=local,
            num_labels=num_labels,
            max_length=max_length,
        )
    except (OSError, ValueError) as exc:  # hub errors span lines: keep the one-line contract
        raise EmbedlabError(
            f"reranker {name}: cannot load {source!r} ({' '.join(str(exc).split())}); "
            "offline, use a local dir or a pkg: source"
        ) from exc
    if model.num_labels != 1:
        raise EmbedlabError(
            f"reranker {name}: {source!r} has {model.num_labels} output labels; a reranker needs one score "
            "per pair (a cross-encoder trained for reranking, or a model to fine-tune with num_labels=1)"
        )
    model.model_card_data.model_name = name
    return model


class Reranker:
    """Scores candidates of a query with a cross-encoder; `rerank_many` batches pairs across queries."""

    def __init__(
        self, source: str, *, name: str, device: str, batch_size: int, max_length: int | None = None
    ) -> None:
        self.source = source
        self.name = name
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = pick_device(device)
        self.model = load_cross_encoder(source, self.device, name=name, max_length=max_length)
        self.pairs_scored = 0  # tests count these to prove k=1 skips the model

    def rerank(self, query: str, candidates: Sequence[str]) -> np.ndarray:
        """One score per candidate (raw logits: higher is more relevant; the order is what matters)."""
        return self.rerank_many([query], [candidates])[0]

    def rerank_many(self, queries: Sequence[str], candidates: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Scores of every query's candidates, all pairs scored together (`score_pairs`). Queries with fewer
        than two candidates need no model call (one candidate has no order to change)."""
        if len(queries) != len(candidates):
            raise ValueError(f"{len(queries)} queries but {len(candidates)} candidate lists")
        pairs: list[tuple[str, str]] = []
        spans: list[tuple[int, int]] = []
        for query, cands in zip(queries, candidates, strict=True):
            start = len(pairs)
            if len(cands) > 1:
                pairs.extend((query, c) for c in cands)
            spans.append((start, len(pairs)))
        scores = self.score_pairs(pairs)
        return [
            scores[a:b] if b > a else np.zeros(len(c), dtype=np.float32)
            for (a, b), c in zip(spans, candidates, strict=True)
        ]

    def score_pairs(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Raw logits of (query, text) pairs, in batches of `batch_size`, longest first so a batch pads
        little (every pair is scored, even a query's only one: the hard-negative oracle needs them)."""
        scores = np.zeros(len(pairs), dtype=np.float32)
        if pairs:
            order = np.argsort([-(len(q) + len(d)) for q, d in pairs], kind="stable")
            out = self.model.predict(
                [pairs[i] for i in order],
                batch_size=self.batch_size,
                activation_fn=_identity(),
                show_progress_bar=False,
                convert_to_numpy=True,
            )
            scores[order] = np.asarray(out, dtype=np.float32).reshape(-1)
            self.pairs_scored += len(pairs)
        return scores

    def fingerprint(self) -> str:
        """Hash of what determines the scores: the weights' identity and the max length."""
        path = Path(resolve_model_source(self.source))
        weights = path_fingerprint(path) if path.exists() else self.source  # a hub id: its name
        ident = {"source": self.source, "weights": weights, "max_length": self.max_length}
        return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()

    def close(self) -> None:
        del self.model
        free_cuda()


def _identity() -> Any:
    """Raw logits: a sigmoid would squash large logits to equal 1.0 in float32 and create false ties."""
    import torch

    return torch.nn.Identity()
