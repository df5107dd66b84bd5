"""Cross-lingual retrieval: queries written in language A against the chunks of language B.

Language versions of one legal text share their structure (the AI Act's articles, recitals and annexes
come in the same order in every language), so a chunk's *structural key* (the k-th heading of the n-th
numbered series, whatever the language calls it) says which chunks of the other language hold the same
provision. A query's positives in B are
all B chunks whose key matches a key of its positives in A. Queries whose provision has no counterpart in B
are skipped and counted.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from embedlab import io
from embedlab.data.outline import ZH_NUMERALS
from embedlab.errors import EmbedlabError
from embedlab.evaluation.options import EvalOptions
from embedlab.evaluation.qaset import QASet
from embedlab.evaluation.retrieval import evaluate_qa
from embedlab.models.spec import ModelSpec

log = logging.getLogger(__name__)


_NUMBER = re.compile(r"^\(?(?:\d+[a-z]?|[IVXLCDM]+)\)?[.:]?$")
_ZH_MARKER = re.compile(rf"^第[{ZH_NUMERALS}]+([章节条编])")


def _marker_word(label: str) -> tuple[str | None, bool]:
    """(series word, has a number) of a heading label: "Article 5" -> ("article", True), "5. cikk" ->
    ("cikk", True), "Article premier" -> ("article", False), a plain title -> (None, False)."""
    if m := _ZH_MARKER.match(label):
        return f"第{m.group(1)}", True
    words = label.split()
    if not 2 <= len(words) <= 3:
        return None, False
    numbered = any(_NUMBER.match(w) for w in words)
    word = next((w for w in words if not _NUMBER.match(w)), None)
    return (word.casefold() if word else None), numbered


def structure_keys(chunks: Sequence[dict[str, Any]]) -> dict[str, str | None]:
    """Chunk id -> a language-free key of the deepest numbered provision on its heading path, or None.

    Language versions of one text number the same provisions in the same order, whatever they call them.
    So a numbered heading's key is its series (the label's word, "Article" / "Artikel" / "cikk", ranked by
    where the series first appears in the document) and its ordinal (the k-th distinct heading of that
    series in document order): `s3:5` is the fifth heading of the third series in every language. A label
    whose word also heads numbered labels ("Article premier") is in that series.
    """
    numbered_words = set()
    for chunk in chunks:
        for h in chunk["headings"]:
            word, numbered = _marker_word(h.get("label") or "")
            if word and numbered:
                numbered_words.add(word)
    series: dict[str, int] = {}
    seen: dict[tuple[str, ...], str] = {}
    counts: dict[str, int] = defaultdict(int)
    keys: dict[str, str | None] = {}
    for chunk in chunks:
        key = None
        path: tuple[str, ...] = ()
        for h in chunk["headings"]:
            label = h.get("label") or ""
            path = (*path, f"{label}\x1f{h.get('title') or ''}")
            word, _ = _marker_word(label)
            if word not in numbered_words:
                continue
            if path not in seen:
                rank = series.setdefault(word, len(series) + 1)
                counts[word] += 1
                seen[path] = f"s{rank}:{counts[word]}"
            key = seen[path]
        keys[chunk["id"]] = key
    return keys


def crosslingual_qa(
    src_val: dict[str, Any],
    src_chunks: list[dict[str, Any]],
    tgt_chunks: list[dict[str, Any]],
    source: str = "",
) -> QASet:
    """Queries of the source val split; corpus = every target chunk; positives carried through the keys."""
    src_key = structure_keys(src_chunks)
    tgt_key = structure_keys(tgt_chunks)
    by_key: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(tgt_chunks):
        if key := tgt_key[c["id"]]:
            by_key[key].append(i)
    if not by_key:
        raise EmbedlabError(
            f"{source}: the target chunks have no numbered articles/recitals/annexes to align on"
        )
    qids, texts, relevant = [], [], []
    skipped = {"no_relevant": 0, "no_structure": 0, "no_counterpart": 0}
    for qid, text in src_val["queries"].items():
        positives = [p.split("#")[0] for p in src_val.get("relevant_docs", {}).get(qid) or []]
        if not positives:
            skipped["no_relevant"] += 1
            continue
        keys = {src_key.get(p) for p in positives} - {None}
        if not keys:
            skipped["no_structure"] += 1
            continue
        targets = sorted({i for k in keys for i in by_key.get(k, [])})
        if not targets:
            skipped["no_counterpart"] += 1
            continue
        qids.append(qid)
        texts.append(text)
        relevant.append(targets)
    if not qids:
        raise EmbedlabError(
            f"{source}: no query could be aligned with the target language (skipped {skipped})"
        )
    for k, v in skipped.items():
        if v:
            log.warning("%s: skipped %d queries (%s)", source, v, k)
    qa = QASet(
        qids, texts, [c["id"] for c in tgt_chunks], [c["text"] for c in tgt_chunks], relevant, skipped, source
    )
    # resampled by the source chunk group the query was written from, as in the same-language evaluation
    src_group = {c["id"]: c["group"] for c in src_chunks}
    first = {qid: src_val["relevant_docs"][qid][0].split("#")[0] for qid in qids}
    qa.groups = [src_group[first[q]] for q in qids]
    return qa


def evaluate_crosslingual(
    src_val_path: str | Path,
    src_chunks_path: str | Path,
    tgt_chunks_path: str | Path,
    out_csv: str | Path,
    out_queries: str | Path,
    spec: ModelSpec,
    *,
    corpus: str,
    src: str,
    tgt: str,
    options: EvalOptions,
) -> dict[str, Any]:
    """Rule `evaluate_crosslingual`: results/eval/{model}/{corpus}/{src}-{tgt}.csv (+ .queries.csv)."""
    qa = crosslingual_qa(
        io.read_json(src_val_path),
        io.read_json(src_chunks_path)["chunks"],
        io.read_json(tgt_chunks_path)["chunks"],
        source=f"{corpus} {src}->{tgt}",
    )
    return evaluate_qa(qa, out_csv, out_queries, spec, corpus=corpus, lang=f"{src}-{tgt}", options=options)
