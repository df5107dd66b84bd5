"""The `llm` generator against a local fake server (tests/llm_server.py) with the real llama-index clients:
every provider end to end on real chunks, resume after a kill, each fault, cleaning, and secrets."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from embedlab import io
from embedlab.data.chunking import ChunkingSettings, chunk_corpus
from embedlab.data.llm.checkpoint import Checkpoint
from embedlab.data.llm.cleaning import DROP_REASONS, cjk_ratio, clean_reply, language_ok, unwrap
from embedlab.data.llm.generation import LlmGenerator, generate_llm_queries
from embedlab.data.llm.prompts import DEFAULT_PROMPTS, GENERIC_PROMPT, prompt_hash, reminded
from embedlab.data.llm.providers import parse_retry_after, redact, uses_gpu
from embedlab.data.queries import build_dataset, make_generator
from embedlab.errors import EmbedlabError
from embedlab.workflow.config import validate_config

sys.path.insert(0, str(Path(__file__).parent))
from llm_server import FakeLLMServer, prompt_key

from conftest import CORPORA

REPO = Path(__file__).resolve().parents[1]
KEY = "sk-test-7f3a9c1e5b2d8f4a6c0e9b7d"
SLICES = {  # real text: the AI Act's recitals in EN and FR, the securities law's first chapters
    "en": ("eu_ai_act", "eu_ai_act/EN.md", 180, 260),
    "fr": ("eu_ai_act", "eu_ai_act/FR.md", 180, 260),
    "zh": ("securities_law", "securities_law/securities_law_2019.md", 14, 90),
}
FAST = {"timeout_s": 0.5, "backoff_initial_s": 0.01, "backoff_max_s": 0.05, "progress": False}


@pytest.fixture(scope="module")
def chunk_files(tmp_path_factory) -> dict[str, Path]:
    """Chunk files (docs/formats.md) made by the real chunker from slices of the test corpora."""
    if not (CORPORA / "SOURCES.md").is_file():
        pytest.fail(f"test corpora not found at {CORPORA}")
    root = tmp_path_factory.mktemp("chunks")
    files = {}
    for lang, (corpus, src, start, end) in SLICES.items():
        lines = (CORPORA / src).read_text(encoding="utf-8").split("\n")
        part = root / lang / Path(src).name
        part.parent.mkdir()
        part.write_text("\n".join(lines[:1] + lines[start:end]), encoding="utf-8")
        files[lang] = root / f"{lang}.json"
        chunk_corpus(
            part,
            files[lang],
            corpus,
            lang,
            ChunkingSettings.default(chunk_size=300, chunk_overlap=0, tokenizer="cl100k_base"),
        )
    return files


@pytest.fixture(scope="module")
def chunks(chunk_files) -> dict[str, list[dict]]:
    return {lang: io.read_json(path)["chunks"] for lang, path in chunk_files.items()}


@pytest.fixture
def server():
    with FakeLLMServer() as srv:
        yield srv


def provider_settings(provider: str, srv: FakeLLMServer) -> dict:
    if provider == "ollama":
        return {"provider": "ollama", "base_url": srv.url}
    if provider == "openai":
        return {"provider": "openai", "model": "gpt-3.5-turbo-0125", "base_url": srv.url + "/v1"}
    if provider == "openai_like":
        return {"provider": "openai_like", "model": "qwen2-7b-instruct", "base_url": srv.url + "/v1"}
    return {
        "provider": "openai_like",
        "model": "qwen2-7b-instruct",
        "base_url": srv.url + "/v1",
        "is_chat_model": False,
    }


ENDPOINTS = {
    "ollama": "/api/chat",
    "openai": "/v1/chat/completions",
    "openai_like": "/v1/chat/completions",
    "openai_like_completions": "/v1/completions",
}


# ---------------------------------------------------------------- end to end, every provider, real chunks


@pytest.mark.parametrize("provider", list(ENDPOINTS))
def test_each_provider_end_to_end(provider, server, chunks, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    chunk_list = chunks["en"][:10]
    gen = LlmGenerator(**provider_settings(provider, server), seed=7, temperature=0.3, max_tokens=123, **FAST)
    result = gen.generate(chunk_list, "en", 42)

    assert server.paths[ENDPOINTS[provider]] == len(chunk_list)
    assert sorted(server.counts.values()) == [1] * len(chunk_list)  # one request per chunk
    ids = {c["id"] for c in chunk_list}
    assert result.stats["chunks_answered"] == len(chunk_list) and result.stats["chunks_failed"] == 0
    assert 10 <= len(result.queries) <= 2 * len(chunk_list)
    for q in result.queries:
        assert q.generator == "llm" and q.chunk_ids[0] in ids and q.id.startswith(f"llm.{q.chunk_ids[0]}.")
        assert q.llm_model.endswith(gen.model or ("qwen2:7b-instruct-q4_0" if provider == "ollama" else ""))
        assert q.prompt_hash == hashlib.sha256(DEFAULT_PROMPTS["en"].encode()).hexdigest()
        assert q.raw_text and q.text[:30] in q.raw_text
        assert q.text.endswith("?") and not q.text[0].isdigit() and not q.text.startswith(("-", '"', "*"))
        assert "Here are" not in q.text and "Answer" not in q.text
    # the generation options reach the server, in each protocol's own words
    body = server.bodies[-1]
    if provider == "ollama":
        assert body["options"]["temperature"] == 0.3 and body["options"]["seed"] == 7
        assert body["options"]["num_predict"] == 123 and body["options"]["num_ctx"] == 4096
        assert body["stream"] is False
    else:
        assert body["temperature"] == 0.3 and body["seed"] == 7 and body["max_tokens"] == 123
    prompt = body["messages"][-1]["content"] if "messages" in body else body["prompt"]
    assert "Teacher/ Professor" in prompt and "setup 2 questions" in prompt


@pytest.mark.parametrize("lang", ["fr", "zh"])
def test_questions_in_the_corpus_language(lang, server, chunks):
    chunk_list = chunks[lang][:8]
    gen = LlmGenerator(provider="ollama", base_url=server.url, **FAST)
    result = gen.generate(chunk_list, lang, 42)
    prompt = server.bodies[0]["messages"][-1]["content"]
    assert ("请用中文提问" if lang == "zh" else "Rédige les questions en français") in prompt
    assert len(result.queries) >= len(chunk_list)
    for q in result.queries:
        assert language_ok(q.text, lang), q.text
        assert q.text.endswith(("?", "？"))
        if lang == "zh":
            assert cjk_ratio(q.text) > 0.8 and not q.text.startswith(("以下", "问题", "答"))
        else:
            assert not q.text.startswith(("Voici", "Réponse", "*", "«"))


def test_generic_prompt_for_a_language_without_a_tuned_one(server, chunks):
    """Polish has no tuned prompt: the generic one asks for questions in Polish (name from langcodes)."""
    gen = LlmGenerator(provider="ollama", base_url=server.url, **FAST)
    result = gen.generate(chunks["en"][:4], "pl", 42)
    prompts = [body["messages"][-1]["content"] for body in server.bodies]  # concurrent: any order
    assert len(prompts) == 4
    assert all("Write the questions in Polish, the language of the context." in p for p in prompts)
    assert all("setup 2 questions" in p for p in prompts)
    assert any(chunks["en"][0]["text"][:60] in p for p in prompts)
    template = GENERIC_PROMPT.replace("{language_name}", "Polish")
    assert {q.prompt_hash for q in result.queries} == {prompt_hash(template)} and result.queries
    assert all(language_ok(q.text, "pl") for q in result.queries)  # the stand-in answers in Polish
    # tuned prompts keep their text, so their hashes (and checkpoints) stay valid
    assert gen.template("en") == DEFAULT_PROMPTS["en"] and gen.template("zh") == DEFAULT_PROMPTS["zh"]
    assert LlmGenerator(prompts={"pl": "Pytania: {context_str}"}).template("pl") == "Pytania: {context_str}"


@pytest.mark.parametrize(
    ("lang", "stubborn"),
    [
        ("en", False),
        ("en", True),
        ("zh", True),
        ("pl", True),
        ("de", False),
        ("de", True),
        ("ja", False),
        ("ja", True),
    ],
)
def test_a_reply_in_another_language_is_asked_once_more_then_dropped_and_counted(
    tmp_path, chunks, lang, stubborn
):
    """Each chunk's reply has a line in another language (French in English, English in the others; Polish,
    German and Japanese questions about English chunks, asked for by the generic prompt):
    the chunk is asked again with the language reminder, once; a model that listens then gives two questions
    in the language, one that does not loses the line for good (dropped and counted)."""
    chunk_list, ckpt = chunks["zh" if lang == "zh" else "en"][:4], tmp_path / "llm.checkpoint.jsonl"
    with FakeLLMServer(style="wrong_language") as srv:
        srv.stubborn = stubborn
        gen = LlmGenerator(provider="ollama", base_url=srv.url, checkpoint=str(ckpt), **FAST)
        result = gen.generate(chunk_list, lang, 42)
        assert sorted(srv.counts.values()) == [1] * 8  # each chunk: its prompt, then the reminded one
        retry = prompt_hash(reminded(gen.template(lang), lang))
        name = {"en": "English", "zh": "Chinese", "pl": "Polish", "de": "German", "ja": "Japanese"}[lang]
        assert f"Write every question in {name} only" in srv.bodies[-1]["messages"][-1]["content"]
        assert result.stats["chunks_reasked"] == 4 and gen.report["chunks"]["chunks_reasked"] == 4
        assert {q.prompt_hash for q in result.queries} == {retry}
        assert result.stats.get("dropped_wrong_language", 0) == (4 if stubborn else 0)
        assert len(result.queries) == (4 if stubborn else 8)
        again = LlmGenerator(provider="ollama", base_url=srv.url, checkpoint=str(ckpt), **FAST)
        resumed = again.generate(chunk_list, lang, 42)
        assert [q.text for q in resumed.queries] == [q.text for q in result.queries]
        assert sum(srv.counts.values()) == 8  # resumed from the checkpoint: nothing asked twice


def test_rule_writes_queries_report_and_dataset_input(tmp_path, server, chunk_files):
    out = tmp_path / "queries" / "llm.json"
    report = tmp_path / "queries" / "llm.report.json"
    ckpt = tmp_path / "queries" / "llm.checkpoint.jsonl"
    settings = {**provider_settings("ollama", server), **FAST}
    doc = generate_llm_queries(chunk_files["en"], out, report, ckpt, settings, 42)
    assert doc["format"] == "embedlab.queries/1" and doc["generator"] == "llm"
    assert set(doc["queries"][0]) == {
        "id", "text", "chunk_ids", "generator", "positive_text", "llm_model", "prompt_hash", "raw_text",
        "query_type", "persona", "judge",
    }  # fmt: skip
    assert {doc["queries"][0][k] for k in ("query_type", "persona", "judge")} == {None}  # none configured
    rep = io.read_json(report)
    n_chunks = len(io.read_json(chunk_files["en"])["chunks"])
    assert rep["format"] == "embedlab.llm_report/1" and rep["chunks"]["chunks_answered"] == n_chunks
    assert list(rep["dropped"]) == list(DROP_REASONS)
    assert rep["dropped"]["preamble"] > 0 and rep["dropped"]["answer"] > 0
    assert all(rep["dropped"][r] > 0 for r in rep["examples"])
    assert rep["prompt_template"] == DEFAULT_PROMPTS["en"]
    assert doc["stats"]["dropped_preamble"] == rep["dropped"]["preamble"]
    assert len(ckpt.read_text().splitlines()) == n_chunks

    # the dataset stage takes it as is (test_queries.py checks llama-index loads that format)
    build_dataset(chunk_files["en"], [out], tmp_path / "dataset.json", tmp_path / "provenance.json")
    ds = io.read_json(tmp_path / "dataset.json")
    assert set(ds) == {"queries", "corpus", "relevant_docs", "mode"}
    assert len(ds["queries"]) == len(doc["queries"])
    prov = io.read_json(tmp_path / "provenance.json")
    first = next(iter(prov["queries"].values()))
    assert first["llm_model"] == "ollama/qwen2:7b-instruct-q4_0" and first["raw_text"]

    # a rerun is answered from the checkpoint: no request, same bytes
    before, asked = out.read_bytes(), server.total()
    out.unlink()
    generate_llm_queries(chunk_files["en"], out, report, ckpt, settings, 42)
    assert server.total() == asked and out.read_bytes() == before


def test_make_generator_finds_llm():
    assert isinstance(make_generator("llm", {"provider": "ollama"}), LlmGenerator)


# ---------------------------------------------------------------- checkpoint and resume


_CHILD = """
import json, sys
from embedlab.data.llm.generation import LlmGenerator
chunks = json.load(open(sys.argv[1]))["chunks"]
LlmGenerator(provider="ollama", base_url=sys.argv[2], concurrency=2, progress=False,
             checkpoint=sys.argv[3]).generate(chunks, "en", 42)
