"""How lexical each query set is (evaluation.diagnostics) and the language detector it uses
(text_language): a hand-made case where every number is known, real test-corpus sentences in four languages,
and real val splits where ICT sentences must come out far more lexical than titles and paraphrased questions.
"""

from __future__ import annotations

import csv
import math

import pytest
from eval_data import build_split

from embedlab import io
from embedlab.data.chunking import split_sentences
from embedlab.data.corpus import load_corpus
from embedlab.evaluation.diagnostics import (
    REAL,
    diagnose_queries,
    lexical_gap_sentences,
    ordering_agreement,
    ordering_sentence,
)
from embedlab.text import cjk_ratio, count_words
from embedlab.text_language import detect_language, detectable, same_language

# 20 chunks "the annual report on <a> and <b>": the frame words are in every chunk (not content words), each
# fruit/animal pair in exactly one chunk; all chunks are 7 tokens long, so BM25 ties are broken by chunk id.
PAIRS = [("apple", "banana"), ("cherry", "date"), ("elderberry", "fig")] + [
    (f"animal{i}", f"plant{i}") for i in range(3, 20)
]
CHUNKS = {f"c{i:02d}": f"the annual report on {a} and {b}" for i, (a, b) in enumerate(PAIRS)}


def _write_case(tmp_path):
    queries = {
        # ict: both content words in its chunk, which alone holds them: rank 1, share 1
        "q1": ("ict", "report on apple and banana", ["c00"]),
        # content words apple (c00), cherry (c01), zebra (no chunk); cherry is in c01: share 1/3; c00 and
        # c01 score the same (one word each, same idf and length), c00 wins the tie: rank 2
        "q2": ("headings", "apple cherry zebra", ["c01"]),
        "q3": ("headings", "Apple, cherry  ZEBRA?", ["c01"]),  # q2 after case/spacing/punctuation: exact
        "q4": ("headings", "apple cherry zebras", ["c01"]),  # difflib ratio 0.97 with q2: near
        # only frame words: no content word; every chunk scores the same, so c05 is ranked 6th by its id
        "q5": ("headings", "the annual report", ["c05"]),
    }
    real = {
        # content words which, chunk, mentions (no chunk has them), elderberry, fig: 2/5; rank 1
        "r1": ("Which chunk mentions elderberry and fig?", ["c02"]),
        # French: only "on" is a frame word; the other 9 tokens are content words found nowhere: share 0;
        # "on" ties every chunk, so c02 is ranked 3rd by its id. Length 8: "trouve-t-on" is one word
        "r2": ("Dans quel chapitre du rapport trouve-t-on la figue ?", ["c02"]),
    }
    (tmp_path / "chunks.json").write_text('{"lang": "en", "chunks": []}', encoding="utf-8")
    io.write_json(
        tmp_path / "val.json",
        {
            "queries": {q: t for q, (_, t, _) in queries.items()},
            "corpus": CHUNKS,
            "relevant_docs": {q: r for q, (_, _, r) in queries.items()},
            "mode": "text",
        },
    )
    io.write_json(
        tmp_path / "provenance.json", {"queries": {q: {"generator": g} for q, (g, _, _) in queries.items()}}
    )
    io.write_json(
        tmp_path / "real.json",
        {
            "queries": {q: t for q, (t, _) in real.items()},
            "corpus": CHUNKS,
            "relevant_docs": {q: r for q, (_, r) in real.items()},
        },
    )


