import re

import pytest

from embedlab import io
from embedlab.data.chunking import ChunkingSettings, chunk_corpus, split_sentences, token_counter
from embedlab.errors import EmbedlabError

from conftest import MINILM

SMALL = ChunkingSettings.default(chunk_size=100, chunk_overlap=10, tokenizer="cl100k_base")
"""Small chunks counted in tiktoken (no model to load)."""


def test_split_sentences_round_trips_and_splits_cjk():
    text = "第一条 为了规范。保护投资者；维护秩序！好吗？ It rose 3.5 percent. Next one here!"
    parts = split_sentences(text)
    assert "".join(parts) == text
    assert parts[:4] == ["第一条 为了规范。", "保护投资者；", "维护秩序！", "好吗？ "]
    assert "It rose 3.5 percent. " in parts


def test_cjk_counts_one_token_per_character():
    count = token_counter(MINILM)
    assert len(count("证券交易当事人")) == 7
    assert len(token_counter("cl100k_base")("hello world")) == 2


@pytest.fixture(scope="module")
def zh_chunks(corpora, tmp_path_factory):
    out = tmp_path_factory.mktemp("chunks") / "zh.json"
    return chunk_corpus(
        corpora / "securities_law" / "securities_law_2019.pdf", out, "securities_law", "zh"
    ), out


def test_chinese_pdf_chunks(zh_chunks):
    doc, _ = zh_chunks
    chunks = doc["chunks"]
    assert max(c["n_tokens"] for c in chunks) <= 240
    articles = {
        c["headings"][-1]["label"]
        for c in chunks
        if c["headings"] and c["headings"][-1]["label"].endswith("条")
    }
    assert len(articles) == 226
    for c in chunks:
        assert "\ufffd" not in c["text"]  # no broken characters
        # a chunk ends at a sentence end or at its article's end, never mid-character
        assert c["page"] is not None and 1 <= c["page"] <= 33
    # long articles are split at sentence ends (。；), never in the middle of a sentence
    multi = [c for c in chunks if c["n_tokens"] > 150 and c["headings"]]
    assert multi and all(re.search(r"[。；：！？」]$", c["text"]) for c in multi)
    ids = [c["id"] for c in chunks]
    assert len(set(ids)) == len(ids)


def test_same_input_same_bytes(zh_chunks, corpora, tmp_path):
    _, first = zh_chunks
    again = tmp_path / "zh.json"
    chunk_corpus(corpora / "securities_law" / "securities_law_2019.pdf", again, "securities_law", "zh")
    assert again.read_bytes() == first.read_bytes()


def test_eurlex_chunks_keep_heading_paths_and_fit(corpora, tmp_path):
    doc = chunk_corpus(corpora / "eu_ai_act" / "EN.html", tmp_path / "en.json", "eu_ai_act", "en")
    chunks = doc["chunks"]
    assert max(c["n_tokens"] for c in chunks) <= 240
    art5 = [c for c in chunks if c["heading_path"].endswith("Article 5 — Prohibited AI practices")]
    assert len(art5) > 3 and all(
        c["heading_path"].startswith("CHAPTER II — PROHIBITED AI PRACTICES") for c in art5
    )
    assert {c["group"] for c in art5} == {art5[0]["heading_path"]}
    articles = {c["headings"][-1]["label"] for c in chunks if c["headings"]}
    assert {f"Article {n}" for n in range(1, 114)} <= articles
    assert io.read_json(tmp_path / "en.json")["format"] == "embedlab.chunks/1"


def test_bad_settings_and_empty_corpus(tmp_path):
    src = tmp_path / "a.md"
    src.write_text("# Title\n\n## Only headings\n", encoding="utf-8")
    with pytest.raises(EmbedlabError, match="no extractable text"):
        chunk_corpus(src, tmp_path / "o.json", "c", "en", SMALL)
    src.write_text("Some text.\n", encoding="utf-8")
    with pytest.raises(EmbedlabError, match="chunk_overlap"):
        chunk_corpus(
            src,
            tmp_path / "o.json",
            "c",
            "en",
            ChunkingSettings.default(chunk_size=100, chunk_overlap=100, tokenizer="cl100k_base"),
        )
    with pytest.raises(EmbedlabError, match="no-such-model"):
        chunk_corpus(
            src,
            tmp_path / "o.json",
            "c",
            "en",
            ChunkingSettings.default(
                chunk_size=100, chunk_overlap=10, tokenizer=str(tmp_path / "no-such-model")
            ),
        )
    assert not (tmp_path / "o.json").exists()


def test_japanese_and_korean_sentences_are_split():
    ja = "AIシステムとは何か。提供者は義務を負う！本当ですか？"
    assert split_sentences(ja) == ["AIシステムとは何か。", "提供者は義務を負う！", "本当ですか？"]
    ko = "인공지능 시스템은 위험하다. 제공자는 의무를 진다? 그렇다!"
    assert [s.strip() for s in split_sentences(ko)] == [
        "인공지능 시스템은 위험하다.",
        "제공자는 의무를 진다?",
        "그렇다!",
    ]
    assert "".join(split_sentences(ja)) == ja and "".join(split_sentences(ko)) == ko
