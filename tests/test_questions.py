"""Real questions mapped onto chunks of real test documents: quotes (across a chunk boundary, after PDF
hyphenation), numbered units in EN/ZH/DE, headings, files and pages of a folder corpus, every unmappable
reason, and the shipped AI Act questions."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest

from embedlab import io
from embedlab.data.chunking import chunk_corpus
from embedlab.data.question_files import QuestionSource, read_questions
from embedlab.data.questions import (
    REASONS,
    Label,
    Question,
    map_questions,
    prepare_questions,
    unit_key,
)
from embedlab.errors import EmbedlabError
from embedlab.text import loose

from conftest import REPO

AI_ACT_QA = REPO / "data" / "corpora" / "eu_ai_act" / "questions" / "qa_pairs.json"


@pytest.fixture(scope="module")
def chunked(corpora: Path, tmp_path_factory):
    """name -> chunk file of a real test document (chunked once per module)."""
    out = tmp_path_factory.mktemp("chunks")
    done: dict[str, Path] = {}

    def get(name: str, rel: str, corpus: str, lang: str) -> Path:
        if name not in done:
            done[name] = out / f"{name}.json"
            chunk_corpus(corpora / rel, done[name], corpus, lang)
        return done[name]

    return get


def _chunks(path: Path) -> list[dict]:
    return io.read_json(path)["chunks"]


SPLIT = {"val_fraction": 0.2, "seed": 42}


def _outputs(folder: Path) -> tuple[Path, Path, Path]:
    """prepare_questions' real.json, real.mapping.json, real.train.json."""
    return folder / "real.json", folder / "real.mapping.json", folder / "real.train.json"


def _q(text: str, *labels: Label) -> Question:
    return Question(f"real.{abs(hash(text)) % 10**6}", text, labels, (1,))


def _under(chunks: list[dict], label: str) -> set[str]:
    return {c["id"] for c in chunks if any(h.get("label") == label for h in c["headings"])}


def test_unit_keys_are_language_free():
    assert unit_key("Article 50") == ("article", "50")
    assert unit_key("第五十条") == unit_key("第50条") == ("第条", "50")
    assert unit_key("§ 3.2") == ("§", "3.2")
    assert unit_key("Artikel 5") == ("artikel", "5")
    assert unit_key("CHAPTER III") == ("chapter", "3")
    assert unit_key("Recital (60)") == ("recital", "60")
    assert unit_key("50") == (None, "50")
    assert unit_key("What is the purpose of the act?") is None


def test_numbered_units_in_english_and_chinese(chunked):
    en = _chunks(chunked("en", "eu_ai_act/EN.html", "eu_ai_act", "en"))
    zh = _chunks(chunked("zh", "securities_law/securities_law_2019.pdf", "securities_law", "zh"))
    article_50 = _under(en, "Article 50")
    assert article_50
    questions = [
        _q("What are the transparency obligations?", Label("unit", "Article 50")),
        _q("Which obligations apply to deep fakes?", Label("unit", "50")),  # a bare number: the articles
        _q("Which recital explains deep fakes?", Label("unit", "Recital (134)")),
    ]
    relevant, unmapped, stats = map_questions(questions, en)
    assert not unmapped and stats["series"] == "article"
    assert set(relevant[questions[0].id]) == set(relevant[questions[1].id]) == article_50
    assert set(relevant[questions[2].id]) == _under(en, "Recital (134)")
    zh_q = [
        _q("证券交易场所的职责是什么？", Label("unit", "第九十六条")),
        _q("信息披露", Label("unit", "第78条")),
    ]
    relevant, unmapped, stats = map_questions(zh_q, zh)
    assert not unmapped and stats["series"] == "第条"
    assert set(relevant[zh_q[0].id]) == _under(zh, "第九十六条")
    assert set(relevant[zh_q[1].id]) == _under(zh, "第七十八条")


def test_numbered_units_in_german(tmp_path, corpora):
    """German paragraphs of the test corpora under "Artikel N" headings: the series is the German word."""
    paragraphs = [
        p
        for p in (corpora / "de_docs/advanced/settings.md").read_text(encoding="utf-8").split("\n\n")
        if len(p) > 200 and p[0].isalpha()
    ][:6]
    assert len(paragraphs) == 6
    doc = "\n\n".join(f"## Artikel {i} — Abschnitt {i}\n\n{p}" for i, p in enumerate(paragraphs, 1))
    (tmp_path / "gesetz.md").write_text("# Gesetz\n\n" + doc, encoding="utf-8")
    chunk_corpus(tmp_path / "gesetz.md", tmp_path / "de.json", "gesetz", "de")
    chunks = _chunks(tmp_path / "de.json")
    q = [_q("Wie lese ich Einstellungen?", Label("unit", "Artikel 3")), _q("Wo?", Label("unit", "5"))]
    relevant, unmapped, _ = map_questions(q, chunks)
    assert not unmapped
    assert {paragraphs[2][:40] in c["text"] for c in chunks if c["id"] in relevant[q[0].id]} == {True}
    assert {paragraphs[4][:40] in c["text"] for c in chunks if c["id"] in relevant[q[1].id]} == {True}


