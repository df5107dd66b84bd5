"""MTEB (v2 API) on our models: a custom retrieval task from each val split, and standard tasks from config.

Every model kind runs through one adapter (`MtebEncoder`) around our Encoder, so prefixes, normalization,
the embedding cache and custom user classes work in MTEB exactly as in `evaluate`; BM25 runs as an MTEB
search model (retrieval tasks only). Standard tasks download their data from the Hugging Face hub: offline
they cannot run, and the rule writes `{"status": "unavailable", "reason": …}` instead of failing the
workflow. Model adapters: `embedlab.evaluation.mteb_models`; model cards: `embedlab.evaluation.mteb_card`.
"""

from __future__ import annotations

import difflib
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from embedlab import io
from embedlab.errors import EmbedlabError
from embedlab.evaluation.mteb_models import mteb_model
from embedlab.evaluation.qaset import load_qa
from embedlab.models.embcache import open_encoder
from embedlab.models.spec import ModelSpec
from embedlab.settings import evaluation_default
from embedlab.text import language

log = logging.getLogger(__name__)


FORMAT = "embedlab.mteb/1"
CUSTOM_PREFIX = "EmbedlabVal"
RERANK_PREFIX = "EmbedlabValRerank"

# Errors that mean "the task's data could not be fetched" rather than a bug.
_NETWORK_HINTS = (
    "connection",
    "offline",
    "resolve",
    "max retries",
    "timed out",
    "timeout",
    "network",
    "couldn't reach",
    "could not reach",
    "localentrynotfound",
    "hub",
    "name or service not known",
    "temporary failure",
    "http",
    "ssl",
    "proxy",
    "dataset",
)


def custom_task_name(corpus: str, lang: str) -> str:
    return f"{CUSTOM_PREFIX}.{corpus}.{lang}"


def rerank_task_name(corpus: str, lang: str) -> str:
    return f"{RERANK_PREFIX}.{corpus}.{lang}"


def mteb_lang(lang: str) -> str:
    """MTEB's "{ISO 639-3}-{script}" label for a corpus language ("hu" -> "hun-Latn", "zh" -> "zho-Hans")."""
    return language(lang).mteb


# ------------------------------------------------------------------------------------------------------------
def make_custom_task(val_path: str | Path, corpus: str, lang: str) -> Any:
    """An MTEB retrieval task over one val split (offline; every relevant chunk is a qrel with score 1)."""
    from datasets import Dataset
    from mteb.abstasks.retrieval import AbsTaskRetrieval
    from mteb.abstasks.retrieval_dataset_loaders import RetrievalSplitData

    qa = load_qa(val_path)
    name = custom_task_name(corpus, lang)
    revision = _file_revision(val_path)

    class EmbedlabValRetrieval(AbsTaskRetrieval):
        metadata = _metadata(
            name,
            f"embedlab held-out synthetic queries over every chunk of {corpus} ({lang}).",
            val_path,
            revision,
            "Retrieval",
            lang,
            "ndcg_at_10",
        )

        def load_data(self, **kwargs: Any) -> None:
            if self.data_loaded:
                return
            split = RetrievalSplitData(
                corpus=Dataset.from_dict({"id": qa.corpus_ids, "text": qa.corpus}),
                queries=Dataset.from_dict({"id": qa.query_ids, "text": qa.queries}),
                relevant_docs={
                    qid: {qa.corpus_ids[i]: 1 for i in rel}
                    for qid, rel in zip(qa.query_ids, qa.relevant, strict=True)
                },
                top_ranked=None,
            )
            self.dataset = {"default": {"test": split}}
            self.data_loaded = True

    return EmbedlabValRetrieval()


def rerank_candidates(qa: Any, negatives: int) -> list[list[int]]:
    """Each query's candidates for the reranking task: its positives, then the `negatives` chunks BM25
    ranks highest among the others (ties by chunk id). One lexical miner for every model keeps the lists
    the same whoever is scored, and hard: they share the query's words."""
    from embedlab.evaluation import fusion, metrics

    enc = open_encoder(ModelSpec(name="bm25", kind="bm25"), "cpu", None)
    try:
        d = enc.encode_corpus(qa.corpus)  # lexical models need the corpus before the queries
        q = enc.encode_queries(qa.queries)
    finally:
        enc.close()
    spare = negatives + max((len(r) for r in qa.relevant), default=0)
    top = fusion.top_candidates(q, d, metrics.tie_order(qa.corpus_ids), spare).ids
    out = []
    for rel, row in zip(qa.relevant, top, strict=True):
        positives = sorted(int(i) for i in rel)
        out.append(positives + [int(i) for i in row if int(i) not in set(positives)][:negatives])
    return out


