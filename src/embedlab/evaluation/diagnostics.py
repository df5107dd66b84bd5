"""How lexical each query set of one corpus/language is: synthetic queries that reuse their chunk's words
favour lexical retrievers, so a model ranking on them may not hold on real questions.

Per query (every generator's val queries, and the real questions when there are some): the share of its
content words that occur in a relevant chunk, the BM25 rank of its first relevant chunk among all chunks,
its length, its detected language, and whether it repeats an earlier query of its set. Per set, the
aggregates of these (`query_sets.csv`); and, for the report, whether the synthetic sets are far more
lexical than the real questions and whether both rank the models alike.

Definitions (no word lists, so they hold in any language):
- tokens: the BM25 model's own tokenizer (`models.bm25.tokenize`: words, jieba words for Chinese);
- content word: a query token found in fewer than `CONTENT_MAX_DF` of the chunks, or in one chunk at most
  (tokens in no chunk included): the corpus's function words and ubiquitous terms ("the", "article", "的")
  do not count; a question word the chunks lack ("what") counts, as it does for BM25;
- content share: content words that occur in any relevant chunk / content words (empty when a query has
  none);
- BM25 first rank: the evaluation's exact rank (ties against the query), MRR@10 and hit@k from it;
- length: `text.count_words` (words; a CJK character is one);
- exact duplicate: the same text after `text.fold_words` (case, spacing, punctuation) as an earlier query of
  its set; near duplicate: the LLM generator's rule (`data.llm.cleaning.QuestionIndex`: difflib ratio ≥
  `NEAR_DUPLICATE_RATIO` on that text, unless a word only one of them has occurs in its own chunk and not in
  the other's).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedlab import io
from embedlab.data.llm.cleaning import QuestionIndex, words
from embedlab.errors import EmbedlabError
from embedlab.evaluation.qaset import QASet, qa_from_dataset
from embedlab.evaluation.results import write_csv
from embedlab.evaluation.retrieval import retrieve
from embedlab.models.bm25 import BM25Encoder, tokenize
from embedlab.models.encoders import load_encoder
from embedlab.models.spec import ModelSpec
from embedlab.text import count_words
from embedlab.text_language import detect_language, detectable, same_language

log = logging.getLogger(__name__)

REAL = "real"
CONTENT_MAX_DF = 0.1
"""A token in this share of the chunks or more (and in two chunks at least) is not a content word."""
NEAR_DUPLICATE_RATIO = 0.9
KS = (1, 10)
FAR_MORE_LEXICAL = 0.2
"""A synthetic set is far more lexical than the real questions when its mean content share or its BM25
MRR@10 is higher by at least this much."""
SAME_ORDERING_RHO = 0.8
"""Spearman's rho from which two model orderings count as the same."""

QUERY_COLUMNS = (
    "set", "query_id", "length", "content_words", "content_share", "bm25_first_rank", "bm25_rr",
    "language", "in_language", "duplicate", "text",
)  # fmt: skip
SET_COLUMNS = (
    "set", "n", "mean_content_share", "median_content_share", "no_content_words", "median_bm25_rank",
    "bm25_mrr@10", "bm25_hit@1", "bm25_hit@10", "mean_length", "in_language", "exact_duplicates",
    "near_duplicates",
)  # fmt: skip


@dataclass
class QueryRow:
    """One query's diagnostics (a row of the per-query CSV)."""

    set: str
    query_id: str
    length: int
    content_words: int
    content_share: float  # nan without content words
    bm25_first_rank: float
    bm25_rr: float
    language: str | None
    in_language: bool | None  # None: no language detected, or the corpus language is not detectable
    duplicate: str  # "", "exact" or "near"
    text: str


