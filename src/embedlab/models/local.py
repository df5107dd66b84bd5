"""Model kinds computed on this machine with transformers: `sentence-transformers` (HF id, local dir, `pkg:`
or a fine-tuned model under results/models/{name}) and `huggingface` (`AutoModel` + explicit pooling: cls /
mean / last_token, max length, load kwargs: fp16, 4-bit through bitsandbytes on CUDA)."""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import replace
from typing import Any

import numpy as np

from embedlab.errors import EmbedlabError
from embedlab.models.base import Encoder, free_cuda
from embedlab.models.sources import resolve_model_source
from embedlab.models.spec import ModelSpec, load_sentence_transformer, pick_device

log = logging.getLogger(__name__)


class SentenceTransformerEncoder(Encoder):
    def __init__(self, spec: ModelSpec, device: str = "auto") -> None:
        super().__init__(spec, pick_device(device))
        load_spec = replace(spec, model_kwargs=hf_load_kwargs(spec.model_kwargs, self.device, spec.name))
        try:
            self.model = load_sentence_transformer(load_spec, self.device)
        except EmbedlabError as exc:  # hub errors span several lines: keep the one-line contract
            raise EmbedlabError(" ".join(str(exc).split())) from exc

    @property
    def dim(self) -> int | None:
        getter = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        return getter()

    def _encode(self, texts: list[str], role: str) -> Any:
        return self.model.encode(
            texts,
            prompt=self.prefix(role) or None,
            batch_size=self.spec.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=False,
            show_progress_bar=False,
        )

    def close(self) -> None:
        del self.model
        free_cuda()


# ------------------------------------------------------------------------------------------------------------
_DTYPES = {
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float32": "float32",
    "fp32": "float32",
    "auto": "auto",
}
_BNB_KEYS = (
    "load_in_4bit",
    "load_in_8bit",
    "bnb_4bit_compute_dtype",
    "bnb_4bit_quant_type",
    "bnb_4bit_use_double_quant",
)


def hf_load_kwargs(model_kwargs: dict[str, Any], device: str, name: str = "?") -> dict[str, Any]:
    """Turn config-friendly load kwargs (strings) into what `from_pretrained` takes.

    `torch_dtype: float16` -> torch.float16; `load_in_4bit` / `bnb_4bit_*` -> a BitsAndBytesConfig, which
    only works on CUDA: on CPU quantization and fp16 are dropped with a warning (CPU fp16 is slow and lossy).
    """
    import torch

    kw = dict(model_kwargs)
    if "torch_dtype" in kw:  # the tutorial's name; transformers 5 calls it dtype
        kw["dtype"] = kw.pop("torch_dtype")
    if isinstance(kw.get("dtype"), str):
        value = _DTYPES.get(kw["dtype"].lower())
        if value is None:
            raise EmbedlabError(
                f"model {name}: model_kwargs.torch_dtype={kw['dtype']!r}; "
                "use float16, bfloat16, float32 or auto"
            )
        kw["dtype"] = value if value == "auto" else getattr(torch, value)
    bnb = {k: kw.pop(k) for k in _BNB_KEYS if k in kw}
    if not str(device).startswith("cuda"):
        if bnb:
            log.warning(
                "model %s: %s needs CUDA; loading unquantized in float32 on %s", name, sorted(bnb), device
            )
        if kw.get("dtype") in (torch.float16, torch.bfloat16):
            log.warning("model %s: %s on %s is slow; loading in float32", name, kw["dtype"], device)
            kw.pop("dtype")
        kw.pop("device_map", None)
        return kw
    if bnb.get("load_in_4bit") or bnb.get("load_in_8bit"):
        if importlib.util.find_spec("bitsandbytes") is None:
            raise EmbedlabError(
                f"model {name}: model_kwargs {sorted(k for k in bnb if k.startswith('load_in'))} need "
                "bitsandbytes, an optional extra: pip install 'embedlab[gpu]' (or drop them to load "
                "unquantized)"
            )
        from transformers import BitsAndBytesConfig

        if isinstance(bnb.get("bnb_4bit_compute_dtype"), str):
            bnb["bnb_4bit_compute_dtype"] = getattr(
                torch, _DTYPES.get(bnb["bnb_4bit_compute_dtype"], "float16")
            )
        kw["quantization_config"] = BitsAndBytesConfig(**bnb)
        kw.setdefault("device_map", device)
    return kw


class HuggingFaceEncoder(Encoder):
    """`AutoModel` with explicit pooling: what the tutorial's per-model specs describe."""

    def __init__(self, spec: ModelSpec, device: str = "auto") -> None:
        super().__init__(spec, pick_device(device))
        import torch
        from transformers import AutoModel, AutoTokenizer

        if spec.pooling not in ("cls", "mean", "last_token"):
            raise EmbedlabError(
                f"model {spec.name}: pooling {spec.pooling!r}; set pooling to cls, mean or last_token"
            )
        if not spec.source:
            raise EmbedlabError(f"model {spec.name}: kind huggingface needs a source (hub id or local dir)")
        path = resolve_model_source(spec.source)
        kw = hf_load_kwargs(spec.model_kwargs, self.device, spec.name)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(
                path, trust_remote_code=spec.trust_remote_code, **spec.tokenizer_kwargs
            )
            self.model = AutoModel.from_pretrained(path, trust_remote_code=spec.trust_remote_code, **kw)
        except OSError as exc:
            raise EmbedlabError(
                f"model {spec.name}: cannot load {spec.source!r} ({' '.join(str(exc).split())}); "
                "offline, use a local dir or a pkg: source"
            ) from exc
        if "device_map" not in kw:
            self.model.to(self.device)
        self.model.eval()
        self._torch = torch
        if spec.pooling == "last_token":
            self.tokenizer.padding_side = "left"  # the last position is then the last real token
        self.max_length = spec.max_seq_length or min(
            getattr(self.tokenizer, "model_max_length", 512) or 512, 8192
        )

    @property
    def dim(self) -> int | None:
        return getattr(self.model.config, "hidden_size", None)

    def _encode(self, texts: list[str], role: str) -> Any:
        torch = self._torch
        prefix = self.prefix(role)
        out = []
        order = np.argsort([-len(t) for t in texts], kind="stable")  # similar lengths per batch: less padding
        device = next(self.model.parameters()).device
        with torch.inference_mode():
            for start in range(0, len(texts), self.spec.batch_size):
                idx = order[start : start + self.spec.batch_size]
                batch = self.tokenizer(
                    [prefix + texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(device)
                hidden = self.model(**batch).last_hidden_state
                out.append(pool(hidden, batch["attention_mask"], self.spec.pooling).float().cpu().numpy())
        vecs = np.concatenate(out)
        result = np.empty_like(vecs)
        result[order] = vecs
        return result

    def close(self) -> None:
        del self.model
        free_cuda()


def pool(hidden: Any, mask: Any, how: str) -> Any:
    """cls: first token; mean: average over real tokens; last_token: the last real token (any padding)."""
    if how == "cls":
        return hidden[:, 0]
    if how == "mean":
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    if how == "last_token":
        if bool(mask[:, -1].all()):  # left padding (or no padding): the last position is real everywhere
            return hidden[:, -1]
        last = mask.sum(1) - 1
        return hidden[range(hidden.shape[0]), last]
    raise EmbedlabError(f"unknown pooling {how!r}; use cls, mean or last_token")
