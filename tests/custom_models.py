"""Small user classes for the `custom` model kind (imported by class_path in the tests)."""

from __future__ import annotations

import hashlib

import numpy as np


class HashingEncoder:
    """A toy bag-of-character-trigrams model with separate query/corpus methods (the tutorial's pattern)."""

    dim = 64
    instances = 0

    def __init__(self, dim: int = 64, query_marker: float = 0.0) -> None:
        self.dim = dim
        self.query_marker = query_marker
        self.seen: list[str] = []
        HashingEncoder.instances += 1

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        t = text.lower()
        for i in range(max(len(t) - 2, 1)):
            h = int(hashlib.md5(t[i : i + 3].encode()).hexdigest()[:8], 16)
            v[h % self.dim] += 1.0
        return v

    def encode_queries(self, queries, batch_size=32, **kwargs):
        self.seen.extend(queries)
        return [self._vec(q) + self.query_marker for q in queries]

    def encode_corpus(self, corpus, batch_size=32, **kwargs):
        self.seen.extend(corpus)
        return np.stack([self._vec(c) for c in corpus])


class EncodeOnly:
    """Only `encode`, without a batch_size parameter."""

    def encode(self, texts):
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)


class RandomEncoder:
    """Seeded random vectors: the 'random ranking' baseline."""

    def __init__(self, seed: int = 0, dim: int = 32) -> None:
        self.rng = np.random.default_rng(seed)
        self.dim = dim

    def encode(self, texts, batch_size=32):
        return self.rng.normal(size=(len(texts), self.dim)).astype(np.float32)


class NaNEncoder:
    def encode(self, texts):
        out = np.ones((len(texts), 4), dtype=np.float32)
        out[0, 0] = np.nan
        return out
