"""Per-rule logging: every script sends its log lines to the rule's `log:` file and ends in one clear line."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from embedlab.errors import EmbedlabError
from embedlab.gpu import gpu_slot

log = logging.getLogger("embedlab")


def run_rule(snakemake: Any, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run one library call for a Snakemake script with logging to `snakemake.log[0]`.

    An EmbedlabError becomes a single readable line (in the log and on stderr) and exit status 1;
    anything else keeps its traceback, because that is a bug to report, not a user error.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if len(snakemake.log):
        handlers.append(logging.FileHandler(snakemake.log[0], mode="w", encoding="utf-8"))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    log.info("rule %s", getattr(snakemake, "rule", "?"))
    try:
        # GPU rules get their own device on multi-GPU machines (a no-op on SLURM and on CPU-only machines);
        # this must happen before anything initialises CUDA.
        with gpu_slot(int(snakemake.resources.get("gpu", 0))):
            return func(*args, **kwargs)
    except EmbedlabError as exc:
        log.error("%s", exc)
        sys.exit(1)
