"""The finetune rule end to end in Snakemake: real securities-law text -> chunks -> queries -> split ->
results/models/{name} with the tiny test model; the script adapter, log and directory output work."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from ft_fixtures import REPO, build_tiny_model

pytestmark = pytest.mark.slow
ZH = "securities_law/securities_law_2019.md"


def test_finetune_rule_builds_a_loadable_model_dir(corpora, tmp_path):
    from sentence_transformers import SentenceTransformer

    tiny = build_tiny_model(corpora, tmp_path / "tiny")
    work = tmp_path / "work"
    work.mkdir()
    config = {
        "corpus_root": str(corpora),
        "corpora": {"securities_law": {"languages": {"zh": {"file": ZH}}}},
        "models": {"tiny": {"source": str(tiny)}},
        "finetune": {"tiny-zh": {"base": "tiny", "datasets": ["securities_law/zh"], "batch_size": 8,
                                 "max_steps": 2}},
    }  # fmt: skip
    (work / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(work),
           "--cores", "2", "--resources", "gpu=1", "--configfile", str(work / "config.yaml"), "--",
           "results/models/tiny-zh"]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    out = work / "results" / "models" / "tiny-zh"
    assert SentenceTransformer(str(out), device="cpu").encode(["证券"]).shape == (1, 64)
    assert (out / "README.md").is_file() and (out / "training.json").is_file()
    log = (work / "logs" / "finetune_model" / "tiny-zh.log").read_text(encoding="utf-8")
    assert "rule finetune_model" in log and "fine-tune tiny-zh: wrote results/models/tiny-zh" in log
    again = subprocess.run([*cmd[:-2], "-n", "--", "results/models/tiny-zh"], capture_output=True, text=True)
    assert "Nothing to be done" in again.stdout + again.stderr
