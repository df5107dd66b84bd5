"""The default run against the work it cannot avoid (issue 27): wall time, unavoidable work, their ratio, and
where the rest went, by rule.

Unavoidable work is what any tool producing the same outputs must spend: the fine-tunes' training steps
(the median step time of each fine-tune's log times its steps: dev evaluations between steps are left out)
plus the first encoding of each (model, text), read as the `encode_seconds` of every evaluation CSV that
encoded texts (once per file) and the corpus encodings MTEB logs (the embedding cache makes every later
job of a model read its vectors; two jobs that start before either fills the cache both count, so this
errs towards more unavoidable work, a lower ratio). Each piece counts as machine time: its seconds times
its job's threads over the run's cores, so a one-thread encoding beside another job counts half on two
cores, and the ratio compares like with like whether jobs run one at a time or side by side. Everything is
read from the run's own files: snakemake's log (job start and end times, threads, outputs, logs, cores),
`logs/finetune_model/*.log`, `logs/evaluate_mteb/**.log`, `results/eval/**.csv`.

    .venv/bin/python benchmarks/default_run.py --fresh /tmp/default-run    # clone, setup, make run, report
    .venv/bin/python benchmarks/default_run.py --workdir /tmp/fresh-clone  # report on a finished run
"""

from __future__ import annotations

import argparse
import csv
import itertools
import re
import statistics
import subprocess
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parents[1]
STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
RULE = re.compile(r"^(?:local)?rule (\w+):$")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
FINISHED = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)$")
FILES = re.compile(r"^\s+(?:output|log): (.+)$")
THREADS = re.compile(r"^\s+threads: (\d+)$")
CORES = re.compile(r"^Provided cores: (\d+)")
MTEB_ENCODED = re.compile(r"Searched \d+ corpus chunk\(s\): encoding took ([\d.]+)s")
STEP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .* step (\d+)/(\d+) ")


def fresh_run(folder: Path, cores: int) -> None:
    """A clone of this checkout's HEAD in `folder`, set up and run as a newcomer would (make setup, make
    run), nothing from outside the clone."""
    subprocess.run(["git", "clone", "-q", str(REPO), str(folder)], check=True)
    env_unset = ["env", "-u", "EMBEDLAB_CORPUS_ROOT"]
    subprocess.run([*env_unset, "make", "setup"], cwd=folder, check=True)
    subprocess.run([*env_unset, "make", "run", f"CORES={cores}"], cwd=folder, check=True)


class Job(NamedTuple):
    rule: str
    start: float  # seconds since the epoch
    end: float
    threads: int
    files: frozenset[str]  # its outputs and log, as snakemake names them (relative to the workdir)


def jobs(log: Path) -> list[Job]:
    """Every job snakemake's log shows finished."""
    started: dict[str, tuple[str, float, set[str]]] = {}
    threads: dict[str, int] = {}
    out = []
    stamp: float | None = None
    rule: str | None = None
    files: set[str] = set()
    jobid = ""
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if m := STAMP.match(line):
            stamp = datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y").timestamp()
        elif m := RULE.match(line):
            rule, files = m.group(1), set()
        elif (m := FILES.match(line)) and rule:
            files.update(f.strip() for f in m.group(1).split(","))
        elif (m := JOBID.match(line)) and rule and stamp is not None:
            jobid = m.group(1)
            started[jobid] = (rule, stamp, files)
            rule = None
        elif (m := THREADS.match(line)) and jobid in started:
            threads[jobid] = int(m.group(1))
        elif (m := FINISHED.match(line)) and m.group(1) in started and stamp is not None:
            name, t0, made = started.pop(m.group(1))
            out.append(Job(name, t0, stamp, threads.get(m.group(1), 1), frozenset(made)))
    return out


def cores_of(log: Path) -> int:
    """The cores snakemake was given (its log's "Provided cores")."""
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if m := CORES.match(line):
            return int(m.group(1))
    raise SystemExit(f"{log}: no 'Provided cores' line; is it a snakemake log?")


