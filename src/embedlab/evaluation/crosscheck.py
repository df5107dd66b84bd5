"""The tutorial's two evaluators, run as cross-checks of embedlab's own numbers on the same model and data.

- `llamaindex`: a VectorStoreIndex over the chunks and one `retriever.retrieve(query)` per query, as the
  tutorial does (hit@k, MRR@k), but counting every relevant chunk (the tutorial used only the first).
  Sentence-transformers models load through `HuggingFaceEmbedding` on a local dir, as in the tutorial; other
  kinds go through a small llama-index adapter around our Encoder.
- `sentence-transformers`: `InformationRetrievalEvaluator` (accuracy/recall/MRR@k, nDCG@10, MAP@100);
  its CSV is kept, one path per model, because it appends a row per call and has no model column.

`crosscheck` writes each evaluator's metrics next to ours and the largest absolute difference on the
metrics they share; the test suite asserts they agree to 1e-6.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embedlab import io
from embedlab.errors import EmbedlabError
from embedlab.evaluation import metrics
from embedlab.evaluation.options import EvalOptions
from embedlab.evaluation.qaset import QASet, load_qa
from embedlab.evaluation.retrieval import retrieve
from embedlab.models.embcache import open_encoder
from embedlab.models.encoders import Encoder, load_encoder
from embedlab.models.sources import resolve_model_source
from embedlab.models.spec import ModelSpec, pick_device

log = logging.getLogger(__name__)


EVALUATORS = ("llamaindex", "sentence-transformers")


def _dataset_dicts(qa: QASet) -> tuple[dict[str, str], dict[str, str], dict[str, list[str]]]:
    queries = dict(zip(qa.query_ids, qa.queries, strict=True))
    corpus = dict(zip(qa.corpus_ids, qa.corpus, strict=True))
    relevant = {
        qid: [qa.corpus_ids[i] for i in rel] for qid, rel in zip(qa.query_ids, qa.relevant, strict=True)
    }
    return queries, corpus, relevant


def _encoder_embedding(encoder: Encoder) -> Any:
    """A llama-index BaseEmbedding that calls our Encoder (for kinds HuggingFaceEmbedding cannot load)."""
    from llama_index.core.embeddings import BaseEmbedding

    class EncoderEmbedding(BaseEmbedding):
        def _get_query_embedding(self, query: str) -> list[float]:
            return _dense(encoder.encode_queries([query]))[0].tolist()

        def _get_text_embedding(self, text: str) -> list[float]:
            return _dense(encoder.encode_corpus([text]))[0].tolist()

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return _dense(encoder.encode_corpus(texts)).tolist()

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

    return EncoderEmbedding(model_name=encoder.name, embed_batch_size=max(encoder.spec.batch_size, 1))


def _dense(x: Any) -> np.ndarray:
    return np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float32)


def llamaindex_loop(
    qa: QASet,
    spec: ModelSpec,
    ks: Sequence[int],
    device: str = "cpu",
    first_only: bool = False,
    embed_model: Any = None,
) -> dict[str, Any]:
    """The tutorial's evaluator: index the corpus, retrieve per query (one at a time), hit@k and MRR@k.

    `first_only=True` reproduces the tutorial exactly (only relevant_docs[qid][0] counts).
    """
    from llama_index.core import VectorStoreIndex
    from llama_index.core.schema import TextNode

    if spec.kind == "bm25":
        raise EmbedlabError(
            f"model {spec.name}: the llama-index cross-check needs an embedding model, not bm25"
        )
    started = time.perf_counter()
    if embed_model is None:
        if spec.kind == "sentence-transformers":
            from llama_index.embeddings.huggingface import HuggingFaceEmbedding

            embed_model = HuggingFaceEmbedding(
                model_name=resolve_model_source(spec.source or ""),
                device=pick_device(device),
                query_instruction=spec.query_prefix or "",
                text_instruction=spec.passage_prefix or "",
                normalize=spec.normalize,
                embed_batch_size=spec.batch_size,
                max_length=spec.max_seq_length,
                trust_remote_code=spec.trust_remote_code,
            )
        else:
            embed_model = _encoder_embedding(load_encoder(spec, device))
    queries, corpus, relevant = _dataset_dicts(qa)
    nodes = [TextNode(id_=cid, text=text) for cid, text in corpus.items()]
    index = VectorStoreIndex(nodes, embed_model=embed_model, show_progress=False)
    retriever = index.as_retriever(similarity_top_k=max(ks))
    ranks: list[np.ndarray] = []
    for qid, query in queries.items():
        retrieved = [n.node.node_id for n in retriever.retrieve(query)]
        wanted = relevant[qid][:1] if first_only else relevant[qid]
        ranks.append(
            np.array(sorted(retrieved.index(c) + 1 for c in wanted if c in retrieved), dtype=np.float64)
        )
    per = metrics.per_query(ranks, ks)
    out = {f"hit@{k}": float(per[f"hit@{k}"].mean()) for k in sorted(set(ks))}
    out.update({f"mrr@{k}": float(per[f"mrr@{k}"].mean()) for k in sorted(set(ks))})
    out["seconds"] = time.perf_counter() - started
    return out


def st_evaluator(
    qa: QASet,
    spec: ModelSpec,
    ks: Sequence[int],
    csv_out: str | Path | None = None,
    device: str = "cpu",
    name: str = "val",
    model: Any = None,
) -> dict[str, Any]:
    """sentence-transformers' InformationRetrievalEvaluator on an ST model; keeps its CSV."""
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    from embedlab.models.spec import load_sentence_transformer

    if spec.kind != "sentence-transformers":
        raise EmbedlabError(
            f"model {spec.name}: the sentence-transformers cross-check needs kind sentence-transformers"
        )
    started = time.perf_counter()
    model = model or load_sentence_transformer(spec, device)
    queries, corpus, relevant = _dataset_dicts(qa)
    ks = sorted(set(ks))
    evaluator = InformationRetrievalEvaluator(
        queries,
        corpus,
        {q: set(v) for q, v in relevant.items()},
        name=name,
        batch_size=spec.batch_size,
        mrr_at_k=ks,
        accuracy_at_k=ks,
        precision_recall_at_k=ks,
        ndcg_at_k=[metrics.NDCG_K],
        map_at_k=[metrics.MAP_K],
        query_prompt=spec.query_prefix or None,
        corpus_prompt=spec.passage_prefix or None,
        show_progress_bar=False,
        write_csv=csv_out is not None,
    )
    with tempfile.TemporaryDirectory() as tmp:
        scores = evaluator(model, output_path=tmp)
        if csv_out is not None:
            produced = Path(tmp) / evaluator.csv_file
            with io.atomic_path(csv_out) as dest:
                shutil.copyfile(produced, dest)
    prefix = f"{name}_cosine_" if name else "cosine_"
    out: dict[str, Any] = {}
    for k in ks:
        out[f"hit@{k}"] = float(scores[f"{prefix}accuracy@{k}"])
        out[f"mrr@{k}"] = float(scores[f"{prefix}mrr@{k}"])
        out[f"recall@{k}"] = float(scores[f"{prefix}recall@{k}"])
    out[f"ndcg@{metrics.NDCG_K}"] = float(scores[f"{prefix}ndcg@{metrics.NDCG_K}"])
    out[f"map@{metrics.MAP_K}"] = float(scores[f"{prefix}map@{metrics.MAP_K}"])
    out["seconds"] = time.perf_counter() - started
    return out


