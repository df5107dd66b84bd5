"""Per-rule logging: every script sends its log lines to the rule's `log:` file and ends in one clear line."""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from embedlab.errors import EmbedlabError
from embedlab.workflow.gpu import gpu_slot

log = logging.getLogger("embedlab")

FAILURES_DIR = Path(".snakemake") / "embedlab-failures"


def _failure_marker(snakemake: Any) -> Path:
    """Where a job's user-fixable failure is remembered between attempts (same rule, same outputs)."""
    key = "\x1f".join([str(getattr(snakemake, "rule", "?")), *map(str, snakemake.output)])
    return FAILURES_DIR / hashlib.sha1(key.encode()).hexdigest()


def run_rule(snakemake: Any, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run one library call for a Snakemake script with logging to `snakemake.log[0]`.

    An EmbedlabError becomes a single readable line (in the log and on stderr) and exit status 1, and is
    remembered so that Snakemake's retry of the job (`retries:`, meant for OOM and time-limit kills) fails
    at once instead of running the same work into the same error; anything else keeps its traceback,
    because that is a bug to report, not a user error.
    """
    attempt = int(snakemake.resources.get("attempt", 1))  # set by embedlab.workflow.resources.rule_resources
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if len(snakemake.log):  # a retry appends: the killed attempt's last lines say why it was retried
        handlers.append(
            logging.FileHandler(snakemake.log[0], mode="a" if attempt > 1 else "w", encoding="utf-8")
        )
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    log.info("rule %s%s", getattr(snakemake, "rule", "?"), f" (attempt {attempt})" if attempt > 1 else "")
    marker = _failure_marker(snakemake)
    if attempt > 1 and marker.is_file():
        # Retries are for resource kills (OOM, time limit): a config or data error fails the same way again.
        log.error("%s (not retried: a config or data error, not a resource kill)", marker.read_text("utf-8"))
        sys.exit(1)
    marker.unlink(missing_ok=True)
    try:
        # GPU rules get their own device on multi-GPU machines (a no-op on SLURM and on CPU-only machines);
        # this must happen before anything initialises CUDA.
        with gpu_slot(int(snakemake.resources.get("gpu", 0))):
            return func(*args, **kwargs)
    except EmbedlabError as exc:
        log.error("%s", exc)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(str(exc), encoding="utf-8")
        sys.exit(1)
