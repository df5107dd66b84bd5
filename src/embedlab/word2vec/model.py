"""Word2vec primer: skip-gram with negative sampling (SGNS) in PyTorch, small enough to read and CPU-fast.

Why it is here: the tutorial starts from word2vec to show what an embedding is. Its code joins all toy
sentences into one stream (windows cross sentences), gets the right-hand context indices wrong and trains
a full softmax over one-hot inputs. This module keeps the idea (the toy sentences in 2-D) and does it the
way Mikolov et al. (2013) describe it: windows inside a sentence, frequent-word subsampling, negatives from
the unigram^0.75 distribution; seeded throughout, so the same inputs and settings give the same bytes.

Outputs of `run_word2vec` (each written atomically): `vectors.tsv`, `loss.csv`, `neighbours.json`,
`scatter.png` (2-D: the vectors themselves; higher: PCA or t-SNE) and `loss.png`.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embedlab import io
from embedlab.errors import EmbedlabError
from embedlab.text import CJK_CHAR, CJK_CLASS

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

log = logging.getLogger(__name__)

FORMAT = "embedlab.word2vec.model/1"
OUTPUT_FILES = ("vectors.tsv", "loss.csv", "neighbours.json", "scatter.png", "loss.png")
TOKENIZERS = ("words", "jieba", "chars")
PROJECTIONS = ("pca", "tsne")

# The tutorial's toy sentences (its PDF wraps two of them mid-sentence; these are the sentences it means).
TOY_SENTENCES: tuple[str, ...] = (
    "longge like dog",
    "longge like cat",
    "longge like animal",
    "dog cat animal",
    "banana apple cat dog like",
    "dog fish milk like",
    "dog cat animal like",
    "longge like apple",
    "apple like",
    "longge like banana",
    "apple banana longge movie book music like",
    "cat dog hate",
    "cat dog like",
)

# Mirrors the `word2vec.runs.*` schema defaults, so a direct Python call behaves like the pipeline.
DEFAULTS: dict[str, Any] = {
    "corpus": None,
    "chunks": None,
    "tokenizer": "words",
    "dim": 50,
    "window": 5,
    "negatives": 5,
    "min_count": 2,
    "max_vocab": None,
    "subsample": 1e-3,
    "epochs": 5,
    "batch_size": 256,
    "lr": 0.01,
    "seed": 42,
    "neighbours_of": [],
    "n_neighbours": 8,
    "projection": "pca",
    "plot_words": 150,
    "label_words": 50,
    "font": None,
}

_WORD = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")
_CHAR_TOKEN = re.compile(f"(?=[{CJK_CLASS}])[^\\W_]|(?:(?![{CJK_CLASS}])[^\\W_])+")  # CJK letters one by one
# Sentence ends (windows never cross them): line breaks, CJK and Latin end punctuation.
_SENTENCE_END = re.compile(r"[\n\r]+|[。！？；]+|[.!?;]+(?=\s|$)")
_FILE_SUFFIXES = (".json", ".txt", ".md", ".markdown")


# --------------------------------------------------------------------------------------------- settings
def resolve_settings(settings: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults filled and values checked: a direct call fails with the same one-line errors as the config."""
    settings = dict(settings or {})
    unknown = sorted(set(settings) - set(DEFAULTS))
    if unknown:
        raise EmbedlabError(
            f"word2vec settings: unknown key {', '.join(map(repr, unknown))} (allowed: {', '.join(DEFAULTS)})"
        )
    s = {**DEFAULTS, **{k: v for k, v in settings.items() if v is not None or k in ("corpus", "chunks")}}
    if s["tokenizer"] not in TOKENIZERS:
        raise EmbedlabError(
            f"word2vec tokenizer {s['tokenizer']!r} is not allowed (allowed: {', '.join(TOKENIZERS)})"
        )
    if s["projection"] not in PROJECTIONS:
        raise EmbedlabError(
            f"word2vec projection {s['projection']!r} is not allowed (allowed: {', '.join(PROJECTIONS)})"
        )
    for key, low in (
        ("dim", 2),
        ("window", 1),
        ("negatives", 1),
        ("min_count", 1),
        ("epochs", 1),
        ("batch_size", 1),
        ("n_neighbours", 1),
        ("plot_words", 2),
        ("label_words", 0),
    ):
        if not isinstance(s[key], int) or isinstance(s[key], bool) or s[key] < low:
            raise EmbedlabError(f"word2vec {key}: {s[key]!r} must be an integer >= {low}")
    if s["max_vocab"] is not None and (not isinstance(s["max_vocab"], int) or s["max_vocab"] < 2):
        raise EmbedlabError(f"word2vec max_vocab: {s['max_vocab']!r} must be null or an integer >= 2")
    if not 0 <= float(s["subsample"]) < 1:
        raise EmbedlabError(f"word2vec subsample: {s['subsample']!r} must be in [0, 1) (0 turns it off)")
    if not float(s["lr"]) > 0:
        raise EmbedlabError(f"word2vec lr: {s['lr']!r} must be > 0")
    if s["corpus"] not in (None, "toy"):
        raise EmbedlabError(
            f"word2vec corpus: {s['corpus']!r} is not a preset (allowed: toy; use chunks: corpus/lang)"
        )
    s["neighbours_of"] = [str(w) for w in s["neighbours_of"]]
    return s


