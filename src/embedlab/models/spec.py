"""Model registry: what a named model is and how to use it, shared by fine-tuning and evaluation.

A config entry says where the weights are (Hugging Face id, local dir, `pkg:` inside a Python package, or
an API) and how to call them (prefixes, pooling, normalization, max length, load kwargs). Fine-tuned models
join the registry under their fine-tune name, inheriting the usage settings of their base model, so the
same prefixes are used in training and evaluation. The registry of a config is built by the workflow layer
(`workflow.registry`, which knows the folders) from the pure pieces here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

from embedlab import filenames
from embedlab.errors import EmbedlabError
from embedlab.models.sources import resolve_model_source

log = logging.getLogger(__name__)

KINDS = (
    "sentence-transformers",
    "huggingface",
    "openai",
    "openai-compatible",
    "custom",
    "bm25",
    "hybrid",
    "onnx",
)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: str = "sentence-transformers"
    source: str | None = None
    max_seq_length: int | None = None
    pooling: str | None = None  # cls | mean | last_token (huggingface kind)
    normalize: bool = True
    query_prefix: str = ""
    passage_prefix: str = ""
    batch_size: int = 32
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    tokenizer_kwargs: dict[str, Any] = field(default_factory=dict)
    trust_remote_code: bool = False
    dimensions: int | None = None  # API models that can shorten their vectors (text-embedding-3-*)
    api_base: str | None = None
    api_key_env: str | None = None
    class_path: str | None = None  # custom kind: "package.module:ClassName"
    init_kwargs: dict[str, Any] = field(default_factory=dict)
    base: str | None = None  # fine-tuned models: the registry name they were trained from
    of: list[str] = field(default_factory=list)  # hybrid kind: the member models whose rankings are fused
    fusion: dict[str, Any] = field(default_factory=dict)  # hybrid kind: schema models.*.fusion


def registry_spec(models: dict[str, Any], name: str) -> ModelSpec:
    """The spec of a `models` entry, for checks that need no trained model (and so no folder)."""
    if name not in models:
        known = ", ".join(sorted(models)) or "(none)"
        raise EmbedlabError(f"unknown model {name!r}; defined models: {known}")
    return ModelSpec(name=name, **models[name])


def finetuned_spec(base: ModelSpec, name: str, folder: str) -> ModelSpec:
    """A fine-tune of `base` saved in `folder`: it keeps the base's usage settings (prefixes, pooling, ...),
    so training and evaluation call it the same way."""
    return replace(base, name=name, kind="sentence-transformers", source=folder, base=base.name)


def onnx_spec(model: ModelSpec, name: str, folder: str, file_name: str) -> ModelSpec:
    """`model`'s ONNX export `file_name` in `folder`, under registry name `name`."""
    kwargs = {"file_name": file_name}
    return replace(model, name=name, kind="onnx", source=folder, model_kwargs=kwargs, base=model.name)


ONNX_FILES = {
    ".onnx": filenames.ONNX_FP32,
    ".onnx-int8": filenames.ONNX_INT8,
}  # name suffix -> file (rule export_onnx)


def onnx_exports(finetunes: dict[str, Any]) -> list[str]:
    """Registry names of the ONNX exports: `{name}.onnx` (and `.onnx-int8`) of `export_onnx` fine-tunes."""
    out = []
    for name, entry in finetunes.items():
        export = entry.get("export_onnx") or {}
        if export.get("enabled"):
            out += [name + suffix for suffix in ONNX_FILES if suffix == ".onnx" or export["quantize"]]
    return out


def pick_device(requested: str = "auto") -> str:
    """`auto`: CUDA when present (the GPU slot allocator set CUDA_VISIBLE_DEVICES), else MPS, else CPU."""
    if requested != "auto":
        return requested
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def load_sentence_transformer(spec: ModelSpec, device: str = "auto") -> Any:
    """Load a sentence-transformers model with the spec's settings; works offline for local/pkg sources."""
    from sentence_transformers import SentenceTransformer

    if spec.kind != "sentence-transformers" or not spec.source:
        raise EmbedlabError(f"model {spec.name}: kind {spec.kind!r} is not a sentence-transformers model")
    path = resolve_model_source(spec.source)
    try:
        model = SentenceTransformer(
            path,
            device=pick_device(device),
            trust_remote_code=spec.trust_remote_code,
            model_kwargs=spec.model_kwargs or None,
            processor_kwargs=spec.tokenizer_kwargs or None,  # sentence-transformers 6 name
        )
    except OSError as exc:
        raise EmbedlabError(
            f"model {spec.name}: cannot load {spec.source!r} ({exc}); offline, use a local dir or a pkg: one"
        ) from exc
    if spec.max_seq_length:
        model.max_seq_length = spec.max_seq_length
    model.model_card_data.model_name = spec.name  # mteb files results under this name
    return model
