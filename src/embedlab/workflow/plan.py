"""What the evaluation rules produce for a config: models, cross-lingual pairs, comparisons, MTEB tasks.

Kept out of the .smk file so it is testable and the rules stay declarative.
"""

from __future__ import annotations

from itertools import permutations
from typing import Any

from embedlab.errors import EmbedlabError
from embedlab.evaluation.mteb_tasks import custom_task_name
from embedlab.models.encoders import needs_gpu
from embedlab.models.spec import ModelSpec, model_spec
from embedlab.workflow.config import corpus_languages
from embedlab.workflow.settings import EvaluationSettings, Settings


def evaluation_settings(config: dict[str, Any]) -> EvaluationSettings:
    return Settings.of(config).evaluation


def exported_only(config: dict[str, Any]) -> list[str]:
    """Fine-tunes that only export data (backend autotrain with `autotrain.run: false`): no model to score."""
    return [
        name
        for name, ft in config["finetune"].items()
        if ft["backend"] == "autotrain" and not ft["autotrain"]["run"]
    ]


def _check_trained(config: dict[str, Any], names: list[str], key: str) -> None:
    for name in names:
        if name in exported_only(config):
            raise EmbedlabError(
                f"config error at {key}: fine-tune {name} only exports AutoTrain data (autotrain.run: "
                f"false), so there is no model to evaluate: set finetune.{name}.autotrain.run: true or drop "
                f"it from {key}"
            )


def eval_models(config: dict[str, Any]) -> list[str]:
    """evaluation.models, or every `models` entry followed by every trained `finetune` entry."""
    chosen = evaluation_settings(config).models
    if chosen is None:
        skip = exported_only(config)
        chosen = [*config["models"], *(n for n in config["finetune"] if n not in skip)]
    _check_trained(config, chosen, "evaluation.models")
    for name in chosen:
        model_spec(config, name)  # unknown names fail here, at parse time, with the list of known ones
    return list(dict.fromkeys(chosen))


def spec_of(config: dict[str, Any], name: str) -> ModelSpec:
    return model_spec(config, name)


def gpus_for(config: dict[str, Any], name: str) -> int:
    return int(needs_gpu(model_spec(config, name)))


def mem_mb_for(config: dict[str, Any], name: str) -> int:
    return 12000 if gpus_for(config, name) else 4000


def mteb_val_input(config: dict[str, Any], task: str) -> list[str]:
    """The val split a custom MTEB task is built from (none for standard tasks)."""
    custom = mteb_custom_tasks(config)
    if task not in custom:
        return []
    corpus, lang = custom[task]
    return [f"results/qa/{corpus}/{lang}/val.json"]


def model_inputs(config: dict[str, Any], name: str) -> list[str]:
    """Files a model needs before it can be evaluated: a fine-tuned model's folder (made by training)."""
    return [f"results/models/{name}"] if name in config["finetune"] else []


def crosslingual_pairs(config: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(corpus, src, tgt): `auto` = every ordered pair of a corpus's languages; or a mapping listing them."""
    setting = evaluation_settings(config).crosslingual
    langs: dict[str, list[str]] = {}
    for corpus, lang in corpus_languages(config):
        langs.setdefault(corpus, []).append(lang)
    if not setting:
        return []
    if setting == "auto":
        return [(c, a, b) for c, ls in langs.items() for a, b in permutations(ls, 2)]
    out = []
    for corpus, pairs in setting.items():
        for src, tgt in pairs:
            if corpus not in langs or src not in langs[corpus] or tgt not in langs[corpus]:
                raise EmbedlabError(
                    f"config error at evaluation.crosslingual.{corpus}: {src}-{tgt} needs both languages in "
                    f"corpora.{corpus}.languages (has: {', '.join(langs.get(corpus, [])) or 'none'})"
                )
            out.append((corpus, src, tgt))
    return out


def compare_pairs(config: dict[str, Any]) -> list[tuple[str, str]]:
    """(a, b) pairs for the paired test: evaluation.compare plus each evaluated fine-tune vs its base."""
    models = eval_models(config)
    ev = evaluation_settings(config)
    pairs = [tuple(p) for p in ev.compare]
    if ev.compare_finetunes:
        for name, ft in config["finetune"].items():
            if name in models and ft["base"] in models:
                pairs.append((ft["base"], name))
    for a, b in pairs:
        if a not in models or b not in models:
            raise EmbedlabError(
                f"config error at evaluation.compare: {a} vs {b}: both must be in evaluation.models"
            )
    return list(dict.fromkeys(pairs))


def mteb_models(config: dict[str, Any]) -> list[str]:
    chosen = Settings.of(config).mteb.models
    if chosen is None:
        return eval_models(config)
    _check_trained(config, chosen, "mteb.models")
    return list(dict.fromkeys(chosen))


def mteb_custom_tasks(config: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Custom task name -> (corpus, lang), one per val split, when mteb.custom_tasks is on."""
    if not Settings.of(config).mteb.custom_tasks:
        return {}
    return {custom_task_name(c, lang): (c, lang) for c, lang in corpus_languages(config)}


def mteb_tasks(config: dict[str, Any]) -> list[str]:
    """Custom val-split tasks, the named standard tasks, and with `mteb.select` every registry task matching
    task_types / categories / languages (the tutorial's `MTEB(task_types=[...])` selection)."""
    mt = Settings.of(config).mteb
    names = [*mteb_custom_tasks(config), *mt.tasks]
    if mt.select:
        import mteb

        filters = {k: getattr(mt, k) for k in ("task_types", "categories", "languages") if getattr(mt, k)}
        if not filters:
            raise EmbedlabError(
                "config error at mteb.select: set task_types, categories or languages to select by"
            )
        names += [t.metadata.name for t in mteb.get_tasks(**filters)]
    return list(dict.fromkeys(names))


def targets(config: dict[str, Any]) -> list[str]:
    """Every evaluation output the default target asks for."""
    ev = evaluation_settings(config)
    out: list[str] = []
    if ev.enabled:
        models = eval_models(config)
        pairs = corpus_languages(config)
        for m in models:
            for c, lang in pairs:
                out += [f"results/eval/{m}/{c}/{lang}.csv", f"results/eval/{m}/{c}/{lang}.queries.csv"]
                if ev.cross_check and model_spec(config, m).kind != "bm25":  # the tutorial's need vectors
                    out.append(f"results/eval/{m}/{c}/{lang}.crosscheck.json")
            for c, a, b in crosslingual_pairs(config):
                out.append(f"results/eval/{m}/{c}/{a}-{b}.csv")
        for a, b in compare_pairs(config):
            for c, lang in pairs:
                out.append(f"results/eval/compare/{a}__vs__{b}/{c}/{lang}.json")
    if Settings.of(config).mteb.enabled:
        for m in mteb_models(config):
            out += [f"results/mteb/{m}/{t}.json" for t in mteb_tasks(config)]
            out.append(f"results/mteb/{m}/README.md")
            if m in config["finetune"]:  # fine-tuned: its model dir with the MTEB card merged
                out.append(f"results/published/{m}")
    return out
