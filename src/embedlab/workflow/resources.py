"""What each rule asks a scheduler for: the rule's own numbers, scaled by the config and grown on retries.

Rules declare `threads`, `mem_mb`, `runtime` (minutes) and `gpu` through `res()`/`threads_of()` in
rules/common.smk, which call this module. The config's `resources` section (schemas/config.schema.yaml)
scales memory and runtime for a whole site (`scale_mem`, `scale_runtime`), replaces single values per rule
(`rules: {finetune: {mem_mb: 64000}}`), and says how much more a retried job gets: attempt n (Snakemake's
`attempt`, n > 1 only with `--retries`, which both profiles set) asks for `retry_mem ** (n - 1)` times the
memory and `retry_runtime ** (n - 1)` times the runtime. So a job that SLURM killed for OUT_OF_MEMORY or
TIMEOUT comes back with more, instead of failing the same way again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from embedlab.workflow.settings import ResourceSettings, section

Value = int | float | Callable[[Any], int | float]
"""A rule's own value: a number, or a function of the job's wildcards (e.g. GPU only for GPU models)."""

SCALED = {"mem_mb": ("scale_mem", "retry_mem"), "runtime": ("scale_runtime", "retry_runtime")}
"""Resources that the config scales and that grow per attempt: (scale key, retry growth key)."""


def settings(config: dict[str, Any]) -> ResourceSettings:
    """The validated config's `resources` section (the schema fills every default)."""
    return section(ResourceSettings, config, "resources")


def value(
    config: dict[str, Any], rule: str, name: str, base: Value, wildcards: Any = None, attempt: int = 1
) -> int:
    """One resource of one job: a per-rule override as given, else `base` times the scale; then the growth.

    Growth applies to overrides too, so a retry always asks for more than the attempt that was killed.
    Memory and runtime are rounded up (never below 1); other resources (gpu, disk_mb, ...) are neither
    scaled nor grown.
    """
    cfg = settings(config)
    override = (cfg.rules.get(rule) or {}).get(name)
    if override is not None:
        amount: float = override
    else:
        amount = base(wildcards) if callable(base) else base
        if name in SCALED:
            amount *= getattr(cfg, SCALED[name][0])
    if name not in SCALED:
        return int(amount)
    amount *= getattr(cfg, SCALED[name][1]) ** (max(int(attempt), 1) - 1)
    return max(1, math.ceil(round(amount, 6)))


def rule_resources(config: dict[str, Any], rule: str, base: dict[str, Value]) -> dict[str, Any]:
    """`resources:` of a rule as Snakemake callables of (wildcards, attempt); overrides may add resources."""
    wanted = {**base, **{k: None for k in (settings(config).rules.get(rule) or {}) if k != "threads"}}

    def resource(name: str) -> Callable[[Any, int], int]:
        def evaluate(wildcards: Any, attempt: int) -> int:
            return value(config, rule, name, wanted[name], wildcards, attempt)

        evaluate.__name__ = f"{rule}_{name}"
        return evaluate

    def attempt(wildcards: Any, attempt: int) -> int:
        return attempt

    # Not a resource: how the job's script (workflow.run_rule.run_rule) learns which attempt it is, since
    # Snakemake's `snakemake` object does not say; a retried config/data error then fails at once.
    return {name: resource(name) for name in wanted} | {"attempt": attempt}


def threads(config: dict[str, Any], rule: str, default: int) -> int:
    """`threads:` of a rule: the config's per-rule override, else the rule's own number."""
    override = (settings(config).rules.get(rule) or {}).get("threads")
    return int(override if override is not None else default)
