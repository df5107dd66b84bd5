# Shared set-up: config validation (before any rule), wildcard constraints, the functions rules call, targets.
import os
import re
import sys
from pathlib import Path

# The library is importable from a plain checkout, in rule scripts, conda envs and cluster jobs alike.
_SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, _SRC)
# (set, not required: so no `envvars:` directive)
os.environ.update(PYTHONPATH=os.pathsep.join(p for p in (_SRC, os.environ.get("PYTHONPATH")) if p))

from embedlab.workflow import config as cfg
from embedlab.workflow import plan as eval_plan
from embedlab.workflow.resources import rule_resources, threads
from embedlab.report import plan as report_plan
from embedlab.data.corpus import plan_sources
from embedlab.errors import EmbedlabError

# A bad config or a missing corpus file stops the run here, before any job, with one line and no traceback.
try:
    cfg.validate_config(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml")
    SOURCES = plan_sources(config)
except EmbedlabError as _exc:
    sys.exit(str(_exc))

PAIRS = cfg.corpus_languages(config)
RESOURCES = config["resources_dir"]
# Files that are not here yet and have a URL: rule download fetches each once into resources_dir.
_URL_FILES = {str(s.path.relative_to(RESOURCES)): s.url for s in SOURCES.values() if s.url is not None}
# corpus -> language -> the file (or folder) that chunking reads, local or fetched by the download rule:
# the chunk rule's `lookup(dpath="{corpus}/{lang}", within=SOURCE_PATHS)`.
SOURCE_PATHS = {}
for (_corpus, _lang), _source in SOURCES.items():
    SOURCE_PATHS.setdefault(_corpus, {})[_lang] = str(_source.path)


wildcard_constraints:
    corpus="|".join(re.escape(c) for c in config["corpora"]),
    lang="[a-z]{2,3}",
    generator="ict|headings|llm",
    url_file="|".join(re.escape(f) for f in _URL_FILES) or "(?!)",


def res(rule, **base):
    """A rule's `resources:` (use as `**res("rule", mem_mb=..., runtime=...)`): its own numbers or functions
    of wildcards, scaled by the config's `resources` section and grown per retry (workflow/resources.py)."""
    return rule_resources(config, rule, base)


def threads_of(rule, default):
    """A rule's `threads:`: config resources.rules.<rule>.threads, else `default`."""
    return threads(config, rule, default)


# What every model rule (rules/evaluate.smk) reads for its {model} wildcard.
def model_spec(wildcards):
    """The registry entry, as the rule scripts read it."""
    return eval_plan.spec_of(config, wildcards.model).to_json()


def model_files(wildcards):
    """A fine-tuned model's folder (made by training); nothing for registry models."""
    return eval_plan.model_inputs(config, wildcards.model)


def model_gpus(wildcards):
    return eval_plan.gpus_for(config, wildcards.model)


def model_mem_mb(wildcards):
    return eval_plan.mem_mb_for(config, wildcards.model)


def split_files(corpus, lang):
    return expand(
        "results/qa/{corpus}/{lang}/{name}.json", corpus=corpus, lang=lang, name=["train", "val", "split"]
    )


def all_targets():
    return (
        [f for corpus, lang in PAIRS for f in split_files(corpus, lang)]
        + eval_plan.targets(config)
        + [f"results/models/{name}" for name in config["finetune"]]
        + report_plan.targets(config)
    )
