"""Word2vec figures: the words in 2-D with readable labels, and the loss curve.

Figures are built outside pyplot (no global state) and drawn with Agg, so tests can inspect them and the
same run gives the same PNG bytes (saved by `embedlab.report.plots.save`, the one figure saver).
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from embedlab.errors import EmbedlabError

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

log = logging.getLogger(__name__)

PROJECTIONS = ("pca", "tsne")


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

    Candidates for a label: every `highlight` word, then the first `n_labels` words (most frequent first),
    placed by `_place_labels`. Returns the figure (Agg canvas, already drawn) and the font file used for the
    labels (None: default).
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
    if labelled:
        _place_labels(fig, coords, words, labelled, props, hl)
    else:
        fig.canvas.draw()
    return fig, font_path


def _place_labels(
    fig: Figure,
    coords: np.ndarray,
    words: list[str],
    labelled: list[int],
    props: FontProperties,
    highlight: set[str],
) -> None:
    """Label the points `labelled` (priority order) so that no two labels overlap, then draw the figure.

    Labels are pushed apart and off the points (`_repel`), tied to their point by a thin line when moved,
    and a label that still overlaps one of higher priority is left out.
    """
    ax = fig.axes[0]
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
                color="darkred" if words[i] in highlight else "black",
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