"""


def test_resume_after_kill_never_asks_an_answered_chunk_again(tmp_path, chunk_files, chunks):
    ckpt = tmp_path / "llm.checkpoint.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    with FakeLLMServer(latency=0.15) as srv:
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(chunk_files["en"]), srv.url, str(ckpt)],
            env=env,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not ckpt.exists() or len(ckpt.read_text().splitlines()) < 6):
            assert child.poll() is None, child.stderr.read().decode()[-2000:]
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stderr.close()
        answered_before = {
            json.loads(line)["chunk_id"] for line in ckpt.read_text().splitlines() if line.strip()
        }
        assert 6 <= len(answered_before) < len(chunks["en"])
        with open(ckpt, "a", encoding="utf-8") as fh:  # a record cut short by the kill
            fh.write('{"format": "embedlab.llm_checkpoint/1", "chunk_id": "x", "raw_')
        counts_at_kill = dict(srv.counts)

        gen = LlmGenerator(provider="ollama", base_url=srv.url, checkpoint=str(ckpt), **FAST)
        result = gen.generate(chunks["en"], "en", 42)

    assert result.stats["chunks_answered"] == len(chunks["en"])
    keys = {c["id"]: prompt_key(_prompt(c)) for c in chunks["en"]}
    for cid in answered_before:
        assert srv.counts[keys[cid]] == 1, "a chunk answered before the kill was asked again"
    # only requests in flight at the kill (at most `concurrency`) may have been asked twice
    twice = [k for k, n in srv.counts.items() if n > 1]
    assert len(twice) <= 2 and all(counts_at_kill.get(k) == 1 for k in twice)
    assert gen.timing["requests"] == len(chunks["en"]) - len(answered_before)


def _prompt(chunk):
    return (
        DEFAULT_PROMPTS["en"]
        .replace("{context_str}", chunk["text"])
        .replace("{num_questions_per_chunk}", "2")
    )


def test_checkpoint_is_keyed_by_prompt_model_and_options(tmp_path, server, chunks):
    chunk_list = chunks["en"][:4]
    ckpt = str(tmp_path / "c.jsonl")
    base = {"provider": "ollama", "base_url": server.url, "checkpoint": ckpt, **FAST}
    LlmGenerator(**base).generate(chunk_list, "en", 42)
    assert server.total() == 4
    LlmGenerator(**base, concurrency=1, retries=1).generate(chunk_list, "en", 42)  # not part of the key
    assert server.total() == 4
    custom = "Write {num_questions_per_chunk} exam questions about:\n---------------------\n{context_str}\n"
    LlmGenerator(**base, prompts={"en": custom}).generate(chunk_list, "en", 42)
    assert server.total() == 8  # a new prompt is asked anew…
    LlmGenerator(**base, model="llama3").generate(chunk_list, "en", 42)
    assert server.total() == 12  # …so is another model…
    LlmGenerator(**base, num_questions_per_chunk=3).generate(chunk_list, "en", 42)
    assert server.total() == 16  # …and other generation options
    LlmGenerator(**base).generate(chunk_list, "en", 42)
    assert server.total() == 16  # the first answers are still there
    records = Checkpoint(ckpt).read()
    assert len(records) == 16 and {r["prompt_hash"] for r in records} == {
        prompt_hash(DEFAULT_PROMPTS["en"]),
        prompt_hash(custom),
    }


def test_checkpoint_is_locked_while_a_run_writes_it(tmp_path):
    first = Checkpoint(tmp_path / "c.jsonl")
    first.open()
    try:
        with pytest.raises(EmbedlabError, match="another run is writing"):
            Checkpoint(tmp_path / "c.jsonl").open()
    finally:
        first.close()


# ---------------------------------------------------------------- faults


@pytest.mark.parametrize("provider", ["ollama", "openai_like"])
@pytest.mark.parametrize("fault", ["500", "503", "malformed", "hang", "drop"])
def test_each_fault_is_retried(fault, provider, server, chunks, caplog):
    server.hang_s = 3
    server.inject(fault)
    chunk_list = chunks["en"][:3]
    gen = LlmGenerator(**provider_settings(provider, server), **FAST)
    with caplog.at_level(logging.WARNING):
        result = gen.generate(chunk_list, "en", 42)
    assert result.stats["chunks_answered"] == 3 and server.faults_served == [fault]
    assert server.total() == 4 and gen.timing["retries"] == 1
    warning = next(r.getMessage() for r in caplog.records if "retry 1/" in r.getMessage())
    assert "\n" not in warning


@pytest.mark.parametrize("provider", ["ollama", "openai_like"])
def test_429_waits_for_retry_after(provider, server, chunks):
    server.inject("429:1")
    gen = LlmGenerator(**provider_settings(provider, server), **FAST)
    t0 = time.monotonic()
    result = gen.generate(chunks["en"][:2], "en", 42)
    assert result.stats["chunks_answered"] == 2 and server.total() == 3
    assert time.monotonic() - t0 >= 1.0  # our own backoff would have been 10 ms


def test_retries_exhausted_fail_the_chunk_and_the_rule_past_the_allowed_fraction(tmp_path, server, chunks):
    chunk_list = chunks["en"][:4]
    server.inject("500", "500", "500")  # retries=2: three attempts, all failing, for one chunk
    gen = LlmGenerator(provider="ollama", base_url=server.url, retries=2, concurrency=1, **FAST)
    with pytest.raises(EmbedlabError, match=r"1 of 4 chunks failed .*3 not asked.*HTTP 500") as err:
        gen.generate(chunk_list, "en", 42)
    assert "\n" not in str(err.value)

    server.inject("500", "500", "500")
    gen = LlmGenerator(
        provider="ollama", base_url=server.url, retries=2, concurrency=1, max_failed_fraction=0.25, **FAST
    )
    result = gen.generate(chunk_list, "en", 42)
    assert result.stats["chunks_failed"] == 1 and result.stats["chunks_answered"] == 3
    assert gen.report["failed_chunks"][0]["error"].startswith("HTTP 500")


def test_a_bad_request_is_not_retried(server, chunks):
    server.inject("400")
    gen = LlmGenerator(**provider_settings("openai_like", server), max_failed_fraction=0.5, **FAST)
    result = gen.generate(chunks["en"][:3], "en", 42)
    assert server.total() == 3 and result.stats["chunks_failed"] == 1


def test_too_many_failures_stop_the_run_early(tmp_path, server, chunks):
    chunk_list = chunks["en"][:20]
    server.inject(*["503"] * 6)
    gen = LlmGenerator(
        provider="ollama",
        base_url=server.url,
        retries=0,
        concurrency=1,
        max_failed_fraction=0.1,
        checkpoint=str(tmp_path / "c.jsonl"),
        **FAST,
    )
    with pytest.raises(EmbedlabError, match=r"at most 10% may fail.*a rerun asks only the rest"):
        gen.generate(chunk_list, "en", 42)
    assert server.total() == 3  # stopped at the third failure (2 allowed), not after all 20 chunks


def test_unknown_model_stops_at_once(server, chunks):
    gen = LlmGenerator(provider="ollama", base_url=server.url, model="mistral:7b", **FAST)
    with pytest.raises(EmbedlabError, match=r"has no model 'mistral:7b' .*run `ollama pull mistral:7b`"):
        gen.generate(chunks["en"][:3], "en", 42)
    assert server.total() == 0  # the preflight saw it
    server.inject("404")  # the model disappears mid-run
    gen = LlmGenerator(provider="ollama", base_url=server.url, concurrency=1, **FAST)
    with pytest.raises(EmbedlabError, match="ollama pull"):
        gen.generate(chunks["en"][:3], "en", 42)
    assert server.total() == 1


def test_absent_server_is_one_clear_line(chunks):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(EmbedlabError) as err:
        LlmGenerator(provider="ollama", base_url=url, **FAST).generate(chunks["en"][:2], "en", 42)
    assert str(err.value) == (
        f"no Ollama server at {url} — start it with `ollama serve`, or choose another provider"
    )
    with pytest.raises(EmbedlabError, match=rf"no OpenAI-compatible server at {url}/v1 .*base_url"):
        LlmGenerator(provider="openai_like", model="m", base_url=url + "/v1", **FAST).generate(
            chunks["en"][:2], "en", 42
        )


def test_config_errors_are_one_line(chunks, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(EmbedlabError, match="needs an API key in the environment variable OPENAI_API_KEY"):
        LlmGenerator(provider="openai").generate(chunks["en"][:1], "en", 42)
    with pytest.raises(EmbedlabError, match="base_url is required for provider openai_like"):
        LlmGenerator(provider="openai_like", model="m").generate(chunks["en"][:1], "en", 42)
    with pytest.raises(EmbedlabError, match="'xx' is not a language code"):
        LlmGenerator().generate(chunks["en"][:1], "xx", 42)


def test_unknown_openai_model_is_one_line(server, chunks, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    gen = LlmGenerator(provider="openai", model="no-such-model", base_url=server.url + "/v1", **FAST)
    with pytest.raises(EmbedlabError, match=r"generators\.llm\.model 'no-such-model': Unknown model") as err:
        gen.generate(chunks["en"][:2], "en", 42)
    assert "\n" not in str(err.value) and server.total() == 0


# ---------------------------------------------------------------- secrets


def _all_text(root: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in root.rglob("*") if p.is_file())


def test_api_key_only_from_env_and_never_written(tmp_path, server, chunk_files, monkeypatch, caplog):
    monkeypatch.setenv("EMBEDLAB_TEST_KEY", KEY)
    server.require_key = KEY
    server.echo_key_in_errors = True  # a careless server quoting the Authorization header back
    server.inject("500")
    settings = {
        **provider_settings("openai_like", server),
        "api_key_env": "EMBEDLAB_TEST_KEY",
        **{k: v for k, v in FAST.items() if k != "progress"},
    }
    out = tmp_path / "out"
    with caplog.at_level(logging.DEBUG):
        generate_llm_queries(
            chunk_files["en"], out / "llm.json", out / "llm.report.json", out / "ckpt.jsonl", settings, 42
        )
    assert set(server.auth_headers) == {f"Bearer {KEY}"}
    assert server.faults_served == ["500"]
    assert any("internal error" in r.getMessage() for r in caplog.records)  # the echo was logged, redacted
    assert KEY not in caplog.text and KEY not in _all_text(out)
    assert KEY[8:] not in caplog.text and KEY[8:] not in _all_text(out)

    # a rejected key: a one-line error that names the variable, not the key
    monkeypatch.setenv("EMBEDLAB_TEST_KEY", KEY + "-wrong")
    with pytest.raises(EmbedlabError) as err:
        generate_llm_queries(
            chunk_files["en"], out / "llm2.json", out / "r2.json", out / "ckpt2.jsonl", settings, 42
        )
    assert "rejected the API key" in str(err.value) and "$EMBEDLAB_TEST_KEY" in str(err.value)
    assert KEY not in str(err.value) and "\n" not in str(err.value)


def test_openai_like_never_forwards_the_openai_key(server, chunks, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    LlmGenerator(**provider_settings("openai_like", server), **FAST).generate(chunks["en"][:2], "en", 42)
    assert KEY not in "".join(h or "" for h in server.auth_headers)


def test_redact():
    assert redact(f"bad key {KEY} given", KEY) == "bad key [redacted] given"
    assert KEY[:12] not in redact("Incorrect API key provided: sk-test-7f3a***9b7d")
    assert redact("Authorization: Bearer abc.def-123") == "Authorization: Bearer [redacted]"


# ---------------------------------------------------------------- cleaning


MESSY = [
    # (lang, reply, expected questions, expected drop counts)
    (
        "en",
        "Sure! Here are two questions based on the context:\n\n"
        "1. What obligations do providers of high-risk AI systems have under Article 16?\n"
        "2. How does the regulation define a 'general-purpose AI model'?\n\n"
        "I hope these questions help with your quiz!",
        [
            "What obligations do providers of high-risk AI systems have under Article 16?",
            "How does the regulation define a 'general-purpose AI model'?",
        ],
        {"preamble": 2},
    ),
    (
        "en",
        "**Question 1:** What is the purpose of the AI regulatory sandbox?\n"
        "**Answer:** To foster innovation under supervision.\n\n"
        "**Question 2:** Who designates the national competent authorities?\n"
        "Answer: Each Member State.",
        [
            "What is the purpose of the AI regulatory sandbox?",
            "Who designates the national competent authorities?",
        ],
        {"answer": 2},
    ),
    (
        "en",
        '- "Which practices are prohibited by Article 5?"\n'
        "- 'When do the rules on general-purpose AI models apply?'\n"
        "- Which practices are prohibited by Article 5 ?",
        [
            "Which practices are prohibited by Article 5?",
            "When do the rules on general-purpose AI models apply?",
        ],
        {"near_duplicate": 1},
    ),
    (
        "en",
        "1. What is a deployer? 2. What must a deployer of a high-risk AI system do before putting it into "
        "use? 3. Which authority supervises compliance?",
        [
            "What is a deployer?",
            "What must a deployer of a high-risk AI system do before putting it into use?",
        ],
        {"over_quota": 1},
    ),
    (
        "en",
        "Q1: What does the regulation say about biometric categorisation?\n"
        "The regulation prohibits certain biometric categorisation systems.\n"
        "Q2: Quelles sont les obligations des fournisseurs de modèles d'IA à usage général ?\n"
        "3. Why?",
        ["What does the regulation say about biometric categorisation?"],
        {"not_a_question": 1, "wrong_language": 1, "too_short": 1},
    ),
    (
        "en",
        "Explain the role of the AI Office in supervising general-purpose AI models.\n"
        "Describe the obligations of importers of high-risk AI systems.",
        [
            "Explain the role of the AI Office in supervising general-purpose AI models.",
            "Describe the obligations of importers of high-risk AI systems.",
        ],
        {},
    ),
    (
        "fr",
        "Voici deux questions basées sur le contexte :\n\n"
        "1) « Quelles obligations le règlement impose-t-il aux déployeurs de systèmes d'IA à haut "
        "risque ? »\n"
        "2) Dans quels cas un système d'IA est-il considéré comme à haut risque ?\n"
        "Réponse : lorsqu'il relève de l'annexe III.",
        [
            "Quelles obligations le règlement impose-t-il aux déployeurs de systèmes d'IA à haut risque ?",
            "Dans quels cas un système d'IA est-il considéré comme à haut risque ?",
        ],
        {"preamble": 1, "answer": 1},
    ),
    (
        "fr",
        "1. What is the role of the European Artificial Intelligence Board?\n"
        "2. Quel est le rôle du Comité européen de l'intelligence artificielle ?",
        ["Quel est le rôle du Comité européen de l'intelligence artificielle ?"],
        {"wrong_language": 1},
    ),
    (
        "zh",
        "以下是根据上下文设计的两个问题：\n\n"
        "1、证券发行和交易活动必须遵循哪些原则？\n"
        "2、国务院证券监督管理机构的职责是什么？\n"
        "答：依法对证券市场实行监督管理。\n\n"
        "希望这些问题对您有帮助！",
        ["证券发行和交易活动必须遵循哪些原则？", "国务院证券监督管理机构的职责是什么？"],
        {"preamble": 2, "answer": 1},
    ),
    (
        "zh",
        "问题一：What principles must securities issuance follow?\n"
        "（一）公开发行证券应当符合什么条件？\n"
        "（二）公开发行证券，应当符合什么条件?\n"
        "（三）什么是证券？",
        ["公开发行证券应当符合什么条件？", "什么是证券？"],
        {"wrong_language": 1, "near_duplicate": 1},
    ),
    (
        "cs",
        "Zde jsou dvě otázky:\n1. Jaké povinnosti mají poskytovatelé vysoce rizikových systémů AI?\n"
        "2. Kdo jmenuje příslušné vnitrostátní orgány?",
        [
            "Jaké povinnosti mají poskytovatelé vysoce rizikových systémů AI?",
            "Kdo jmenuje příslušné vnitrostátní orgány?",
        ],
        {"preamble": 1},
    ),
    (
        "hu",
        "Íme két kérdés a kontextus alapján:\n- Milyen kötelezettségei vannak a nagy kockázatú MI-rendszerek "
        "szolgáltatóinak?\n- What are the obligations of providers?",
        ["Milyen kötelezettségei vannak a nagy kockázatú MI-rendszerek szolgáltatóinak?"],
        {"preamble": 1, "wrong_language": 1},
    ),
    ("en", "", [], {}),
    ("en", "1.\n2.\n---", [], {"empty": 3}),
]


@pytest.mark.parametrize(("lang", "reply", "questions", "drops"), MESSY)
def test_cleaning_messy_replies(lang, reply, questions, drops):
    cleaned = clean_reply(reply, lang, 2)
    assert cleaned.questions == questions
    assert dict(cleaned.drops) == drops


def test_duplicates_across_chunks_are_dropped_and_counted(server):
    server.style = "numbered"
    # one long word: the fake model asks the same two questions about it for every chunk
    chunk_list = [{"id": f"c{i}", "text": "Transparency." + " " * i} for i in range(3)]
    gen = LlmGenerator(provider="ollama", base_url=server.url, **FAST)
    result = gen.generate(chunk_list, "en", 42)
    assert result.stats["dropped_duplicate_across_chunks"] == 4 and len(result.queries) == 2
    assert gen.report["examples"]["duplicate_across_chunks"]


@pytest.mark.parametrize(
    ("line", "text"),
    [
        ("  3) **What is X about?**", "What is X about?"),
        ("### Question 2 : « Qu'est-ce qu'un fournisseur ? »", "Qu'est-ce qu'un fournisseur ?"),
        ("（二）“什么是证券？”", "什么是证券？"),
        ("* Q: 'Who decides?'", "Who decides?"),
        ('"Which rules apply"?', "Which rules apply?"),
    ],
)
def test_unwrap(line, text):
    assert unwrap(line) == text


def test_language_check():
    assert language_ok("What is the role of the AI Office?", "en")
    assert not language_ok("Quel est le rôle du Bureau de l'IA ?", "en")
    assert language_ok("Quel est le rôle du Bureau de l'IA ?", "fr")
    assert not language_ok("What is the role of the AI Office?", "fr")
    assert language_ok("什么是AI系统？", "zh") and not language_ok("What is an AI system?", "zh")
    assert not language_ok("证券法的目的是什么？", "en")
    assert language_ok("GDPR Article 22?", "fr")  # no evidence either way: kept
    # Japanese and Korean are CJK too: kana and Hangul count as their script, not as a foreign one
    assert language_ok("AIシステムとは何ですか？", "ja") and not language_ok("What is an AI system?", "ja")
    assert language_ok("인공지능 시스템이란 무엇입니까?", "ko")
    assert not language_ok("인공지능 시스템이란 무엇입니까?", "en")
    # lingua's confidences, not a word list: any language it knows (German, Polish here), and short technical
    # English that lingua's top guess alone would call Dutch stays English
    assert language_ok("Welche Pflichten haben Anbieter von Hochrisiko-KI-Systemen?", "de")
    assert not language_ok("What duties do providers of high-risk AI systems have?", "de")
    assert language_ok("Jakie obowiązki mają dostawcy systemów AI wysokiego ryzyka?", "pl")
    assert not language_ok("What duties do providers of high-risk AI systems have?", "pl")
    assert not language_ok("Welche Pflichten haben Anbieter von Hochrisiko-KI-Systemen?", "pl")
    assert language_ok("How do I add a login link to the browsable API?", "en")


def test_replies_in_another_language_are_dropped_for_any_language_lingua_knows():
    """Not only the tutorial's languages: a Polish or German request answered in English loses those lines."""
    reply = "1. What duties do providers of high-risk AI systems have?\n2. Jakie obowiązki mają dostawcy?"
    pl = clean_reply(reply, "pl", 2)
    assert pl.questions == ["Jakie obowiązki mają dostawcy?"] and pl.drops["wrong_language"] == 1
    reply = "- Welche Pflichten haben Anbieter?\n- Who supervises the providers of AI systems?"
    de = clean_reply(reply, "de", 2)
    assert de.questions == ["Welche Pflichten haben Anbieter?"] and de.drops["wrong_language"] == 1


