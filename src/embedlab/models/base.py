"""The `Encoder` interface every model kind implements, so evaluation, caching and MTEB never branch on the
kind.

`encode_queries` / `encode_corpus` apply the spec's prefixes and L2 normalization and return float32 rows
(a lexical kind returns sparse rows instead). `fingerprint()` names exactly what determines the vectors
(settings + weights), for the embedding cache.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embedlab.errors import EmbedlabError
from embedlab.models.sources import resolve_model_source
from embedlab.models.spec import ModelSpec

# Settings that change the vectors; batch size, names and key variables do not.
_FINGERPRINT_FIELDS = (
    "kind",
    "source",
    "max_seq_length",
    "pooling",
    "normalize",
    "query_prefix",
    "passage_prefix",
    "model_kwargs",
    "tokenizer_kwargs",
    "dimensions",
    "api_base",
    "class_path",
    "init_kwargs",
)


def _sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def path_fingerprint(path: str | Path) -> list[Any]:
    """Relative name, size and mtime of every file under `path` (a file or a folder): cheap and changes
    whenever a model is retrained or replaced, without reading gigabytes of weights."""
    root = Path(path)
    if root.is_file():
        st = root.stat()
        return [[root.name, st.st_size, st.st_mtime_ns]]
    out = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            st = p.stat()
            out.append([str(p.relative_to(root)), st.st_size, st.st_mtime_ns])
    return out


def _weights_fingerprint(source: str | None) -> Any:
    """Local dir / pkg: file stats; hub id: the cached snapshot's commit when it is there (offline-safe)."""
    if not source:
        return None
    try:
        path = resolve_model_source(source)
    except EmbedlabError:
        return source
    if Path(path).exists():
        return path_fingerprint(path)
    try:  # a hub id: the snapshot folder name is the commit hash; never reaches the network
        from huggingface_hub import snapshot_download

        return [source, Path(snapshot_download(source, local_files_only=True)).name]
    except Exception:
        return source


class Encoder:
    """Base: prefixes, normalization and checks; subclasses implement `_encode(texts, role)`."""

    lexical = False  # True: rows are sparse term weights and the corpus must be encoded first

    def __init__(self, spec: ModelSpec, device: str = "auto") -> None:
        self.spec = spec
        self.name = spec.name
        self.device = device
        self.calls = 0  # texts sent to the model (tests count these to prove the cache works)

    # --- public interface -------------------------------------------------------------------------------
    def encode_queries(self, texts: Sequence[str]) -> Any:
        return self._run(list(texts), "query")

    def encode_corpus(self, texts: Sequence[str]) -> Any:
        return self._run(list(texts), "passage")

    def fingerprint(self) -> str:
        """Hash of everything that determines the vectors: settings of the spec + the weights' identity."""
        settings = {f: getattr(self.spec, f) for f in _FINGERPRINT_FIELDS}
        return _sha({"settings": settings, "weights": self._weights_identity()})

    @property
    def dim(self) -> int | None:
        return None

    # --- helpers ------------------------------------------------------------------------------------------
    def prefix(self, role: str) -> str:
        return self.spec.query_prefix if role == "query" else self.spec.passage_prefix

    def _weights_identity(self) -> Any:
        return _weights_fingerprint(self.spec.source)

    def _run(self, texts: list[str], role: str) -> Any:
        if not texts:
            return np.zeros((0, self.dim or 0), dtype=np.float32)
        self.calls += len(texts)
        vecs = self._encode(texts, role)
        return self._post(vecs, len(texts))

    def _encode(self, texts: list[str], role: str) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _post(self, vecs: Any, n: int) -> np.ndarray:
        arr = _to_numpy(vecs)
        if arr.ndim != 2 or arr.shape[0] != n:
            raise EmbedlabError(
                f"model {self.name}: encoder returned shape {arr.shape} for {n} texts; "
                "it must return one vector per text"
            )
        bad = ~np.isfinite(arr).all(axis=1)
        if bad.any():
            raise EmbedlabError(
                f"model {self.name}: {int(bad.sum())} of {n} embeddings contain NaN/inf (fp16 overflow?): "
                "load the model in float32 (drop torch_dtype/load_in_4bit from model_kwargs)"
            )
        if self.spec.normalize:
            norms = np.linalg.norm(arr, axis=1, keepdims=True)
            arr = np.divide(arr, norms, out=np.zeros_like(arr), where=norms > 0)
        return arr

    def close(self) -> None:
        """Free model memory (GPU included) before the next model is loaded."""


def _to_numpy(vecs: Any) -> np.ndarray:
    if hasattr(vecs, "detach"):
        vecs = vecs.detach().float().cpu().numpy()
    elif isinstance(vecs, list) and vecs and hasattr(vecs[0], "detach"):
        vecs = [v.detach().float().cpu().numpy() for v in vecs]
    return np.asarray(vecs, dtype=np.float32)


def zero_rows(arr: Any) -> int:
    """Rows with no signal (zero vector / empty bag of words): they score 0 against everything."""
    if hasattr(arr, "getnnz"):
        return int((arr.getnnz(axis=1) == 0).sum())
    return int((np.abs(np.asarray(arr)).sum(axis=1) == 0).sum())


def free_cuda() -> None:
    """Return cached GPU memory after a model is deleted (the next model may need it)."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