def share(done: list[Job], workdir: Path, cores: int) -> dict[Path, float]:
    """Each job's output and log file -> that job's threads over the cores: the machine share its seconds
    count for."""
    return {workdir / f: min(j.threads, cores) / cores for j in done for f in j.files}


def training_steps(log: Path) -> tuple[int, float]:
    """(steps, seconds of training steps) of one fine-tune's log: its median step time x its steps."""
    times, total = [], 0
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if m := STEP.match(line):
            times.append(datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp())
            total = int(m.group(3))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return total, (statistics.median(gaps) * total if gaps else 0.0)


def first_encodings(workdir: Path, shares: dict[Path, float]) -> float:
    """Machine seconds spent encoding texts not yet in the cache: each evaluation CSV's encode_seconds where
    it encoded texts, once per file (a compression CSV repeats its one encoding on every variant's row), plus
    the corpus encodings MTEB's logs report (a custom task can be the first to encode a model's val
    corpus; a cache hit logs 0.0s), each times its job's share of the machine."""
    seconds = 0.0
    for path in (workdir / "results").glob("eval/**/*.csv"):
        if path.name.endswith(".queries.csv"):
            continue
        with open(path, encoding="utf-8") as fh:
            rows = [r for r in csv.DictReader(fh) if float(r.get("encoded_texts") or 0) > 0]
        seconds += max((float(r.get("encode_seconds") or 0) for r in rows), default=0.0) * shares[path]
    for path in (workdir / "logs").glob("evaluate_mteb/**/*.log"):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if m := MTEB_ENCODED.search(line):
                seconds += float(m.group(1)) * shares[path]
    return seconds


def report(workdir: Path) -> str:
    """The Markdown table: wall, unavoidable work (training steps, first encodings), ratio, rules."""
    log = max((workdir / ".snakemake/log").glob("*.snakemake.log"), key=lambda p: p.stat().st_size)
    done, cores = jobs(log), cores_of(log)
    shares = share(done, workdir, cores)
    wall = max(j.end for j in done) - min(j.start for j in done)
    train = {p: training_steps(p) for p in sorted((workdir / "logs/finetune_model").glob("*.log"))}
    steps_s = sum(s * shares[p] for p, (_, s) in train.items())
    encode_s = first_encodings(workdir, shares)
    by_rule: dict[str, list[float]] = defaultdict(list)
    for j in done:
        by_rule[j.rule].append(j.end - j.start)
    lines = [
        f"Run: {workdir} ({log.name}), {len(done)} jobs on {cores} cores.",
        "",
        "| measure | seconds |",
        "|---|---|",
        f"| wall time (first job start to last job end) | {wall:.0f} |",
        *[
            f"| training steps of {p.stem} ({k} steps, {shares[p] * cores:.0f} of {cores} cores) | "
            f"{s * shares[p]:.0f} |"
            for p, (k, s) in train.items()
        ],
        f"| first encodings (evaluation CSVs' encode_seconds, MTEB's corpus encodings; machine time) | "
        f"{encode_s:.0f} |",
        f"| unavoidable work | {steps_s + encode_s:.0f} |",
        f"| **wall / unavoidable** | **{wall / max(steps_s + encode_s, 1e-9):.2f}** |",
        "",
        "| rule | jobs | job seconds (sum) | share of all job seconds |",
        "|---|---|---|---|",
    ]
    total = sum(sum(v) for v in by_rule.values())
    for rule, secs in sorted(by_rule.items(), key=lambda kv: -sum(kv[1])):
        lines.append(f"| {rule} | {len(secs)} | {sum(secs):.0f} | {sum(secs) / total:.0%} |")
    return "\n".join(lines)


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--fresh", type=Path, help="clone HEAD here (must not exist), set up, run, report")
    where.add_argument("--workdir", type=Path, help="report on a finished default run in this folder")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    if args.fresh:
        t0 = time.monotonic()
        fresh_run(args.fresh, args.cores)
        print(f"clone + setup + run: {(time.monotonic() - t0) / 60:.1f} min")
    print(report(args.fresh or args.workdir))


if __name__ == "__main__":
    main()
