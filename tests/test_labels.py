"""Complete labels by construction: no val query's text sits word for word in a chunk not marked relevant
(whitespace normalised), identical chunks are one chunk, and a model that ranks an overlapping neighbour
holding the query's sentence first scores 1.0."""

import itertools

import numpy as np
import pytest
from prepared_corpora import CORPORA, prepared

from embedlab import io
from embedlab.data.chunking import ChunkingSettings, chunk_corpus, collapse_identical, split_sentences
from embedlab.data.labels import VerbatimIndex
from embedlab.data.queries import TITLE_GENERATORS, IctGenerator, build_dataset
from embedlab.data.split import POSITIVE_SEP
from embedlab.evaluation.metrics import per_query, relevant_ranks, tie_order
from embedlab.text import squash


@pytest.fixture(scope="module", params=sorted(CORPORA))
def run(request, corpora, tmp_path_factory):
    return request.param, prepared(request.param, corpora, tmp_path_factory)


def unlabeled(queries: dict, relevant: dict, texts: dict[str, str], chunk_of=lambda c: c) -> dict[str, list]:
    """qid -> chunks (outside its positives) that hold its text word for word: plain `in`, no index."""
    out = {}
    for qid, text in queries.items():
        own = {chunk_of(c) for c in relevant[qid]}
        hits = [cid for cid, t in texts.items() if cid not in own and squash(text) in t]
        if hits:
            out[qid] = hits
    return out


def test_no_val_query_is_verbatim_in_an_unlabeled_chunk(run):
    name, out = run
    chunks = io.read_json(out / "chunks.json")["chunks"]
    texts = {c["id"]: squash(c["text"]) for c in chunks}
    val, prov = io.read_json(out / "val.json"), io.read_json(out / "provenance.json")["queries"]
    assert len(val["queries"]) >= 70, name
    found = unlabeled(val["queries"], val["relevant_docs"], texts)
    sentences = [q for q in found if prov[q]["generator"] not in TITLE_GENERATORS]
    assert not sentences, (name, [(val["queries"][q], found[q]) for q in sentences[:3]])
    labels = io.read_json(out / "split.json")["labels"]
    assert labels["unlabeled_verbatim"] == 0
    assert labels["title_mentions"] == len(found)  # headings named in passing elsewhere: counted, not labels


def test_train_queries_are_complete_too(run):
    _, out = run
    chunks = io.read_json(out / "chunks.json")["chunks"]
    train, prov = io.read_json(out / "train.json"), io.read_json(out / "provenance.json")["queries"]
    ids = [c["id"] for c in chunks]
    index = VerbatimIndex([c["text"] for c in chunks])
    for qid, text in train["queries"].items():
        if prov[qid]["generator"] in TITLE_GENERATORS:
            continue
        own = {c.split(POSITIVE_SEP)[0] for c in train["relevant_docs"][qid]}
        assert {ids[i] for i in index.containing(text)} <= own, (qid, text)


def test_identical_chunks_are_one_chunk_with_every_location(run):
    name, out = run
    doc = io.read_json(out / "chunks.json")
    chunks = doc["chunks"]
    assert len({squash(c["text"]) for c in chunks}) == len(chunks)
    collapsed = sum(len(c["locations"]) - 1 for c in chunks)
    assert (
        doc["stats"]["duplicates_collapsed"]
        == collapsed
        == io.read_json(out / "split.json")["labels"]["collapsed_duplicates"]
    )
    for c in chunks:
        assert c["locations"][0] == {
            "source": c["source"],
            "page": c["page"],
            "heading_path": c["heading_path"],
        }
    if name == "eu_ai_act_fr":  # the regulation's footnote, "(*) Règlement (UE) 2024/1689 …", 7 times
        (footnote,) = [c for c in chunks if len(c["locations"]) == 7]
        assert footnote["text"].startswith("(*) Règlement (UE) 2024/1689")
        assert len({loc["heading_path"] for loc in footnote["locations"]}) == 7
        assert collapsed >= 6


