"""GPU slots for local multi-GPU runs: one device per running job, chosen by lock files.

Snakemake's `resources: gpu=1` only limits HOW MANY GPU jobs run at once; locally it never tells a job WHICH
device to use, so every job would start on GPU 0. `gpu_slot()` picks a free device by taking an exclusive
`flock` on one lock file per device and points CUDA_VISIBLE_DEVICES at it for the duration of the job. The
kernel drops a flock when its process dies, so a killed job never leaves a device "busy".

Under a scheduler (SLURM sets SLURM_JOB_ID and CUDA_VISIBLE_DEVICES itself) and on machines without GPUs the
context manager does nothing. Enter it before anything initialises CUDA: afterwards CUDA_VISIBLE_DEVICES is
no longer read, so the slot then falls back to `torch.cuda.set_device`.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

from embedlab.errors import EmbedlabError

log = logging.getLogger(__name__)

ENV_GPUS = "EMBEDLAB_GPUS"
"""Pretend this many GPUs exist (tests, or a machine where torch cannot count them)."""
ENV_LOCK_DIR = "EMBEDLAB_GPU_LOCK_DIR"
"""Where the per-device lock files live; all runs that share the GPUs must use the same directory."""
DEFAULT_LOCK_DIR = Path(".snakemake") / "gpu-locks"
SCHEDULER_VARS = ("SLURM_JOB_ID",)
"""Set inside a scheduler's job, which has already assigned the job its devices."""

_active: list[str] | None = None
"""Devices this process holds; CUDA_VISIBLE_DEVICES is per process, so one slot per process."""


def gpu_count() -> int:
    """Number of GPUs this process can see: EMBEDLAB_GPUS if set, else torch's count (0 without torch).

    torch counts through NVML, which does not initialise CUDA, so CUDA_VISIBLE_DEVICES set afterwards still
    takes effect.
    """
    override = os.environ.get(ENV_GPUS)
    if override is not None and override.strip() != "":
        try:
            n = int(override)
        except ValueError:
            n = -1
        if n < 0:
            raise EmbedlabError(
                f"{ENV_GPUS}={override!r} is not a GPU count: set it to an integer >= 0 or unset it"
            )
        return n
    try:
        import torch
    except ImportError:
        return 0
    return int(torch.cuda.device_count())


def device_pool() -> list[str]:
    """Device ids that slots are handed out from.

    CUDA_VISIBLE_DEVICES set by hand (outside a scheduler) restricts the pool to the devices it lists, e.g.
    "2,3"; otherwise it is 0..gpu_count()-1. CUDA ignores everything from the first invalid entry on (and
    "-1" hides all devices), so this does too.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return [str(i) for i in range(gpu_count())]
    pool: list[str] = []
    for entry in (e.strip() for e in visible.split(",")):
        if not entry or entry.startswith("-"):
            break
        pool.append(entry)
    return pool


def under_scheduler() -> bool:
    """True inside a batch job whose scheduler assigns devices itself."""
    return any(os.environ.get(var) for var in SCHEDULER_VARS)


def lock_dir() -> Path:
    """EMBEDLAB_GPU_LOCK_DIR, or .snakemake/gpu-locks below the working directory (the workflow's)."""
    return Path(os.environ.get(ENV_LOCK_DIR) or DEFAULT_LOCK_DIR)


def _lock_path(directory: Path, device: str) -> Path:
    # device ids may be UUIDs ("GPU-1a2b...", "MIG-..."): keep file names plain
    return directory / f"gpu{re.sub(r'[^A-Za-z0-9_.-]', '_', device)}.lock"


def _try_lock(path: Path) -> IO[str] | None:
    """Open and flock `path` without blocking; the open file is the lock (closing it releases)."""
    fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - returned to the caller, which closes it
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        return None
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()}\n")
    fh.flush()
    return fh


def _holder(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip() or "?"
    except OSError:
        return "?"


def _cuda_initialised() -> bool:
    torch = sys.modules.get("torch")
    return bool(torch is not None and torch.cuda.is_initialized())


@contextmanager
def gpu_slot(needed: int | bool = 1, poll_s: float = 1.0) -> Iterator[list[str]]:
    """Hold `needed` free GPUs for the block, with CUDA_VISIBLE_DEVICES pointing at them.

    Yields the device ids it assigned, or [] when it did nothing: `needed` is 0, the job runs under a
    scheduler (SLURM_JOB_ID), there is no GPU, or this process already holds a slot (nested use). When
    every device is taken it logs one line and waits. Asking for more devices than exist takes all of them.
    The previous CUDA_VISIBLE_DEVICES is restored on exit.
    Typical use around a rule's work: `with gpu_slot(snakemake.resources.get("gpu", 0)): ...`.
    """
    global _active
    want = int(needed)
    if want <= 0 or under_scheduler() or _active is not None:
        # a nested slot (or one in a child forked inside a slot) would wait for its own lock: reuse the outer
        yield []
        return
    pool = device_pool()
    if not pool:
        yield []
        return
    if want > len(pool):
        log.warning("job asks for %d GPUs but only %d exist (%s); using all", want, len(pool), ",".join(pool))
        want = len(pool)

    directory = lock_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with ExitStack() as held:
        taken = _acquire(directory, pool, want, poll_s, held)
        previous = os.environ.get("CUDA_VISIBLE_DEVICES")
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(taken)
        if _cuda_initialised():
            # too late for CUDA_VISIBLE_DEVICES in this process: at least make the first device current
            import torch

            log.warning("CUDA was initialised before gpu_slot(); selecting GPU %s with set_device", taken[0])
            torch.cuda.set_device(pool.index(taken[0]))
        log.info("using GPU %s", ",".join(taken))
        _active = taken
        try:
            yield taken
        finally:
            _active = None
            if previous is None:
                os.environ.pop("CUDA_VISIBLE_DEVICES", None)
            else:
                os.environ["CUDA_VISIBLE_DEVICES"] = previous


def _acquire(directory: Path, pool: list[str], want: int, poll_s: float, held: ExitStack) -> list[str]:
    """Lock `want` devices of `pool`, lowest ids first. Never waits while holding some (no deadlock)."""
    started = time.monotonic()
    waiting_logged = False
    while True:
        got: list[tuple[str, IO[str]]] = []
        for device in pool:
            fh = _try_lock(_lock_path(directory, device))
            if fh is not None:
                got.append((device, fh))
                if len(got) == want:
                    break
        if len(got) == want:
            for _, fh in got:
                held.callback(fh.close)
            if waiting_logged:
                log.info("GPU free after waiting %.0f s", time.monotonic() - started)
            return [device for device, _ in got]
        for _, fh in got:
            fh.close()
        if not waiting_logged:
            holders = ", ".join(f"gpu{d}: pid {_holder(_lock_path(directory, d))}" for d in pool)
            log.info("waiting for %d free GPU(s): all busy (%s; locks in %s)", want, holders, directory)
            waiting_logged = True
        time.sleep(poll_s)