def crosscheck(
    val_path: str | Path,
    out_json: str | Path,
    st_csv: str | Path,
    spec: ModelSpec,
    *,
    evaluators: Sequence[str],
    options: EvalOptions,
) -> dict[str, Any]:
    """Rule `crosscheck_evaluators`: our metrics and the chosen tutorial evaluators' on the same model and
    val split, at `options.ks` (ours ranked by `retrieve` with its own index defaults, not `options.index`:
    the tutorial's evaluators search exactly)."""
    unknown = sorted(set(evaluators) - set(EVALUATORS))
    if unknown:
        raise EmbedlabError(
            f"evaluation.cross_check: unknown evaluator {unknown[0]!r}; use {', '.join(EVALUATORS)}"
        )
    qa = load_qa(val_path)
    result: dict[str, Any] = {
        "format": "embedlab.crosscheck/1",
        "model": spec.name,
        "val": str(val_path),
        "evaluators": {},
        "max_abs_diff": {},
    }
    ks = options.ks
    dev = pick_device(options.device)
    enc = open_encoder(spec, dev, options.cache_dir)
    try:
        ours = metrics.per_query(retrieve(enc, qa, ks).ranks, ks)
    finally:
        enc.close()
    result["embedlab"] = {k: float(ours[k].mean()) for k in metrics.metric_names(ks)}
    for name in evaluators:
        try:
            if name == "llamaindex":
                got = llamaindex_loop(qa, spec, ks, dev)
            else:
                got = st_evaluator(qa, spec, ks, st_csv, dev, name=spec.name)
        except EmbedlabError as exc:
            log.warning("cross-check %s skipped: %s", name, exc)
            result["evaluators"][name] = {"status": "skipped", "reason": str(exc)}
            continue
        shared = [k for k in got if k in result["embedlab"]]
        result["evaluators"][name] = {"status": "ok", **got}
        result["max_abs_diff"][name] = max(abs(got[k] - result["embedlab"][k]) for k in shared)
        log.info(
            "cross-check %s: max |diff| = %.2e over %s",
            name,
            result["max_abs_diff"][name],
            ", ".join(shared),
        )
    if not Path(st_csv).exists():  # the rule declares the CSV: say why it holds no evaluator rows
        io.write_text(
            st_csv, "# sentence-transformers evaluator not run for this model (see the .crosscheck.json)\n"
        )
    io.write_json(out_json, result)
    return result
