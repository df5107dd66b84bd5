"""Cross-lingual retrieval: queries written in language A against the chunks of language B.

Language versions of one legal text share their structure (the AI Act's articles, recitals and annexes
carry the same numbers in every language), so a chunk's *structural key* (`article:5`, `recital:12`,
`annex:III`) says which chunks of the other language hold the same provision. A query's positives in B are
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
from embedlab.errors import EmbedlabError
from embedlab.evaluation import QASet, evaluate_qa
from embedlab.models import ModelSpec
from embedlab.outline import zh_number

log = logging.getLogger(__name__)

_ARTICLE = re.compile(r"^(?:Article|Článek|Artikel|Articolo|Artículo|Artigo|Artykuł)\s+(\d+|premier)\b", re.I)
_ARTICLE_HU = re.compile(r"^(\d+)\.\s*cikk\b", re.I)
_ARTICLE_ZH = re.compile(r"^第([零〇一二三四五六七八九十百千两]+)条")
_RECITAL = re.compile(r"^Recital\s*\((\d+)\)")
_ANNEX = re.compile(
    r"^(?:ANNEX|ANNEXE|PŘÍLOHA|MELLÉKLET|ANHANG|ALLEGATO|ANEXO|ZAŁĄCZNIK)\s+([IVXLC]+)\b", re.I
)


def heading_key(label: str) -> str | None:
    """Language-independent key of one heading label, or None when it is not a numbered provision."""
    label = label.strip()
    if m := _ARTICLE.match(label):
        return f"article:{1 if m.group(1).lower() == 'premier' else int(m.group(1))}"
    if m := _ARTICLE_HU.match(label):
        return f"article:{int(m.group(1))}"
    if m := _ARTICLE_ZH.match(label):
        return f"article:{zh_number(m.group(1))}"
    if m := _RECITAL.match(label):
        return f"recital:{int(m.group(1))}"
    if m := _ANNEX.match(label):
        return f"annex:{m.group(1).upper()}"
    return None


def structure_key(headings: Sequence[dict[str, Any]]) -> str | None:
    """The deepest numbered provision on a chunk's heading path (a section inside an annex -> the annex)."""
    for h in reversed(headings):
        key = heading_key(h.get("label") or "")
        if key:
            return key
    return None


def crosslingual_qa(
    src_val: dict[str, Any],
    src_chunks: list[dict[str, Any]],
    tgt_chunks: list[dict[str, Any]],
    source: str = "",
) -> QASet:
    """Queries of the source val split; corpus = every target chunk; positives carried through the keys."""
    src_key = {c["id"]: structure_key(c["headings"]) for c in src_chunks}
    by_key: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(tgt_chunks):
        key = structure_key(c["headings"])
        if key:
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
    spec: dict[str, Any],
    *,
    corpus: str,
    src: str,
    tgt: str,
    ks: Sequence[int] = (1, 3, 5, 10),
    bootstrap_samples: int = 1000,
    seed: int = 42,
    device: str = "auto",
    cache_dir: str | Path | None = "results/cache/embeddings",
) -> dict[str, Any]:
    """Rule `evaluate_crosslingual`: results/eval/{model}/{corpus}/{src}-{tgt}.csv (+ .queries.csv)."""
    qa = crosslingual_qa(
        io.read_json(src_val_path),
        io.read_json(src_chunks_path)["chunks"],
        io.read_json(tgt_chunks_path)["chunks"],
        source=f"{corpus} {src}->{tgt}",
    )
    return evaluate_qa(
        qa, out_csv, out_queries, ModelSpec(**spec), corpus=corpus, lang=f"{src}-{tgt}", ks=ks,
        bootstrap_samples=bootstrap_samples, seed=seed, device=device, cache_dir=cache_dir,
    )  # fmt: skip