def _read(path):
    with open(path, encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_hand_made_case(tmp_path):
    _write_case(tmp_path)
    sets = diagnose_queries(
        tmp_path / "chunks.json",
        tmp_path / "val.json",
        tmp_path / "provenance.json",
        tmp_path / "sets.csv",
        tmp_path / "queries.csv",
        real_path=tmp_path / "real.json",
    )
    rows = {r["query_id"]: r for r in _read(tmp_path / "queries.csv")}
    got = {
        q: (r["set"], r["content_words"], r["content_share"], r["bm25_first_rank"], r["duplicate"])
        for q, r in rows.items()
    }
    assert got == {
        "q1": ("ict", "2", "1", "1", ""),
        "q2": ("headings", "3", "0.3333333333", "2", ""),
        "q3": ("headings", "3", "0.3333333333", "2", "exact"),
        "q4": ("headings", "3", "0.3333333333", "2", "near"),
        "q5": ("headings", "0", "", "6", ""),
        "r1": (REAL, "5", "0.4", "1", ""),
        "r2": (REAL, "9", "0", "3", ""),
    }
    assert [rows[q]["length"] for q in ("q1", "q5", "r2")] == ["5", "3", "8"]
    assert (rows["r1"]["language"], rows["r1"]["in_language"]) == ("en", "True")
    assert (rows["r2"]["language"], rows["r2"]["in_language"]) == ("fr", "False")
    by_set = {s["set"]: s for s in sets}
    assert list(by_set) == ["ict", "headings", REAL]
    h = by_set["headings"]
    assert (h["n"], h["no_content_words"], h["exact_duplicates"], h["near_duplicates"]) == (4, 1, 1, 1)
    assert h["mean_content_share"] == pytest.approx(1 / 3) and h["median_bm25_rank"] == 2
    assert h["bm25_mrr@10"] == pytest.approx((0.5 * 3 + 1 / 6) / 4)
    assert (h["bm25_hit@1"], h["bm25_hit@10"], h["mean_length"]) == (0, 1, 3)
    r = by_set[REAL]
    assert r["mean_content_share"] == pytest.approx(0.2) and r["in_language"] == 0.5
    assert r["bm25_mrr@10"] == pytest.approx((1 + 1 / 3) / 2)
    assert [s["set"] for s in _read(tmp_path / "sets.csv")] == ["ict", "headings", REAL]
    # ict: share 1 against 0.2 -> far more lexical; headings: +0.13 share, lower MRR -> not
    sentences = lexical_gap_sentences(_read(tmp_path / "sets.csv"))
    assert len(sentences) == 1 and sentences[0].startswith("The ict queries are far more lexical")
    assert "1.00" in sentences[0] and "0.20" in sentences[0]


def test_no_real_questions_no_sentence():
    assert lexical_gap_sentences([{"set": "ict", "mean_content_share": 1.0, "bm25_mrr@10": 1.0}]) == []
    close = [
        {"set": "llm", "mean_content_share": 0.6, "bm25_mrr@10": 0.5},
        {"set": REAL, "mean_content_share": 0.5, "bm25_mrr@10": 0.45},
    ]
    assert lexical_gap_sentences(close)[0].startswith("No synthetic query set is far more lexical")
    # as read back from query_sets.csv: strings, a set without content words has an empty share
    read_back = [
        {"set": "headings", "mean_content_share": "", "bm25_mrr@10": "0.9"},
        {"set": REAL, "mean_content_share": "0.5", "bm25_mrr@10": "0.45"},
    ]
    assert lexical_gap_sentences(read_back)[0].startswith("The headings queries are far more lexical")


def test_ordering_agreement():
    real = {"bm25": 0.4, "minilm": 0.5, "e5": 0.7, "ft": 0.8}
    same = {"bm25": 0.6, "minilm": 0.7, "e5": 0.75, "ft": 0.9, "only-synthetic": 0.1}
    assert ordering_agreement(same, real) == (pytest.approx(1.0), pytest.approx(1.0), 4)
    flipped = {"bm25": 0.9, "minilm": 0.8, "e5": 0.6, "ft": 0.5}
    rho, tau, n = ordering_agreement(flipped, real)
    assert (rho, tau, n) == (pytest.approx(-1.0), pytest.approx(-1.0), 4)
    assert "do not rank the models as the real ones do" in ordering_sentence(rho, tau, n)
    assert "rank the models as the real ones do (Spearman" in ordering_sentence(1.0, 1.0, 4)
    rho, tau, n = ordering_agreement({"a": 1, "b": 2}, {"a": 2, "b": 1})
    assert math.isnan(rho) and n == 2 and ordering_sentence(rho, tau, n).startswith("Too few models")


LANG_SOURCES = {
    "en": "eu_ai_act/EN.md",
    "fr": "eu_ai_act/FR.md",
    "zh": "securities_law/securities_law_2019.md",
    "de": "de_docs/advanced",
}


def _sentences(corpora, rel: str, n: int = 30) -> list[str]:
    """The first `n` prose sentences (≥ 12 words, ≥ 25 CJK characters) of a test document, in order."""
    out = []
    for block in load_corpus(corpora / rel, "t", None).blocks:
        for para in block.paragraphs:
            for s in map(str.strip, split_sentences(para)):
                cjk = cjk_ratio(s) > 0.5
                if "`" not in s and count_words(s) >= (25 if cjk else 12):
                    out.append(s)
                    if len(out) == n:
                        return out
    return out


@pytest.mark.parametrize("lang", list(LANG_SOURCES))
def test_detects_test_corpus_languages(corpora, lang):
    sentences = _sentences(corpora, LANG_SOURCES[lang])
    assert len(sentences) == 30
    assert detect_language(sentences) == [lang] * 30
    # query-length prefixes: 8 words, 15 CJK characters
    short = [s[:15] if lang == "zh" else " ".join(s.split()[:8]) for s in sentences]
    assert sum(code == lang for code in detect_language(short)) >= 28
    assert detectable(lang)


def test_language_codes():
    assert detect_language(["", "1234 §", "Quelles sont les obligations des importateurs ?"]) == [
        None,
        None,
        "fr",
    ]
    assert same_language("zho", "zh") and same_language("no", "nb") and not same_language("da", "nb")
    assert not detectable("ml")  # Malayalam: not among lingua's languages, so in_language stays empty


@pytest.fixture(scope="module")
def en_split(corpora, tmp_path_factory):
    return build_split(corpora, "en", tmp_path_factory.mktemp("diag") / "en")


# Paraphrased questions about Articles 1-9 of the AI Act (the split's slice), written without the articles'
# wording, standing in for real users' questions: each points at every chunk of its article.
PARAPHRASES = {
    "Article 1 —": "What is this law trying to achieve?",
    "Article 2 —": "Does it cover a firm based outside Europe?",
    "Article 4 —": "Must staff be trained to understand the machines they operate?",
    "Article 5 —": "Which kinds of software are banned outright?",
    "Article 6 —": "How do I know whether my product counts as dangerous?",
    "Article 7 —": "Can Brussels add new dangerous use cases later?",
    "Article 9 —": "What must a vendor do about hazards over the product's lifetime?",
}


def test_real_split_ict_far_more_lexical(en_split, tmp_path):
    chunks = io.read_json(en_split / "chunks.json")["chunks"]
    val = io.read_json(en_split / "val.json")
    real = {"queries": {}, "corpus": val["corpus"], "relevant_docs": {}}
    for i, (article, question) in enumerate(PARAPHRASES.items()):
        real["queries"][f"real{i}"] = question
        real["relevant_docs"][f"real{i}"] = [c["id"] for c in chunks if article in c["heading_path"]]
    io.write_json(tmp_path / "real.json", real)
    sets = diagnose_queries(
        en_split / "chunks.json",
        en_split / "val.json",
        en_split / "provenance.json",
        tmp_path / "sets.csv",
        tmp_path / "q.csv",
        real_path=tmp_path / "real.json",
    )
    by_set = {s["set"]: s for s in sets}
    assert set(by_set) == {"ict", "headings", REAL}
    ict, titles, questions = by_set["ict"], by_set["headings"], by_set[REAL]
    assert ict["n"] + titles["n"] == len(val["queries"]) and questions["n"] == len(PARAPHRASES)
    # an ICT query is a sentence of its chunk: all its content words are there, and BM25 finds it
    assert ict["mean_content_share"] == 1.0 and ict["bm25_mrr@10"] > 0.9
    assert ict["mean_content_share"] >= titles["mean_content_share"] + 0.2
    assert ict["mean_content_share"] >= questions["mean_content_share"] + 0.5
    assert ict["bm25_mrr@10"] >= questions["bm25_mrr@10"] + 0.5
    assert ict["mean_length"] > 3 * titles["mean_length"]
    assert ict["in_language"] == 1.0 and questions["in_language"] == 1.0
    assert ict["exact_duplicates"] == ict["near_duplicates"] == 0  # the dataset stage drops repeats
    sentences = lexical_gap_sentences(sets)
    assert any(s.startswith("The ict queries are far more lexical") for s in sentences)


def test_the_report_section_shows_the_csv_numbers(tmp_path):
    """summary.md's "How lexical is each query set" table holds query_sets.csv's numbers, row for row."""
    import pandas as pd

    from embedlab.report.real import SET_COLUMNS, lexical_section

    qa = tmp_path / "results" / "qa" / "c" / "en"
    qa.mkdir(parents=True)
    _write_case(tmp_path)
    diagnose_queries(
        *(tmp_path / n for n in ("chunks.json", "val.json", "provenance.json")),
        qa / "query_sets.csv", qa / "query_sets.queries.csv", real_path=tmp_path / "real.json",
    )  # fmt: skip
    lines = lexical_section([qa / "query_sets.csv"], pd.DataFrame(), pd.DataFrame(), "mrr@10")
    table = [line.split(" | ") for line in lines if line.startswith("| ") and "---" not in line]
    header, *rows = [[cell.strip("| ") for cell in row] for row in table]
    assert header == [name for _, name in SET_COLUMNS]
    for row, csv_row in zip(rows, _read(qa / "query_sets.csv"), strict=True):
        for (column, _), cell in zip(SET_COLUMNS, row, strict=True):
            value = csv_row[column]
            assert cell == value or float(cell) == pytest.approx(float(value), rel=1e-3), (
                column,
                cell,
                value,
            )
    assert any(line.startswith("The ict queries are far more lexical") for line in lines)
