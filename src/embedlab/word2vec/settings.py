"""Word2vec settings: one run's settings checked (defaults filled); the workflow plans the configured runs."""

from __future__ import annotations

from typing import Any

from embedlab.errors import EmbedlabError
from embedlab.settings import schema_def_default, schema_def_keys, schema_default
from embedlab.word2vec.corpus import TOKENIZERS
from embedlab.word2vec.plots import PROJECTIONS


def defaults() -> dict[str, Any]:
    """One run's defaults, read from the schema ($defs.word2vec_run), so a direct Python call behaves like
    the pipeline; `seed: null` means the top-level seed there and here."""
    return {key: schema_def_default("word2vec_run", key) for key in schema_def_keys("word2vec_run")}


def resolve_settings(settings: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults filled and values checked: a direct call fails with the same one-line errors as the config."""
    settings = dict(settings or {})
    base = defaults()
    unknown = sorted(set(settings) - set(base))
    if unknown:
        raise EmbedlabError(
            f"word2vec settings: unknown key {', '.join(map(repr, unknown))} (allowed: {', '.join(base)})"
        )
    s = {**base, **{k: v for k, v in settings.items() if v is not None or k in ("corpus", "chunks")}}
    if s["seed"] is None:
        s["seed"] = schema_default("seed")
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
