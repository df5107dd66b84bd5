# Shared set-up: config validation (before any rule), wildcard constraints and target lists.
import os
import re
import sys
from pathlib import Path

# The library is importable from a plain checkout, in rule scripts, conda envs and cluster jobs alike.
_SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, _SRC)
# (set, not required: so no `envvars:` directive)
os.environ.update(PYTHONPATH=os.pathsep.join(p for p in (_SRC, os.environ.get("PYTHONPATH")) if p))

from embedlab import config as cfg
from embedlab.corpus import resolve_source
from embedlab.errors import EmbedlabError

try:
    cfg.validate_config(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml")
except EmbedlabError as _exc:
    raise WorkflowError(str(_exc)) from None

PAIRS = cfg.corpus_languages(config)
RESOURCES = config["resources_dir"]
_URL_FILES = {
    spec["file"]: spec["url"]
    for corpus, c in config["corpora"].items()
    for spec in c["languages"].values()
    if spec.get("url") and not config["corpus_root"]
}


wildcard_constraints:
    corpus="|".join(re.escape(c) for c in config["corpora"]),
    lang="[a-z]{2,3}",
    generator="ict|headings|llm",
    url_file="|".join(re.escape(f) for f in _URL_FILES) or "(?!)",


def source_path(wildcards):
    """The corpus file a chunk rule reads; a clear error if it is missing and nothing can fetch it."""
    spec = cfg.language_spec(config, wildcards.corpus, wildcards.lang)
    path = resolve_source(spec["file"], config["corpus_root"], RESOURCES)
    if not path.exists() and spec["file"] not in _URL_FILES:
        src = f" (download it from {spec['url']})" if spec.get("url") else " (see README: Getting the corpora)"
        where = "point corpus_root" if config["corpus_root"] else "set corpus_root"
        raise WorkflowError(
            f"corpus {wildcards.corpus}/{wildcards.lang}: missing {path}: put the file there{src}, "
            f"or {where} at a folder that holds {spec['file']}"
        )
    return str(path)


def res(rule, **base):
    """A rule's `resources:` (use as `**res("rule", mem_mb=..., runtime=...)`): its own numbers or functions
    of wildcards, scaled by the config's `resources` section and grown per retry (src/embedlab/resources.py)."""
    from embedlab.resources import rule_resources

    return rule_resources(config, rule, base)


def threads_of(rule, default):
    """A rule's `threads:`: config resources.rules.<rule>.threads, else `default`."""
    from embedlab.resources import threads

    return threads(config, rule, default)


def split_files(corpus, lang):
    return expand(
        "results/qa/{corpus}/{lang}/{name}.json", corpus=corpus, lang=lang, name=["train", "val", "split"]
    )


def all_targets():
    from embedlab import eval_plan, reporting

    return (
        [f for corpus, lang in PAIRS for f in split_files(corpus, lang)]
        + eval_plan.targets(config)
        + [f"results/models/{name}" for name in config.get("finetune") or {}]
        + reporting.targets(config)
    )
