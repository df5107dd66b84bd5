"""What a config needs that this machine lacks now, one line each: API keys, network for models not in the
local Hugging Face cache and for MTEB's standard tasks, a CUDA GPU for quantised loading.

The workflow prints these lines when it starts (dry runs included), so that a course preset or a team's
config says up front why a job would fail later, instead of an hour into the run. Only cheap checks run
here (environment variables, the local cache, the presence of an NVIDIA driver): nothing touches the
network, and an LLM server is named as a need, not probed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from embedlab.models.sources import PKG_PREFIX
from embedlab.models.spec import ModelSpec

API_KINDS = {"openai": "OPENAI_API_KEY", "openai-compatible": None}
QUANTISED = ("load_in_4bit", "load_in_8bit")


def _hub_id(source: str | None) -> str | None:
    """A Hugging Face model id (`org/name`), not a local folder or a packaged model."""
    if not source or source.startswith(PKG_PREFIX) or Path(source).exists():
        return None
    return source if source.count("/") == 1 and not source.startswith((".", "/")) else None


def _cached(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, "config.json")
    return isinstance(found, str)


def _gpu_present() -> bool:
    return Path("/proc/driver/nvidia/version").exists() or bool(os.environ.get("CUDA_VISIBLE_DEVICES"))


def missing(specs: Iterable[ModelSpec], rerankers: dict[str, Any], llm: dict[str, Any] | None,
            mteb_tasks: list[str]) -> list[str]:  # fmt: skip
    """One line per missing need of these models, rerankers, LLM generator (None: not used) and standard
    MTEB tasks."""
    specs = list(specs)
    keys: dict[str, list[str]] = {}
    for spec in specs:
        env = spec.api_key_env or API_KINDS.get(spec.kind)
        if spec.kind in API_KINDS and env and not os.environ.get(env):
            keys.setdefault(env, []).append(spec.name)
    if llm is not None:
        env = llm.get("api_key_env") or ("OPENAI_API_KEY" if llm.get("provider") == "openai" else None)
        if env and not os.environ.get(env):
            keys.setdefault(env, []).append("generators.llm")
    lines = [f"needs {k} in the environment (for {', '.join(w)}): export {k}=…" for k, w in keys.items()]
    local = ("sentence-transformers", "huggingface")
    sources = [(s.name, _hub_id(s.source)) for s in specs if s.kind in local]
    sources += [(name, _hub_id(r.get("source"))) for name, r in rerankers.items()]
    absent = ", ".join(f"{name} ({repo})" for name, repo in sources if repo and not _cached(repo))
    if absent:
        lines.append(f"needs network once to download {absent} (not in the local Hugging Face cache)")
    if mteb_tasks:
        tasks = ", ".join(mteb_tasks)
        lines.append(f"needs network for MTEB's standard tasks {tasks} (offline: written as unavailable)")
    quantised = ", ".join(s.name for s in specs if any(s.model_kwargs.get(k) for k in QUANTISED))
    if quantised and not _gpu_present():
        lines.append(f"needs a CUDA GPU for {quantised} (model_kwargs: 4/8-bit loading with bitsandbytes)")
    if llm is not None:
        where = f"{llm.get('provider')} at {llm.get('base_url') or 'its default URL'}"
        lines.append(f"needs an LLM server for generators.llm ({where}): start it first")
    return lines
