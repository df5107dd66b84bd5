"""Embedding cache: re-evaluating after adding a model or a query set encodes only texts never seen before.

One SQLite file per model identity, `{root}/{model}/{fingerprint[:16]}.sqlite`, rows keyed by
sha256(role, text) holding float32 bytes. The fingerprint (encoders.Encoder.fingerprint) covers the settings
that shape the vectors and the weights' file stats, so retraining a model or changing its prefixes starts a
new file instead of serving stale vectors. Vectors are committed batch by batch: an API error or a kill
mid-run keeps what was already paid for, and the rerun continues from there. SQLite's WAL mode lets jobs of
the same model on different corpora share a file.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embedlab.models.encoders import Encoder, load_encoder
from embedlab.models.spec import ModelSpec
from embedlab.settings import evaluation_default

log = logging.getLogger(__name__)

ROLE_METHODS = {"query": "encode_queries", "passage": "encode_corpus"}


def text_key(role: str, text: str) -> str:
    return hashlib.sha256(f"{role}\x00{text}".encode()).hexdigest()[:32]


class EmbeddingCache:
    def __init__(self, root: str | Path, model: str, fingerprint: str) -> None:
        self.path = Path(root) / model / f"{fingerprint[:16]}.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=120)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS vec (key TEXT PRIMARY KEY, dim INTEGER, data BLOB)")
        self.db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT)")
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('fingerprint', ?)", (fingerprint,))
        self.db.commit()

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        keys = list(dict.fromkeys(keys))
        for start in range(0, len(keys), 900):  # SQLite's bound-parameter limit
            part = keys[start : start + 900]
            marks = ",".join("?" * len(part))
            for key, dim, data in self.db.execute(
                f"SELECT key, dim, data FROM vec WHERE key IN ({marks})", part
            ):
                found[key] = np.frombuffer(data, dtype=np.float32, count=dim)
        return found

    def put_many(self, items: Sequence[tuple[str, np.ndarray]]) -> None:
        rows = [(k, int(v.shape[0]), np.ascontiguousarray(v, dtype=np.float32).tobytes()) for k, v in items]
        self.db.executemany("INSERT OR REPLACE INTO vec VALUES (?, ?, ?)", rows)
        self.db.commit()

    def __len__(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM vec").fetchone()[0])

    def close(self) -> None:
        self.db.close()


class CachedEncoder:
    """Wraps an Encoder: the same `encode_queries` / `encode_corpus`, answered from the cache where it can.

    Lexical encoders (BM25) depend on the whole corpus and are fast: they pass straight through.
    `stats` counts texts served from cache and texts encoded, and the seconds spent encoding.
    """

    def __init__(self, encoder: Encoder, cache: EmbeddingCache | None, commit_every: int = 1024) -> None:
        self.encoder = encoder
        self.cache = None if encoder.lexical else cache
        self.commit_every = commit_every
        self.stats = {"encoded": 0, "cached": 0, "encode_seconds": 0.0}

    @property
    def spec(self) -> Any:
        return self.encoder.spec

    @property
    def name(self) -> str:
        return self.encoder.name

    def encode_queries(self, texts: Sequence[str]) -> Any:
        return self._encode(list(texts), "query")

    def encode_corpus(self, texts: Sequence[str]) -> Any:
        return self._encode(list(texts), "passage")

    def _encode(self, texts: list[str], role: str) -> Any:
        method = getattr(self.encoder, ROLE_METHODS[role])
        started = time.perf_counter()
        if self.cache is None:
            out = method(texts)
            self.stats["encoded"] += len(texts)
            self.stats["encode_seconds"] += time.perf_counter() - started
            return out
        keys = [text_key(role, t) for t in texts]
        have = self.cache.get_many(keys)
        first_missing: dict[str, int] = {}  # a text repeated in the input is encoded once
        for i, k in enumerate(keys):
            if k not in have:
                first_missing.setdefault(k, i)
        todo = list(first_missing.values())
        self.stats["cached"] += len(texts) - len(todo)
        for start in range(0, len(todo), self.commit_every):
            part = todo[start : start + self.commit_every]
            vecs = method([texts[i] for i in part])
            self.cache.put_many([(keys[i], v) for i, v in zip(part, vecs, strict=True)])
            have.update({keys[i]: v for i, v in zip(part, vecs, strict=True)})
            self.stats["encoded"] += len(part)
            if len(todo) > self.commit_every:
                log.info(
                    "%s: encoded %d/%d new %s texts", self.encoder.name, start + len(part), len(todo), role
                )
        self.stats["encode_seconds"] += time.perf_counter() - started
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([have[k] for k in keys]).astype(np.float32, copy=False)

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
        self.encoder.close()


def open_encoder(
    spec: ModelSpec, device: str, cache_dir: str | Path | None, block: int = evaluation_default("shard_block")
) -> CachedEncoder:
    """The spec's encoder behind the embedding cache (none for lexical models or without `cache_dir`): how
    evaluation, shards and the reranker's miner open a model."""
    encoder = load_encoder(spec, device)
    cache = (
        None
        if (cache_dir is None or encoder.lexical)
        else EmbeddingCache(cache_dir, spec.name, encoder.fingerprint())
    )
    # API models: commit every request's vectors, so an error mid-run loses nothing that was paid for; local
    # models: one commit per encoding block (evaluation.encoding.encode_rows), so a block missing from the
    # cache is one model call
    commit_every = spec.batch_size if spec.kind in ("openai", "openai-compatible") else block
    return CachedEncoder(encoder, cache, commit_every=commit_every)
