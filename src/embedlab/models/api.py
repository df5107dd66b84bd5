"""Model kinds behind an embeddings API: `openai` and `openai-compatible` (any server speaking OpenAI's
embeddings endpoint), through the `openai` client, batched, with retries."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from embedlab.errors import EmbedlabError
from embedlab.models.base import Encoder
from embedlab.models.spec import ModelSpec


class OpenAIEncoder(Encoder):
    """OpenAI's embeddings endpoint, or any server speaking it (`api_base`): batched, retried on 429/5xx.

    Retries use the client's exponential backoff, which honours `retry-after(-ms)`; `init_kwargs`
    may set `max_retries` (default 6) and `timeout` (seconds, default 60).
    """

    def __init__(self, spec: ModelSpec, device: str = "auto") -> None:
        super().__init__(spec, "api")
        from openai import OpenAI

        if not spec.source:
            raise EmbedlabError(
                f"model {spec.name}: set source to the API model name, e.g. text-embedding-3-small"
            )
        if spec.kind == "openai-compatible" and not spec.api_base:
            raise EmbedlabError(
                f"model {spec.name}: kind openai-compatible needs api_base (e.g. http://localhost:8000/v1)"
            )
        key_env = spec.api_key_env or ("OPENAI_API_KEY" if spec.kind == "openai" else None)
        key = os.environ.get(key_env) if key_env else None
        if not key:
            if spec.kind == "openai":
                raise EmbedlabError(
                    f"model {spec.name}: environment variable {key_env} is not set: export your API key"
                )
            key = "not-needed"  # local servers usually accept anything
        opts = dict(spec.init_kwargs)
        self.client = OpenAI(
            api_key=key,
            base_url=spec.api_base or None,
            max_retries=int(opts.get("max_retries", 6)),
            timeout=float(opts.get("timeout", 60.0)),
        )
        self._dim = spec.dimensions

    @property
    def dim(self) -> int | None:
        return self._dim

    def _weights_identity(self) -> Any:
        return [self.spec.source, self.spec.api_base]  # API models: the name is all we can know

    def _encode(self, texts: list[str], role: str) -> Any:
        from openai import APIError

        prefix = self.prefix(role)
        extra: dict[str, Any] = {"dimensions": self.spec.dimensions} if self.spec.dimensions else {}
        out: list[list[float]] = []
        for start in range(0, len(texts), self.spec.batch_size):
            batch = [
                (prefix + t) or " " for t in texts[start : start + self.spec.batch_size]
            ]  # "" is rejected
            try:
                resp = self.client.embeddings.create(
                    model=self.spec.source, input=batch, encoding_format="float", **extra
                )
            except APIError as exc:
                raise EmbedlabError(
                    f"model {self.name}: embeddings request failed after retries "
                    f"({type(exc).__name__}: {exc}); "
                    "vectors already received are cached: rerun to continue"
                ) from exc
            data = sorted(resp.data, key=lambda d: d.index)
            out.extend(d.embedding for d in data)
        vecs = np.asarray(out, dtype=np.float32)
        self._dim = vecs.shape[1] if vecs.size else self._dim
        return vecs
