"""One word2vec run: read and tokenise the text, train, find neighbours, plot, and write the outputs.

Why it is here: the tutorial starts from word2vec to show what an embedding is. Its code joins all toy
sentences into one stream (windows cross sentences), gets the right-hand context indices wrong and trains
a full softmax over one-hot inputs. This package keeps the idea (the toy sentences in 2-D) and does it the
way Mikolov et al. (2013) describe it (`sgns`); seeded throughout, so the same inputs and settings give the
same bytes.

Outputs of `run_word2vec` (each written atomically, to the paths the caller gives: the rule passes its own
output paths; their usual names are `filenames.WORD2VEC`): the vectors (TSV), the loss (CSV), the neighbours
(JSON), the scatter (PNG; 2-D: the vectors themselves; higher: PCA or t-SNE) and the loss plot (PNG).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedlab import filenames, io
from embedlab.errors import EmbedlabError
from embedlab.report.plots import save_figure
from embedlab.word2vec.corpus import TOY_SENTENCES, cjk_fraction, read_texts, tokenize_corpus
from embedlab.word2vec.plots import label_overlap, loss_figure, project_2d, scatter_figure, text_boxes
from embedlab.word2vec.settings import resolve_settings
from embedlab.word2vec.sgns import Word2VecModel, nearest_neighbours, train

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

FORMAT = "embedlab.word2vec/1"


@dataclass(frozen=True)
class Word2VecOutputs:
    """Where a run writes each output; the fields are the word2vec rule's output names (the keys of
    filenames.WORD2VEC)."""

    vectors: Path
    loss: Path
    neighbours: Path
    scatter: Path
    loss_plot: Path

    @classmethod
    def in_dir(cls, folder: str | os.PathLike[str]) -> Word2VecOutputs:
        """The usual file names (filenames.WORD2VEC) in one folder, as the pipeline lays them out."""
        return cls(**{key: Path(folder) / name for key, name in filenames.WORD2VEC.items()})

    def by_file_name(self) -> dict[str, Path]:
        """{usual file name: path}, the keys of `Word2VecResult.files`."""
        return {name: getattr(self, key) for key, name in filenames.WORD2VEC.items()}


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
    outputs: Word2VecOutputs,
    settings: dict[str, Any] | None = None,
    *,
    name: str | None = None,
    threads: int = 1,
) -> Word2VecResult:
    """Train on `sources` (chunk files, text files or sentences; the toy preset when `corpus: toy`) and
    write `outputs`, each atomically. `name` (default: the folder of the vectors file) titles the plots."""
    s = resolve_settings(settings)
    name = name or outputs.vectors.parent.name
    t0 = time.perf_counter()
    sentences = _sentences(sources, s, name)
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
    scatter, loss_plot, plot_stats = _figures(model, queries, neighbours, s, name)
    stats = {
        "sentences": len(sentences),
        "tokens": n_tokens,
        "vocab_size": len(vocab),
        "pairs_last_epoch": model.pairs_per_epoch[-1],
        **plot_stats,
    }
    _write(outputs, model, name, s, stats, neighbours, missing)
    save_figure(scatter, {"png": outputs.scatter}, dpi="figure")
    save_figure(loss_plot, {"png": outputs.loss_plot}, dpi="figure")
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
        outputs.vectors.parent,
        stats["seconds"]["total"],
    )
    return Word2VecResult(model, neighbours, scatter, loss_plot, outputs.by_file_name(), stats)


def _sentences(sources: Sequence[str | os.PathLike[str]], s: dict[str, Any], name: str) -> list[list[str]]:
    """The run's text as token lists: the toy preset or `sources`, checked against the tokenizer."""
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
    return tokenize_corpus(texts, s["tokenizer"])


def _figures(
    model: Word2VecModel,
    queries: list[str],
    neighbours: dict[str, list[tuple[str, float]]],
    s: dict[str, Any],
    name: str,
) -> tuple[Figure, Figure, dict[str, Any]]:
    """The scatter (the most frequent words plus the queried words and their neighbours), the loss curve,
    and the facts about the scatter that go into the stats."""
    vocab = model.vocab
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
    stats = {
        "projection": method,
        "plotted_words": len(shown),
        "labels": len(text_boxes(scatter)),
        "label_overlap": round(label_overlap(text_boxes(scatter)), 4),
        "label_font": Path(font_used).name if font_used else None,
    }
    return scatter, loss_plot, stats


def _write(
    outputs: Word2VecOutputs,
    model: Word2VecModel,
    name: str,
    s: dict[str, Any],
    stats: dict[str, Any],
    neighbours: dict[str, list[tuple[str, float]]],
    missing: list[str],
) -> None:
    """vectors.tsv, loss.csv and neighbours.json (docs/formats.md)."""
    lines = [
        w + "\t" + "\t".join(f"{x:.6f}" for x in vec)
        for w, vec in zip(model.vocab.words, model.vectors, strict=True)
    ]
    io.write_text(outputs.vectors, "\n".join(lines) + "\n")
    io.write_text(
        outputs.loss,
        "epoch,loss,pairs\n"
        + "".join(
            f"{e},{loss:.6f},{p}\n"
            for e, (loss, p) in enumerate(zip(model.losses, model.pairs_per_epoch, strict=True), 1)
        ),
    )
    io.write_json(
        outputs.neighbours,
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
