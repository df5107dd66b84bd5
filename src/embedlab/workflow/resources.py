"""What each rule asks a scheduler for: the rule's own numbers, scaled by the config and grown on retries.

Rules declare `threads`, `mem_mb`, `runtime` (minutes) and `gpu` through `res()`/`threads_of()` in
rules/common.smk, which call this module with the plan's typed `resources` settings. The config's
`resources` section (the schema, src/embedlab/config.schema.yaml) scales memory and runtime for a whole
site (`scale_mem`, `scale_runtime`), replaces single values per rule (`rules: {finetune: {mem_mb: 64000}}`),
and says how much more a retried job gets: attempt n (Snakemake's `attempt`, n > 1 only with `--retries`,
which both profiles set) asks for `retry_mem ** (n - 1)` times the memory and `retry_runtime ** (n - 1)`
times the runtime. So a job that SLURM killed for OUT_OF_MEMORY or TIMEOUT comes back with more, instead of
failing the same way again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from embedlab.settings import ResourceSettings
from embedlab.workflow import gpu

Value = int | float | str | Callable[[Any], int | float | str]
"""A rule's own value: a number (or a string such as SLURM's `gres`), or a function of the job's wildcards
(e.g. GPU only for GPU models)."""

SCALED = {"mem_mb": ("scale_mem", "retry_mem"), "runtime": ("scale_runtime", "retry_runtime")}
"""Resources that the config scales and that grow per attempt: (scale key, retry growth key)."""


def value(
    settings: ResourceSettings, rule: str, name: str, base: Value, wildcards: Any = None, attempt: int = 1
) -> int | str:
    """One resource of one job: a per-rule override as given, else `base` times the scale; then the growth.

    Growth applies to overrides too, so a retry always asks for more than the attempt that was killed.
    Memory and runtime are rounded up (never below 1); other resources (gpu, disk_mb, ...) are neither
    scaled nor grown; strings (gres) pass as they are.
    """
    override = (settings.rules.get(rule) or {}).get(name)
    if override is not None:
        amount: float | str = override
    else:
        amount = base(wildcards) if callable(base) else base
        if isinstance(amount, str):
            return amount
        if name in SCALED:
            amount *= getattr(settings, SCALED[name][0])
    if name not in SCALED:
        return int(amount)
    amount *= getattr(settings, SCALED[name][1]) ** (max(int(attempt), 1) - 1)
    return max(1, math.ceil(round(amount, 6)))


def asks_for_gpus(setting: str, local: bool) -> bool:
    """Whether GPU-capable rules ask for the `gpu` resource (`resources.gpu_jobs`): `local` is Snakemake's
    local execution (False: a cluster executor, whose nodes may have GPUs the submitting machine lacks).

    On a machine without GPUs every such job runs on the CPU anyway; asking for a token there only makes
    `--resources gpu=1` run them one at a time while cores sit idle."""
    if setting != "auto":
        return setting == "always"
    return not local or gpu.gpu_count() > 0


def rule_resources(
    settings: ResourceSettings, rule: str, base: dict[str, Value], gpus: Callable[[], bool] = lambda: True
) -> dict[str, Any]:
    """`resources:` of a rule as Snakemake callables of (wildcards, attempt); overrides may add resources.
    When `gpus()` (`asks_for_gpus`) says no, the rule's own `gpu` is 0. It is asked per job, not when the
    rule is read: Snakemake reads the Snakefile before it knows its executor."""
    wanted = {**base, **{k: None for k in (settings.rules.get(rule) or {}) if k != "threads"}}

    def resource(name: str) -> Callable[[Any, int], int | str]:
        def evaluate(wildcards: Any, attempt: int) -> int | str:
            own = 0 if name == "gpu" and wanted[name] is not None and not gpus() else wanted[name]
            return value(settings, rule, name, own, wildcards, attempt)

        evaluate.__name__ = f"{rule}_{name}"
        return evaluate

    def attempt(wildcards: Any, attempt: int) -> int:
        return attempt

    # Not a resource: how the job's script (workflow.run_rule.run_rule) learns which attempt it is, since
    # Snakemake's `snakemake` object does not say; a retried config/data error then fails at once.
    return {name: resource(name) for name in wanted} | {"attempt": attempt}


def threads(settings: ResourceSettings, rule: str, default: int) -> int:
    """`threads:` of a rule: the config's per-rule override, else the rule's own number."""
    override = (settings.rules.get(rule) or {}).get("threads")
    return int(override if override is not None else default)


def data_parallel(entries: dict[str, dict[str, Any]], gpu: int, mem_mb: int) -> dict[str, Value]:
    """Base resources of a data-parallel rule whose `{name}` wildcard is an entry with `gpus` and `nodes`
    (rule finetune_model): the rule's per-process `gpu` and `mem_mb`, times the processes on one node.

    One node: `gpu` = gpus × gpu, which is both the local `--resources gpu=N` accounting (and the job's GPU
    slot) and, through snakemake-executor-plugin-slurm 2.8.0, `--gpus=N` on sbatch and on the jobstep's
    `srun -n1` that runs the script. Several nodes: `--gpus` is a total per job that the one-task jobstep
    would also demand on its single node, so `gpu` is 0 and `gres` asks for `gpu:N` per node (sbatch's
    `--gres` is per node) with `nodes` = M; the script then starts one torchrun per node itself
    (embedlab.train.distributed). `nodes`/`gres` are declared only when some entry has nodes > 1, so
    single-node configs submit exactly as before. Memory is per node (sbatch `--mem`), so it grows with the
    processes on a node; `tasks` is not used: with a GPU the plugin turns it into `--ntasks-per-gpu`.
    """

    def entry(wildcards: Any) -> dict[str, Any]:
        return entries[wildcards.name]

    base: dict[str, Value] = {
        "gpu": lambda wc: gpu * entry(wc)["gpus"] if entry(wc)["nodes"] == 1 else 0,
        "mem_mb": lambda wc: mem_mb * entry(wc)["gpus"],
    }
    if any(e["nodes"] > 1 for e in entries.values()):
        base["nodes"] = lambda wc: entry(wc)["nodes"]
        base["gres"] = lambda wc: f"gpu:{gpu * entry(wc)['gpus']}" if entry(wc)["nodes"] > 1 and gpu else ""
    return base