def diagnose_queries(
    chunks_path: str | Path,
    val_path: str | Path,
    provenance_path: str | Path,
    out_sets: str | Path,
    out_queries: str | Path,
    real_path: str | Path | None = None,
    bm25: ModelSpec | None = None,
) -> list[dict[str, Any]]:
    """Rule `diagnose_queries`: per-query and per-set diagnostics of one corpus/language's query sets (each
    generator's val queries, and the real questions of `real_path` when given) -> two CSVs; returns the set
    rows. `bm25`: the BM25 model whose tokens and ranks are used (default plain BM25)."""
    lang = io.read_json(chunks_path)["lang"]
    val = io.read_json(val_path)
    generator_of = {qid: q["generator"] for qid, q in io.read_json(provenance_path)["queries"].items()}
    missing = [qid for qid in val["queries"] if qid not in generator_of]
    if missing:
        raise EmbedlabError(
            f"{val_path}: query {missing[0]} is not in {provenance_path}: rerun build_dataset, split_dataset"
        )
    qa = qa_from_dataset(val, str(val_path))
    sets = [generator_of[qid] for qid in qa.query_ids]
    if real_path is not None:
        real = io.read_json(real_path)
        # the val corpus (every chunk) is the index both are ranked against
        qa = _joined(qa, qa_from_dataset({**real, "corpus": val["corpus"]}, str(real_path)))
        sets += [REAL] * (len(qa.query_ids) - len(sets))
    rows = query_rows(qa, sets, lang, bm25 or ModelSpec(name="bm25", kind="bm25"))
    summary = set_rows(rows)
    write_csv(out_queries, QUERY_COLUMNS, [[getattr(r, c) for c in QUERY_COLUMNS] for r in rows])
    write_csv(out_sets, SET_COLUMNS, [[s[c] for c in SET_COLUMNS] for s in summary])
    for s in summary:
        log.info(
            "%s: %d queries, content share %.2f, BM25 MRR@10 %.2f",
            s["set"],
            s["n"],
            s["mean_content_share"],
            s["bm25_mrr@10"],
        )
    return summary


def _joined(a: QASet, b: QASet) -> QASet:
    """Two query sets over the same corpus as one, so the corpus is indexed once."""
    return QASet(
        a.query_ids + b.query_ids,
        a.queries + b.queries,
        a.corpus_ids,
        a.corpus,
        a.relevant + b.relevant,
        {k: a.skipped.get(k, 0) + b.skipped.get(k, 0) for k in {*a.skipped, *b.skipped}},
        a.source,
    )


def query_rows(qa: QASet, sets: Sequence[str], lang: str, bm25: ModelSpec) -> list[QueryRow]:
    """Every query's diagnostics; `sets[i]` names the set of query i (duplicates are looked for within it)."""
    encoder = load_encoder(bm25)
    if not isinstance(encoder, BM25Encoder):
        raise EmbedlabError(f"model {bm25.name}: query diagnostics need a bm25 model, not {bm25.kind}")
    ranks = retrieve(encoder, qa, KS).per_query

    def tokens(text: str) -> set[str]:
        return set(tokenize(text, encoder.tokenizer, encoder.stopwords))

    chunk_tokens = [tokens(t) for t in qa.corpus]
    df = Counter(t for toks in chunk_tokens for t in toks)
    common = {t for t, n in df.items() if n >= max(2, CONTENT_MAX_DF * len(qa.corpus))}
    checkable = detectable(lang)
    if not checkable:
        log.warning("language %s is not one the detector knows: in_language left empty", lang)
    languages = detect_language(qa.queries)
    duplicates = _duplicates(qa, sets)
    rows = []
    for i, text in enumerate(qa.queries):
        content = tokens(text) - common
        found = set().union(*(chunk_tokens[j] for j in qa.relevant[i]))
        detected = languages[i]
        rows.append(
            QueryRow(
                sets[i],
                qa.query_ids[i],
                count_words(text),
                len(content),
                len(content & found) / len(content) if content else math.nan,
                float(ranks["first_rank"][i]),
                float(ranks["reciprocal_rank"][i]),
                detected,
                same_language(detected, lang) if detected is not None and checkable else None,
                duplicates[i],
                text,
            )
        )
    return rows


def _duplicates(qa: QASet, sets: Sequence[str]) -> list[str]:
    """ "exact" / "near" for a query repeating an earlier one of its set, else ""."""
    chunk_words: dict[int, set[str]] = {}
    index: dict[str, QuestionIndex] = {}
    out = []
    for i, text in enumerate(qa.queries):
        own = set().union(*(chunk_words.setdefault(j, words(qa.corpus[j])) for j in qa.relevant[i]))
        seen = index.setdefault(sets[i], QuestionIndex(NEAR_DUPLICATE_RATIO))
        out.append("exact" if seen.exact(text) else "near" if seen.near(text, own) else "")
        seen.add(text, own)
    return out