# ------------------------------------------------------------------------------------------ tokenising
def split_sentences(text: str) -> list[str]:
    """Sentences (non-empty, stripped): skip-gram windows must not reach across a sentence end."""
    return [p.strip() for p in _SENTENCE_END.split(text) if p.strip()]


@cache
def _jieba() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)  # its "Building prefix dict" lines would flood every rule log
    return jieba


def tokenize(text: str, tokenizer: str = "words") -> list[str]:
    """Tokens of one sentence, lowercased, punctuation dropped.

    `words`: runs of letters/digits (with inner apostrophes or hyphens), for Latin scripts; `jieba`: jieba's
    default (HMM) segmentation, for Chinese; `chars`: one token per CJK character, Latin runs kept whole.
    """
    if tokenizer == "words":
        return [t.lower() for t in _WORD.findall(text)]
    if tokenizer == "chars":
        return [t.lower() for t in _CHAR_TOKEN.findall(text)]
    if tokenizer == "jieba":
        return [t.strip().lower() for t in _jieba().lcut(text) if _WORD.search(t)]
    raise EmbedlabError(f"word2vec tokenizer {tokenizer!r} is not allowed (allowed: {', '.join(TOKENIZERS)})")


def cjk_fraction(texts: Iterable[str], limit: int = 200_000) -> float:
    """Share of CJK characters among letters (first `limit` characters): catches `words` on Chinese text."""
    letters = cjk = 0
    for text in texts:
        for ch in text:
            if ch.isalpha():
                letters += 1
                cjk += bool(CJK_CHAR.match(ch))
            if letters >= limit:
                return cjk / letters
    return cjk / letters if letters else 0.0


