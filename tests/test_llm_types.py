"""Question types and personas of the `llm` generator (issue 26 item 1), through the stand-in LLM server on
chunks of the test corpora: every type and persona reaches the prompt and the provenance, the draw is
seeded per chunk, the checkpoint resumes per chunk prompt, and the report scores each type."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml
from llm_server import FakeLLMServer
from test_llm_queries import FAST, chunk_files, chunks  # noqa: F401  (fixtures: chunks of real text)

from embedlab import io
from embedlab.data.chunking import ChunkingSettings, chunk_corpus
from embedlab.data.llm.cleaning import QUESTION_END
from embedlab.data.llm.generation import LlmGenerator, generate_llm_queries
from embedlab.data.llm.prompts import (
    DEFAULT_PROMPTS,
    PERSONA_LINE,
    TYPE_INSTRUCTIONS,
    chunk_prompt,
    prompt_hash,
    reminded,
    type_instructions,
)
from embedlab.data.queries import build_dataset
from embedlab.data.split import split_dataset
from embedlab.errors import EmbedlabError
from embedlab.report.markdown import generator_section
from embedlab.workflow.config import validate_config
from embedlab.workflow.plan import Plan

from conftest import CORPORA, REPO

TYPES = {"specific": 1.0, "abstract": 1.0, "keyword": 1.0, "comparison": 1.0}
SHARES = {"specific": 3.0, "keyword": 1.0}
PERSONAS = ["a compliance officer at a bank", "a new developer"]


@pytest.fixture
def server():
    with FakeLLMServer() as srv:
        yield srv


def _prompts(server: FakeLLMServer) -> list[str]:
    return [b["messages"][-1]["content"] if "messages" in b else b["prompt"] for b in server.bodies]


def test_each_type_and_persona_reaches_the_prompt_and_the_provenance(tmp_path, server, chunk_files, chunks):  # noqa: F811
    settings = {"provider": "ollama", "base_url": server.url, "types": TYPES, "personas": PERSONAS, **FAST}
    out, report = tmp_path / "llm.json", tmp_path / "llm.report.json"
    doc = generate_llm_queries(chunk_files["en"], out, report, tmp_path / "c.jsonl", settings, 42)
    asked = _prompts(server)
    by_chunk = {c["id"]: c["text"] for c in chunks["en"]}
    assert len(asked) == len(by_chunk)
    for name in TYPES:
        assert any(TYPE_INSTRUCTIONS[name] in p for p in asked), name
    for persona in PERSONAS:
        assert any(PERSONA_LINE.replace("{persona}", persona) in p for p in asked), persona
    assert all("Write them in English." in p for p in asked)  # the language, named by langcodes

    # each question records what its own chunk's prompt asked for
    queries = doc["queries"]
    assert {q["query_type"] for q in queries} == set(TYPES) and {q["persona"] for q in queries} == set(
        PERSONAS
    )
    for q in queries:
        prompt = next(p for p in asked if by_chunk[q["chunk_ids"][0]] in p)
        assert TYPE_INSTRUCTIONS[q["query_type"]] in prompt
        assert PERSONA_LINE.replace("{persona}", q["persona"]) in prompt
        template = chunk_prompt(DEFAULT_PROMPTS["en"], "en", q["chunk_ids"][0], 42,
                                TYPE_INSTRUCTIONS, TYPES, PERSONAS).template  # fmt: skip
        assert q["prompt_hash"] == prompt_hash(template)
    keyword = [q["text"] for q in queries if q["query_type"] == "keyword"]
    assert keyword and not any(t.endswith(QUESTION_END) for t in keyword)  # search queries are kept as such

    rep = io.read_json(report)
    kept = Counter(q["query_type"] for q in queries)
    assert {t: v["queries"] for t, v in rep["types"].items()} == {t: kept[t] for t in TYPES}
    assert sum(v["chunks"] for v in rep["types"].values()) == len(by_chunk)
    assert sum(v["chunks"] for v in rep["personas"].values()) == len(by_chunk)

    build_dataset(chunk_files["en"], [out], tmp_path / "ds.json", tmp_path / "prov.json")
    prov = io.read_json(tmp_path / "prov.json")["queries"]
    assert {qid: p["query_type"] for qid, p in prov.items()} == {q["id"]: q["query_type"] for q in queries}
    assert {qid: p["persona"] for qid, p in prov.items()} == {q["id"]: q["persona"] for q in queries}


def _draw(chunk_id: str, seed: int = 7):
    return chunk_prompt("{context_str}", "pl", chunk_id, seed, TYPE_INSTRUCTIONS, SHARES, [])


def test_the_draw_is_seeded_per_chunk_and_follows_the_shares():
    ids = [f"doc.en.{i:04d}" for i in range(2000)]
    draw = [_draw(c) for c in ids]
    share = sum(d.query_type == "specific" for d in draw) / len(ids)
    assert 0.72 < share < 0.78  # 3:1
    assert all("Write them in Polish." in d.template for d in draw)
    again = chunk_prompt(
        "{context_str}", "pl", ids[5], 7, TYPE_INSTRUCTIONS, {"specific": 3.0, "keyword": 1.0}, []
    )
    assert again == draw[5]  # the chunk alone decides: other chunks never shift its draw
    other = [_draw(c, seed=8) for c in ids[:200]]
    assert [d.query_type for d in other] != [d.query_type for d in draw[:200]]  # the seed matters
    plain = chunk_prompt("T {context_str}", "en", ids[0], 7, {}, {}, [])
    assert plain.template == "T {context_str}" and plain.query_type is None and plain.persona is None


def test_a_custom_type_needs_an_instruction():
    assert type_instructions({"procedure": 1.0}, {"procedure": "Ask how to do a step."}) == {
        "procedure": "Ask how to do a step."
    }
    with pytest.raises(EmbedlabError, match=r"generators\.llm\.types\.procedure.*type_prompts\.procedure"):
        type_instructions({"procedure": 1.0}, {})
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["generators"]["llm"] = {"types": {"keyword": 1.0, "procedure": 1.0}}
    with pytest.raises(EmbedlabError, match=r"^config error at generators\.llm\.types\.procedure: "):
        Plan.of(validate_config(config, REPO), REPO)  # before any job runs
    config["generators"]["llm"] = {"types": {"keyword": 0}}
    with pytest.raises(EmbedlabError, match="types"):  # the schema: a share is positive
        validate_config(config, REPO)


def test_resume_asks_only_the_chunks_whose_prompt_changed(tmp_path, server, chunks):  # noqa: F811
    chunk_list = chunks["en"][:8]
    base = {"provider": "ollama", "base_url": server.url, "checkpoint": str(tmp_path / "c.jsonl"), **FAST}
    LlmGenerator(**base, types={"specific": 1.0}).generate(chunk_list, "en", 42)
    assert server.total() == 8
    LlmGenerator(**base, types={"specific": 1.0}).generate(chunk_list, "en", 42)
    assert server.total() == 8  # all answered already
    mixed = LlmGenerator(**base, types={"specific": 1.0, "keyword": 1.0})
    mixed.generate(chunk_list, "en", 42)
    drew_keyword = sum(a.query_type == "keyword" for a in mixed.asks.values())
    assert 0 < drew_keyword < 8 and server.total() == 8 + drew_keyword  # chunks that kept `specific` resume


def test_a_re_asked_typed_chunk_keeps_its_type(tmp_path, chunks):  # noqa: F811
    with FakeLLMServer(style="wrong_language") as srv:
        gen = LlmGenerator(provider="ollama", base_url=srv.url, types={"abstract": 1.0}, **FAST)
        result = gen.generate(chunks["en"][:4], "en", 42)
        assert gen.reasked and all(q.query_type == "abstract" for q in result.queries)
        again = [p for p in _prompts(srv) if "Write every question in English only" in p]
        assert len(again) == len(gen.reasked) and all(TYPE_INSTRUCTIONS["abstract"] in p for p in again)
        assert reminded(gen.asks[sorted(gen.reasked)[0]].template, "en").endswith("the context above.\n")


def test_the_report_scores_each_llm_question_type():
    per_query = pd.DataFrame({"mrr@10": [1.0, 0.5, 0.0, 1.0]}, index=["q1", "q2", "q3", "q4"])
    prov = {("c", "en"): {"queries": {
        "q1": {"generator": "llm", "query_type": "keyword"},
        "q2": {"generator": "llm", "query_type": "keyword"},
        "q3": {"generator": "llm", "query_type": "abstract"},
        "q4": {"generator": "ict"},
    }}}  # fmt: skip
    mono = pd.DataFrame([{"model": "m", "corpus": "c", "lang": "en"}])
    lines = "\n".join(generator_section(mono, {("m", "c", "en"): per_query}, prov, "mrr@10"))
    assert "| c | en | m | llm · keyword | 0.750 | 2 |" in lines
    assert "| c | en | m | llm · abstract | 0.000 | 1 |" in lines
    assert "| c | en | m | ict | 1.000 | 1 |" in lines


@pytest.fixture(scope="module")
def articles(tmp_path_factory) -> Path:
    """Chunks of articles 8-21 of the AI Act (real text, test corpora): several groups, most of several
    chunks."""
    root = tmp_path_factory.mktemp("articles")
    lines = (CORPORA / "eu_ai_act/EN.md").read_text(encoding="utf-8").split("\n")
    part = root / "EN.md"
    part.write_text("\n".join(lines[:1] + lines[756:1060]), encoding="utf-8")
    settings = ChunkingSettings.default(chunk_size=200, chunk_overlap=0, tokenizer="cl100k_base")
    chunk_corpus(part, root / "en.json", "eu_ai_act", "en", settings)
    return root / "en.json"


def test_multi_hop_questions_read_a_chunk_with_the_next_in_its_group_and_keep_to_one_side(
    tmp_path, server, articles
):
    settings = {"provider": "ollama", "base_url": server.url, "types": {"multi_hop": 1.0}, **FAST}
    out = tmp_path / "llm.json"
    doc = generate_llm_queries(articles, out, tmp_path / "r.json", tmp_path / "c", settings, 42)
    chunk_list = io.read_json(articles)["chunks"]
    order = [c["id"] for c in chunk_list]
    group = {c["id"]: c["group"] for c in chunk_list}
    text = {c["id"]: c["text"] for c in chunk_list}
    nxt = dict(zip(order, [*order[1:], None], strict=True))
    last_in_group = {cid for cid in order if group.get(nxt[cid]) != group[cid]}
    assert 3 < len(last_in_group) < len(order)  # several groups, several chunks in most
    asked = _prompts(server)
    hops = [q for q in doc["queries"] if q["query_type"] == "multi_hop"]
    assert hops and all(q["chunk_ids"][0] not in last_in_group for q in hops)
    for q in hops:
        first, second = q["chunk_ids"]  # multi_hop_chunks 2: the chunk and the next one, same group
        assert order.index(second) == order.index(first) + 1 and group[first] == group[second]
        prompt = next(p for p in asked if f"Passage 1:\n{text[first]}\n\nPassage 2:" in p)
        assert f"Passage 2:\n{text[second]}" in prompt
        assert TYPE_INSTRUCTIONS["multi_hop"] in prompt
    alone = [q for q in doc["queries"] if q["chunk_ids"][0] in last_in_group]
    assert alone and all(q["query_type"] is None and len(q["chunk_ids"]) == 1 for q in alone)  # no other type

    build_dataset(articles, [out], tmp_path / "ds.json", tmp_path / "prov.json")
    files = [tmp_path / f for f in ("ds.json", "prov.json", "train.json", "val.json", "split.json")]
    report = split_dataset(articles, *files, 0.3, 42)
    assert report["queries"]["dropped_straddling"] == 0
    placed = 0
    for side in ("train", "val"):
        ds = io.read_json(tmp_path / f"{side}.json")
        for q in hops:
            if q["id"] in ds["queries"]:
                placed += 1
                assert all(report["side"][c] == side for c in q["chunk_ids"])
                assert set(q["chunk_ids"]) <= set(ds["relevant_docs"][q["id"]])  # both are positives
    assert placed == len(hops)