def make_reranking_task(val_path: str | Path, corpus: str, lang: str, negatives: int) -> Any:
    """An MTEB reranking task over one val split (the course's AbsTaskReranking, in MTEB 2's form: a
    retrieval task whose `top_ranked` lists each query's candidates): each query's positives and its
    `negatives` hardest BM25 negatives (`rerank_candidates`), scored by MAP and MRR@10 within the list."""
    from datasets import Dataset
    from mteb.abstasks.retrieval import AbsTaskRetrieval
    from mteb.abstasks.retrieval_dataset_loaders import RetrievalSplitData

    qa = load_qa(val_path)
    name = rerank_task_name(corpus, lang)
    revision = f"{_file_revision(val_path)}-n{negatives}"

    class EmbedlabValReranking(AbsTaskRetrieval):
        metadata = _metadata(
            name,
            f"embedlab val queries of {corpus} ({lang}): positives + {negatives} BM25 negatives.",
            val_path,
            revision,
            "Reranking",
            lang,
            "map_at_1000",
        )

        def load_data(self, **kwargs: Any) -> None:
            if self.data_loaded:
                return
            candidates = rerank_candidates(qa, negatives)
            used = sorted({i for c in candidates for i in c})
            texts = [qa.corpus[i] for i in used]
            split = RetrievalSplitData(
                corpus=Dataset.from_dict({"id": [qa.corpus_ids[i] for i in used], "text": texts}),
                queries=Dataset.from_dict({"id": qa.query_ids, "text": qa.queries}),
                relevant_docs={
                    qid: {qa.corpus_ids[i]: 1 for i in rel}
                    for qid, rel in zip(qa.query_ids, qa.relevant, strict=True)
                },
                top_ranked={
                    qid: [qa.corpus_ids[i] for i in cand]
                    for qid, cand in zip(qa.query_ids, candidates, strict=True)
                },
            )
            self.dataset = {"default": {"test": split}}
            self.data_loaded = True

    return EmbedlabValReranking()


def _metadata(
    name: str, description: str, val_path: str | Path, revision: str, kind: str, lang: str, main_score: str
) -> Any:
    """The TaskMetadata of a custom task over a val split (one language, split `test`, offline)."""
    from mteb.abstasks.task_metadata import TaskMetadata

    return TaskMetadata(
        name=name,
        description=description,
        reference=None,
        dataset={"path": str(Path(val_path).resolve()), "revision": revision},
        type=kind,
        category="t2t",
        modalities=["text"],
        eval_splits=["test"],
        eval_langs=[mteb_lang(lang)],
        main_score=main_score,
        date=None,
        domains=["Legal"],
        task_subtypes=[],
        license="not specified",
        annotations_creators="derived",
        dialect=[],
        sample_creation="created",
        bibtex_citation="",
    )


