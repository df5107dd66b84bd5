"""A real one-node SLURM cluster runs a tiny workflow through profiles/slurm; the GPU rule gets a SLURM GPU.

Needs root and apt (tests/cluster/slurm-up.sh installs and starts slurm + slurmdbd); skipped otherwise, or
with EMBEDLAB_SKIP_SLURM=1. About 35 s once the packages are installed (+ ~15 s to install them).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CLUSTER = REPO / "tests" / "cluster"
PROFILE = REPO / "profiles" / "slurm"

pytestmark = pytest.mark.slow

SNAKEFILE = """\
localrules: all

rule all:
    input: "gpu.txt", "cpu.txt"

# named after workflow rules so that the profile's set-resources/set-threads apply to them
rule finetune:
    output: "gpu.txt"
    resources: gpu=1
    shell: "echo ${{CUDA_VISIBLE_DEVICES:-unset}} > {output}"

rule chunk:
    output: "cpu.txt"
    shell: "echo ${{SLURM_JOB_ID:-unset}} > {output}"
"""


def _skip_reason() -> str | None:
    if os.environ.get("EMBEDLAB_SKIP_SLURM") == "1":
        return "EMBEDLAB_SKIP_SLURM=1"
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return "needs root on Linux (slurm-up.sh installs packages and writes /etc/slurm)"
    if shutil.which("apt-get") is None and shutil.which("slurmctld") is None:
        return "needs apt-get (Debian/Ubuntu) or an installed slurm"
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return "snakemake-executor-plugin-slurm is not installed"
    return None


def _env() -> dict[str, str]:
    """This environment without an outer SLURM job's variables, with the venv's snakemake first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="module")
def slurm_cluster() -> Iterator[None]:
    """Start the one-node cluster for this module, stop it afterwards."""
    reason = _skip_reason()
    if reason:
        pytest.skip(f"SLURM integration test skipped: {reason}")
    up = subprocess.run(
        ["bash", str(CLUSTER / "slurm-up.sh")], env=_env(), capture_output=True, text=True, timeout=600
    )
    if up.returncode in (3, 4):  # packages not installable / another SLURM owns this machine
        pytest.skip(f"SLURM integration test skipped: {up.stderr.strip().splitlines()[-1]}")
    assert up.returncode == 0, f"slurm-up.sh failed:\n{up.stdout}\n{up.stderr}"
    try:
        yield
    finally:
        subprocess.run(["bash", str(CLUSTER / "slurm-down.sh")], capture_output=True, timeout=120)


def _req_tres(jobid: str, timeout_s: float = 30) -> str:
    """ReqTRES of a finished job; slurmdbd may lag a few seconds behind the job's end."""
    deadline = time.monotonic() + timeout_s
    while True:
        out = subprocess.run(
            ["sacct", "-X", "-n", "-P", "-j", jobid, "-o", "State,ReqTRES"], capture_output=True, text=True
        ).stdout.strip()
        state, _, tres = out.partition("|")
        if (state == "COMPLETED" and tres) or time.monotonic() > deadline:
            return tres
        time.sleep(0.5)


def test_tiny_workflow_runs_through_slurm(slurm_cluster: None, tmp_path: Path) -> None:
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "--executor", "slurm", "--profile", str(PROFILE)],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    log = run.stdout + run.stderr
    assert run.returncode == 0, log

    # SLURM, not the local machine, ran both rules; the GPU job saw the GPU SLURM gave it
    assert (tmp_path / "gpu.txt").read_text().strip() == "0", log
    assert (tmp_path / "cpu.txt").read_text().strip().isdigit(), log

    jobs = dict(
        (rule, jobid)
        for jobid, rule in re.findall(r"submitted with SLURM jobid (\d+) \(log: \S*/rule_(\w+)/", log)
    )
    assert set(jobs) == {"finetune", "chunk"}, log
    gpu_tres, cpu_tres = _req_tres(jobs["finetune"]), _req_tres(jobs["chunk"])
    assert "gres/gpu=1" in gpu_tres, gpu_tres
    assert "gres/gpu" not in cpu_tres, cpu_tres
    # the profile's per-rule settings reached sbatch: set-threads finetune=8, set-resources mem_mb
    assert "cpu=8" in gpu_tres and "mem=32000M" in gpu_tres, gpu_tres
    assert "mem=2000M" in cpu_tres, cpu_tres
