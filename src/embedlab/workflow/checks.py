"""Config checks the schema cannot express (names that must exist, sets that must match), one line each.

`Plan.of` runs every one of them once, after `validate_config` and before anything is planned, so a mistake
stops the run before any job with "config error at <key>: <what is wrong>". Each check takes the sections
and names it compares, never the whole config: what is planned from a config lives in `workflow.plan`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from embedlab.errors import EmbedlabError
from embedlab.evaluation.metrics import metric_names
from embedlab.models.spec import registry_spec
from embedlab.settings import MtebSettings
from embedlab.train.distributed import backend_problem
from embedlab.train.lora import lora_problem
from embedlab.train.negatives import miner_name
from embedlab.train.teachers import helper_models, loss_problem
from embedlab.workflow.registry import Registry


def finetunes(entries: dict[str, Any], models: dict[str, Any], datasets: list[str]) -> None:
    """Known datasets and base models, no cycle of fine-tunes, a sentence-transformers base, data-parallel
    only where the backend can, loss settings that fit together (train.teachers.loss_problem), a known
    sentence-transformers guide or teacher (distinct Matryoshka dimensions: the schema's uniqueItems)."""
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
        _sentence_transformer(models, base, f"{where}.base", "fine-tuning needs")
        problem = backend_problem(entry)
        if problem:
            raise EmbedlabError(f"{where}.gpus: {problem}")
        problem = loss_problem(entry)
        if problem:
            raise EmbedlabError(f"{where}: {problem}")
        problem = lora_problem(entry)
        if problem:
            raise EmbedlabError(f"{where}.lora: {problem}")
        for role, model in helper_models(entry).items():
            _helper(entries, models, name, role, model)


def _helper(entries: dict[str, Any], models: dict[str, Any], name: str, role: str, model: str) -> None:
    """A guide or teacher is a sentence-transformers model, or a fine-tune that does not need `name` first."""
    where = f"config error at finetune.{name}.{role}"
    if model in entries:
        if name in _needs(entries, model):
            raise EmbedlabError(
                f"{where}: fine-tune {model!r} needs {name} first (a cycle): pick another model"
            )
        return
    _sentence_transformer(models, model, where, f"the {role} must be")


def _sentence_transformer(models: dict[str, Any], model: str, where: str, needs: str) -> None:
    """`model` is a `models` entry of kind sentence-transformers, or a one-line error at `where`."""
    try:
        spec = registry_spec(models, model)
    except EmbedlabError as exc:
        raise EmbedlabError(f"{where}: {exc}") from None
    if spec.kind != "sentence-transformers":
        raise EmbedlabError(
            f"{where}: model {model!r} is of kind {spec.kind!r}; {needs} a sentence-transformers model"
        )


def _needs(entries: dict[str, Any], start: str) -> set[str]:
    """`start` and every fine-tune it needs trained first (its base, guide, teacher and hard-negative
    miner), transitively."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in entries and name not in seen:
            seen.add(name)
            todo += [entries[name]["base"], *helper_models(entries[name]).values()]
            todo += [m for m in [miner_name(entries[name])] if m]
    return seen


def hard_negatives(entries: dict[str, Any], models: dict[str, Any], rerankers: dict[str, Any]) -> None:
    """Where hard negatives are mined: a window that holds `num` candidates, a miner that is a
    sentence-transformers model or another fine-tune (never the entry itself nor one that needs it), an
    oracle that is a `rerankers` entry whose own training does not need the entry."""
    for name, entry in entries.items():
        hn, miner = entry["hard_negatives"], miner_name(entry)
        if miner is None:
            continue
        where = f"config error at finetune.{name}.hard_negatives"
        if hn["range_max"] - hn["range_min"] < hn["num"]:
            raise EmbedlabError(
                f"{where}: range_max {hn['range_max']} - range_min {hn['range_min']} leaves fewer than num "
                f"{hn['num']} candidates: raise range_max"
            )
        if miner == name:
            raise EmbedlabError(
                f"{where}.miner: {name!r} is this entry itself: mine with base or an earlier fine-tune"
            )
        _helper(entries, models, name, "hard_negatives.miner", miner)
        oracle = hn["oracle"]
        if oracle is None:
            continue
        if oracle not in rerankers:
            raise EmbedlabError(
                f"{where}.oracle: {oracle!r} is not in rerankers (known: {', '.join(rerankers) or 'none'})"
            )
        retriever = rerankers[oracle]["retriever"]
        if rerankers[oracle]["datasets"] and name in _needs(entries, retriever):
            raise EmbedlabError(
                f"{where}.oracle: reranker {oracle!r} is trained on negatives mined by {retriever!r}, which "
                f"needs {name} first (a cycle): pick another oracle or retriever"
            )


def finetune_variants(entries: dict[str, Any], datasets: list[str], ks: Sequence[int]) -> None:
    """seeds, merge and guard of each entry: seed or seeds, guard datasets configured and not trained on, a
    guard metric the evaluation computes, a dev slice to choose a merge on, a trained model to merge."""
    known_metrics = metric_names(ks)
    for name, entry in entries.items():
        where = f"config error at finetune.{name}"
        if entry["seeds"] is not None and entry["seed"] is not None:
            raise EmbedlabError(
                f"{where}: set seed or seeds, not both ({name} trains with the first of seeds)"
            )
        guard = entry["guard"]
        for ds in guard["datasets"]:
            if ds in entry["datasets"]:
                raise EmbedlabError(
                    f"{where}.guard.datasets: {ds} is also a training dataset; a guard measures forgetting "
                    "on data the model does not train on: drop it from one of the two lists"
                )
            if ds not in datasets:
                raise EmbedlabError(
                    f"{where}.guard.datasets: {ds!r} is not a configured corpus/language "
                    f"(known: {', '.join(sorted(datasets))}): add it under corpora or drop it"
                )
        if guard["metric"] not in known_metrics:
            raise EmbedlabError(
                f"{where}.guard.metric: {guard['metric']!r} is not an evaluation metric "
                f"(known: {', '.join(known_metrics)})"
            )
        merge = entry["merge"]
        if merge["choose"] and entry["dev_fraction"] == 0:
            raise EmbedlabError(
                f"{where}.merge.choose: the weight is chosen on the dev slice: set dev_fraction above 0"
            )
        exported = entry["backend"] == "autotrain" and not entry["autotrain"]["run"]
        if exported and (merge["weights"] or merge["choose"]):
            raise EmbedlabError(
                f"{where}.merge: an AutoTrain export (autotrain.run: false) has no model to merge: set "
                "autotrain.run: true or drop merge"
            )


def generated(names: list[tuple[str, str]], models: dict[str, Any], finetunes: dict[str, Any]) -> None:
    """Each model a fine-tune generates (seed replica, merge; `(name, setting)`) has a name of its own."""
    seen: dict[str, str] = {}
    for name, key in names:
        taken = (
            "a models entry"
            if name in models
            else "a finetune entry"
            if name in finetunes
            else seen.get(name)
        )
        if taken:
            raise EmbedlabError(
                f"config error at {key}: it makes model {name}, a name already taken by {taken}: rename one"
            )
        seen[name] = key


def dedup_spec(dedup: dict[str, Any], finetunes: dict[str, Any], models: dict[str, Any]) -> Any:
    """generators.llm.semantic_dedup's model as a spec: its `model`, else the first fine-tune's base; a
    `models` entry (a fine-tune is trained on these very questions)."""
    where = "config error at generators.llm.semantic_dedup.model"
    name = dedup["model"] or next((entry["base"] for entry in finetunes.values()), None)
    if name is None:
        raise EmbedlabError(f"{where}: name a `models` entry (no `finetune` entry to take the base from)")
    if name not in models:
        raise EmbedlabError(
            f"{where}: {name!r} is not a `models` entry (fine-tunes are trained on these questions): use "
            f"one of {', '.join(sorted(models))}"
        )
    return registry_spec(models, name)


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