def _file_revision(path: str | Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def standard_task(name: str, filters: dict[str, Any]) -> Any:
    """A task from mteb's registry by name, narrowed by languages / eval_splits / type / category filters."""
    import mteb

    kwargs: dict[str, Any] = {}
    if filters.get("languages"):
        kwargs["languages"] = list(filters["languages"])
    if filters.get("eval_splits"):
        kwargs["eval_splits"] = list(filters["eval_splits"])
    if filters.get("task_types"):
        kwargs["task_types"] = list(filters["task_types"])
    if filters.get("categories"):
        kwargs["categories"] = list(filters["categories"])
    if filters.get("exclusive_language_filter"):
        kwargs["exclusive_language_filter"] = True
    try:
        tasks = mteb.get_tasks(tasks=[name], **kwargs)
    except (KeyError, ValueError) as exc:
        known = [t.metadata.name for t in mteb.get_tasks()]
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise EmbedlabError(f"mteb.tasks: unknown MTEB task {name!r} ({exc}){hint}") from exc
    return tasks[0] if tasks else None


# ------------------------------------------------------------------------------------------------------------
def _is_network_error(exc: BaseException) -> bool:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        text = f"{type(exc).__name__} {exc}".lower()
        if isinstance(exc, ConnectionError | TimeoutError | OSError) or any(
            h in text for h in _NETWORK_HINTS
        ):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def hub_unreachable(timeout: float = 3.0) -> str | None:
    """Why the Hugging Face hub cannot be reached (no DNS, no route), or None if it can (or we cannot tell).

    A cheap TCP probe instead of letting huggingface_hub retry for ~25 s per task; skipped behind a proxy
    (a direct connection fails there although downloads work) and when offline mode is already set.
    """
    import os
    import socket
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return None
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError as exc:
        return f"cannot connect to {host}:443 ({exc})"
    return None


def _go_offline() -> None:
    """Hub unreachable: switch this process to offline mode: cached datasets load, others fail at once."""
    import os

    os.environ["HF_HUB_OFFLINE"] = os.environ["HF_DATASETS_OFFLINE"] = "1"
    for module, attr in (
        ("huggingface_hub.constants", "HF_HUB_OFFLINE"),
        ("datasets.config", "HF_HUB_OFFLINE"),
        ("datasets.config", "HF_DATASETS_OFFLINE"),
    ):
        mod = sys.modules.get(module)
        if mod is not None and hasattr(mod, attr):
            setattr(mod, attr, True)


def run_mteb(
    out_json: str | Path,
    spec: ModelSpec,
    task: str,
    *,
    val_path: str | Path | None = None,
    corpus: str | None = None,
    lang: str | None = None,
    filters: dict[str, Any] | None = None,
    device: str = evaluation_default("device"),
    cache_dir: str | Path | None = None,
    results_dir: str | Path | None = None,
    batch_size: int | None = None,
    probe_network: bool = True,
    rerank_negatives: int = 9,
) -> dict[str, Any]:
    """Rule `evaluate_mteb`: one model on one task -> `layout.mteb_result` (status ok / unavailable /
    unsupported / skipped). A custom task needs val_path, corpus and lang; a custom reranking task
    (`rerank_task_name`) also its BM25 negatives per query."""
    out: dict[str, Any] = {"format": FORMAT, "model": spec.name, "task": task}
    if val_path is not None and task.startswith(f"{RERANK_PREFIX}."):
        mteb_task = make_reranking_task(val_path, corpus or "?", lang or "?", rerank_negatives)
        out["custom"] = {"val": str(val_path), "corpus": corpus, "lang": lang, "negatives": rerank_negatives}
    elif val_path is not None:
        mteb_task = make_custom_task(val_path, corpus or "?", lang or "?")
        out["custom"] = {"val": str(val_path), "corpus": corpus, "lang": lang}
    else:
        mteb_task = standard_task(task, filters or {})
        if mteb_task is None:
            reason = f"task {task} has nothing left after the mteb filters {filters}"
            return _write(out_json, out, status="skipped", reason=reason)
    task_type = mteb_task.metadata.type
    out["type"] = task_type
    if spec.kind == "bm25" and task_type not in ("Retrieval", "Reranking"):
        reason = f"bm25 is lexical: it only runs retrieval tasks, not {task_type}"
        log.warning("%s on %s: %s", spec.name, task, reason)
        return _write(out_json, out, status="unsupported", reason=reason)
    if val_path is None:
        reason = _load_hub_data(mteb_task, task, probe_network)
        if reason:
            log.error("%s", reason)
            return _write(out_json, out, status="unavailable", reason=reason)
    out = _evaluate(out, mteb_task, spec, device, cache_dir, results_dir, batch_size, out_json)
    log.info("%s on %s: main score %s", spec.name, task, out["main_score"])
    return _write(out_json, out)


def _write(out_json: str | Path, out: dict[str, Any], **fields: Any) -> dict[str, Any]:
    out.update(fields)
    io.write_json(out_json, out)
    return out


def _load_hub_data(mteb_task: Any, task: str, probe_network: bool) -> str | None:
    """Fetch a standard task's data before loading a model, so an offline run fails fast and cheaply; why
    it could not be fetched, or None."""
    why = hub_unreachable() if probe_network else None
    if why:
        log.warning("Hugging Face hub unreachable (%s): only cached MTEB datasets can load", why)
        _go_offline()
    try:
        mteb_task.load_data()
    except Exception as exc:
        if not _is_network_error(exc):
            raise
        return (
            f"MTEB task {task} needs its dataset {mteb_task.metadata.dataset.get('path')} from the "
            f"Hugging Face hub, which could not be reached ({type(exc).__name__}: {str(exc)[:300]}); "
            "run with network access, or pre-fill the HF datasets cache"
        )
    return None


def _evaluate(
    out: dict[str, Any],
    mteb_task: Any,
    model_spec: ModelSpec,
    device: str,
    cache_dir: str | Path | None,
    results_dir: str | Path | None,
    batch_size: int | None,
    out_json: str | Path,
) -> dict[str, Any]:
    """Run the task on the model (through the embedding cache): `out` with status ok, seconds, device, main
    score and MTEB's own result."""
    import mteb

    cache_root = Path(results_dir or Path(out_json).parent / ".mteb-cache")
    started = time.perf_counter()
    enc = open_encoder(model_spec, device, cache_dir)
    try:
        result = mteb.evaluate(
            mteb_model(enc),
            [mteb_task],
            cache=mteb.ResultCache(cache_path=cache_root),
            overwrite_strategy="always",
            encode_kwargs={"batch_size": batch_size or model_spec.batch_size},
            show_progress_bar=False,
        )
    finally:
        enc.close()
    task_result = result.task_results[0]
    data = json.loads(json.dumps(task_result.to_dict(), default=str))  # datetimes -> ISO strings
    return {
        **out,
        "status": "ok",
        "seconds": time.perf_counter() - started,
        "device": enc.encoder.device,
        "main_score": _main_score(data),
        "mteb": data,
    }


def _main_score(data: dict[str, Any]) -> float | None:
    scores = [s.get("main_score") for split in data.get("scores", {}).values() for s in split]
    scores = [s for s in scores if s is not None]
    return float(np.mean(scores)) if scores else None
