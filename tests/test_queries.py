import pytest

from embedlab import io
from embedlab.data.chunking import ChunkingSettings, chunk_corpus
from embedlab.data.queries import (
    HeadingsGenerator,
    IctGenerator,
    build_dataset,
    generate_queries,
    make_generator,
)
from embedlab.errors import EmbedlabError
from embedlab.report.markdown import skipped_generators
from embedlab.text import count_words

SMALL = ChunkingSettings.default(chunk_size=100, chunk_overlap=10, tokenizer="cl100k_base")
"""Small chunks counted in tiktoken (no model to load)."""


@pytest.fixture(scope="module")
def en_chunks(corpora, tmp_path_factory):
    path = tmp_path_factory.mktemp("q") / "en.json"
    chunk_corpus(corpora / "eu_ai_act" / "EN.md", path, "eu_ai_act", "en")
    return path


@pytest.fixture(scope="module")
def zh_chunks(corpora, tmp_path_factory):
    path = tmp_path_factory.mktemp("q") / "zh.json"
    chunk_corpus(corpora / "securities_law" / "securities_law_2019.md", path, "securities_law", "zh")
    return path


def test_count_words_counts_cjk_characters():
    assert count_words("The AI Act applies.") == 4
    assert count_words("证券交易") == 4
    assert count_words("証券取引とは") == 6 and count_words("증권 거래") == 4  # kana and Hangul too


def test_ict_queries_are_sentences_of_their_chunk_and_positive_drops_them(en_chunks):
    chunks = io.read_json(en_chunks)["chunks"]
    result = IctGenerator().generate(chunks, "en", seed=7)
    by_id = {c["id"]: c for c in chunks}
    assert len(result.queries) > 400
    for q in result.queries[:200]:
        chunk = by_id[q.chunk_ids[0]]["text"]
        assert q.text in " ".join(chunk.split())
        assert q.text not in " ".join(q.positive_text.split())
        assert 6 <= count_words(q.text) <= 60
    again = IctGenerator().generate(chunks, "en", seed=7)
    other = IctGenerator().generate(chunks, "en", seed=8)
    assert [q.text for q in again.queries] == [q.text for q in result.queries]
    assert [q.text for q in other.queries] != [q.text for q in result.queries]


def test_ict_val_draws_extend_the_train_draws(zh_chunks):
    """One seeded order of sentences per chunk: the first draws are the same whatever is drawn after."""
    chunks = io.read_json(zh_chunks)["chunks"]
    one = IctGenerator(keep_sentence_prob=0.5).generate(chunks, "zh", seed=5)
    more = IctGenerator(keep_sentence_prob=0.5, val_queries_per_chunk=3).generate(chunks, "zh", seed=5)
    assert one.draws == {"train": 1, "val": 1} and more.draws == {"train": 1, "val": 3}
    firsts = [(q.id, q.text, q.positive_text) for q in more.queries if q.draw == 0]
    assert firsts == [(q.id, q.text, q.positive_text) for q in one.queries]
    assert {q.draw for q in more.queries} == {0, 1, 2} and len(more.queries) > 2 * len(one.queries)
    by_chunk = {}
    for q in more.queries:
        by_chunk.setdefault(q.chunk_ids[0], []).append(q.text)
    assert all(len(set(texts)) == len(texts) for texts in by_chunk.values())


def test_ict_chinese(zh_chunks):
    chunks = io.read_json(zh_chunks)["chunks"]
    result = IctGenerator(queries_per_chunk=2).generate(chunks, "zh", seed=1)
    assert result.queries and all(
        q.text.endswith(("。", "；", "：", "！", "？")) for q in result.queries[:50]
    )


def test_headings_queries_carry_every_chunk_under_their_heading(en_chunks, zh_chunks):
    chunks = io.read_json(en_chunks)["chunks"]
    result = HeadingsGenerator().generate(chunks, "en", seed=0)
    texts = {q.text: q for q in result.queries}
    q5 = texts["Prohibited AI practices"]
    expected = [c["id"] for c in chunks if c["heading_path"].endswith("Article 5 — Prohibited AI practices")]
    assert q5.chunk_ids == expected and len(expected) > 3
    assert len(result.queries) >= 120  # 113 articles + annexes
    zh = io.read_json(zh_chunks)["chunks"]
    zh_result = HeadingsGenerator().generate(zh, "zh", seed=0)
    ztexts = {q.text for q in zh_result.queries}
    assert {"总则", "一般规定", "禁止的交易行为"} <= ztexts
    for q in zh_result.queries:
        groups = {c["group"] for c in zh if c["id"] in q.chunk_ids}
        assert len(groups) == 1
        assert q.chunk_ids == [c["id"] for c in zh if c["group"] in groups]