def test_japanese_and_korean_replies_are_cleaned_as_cjk():
    reply = "1. この規則の目的は何ですか？\n2. 提供者の義務はどのように定められていますか？\n3. What is it?"
    cleaned = clean_reply(reply, "ja", 2)
    assert cleaned.questions == ["この規則の目的は何ですか？", "提供者の義務はどのように定められていますか？"]
    assert cleaned.drops["wrong_language"] == 1
    ko = clean_reply("- 이 규정의 목적은 무엇입니까?\n- 제공자의 의무는 무엇입니까?", "ko", 2)
    assert len(ko.questions) == 2 and not ko.drops


def test_retry_after_parsing():
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert parse_retry_after({"retry-after": "99999"}) == 600.0
    assert parse_retry_after({}) is None


# ---------------------------------------------------------------- config and resources


def test_schema_defaults_are_the_code_defaults():
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["corpus_root"] = str(CORPORA)
    validate_config(cfg, REPO)
    settings = cfg["generators"]["llm"]
    gen, code = LlmGenerator(**settings), LlmGenerator()
    for name, value in settings.items():
        if name != "concurrency":
            assert getattr(code, name) == value, name
    assert gen.workers() == 4 and LlmGenerator(**{**settings, "provider": "openai_like"}).workers() == 16


