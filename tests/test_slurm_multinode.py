"""A two-node data-parallel fine-tune through a real SLURM (tests/cluster/slurm-up.sh with
EMBEDLAB_SLURM_NODES=2: two slurmd daemons on this machine, one fake GPU each) with profiles/slurm.

The workflow's `finetune` has two entries that differ only in their world: `one` (gpus: 2, one node: torchrun
--standalone with two gloo ranks) runs locally and builds the dataset; `two` (gpus: 1, nodes: 2) then goes
through SLURM: sbatch --nodes=2, the jobstep runs the rule's script on one node, which starts one torchrun
per node with srun (c10d rendezvous). Same world size, same dealing of batches to ranks, one thread per
rank in both: the two models are bit-equal. sacct shows the job on both nodes and the srun step's two tasks.

The node names node1/node2 do not resolve (slurm-up.sh), so the workflow runs with MASTER_ADDR=127.0.0.1,
which sbatch (--export=ALL) hands to the job. Needs root and the slurm packages, as tests/test_slurm.py;
it restarts the cluster with two nodes, so the two modules must not run at the same time. About 75 s.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ft_fixtures import build_tiny_model
from test_slurm import LOCAL_PROFILE, REPO, SLURM_PROFILE, _env, _sacct, _submitted, running_cluster

pytestmark = pytest.mark.slow

ZH = "securities_law/securities_law_2019.md"
ENTRY = {"base": "tiny", "datasets": ["securities_law/zh"], "batch_size": 8, "max_steps": 4, "warmup": 0}


@pytest.fixture(scope="module")
def two_node_cluster():
    """The cluster with two nodes for this module, stopped afterwards."""
    with running_cluster(EMBEDLAB_SLURM_NODES="2"):
        yield


def _snakemake(work: Path, target: str, *args: str) -> str:
    env = {**_env(), "MASTER_ADDR": "127.0.0.1"}
    cmd = [sys.executable, "-m", "snakemake", target, "-s", str(REPO / "Snakefile"), *args]
    res = subprocess.run(
        [*cmd, "--configfile", str(work / "config.yaml")],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = res.stdout + res.stderr
    assert res.returncode == 0, f"{target} failed:\n{log[-5000:]}"
    return log


def test_two_node_finetune_through_slurm_equals_the_one_node_run(two_node_cluster, corpora, tmp_path):
    from safetensors.torch import load_file

    from embedlab import io

    tiny = build_tiny_model(corpora, tmp_path / "tiny")
    work = tmp_path / "work"
    work.mkdir()
    config = {
        "corpus_root": str(corpora),
        "corpora": {"securities_law": {"languages": {"zh": {"file": ZH}}}},
        "models": {"tiny": {"source": str(tiny)}},
        "finetune": {"one": {**ENTRY, "gpus": 2}, "two": {**ENTRY, "gpus": 1, "nodes": 2}},
        # one torch thread per rank in both runs (threads are split between a node's ranks)
        "resources": {"rules": {"finetune_model": {"threads": 1}}},
    }
    (work / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    local = ["--workflow-profile", str(LOCAL_PROFILE), "--cores", "2", "--resources", "gpu=2"]
    _snakemake(work, "results/models/one", *local)
    log = _snakemake(work, "results/models/two", "--workflow-profile", str(SLURM_PROFILE))

    # only the fine-tune went through SLURM (the dataset was there), on both nodes, with the srun step
    jobs = _submitted(log)
    assert [job["rule"] for job in jobs.values()] == ["finetune_model"], log[-4000:]
    (job_id,) = jobs
    assert jobs[job_id]["nodes"] == "2" and jobs[job_id]["gres"] == "gpu:1", jobs
    record = _sacct([job_id])[job_id]
    assert record["State"] == "COMPLETED" and "node=2" in record["ReqTRES"], record
    steps = subprocess.run(
        ["sacct", "-n", "-P", "-j", job_id, "-o", "JobID,NNodes,NTasks,NodeList,State"],
        capture_output=True,
        text=True,
    ).stdout.split()
    assert f"{job_id}.1|2|2|node[1-2]|COMPLETED" in steps, steps  # step 0 runs the script, 1 the torchruns

    two = io.read_json(work / "results" / "models" / "two" / "training.json")
    one = io.read_json(work / "results" / "models" / "one" / "training.json")
    port = 20000 + int(job_id) % 20000
    assert {k: two["distributed"][k] for k in ("world_size", "nodes", "processes_per_node", "launcher")} == {
        "world_size": 2,
        "nodes": 2,
        "processes_per_node": 1,
        "launcher": f"srun + torchrun (c10d rendezvous 127.0.0.1:{port})",
    }
    assert one["distributed"]["launcher"] == "torchrun --standalone" and one["distributed"]["world_size"] == 2
    assert two["loss_curve"] == one["loss_curve"] and two["dev_curve"] == one["dev_curve"]
    a = load_file(work / "results" / "models" / "one" / "model.safetensors")
    b = load_file(work / "results" / "models" / "two" / "model.safetensors")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    base = load_file(tiny / "model.safetensors")
    assert any(not (base[k] == a[k]).all() for k in base), "training changed nothing"