def set_rows(rows: Sequence[QueryRow]) -> list[dict[str, Any]]:
    """One aggregate row per set, in the order the sets first appear."""
    out = []
    for name in dict.fromkeys(r.set for r in rows):
        mine = [r for r in rows if r.set == name]
        shares = np.array([r.content_share for r in mine if not math.isnan(r.content_share)])
        first = np.array([r.bm25_first_rank for r in mine])
        checked = [r.in_language for r in mine if r.in_language is not None]
        out.append(
            {
                "set": name,
                "n": len(mine),
                "mean_content_share": float(shares.mean()) if len(shares) else math.nan,
                "median_content_share": float(np.median(shares)) if len(shares) else math.nan,
                "no_content_words": len(mine) - len(shares),
                "median_bm25_rank": float(np.median(first)),
                "bm25_mrr@10": float(np.where(first <= 10, 1.0 / first, 0.0).mean()),
                "bm25_hit@1": float((first <= 1).mean()),
                "bm25_hit@10": float((first <= 10).mean()),
                "mean_length": float(np.mean([r.length for r in mine])),
                "in_language": float(np.mean(checked)) if checked else math.nan,
                "exact_duplicates": sum(r.duplicate == "exact" for r in mine),
                "near_duplicates": sum(r.duplicate == "near" for r in mine),
            }
        )
    return out


def lexical_gap_sentences(sets: Sequence[Mapping[str, Any]]) -> list[str]:
    """The report's sentences on how much more lexical each synthetic set is than the real questions (rows
    as `set_rows` gives them, or as read back from query_sets.csv); none without real questions."""
    real = next((s for s in sets if s["set"] == REAL), None)
    if real is None:
        return []
    share, mrr = _num(real["mean_content_share"]), _num(real["bm25_mrr@10"])
    out = []
    for s in sets:
        if s["set"] == REAL:
            continue
        s_share, s_mrr = _num(s["mean_content_share"]), _num(s["bm25_mrr@10"])
        if s_share - share >= FAR_MORE_LEXICAL or s_mrr - mrr >= FAR_MORE_LEXICAL:  # False with a nan
            out.append(
                f"The {s['set']} queries are far more lexical than the real questions: {s_share:.2f} of "
                f"their content words occur in the relevant chunk against {share:.2f}, and BM25 finds it "
                f"with MRR@10 {s_mrr:.2f} against {mrr:.2f}."
            )
    if not out:
        out.append(
            "No synthetic query set is far more lexical than the real questions (mean content-word share "
            f"and BM25 MRR@10 both within {FAR_MORE_LEXICAL} of theirs)."
        )
    return out


def _num(value: Any) -> float:
    """A number of a set row, as computed or as read back from the CSV (NaN written empty)."""
    return math.nan if value in ("", None) else float(value)


def ordering_agreement(
    scores_a: Mapping[str, float], scores_b: Mapping[str, float]
) -> tuple[float, float, int]:
    """Rank correlation of two model orderings (e.g. MRR@10 on synthetic and on real questions) over the
    models scored in both: (Spearman's rho, Kendall's tau, number of models); nan below 3 models or when
    one side gives every model the same score."""
    from scipy.stats import kendalltau, spearmanr

    models = sorted(set(scores_a) & set(scores_b))
    if len(models) < 3:
        return math.nan, math.nan, len(models)
    a = [float(scores_a[m]) for m in models]
    b = [float(scores_b[m]) for m in models]
    if len(set(a)) < 2 or len(set(b)) < 2:
        return math.nan, math.nan, len(models)
    return float(spearmanr(a, b).statistic), float(kendalltau(a, b).statistic), len(models)


def ordering_sentence(rho: float, tau: float, n: int) -> str:
    """The report's sentence on whether the synthetic queries rank the models as the real ones do."""
    if math.isnan(rho):
        return (
            f"Too few models with distinct scores ({n}) to compare their orderings on synthetic and real "
            "questions."
        )
    verdict = (
        "rank the models as the real ones do"
        if rho >= SAME_ORDERING_RHO
        else "do not rank the models as the real ones do"
    )
    return f"The synthetic queries {verdict} (Spearman's rho {rho:.2f}, Kendall's tau {tau:.2f}, {n} models)."
