"""GPU check of the local GPU-slot allocator (< 1 min): concurrent jobs on real CUDA devices.

    .venv/bin/python benchmarks/cuda_check_gpu_slots.py

Starts one more job than there are GPUs (spawned processes, as Snakemake runs rule scripts). Each job enters
`gpu_slot(1)` before touching CUDA, then checks that torch sees exactly one device, that it is the physical
GPU the slot names (UUID compared with `nvidia-smi`), and that a tensor lands on it; it holds the slot for
3 s. Expected: the first N jobs get N different GPUs at once, the extra job waits for a free one.
Prints one line per job and exits 1 on a failure. Needs no SLURM (it must not run inside a SLURM job).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

HOLD_S = 3.0


def _job(name: str, lock_dir: str, results) -> None:
    os.environ["EMBEDLAB_GPU_LOCK_DIR"] = lock_dir
    import torch  # importing (and counting GPUs through NVML) does not initialise CUDA

    from embedlab.workflow.gpu import gpu_slot

    torch.cuda.device_count()
    t0 = time.monotonic()
    with gpu_slot(1) as devices:
        waited = time.monotonic() - t0
        props = torch.cuda.get_device_properties(0)
        x = torch.ones(1024, 1024, device="cuda")
        ok = float((x @ x).sum()) == 1024.0**3
        results.put(
            (
                name,
                devices,
                os.environ.get("CUDA_VISIBLE_DEVICES"),
                torch.cuda.device_count(),
                str(props.uuid),
                ok,
                round(waited, 1),
            )
        )
        time.sleep(HOLD_S)


def main() -> int:
    if os.environ.get("SLURM_JOB_ID"):
        print("FAIL: run outside SLURM (gpu_slot is a no-op in a SLURM job)")
        return 1
    if shutil.which("nvidia-smi") is None:
        print("FAIL: no nvidia-smi (no NVIDIA GPU)")
        return 1
    smi = subprocess.run(
        ["nvidia-smi", "--query-gpu=index,uuid", "--format=csv,noheader"], capture_output=True, text=True
    )
    uuids = dict(line.split(", ") for line in smi.stdout.strip().splitlines())
    os.environ.pop("CUDA_VISIBLE_DEVICES", None)
    print(f"GPUs (nvidia-smi): {len(uuids)}")
    if not uuids:
        print("FAIL: no GPU")
        return 1
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    with tempfile.TemporaryDirectory() as locks:
        procs = [ctx.Process(target=_job, args=(f"job{i}", locks, results)) for i in range(len(uuids) + 1)]
        for p in procs:
            p.start()
        rows = [results.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(60)
    failures = 0
    for name, devices, visible, count, uuid, ok, waited in sorted(rows, key=lambda r: r[-1]):
        physical = uuids.get(devices[0] if devices else "", "?")
        good = len(devices) == 1 and visible == devices[0] and count == 1 and physical.endswith(uuid) and ok
        failures += not good
        print(
            f"{'ok  ' if good else 'FAIL'} {name}: slot {devices}, CUDA_VISIBLE_DEVICES={visible}, "
            f"torch sees {count} device(s) uuid {uuid} (nvidia-smi: {physical}), "
            f"matmul ok={ok}, waited {waited} s"
        )
    first = [r for r in rows if r[-1] < HOLD_S / 2]
    distinct = len({r[1][0] for r in first if r[1]}) == len(first) == len(uuids)
    waited = max(r[-1] for r in rows) >= HOLD_S * 0.8
    print(f"{'ok  ' if distinct else 'FAIL'} {len(first)} jobs started at once on distinct GPUs")
    print(
        f"{'ok  ' if waited else 'FAIL'} the extra job waited for a free GPU ({max(r[-1] for r in rows)} s)"
    )
    return 1 if failures or not distinct or not waited else 0


if __name__ == "__main__":
    sys.exit(main())
