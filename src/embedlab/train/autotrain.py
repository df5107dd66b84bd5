"""AutoTrain backend: write what HuggingFace AutoTrain's sentence-transformers tasks read, run it if asked.

AutoTrain (autotrain-advanced 0.8.36) cannot share our environment (it pins transformers 4.48 and
sentence-transformers 3.3.1), so it runs from its own (`envs/autotrain.yaml`). The export is a local dataset
folder (`data/train.csv`, `data/valid.csv`, or .jsonl) with columns `anchor`, `positive`[, `negative`] and a
`config.yml` (task `sentence-transformers:pair|triplet`, backend `local`, the column mapping
sentence1/2/3_column -> anchor/positive/negative, which triplet tasks on local data need). The valid split is
the dev slice, never val.json. AutoTrain exits 0 even when training fails, so success is judged by the model
files it leaves in `output/`.
"""

from __future__ import annotations

import csv
import json
import logging
import shlex
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from embedlab import filenames, io
from embedlab.data.training_data import Pair, TrainingData
from embedlab.errors import EmbedlabError
from embedlab.models.sources import resolve_model_source
from embedlab.models.spec import ModelSpec
from embedlab.train.common import check_pairs, curves, facts_head, hardware, load_base, versions
from embedlab.train.distributed import TrainingJob
from embedlab.train.negatives import mine_job_negatives

log = logging.getLogger(__name__)

PROJECT = "output"  # AutoTrain's project_name: the folder (below autotrain/) it trains into
COLUMNS = {"pair": ["anchor", "positive"], "triplet": ["anchor", "positive", "negative"]}
MODEL_FILES = ("model.safetensors", "pytorch_model.bin")
NOT_COPIED = ("autotrain-data", "runs", "README.md", "training_params.json")


def autotrain_task(settings: dict[str, Any]) -> str:
    task = settings["autotrain"]["task"]
    if task == "auto":
        return "triplet" if settings["hard_negatives"]["enabled"] else "pair"
    return task


def _dev_pairs(data: TrainingData) -> list[Pair]:
    return [
        Pair("dev", qid, data.dev_queries[qid], cid, data.dev_corpus[cid], cid, frozenset(ids))
        for qid, ids in data.dev_relevant.items()
        for cid in sorted(ids)
    ]


def _rows(pairs: list[Pair], task: str, qp: str, pp: str) -> list[dict[str, str]]:
    rows = []
    for p in pairs:
        row = {"anchor": qp + p.query, "positive": pp + p.positive}
        if task == "pair":
            rows.append(row)
        else:  # one row per mined negative
            rows.extend({**row, "negative": pp + neg} for neg in p.negatives)
    return rows


def _write_rows(path: Path, rows: list[dict[str, str]], columns: list[str]) -> None:
    if path.suffix == ".jsonl":
        io.write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        return
    with io.atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, quoting=csv.QUOTE_ALL)
        writer.writeheader()
        writer.writerows(rows)


def _base_for_autotrain(spec: ModelSpec) -> tuple[str, int | None]:
    """The base model as AutoTrain should read it (absolute local path or hub id) and its max_seq_length."""
    source = resolve_model_source(spec.source or "")
    path = Path(source)
    length = spec.max_seq_length
    if path.is_dir():
        source = str(path.resolve())
        cfg = path / "sentence_bert_config.json"
        if length is None and cfg.is_file():
            length = io.read_json(cfg).get("max_seq_length")
    return source, length


def autotrain_config(
    task: str,
    base_model: str,
    settings: dict[str, Any],
    seed: int,
    has_valid: bool,
    max_seq_length: int,
    total_steps: int,
) -> dict[str, Any]:
    """AutoTrain's config.yml as a dict (keys as in its docs and `autotrain --config` parser)."""
    warmup = settings["warmup"]
    precision = settings["precision"]
    columns = dict(
        zip(["sentence1_column", "sentence2_column", "sentence3_column"], COLUMNS[task], strict=False)
    )
    return {
        "task": f"sentence-transformers:{task}",
        "base_model": base_model,
        "project_name": PROJECT,
        "log": "none",
        "backend": "local",
        "data": {
            "path": "data",
            "train_split": "train",
            "valid_split": "valid" if has_valid else None,
            "column_mapping": columns,
        },
        "params": {
            "max_seq_length": max_seq_length,
            "epochs": settings["epochs"],
            "batch_size": settings["batch_size"],
            "lr": settings["learning_rate"],
            "warmup_ratio": warmup if warmup < 1 else round(min(1.0, warmup / max(total_steps, 1)), 4),
            "weight_decay": settings["weight_decay"],
            "optimizer": "adamw_torch",
            "scheduler": "linear",
            "gradient_accumulation": 1,
            "mixed_precision": precision if precision in ("fp16", "bf16") else None,
            "seed": seed,
            "eval_strategy": "epoch",
            "save_total_limit": 1,
        },
    }