def test_unknown_generator():
    with pytest.raises(EmbedlabError, match="unknown query generator 'nope'"):
        make_generator("nope", {})


def test_dataset_loads_with_llamaindex_and_has_provenance(en_chunks, tmp_path):
    from llama_index.finetuning import EmbeddingQAFinetuneDataset

    paths = []
    for gen in ("ict", "headings"):
        paths.append(tmp_path / f"{gen}.json")
        generate_queries(en_chunks, paths[-1], gen, {}, 42)
    build_dataset(en_chunks, paths, tmp_path / "dataset.json", tmp_path / "provenance.json")
    ds = EmbeddingQAFinetuneDataset.from_json(str(tmp_path / "dataset.json"))
    prov = io.read_json(tmp_path / "provenance.json")
    assert set(ds.queries) == set(prov["queries"])
    assert len(ds.corpus) == len(io.read_json(en_chunks)["chunks"])
    kinds = {p["generator"] for p in prov["queries"].values()}
    assert kinds == {"ict", "headings"}
    sample = next(iter(prov["queries"].values()))
    assert {"chunk_ids", "generator", "llm_model", "prompt_hash", "raw_text"} <= set(sample)


def _chunk(cid, headings):
    from embedlab.data.chunking import group_key
    from embedlab.data.outline import Heading

    hs = [Heading(label, title) for label, title in headings]
    return {
        "id": cid,
        "text": "x",
        "source": "a.md",
        "headings": [h.to_json() for h in hs],
        "heading_path": " › ".join(h.display() for h in hs),
        "group": group_key(hs, cid),
    }


def test_repeated_titles_are_qualified_or_dropped():
    chunks = [
        _chunk("a", [("第一章", "发行"), ("第一节", "一般规定")]),
        _chunk("b", [("第二章", "交易"), ("第一节", "一般规定")]),
        _chunk("c", [("Article 1", "Scope")]),
        _chunk("d", [("Article 9", "Scope")]),
        _chunk("e", [("Recital (1)", None)]),
    ]
    result = HeadingsGenerator().generate(chunks, "zh", seed=0)
    assert sorted(q.text for q in result.queries) == ["交易 › 一般规定", "发行 › 一般规定"]
    assert result.stats["headings_dropped_ambiguous"] == 2


def _doc_chunk(cid, source, path, group_depth=2):
    from embedlab.data.chunking import group_key
    from embedlab.data.outline import Heading

    hs = [Heading(label="", title=t) for t in path]
    return {
        "id": cid,
        "text": "x",
        "source": source,
        "headings": [h.to_json() for h in hs],
        "heading_path": " › ".join(h.display() for h in hs),
        "group": f"{source} › {group_key(hs, cid, group_depth)}",
    }


def test_plain_titles_generic_ones_get_their_parent_and_subsections_count():
    chunks = [
        _doc_chunk("s1", "serializers.md", ["Serializers", "Declaring serializers"]),
        _doc_chunk("s2", "serializers.md", ["Serializers", "Declaring serializers", "Example"]),
        _doc_chunk("s3", "serializers.md", ["Serializers", "Validation rules"]),
        _doc_chunk("v1", "views.md", ["Views", "Example"]),
        _doc_chunk("v2", "views.md", ["Views", "Routing requests"]),
        _doc_chunk("o1", "other.md", ["Caching"]),
    ]
    result = HeadingsGenerator().generate(chunks, "en", seed=0)
    by_text = {q.text: q.chunk_ids for q in result.queries}
    assert by_text == {
        "Declaring serializers": ["s1", "s2"],  # its subsection's chunk too
        "Declaring serializers › Example": ["s2"],  # repeated title: qualified by its parent
        "Validation rules": ["s3"],
        "Views › Example": ["v1"],
        "Routing requests": ["v2"],
        "Caching": ["o1"],  # short, but neither repeated nor common: kept as it is
    }
    assert result.stats["headings_dropped_spans_groups"] == 2  # the file titles above their sections
    assert result.stats["headings_qualified_repeated"] == 2


