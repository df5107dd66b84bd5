"""The LLM judge (issue 26 item 3) through the stand-in LLM server on chunks of the test corpora: scores and
threshold, malformed replies, failures, another provider as judge, and resuming without asking a judged
pair again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from llm_server import FakeLLMServer, prompt_key
from test_llm_queries import FAST, chunk_files, chunks  # noqa: F401  (fixtures: chunks of real text)

from embedlab import io
from embedlab.data.llm.checkpoint import Checkpoint
from embedlab.data.llm.generation import JUDGE_PASS, LlmGenerator, generate_llm_queries
from embedlab.data.llm.judge import read_verdict

from conftest import REPO

JUDGE_MARK = "You are judging a question"


@pytest.fixture
def server():
    with FakeLLMServer() as srv:
        yield srv


def _all_prompts(server: FakeLLMServer) -> list[str]:
    """Every generation request's prompt (a request cut short by a killed client has none)."""
    return [b["messages"][-1]["content"] if "messages" in b else b.get("prompt", "") for b in server.bodies]


def _judge_prompts(server: FakeLLMServer) -> list[str]:
    return [p for p in _all_prompts(server) if JUDGE_MARK in p]


def _scores(prompt: str) -> tuple[int, int]:
    """The server's scores for a judge prompt, read here without embedlab's parser."""
    from llm_server import judge_reply

    reply = judge_reply(prompt)
    obj = json.loads(reply[reply.index("{") : reply.rindex("}") + 1])
    return obj["answerable"], obj["specific"]


@pytest.mark.parametrize(
    ("reply", "scores"),
    [
        ('{"answerable": 8, "specific": 6, "reason": "Fine."}', (8, 6)),
        ('Sure.\n```json\n{"answerable": "9", "specific": 7.0, "reason": "ok"}\n```', (9, 7)),
        ('{"note": 1} then {"answerable": 10, "specific": 1}', (10, 1)),
        ('{"answerable": 11, "specific": 6}', None),  # off the scale
        ('{"answerable": 7.5, "specific": 6}', None),
        ('{"answerable": true, "specific": 6}', None),
        ('{"answerable": 8}', None),
        ("I would rate this question 8 out of 10.", None),
        ("", None),
    ],
)
def test_reading_a_verdict(reply, scores):
    verdict = read_verdict(reply)
    assert (verdict.answerable, verdict.specific) == (scores or (None, None))
    assert verdict.readable == (scores is not None)


def test_judge_keeps_pairs_at_the_threshold_and_records_its_scores(tmp_path, server, chunk_files):  # noqa: F811
    out, report = tmp_path / "llm.json", tmp_path / "llm.report.json"
    plain_settings = {"provider": "ollama", "base_url": server.url, **FAST}
    plain = generate_llm_queries(chunk_files["en"], tmp_path / "plain.json", tmp_path / "plain.report.json",
                                 tmp_path / "plain.jsonl", plain_settings, 42)["queries"]  # fmt: skip
    settings = {**plain_settings, "judge": {"enabled": True}}
    doc = generate_llm_queries(chunk_files["en"], out, report, tmp_path / "c.jsonl", settings, 42)
    judged = _judge_prompts(server)
    assert len(judged) == len(plain)  # one request per question the other filters kept
    # independent: which questions the server's scores put at >= 7 on both scales
    expected = {p.split("Question:", 1)[1].split("\n", 1)[0].strip() for p in judged if min(_scores(p)) >= 7}
    kept = doc["queries"]
    assert {q["text"] for q in kept} == expected and 0 < len(kept) < len(plain)
    assert all(
        min(q["judge"]["answerable"], q["judge"]["specific"]) >= 7 and q["judge"]["reason"] for q in kept
    )
    rep = io.read_json(report)
    assert rep["judge"]["judged"] == len(plain) and rep["judge"]["kept"] == len(kept)
    assert rep["dropped"]["judge_below_threshold"] == len(plain) - len(kept)
    assert doc["stats"]["dropped_judge_below_threshold"] == len(plain) - len(kept)


def test_resume_never_asks_a_judged_pair_again(tmp_path, server, chunks):  # noqa: F811
    ckpt = tmp_path / "c.jsonl"
    base = {"provider": "ollama", "base_url": server.url, "checkpoint": str(ckpt), **FAST}
    first = LlmGenerator(**base, judge={"enabled": True}).generate(chunks["en"][:10], "en", 42)
    asked = server.total()
    lenient = LlmGenerator(**base, judge={"enabled": True, "threshold": 3}).generate(
        chunks["en"][:10], "en", 42
    )
    assert server.total() == asked  # a new threshold asks nothing
    assert len(lenient.queries) > len(first.queries)

    # a run killed half way through judging: the judge records after the first three are lost
    lines = ckpt.read_text().splitlines()
    judge_lines = [i for i, ln in enumerate(lines) if json.loads(ln).get("pass") == JUDGE_PASS]
    lost = judge_lines[3:]
    ckpt.write_text("\n".join(ln for i, ln in enumerate(lines) if i not in set(lost)) + "\n")
    LlmGenerator(**base, judge={"enabled": True}).generate(chunks["en"][:10], "en", 42)
    assert server.total() == asked + len(lost)  # only the pairs without a verdict
    records = Checkpoint(ckpt).read()
    assert sum(r.get("pass") == JUDGE_PASS for r in records) == len(judge_lines)