def test_gpu_slot_only_for_a_local_model():
    assert uses_gpu({"provider": "ollama", "base_url": None})
    assert uses_gpu({"provider": "openai_like", "base_url": "http://127.0.0.1:8000/v1"})
    assert not uses_gpu({"provider": "ollama", "base_url": "http://gpu-box.lan:11434"})
    assert not uses_gpu({"provider": "openai", "base_url": None})
    assert not uses_gpu({"provider": "ollama", "base_url": None, "uses_gpu": False})


# ---------------------------------------------------------------- the workflow


@pytest.mark.slow
def test_workflow_with_the_llm_generator(tmp_path, chunk_files):
    """snakemake runs generate_llm_queries -> dataset -> split against the fake server; a rerun after the
    queries file is removed answers from the checkpoint without a request."""
    corpora = tmp_path / "corpora" / "eu_ai_act"
    corpora.mkdir(parents=True)
    lines = (CORPORA / "eu_ai_act" / "EN.md").read_text(encoding="utf-8").split("\n")
    (corpora / "EN.md").write_text("\n".join(lines[:1] + lines[180:400]), encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    with FakeLLMServer() as srv:
        cfg = yaml.safe_load((REPO / "tests" / "llm_workflow.yaml").read_text())
        cfg["corpus_root"] = str(tmp_path / "corpora")
        cfg["generators"]["llm"]["base_url"] = srv.url
        (work / "config.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True))
        res = _snakemake(work)
        assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
        qa = work / "results" / "qa" / "eu_ai_act" / "en"
        doc = io.read_json(qa / "queries" / "llm.json")
        n_chunks = len(io.read_json(work / "results" / "chunks" / "eu_ai_act" / "en.json")["chunks"])
        assert srv.total() == n_chunks and doc["stats"]["chunks_answered"] == n_chunks
        assert (qa / "queries" / "llm.report.json").is_file()
        assert len((qa / "queries" / "llm.checkpoint.jsonl").read_text().splitlines()) == n_chunks
        ds = io.read_json(qa / "dataset.json")
        assert set(ds["queries"]) == {q["id"] for q in doc["queries"]}
        assert io.read_json(qa / "split.json")["queries"]["train"] > 0
        log = (work / "logs" / "generate_queries" / "eu_ai_act" / "en" / "llm.log").read_text()
        assert f"{n_chunks} to ask" in log

        (qa / "queries" / "llm.json").unlink()
        res = _snakemake(work, "results/qa/eu_ai_act/en/queries/llm.json")
        assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
        assert srv.total() == n_chunks  # resumed entirely from the checkpoint
        assert io.read_json(qa / "queries" / "llm.json") == doc


def _snakemake(work: Path, *targets: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(work),
        "--cores", "2", *targets, "--configfile", str(work / "config.yaml"),
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)