def test_common_titles_are_generic():
    from embedlab.data.headings import title_words

    assert title_words("示例") == title_words("Example") == 1
    assert title_words("认证与授权") == 3
    names = ["alpha", "beta", "gamma"]
    chunks = [_doc_chunk(f"c{n}", f"{n}.md", [f"Topic {n}", f"Usage notes for {n}"]) for n in names]
    chunks += [_doc_chunk("d", "d.md", ["Top", "Usage notes"])]
    result = HeadingsGenerator().generate(chunks, "en", seed=0)
    assert "Top › Usage notes" in {q.text for q in result.queries}
    assert result.stats["headings_qualified_common"] == 1


def test_a_generator_without_queries_is_skipped_with_a_note(tmp_path):
    src = tmp_path / "plain.md"
    src.write_text("One sentence here and some more words. Another sentence follows it here.\n", "utf-8")
    chunks = tmp_path / "chunks.json"
    chunk_corpus(src, chunks, "c", "en", SMALL)
    doc = generate_queries(chunks, tmp_path / "headings.json", "headings", {}, 1)
    assert doc["queries"] == [] and doc["note"] == "no titled headings in this corpus"
    generate_queries(chunks, tmp_path / "ict.json", "ict", {}, 1)
    build_dataset(
        chunks, [tmp_path / "ict.json", tmp_path / "headings.json"], tmp_path / "d.json", tmp_path / "p.json"
    )
    prov = io.read_json(tmp_path / "p.json")
    assert prov["generators"]["headings"]["skipped"] == "no titled headings in this corpus"
    assert "skipped" not in prov["generators"]["ict"]
    # the report's dataset section says so
    assert skipped_generators({("c", "en"): prov}) == [
        "- headings was skipped for c/en: no titled headings in this corpus"
    ]


def test_no_query_from_any_generator_is_one_error(tmp_path):
    src = tmp_path / "short.md"
    src.write_text("Just one sentence.\n\nAnother one.\n", encoding="utf-8")
    chunks = tmp_path / "chunks.json"
    chunk_corpus(src, chunks, "c", "en", SMALL)
    paths = [tmp_path / "ict.json", tmp_path / "headings.json"]
    for gen, path in zip(("ict", "headings"), paths, strict=True):
        generate_queries(chunks, path, gen, {}, 1)
    with pytest.raises(EmbedlabError, match=r"^corpus c/en: no generator made a query \(ict: .*headings: no"):
        build_dataset(chunks, paths, tmp_path / "d.json", tmp_path / "p.json")


def test_empty_markdown_folder_is_one_error(tmp_path):
    (tmp_path / "docs").mkdir()
    with pytest.raises(EmbedlabError, match="no supported documents"):
        chunk_corpus(tmp_path / "docs", tmp_path / "o.json", "c", "en", SMALL)


def test_html_headings_of_any_depth_become_queries(tmp_path):
    page = tmp_path / "guide.html"
    page.write_text(
        "<html><body><h1>Serializers</h1><p>Serializers turn model instances into native data types.</p>"
        "<h2>Declaring serializers</h2><p>A serializer class declares its fields one by one here.</p>"
        "<h3>Example</h3><p>This example declares a comment serializer with three fields.</p>"
        "<h2>Validation rules</h2><p>Validation runs when the data is checked for errors.</p>"
        "<h3>Example</h3><p>This example rejects a comment whose body is empty text.</p>"
        "</body></html>",
        encoding="utf-8",
    )
    chunks = tmp_path / "chunks.json"
    chunk_corpus(page, chunks, "c", "en", SMALL)
    doc = generate_queries(chunks, tmp_path / "headings.json", "headings", {}, 1)
    texts = {q["text"] for q in doc["queries"]}
    assert {"Declaring serializers", "Validation rules"} <= texts
    assert "Declaring serializers › Example" in texts and "Validation rules › Example" in texts  # qualified
    assert "Example" not in texts
