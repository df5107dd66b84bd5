"""Data-parallel fine-tuning: the rule's process launches torchrun, one process (rank) per GPU, each running
`python -m embedlab.train.rank_entry JOB.json` (its own module, so this one and finetune import in one
direction), which runs the same training as a single process; SentenceTransformerTrainer (transformers'
Trainer on accelerate) wraps the model in DDP and deals the sampler's batches to the ranks by itself once
torch.distributed is initialised.

Who writes what: the launcher owns the model folder (`io.atomic_dir` beside the final place, renamed only
when every rank exited 0); rank 0 writes the model, README.md and training.json into it; the other ranks
write nothing (only rank 0 saves checkpoints, see sentence_transformers._trainer_class; the others read the
best one at the end). The job file and a failing rank's one-line reason live in a `.{name}.partial-ddp-*`
folder beside the model, which `io.atomic_dir` of the next run clears if this one was killed.

One node: `torchrun --standalone --nproc-per-node=gpus`. Several nodes (SLURM only): one torchrun per node
through `srun --overlap --ntasks-per-node=1` inside the job's allocation, c10d rendezvous on the job's first
node as slurmctld lists it (`scontrol show job`: the Snakemake jobstep runs the rule in a one-task step, in
which SLURM_JOB_NODELIST names that step's node only; MASTER_ADDR/MASTER_PORT win when set, else port
20000 + job id mod 20000). Assumed there: the allocation has `nodes` nodes with `gpus` GPUs each
(resources.data_parallel asks for them), the nodes reach each other on that port, and the model folder is on
a file system that every node sees. Backend: nccl on CUDA, gloo without a GPU (how tests run two ranks on
a CPU).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from embedlab import filenames, io
from embedlab.data.training_data import DatasetFiles
from embedlab.errors import EmbedlabError
from embedlab.models.spec import ModelSpec
from embedlab.train.negatives import Oracle

log = logging.getLogger(__name__)
relay = logging.getLogger("embedlab.train.ranks")

ENTRY = "embedlab.train.rank_entry"
"""The module every rank runs (`python -m`)."""
JOB_FILE = "job.json"
SUPPORTED_BACKEND = "sentence-transformers"
ERROR_SUFFIX = ".error"
COLLECTIVE_TIMEOUT = timedelta(minutes=60)
"""How long a rank waits in a collective: the others wait at the trainer's first one while rank 0 alone
measures val before training (NCCL's own default, 10 minutes, is short for a large val set)."""


@dataclasses.dataclass(frozen=True)
class World:
    """Processes of a run: `per_node` ranks (one per GPU) on each of `nodes` nodes."""

    nodes: int
    per_node: int

    @property
    def size(self) -> int:
        return self.nodes * self.per_node


@dataclasses.dataclass(frozen=True)
class TrainingJob:
    """One fine-tune as each process runs it (`finetune.run_training`): in a data-parallel run the launcher
    writes it as the job file every rank reads."""

    name: str
    final: Path  # the model folder's final place
    workdir: Path  # the atomic folder rank 0 fills
    datasets: list[DatasetFiles]
    settings: dict[str, Any]
    base: ModelSpec
    seed: int
    threads: int = 0  # torch CPU threads of this process (0: torch's default)
    world: World = World(nodes=1, per_node=1)
    launcher: str = "none (one process)"
    guide: ModelSpec | None = None  # the GIST losses' guide (train.teachers)
    teacher: ModelSpec | None = None  # the distillation losses' teacher
    miner: ModelSpec | None = None  # the model that mines hard negatives (None: the base)
    oracle: Oracle | None = None  # the cross-encoder that vetoes hard negatives

    @property
    def helpers(self) -> dict[str, ModelSpec]:
        """The guide and/or teacher by role, those the loss uses."""
        return {role: spec for role, spec in (("guide", self.guide), ("teacher", self.teacher)) if spec}

    def record(self) -> dict[str, Any]:
        """The job file's JSON object."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out.update(
            final=str(self.final),
            workdir=str(self.workdir),
            datasets=[{k: str(v) for k, v in dataclasses.asdict(d).items()} for d in self.datasets],
            base=dataclasses.asdict(self.base),
            world=dataclasses.asdict(self.world),
            guide=dataclasses.asdict(self.guide) if self.guide else None,
            teacher=dataclasses.asdict(self.teacher) if self.teacher else None,
            miner=dataclasses.asdict(self.miner) if self.miner else None,
            oracle=dataclasses.asdict(self.oracle) if self.oracle else None,
        )
        return out

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> TrainingJob:
        return cls(
            **{
                **record,
                "final": Path(record["final"]),
                "workdir": Path(record["workdir"]),
                "datasets": [DatasetFiles(**d) for d in record["datasets"]],
                "base": ModelSpec(**record["base"]),
                "world": World(**record["world"]),
                "guide": ModelSpec(**record["guide"]) if record.get("guide") else None,
                "teacher": ModelSpec(**record["teacher"]) if record.get("teacher") else None,
                "miner": ModelSpec(**record["miner"]) if record.get("miner") else None,
                "oracle": Oracle(**record["oracle"]) if record.get("oracle") else None,
            }
        )


def world_of(settings: Mapping[str, Any]) -> World:
    """The world a `finetune` entry asks for (schema defaults: one node, one GPU)."""
    return World(nodes=int(settings["nodes"]), per_node=int(settings["gpus"]))


def backend_problem(settings: Mapping[str, Any]) -> str | None:
    """Why this entry cannot run data-parallel (None if it can): only sentence-transformers does DDP."""
    world = world_of(settings)
    if world.size > 1 and settings["backend"] != SUPPORTED_BACKEND:
        return (
            f"gpus {world.per_node} x nodes {world.nodes} needs backend {SUPPORTED_BACKEND} (backend "
            f"{settings['backend']} trains in one process): set gpus: 1 and nodes: 1, or change the backend"
        )
    return None


# ------------------------------------------------------------------------------------------ inside a rank


def rank() -> int:
    """This process's global rank (0 outside a distributed run)."""
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    """Processes of the running world (1 outside a distributed run)."""
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main() -> bool:
    """Rank 0, the only one that writes outputs (always true in a single process)."""
    return rank() == 0


def barrier() -> None:
    """Wait for every rank (nothing to wait for in a single process)."""
    import torch.distributed as dist

    if world_size() > 1:
        dist.barrier()


def ddp_backend(device: str) -> str:
    """nccl between CUDA devices, gloo between CPU processes."""
    return "nccl" if device == "cuda" else "gloo"


def check_same_on_every_rank(name: str, what: str, value: Any) -> None:
    """Fail (one line) unless `value` (JSON-able) is identical on every rank: data preparation must not
    diverge, or the ranks would shard different datasets."""
    import torch.distributed as dist

    if world_size() == 1:
        return
    digest = hashlib.sha256(json.dumps(value, sort_keys=True, default=sorted).encode()).hexdigest()
    digests: list[str | None] = [None] * world_size()
    dist.all_gather_object(digests, digest)
    if len(set(digests)) > 1:
        differing = [r for r, d in enumerate(digests) if d != digests[0]]
        raise EmbedlabError(
            f"fine-tune {name}: {what} differ between ranks (ranks {differing} vs rank 0): the ranks must "
            "read the same files; check that every node sees the same results folder"
        )


def run_facts(
    world: World, launcher: str, settings: Mapping[str, Any], gathered_loss: str | None, device: str
) -> dict[str, Any]:
    """training.json's `distributed` entry: the world, which loss gathered (`gathered_loss`; None for a loss
    without in-batch negatives), the effective batch, and what differs from a single-process run."""
    size = world.size
    gathers = size > 1 and gathered_loss is not None
    facts: dict[str, Any] = {
        "world_size": size,
        "nodes": world.nodes,
        "processes_per_node": world.per_node,
        "launcher": launcher,
        "backend": ddp_backend(device) if size > 1 else None,
        "gather_across_devices": gathers,
        "gathered_loss": gathered_loss if gathers else None,
        "per_device_batch_size": settings["batch_size"],
        "effective_batch_size": settings["batch_size"] * size,
        "differs_from_single_process": [],
    }
    if size == 1:
        return facts
    sampler = (
        "the no-false-negatives sampler plans rounds of world_size x batch_size pairs in the same seeded "
        "order as one process at that batch size, each round free of false negatives as a whole, and rank r "
        "trains on batch r of each round: one optimizer step covers one round"
        if settings["batches"] == "no_false_negatives"
        else "the no-duplicates sampler draws batches of batch_size in the same seeded order as one process; "
        "rank r trains on batches r, r + world_size, ...: one optimizer step covers world_size consecutive "
        "batches (duplicates are avoided within each batch, not across the ranks' batches)"
    )
    facts["differs_from_single_process"] = [
        sampler,
        f"{gathered_loss} gathers every rank's embeddings (gather_across_devices): each query is scored "
        f"against {size} x batch_size in-batch candidates, as in one batch of the effective size"
        if gathers
        else "the loss has no in-batch negatives: nothing is gathered across devices",
        "gradients are averaged over the ranks by DDP; the last incomplete round of batches of each epoch is "
        "dropped so that every rank takes the same number of steps",
        "data preparation (pairs, dev slice, hard negatives) runs identically on every rank before any "
        "sharding (checked by a digest); only rank 0 evaluates and writes",
    ]
    return facts


# ---------------------------------------------------------------------------------------------- launcher


def launch(job: TrainingJob) -> dict[str, Any]:
    """Train `job` in a world of processes under torchrun; rank 0 fills `job.workdir` (the caller's atomic
    folder). Returns training.json's facts; one line naming the failed rank if any rank fails."""
    name, final = job.name, job.final
    world = world_of(job.settings)
    _check_gpus(name, world)
    final.parent.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-ddp-", dir=final.parent))
    try:
        command, launcher = launch_command(name, world, run_dir / JOB_FILE, os.environ)
        per_rank = max(1, (job.threads or os.cpu_count() or 1) // world.per_node)
        rank_job = dataclasses.replace(job, threads=per_rank, world=world, launcher=launcher)
        io.write_json(run_dir / JOB_FILE, rank_job.record())
        log.info("fine-tune %s: %s (%d threads per rank)", name, " ".join(command), per_rank)
        env = {**os.environ, "OMP_NUM_THREADS": str(per_rank)}
        returncode = _run(command, _allocation_env(env) if world.nodes > 1 else env)
        if returncode != 0:
            raise EmbedlabError(_failure(name, world, run_dir, returncode))
        facts = io.read_json(job.workdir / filenames.TRAINING_FACTS)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return facts


def launch_command(
    name: str,
    world: World,
    job_file: Path,
    env: Mapping[str, str],
    hostnames: Callable[[str], list[str]] | None = None,
) -> tuple[list[str], str]:
    """The command that starts every rank, and a short description of it for training.json.

    Several nodes need a SLURM allocation (SLURM_JOB_ID): srun starts one torchrun per node. `hostnames`
    gives a job's hosts from its id (default: asked of slurmctld, `_scontrol_hostnames`)."""
    torchrun = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={world.per_node}"]
    rank_entry = ["--max-restarts=0", "-m", ENTRY, str(job_file)]
    if world.nodes == 1:
        return [*torchrun, "--standalone", "--nnodes=1", *rank_entry], "torchrun --standalone"
    job_id = env.get("SLURM_JOB_ID")
    if not job_id:
        raise EmbedlabError(
            f"fine-tune {name}: nodes {world.nodes} needs a SLURM allocation of {world.nodes} nodes (no "
            "SLURM_JOB_ID here): run with --workflow-profile profiles/slurm, or set "
            f"finetune.{name}.nodes: 1"
        )
    hosts = (hostnames or _scontrol_hostnames)(job_id)
    if len(hosts) < world.nodes:
        raise EmbedlabError(
            f"fine-tune {name}: nodes {world.nodes} but the SLURM job {job_id} has {len(hosts)} "
            f"({','.join(hosts)}): the job must be submitted with --nodes={world.nodes}"
        )
    host = env.get("MASTER_ADDR") or hosts[0]
    port = env.get("MASTER_PORT") or str(20000 + int(job_id) % 20000)
    srun = ["srun", "--overlap", f"--nodes={world.nodes}", f"--ntasks={world.nodes}", "--ntasks-per-node=1"]
    rendezvous = [
        f"--nnodes={world.nodes}",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint={host}:{port}",
        f"--rdzv-id={job_id}",
    ]
    command = [*srun, "--kill-on-bad-exit=1", *torchrun, *rendezvous, *rank_entry]
    return command, f"srun + torchrun (c10d rendezvous {host}:{port})"


def _allocation_env(env: Mapping[str, str]) -> dict[str, str]:
    """`env` for srun to start a step over the whole job: without the SLURM_* variables of the step this
    process may run in (the Snakemake jobstep's `srun -n1` leaves SLURM_JOB_NODELIST=its node and
    SLURM_NNODES=1, and srun then refuses: "Only allocated 1 nodes asked for 2"); srun looks the job's
    allocation up by SLURM_JOB_ID."""
    keep = {"SLURM_JOB_ID", "SLURM_CONF"}
    return {k: v for k, v in env.items() if not k.startswith("SLURM_") or k in keep}


def _scontrol_hostnames(job_id: str) -> list[str]:
    """The job's hosts as slurmctld has them (`scontrol show job`, `show hostnames`), not from the
    environment: the Snakemake jobstep strips the job's SLURM_* variables before its `srun -n1` step, whose
    SLURM_JOB_NODELIST then names the step's one node."""
    job = _scontrol(["show", "job", "-o", job_id])
    nodelist = re.search(r"(?:^|\s)NodeList=(\S+)", job)
    if nodelist is None:
        raise EmbedlabError(f"`scontrol show job {job_id}` shows no NodeList: is job {job_id} running?")
    return _scontrol(["show", "hostnames", nodelist[1]]).split()


def _scontrol(args: list[str]) -> str:
    try:
        return subprocess.run(["scontrol", *args], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise EmbedlabError(
            f"`scontrol {' '.join(args)}` failed ({exc}): run inside a SLURM job on a node with the SLURM "
            "client tools"
        ) from exc


def _check_gpus(name: str, world: World) -> None:
    """One process per GPU: fewer visible GPUs than `gpus` is a one-line error; none means CPU ranks (gloo).

    torch counts through NVML, so this does not initialise CUDA in the launcher."""
    import torch

    visible = torch.cuda.device_count()
    if visible == 0:
        log.warning("fine-tune %s: no GPU visible: %d CPU processes with gloo", name, world.per_node)
    elif visible < world.per_node:
        raise EmbedlabError(
            f"fine-tune {name}: gpus {world.per_node} but this job sees {visible} GPU(s) "
            f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}): lower "
            f"finetune.{name}.gpus, or let Snakemake hand out more (--resources gpu={world.per_node})"
        )


def _run(command: list[str], env: dict[str, str]) -> int:
    """Run the launcher, relaying every rank's lines (prefixed `[rank N]`) into this rule's log."""
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, bufsize=1
    ) as proc:
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.strip():  # progress bars end lines with carriage returns: skip the empty ones
                    relay.info("%s", line.rstrip())
            return proc.wait()
        except BaseException:
            proc.terminate()  # torchrun passes the signal on to its ranks
            proc.wait()
            raise


def _failure(name: str, world: World, run_dir: Path, returncode: int) -> str:
    """One line: the first rank that reported an error (its traceback is in the relayed log)."""
    reports = sorted(run_dir.glob(f"rank*{ERROR_SUFFIX}"), key=lambda p: p.stat().st_mtime_ns)
    if not reports:
        return (
            f"fine-tune {name}: the distributed run failed (launcher exit {returncode}) before any rank "
            "reported an error: see the [rank N] lines of this rule's log (a rank killed by a signal or the "
            "OOM killer leaves no message)"
        )
    first = reports[0]
    failed = first.name.removeprefix("rank").removesuffix(ERROR_SUFFIX)
    others = f"; {len(reports) - 1} more rank(s) failed after it" if len(reports) > 1 else ""
    reason = first.read_text(encoding="utf-8").strip()
    return (
        f"fine-tune {name}: rank {failed} of {world.size} failed: {reason} (launcher exit {returncode}; "
        f"its traceback is in this rule's log{others})"
    )