def test_quotes_survive_case_line_breaks_and_pdf_hyphenation(chunked):
    chunks = _chunks(chunked("nist", "report_pdf/NIST.SP.800-207-ZeroTrustArchitecture.pdf", "nist", "en"))
    chunk = next(c for c in chunks if re.search(r"\b[a-z]{12,}\b", c["text"]) and len(c["text"]) > 600)
    word = re.search(r"\b[a-z]{12,}\b", chunk["text"]).group(0)
    start = chunk["text"].index(word)
    quote = chunk["text"][max(0, start - 60) : start + len(word) + 60]
    broken = (
        quote.replace(word, f"{word[:5]}-\n{word[5:]}").upper().replace(" ", "\n  ")
    )  # as copied from a PDF
    relevant, unmapped, _ = map_questions([_q("q", Label("quote", broken))], chunks)
    assert not unmapped and chunk["id"] in next(iter(relevant.values()))
    holders = {c["id"] for c in chunks if loose(quote) in loose(c["text"])}
    assert set(next(iter(relevant.values()))) == holders


def test_a_quote_across_a_chunk_boundary_labels_both(chunked):
    chunks = _chunks(chunked("en_md", "eu_ai_act/EN.md", "eu_ai_act", "en"))
    for a, b in itertools.pairwise(chunks):
        la, lb = loose(a["text"]), loose(b["text"])
        if a["source"] != b["source"] or len(la) < 400 or len(lb) < 400 or lb[:40] not in la:
            continue
        overlap = len(la) - la.rfind(lb[:40])
        quote_loose = la[-overlap - 30 :] + lb[overlap : overlap + 30]
        if any(quote_loose in loose(c["text"]) for c in chunks):
            continue
        break
    else:
        pytest.fail("no overlapping neighbours in the test text")
    # the quote in the document's own words: from before the overlap to the end of `a`, then `b` past it
    past = next(i for i in range(len(b["text"]) + 1) if len(loose(b["text"][:i])) == overlap)
    start = next(i for i in range(len(a["text"]), -1, -1) if len(loose(a["text"][i:])) >= overlap + 30)
    quote = a["text"][start:] + " " + b["text"][past : past + 80]
    relevant, unmapped, _ = map_questions([_q("q", Label("quote", quote))], chunks)
    assert not unmapped and next(iter(relevant.values())) == [a["id"], b["id"]]


def test_headings_files_and_pages_of_folder_corpora(chunked):
    zta, guide = "NIST.SP.800-207-ZeroTrustArchitecture.pdf", "api-guide/serializers.md"
    docs = _chunks(chunked("product_docs", "product_docs", "product_docs", "en"))
    title = next(h["title"] for c in docs for h in c["headings"] if h.get("title") == "ModelSerializer")
    under = {c["id"] for c in docs if any(h.get("title") == title for h in c["headings"])}
    # a chunk also found in another file (collapsed duplicates) counts where it occurs: its locations
    serializers = {
        c["id"] for c in docs for loc in c["locations"] if loc["source"] == "api-guide/serializers.md"
    }
    reports = _chunks(chunked("report_pdf", "report_pdf", "report_pdf", "en"))
    page_10 = {
        c["id"]
        for c in reports
        if c["source"] == "NIST.SP.800-207-ZeroTrustArchitecture.pdf" and c["page"] == 10
    }
    q = [
        _q("How do I use ModelSerializer?", Label("section", "modelserializer")),
        _q("Where are serializers documented?", Label("file", guide)),
        _q("What is on page 10?", Label("file", zta, page=10)),
    ]
    relevant, unmapped, _ = map_questions(q[:2], docs)
    assert not unmapped
    assert set(relevant[q[0].id]) == under and under < serializers
    assert set(relevant[q[1].id]) == serializers
    relevant, unmapped, _ = map_questions(q[2:], reports)
    assert not unmapped and page_10 and set(relevant[q[2].id]) == page_10


def test_every_unmappable_reason_is_counted_and_listed(chunked):
    chunks = _chunks(chunked("en", "eu_ai_act/EN.html", "eu_ai_act", "en"))
    q = {
        "no_label": _q("A question without a label?"),
        "wrong_language": _q("这是什么？", Label("unit", "Article 5")),
        "quote_not_found": _q("q1", Label("quote", "this sentence is nowhere in the regulation at all")),
        "section_not_found": _q("q2", Label("section", "A heading that does not exist")),
        "unit_not_found": _q("q3", Label("unit", "Article 999")),
        "file_not_found": _q("q4", Label("file", "missing.pdf")),
        "chunk_not_found": _q("q5", Label("chunk", "eu_ai_act.en.0000000000")),
    }
    assert set(q) == set(REASONS)
    relevant, unmapped, stats = map_questions(list(q.values()), chunks, language_ok=lambda t: "这" not in t)
    assert not relevant
    assert {u["id"]: u["reason"] for u in unmapped} == {v.id: k for k, v in q.items()}
    assert stats["unmapped_by_reason"] == dict.fromkeys(sorted(REASONS), 1)