def export_autotrain(
    export_dir: Path, job: TrainingJob, data: TrainingData, model: Any = None, device: str = "cpu"
) -> dict[str, Any]:
    """Write data/{train,valid}.{csv,jsonl} and config.yml into `export_dir`; return what was written.

    A triplet task needs the base `model` (the default miner) to mine hard negatives (training pairs and dev
    pairs against the training chunks only), on `device`.
    """
    spec, settings, seed = job.base, job.settings, job.seed
    task = autotrain_task(settings)
    ext = settings["autotrain"]["format"]
    qp, pp = spec.query_prefix, spec.passage_prefix
    dev = _dev_pairs(data)
    hn = settings["hard_negatives"]
    counts: dict[str, Any] = {}
    if task == "triplet":
        if model is None:
            raise EmbedlabError("autotrain triplet export needs the base model to mine negatives")
        counts = mine_job_negatives(
            [data.pairs, dev], data, hn, seed, model, spec, job.miner, job.oracle, device
        )
    files: dict[str, int] = {}
    train_rows = _rows(data.pairs, task, qp, pp)
    _write_rows(export_dir / "data" / f"train.{ext}", train_rows, COLUMNS[task])
    files[f"data/train.{ext}"] = len(train_rows)
    if dev:
        valid_rows = _rows(dev, task, qp, pp)
        _write_rows(export_dir / "data" / f"valid.{ext}", valid_rows, COLUMNS[task])
        files[f"data/valid.{ext}"] = len(valid_rows)
    base_model, length = _base_for_autotrain(spec)
    steps = -(-len(train_rows) // settings["batch_size"]) * settings["epochs"]
    config = autotrain_config(
        task, base_model, settings, seed, bool(dev), settings["max_seq_length"] or length or 128, steps
    )
    import yaml

    io.write_text(
        export_dir / filenames.AUTOTRAIN_CONFIG, yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
    )
    files[filenames.AUTOTRAIN_CONFIG] = 1
    return {"task": task, "files": files, "config": config, "negatives": counts}


def how_to_run(final: Path, name: str) -> str:
    where = final / "autotrain"
    return (
        f"To train: `conda env create -f envs/autotrain.yaml && conda activate embedlab-autotrain && "
        f"cd {where} && autotrain --config {filenames.AUTOTRAIN_CONFIG}` (the model lands in "
        f"{where / PROJECT}, usable as a `models` entry source; AutoTrain exits 0 even when training fails, "
        f"so check that folder holds model.safetensors), or set finetune.{name}.autotrain.run: true with "
        "`autotrain` on PATH (or "
        "autotrain.command) and rerun the rule."
    )


def run_autotrain(command: list[str], export_dir: Path) -> Path:
    """Run `command --config config.yml` in `export_dir`; return the trained model folder or raise."""
    log_path = export_dir / filenames.AUTOTRAIN_LOG
    argv = [*command, "--config", filenames.AUTOTRAIN_CONFIG]
    log.info("running %s in %s (log: %s)", shlex.join(argv), export_dir, log_path)
    with open(log_path, "w", encoding="utf-8") as fh:
        rc = subprocess.run(
            argv,
            cwd=export_dir,
            stdout=fh,
            stderr=subprocess.STDOUT,
            check=False,
        ).returncode
    out = export_dir / PROJECT
    ok = (out / "modules.json").is_file() and any((out / f).is_file() for f in MODEL_FILES)
    if rc != 0 or not ok:
        lines = [
            ln for ln in log_path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()
        ]
        last = lines[-1].strip()[:200] if lines else "(empty log)"
        status = f"failed with exit status {rc}" if rc else "exited 0 but"
        raise EmbedlabError(
            f"autotrain {status} left no model (modules.json + model.safetensors) in {out}: see {log_path} "
            f"(last line: {last})"
        )
    return out


def _autotrain_history(out: Path) -> list[dict[str, Any]]:
    states = sorted(
        out.glob("checkpoint-*/trainer_state.json"), key=lambda p: int(p.parent.name.split("-")[-1])
    )
    return io.read_json(states[-1]).get("log_history", []) if states else []


def autotrain_backend(job: TrainingJob, data: TrainingData, device: str) -> dict[str, Any]:
    """Export; then run AutoTrain when configured and installed, else stop with how to run it."""
    name, final, spec, settings = job.name, job.final, job.base, job.settings
    check_pairs(name, data, settings)
    task = autotrain_task(settings)
    exe, args = _command(name, settings["autotrain"])
    will_run = settings["autotrain"]["run"]
    model = load_base(spec, device) if task == "triplet" else None  # the default miner of the negatives
    export_dir = job.workdir / "autotrain"
    t0 = time.monotonic()
    export = export_autotrain(export_dir, job, data, model, device)
    facts = facts_head(name, final, "exported", spec, data, settings)
    facts.update(
        hard_negatives={**settings["hard_negatives"], "used": task == "triplet", **export["negatives"]},
        selection={
            "metric": "AutoTrain's own (valid split = dev slice)",
            "dev_queries": len(data.dev_queries),
            "dev_groups": data.dev_groups,
        },
        autotrain={
            "task": task,
            "files": export["files"],
            "config": export["config"],
            "how_to_run": how_to_run(final, name),
        },
    )
    if not will_run:
        log.warning(
            "fine-tune %s: AutoTrain export written to %s/autotrain (%s, %s); not trained (autotrain.run is "
            "false). %s",
            name,
            final,
            task,
            ", ".join(f"{f}: {n}" for f, n in export["files"].items()),
            facts["autotrain"]["how_to_run"],
        )
        return facts
    del model
    out = run_autotrain([exe, *args], export_dir)
    train_time = time.monotonic() - t0
    history = _autotrain_history(out)
    trained = _install(out, job.workdir, device)
    loss_curve, dev_curve = curves(history)
    params = export["config"]["params"]
    facts.update(
        status="trained",
        loss={"name": "MultipleNegativesRankingLoss", "via": f"AutoTrain sentence-transformers:{task}"},
        batch_sampler="AutoTrain default",
        hyperparameters={**params, "train_max_seq_length": params["max_seq_length"]},
        training_time_s=round(train_time, 2),
        pairs_per_second=round(len(data.pairs) * settings["epochs"] / max(train_time, 1e-9), 2),
        hardware=hardware(device, params["mixed_precision"] or "fp32"),
        versions=versions(),
        loss_curve=loss_curve,
        dev_curve=dev_curve,
    )
    facts["base"]["max_seq_length"] = trained.max_seq_length
    facts["selection"].update(best_step=None, best_score=None)
    return facts


def _command(name: str, at: dict[str, Any]) -> tuple[str | None, list[str]]:
    """AutoTrain's executable (None if not on PATH) and its arguments; an error if it must run but cannot."""
    command = shlex.split(at["command"])
    exe = shutil.which(command[0]) if command else None
    if at["run"] and exe is None:
        raise EmbedlabError(
            f"fine-tune {name}: autotrain.run is true but {command[0] if command else ''!r} is not on PATH: "
            "`conda env create -f envs/autotrain.yaml && conda activate embedlab-autotrain` before running, "
            "or set autotrain.run: false to export the data only"
        )
    return exe, command[1:]


def _install(out: Path, workdir: Path, device: str) -> Any:
    """Move AutoTrain's model from `out` into the model directory (no checkpoints or logs) and load it."""
    from sentence_transformers import SentenceTransformer

    for item in out.iterdir():
        if item.name in NOT_COPIED or item.name.startswith("checkpoint-"):
            continue
        (shutil.copytree if item.is_dir() else shutil.copy2)(item, workdir / item.name)
    shutil.rmtree(out)
    try:
        return SentenceTransformer(str(workdir), device=device)
    except Exception as exc:
        raise EmbedlabError(
            f"autotrain output in {out} does not load as a sentence-transformers model: {exc}"
        ) from exc
