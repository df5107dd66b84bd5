"""The test corpora run through prepare_dataset with the default config's chunking and generators, once
per test session (tests of labels, splits and docs corpora share them)."""

from __future__ import annotations

from pathlib import Path

import yaml

from embedlab.data.prepare import prepare_dataset

REPO = Path(__file__).resolve().parents[1]
# name -> (path under tests/corpora, corpus, lang)
CORPORA = {
    "eu_ai_act_en_html": ("eu_ai_act/EN.html", "eu_ai_act", "en"),
    "eu_ai_act_en_md": ("eu_ai_act/EN.md", "eu_ai_act", "en"),
    "eu_ai_act_fr": ("eu_ai_act/FR.md", "eu_ai_act", "fr"),
    "securities_law_md": ("securities_law/securities_law_2019.md", "securities_law", "zh"),
    "securities_law_pdf": ("securities_law/securities_law_2019.pdf", "securities_law", "zh"),
    "product_docs": ("product_docs", "product_docs", "en"),
    "zh_docs": ("zh_docs", "zh_docs", "zh"),
    "de_docs": ("de_docs", "de_docs", "de"),
    "report_pdf": ("report_pdf", "report_pdf", "en"),
}
_DONE: dict[str, Path] = {}


def default_generators() -> tuple[list[str], dict[str, dict]]:
    """generators.use and each generator's settings, as the shipped config.yaml sets them."""
    generators = dict(yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))["generators"])
    return list(generators.pop("use")), generators


def prepared(name: str, corpora: Path, tmp_path_factory) -> Path:
    """The folder prepare_dataset wrote for corpus `name` (see CORPORA), built on first use."""
    if name not in _DONE:
        rel, corpus, lang = CORPORA[name]
        use, settings = default_generators()
        out = tmp_path_factory.mktemp(name)
        prepare_dataset(corpora / rel, out, corpus, lang, generators=use, settings=settings)
        _DONE[name] = out
    return _DONE[name]