def test_unreadable_and_failed_verdicts_are_dropped_and_counted(server, chunks):  # noqa: F811
    base = {"provider": "ollama", "base_url": server.url, **FAST}
    server.judge_style = "malformed"
    gen = LlmGenerator(**base, judge={"enabled": True})
    result = gen.generate(chunks["en"][:6], "en", 42)
    assert (
        result.queries == []
        and gen.report["dropped"]["judge_unreadable"] == gen.report["judge"]["judged"] > 0
    )
    assert gen.report["examples"]["judge_unreadable"]

    server.judge_style = None
    n = len(LlmGenerator(**base).generate(chunks["en"][:6], "en", 42).queries)
    server.inject(*["ok"] * 6, "400")  # the 6 question requests pass, the first judge request fails for good
    gen = LlmGenerator(**base, judge={"enabled": True}, max_failed_fraction=0.5, retries=0)
    gen.generate(chunks["en"][:6], "en", 42)
    assert gen.report["dropped"]["judge_failed"] == 1 and gen.report["judge"]["judged"] == n - 1


def test_another_server_can_judge(chunks):  # noqa: F811
    with FakeLLMServer() as writer, FakeLLMServer() as judge:
        judge_cfg = {
            "enabled": True,
            "provider": "openai_like",
            "model": "judge-70b",
            "base_url": judge.url + "/v1",
        }
        gen = LlmGenerator(provider="ollama", base_url=writer.url, judge=judge_cfg, **FAST)
        gen.generate(chunks["en"][:4], "en", 42)
        assert (
            _judge_prompts(writer) == [] and len(_judge_prompts(judge)) == gen.report["judge"]["judged"] > 0
        )
        assert gen.report["judge"]["llm_model"] == "openai_like/judge-70b"


_CHILD = """
import json, sys
from embedlab.data.llm.generation import LlmGenerator
chunks = json.load(open(sys.argv[1]))["chunks"]
LlmGenerator(provider="ollama", base_url=sys.argv[2], concurrency=2, progress=False, checkpoint=sys.argv[3],
             judge={"enabled": True}).generate(chunks, "en", 42)
"""


def test_a_run_killed_while_judging_resumes_without_asking_a_judged_pair_again(tmp_path, chunk_files, chunks):  # noqa: F811
    ckpt = tmp_path / "llm.checkpoint.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}

    def judged() -> set[str]:  # the question ids judged so far (Checkpoint.read skips a line cut by the kill)
        return {r["chunk_id"] for r in Checkpoint(ckpt).read() if r.get("pass") == JUDGE_PASS}

    with FakeLLMServer(latency=0.1) as srv:
        child = subprocess.Popen([sys.executable, "-c", _CHILD, str(chunk_files["en"]), srv.url, str(ckpt)],
                                 env=env, stderr=subprocess.PIPE)  # fmt: skip
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(judged()) < 4:
            assert child.poll() is None, child.stderr.read().decode()[-2000:]
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stderr.close()
        before = judged()
        asked_at_kill = Counter(prompt_key(p) for p in _judge_prompts(srv))
        gen = LlmGenerator(provider="ollama", base_url=srv.url, checkpoint=str(ckpt), judge={"enabled": True},
                           **FAST)  # fmt: skip
        gen.generate(chunks["en"], "en", 42)
        asked = Counter(prompt_key(p) for p in _judge_prompts(srv))

    n_questions = gen.report["judge"]["judged"]
    assert 4 <= len(before) < n_questions  # killed part way through the judge's pass
    again = [k for k, n in asked.items() if n > 1]
    assert len(again) <= 2 and all(asked_at_kill[k] == 1 for k in again)  # at most the 2 requests in flight
    assert sum(asked.values()) - sum(asked_at_kill.values()) <= n_questions - len(before) + 2
    assert sum(asked.values()) - sum(asked_at_kill.values()) >= n_questions - len(before)
    questions = [p for p in _all_prompts(srv) if p and JUDGE_MARK not in p]
    assert len(questions) == len(chunks["en"])  # each chunk's question asked once, the resume asked none
