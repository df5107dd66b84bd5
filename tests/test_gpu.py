"""gpu_slot(): concurrent local GPU jobs get distinct devices, wait when all are busy, and no-op elsewhere."""

from __future__ import annotations

import fcntl
import logging
import multiprocessing as mp
import os
import signal
import time
from pathlib import Path

import pytest

from embedlab.errors import EmbedlabError
from embedlab.workflow.gpu import gpu_slot

# fork: children inherit the monkeypatched environment and need no importable test module; torch is never
# imported because EMBEDLAB_GPUS answers the device count.
CTX = mp.get_context("fork")
TIMEOUT = 10.0


@pytest.fixture
def gpus(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A machine with N pretend GPUs, no scheduler, and a private lock directory."""

    def make(n: int) -> Path:
        monkeypatch.setenv("EMBEDLAB_GPUS", str(n))
        monkeypatch.setenv("EMBEDLAB_GPU_LOCK_DIR", str(tmp_path / "locks"))
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
        monkeypatch.delenv("SLURM_JOB_ID", raising=False)
        return tmp_path / "locks"

    return make


def _hold(name: str, results, release, poll_s: float = 0.05) -> None:
    """Child process: take a slot, report (name, device, CUDA_VISIBLE_DEVICES), hold it until released."""
    with gpu_slot(poll_s=poll_s) as devices:
        results.put((name, devices, os.environ.get("CUDA_VISIBLE_DEVICES")))
        release.wait(TIMEOUT)


def _start(name: str, results, release) -> mp.Process:
    proc = CTX.Process(target=_hold, args=(name, results, release), daemon=True)
    proc.start()
    return proc


def test_concurrent_jobs_get_distinct_devices_and_the_third_waits(gpus) -> None:
    gpus(2)
    results = CTX.Queue()
    release = {name: CTX.Event() for name in "abc"}
    procs = [_start("a", results, release["a"]), _start("b", results, release["b"])]
    first = dict((name, (dev, cvd)) for name, dev, cvd in (results.get(timeout=TIMEOUT) for _ in range(2)))
    assert sorted(dev[0] for dev, _ in first.values()) == ["0", "1"]
    assert all(cvd == dev[0] for dev, cvd in first.values()), first

    procs.append(_start("c", results, release["c"]))
    time.sleep(0.5)
    assert results.empty(), "third job got a GPU while both were held"

    release["a"].set()  # a finishes: c must get a's device
    name, dev, cvd = results.get(timeout=TIMEOUT)
    assert (name, dev, cvd) == ("c", first["a"][0], first["a"][0][0])

    for ev in release.values():
        ev.set()
    for proc in procs:
        proc.join(TIMEOUT)
        assert proc.exitcode == 0


def test_killed_job_releases_its_device(gpus) -> None:
    gpus(1)
    results = CTX.Queue()
    holder = _start("a", results, CTX.Event())
    assert results.get(timeout=TIMEOUT)[1] == ["0"]
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(TIMEOUT)
    t0 = time.monotonic()
    with gpu_slot(poll_s=0.05) as devices:
        assert devices == ["0"]
    assert time.monotonic() - t0 < 2


def _hold_logged(logfile: str, results, release) -> None:
    """Child process like _hold, logging to a file (caplog cannot see other processes)."""
    logging.basicConfig(filename=logfile, level=logging.INFO, force=True)
    _hold("logged", results, release)


def test_waiting_is_logged(gpus, tmp_path: Path) -> None:
    gpus(1)
    results = CTX.Queue()
    release = CTX.Event(), CTX.Event()
    holder = _start("a", results, release[0])
    assert results.get(timeout=TIMEOUT)[1] == ["0"]
    logfile = tmp_path / "waiter.log"
    waiter = CTX.Process(target=_hold_logged, args=(str(logfile), results, release[1]), daemon=True)
    waiter.start()
    time.sleep(0.5)
    assert results.empty()
    release[0].set()
    assert results.get(timeout=TIMEOUT)[:2] == ("logged", ["0"])
    release[1].set()
    for proc in (holder, waiter):
        proc.join(TIMEOUT)
    lines = logfile.read_text().splitlines()
    waits = [line for line in lines if "waiting for 1 free GPU" in line]
    assert len(waits) == 1 and f"gpu0: pid {holder.pid}" in waits[0], lines
    assert any("GPU free after waiting" in line for line in lines), lines


def test_nested_slot_reuses_the_outer_one(gpus) -> None:
    gpus(2)
    with gpu_slot() as outer:
        with gpu_slot() as inner:
            assert inner == [] and os.environ["CUDA_VISIBLE_DEVICES"] == outer[0]
        assert os.environ["CUDA_VISIBLE_DEVICES"] == outer[0]
    assert "CUDA_VISIBLE_DEVICES" not in os.environ  # restored
    with gpu_slot() as again:  # released: the same lowest device again
        assert again == outer


def test_hand_set_visible_devices_restrict_the_pool(gpus, monkeypatch: pytest.MonkeyPatch) -> None:
    locks = gpus(4)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    locks.mkdir()
    with open(locks / "gpu2.lock", "w") as other_job:  # another job holds device 2
        fcntl.flock(other_job.fileno(), fcntl.LOCK_EX)
        with gpu_slot() as devices:
            assert devices == ["3"] and os.environ["CUDA_VISIBLE_DEVICES"] == "3"
    assert sorted(p.name for p in locks.iterdir()) == ["gpu2.lock", "gpu3.lock"]
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "2,3"


def test_several_devices_and_more_than_exist(gpus) -> None:
    gpus(3)
    with gpu_slot(2) as two:
        assert two == ["0", "1"] and os.environ["CUDA_VISIBLE_DEVICES"] == "0,1"
    with gpu_slot(8) as everything:
        assert everything == ["0", "1", "2"]


@pytest.mark.parametrize(
    ("env", "needed"),
    [
        ({"SLURM_JOB_ID": "42", "CUDA_VISIBLE_DEVICES": "0"}, 1),  # the scheduler assigned the device
        ({"EMBEDLAB_GPUS": "0"}, 1),  # no GPU
        ({"CUDA_VISIBLE_DEVICES": ""}, 1),  # all devices hidden
        ({"CUDA_VISIBLE_DEVICES": "-1"}, 1),
        ({}, 0),  # a CPU rule
    ],
)
def test_no_op(gpus, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], needed: int) -> None:
    locks = gpus(2)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    before = os.environ.get("CUDA_VISIBLE_DEVICES")
    with gpu_slot(needed) as devices:
        assert devices == []
        assert os.environ.get("CUDA_VISIBLE_DEVICES") == before
    assert not locks.exists()


def test_bad_gpu_count_is_a_user_error(gpus, monkeypatch: pytest.MonkeyPatch) -> None:
    gpus(1)
    monkeypatch.setenv("EMBEDLAB_GPUS", "two")
    with pytest.raises(EmbedlabError, match="EMBEDLAB_GPUS"), gpu_slot():
        pass
