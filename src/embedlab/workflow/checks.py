"""Config checks the schema cannot express (names that must exist, sets that must match), one line each.

`Plan.of` runs every one of them once, after `validate_config` and before anything is planned, so a mistake
stops the run before any job with "config error at <key>: <what is wrong>". Each check takes the sections
and names it compares, never the whole config: what is planned from a config lives in `workflow.plan`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from embedlab.errors import EmbedlabError
from embedlab.models.spec import registry_spec
from embedlab.settings import MtebSettings
from embedlab.train.distributed import backend_problem
from embedlab.workflow.registry import Registry


def finetunes(entries: dict[str, Any], models: dict[str, Any], datasets: list[str]) -> None:
    """Known datasets and base models, no cycle of fine-tunes, a sentence-transformers base, data-parallel
    only where the backend can (distinct Matryoshka dimensions: the schema's uniqueItems)."""
    for name, entry in entries.items():
        where = f"config error at finetune.{name}"
        for ds in entry["datasets"]:
            if ds not in datasets:
                raise EmbedlabError(
                    f"{where}.datasets: {ds!r} is not a configured corpus/language "
                    f"(known: {', '.join(sorted(datasets))})"
                )
        seen = [name]
        base = entry["base"]
        while base in entries:
            if base in seen:
                raise EmbedlabError(f"{where}.base: fine-tunes form a cycle ({' -> '.join([*seen, base])})")
            seen.append(base)
            base = entries[base]["base"]
        try:
            spec = registry_spec(models, base)
        except EmbedlabError as exc:
            raise EmbedlabError(f"{where}.base: {exc}") from None
        if spec.kind != "sentence-transformers":
            raise EmbedlabError(
                f"{where}.base: model {base!r} is of kind {spec.kind!r}; fine-tuning needs a "
                "sentence-transformers model"
            )
        problem = backend_problem(entry)
        if problem:
            raise EmbedlabError(f"{where}.gpus: {problem}")


def word2vec_runs(runs: dict[str, Any], datasets: list[str]) -> None:
    """Each run reads exactly one of the toy preset or a configured corpus/language's chunks."""
    for name, run in runs.items():
        where = f"config error at word2vec.runs.{name}"
        if bool(run.get("corpus")) == bool(run.get("chunks")):
            raise EmbedlabError(f"{where}: give exactly one of corpus: toy or chunks: <corpus>/<lang>")
        if run.get("chunks") and run["chunks"] not in datasets:
            raise EmbedlabError(
                f"{where}: chunks {run['chunks']!r} is not a configured corpus/lang "
                f"(configured: {', '.join(sorted(datasets))})"
            )


def trained(names: Iterable[str], exported: list[str], key: str) -> None:
    """No fine-tune that only exports AutoTrain data where a model is scored."""
    for name in names:
        if name in exported:
            raise EmbedlabError(
                f"config error at {key}: fine-tune {name} only exports AutoTrain data (autotrain.run: "
                f"false), so there is no model to evaluate: set finetune.{name}.autotrain.run: true or drop "
                f"it from {key}"
            )


def known(names: Iterable[str], registry: Registry) -> None:
    """Every name is a model of the registry (the error lists the known ones)."""
    for name in names:
        registry.spec(name)


def hybrids(models: dict[str, Any], registry: Registry, exported: list[str]) -> None:
    """A hybrid fuses two or more different known models, none of them a hybrid or an export-only one."""
    for name, entry in models.items():
        if entry["kind"] != "hybrid":
            continue
        where = f"config error at models.{name}"
        members = entry["of"]
        if len(set(members)) < 2:
            raise EmbedlabError(f"{where}.of: {members} needs two or more different models to fuse")
        for member in members:
            try:
                spec = registry.spec(member)
            except EmbedlabError as exc:
                raise EmbedlabError(f"{where}.of: {exc}") from None
            if spec.kind == "hybrid":
                raise EmbedlabError(f"{where}.of: {member} is a hybrid itself: list its members instead")
        trained(members, exported, f"models.{name}.of")


def crosslingual(setting: Any, languages: dict[str, list[str]]) -> None:
    """evaluation.crosslingual as a mapping: both languages of each pair configured for its corpus."""
    if not isinstance(setting, dict):
        return
    for corpus, pairs in setting.items():
        for src, tgt in pairs:
            langs = languages.get(corpus, [])
            if src not in langs or tgt not in langs:
                raise EmbedlabError(
                    f"config error at evaluation.crosslingual.{corpus}: {src}-{tgt} needs both languages in "
                    f"corpora.{corpus}.languages (has: {', '.join(langs) or 'none'})"
                )


def compression(chosen: list[str] | None, dense: list[str]) -> None:
    """evaluation.compression.models: evaluated dense models only."""
    for name in chosen or []:
        if name not in dense:
            raise EmbedlabError(
                f"config error at evaluation.compression.models: {name} is not an evaluated dense model "
                f"(dense: {', '.join(dense) or 'none'})"
            )


def rerank(entries: list[dict[str, Any]], rerankers: dict[str, Any], registry: Registry) -> None:
    """evaluation.rerank: known rerankers, registry retrievers that are not hybrids."""
    for i, entry in enumerate(entries):
        where = f"config error at evaluation.rerank[{i}]"
        if entry["reranker"] not in rerankers:
            known_names = ", ".join(rerankers) or "none"
            raise EmbedlabError(
                f"{where}.reranker: {entry['reranker']!r} is not in rerankers (known: {known_names})"
            )
        try:
            spec = registry.spec(entry["retriever"])
        except EmbedlabError as exc:
            raise EmbedlabError(f"{where}.retriever: {exc}") from None
        if spec.kind == "hybrid":
            raise EmbedlabError(f"{where}.retriever: {spec.name} is a hybrid: rerank one of its members")


def compare(pairs: list[list[str]], evaluated: set[str]) -> None:
    """evaluation.compare: both sides of each pair evaluated."""
    for a, b in pairs:
        if a not in evaluated or b not in evaluated:
            raise EmbedlabError(
                f"config error at evaluation.compare: {a} vs {b}: both must be in evaluation.models"
            )


def mteb_models(chosen: list[str] | None, hybrids: list[str], exported: list[str]) -> None:
    """mteb.models: encoders only (MTEB encodes texts), no export-only fine-tune."""
    if chosen is None:
        return
    trained(chosen, exported, "mteb.models")
    named = [m for m in chosen if m in hybrids]
    if named:
        raise EmbedlabError(
            f"config error at mteb.models: {named[0]} is a hybrid; MTEB needs an encoder: list its members"
        )


def mteb_select(mteb: MtebSettings) -> None:
    """mteb.select needs something to select by."""
    if mteb.select and not any(getattr(mteb, k) for k in ("task_types", "categories", "languages")):
        raise EmbedlabError(
            "config error at mteb.select: set task_types, categories or languages to select by"
        )


def rerankers(entries: dict[str, Any], datasets: list[str], registry: Registry) -> None:
    """Trained rerankers (with datasets): configured datasets and a known retriever to mine negatives."""
    for name, entry in entries.items():
        for ds in entry["datasets"]:
            if ds not in datasets:
                raise EmbedlabError(
                    f"config error at rerankers.{name}.datasets: {ds!r} is not a configured corpus/language"
                )
        if entry["datasets"]:
            registry.spec(entry["retriever"])  # an unknown miner
