"""What running through SLURM costs: a tiny 3-job chain locally vs through the one-node test cluster.

The chain chunk -> finetune (gpu=1) -> report does no work, so the times are pure overhead: Snakemake start,
sbatch, the job's own Snakemake start inside SLURM, and the executor's status polling. Variants:
- local, `--workflow-profile profiles/default`;
- SLURM, `--workflow-profile profiles/slurm` (first status check after 2 s, sacct);
- the same with `--slurm-status-command squeue`, and with the first check after 10 s and after 40 s (the
  plugin's default);
- starting (restarting) and stopping the cluster with tests/cluster/slurm-{up,down}.sh.

Needs root + apt like tests/test_slurm.py. Usage: .venv/bin/python benchmarks/slurm_overhead.py [--quick]
(--quick skips the 40 s variant: ~3 min instead of ~5).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLUSTER = REPO / "tests" / "cluster"

SNAKEFILE = """\
localrules: all

rule all:
    input: "report.txt"

rule chunk:
    output: "chunks.txt"
    shell: "echo chunks > {output}"

rule finetune:
    input: "chunks.txt"
    output: "model.txt"
    resources: gpu=1
    shell: "echo gpu=${{CUDA_VISIBLE_DEVICES:-none}} > {output}"

rule report:
    input: "model.txt"
    output: "report.txt"
    shell: "cat {input} > {output}"
"""


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    out["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{out.get('PATH', '')}"
    return out


def timed(cmd: list[str], cwd: Path | None = None) -> float:
    start = time.perf_counter()
    run = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - start
    if run.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    return elapsed


def workflow(*args: str) -> float:
    """Run the chain in a fresh directory; return the wall time of the snakemake command."""
    with tempfile.TemporaryDirectory(prefix="embedlab-slurm-bench-") as tmp:
        Path(tmp, "Snakefile").write_text(SNAKEFILE)
        elapsed = timed([sys.executable, "-m", "snakemake", *args], cwd=Path(tmp))
        assert Path(tmp, "report.txt").read_text().startswith("gpu="), "chain did not finish"
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 40 s first-status-check variant")
    quick = parser.parse_args().quick

    rows: list[tuple[str, float]] = []
    rows.append(("slurm-up.sh (restart incl. smoke tests)", timed(["bash", str(CLUSTER / "slurm-up.sh")])))
    slurm = ["--executor", "slurm", "--workflow-profile", str(REPO / "profiles" / "slurm")]
    rows.append(
        ("local, profiles/default", workflow("--workflow-profile", str(REPO / "profiles" / "default")))
    )
    rows.append(("SLURM, profiles/slurm (first check 2 s, sacct)", workflow(*slurm)))
    rows.append(
        ("SLURM, --slurm-status-command squeue", workflow(*slurm, "--slurm-status-command", "squeue"))
    )
    for init in (10,) if quick else (10, 40):
        label = f"SLURM, first check after {init} s" + (" (plugin default)" if init == 40 else "")
        rows.append((label, workflow(*slurm, "--slurm-init-seconds-before-status-checks", str(init))))
    rows.append(("slurm-down.sh", timed(["bash", str(CLUSTER / "slurm-down.sh")])))

    print("| what (3-job chain: chunk -> finetune[gpu] -> report) | wall s |")
    print("|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
