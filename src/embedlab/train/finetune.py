"""Fine-tuning: a `finetune` config entry -> a model directory that `SentenceTransformer(path)` loads offline.

Backends: `sentence-transformers` (SentenceTransformerTrainer, MultipleNegativesRankingLoss with the
no-duplicates sampler, optional cached loss, Matryoshka and mined hard negatives), `llamaindex` (the
tutorial's SentenceTransformersFinetuneEngine) and `autotrain` (export for HuggingFace AutoTrain, run it when
asked and installed). All of them pick the checkpoint on a dev slice carved out of train.json by chunk group;
val.json only gives the before/after numbers of the model card. The directory is built beside its final
place and renamed at the end, so a killed run never leaves a directory that looks finished.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from embedlab import io
from embedlab.errors import EmbedlabError
from embedlab.models.sources import resolve_model_source
from embedlab.models.spec import ModelSpec, load_sentence_transformer, model_spec, pick_device
from embedlab.train.data import DatasetFiles, TrainingData, load_training_data, mine_negatives

log = logging.getLogger(__name__)

FORMAT = "embedlab.train.finetune/1"
BACKENDS = ("sentence-transformers", "llamaindex", "autotrain")
LOSSES = {"mnrl": "MultipleNegativesRankingLoss", "cached_mnrl": "CachedMultipleNegativesRankingLoss"}
SELECTION_METRIC = "cosine_mrr@10"  # on the dev slice; the headline metric
DEFAULT_EVALUATIONS = 4  # dev evaluations per run when eval_steps is not set
CHECKPOINTS = ".checkpoints"
LLAMAINDEX_LR = 2e-5  # SentenceTransformer.fit's default, which the engine does not let us change
INFERENCE_ONLY_KWARGS = {"torch_dtype", "dtype", "load_in_4bit", "load_in_8bit", "quantization_config"}


# ---------------------------------------------------------------------------------------------- config


def dataset_paths(name: str, results: str = "results") -> DatasetFiles:
    """The files a dataset "corpus/lang" is read from (outputs of the chunk and split rules)."""
    corpus, _, lang = name.partition("/")
    return DatasetFiles(
        name=name,
        train=f"{results}/qa/{corpus}/{lang}/train.json",
        val=f"{results}/qa/{corpus}/{lang}/val.json",
        chunks=f"{results}/chunks/{corpus}/{lang}.json",
    )


def validate_finetune(config: dict[str, Any]) -> None:
    """Checks the schema cannot express: known base models and datasets, no cycles; one line each."""
    finetunes = config.get("finetune") or {}
    pairs = {f"{c}/{lang}" for c, spec in config.get("corpora", {}).items() for lang in spec["languages"]}
    for name, entry in finetunes.items():
        where = f"config error at finetune.{name}"
        for ds in entry["datasets"]:
            if ds not in pairs:
                raise EmbedlabError(
                    f"{where}.datasets: {ds!r} is not a configured corpus/language "
                    f"(known: {', '.join(sorted(pairs))})"
                )
        seen = [name]
        base = entry["base"]
        while base in finetunes:
            if base in seen:
                raise EmbedlabError(f"{where}.base: fine-tunes form a cycle ({' -> '.join([*seen, base])})")
            seen.append(base)
            base = finetunes[base]["base"]
        try:
            spec = model_spec(config, base)
        except EmbedlabError as exc:
            raise EmbedlabError(f"{where}.base: {exc}") from None
        if spec.kind != "sentence-transformers":
            raise EmbedlabError(
                f"{where}.base: model {base!r} is of kind {spec.kind!r}; fine-tuning needs a "
                "sentence-transformers model"
            )
        dims = entry.get("matryoshka_dims") or []
        if len(set(dims)) != len(dims):
            raise EmbedlabError(f"{where}.matryoshka_dims: {dims} repeats a dimension")


def finetune_inputs(config: dict[str, Any], name: str) -> dict[str, list[str] | str]:
    """The finetune rule's inputs: train/val/chunks of each dataset, and the base dir if it is a fine-tune."""
    finetunes = config.get("finetune") or {}
    entry = finetunes[name]
    files = [dataset_paths(ds) for ds in entry["datasets"]]
    inputs: dict[str, list[str] | str] = {
        "train": [str(f.train) for f in files],
        "val": [str(f.val) for f in files],
        "chunks": [str(f.chunks) for f in files],
    }
    if entry["base"] in finetunes:
        inputs["base_model"] = f"results/models/{entry['base']}"
    return inputs