def read_texts(sources: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Texts from chunk files (`{"chunks": [{"text": ...}]}`), plain text/Markdown files, or literal strings.

    A `Path`, or a string naming an existing file, is read; a string ending in .json/.txt/.md that is not a
    file is an error (a typo must not be trained on as a sentence); any other string is text itself.
    """
    texts: list[str] = []
    for src in sources:
        path = Path(src)
        is_file_like = isinstance(src, os.PathLike) or (
            "\n" not in str(src) and (path.suffix.lower() in _FILE_SUFFIXES or path.is_file())
        )
        if not is_file_like:
            texts.append(str(src))
            continue
        if not path.is_file():
            raise EmbedlabError(f"word2vec input {path}: file not found (run the chunk rule or fix the path)")
        if path.suffix.lower() == ".json":
            data = io.read_json(path)
            chunks = data.get("chunks") if isinstance(data, dict) else None
            if not isinstance(chunks, list):
                raise EmbedlabError(
                    f"word2vec input {path}: not a chunks file (no 'chunks' list); give a chunks JSON"
                )
            texts.extend(str(c.get("text", "")) for c in chunks)
        else:
            texts.append(path.read_text(encoding="utf-8"))
    return texts


def tokenize_corpus(texts: Iterable[str], tokenizer: str) -> list[list[str]]:
    """Texts -> sentences -> token lists (empty sentences dropped)."""
    out = []
    for text in texts:
        for sentence in split_sentences(text):
            tokens = tokenize(sentence, tokenizer)
            if tokens:
                out.append(tokens)
    return out


# -------------------------------------------------------------------------------------------- vocabulary
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


# ---------------------------------------------------------------------------------------------- plotting
def project_2d(vectors: np.ndarray, method: str = "pca", seed: int = 42) -> tuple[np.ndarray, str, list[str]]:
    """2-D coordinates, the method actually used and axis labels. 2-D vectors are plotted as they are.

    PCA is an SVD with a fixed sign per component (deterministic); t-SNE needs scikit-learn and falls back to
    PCA, with a warning, when it is not installed.
    """
    if vectors.shape[1] == 2:
        return vectors.astype(np.float64), "none", ["dimension 1", "dimension 2"]
    if method == "tsne":
        try:
            from sklearn.manifold import TSNE
        except ImportError:
            log.warning("word2vec: projection tsne needs scikit-learn, which is not installed; using PCA")
        else:
            perplexity = float(min(30.0, max(2.0, (len(vectors) - 1) / 3)))
            coords = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
                vectors.astype(np.float64)
            )
            return coords, "tsne", ["t-SNE 1", "t-SNE 2"]
    centered = vectors.astype(np.float64) - vectors.mean(axis=0)
    _, s, vt = np.linalg.svd(centered, full_matrices=False)
    signs = np.sign(vt[np.arange(2), np.argmax(np.abs(vt[:2]), axis=1)])
    comps = vt[:2] * signs[:, None]
    share = s**2 / max(float((s**2).sum()), 1e-30)
    return centered @ comps.T, "pca", [f"PC{i + 1} ({share[i]:.0%} of variance)" for i in range(2)]


_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.fonts", "~/.local/share/fonts")
_FONT_SUFFIXES = (".ttf", ".otf", ".ttc")


def _covered(path: str, chars: set[str]) -> int:
    from matplotlib import ft2font

    try:
        cmap = ft2font.FT2Font(path).get_charmap()
    except (OSError, RuntimeError, ValueError):
        return -1
    return sum(ord(c) in cmap for c in chars)


def label_font(words: Sequence[str], font: str | None = None) -> tuple[FontProperties | None, str | None]:
    """A font that has the labels' glyphs: `font` (a .ttf/.otf/.ttc file) if given, else matplotlib's default
    if it covers them, else the installed font covering most (CJK needs e.g. Noto Sans CJK or WenQuanYi).

    Returns (FontProperties or None for the default, the font file used or None). Logs a warning when no
    installed font covers all labels (they would show as boxes).
    """
    from matplotlib import font_manager

    chars = {c for w in words for c in w if not c.isspace()}
    if font:
        path = Path(font).expanduser()
        if not path.is_file():
            raise EmbedlabError(
                f"word2vec font {font!r}: file not found (give a .ttf/.otf/.ttc file or null)"
            )
        return font_manager.FontProperties(fname=str(path)), str(path)
    default = font_manager.findfont(font_manager.FontProperties())
    if _covered(default, chars) == len(chars):
        return None, None
    candidates = {f.fname for f in font_manager.fontManager.ttflist}
    for folder in (
        *_FONT_DIRS,
        os.path.join(sys.prefix, "fonts"),
        os.path.join(sys.prefix, "share", "fonts"),
    ):
        root = Path(folder).expanduser()
        if root.is_dir():
            candidates.update(str(p) for p in root.rglob("*") if p.suffix.lower() in _FONT_SUFFIXES)
    best, best_n = None, _covered(default, chars)
    for path in sorted(c for c in candidates if "lastresort" not in Path(c).name.lower()):  # boxes only
        n = _covered(path, chars)
        if n > best_n:
            best, best_n = path, n
            if n == len(chars):
                break
    if best_n < len(chars):
        log.warning(
            "word2vec: no installed font has all %d label characters (%d covered): some labels show as "
            "boxes; install a CJK font (e.g. Debian fonts-noto-cjk) or set word2vec font to a font file",
            len(chars),
            max(best_n, 0),
        )
    if best is None:
        return None, None
    return font_manager.FontProperties(fname=best), best


def _new_figure(size: tuple[float, float]) -> Figure:
    """A figure outside pyplot (no global state, nothing to close), drawn with Agg."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=120)
    FigureCanvasAgg(fig)
    return fig


def _repel(
    boxes: np.ndarray, anchors: np.ndarray, points: np.ndarray, limits: np.ndarray, iterations: int = 400
) -> np.ndarray:
    """Move label boxes (x0, y0, x1, y1 in pixels) apart until they do not overlap (or give up).

    Each step pushes every overlapping pair of labels apart along the axis where they overlap least (half
    each), pushes labels off the plotted points (fixed 3 px boxes), and pulls each label a little toward its
    anchor; labels stay inside `limits` (x0, y0, x1, y1). Deterministic: no random jitter.
    """
    boxes = boxes.astype(np.float64).copy()
    size = boxes[:, 2:] - boxes[:, :2]
    obstacles = np.hstack([points - 3.0, points + 3.0])
    n = len(boxes)
    for _ in range(iterations):
        move = np.zeros((n, 2))
        hit_any = False
        for others, share in ((boxes, 0.5), (obstacles, 1.0)):
            overlap = np.minimum(boxes[:, None, 2:], others[None, :, 2:]) - np.maximum(
                boxes[:, None, :2], others[None, :, :2]
            )  # (n, m, 2)
            hit = (overlap > 0).all(-1)
            if others is boxes:
                np.fill_diagonal(hit, False)
            if not hit.any():
                continue
            hit_any = True
            delta = (boxes[:, None, :2] + boxes[:, None, 2:] - others[None, :, :2] - others[None, :, 2:]) / 2
            ii, jj = np.nonzero(hit)
            ax = np.argmin(overlap[ii, jj], axis=-1)  # push along the axis of least overlap
            direction = np.sign(delta[ii, jj, ax])
            tie = direction == 0
            direction[tie] = np.where(ii[tie] < jj[tie], -1.0, 1.0)
            np.add.at(move, (ii, ax), direction * (overlap[ii, jj, ax] * share + 0.5))
        if not hit_any:
            break
        move += 0.02 * (anchors - boxes[:, :2])  # stay near the point
        boxes[:, :2] = np.clip(boxes[:, :2] + move, limits[:2], limits[2:] - size)
        boxes[:, 2:] = boxes[:, :2] + size
    return boxes


def label_overlap(boxes: np.ndarray) -> float:
    """Total pairwise intersection area over total label area (0 = no label overlaps another)."""
    if len(boxes) < 2:
        return 0.0
    lo = np.maximum(boxes[:, None, :2], boxes[None, :, :2])
    hi = np.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = np.clip(hi - lo, 0, None).prod(-1)
    np.fill_diagonal(inter, 0)
    area = ((boxes[:, 2:] - boxes[:, :2]).prod(-1)).sum()
    return float(inter.sum() / 2 / max(area, 1e-9))


def text_boxes(fig: Figure) -> np.ndarray:
    """Pixel boxes of the word labels drawn by `scatter_figure` (for checks; needs no saved image)."""
    from matplotlib.text import Text

    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    # Text's own extent: an Annotation's would include its leader line.
    boxes = [Text.get_window_extent(t, renderer).extents for t in ax.texts if t.get_gid() == "word-label"]
    return np.array(boxes).reshape(-1, 4)


def scatter_figure(
    coords: np.ndarray,
    words: Sequence[str],
    n_labels: int,
    *,
    highlight: Sequence[str] = (),
    title: str = "",
    axis_labels: Sequence[str] = ("dimension 1", "dimension 2"),
    font: str | None = None,
) -> tuple[Figure, str | None]:
    """Scatter of words with readable labels.

    Candidates for a label: every `highlight` word, then the first `n_labels` words (most frequent first).
    Labels are pushed apart and off the points (`_repel`), tied to their point by a thin line when moved,
    and a label that still overlaps one of higher priority is left out, so no two labels overlap.
    Returns the figure (Agg canvas, already drawn) and the font file used for the labels (None: default).
    """
    from matplotlib.font_manager import FontProperties

    words = list(words)
    hl = set(highlight)
    labelled = [i for i, w in enumerate(words) if w in hl] + [
        i for i, w in enumerate(words) if i < n_labels and w not in hl
    ]
    props, font_path = label_font([words[i] for i in labelled], font)
    props = props.copy() if props is not None else FontProperties()
    props.set_size(8)
    fig = _new_figure((9, 7.5))
    ax = fig.add_subplot()
    colours = ["tab:red" if w in hl else "tab:blue" for w in words]
    ax.scatter(coords[:, 0], coords[:, 1], s=14, c=colours, alpha=0.75, linewidths=0)
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.set_title(title)
    ax.margins(0.12)
    ax.grid(True, lw=0.3, alpha=0.5)
    fig.tight_layout()
    if not labelled:
        fig.canvas.draw()
        return fig, font_path
    renderer = fig.canvas.get_renderer()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        probes = [ax.text(0, 0, words[i], fontproperties=props) for i in labelled]
        sizes = np.array([t.get_window_extent(renderer).size for t in probes]) + 2.0  # 1 px padding around
        for t in probes:
            t.remove()
        anchors = ax.transData.transform(coords[labelled]) + np.array(
            [3.0, 2.0]
        )  # just up-right of the point
        limits = np.array(ax.bbox.extents)
        boxes = _repel(np.hstack([anchors, anchors + sizes]), anchors, ax.transData.transform(coords), limits)
        kept: list[int] = []
        for k in range(len(labelled)):  # priority order: highlighted, then most frequent
            if all(label_overlap(boxes[[k, j]]) < 0.02 for j in kept):
                kept.append(k)
        inv = ax.transData.inverted()
        for k in kept:
            i = labelled[k]
            moved = np.hypot(*(boxes[k, :2] - anchors[k])) > 6
            ax.annotate(
                words[i],
                xy=tuple(coords[i]),
                xytext=tuple(inv.transform(boxes[k, :2])),
                textcoords="data",
                fontproperties=props,
                ha="left",
                va="bottom",
                color="darkred" if words[i] in hl else "black",
                arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "0.55"} if moved else None,
                gid="word-label",
                annotation_clip=False,
            )
        fig.canvas.draw()
    if len(kept) < len(labelled):
        log.info(
            "word2vec scatter: %d of %d labels left out where they would overlap",
            len(labelled) - len(kept),
            len(labelled),
        )
    return fig, font_path


