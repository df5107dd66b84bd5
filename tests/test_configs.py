"""The .test/ matrix, like the snakemake-workflows CI anchors: each small real config (data only, evaluation,
fine-tuning, LLM queries through the stand-in server) passes `snakemake --lint`, runs to its default target,
and then has nothing left to do. `make test-configs` runs this file alone; CI runs it as its own step."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import yaml
from llm_server import FakeLLMServer

from embedlab import io
from embedlab.workflow.plan import Plan

from conftest import REPO, run_snakemake

pytestmark = pytest.mark.slow
CONFIGS = REPO / ".test"
# Each config's stage outputs (besides every corpus/language's dataset and split, checked for all of them).
MATRIX = {
    "config.yaml": [],
    "evaluate.yaml": [
        "results/eval/bm25/drf_tutorial/en.csv",
        "results/eval/minilm/drf_tutorial/en.csv",
        "results/eval/compare/bm25__vs__minilm/drf_tutorial/en.json",
        "results/eval/minilm/drf_tutorial/en.real.csv",
        "results/eval/bm25/drf_tutorial/en.real.queries.csv",
        "results/qa/drf_tutorial/en/real.mapping.json",
        "results/qa/drf_tutorial/en/query_sets.csv",
        "results/mteb/minilm/README.md",
        "results/report/summary.md",
    ],
    "finetune.yaml": [
        "results/models/minilm-tiny/model.safetensors",
        "results/eval/minilm-tiny/fastapi_security/de.csv",
        "results/eval/minilm-tiny/fastapi_security/de.compression.csv",  # rule evaluate_compression
        "results/eval/compare/minilm__vs__minilm-tiny/fastapi_security/de.json",
        "results/published/minilm-tiny/README.md",
        "results/report/summary.md",
    ],
    "llm.yaml": [
        "results/qa/fastapi_security/zh/queries/llm.json",
        "results/qa/fastapi_security/zh/queries/llm.report.json",
    ],
}


# The rule that scores a dense model's sets and compression sweep in each config's run.
EVALUATED_BY = {"evaluate.yaml": "evaluate_model_compression", "finetune.yaml": "evaluate_compression"}


def test_every_test_config_is_in_the_matrix() -> None:
    assert sorted(p.name for p in CONFIGS.glob("*.yaml")) == sorted(MATRIX)


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_config_runs_to_the_end(name: str, corpora: Path, tmp_path: Path) -> None:
    with contextlib.ExitStack() as stack:
        overrides = [f"corpus_root={corpora}"]
        if name == "llm.yaml":
            server = stack.enter_context(FakeLLMServer())
            overrides.append(f'generators={{llm: {{base_url: "{server.url}"}}}}')

        def snakemake(*args: str):
            return run_snakemake(tmp_path, *args, "--config", *overrides, configfile=CONFIGS / name)

        lint = snakemake("--lint")
        assert lint.returncode == 0, lint.output[-3000:]
        run = snakemake()
        assert run.returncode == 0, run.output[-3000:]
        if name in EVALUATED_BY:  # a job per model (the default), a job per set (evaluation.jobs: dataset)
            assert f"rule {EVALUATED_BY[name]}:" in run.output, run.output[-3000:]
        again = snakemake("-n")
        assert "Nothing to be done" in again.output, again.output[-3000:]

    missing = [f for f in MATRIX[name] if not (tmp_path / f).is_file()]
    assert missing == [], f"{name}: not made: {missing}"
    config = yaml.safe_load((CONFIGS / name).read_text(encoding="utf-8"))
    config["corpus_root"] = str(corpora)
    plan = Plan.of(config, REPO)
    for corpus, lang in plan.corpus_languages:
        qa = tmp_path / "results" / "qa" / corpus / lang
        assert io.read_json(qa / "split.json")["queries"]["val"] > 0, f"{corpus}/{lang}"
        made = {p["generator"] for p in io.read_json(qa / "provenance.json")["queries"].values()}
        assert made == set(plan.query_generators(corpus)), f"{corpus}/{lang}: queries from {made}"
    if name == "llm.yaml":  # question types and personas: recorded per question, scored per type
        queries = io.read_json(tmp_path / "results/qa/fastapi_security/zh/queries/llm.json")["queries"]
        kinds = {q["query_type"] for q in queries}  # the judge may drop every question of one type
        assert kinds and kinds <= {"specific", "keyword", "multi_hop"}
        assert {q["persona"] for q in queries} == {"a new developer", "a security auditor"}
        md = (tmp_path / "results/report/summary.md").read_text(encoding="utf-8")
        val = io.read_json(tmp_path / "results/qa/fastapi_security/zh/val.json")["queries"]
        scored = {q["query_type"] for q in queries if q["id"] in val}  # the report scores val queries
        assert scored and all(f"| llm · {kind} |" in md for kind in scored)
        assert all(min(q["judge"]["answerable"], q["judge"]["specific"]) >= 5 for q in queries)
        judged = io.read_json(tmp_path / "results/qa/fastapi_security/zh/queries/llm.report.json")
        assert judged["judge"]["kept"] == len(queries) < judged["judge"]["judged"]
        assert "judge_below_threshold" in md  # the drop counts reach the report
    if name == "evaluate.yaml":  # hand-written real questions: mapped, scored by every model, reported first
        mapping = io.read_json(tmp_path / "results/qa/drf_tutorial/en/real.mapping.json")
        assert mapping["stats"]["mapped"] == mapping["stats"]["questions"] == 17
        summary = (tmp_path / "results/report/summary.csv").read_text(encoding="utf-8")
        header, *rows = summary.splitlines()
        assert header.split(",")[-1] == "query_set"
        assert sorted(r.split(",")[0] for r in rows if r.endswith(",real")) == ["bm25", "minilm"]
        md = (tmp_path / "results/report/summary.md").read_text(encoding="utf-8")
        assert "## Real questions first" in md and "## How lexical is each query set" in md
        assert "How far to trust this: the bootstrap resampled" in md