def finetune_params(config: dict[str, Any], name: str) -> dict[str, Any]:
    """What the finetune rule passes to `finetune`: the entry (defaults filled), the base spec, the seed."""
    entry = config["finetune"][name]
    return {
        "settings": entry,
        "base": model_spec(config, entry["base"]).to_json(),
        "seed": entry.get("seed") if entry.get("seed") is not None else config.get("seed", 42),
    }


# ---------------------------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temp dir beside `path`; it becomes `path` (replacing it) only if the block succeeds.

    Leftovers of a killed run (`.{name}.partial-*`) are removed first, so a rerun starts clean.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}.partial-*"):
        log.info("removing %s left by an interrupted run", stale)
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        for f in tmp.rglob("*"):  # some writers (safetensors) create 0600 files
            os.chmod(f, (0o777 if f.is_dir() else 0o666) & ~_umask())
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def set_seed(seed: int) -> None:
    """Python, NumPy and torch (all devices) from one seed."""
    import transformers

    transformers.set_seed(seed)


def resolve_precision(requested: str, device: str) -> str:
    """`auto`: bf16 on CUDA where supported, else fp16 on CUDA; fp32 elsewhere."""
    import torch

    if requested == "auto":
        if device == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "fp32"
    if requested == "fp16" and device != "cuda":
        raise EmbedlabError(
            f"precision fp16 needs a CUDA GPU (device is {device}): use precision auto or fp32"
        )
    if requested == "bf16" and device == "cuda" and not torch.cuda.is_bf16_supported():
        raise EmbedlabError("precision bf16: this GPU does not support bf16: use precision auto or fp16")
    return requested