def test_verbatim_index_normalises_whitespace_and_keeps_case():
    index = VerbatimIndex(["The  Office shall\nreport.", "the office shall report.", "Office shall"])
    assert index.containing("Office shall report.") == [0]
    assert index.containing("office shall") == [1]
    assert index.containing("Office shall") == [0, 2]
    assert index.containing("report. the") == []  # never across two chunks
    assert index.containing("  ") == []


def test_collapse_keeps_the_first_chunk_and_lists_every_location():
    def chunk(cid, text, heading, group):
        return {"id": cid, "text": text, "source": "a.md", "page": None, "headings": [],
                "heading_path": heading, "group": group, "n_tokens": 3}  # fmt: skip

    chunks = [
        chunk("x", "Same  text.", "A", "g1"),
        chunk("y", "Other.", "B", "g2"),
        chunk("z", "Same text.", "C", "g3"),
    ]
    out = collapse_identical(chunks)
    assert [c["id"] for c in out] == ["x", "y"] and out[0]["group"] == "g1"
    assert [loc["heading_path"] for loc in out[0]["locations"]] == ["A", "C"]


def test_overlapping_neighbour_holding_the_sentence_is_relevant(tmp_path):
    """Small chunks with overlap share sentences; ICT never draws one, and a query that is such a sentence
    has both chunks as positives, so a model that ranks the neighbour first scores MRR 1.0."""
    body = " ".join(f"Clause {i} obliges party number {i} to report within {i + 2} days." for i in range(30))
    src = tmp_path / "doc.md"
    src.write_text(f"# Duties\n\n{body}\n", encoding="utf-8")
    chunk_corpus(
        src, tmp_path / "chunks.json", "t", "en", ChunkingSettings.default(chunk_size=48, chunk_overlap=20)
    )
    chunks = io.read_json(tmp_path / "chunks.json")["chunks"]
    shared = [
        (a, b, squash(s))
        for a, b in itertools.pairwise(chunks)
        for s in split_sentences(a["text"])
        if s.strip() and squash(s) in squash(b["text"])
    ]
    assert len(chunks) > 5 and shared
    ict = IctGenerator(queries_per_chunk=10).generate(chunks, "en", seed=3)
    drawn = {q.text for q in ict.queries}
    assert drawn and not drawn & {s for _, _, s in shared}
    assert ict.stats["sentences_skipped_in_other_chunks"] >= len(shared)

    first, neighbour, sentence = shared[0]
    io.write_json(
        tmp_path / "llm.json",
        {"generator": "llm", "settings": {}, "seed": 0, "stats": {},
         "queries": [{"id": "q1", "text": sentence, "chunk_ids": [first["id"]], "generator": "llm"}]},
    )  # fmt: skip
    build_dataset(tmp_path / "chunks.json", [tmp_path / "llm.json"], tmp_path / "d.json", tmp_path / "p.json")
    relevant = io.read_json(tmp_path / "d.json")["relevant_docs"]["q1"]
    assert relevant == [first["id"], neighbour["id"]]
    assert io.read_json(tmp_path / "p.json")["generators"]["llm"]["labels_completed"] == 1

    ids = [c["id"] for c in chunks]
    scores = np.array(
        [[1.0 if cid == neighbour["id"] else 0.5 if cid == first["id"] else 0.0 for cid in ids]]
    )
    ranks = relevant_ranks(np.eye(1), scores.T, [[ids.index(c) for c in relevant]], tie_order(ids))
    assert per_query(ranks, [10])["mrr@10"].tolist() == [1.0]
    only_first = relevant_ranks(np.eye(1), scores.T, [[ids.index(first["id"])]], tie_order(ids))
    assert per_query(only_first, [10])["mrr@10"].tolist() == [0.5]  # the incomplete label it replaces