def loss_figure(losses: Sequence[float], title: str = "") -> Figure:
    from matplotlib.ticker import MaxNLocator

    fig = _new_figure((6, 4))
    ax = fig.add_subplot()
    epochs = np.arange(1, len(losses) + 1)
    ax.plot(epochs, losses, marker="o" if len(losses) <= 30 else None, ms=3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean SGNS loss per (center, context) pair")
    ax.set_title(title)
    ax.grid(True, lw=0.3, alpha=0.5)
    fig.tight_layout()
    fig.canvas.draw()
    return fig


def _save_png(fig: Figure, path: Path) -> None:
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})  # no version string: stable bytes


# ------------------------------------------------------------------------------------------------ the run
@dataclass
class Word2VecResult:
    """A finished run: the model, the neighbours written, the figures (for checks) and timings."""

    model: Word2VecModel
    neighbours: dict[str, list[tuple[str, float]]]
    scatter: Figure
    loss_plot: Figure
    files: dict[str, Path]
    stats: dict[str, Any]


def run_word2vec(
    sources: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    settings: dict[str, Any] | None = None,
    *,
    name: str | None = None,
    threads: int = 1,
) -> Word2VecResult:
    """Train on `sources` (chunk files, text files or sentences; the toy preset when `corpus: toy`) and
    write OUTPUT_FILES into `out_dir`, each atomically."""
    s = resolve_settings(settings)
    out = Path(out_dir)
    name = name or out.name
    t0 = time.perf_counter()
    if s["corpus"] == "toy":
        if sources:
            raise EmbedlabError(
                f"word2vec run {name}: corpus: toy takes no input files (remove chunks or corpus)"
            )
        texts: list[str] = list(TOY_SENTENCES)
    else:
        texts = read_texts(sources)
    if s["tokenizer"] == "words" and cjk_fraction(texts) > 0.3:
        raise EmbedlabError(
            f"word2vec run {name}: the text is mostly CJK but tokenizer is 'words': "
            "set tokenizer: jieba or chars"
        )
    sentences = tokenize_corpus(texts, s["tokenizer"])
    t_tok = time.perf_counter() - t0
    n_tokens = sum(map(len, sentences))
    log.info(
        "word2vec %s: %d sentences, %d tokens (%s) in %.1f s",
        name,
        len(sentences),
        n_tokens,
        s["tokenizer"],
        t_tok,
    )
    model = train(
        sentences,
        dim=s["dim"],
        window=s["window"],
        negatives=s["negatives"],
        min_count=s["min_count"],
        max_vocab=s["max_vocab"],
        subsample=float(s["subsample"]),
        epochs=s["epochs"],
        batch_size=s["batch_size"],
        lr=float(s["lr"]),
        seed=s["seed"],
        threads=threads,
    )
    vocab = model.vocab
    queries = s["neighbours_of"] or vocab.words[: min(5, len(vocab))]
    missing = [w for w in queries if w not in vocab.index]
    if missing:
        log.warning("word2vec %s: not in the vocabulary, no neighbours: %s", name, ", ".join(missing))
    k = min(s["n_neighbours"], len(vocab) - 1)
    neighbours = {w: nearest_neighbours(model, w, k) for w in queries if w in vocab.index}

    # Plot the most frequent words plus the queried words and their neighbours.
    shown = list(range(min(s["plot_words"], len(vocab))))
    extra = [w for w in queries if w in vocab.index] + [n for ns in neighbours.values() for n, _ in ns]
    shown += sorted({vocab.index[w] for w in extra} - set(shown))
    coords, method, axis_labels = project_2d(model.vectors[shown], s["projection"], s["seed"])
    title = f"word2vec skip-gram: {name} ({len(vocab)} words, dim {s['dim']}, window {s['window']})"
    if method != "none":
        title += f"; {method.upper() if method == 'pca' else 't-SNE'} of {len(shown)} words"
    scatter, font_used = scatter_figure(
        coords,
        [vocab.words[i] for i in shown],
        s["label_words"],
        highlight=list(neighbours),
        title=title,
        axis_labels=axis_labels,
        font=s["font"],
    )
    loss_plot = loss_figure(model.losses, title=f"word2vec training loss: {name}")

    files = {f: out / f for f in OUTPUT_FILES}
    stats = {
        "sentences": len(sentences),
        "tokens": n_tokens,
        "vocab_size": len(vocab),
        "pairs_last_epoch": model.pairs_per_epoch[-1],
        "projection": method,
        "plotted_words": len(shown),
        "labels": len(text_boxes(scatter)),
        "label_overlap": round(label_overlap(text_boxes(scatter)), 4),
        "label_font": Path(font_used).name if font_used else None,
    }
    lines = [
        w + "\t" + "\t".join(f"{x:.6f}" for x in vec)
        for w, vec in zip(vocab.words, model.vectors, strict=True)
    ]
    io.write_text(files["vectors.tsv"], "\n".join(lines) + "\n")
    io.write_text(
        files["loss.csv"],
        "epoch,loss,pairs\n"
        + "".join(
            f"{e},{loss:.6f},{p}\n"
            for e, (loss, p) in enumerate(zip(model.losses, model.pairs_per_epoch, strict=True), 1)
        ),
    )
    io.write_json(
        files["neighbours.json"],
        {
            "format": FORMAT,
            "name": name,
            "settings": s,
            "stats": stats,
            "neighbours": {
                w: [{"word": n, "cosine": round(c, 4)} for n, c in ns] for w, ns in neighbours.items()
            },
            "missing": missing,
        },
    )
    _save_png(scatter, files["scatter.png"])
    _save_png(loss_plot, files["loss.png"])
    stats["seconds"] = {
        "tokenize": round(t_tok, 2),
        "train": round(model.seconds, 2),
        "total": round(time.perf_counter() - t0, 2),
    }
    log.info(
        "word2vec %s: %d words, final loss %.4f, wrote %s in %.1f s",
        name,
        len(vocab),
        model.losses[-1],
        out,
        stats["seconds"]["total"],
    )
    return Word2VecResult(model, neighbours, scatter, loss_plot, files, stats)