def hardware(device: str, precision: str) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "device": device,
        "precision": precision,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        info["gpu"] = props.name
        info["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
    return info


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("torch", "transformers", "sentence-transformers", "datasets", "llama-index-finetuning"):
        with contextlib.suppress(PackageNotFoundError):
            out[pkg] = version(pkg)
    return out


def load_base(spec: ModelSpec, device: str) -> Any:
    """The base model, or one line saying why it cannot be used (missing, needs network, not a model)."""
    if spec.kind != "sentence-transformers":
        raise EmbedlabError(
            f"base model {spec.name}: kind {spec.kind!r} cannot be fine-tuned "
            "(needs a sentence-transformers model)"
        )
    path = resolve_model_source(spec.source or "")
    local = Path(path)
    if local.is_dir() and not (local / "modules.json").is_file() and not (local / "config.json").is_file():
        raise EmbedlabError(
            f"base model {spec.name}: {path} is not a sentence-transformers model directory "
            "(no modules.json or config.json): point models.<name>.source at a saved model"
        )
    dropped = sorted(k for k in spec.model_kwargs if k in INFERENCE_ONLY_KWARGS or k.startswith("bnb_"))
    if dropped:  # optimizer states need fp32 weights; mixed precision comes from `precision`
        log.info("base model %s: training loads it without %s", spec.name, ", ".join(dropped))
        kept = {k: v for k, v in spec.model_kwargs.items() if k not in dropped}
        spec = dataclasses.replace(spec, model_kwargs=kept)
    try:
        return load_sentence_transformer(spec, device=device)
    except EmbedlabError as exc:  # hub messages span lines: the rule log gets one
        raise EmbedlabError(" ".join(str(exc).split())) from exc
    except Exception as exc:  # hub errors, broken configs: the user fixes the source, not the code
        raise EmbedlabError(
            f"base model {spec.name}: cannot load {spec.source!r} ({type(exc).__name__}: {exc}); "
            "offline, use a local directory or a pkg: source"
        ) from exc


@contextlib.contextmanager
def quiet_evaluator() -> Iterator[None]:
    """The IR evaluator logs 15 INFO lines per call; the rule log gets our one-line summary instead."""
    logger = logging.getLogger("sentence_transformers.sentence_transformer.evaluation.information_retrieval")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def val_metrics(model: Any, data: TrainingData, spec: ModelSpec) -> dict[str, dict[str, float]]:
    """InformationRetrievalEvaluator on each dataset's val.json (every chunk indexed), prefixes applied."""
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    out = {}
    for name, val in data.val.items():
        if not val["queries"]:
            out[name] = {}
            continue
        evaluator = InformationRetrievalEvaluator(
            val["queries"],
            val["corpus"],
            {q: set(ids) for q, ids in val["relevant_docs"].items()},
            name="val",
            query_prompt=spec.query_prefix or None,
            corpus_prompt=spec.passage_prefix or None,
            batch_size=spec.batch_size,
            write_csv=False,
        )
        t0 = time.monotonic()
        with quiet_evaluator():
            scores = evaluator(model)
        out[name] = {k.removeprefix("val_"): float(v) for k, v in scores.items()}
        log.info(
            "val %s: MRR@10 %.4f (%.1f s)",
            name,
            out[name].get(SELECTION_METRIC, float("nan")),
            time.monotonic() - t0,
        )
    return out


def dev_evaluator(data: TrainingData, spec: ModelSpec, batch_size: int, name: str = "dev") -> Any:
    """The checkpoint-selection evaluator: dev queries against every train-side chunk; None if no dev."""
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    if not data.dev_queries:
        return None
    return InformationRetrievalEvaluator(
        data.dev_queries,
        data.dev_corpus,
        data.dev_relevant,
        name=name,
        query_prompt=spec.query_prefix or None,
        corpus_prompt=spec.passage_prefix or None,
        batch_size=batch_size,
        write_csv=False,
    )


def build_loss(model: Any, settings: dict[str, Any]) -> Any:
    """MNRL or its cached variant, wrapped in MatryoshkaLoss when dims are configured."""
    from sentence_transformers.sentence_transformer import losses

    if settings["loss"] == "cached_mnrl":
        loss = losses.CachedMultipleNegativesRankingLoss(model, mini_batch_size=settings["mini_batch_size"])
    else:
        loss = losses.MultipleNegativesRankingLoss(model)
    dims = sorted(settings.get("matryoshka_dims") or [], reverse=True)
    if dims:
        full = model.get_embedding_dimension()
        if dims[0] > full:
            raise EmbedlabError(
                f"matryoshka_dims {dims}: {dims[0]} exceeds the model's {full} dimensions: use dims <= {full}"
            )
        loss = losses.MatryoshkaLoss(model, loss, matryoshka_dims=dims)
    return loss


def _loss_facts(settings: dict[str, Any]) -> dict[str, Any]:
    facts: dict[str, Any] = {"name": LOSSES[settings["loss"]]}
    if settings["loss"] == "cached_mnrl":
        facts["mini_batch_size"] = settings["mini_batch_size"]
    if settings.get("matryoshka_dims"):
        facts["wrapper"] = "MatryoshkaLoss"
        facts["matryoshka_dims"] = sorted(settings["matryoshka_dims"], reverse=True)
    return facts


def _oom_error(name: str, settings: dict[str, Any], train_len: int, device: str) -> EmbedlabError:
    where = "GPU memory" if device == "cuda" else "memory"
    return EmbedlabError(
        f"fine-tune {name}: out of {where} (batch_size {settings['batch_size']}, max_seq_length "
        f"{train_len}, loss {settings['loss']}): lower finetune.{name}.batch_size, set loss: cached_mnrl "
        "(memory of mini_batch_size, same in-batch negatives), or lower max_seq_length"
    )


def _is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def _curves(history: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split a trainer's log_history into the loss curve and the dev-metric curve."""
    loss_curve, dev_curve = [], []
    for entry in history:
        if "loss" in entry:
            loss_curve.append(
                {k: entry[k] for k in ("step", "epoch", "loss", "learning_rate", "grad_norm") if k in entry}
            )
        dev = {k: v for k, v in entry.items() if k.startswith("eval_") and "cosine_" in k}
        if dev:
            point = {"step": entry.get("step"), "epoch": entry.get("epoch")}
            for k, v in dev.items():
                point[k.split("cosine_", 1)[1]] = v
            dev_curve.append(point)
    return loss_curve, dev_curve


def _callbacks(log_every: int | None = None) -> tuple[Any, Any]:
    """Trainer callbacks: log progress to the rule log (forcing a loss log every `log_every` steps where the
    trainer's own logging_steps is out of reach); evaluate and save at the very last step too."""
    from transformers import TrainerCallback

    class ProgressLog(TrainerCallback):
        def __init__(self) -> None:
            self.history: list[dict[str, Any]] = []

        def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            if log_every and (state.global_step % log_every == 0 or state.global_step == 1):
                control.should_log = True
            return control

        def on_log(self, args, state, control, logs=None, **kwargs):  # type: ignore[no-untyped-def]
            if logs and "loss" in logs:
                log.info(
                    "step %d/%d loss %.4f lr %.3g",
                    state.global_step,
                    state.max_steps,
                    logs["loss"],
                    logs.get("learning_rate", 0.0),
                )

        def on_train_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            self.history = list(state.log_history)

    class EvalAtEnd(TrainerCallback):
        """Without this the last steps after the final multiple of eval_steps are never a candidate."""

        def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            if state.global_step >= state.max_steps and args.eval_strategy != "no":
                control.should_evaluate = True
                control.should_save = True
            return control

    return ProgressLog(), EvalAtEnd()


# ---------------------------------------------------------------------------------------------- backends


def _train_sentence_transformers(
    model: Any,
    data: TrainingData,
    spec: ModelSpec,
    settings: dict[str, Any],
    seed: int,
    workdir: Path,
    precision: str,
    device: str,
) -> dict[str, Any]:
    """SentenceTransformerTrainer with the dev slice selecting the checkpoint (load_best_model_at_end)."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers
    from transformers import PrinterCallback

    qp, pp = spec.query_prefix, spec.passage_prefix
    columns: dict[str, list[str]] = {
        "anchor": [qp + p.query for p in data.pairs],
        "positive": [pp + p.positive for p in data.pairs],
    }
    for i in range(len(data.pairs[0].negatives)):
        columns[f"negative_{i + 1}"] = [pp + p.negatives[i] for p in data.pairs]
    dataset = Dataset.from_dict(columns)
    bs = settings["batch_size"]
    evaluator = dev_evaluator(data, spec, batch_size=max(bs, spec.batch_size))
    total = settings["max_steps"] or math.ceil(len(dataset) / bs) * settings["epochs"]
    eval_steps = settings["eval_steps"] or max(1, math.ceil(total / DEFAULT_EVALUATIONS))
    warmup = settings["warmup"]
    selecting = evaluator is not None
    args = SentenceTransformerTrainingArguments(
        output_dir=str(workdir / CHECKPOINTS),
        num_train_epochs=settings["epochs"],
        max_steps=settings["max_steps"] or -1,
        per_device_train_batch_size=bs,
        per_device_eval_batch_size=bs,
        learning_rate=settings["learning_rate"],
        warmup_steps=float(warmup) if warmup < 1 else int(warmup),
        weight_decay=settings["weight_decay"],
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        fp16=precision == "fp16",
        bf16=precision == "bf16",
        use_cpu=device == "cpu",
        seed=seed,
        data_seed=seed,
        eval_strategy="steps" if selecting else "no",
        eval_steps=eval_steps if selecting else None,
        save_strategy="steps" if selecting else "no",
        save_steps=eval_steps,
        save_total_limit=1,
        save_only_model=True,
        load_best_model_at_end=selecting,
        metric_for_best_model=f"eval_dev_{SELECTION_METRIC}" if selecting else None,
        greater_is_better=True,
        logging_steps=max(1, total // 50),
        logging_first_step=True,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    progress, at_end = _callbacks()
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        loss=build_loss(model, settings),
        evaluator=evaluator,
        callbacks=[progress, at_end],
    )
    trainer.remove_callback(PrinterCallback)
    log.info(
        "training %d pairs x %d epochs, batch %d, %d steps, %s, on %s (%s)",
        len(dataset),
        settings["epochs"],
        bs,
        total,
        f"dev eval every {eval_steps} steps" if selecting else "no dev slice: the last step is kept",
        device,
        precision,
    )
    t0 = time.monotonic()
    trainer.train()
    train_time = time.monotonic() - t0
    loss_curve, dev_curve = _curves(trainer.state.log_history)
    best = trainer.state.best_model_checkpoint
    return {
        "training_time_s": train_time,
        "steps": trainer.state.global_step,
        "epochs_run": float(trainer.state.epoch or 0),
        "eval_steps": eval_steps if selecting else None,
        "selection": {
            "metric": f"dev {SELECTION_METRIC}" if selecting else None,
            "best_step": int(best.rsplit("-", 1)[1]) if best else trainer.state.global_step,
            "best_score": trainer.state.best_metric,
        },
        "loss_curve": loss_curve,
        "dev_curve": dev_curve,
    }


@contextlib.contextmanager
def _extra_trainer_callback(callback: Any) -> Iterator[None]:
    """Attach a callback to every Trainer built inside the block (fit() builds its own, out of reach)."""
    import transformers.trainer as hf_trainer

    hf_trainer.DEFAULT_CALLBACKS.append(callback)
    try:
        yield
    finally:
        hf_trainer.DEFAULT_CALLBACKS.remove(callback)


def _train_llamaindex(
    base_path: str,
    data: TrainingData,
    spec: ModelSpec,
    settings: dict[str, Any],
    seed: int,
    workdir: Path,
    device: str,
    train_len: int,
) -> tuple[Any, dict[str, Any]]:
    """The tutorial's SentenceTransformersFinetuneEngine, with the dev slice as its val_dataset."""
    from llama_index.finetuning import EmbeddingQAFinetuneDataset, SentenceTransformersFinetuneEngine
    from sentence_transformers import SentenceTransformer
    from torch.utils.data import DataLoader

    qp, pp = spec.query_prefix, spec.passage_prefix
    queries: dict[str, str] = {}
    corpus: dict[str, str] = {}
    relevant: dict[str, list[str]] = {}
    for p in data.pairs:
        queries[p.query_id] = qp + p.query
        corpus[p.positive_id] = pp + p.positive
        relevant.setdefault(p.query_id, []).append(p.positive_id)
    train_ds = EmbeddingQAFinetuneDataset(queries=queries, corpus=corpus, relevant_docs=relevant)
    dev_ds = None
    if data.dev_queries:
        dev_ds = EmbeddingQAFinetuneDataset(
            queries={q: qp + t for q, t in data.dev_queries.items()},
            corpus={c: pp + t for c, t in data.dev_corpus.items()},
            relevant_docs={q: sorted(ids) for q, ids in data.dev_relevant.items()},
        )
    bs = settings["batch_size"]
    n_batches = math.ceil(len(data.pairs) / bs)
    total = min(settings["max_steps"] or n_batches * settings["epochs"], n_batches * settings["epochs"])
    eval_steps = settings["eval_steps"] or max(1, math.ceil(total / DEFAULT_EVALUATIONS))
    set_seed(seed)
    scratch = workdir / CHECKPOINTS
    scratch.mkdir()
    with contextlib.chdir(scratch):  # fit() puts a checkpoints/ folder in the working directory
        engine = SentenceTransformersFinetuneEngine(
            train_ds,
            model_id=base_path,
            model_output_path=str(workdir),
            batch_size=bs,
            val_dataset=dev_ds,
            epochs=settings["epochs"],
            show_progress_bar=False,
            evaluation_steps=eval_steps,
            use_all_docs=True,
            trust_remote_code=spec.trust_remote_code,
            device=device,
        )
        engine.model.max_seq_length = train_len
        engine.loss = build_loss(engine.model, settings)
        if settings["max_steps"]:  # the engine has no step limit: train on the first max_steps batches
            engine.examples = engine.examples[: settings["max_steps"] * bs]
            engine.loader = DataLoader(engine.examples, batch_size=bs)
        warmup = settings["warmup"]
        engine.warmup_steps = int(warmup * total) if warmup < 1 else int(warmup)
        progress, _ = _callbacks(log_every=max(1, total // 50))
        log.info(
            "llamaindex engine: %d pairs x %d epochs, batch %d, dev eval every %d steps",
            len(engine.examples),
            settings["epochs"],
            bs,
            eval_steps,
        )
        t0 = time.monotonic()
        with _extra_trainer_callback(progress):
            engine.finetune()
        train_time = time.monotonic() - t0
    loss_curve, dev_curve = _curves(progress.history)
    best = max(dev_curve, key=lambda r: r.get("ndcg@10", float("-inf")), default=None)
    model = SentenceTransformer(str(workdir), device=device)  # the engine saved its best (dev nDCG@10) model
    return model, {
        "training_time_s": train_time,
        "steps": progress.history[-1].get("step") if progress.history else None,
        "epochs_run": float(progress.history[-1].get("epoch") or 0) if progress.history else 0.0,
        "eval_steps": eval_steps if dev_ds else None,
        "selection": {
            "metric": "dev cosine_ndcg@10 (llama-index engine)" if dev_ds else None,
            "best_step": best["step"] if best else None,
            "best_score": best.get("ndcg@10") if best else None,
        },
        "loss_curve": loss_curve,
        "dev_curve": dev_curve,
    }


# ---------------------------------------------------------------------------------------------- entry point


def finetune(
    name: str,
    output: str | os.PathLike[str],
    datasets: list[DatasetFiles | dict[str, Any]],
    settings: dict[str, Any],
    base: ModelSpec | dict[str, Any],
    seed: int = 42,
    threads: int = 0,
) -> dict[str, Any]:
    """Fine-tune `base` on `datasets` per `settings` (a `finetune` entry, defaults filled) into `output`.

    Returns the facts written to `output/training.json`. `threads` caps torch's CPU threads. On a machine
    with several GPUs, callers outside Snakemake wrap the call in `embedlab.workflow.gpu.gpu_slot()`
    (rules get theirs from `run_rule`).
    """
    started = time.monotonic()
    spec = base if isinstance(base, ModelSpec) else ModelSpec(**base)
    files = [d if isinstance(d, DatasetFiles) else DatasetFiles(**d) for d in datasets]
    backend = settings["backend"]
    if backend not in BACKENDS:
        raise EmbedlabError(f"fine-tune {name}: backend {backend!r} unknown (allowed: {', '.join(BACKENDS)})")
    with atomic_dir(output) as workdir:
        import torch

        if threads:
            torch.set_num_threads(threads)
        set_seed(seed)
        data = load_training_data(files, settings["dev_fraction"], settings["max_pairs_per_query"], seed)
        device = pick_device("auto")
        if backend == "autotrain":
            from embedlab.train.autotrain import autotrain_backend

            facts = autotrain_backend(name, Path(output), workdir, data, spec, settings, seed, device)
        else:
            facts = _train(name, Path(output), workdir, data, spec, settings, seed, device)
        facts["total_time_s"] = round(time.monotonic() - started, 2)
        write_outputs(workdir, facts)
    log.info("fine-tune %s: wrote %s", name, output)
    return facts


def _check_pairs(name: str, data: TrainingData, settings: dict[str, Any]) -> None:
    n, bs = len(data.pairs), settings["batch_size"]
    if n < max(bs, 2):
        raise EmbedlabError(
            f"fine-tune {name}: {n} training pairs, fewer than one batch of {bs}: lower "
            f"finetune.{name}.batch_size, lower dev_fraction, or add documents/queries"
        )


def _train(
    name: str,
    final: Path,
    workdir: Path,
    data: TrainingData,
    spec: ModelSpec,
    settings: dict[str, Any],
    seed: int,
    device: str,
) -> dict[str, Any]:
    """Common frame of the sentence-transformers and llamaindex backends: before, train, after."""
    import torch

    backend = settings["backend"]
    _check_pairs(name, data, settings)
    precision = resolve_precision(settings["precision"], device)
    model = load_base(spec, device)
    infer_len = model.max_seq_length
    train_len = settings["max_seq_length"] or infer_len
    log.info(
        "base %s (%s): max_seq_length %s, train at %s, device %s",
        spec.name,
        spec.source,
        infer_len,
        train_len,
        device,
    )
    hn = settings["hard_negatives"]
    neg_counts = None
    if backend == "llamaindex" and settings["learning_rate"] != LLAMAINDEX_LR:
        log.warning(
            "fine-tune %s: the llamaindex engine trains at its fixed learning rate %g; learning_rate %g "
            "is ignored (use backend sentence-transformers)",
            name,
            LLAMAINDEX_LR,
            settings["learning_rate"],
        )
    if hn["enabled"] and backend == "llamaindex":
        log.warning(
            "fine-tune %s: the llamaindex engine trains on (query, positive) pairs: hard negatives "
            "are ignored (use backend sentence-transformers)",
            name,
        )
    elif hn["enabled"]:
        neg_counts = mine_negatives(
            data.pairs,
            data.train_chunks,
            data.dev_corpus,
            model,
            hn["num"],
            hn["margin"],
            seed,
            spec.query_prefix,
            spec.passage_prefix,
            spec.batch_size,
        )
    before = val_metrics(model, data, spec)
    try:
        if backend == "sentence-transformers":
            model.max_seq_length = train_len
            run = _train_sentence_transformers(model, data, spec, settings, seed, workdir, precision, device)
        else:
            base_path = resolve_model_source(spec.source or "")
            del model
            model, run = _train_llamaindex(base_path, data, spec, settings, seed, workdir, device, train_len)
            precision = "fp32"  # fit() inside the engine runs without AMP
    except Exception as exc:
        if _is_oom(exc):
            raise _oom_error(name, settings, train_len, device) from exc
        raise
    finally:
        shutil.rmtree(workdir / CHECKPOINTS, ignore_errors=True)
        if device == "cuda":
            torch.cuda.empty_cache()
    model.max_seq_length = infer_len  # train short for speed, keep the base's reading length for use
    model.save(str(workdir), create_model_card=False)
    after = val_metrics(model, data, spec)
    n_pairs = len(data.pairs)
    return {
        "format": FORMAT,
        "name": name,
        "status": "trained",
        "backend": backend,
        "path": str(final),
        "base": {
            "name": spec.name,
            "source": spec.source,
            "query_prefix": spec.query_prefix,
            "passage_prefix": spec.passage_prefix,
            "max_seq_length": infer_len,
        },
        "datasets": data.stats,
        "pairs": n_pairs,
        "loss": _loss_facts(settings),
        "batch_sampler": "no_duplicates"
        if backend == "sentence-transformers"
        else "random (llama-index engine)",
        "hard_negatives": {**hn, "used": neg_counts is not None, **(neg_counts or {})},
        "hyperparameters": {
            "epochs": settings["epochs"],
            "batch_size": settings["batch_size"],
            "learning_rate": settings["learning_rate"]
            if backend == "sentence-transformers"
            else LLAMAINDEX_LR,
            "warmup": settings["warmup"],
            "weight_decay": settings["weight_decay"],
            "max_steps": settings["max_steps"],
            "steps": run["steps"],
            "eval_steps": run["eval_steps"],
            "train_max_seq_length": train_len,
            "precision": precision,
            "seed": seed,
            "dev_fraction": settings["dev_fraction"],
            "max_pairs_per_query": settings["max_pairs_per_query"],
        },
        "selection": {
            **run["selection"],
            "dev_queries": len(data.dev_queries),
            "dev_groups": data.dev_groups,
        },
        "val": {ds: {"before": before[ds], "after": after[ds]} for ds in data.val},
        "training_time_s": round(run["training_time_s"], 2),
        "pairs_per_second": round(run["epochs_run"] * n_pairs / max(run["training_time_s"], 1e-9), 2),
        "hardware": hardware(device, precision),
        "versions": versions(),
        "loss_curve": run["loss_curve"],
        "dev_curve": run["dev_curve"],
    }


def write_outputs(workdir: Path, facts: dict[str, Any]) -> None:
    """training.json and the README.md model card (replacing sentence-transformers' own card)."""
    from embedlab.train.card import render_model_card

    io.write_json(workdir / "training.json", facts)
    io.write_text(workdir / "README.md", render_model_card(facts))
