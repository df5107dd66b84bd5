"""The module every rank of a data-parallel fine-tune runs (`python -m embedlab.train.rank_entry JOB.json`,
launched by torchrun from `train.distributed.launch`): read the job, join the process group, train.

Apart from train.distributed because it calls `finetune.run_training`, and finetune imports distributed:
here the imports run one way (rank_entry -> finetune -> distributed).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from embedlab import io
from embedlab.train.distributed import COLLECTIVE_TIMEOUT, ERROR_SUFFIX, TrainingJob, ddp_backend
from embedlab.train.finetune import run_training

log = logging.getLogger(__name__)


def _init_process_group(local_rank: int) -> str:
    """Pin this rank's GPU (before anything touches CUDA) and join the process group; the device kind."""
    import torch
    import torch.distributed as dist

    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        device = "cuda"
    else:
        device = "cpu"
    dist.init_process_group(backend=ddp_backend(device), timeout=COLLECTIVE_TIMEOUT)
    return device


def main(argv: list[str] | None = None) -> int:
    """One rank: read the job, join the group, train (`finetune.run_training`).

    A failure writes `rank{N}.error` (one line) beside the job for the launcher and logs the traceback."""
    args = sys.argv[1:] if argv is None else argv
    job_file = Path(args[0])
    me = int(os.environ.get("RANK", "0"))
    logging.basicConfig(
        level=logging.INFO if me == 0 else logging.WARNING,
        format=f"[rank {me}] %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    try:
        job = TrainingJob.from_record(io.read_json(job_file))
        _init_process_group(int(os.environ.get("LOCAL_RANK", "0")))
        run_training(job)
    except BaseException as exc:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:500]
        io.write_text(job_file.parent / f"rank{me}{ERROR_SUFFIX}", reason + "\n")
        log.exception("rank %d failed", me)
        return 1
    import torch.distributed as dist

    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
