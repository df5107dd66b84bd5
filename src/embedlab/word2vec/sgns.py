"""Skip-gram with negative sampling (SGNS) in PyTorch, as Mikolov et al. (2013) describe it.

Windows stay inside a sentence, frequent words are subsampled, negatives come from the unigram^0.75
distribution, and everything is seeded, so the same sentences and settings give the same vectors.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embedlab.errors import EmbedlabError

log = logging.getLogger(__name__)


@dataclass
class Vocab:
    """Words by descending count (ties by word), so ids and output order are stable."""

    words: list[str]
    counts: np.ndarray
    index: dict[str, int] = field(repr=False)

    def __len__(self) -> int:
        return len(self.words)


def build_vocab(
    sentences: Iterable[Sequence[str]], min_count: int = 1, max_vocab: int | None = None
) -> Vocab:
    counter = Counter(w for s in sentences for w in s)
    items = sorted(((w, c) for w, c in counter.items() if c >= min_count), key=lambda wc: (-wc[1], wc[0]))
    if max_vocab is not None:
        items = items[:max_vocab]
    words = [w for w, _ in items]
    return Vocab(words, np.array([c for _, c in items], dtype=np.int64), {w: i for i, w in enumerate(words)})


def encode(sentences: Iterable[Sequence[str]], vocab: Vocab) -> list[np.ndarray]:
    """Sentences as id arrays; out-of-vocabulary words are removed first (as word2vec does)."""
    encoded = []
    for s in sentences:
        ids = np.array([vocab.index[w] for w in s if w in vocab.index], dtype=np.int64)
        if len(ids):
            encoded.append(ids)
    return encoded


def keep_probabilities(counts: np.ndarray, threshold: float) -> np.ndarray:
    """Mikolov et al. (2013), eq. 5: a word of frequency f is dropped with p = 1 - sqrt(t / f).

    A threshold t = 0 keeps every word.
    """
    if threshold <= 0:
        return np.ones(len(counts))
    freq = counts / counts.sum()
    return np.minimum(1.0, np.sqrt(threshold / freq))


def subsample_tokens(
    encoded: Sequence[np.ndarray], keep_prob: np.ndarray, rng: np.random.Generator
) -> list[np.ndarray]:
    """Drop frequent words at random (one uniform draw per token, in corpus order: seeded -> reproducible)."""
    if np.all(keep_prob >= 1.0):
        return list(encoded)
    out = []
    for ids in encoded:
        kept = ids[rng.random(len(ids)) < keep_prob[ids]]
        if len(kept):
            out.append(kept)
    return out


def skipgram_pairs(sentences: Sequence[Sequence[int]], window: int) -> np.ndarray:
    """(center, context) id pairs: every word within `window` positions on either side, same sentence only.

    Order: sentence by sentence, center by center, contexts left to right. Shape (n, 2), int64.
    """
    sentences = [np.asarray(s, dtype=np.int64) for s in sentences if len(s)]
    if not sentences:
        return np.zeros((0, 2), dtype=np.int64)
    ids = np.concatenate(sentences)
    sid = np.repeat(np.arange(len(sentences)), [len(s) for s in sentences])
    offsets = np.array([o for o in range(-window, window + 1) if o], dtype=np.int64)
    center = np.arange(len(ids))[:, None]
    ctx = center + offsets[None, :]
    valid = (ctx >= 0) & (ctx < len(ids))
    valid &= sid[np.clip(ctx, 0, len(ids) - 1)] == sid[center]
    rows, cols = np.nonzero(valid)  # row-major: center by center, offsets ascending
    return np.stack([ids[rows], ids[ctx[rows, cols]]], axis=1)


# ------------------------------------------------------------------------------------------------ model
def _model(vocab_size: int, dim: int) -> Any:
    import torch
    from torch import nn

    class SkipGramNS(nn.Module):
        """Two tables as in word2vec.c: input vectors (the embeddings) and output/context vectors."""

        def __init__(self) -> None:
            super().__init__()
            self.center = nn.Embedding(vocab_size, dim, sparse=True)
            self.context = nn.Embedding(vocab_size, dim, sparse=True)
            nn.init.uniform_(self.center.weight, -0.5 / dim, 0.5 / dim)
            nn.init.zeros_(self.context.weight)

        def forward(self, centers: Any, contexts: Any, negatives: Any) -> Any:
            """Loss per pair: -log σ(u_o·v_c) - Σ_k log σ(-u_k·v_c); a negative equal to u_o is skipped."""
            v = self.center(centers)  # (B, D)
            pos = torch.nn.functional.logsigmoid((v * self.context(contexts)).sum(-1))
            neg_scores = torch.bmm(self.context(negatives), v.unsqueeze(2)).squeeze(2)  # (B, K)
            neg = torch.nn.functional.logsigmoid(-neg_scores) * (negatives != contexts.unsqueeze(1))
            return -(pos + neg.sum(-1))

    return SkipGramNS()


@dataclass
class Word2VecModel:
    """What training produces: the vocabulary, its input vectors and the mean loss per pair of each epoch."""

    vocab: Vocab
    vectors: np.ndarray  # (V, D) float32, row i = vocab.words[i]
    losses: list[float]
    pairs_per_epoch: list[int]
    seconds: float

    def vector(self, word: str) -> np.ndarray:
        return self.vectors[self.vocab.index[word]]


def train(
    sentences: Sequence[Sequence[str]],
    *,
    dim: int = 50,
    window: int = 5,
    negatives: int = 5,
    min_count: int = 1,
    max_vocab: int | None = None,
    subsample: float = 1e-3,
    epochs: int = 5,
    batch_size: int = 256,
    lr: float = 0.01,
    seed: int = 42,
    threads: int | None = None,
) -> Word2VecModel:
    """Train SGNS on tokenised sentences. Deterministic for a given seed and thread count.

    Each epoch redraws the subsample (word2vec.c does the same), rebuilds the pairs, shuffles them and draws
    `negatives` noise words per pair from unigram counts ** 0.75. SparseAdam updates only the touched rows.
    """
    import torch

    t0 = time.perf_counter()
    vocab = build_vocab(sentences, min_count=min_count, max_vocab=max_vocab)
    if len(vocab) < 2:
        raise EmbedlabError(
            f"word2vec: only {len(vocab)} word(s) occur at least min_count={min_count} times; "
            "give more text or lower min_count"
        )
    encoded = encode(sentences, vocab)
    keep = keep_probabilities(vocab.counts, subsample)
    noise = torch.tensor(vocab.counts.astype(np.float64) ** 0.75)
    noise /= noise.sum()
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        with torch.random.fork_rng(devices=[]):  # seed init without disturbing the caller's global RNG
            torch.manual_seed(seed)
            model = _model(len(vocab), dim)
        gen = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.SparseAdam(list(model.parameters()), lr=lr)
        losses, n_pairs = [], []
        for epoch in range(epochs):
            rng = np.random.default_rng([seed, epoch])
            pairs = torch.from_numpy(skipgram_pairs(subsample_tokens(encoded, keep, rng), window))
            if len(pairs) == 0:
                raise EmbedlabError(
                    "word2vec: no skip-gram pairs (every sentence has one known word); "
                    "give more text, lower min_count or subsample"
                )
            pairs = pairs[torch.randperm(len(pairs), generator=gen)]
            total = 0.0
            for start in range(0, len(pairs), batch_size):
                batch = pairs[start : start + batch_size]
                neg = torch.multinomial(noise, len(batch) * negatives, replacement=True, generator=gen)
                loss = model(batch[:, 0], batch[:, 1], neg.view(len(batch), negatives))
                optimizer.zero_grad()
                loss.sum().div(len(batch)).backward()
                optimizer.step()
                total += float(loss.detach().sum())
            losses.append(total / len(pairs))
            n_pairs.append(len(pairs))
            if (epoch + 1) % max(1, epochs // 10) == 0 or epoch + 1 == epochs:
                log.info(
                    "word2vec epoch %d/%d: mean loss %.4f over %d pairs",
                    epoch + 1,
                    epochs,
                    losses[-1],
                    len(pairs),
                )
    finally:
        torch.set_num_threads(old_threads)
    vectors = model.center.weight.detach().numpy().astype(np.float32).copy()
    return Word2VecModel(vocab, vectors, losses, n_pairs, time.perf_counter() - t0)


# -------------------------------------------------------------------------------------------- neighbours
def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def cosine(model: Word2VecModel, a: str, b: str) -> float:
    va, vb = model.vector(a), model.vector(b)
    return float(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb) or 1.0))


def nearest_neighbours(model: Word2VecModel, word: str, k: int = 8) -> list[tuple[str, float]]:
    """The k words of highest cosine similarity to `word` (itself excluded; ties by frequency rank)."""
    if word not in model.vocab.index:
        raise EmbedlabError(f"word2vec: {word!r} is not in the vocabulary (check the tokenizer or min_count)")
    unit = _unit(model.vectors.astype(np.float64))
    i = model.vocab.index[word]
    sims = unit @ unit[i]
    sims[i] = -np.inf
    order = np.lexsort((np.arange(len(sims)), -sims))[:k]
    return [(model.vocab.words[j], float(sims[j])) for j in order]