def test_rows_labels_and_columns(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_text(
        "Question,Article,Evidence\n"
        "What is prohibited?,5;6,\n"
        "What is prohibited?,7,\n"
        "Who is a provider?,,the natural or legal person\n",
        encoding="utf-8",
    )
    questions, facts = read_questions(QuestionSource(file=str(path)), path)
    assert facts["question_column"] == "Question"
    assert facts["label_columns"] == {"Evidence": "quote", "Article": "unit"}
    assert facts["merged_rows"] == 1 and len(questions) == 2
    assert [lab.value for lab in questions[0].labels] == ["5", "6", "7"] and questions[0].rows == (1, 2)
    with pytest.raises(EmbedlabError, match=r"no question column 'Frage'") as err:
        read_questions(QuestionSource(file=str(path), question="Frage"), path)
    assert "\n" not in str(err.value)
    records = tmp_path / "qa.jsonl"
    records.write_text(json.dumps({"q": "Why?", "chunk_ids": ["a", "b"]}) + "\n", encoding="utf-8")
    questions, facts = read_questions(QuestionSource(file=str(records)), records)
    assert questions[0].labels == (Label("chunk", "a"), Label("chunk", "b"))


def test_a_file_whose_labels_mostly_fail_stops_with_one_line(tmp_path, chunked):
    path = tmp_path / "qa.json"
    path.write_text(json.dumps([{"question": f"Question {i}?", "section": f"nowhere {i}"} for i in range(5)]))
    with pytest.raises(EmbedlabError, match=r"only 0 of 5 questions map.*section \(section\)") as err:
        prepare_questions(
            {"file": str(path)}, path, chunked("en", "eu_ai_act/EN.html", "eu_ai_act", "en"),
            *_outputs(tmp_path), **SPLIT,
        )  # fmt: skip
    assert "\n" not in str(err.value) and not (tmp_path / "real.json").exists()


def test_the_shipped_ai_act_questions_map_as_labelled(tmp_path, chunked):
    """>= 130 of 137 mapped; the two known-wrong labels (item 43 -> 63, item 100 -> 12) are kept as given."""
    chunks_path = chunked("en", "eu_ai_act/EN.html", "eu_ai_act", "en")
    mapping = prepare_questions(
        {"file": str(AI_ACT_QA), "labels": {"relevant_article": "unit"}},
        AI_ACT_QA,
        chunks_path, *_outputs(tmp_path), **SPLIT,
    )  # fmt: skip
    assert mapping["rows"] == 137 and mapping["merged_rows"] == 2
    assert mapping["stats"]["mapped"] >= 130 and mapping["stats"]["series"] == "article"
    placement = mapping["stats"]["placement"]
    assert placement == {"training": "shared", "evaluated": mapping["stats"]["mapped"], "trained_on": 0}
    assert io.read_json(tmp_path / "real.train.json")["queries"] == {}
    real = io.read_json(tmp_path / "real.json")
    chunks = _chunks(chunks_path)
    assert set(real["corpus"]) == {c["id"] for c in chunks}
    items = json.loads(AI_ACT_QA.read_text(encoding="utf-8"))["data"]
    by_text = {text: qid for qid, text in real["queries"].items()}
    for item, article in ((items[43], 63), (items[100], 12)):  # the README's 0-based items
        assert item["relevant_article"] == article
        qid = by_text[" ".join(item["question"].split())]  # question texts are whitespace-normalised
        assert set(real["relevant_docs"][qid]) == _under(chunks, f"Article {article}")


def test_a_spreadsheet_of_questions(tmp_path):
    """.xlsx (extra office): the same columns and labels as a CSV."""
    import pandas as pd

    path = tmp_path / "faq.xlsx"
    pd.DataFrame(
        {"Query": ["Who is a deployer?", "Who is a deployer?"], "Section": ["Article 3", "Definitions"]}
    ).to_excel(path, index=False)
    questions, facts = read_questions(QuestionSource(file=str(path)), path)
    assert facts["question_column"] == "Query" and facts["label_columns"] == {"Section": "section"}
    assert len(questions) == 1 and [lab.value for lab in questions[0].labels] == ["Article 3", "Definitions"]


def test_only_questions_confidently_in_another_language_are_refused():
    """lingua's top guess for short technical English can be Dutch: a person's question is refused only when
    the detector is confident it is another language."""
    from embedlab.data.questions import question_languages

    texts = {
        "How do I add a login link to the browsable API?": True,  # lingua's top guess: Dutch at 0.15
        "What is the primary purpose of the AI Regulation?": True,
        "这部法规的主要目的是什么？": False,
        "Welche Pflichten haben die Anbieter von Hochrisiko-KI-Systemen?": False,
    }
    questions = [Question(f"real.{i}", t, (), (i,)) for i, t in enumerate(texts, 1)]
    assert question_languages(questions, "en") == texts
