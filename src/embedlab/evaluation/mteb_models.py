"""Our encoders as MTEB models: every dense kind through one `AbsEncoder` adapter (so prefixes,
normalization, the embedding cache and custom user classes work in MTEB exactly as in `evaluate`), and BM25
as an MTEB search model (retrieval tasks only)."""

from __future__ import annotations

from typing import Any

import numpy as np

from embedlab.errors import EmbedlabError
from embedlab.models.embcache import CachedEncoder
from embedlab.models.spec import ModelSpec


def _model_meta(spec: ModelSpec, dim: int | None, model_type: str = "dense") -> Any:
    from mteb.models.model_meta import ModelMeta

    return ModelMeta(
        loader=None,
        name=_mteb_name(spec.name),
        revision="local",
        release_date=None,
        languages=None,
        n_parameters=None,
        memory_usage_mb=None,
        max_tokens=spec.max_seq_length,
        embed_dim=dim,
        license=None,
        open_weights=spec.kind not in ("openai", "openai-compatible"),
        public_training_code=None,
        public_training_data=None,
        framework=["Sentence Transformers"] if spec.kind == "sentence-transformers" else [],
        similarity_fn_name="cosine" if spec.normalize else "dot",
        use_instructions=False,
        training_datasets=None,
        model_type=[model_type],
    )


def _mteb_name(name: str) -> str:
    """MTEB wants 'org/name' model names; ours are flat registry names."""
    return name if "/" in name else f"embedlab/{name}"


def _texts(inputs: Any) -> list[str]:
    out: list[str] = []
    for batch in inputs:
        texts = batch.get("text") if isinstance(batch, dict) else None
        if texts is None:
            raise EmbedlabError("this model kind only handles text inputs in MTEB")
        if isinstance(batch, dict) and batch.get("title"):
            texts = [f"{t} {x}".strip() if t else x for t, x in zip(batch["title"], texts, strict=True)]
        out.extend(texts)
    return out


def mteb_model(encoder: CachedEncoder) -> Any:
    """Our encoder as an MTEB model: an AbsEncoder (dense kinds) or a SearchProtocol (BM25)."""
    from mteb.models.abs_encoder import AbsEncoder
    from mteb.types import PromptType

    spec = encoder.spec

    if encoder.encoder.lexical:
        return _Bm25Search(encoder)

    class MtebEncoder(AbsEncoder):
        def __init__(self) -> None:
            self.model = None
            self.mteb_model_meta = _model_meta(spec, encoder.encoder.dim)

        def encode(
            self,
            inputs: Any,
            *,
            task_metadata: Any,
            hf_split: str,
            hf_subset: str,
            prompt_type: Any = None,
            **kwargs: Any,
        ) -> np.ndarray:
            texts = _texts(inputs)
            if prompt_type == PromptType.query:
                return np.asarray(encoder.encode_queries(texts))
            return np.asarray(encoder.encode_corpus(texts))

    return MtebEncoder()


class _Bm25Search:
    """BM25 through MTEB's SearchProtocol: index the corpus, score the queries by sparse dot product."""

    def __init__(self, encoder: CachedEncoder) -> None:
        self.encoder = encoder
        self.mteb_model_meta = _model_meta(encoder.spec, None, "sparse")

    def index(
        self,
        corpus: Any,
        *,
        task_metadata: Any,
        hf_split: str,
        hf_subset: str,
        encode_kwargs: Any,
        num_proc: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.doc_ids = list(corpus["id"])
        texts = [
            f"{t} {x}".strip() if t else x
            for t, x in zip(
                corpus["title"] if "title" in corpus.column_names else [""] * len(corpus),
                corpus["text"],
                strict=True,
            )
        ]
        self.docs = self.encoder.encode_corpus(texts)

    def search(
        self,
        queries: Any,
        *,
        task_metadata: Any,
        hf_split: str,
        hf_subset: str,
        top_k: int,
        encode_kwargs: Any,
        top_ranked: Any = None,
        num_proc: int | None = None,
        **kwargs: Any,
    ) -> dict[str, dict[str, float]]:
        q = self.encoder.encode_queries(list(queries["text"]))
        scores = (q @ self.docs.T).toarray()
        out: dict[str, dict[str, float]] = {}
        k = min(top_k, scores.shape[1])
        for qid, row in zip(queries["id"], scores, strict=True):
            best = np.argpartition(-row, k - 1)[:k]
            out[qid] = {self.doc_ids[i]: float(row[i]) for i in best}
        return out
