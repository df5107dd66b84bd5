"""One job per model (issue 27, `evaluation.jobs: model`): every evaluation of a model after one model load,
writing what the per-dataset rules write; and the plan's rules choose it by default and step aside for
`evaluation.jobs: dataset`."""

import csv
from pathlib import Path

import yaml
from custom_models import HashingEncoder
from eval_data import build_split

from embedlab import io
from embedlab.evaluation.compression import evaluate_variants
from embedlab.evaluation.options import EvalOptions
from embedlab.evaluation.per_model import EvalRun, evaluate_model
from embedlab.evaluation.retrieval import evaluate
from embedlab.models.spec import ModelSpec
from embedlab.settings import CompressionSettings
from embedlab.workflow.plan import Plan

from conftest import REPO, dry_run_config

SPEC = ModelSpec(name="hash", kind="custom", class_path="custom_models:HashingEncoder")
SWEEP = CompressionSettings(models=None, dims=[32], precisions=["float32", "int8"], rescore_multiplier=2)
# What a run measures about itself (time, what the cache served): the only columns allowed to differ.
TIMING = {"encode_seconds", "search_seconds", "eval_seconds", "query_ms", "search_ms", "encoded_texts",
          "cached_texts"}  # fmt: skip


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8") as fh:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(fh)]


def test_one_load_writes_what_the_rules_of_each_set_write(corpora, tmp_path):
    split = build_split(corpora, "en", tmp_path / "en")
    val = io.read_json(split / "val.json")
    keep = sorted(val["queries"])[::3]  # real questions: another query set over the same chunks
    real = {**val, "queries": {q: val["queries"][q] for q in keep},
            "relevant_docs": {q: val["relevant_docs"][q] for q in keep}}  # fmt: skip
    io.write_json(split / "real.json", real)
    chunks = str(split / "chunks.json")
    sets = [("val.json", "val.csv", False), ("real.json", "real.csv", False), ("val.json", "sweep.csv", True)]

    def options(cache: str) -> EvalOptions:
        return EvalOptions.default(ks=(1, 3, 10), bootstrap_samples=50, seed=3, device="cpu",
                                   cache_dir=tmp_path / cache, latency_queries=2)  # fmt: skip

    one, each = tmp_path / "one", tmp_path / "each"
    one.mkdir()
    each.mkdir()
    runs = [
        EvalRun(str(split / q), chunks, str(one / out), "eu_ai_act", "en", sweep) for q, out, sweep in sets
    ]
    before = HashingEncoder.instances
    evaluate_model(SPEC, runs, options("cache-one"), SWEEP)
    assert HashingEncoder.instances == before + 1  # three query sets, one model load

    for run in runs:  # the per-dataset rules' library calls, each loading the model
        out, queries = each / Path(run.summary).name, each / Path(run.queries).name
        if run.compression:
            evaluate_variants(run.questions, chunks, out, queries, spec=SPEC, sweep=SWEEP, corpus="eu_ai_act",
                              lang="en", options=options("cache-each"))  # fmt: skip
        else:
            evaluate(run.questions, out, queries, SPEC, chunks_path=chunks, corpus="eu_ai_act", lang="en",
                     options=options("cache-each"))  # fmt: skip
    assert HashingEncoder.instances == before + 4
    for run in runs:
        name = Path(run.summary).name
        assert _rows(Path(run.summary)) == _rows(each / name), name
        per_query = Path(run.queries).name
        assert (one / per_query).read_bytes() == (each / per_query).read_bytes(), per_query
    real_rows = _rows(one / "real.csv")
    assert real_rows[0]["n_queries"] == str(len(keep)) and real_rows[0]["model"] == "hash"
    # the real set and the sweep read the chunk vectors the val run put in the cache
    with open(one / "real.csv", encoding="utf-8") as fh:
        assert int(next(csv.DictReader(fh))["cached_texts"]) >= len(val["corpus"])


def _plan(jobs: str | None) -> tuple[dict, Plan]:
    cfg = yaml.safe_load((REPO / ".test" / "evaluate.yaml").read_text())
    cfg["models"]["bm25+minilm"] = {"kind": "hybrid", "of": ["bm25", "minilm"]}
    if jobs:
        cfg["evaluation"] = {**cfg["evaluation"], "jobs": jobs}
    return cfg, Plan.of(cfg, REPO)


def test_the_plan_runs_one_job_per_encoder_and_the_per_set_rules_on_request(tmp_path):
    cfg, plan = _plan(None)
    assert plan.settings.evaluation.jobs == "model"  # the schema's default
    assert set(plan.model_jobs) == set(plan.encoder_models) and "bm25+minilm" not in plan.model_jobs
    runs = plan.model_runs("minilm")
    summaries = [r.summary for r in runs]
    val, real = "results/eval/minilm/drf_tutorial/en.csv", "results/eval/minilm/drf_tutorial/en.real.csv"
    assert summaries.index(val) < summaries.index(real)  # val first: the real set reads its cached chunks
    assert set(summaries) <= set(plan.evaluation_targets)
    targets = [
        real,
        "results/eval/bm25+minilm/drf_tutorial/en.csv",
        "results/eval/bm25/drf_tutorial/en.real.csv",
    ]
    (tmp_path / "model").mkdir()
    (tmp_path / "dataset").mkdir()
    blocks = dry_run_config(cfg, tmp_path / "model", targets).split("\n\n")
    job = next(b for b in blocks if "rule evaluate_model_compression:" in b and "model=minilm\n" in b)
    sweep = "results/eval/minilm/drf_tutorial/en.compression.csv"  # a dense model's sweep: the variant
    assert all(path in job for path in (val, real, sweep, "logs/evaluate_model/minilm.log"))
    lexical = next(b for b in blocks if "rule evaluate_model:" in b and "model=bm25\n" in b)  # no sweep
    assert "results/eval/bm25/drf_tutorial/en.csv" in lexical and ".compression" not in lexical
    assert not any("rule evaluate_retrieval" in b or "rule evaluate_compression" in b for b in blocks)
    hybrid = next(b for b in blocks if "rule evaluate_hybrid:" in b)
    assert val in next(line for line in hybrid.splitlines() if line.strip().startswith("input:"))

    cfg, plan = _plan("dataset")
    assert plan.model_jobs == []
    blocks = dry_run_config(cfg, tmp_path / "dataset", targets).split("\n\n")
    assert any("rule evaluate_retrieval_real:" in b and "model=minilm," in b for b in blocks)
    assert not any("rule evaluate_model" in b for b in blocks)
