"""The model kinds and the `Encoder` of each: the one place that names them all.

Every kind implements `embedlab.models.base.Encoder`, so evaluation, caching and MTEB never branch on the
kind. Kinds, each in its own module:

- sentence-transformers, huggingface (`embedlab.models.local`): computed here with transformers;
- openai / openai-compatible (`embedlab.models.api`): the embeddings endpoint through the `openai` client;
- custom (`embedlab.models.custom`): a user class ("module:Class") with `encode`;
- bm25 (`embedlab.models.bm25`): the lexical baseline, sparse BM25 rows.

A new kind: a subclass of `Encoder` in its own module, one line in `KIND_CLASSES` (and `NEURAL_LOCAL_KINDS`
when it computes on this machine), and the kind in `embedlab.models.spec.KINDS` and the config schema.
`Encoder`, `zero_rows` and `USEMultilingual` (the documented `class_path`
`embedlab.models.encoders:USEMultilingual`) are importable from here too.
"""

from __future__ import annotations

import logging

from embedlab.errors import EmbedlabError
from embedlab.models.api import OpenAIEncoder
from embedlab.models.base import Encoder, zero_rows
from embedlab.models.bm25 import BM25Encoder
from embedlab.models.custom import CustomEncoder, USEMultilingual
from embedlab.models.local import HuggingFaceEncoder, SentenceTransformerEncoder
from embedlab.models.onnx import OnnxEncoder
from embedlab.models.spec import ModelSpec

__all__ = [
    "KIND_CLASSES",
    "NEURAL_LOCAL_KINDS",
    "Encoder",
    "USEMultilingual",
    "load_encoder",
    "needs_gpu",
    "zero_rows",
]

log = logging.getLogger(__name__)

NEURAL_LOCAL_KINDS = ("sentence-transformers", "huggingface", "custom")
"""Kinds that compute on this machine (and want a GPU when there is one)."""


KIND_CLASSES: dict[str, type[Encoder]] = {
    "sentence-transformers": SentenceTransformerEncoder,
    "huggingface": HuggingFaceEncoder,
    "openai": OpenAIEncoder,
    "openai-compatible": OpenAIEncoder,
    "custom": CustomEncoder,
    "bm25": BM25Encoder,
    "onnx": OnnxEncoder,  # CPU only (onnxruntime): not a NEURAL_LOCAL_KIND, so it never holds a GPU
}


def load_encoder(spec: ModelSpec, device: str = "auto") -> Encoder:
    """The Encoder for a spec; a model that fails to load raises EmbedlabError naming it."""
    cls = KIND_CLASSES.get(spec.kind)
    if cls is None:
        raise EmbedlabError(
            f"model {spec.name}: unknown kind {spec.kind!r}; use one of {', '.join(KIND_CLASSES)}"
        )
    log.info(
        "loading model %s (%s, %s) on %s", spec.name, spec.kind, spec.source or spec.class_path or "-", device
    )
    return cls(spec, device)


def needs_gpu(spec: ModelSpec) -> bool:
    """Whether a rule computing this model's embeddings should hold a GPU (API and BM25 do not)."""
    return spec.kind in NEURAL_LOCAL_KINDS