# ------------------------------------------------------------------------------------ pipeline helpers
def runs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The configured runs (`config["word2vec"]["runs"]`), checked against the configured corpora."""
    section = config.get("word2vec") or {}
    out = {}
    pairs = {
        f"{c}/{lang}" for c, spec in config.get("corpora", {}).items() for lang in spec.get("languages", {})
    }
    for name, run in (section.get("runs") or {}).items():
        where = f"config error at word2vec.runs.{name}"
        if bool(run.get("corpus")) == bool(run.get("chunks")):
            raise EmbedlabError(f"{where}: give exactly one of corpus: toy or chunks: <corpus>/<lang>")
        if run.get("chunks") and run["chunks"] not in pairs:
            raise EmbedlabError(
                f"{where}: chunks {run['chunks']!r} is not a configured corpus/lang "
                f"(configured: {', '.join(sorted(pairs))})"
            )
        out[name] = run
    return out


def run_inputs(run: dict[str, Any]) -> list[str]:
    """Input files of one run: the chunk file for `chunks: corpus/lang`, nothing for the toy preset."""
    return [f"results/chunks/{run['chunks']}.json"] if run.get("chunks") else []


def run_settings(run: dict[str, Any], seed: int) -> dict[str, Any]:
    """Settings for `run_word2vec`: the run's keys with the global seed when the run sets none."""
    return {**run, "seed": run.get("seed") if run.get("seed") is not None else seed}
