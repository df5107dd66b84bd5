"""Rule resources: every rule declares them through res()/threads_of(), the config scales and overrides them,
and a retried job (Snakemake's `attempt`) asks for more memory and time."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from embedlab.errors import EmbedlabError
from embedlab.settings import SCHEMA, Settings
from embedlab.workflow.config import validate_config
from embedlab.workflow.resources import asks_for_gpus, rule_resources, threads, value

from conftest import REPO

RULE_RE = re.compile(r"^rule (\w+):\n(.*?)(?=^\S|\Z)", re.M | re.S)


def _rules() -> dict[str, str]:
    """Rule name -> body, from every rules/*.smk and the Snakefile."""
    out = {}
    for path in [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]:
        out.update(RULE_RE.findall(path.read_text(encoding="utf-8")))
    return out


def _job_rules() -> dict[str, str]:
    """Rules that run a job (the others are local target lists: all, report, word2vec_all)."""
    return {
        name: body for name, body in _rules().items() if re.search(r"^    (script|shell|run):", body, re.M)
    }


def test_every_job_rule_declares_threads_resources_and_conda_env() -> None:
    rules = _job_rules()
    assert {"chunk_corpus", "split_dataset", "evaluate_retrieval", "train_word2vec"} <= set(rules)
    for name, body in rules.items():
        assert f'    threads: threads_of("{name}", ' in body, f"rule {name}: threads: threads_of({name!r}, N)"
        res = re.search(
            rf'^    resources:\n        \*\*res\(\n?\s*"{name}",(.*?)\),?\n    \w', body, re.M | re.S
        )
        assert res, f'rule {name}: resources: **res("{name}", mem_mb=..., runtime=...)'
        assert "mem_mb=" in res[1] and "runtime=" in res[1], f"rule {name}: mem_mb and runtime"
        env = re.search(r'^    conda:\n        "\.\./(envs/[\w.-]+\.yaml)"', body, re.M)
        assert env and (REPO / env[1]).is_file(), f"rule {name}: conda: an existing ../envs/*.yaml"


def test_gpu_is_declared_where_models_run() -> None:
    rules = _job_rules()
    for name in (
        "finetune_model",
        "evaluate_retrieval",
        "evaluate_crosslingual",
        "crosscheck_evaluators",
        "evaluate_mteb",
        "generate_llm_queries",
    ):
        if name in rules:
            assert "gpu=" in rules[name], f"rule {name} computes embeddings / trains / may run an LLM: gpu"
    for name in (
        "chunk_corpus",
        "generate_queries",
        "build_dataset",
        "split_dataset",
        "compare_models",
        "write_mteb_card",
        "publish_model",
        "summarize_results",
    ):
        if name in rules:
            assert "gpu=" not in rules[name], name


def test_schema_lists_every_job_rule() -> None:
    """resources.rules accepts exactly the rule names (a typo is a config error), so a new rule goes there."""
    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    names = schema["properties"]["resources"]["properties"]["rules"]["propertyNames"]["enum"]
    assert sorted(set(_job_rules()) - set(names)) == []
    assert len(names) == len(set(names))


def _config(section: dict | None = None) -> dict:
    cfg = {"corpora": {"c": {"languages": {"en": {"file": "x.txt"}}}}}
    if section is not None:
        cfg["resources"] = section
    return validate_config(cfg, REPO)


def test_defaults_leave_the_rules_numbers_and_grow_retries() -> None:
    cfg = _config()
    assert cfg["resources"] == {
        "gpu_jobs": "auto",
        "scale_mem": 1.0,
        "scale_runtime": 1.0,
        "retry_mem": 1.5,
        "retry_runtime": 2.0,
        "rules": {},
    }
    res = Settings.of(cfg).resources
    assert [value(res, "chunk_corpus", "mem_mb", 2048, attempt=a) for a in (1, 2, 3)] == [2048, 3072, 4608]
    assert [value(res, "chunk_corpus", "runtime", 20, attempt=a) for a in (1, 2, 3)] == [20, 40, 80]
    assert value(res, "evaluate_retrieval", "gpu", 1, attempt=3) == 1  # GPUs are neither scaled nor grown


def test_scale_and_per_rule_overrides() -> None:
    cfg = _config(
        {
            "scale_mem": 0.5,
            "scale_runtime": 3,
            "retry_mem": 1,
            "rules": {
                "finetune_model": {"mem_mb": 64000, "threads": 16, "gpu": 2},
                "chunk_corpus": {"runtime": 7},
            },
        }
    )
    res = Settings.of(cfg).resources
    assert value(res, "chunk_corpus", "mem_mb", 2049) == 1025  # rounded up
    assert value(res, "split_dataset", "runtime", 10) == 30
    assert value(res, "chunk_corpus", "runtime", 20) == 7  # an override is exact, not scaled ...
    assert value(res, "chunk_corpus", "runtime", 20, attempt=2) == 14  # ... but still grows on a retry
    assert value(res, "finetune_model", "mem_mb", 8000, attempt=2) == 64000  # retry_mem 1
    assert value(res, "finetune_model", "gpu", 1) == 2
    assert threads(res, "finetune_model", 8) == 16 and threads(res, "chunk_corpus", 1) == 1


def test_rule_resources_are_snakemake_callables_of_wildcards_and_attempt() -> None:
    cfg = _config({"rules": {"evaluate_retrieval": {"gpu": 0}}})
    base = {"gpu": 1, "mem_mb": lambda wc: 12000 if wc.model == "minilm" else 4000, "runtime": 120}
    res = rule_resources(Settings.of(cfg).resources, "evaluate_retrieval", base)
    assert set(res) == {"gpu", "mem_mb", "runtime", "attempt"}
    wc = SimpleNamespace(model="minilm")
    assert [res["attempt"](wc, a) for a in (1, 2)] == [1, 2]  # how run_rule knows a retry
    assert [res["mem_mb"](wc, 2), res["runtime"](wc, 2), res["gpu"](wc, 1)] == [18000, 240, 0]
    assert res["mem_mb"](SimpleNamespace(model="bm25"), 1) == 4000
    # an override may add a resource the rule does not declare
    extra = rule_resources(
        Settings.of(_config({"rules": {"chunk_corpus": {"gpu": 1}}})).resources,
        "chunk_corpus",
        {"mem_mb": 1, "runtime": 1},
    )
    assert extra["gpu"](None, 1) == 1


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"rules": {"finetun": {"mem_mb": 1}}}, "finetun"),
        ({"rules": {"chunk_corpus": {"memory": 1}}}, "unknown key 'memory'"),
        ({"scale_mem": 0}, "scale_mem"),
        ({"retry_runtime": 0.5}, "retry_runtime"),
    ],
)
def test_config_mistakes_are_one_line_errors(section: dict, message: str) -> None:
    with pytest.raises(EmbedlabError, match=re.escape(message)):
        _config(section)


def test_profiles_do_not_override_rule_resources() -> None:
    """A number under set-resources/set-threads would replace the config scaling and the retry growth."""
    for profile in ("default", "slurm"):
        cfg = yaml.safe_load((REPO / "profiles" / profile / "config.yaml").read_text(encoding="utf-8"))
        assert not cfg.get("set-threads"), profile
        for rule, res in (cfg.get("set-resources") or {}).items():
            for key in ("mem_mb", "runtime", "threads"):
                assert key not in res or "attempt" in str(res[key]), f"{profile}: set-resources {rule}.{key}"
    slurm = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text(encoding="utf-8"))
    assert slurm["retries"] >= 1 and slurm["executor"] == "slurm"


def test_local_profile_sets_what_a_cluster_run_must_not_inherit() -> None:
    """profiles/default is Snakemake's implicit workflow profile and overrides --profile key by key, so the
    cluster command must replace it (--workflow-profile profiles/slurm); the README says so."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "--workflow-profile profiles/slurm" in readme
    assert not re.search(r"snakemake --profile profiles/slurm(?! --workflow-profile)", readme)
    assert Path(REPO / "profiles" / "default" / "config.yaml").is_file()


def test_a_retry_appends_to_the_rule_log_and_a_user_error_is_not_retried(tmp_path, monkeypatch) -> None:
    """Attempt 2 keeps attempt 1's lines (why it was killed) and fails at once on a remembered user error."""
    from embedlab.workflow.run_rule import run_rule

    monkeypatch.chdir(tmp_path)
    log_file = tmp_path / "rule.log"

    def job(attempt: int) -> SimpleNamespace:
        return SimpleNamespace(
            rule="r", output=["out"], log=[str(log_file)], resources={"attempt": attempt, "gpu": 0}
        )

    def bad() -> None:
        raise EmbedlabError("bad chunk_size: set chunking.chunk_size")

    with pytest.raises(SystemExit):
        run_rule(job(1), bad)
    with pytest.raises(SystemExit):
        run_rule(job(2), bad)
    lines = log_file.read_text(encoding="utf-8").splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == [
        "rule r",
        "bad chunk_size: set chunking.chunk_size",
        "rule r (attempt 2)",
        "bad chunk_size: set chunking.chunk_size (not retried: a config or data error, not a resource kill)",
    ]
    assert run_rule(job(1), lambda: 7) == 7
    assert log_file.read_text(encoding="utf-8").count("\n") == 1  # a first attempt starts the log afresh


def test_gpu_tokens_only_where_a_gpu_can_be_used(monkeypatch) -> None:
    """auto: a cluster executor always asks (its nodes may have GPUs this machine lacks); a local run asks
    only when this machine has a GPU; without the ask the rule's gpu is 0 but a per-rule value still wins."""
    for count, local_auto in (("0", False), ("2", True)):
        monkeypatch.setenv("EMBEDLAB_GPUS", count)
        assert asks_for_gpus("auto", local=True) is local_auto
        assert asks_for_gpus("auto", local=False) is True
        assert asks_for_gpus("always", local=True) is True and asks_for_gpus("never", local=False) is False
    wc = SimpleNamespace(model="minilm")
    res = Settings.of(_config({})).resources
    asked = []

    def no() -> bool:
        asked.append(1)
        return False

    without = rule_resources(res, "evaluate_retrieval", {"gpu": 1, "mem_mb": 100}, gpus=no)
    assert not asked  # asked per job, not when the rule is read (the executor is not known then)
    assert without["gpu"](wc, 1) == 0 and without["mem_mb"](wc, 1) == 100 and asked
    assert rule_resources(res, "evaluate_retrieval", {"gpu": 1}, gpus=lambda: True)["gpu"](wc, 1) == 1
    assert "gpu" not in rule_resources(res, "chunk_corpus", {"mem_mb": 100}, gpus=no)
    forced = Settings.of(_config({"rules": {"evaluate_retrieval": {"gpu": 1}}})).resources
    assert rule_resources(forced, "evaluate_retrieval", {"gpu": 1}, gpus=no)["gpu"](wc, 1) == 1
