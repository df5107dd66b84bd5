"""Typed settings and the config schema's defaults: the schema is the one place a default is written.

The schema ships inside the package (config.schema.yaml beside this module, read with importlib.resources),
so an installed embedlab reads its defaults without a checkout; this module sits at the base of the package
(it imports no stage or workflow module), so every stage reads its defaults here without importing upward.
`validate_config` fills every default from the schema; `Settings.of(config)` turns the sections the
workflow layer reads into frozen dataclasses, with no default of its own, so a key the schema does not fill
is an error here instead of a second, silently different default in code.
(tests/test_settings.py checks that every field equals the schema's default for a config that sets nothing.)
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any, get_type_hints

from embedlab.errors import EmbedlabError

SCHEMA = files("embedlab") / "config.schema.yaml"
"""The config schema (package data: in a wheel and in a checkout alike)."""


@dataclass(frozen=True)
class ResourceSettings:
    gpu_jobs: str  # auto | always | never (workflow.resources.asks_for_gpus)
    scale_mem: float
    scale_runtime: float
    retry_mem: float
    retry_runtime: float
    rules: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class CacheSettings:
    enabled: bool
    dir: str
    shard_jobs: bool  # encode_shard jobs use the cache too (unsafe for SQLite on a shared filesystem)


@dataclass(frozen=True)
class CompressionSettings:
    models: list[str] | None
    dims: list[int]
    precisions: list[str]
    rescore_multiplier: int


@dataclass(frozen=True)
class HnswSettings:
    m: int
    ef_construction: int
    ef_search: int


@dataclass(frozen=True)
class IvfSettings:
    nlist: int | None  # None: 4 x sqrt(chunks)
    nprobe: int


@dataclass(frozen=True)
class IndexSettings:
    """evaluation.index: exact, or an approximate faiss index (hnsw, ivf) from min_corpus chunks on."""

    kind: str
    min_corpus: int
    hnsw: HnswSettings
    ivf: IvfSettings


@dataclass(frozen=True)
class EvaluationSettings:
    enabled: bool
    models: list[str] | None
    ks: list[int]
    bootstrap_samples: int
    device: str
    shards: int
    jobs: str  # model | dataset
    shard_block: int
    index: IndexSettings
    latency_queries: int
    rerank: list[dict[str, Any]]  # [{retriever, reranker, top_k}]
    compression: CompressionSettings
    cache: CacheSettings
    cross_check: list[str]
    crosslingual: Any  # "auto", false, or {corpus: [[src, tgt], ...]}
    compare: list[list[str]]
    compare_finetunes: bool
    compare_metric: str
    compare_samples: int

    @property
    def cache_dir(self) -> str | None:
        """Where embeddings are cached, or None when the cache is off."""
        return self.cache.dir if self.cache.enabled else None

    @property
    def shard_cache_dir(self) -> str | None:
        """The cache of encode_shard jobs: only with cache.shard_jobs (the shard files carry the vectors)."""
        return self.cache_dir if self.cache.shard_jobs else None


@dataclass(frozen=True)
class MtebSettings:
    enabled: bool
    models: list[str] | None
    custom_tasks: bool
    rerank_negatives: int
    tasks: list[str]
    select: bool
    task_types: list[str]
    categories: list[str]
    languages: list[str]
    eval_splits: list[str]
    probe_network: bool


@dataclass(frozen=True)
class ReleaseSettings:
    alpha: float
    margin: float
    min_seeds: int


@dataclass(frozen=True)
class ReportSettings:
    metric: str
    paired_metric: str
    test_samples: int
    max_ci_halfwidth: float
    min_real_questions: int
    dpi: int
    release: ReleaseSettings


@dataclass(frozen=True)
class SplitSettings:
    val_fraction: float


@dataclass(frozen=True)
class Settings:
    seed: int
    corpus_root: str | None
    resources_dir: str
    resources: ResourceSettings
    split: SplitSettings
    evaluation: EvaluationSettings
    mteb: MtebSettings
    report: ReportSettings

    @classmethod
    def of(cls, config: dict[str, Any]) -> Settings:
        """The settings of a config that `validate_config` has seen (defaults filled)."""
        return _build(cls, config, "")


def section(cls: type, config: dict[str, Any], key: str) -> Any:
    """One section's settings (e.g. `resources`) of a validated config, for code that reads only it."""
    if key not in config:
        raise EmbedlabError(f"settings: {key} is missing: the config was not validated")
    return _build(cls, config[key], f"{key}.")


def _build(cls: type, section: dict[str, Any], where: str) -> Any:
    hints = get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        key = f"{where}{f.name}"
        if f.name not in section:
            raise EmbedlabError(
                f"settings: {key} is missing: the config was not validated (the workflow's "
                "validate_config fills every default from the schema)"
            )
        value = section[f.name]
        kind = hints[f.name]
        values[f.name] = _build(kind, value, f"{key}.") if dataclasses.is_dataclass(kind) else value
    return cls(**values)


@cache
def _schema() -> dict[str, Any]:
    import yaml

    return yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))


def _filled(node: dict[str, Any], schema: dict[str, Any]) -> Any:
    if "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]] | {
            k: v for k, v in node.items() if k != "$ref"
        }
    value = copy.deepcopy(node.get("default"))
    if isinstance(value, dict) and "properties" in node:
        for key, sub in node["properties"].items():
            if key not in value and ("default" in sub or "$ref" in sub):
                value[key] = _filled(sub, schema)
    return value


def schema_default(*path: str) -> Any:
    """The schema's default at `path` (nested defaults filled), for library entry points used without a
    config (notebooks, tests): their defaults are read from the schema, never written a second time."""
    schema = _schema()
    node: dict[str, Any] = schema
    for key in path:
        node = node["properties"][key]
    return _filled(node, schema)


def evaluation_default(key: str) -> Any:
    """An `evaluation` default: the evaluators' keyword defaults (ks, bootstrap, seed, ...) all read it."""
    return schema_default("evaluation", key)


def schema_def_keys(name: str) -> list[str]:
    """The properties of `$defs.<name>` in schema order (e.g. one word2vec run's settings)."""
    return list(_schema()["$defs"][name]["properties"])


def schema_def_default(name: str, key: str) -> Any:
    """The default of property `key` of `$defs.<name>`."""
    schema = _schema()
    return _filled(schema["$defs"][name]["properties"][key], schema)
