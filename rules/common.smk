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

from embedlab.workflow import config as cfg
from embedlab.data.corpus import locate_corpus_root, plan_sources
from embedlab.errors import EmbedlabError

# A bad config or a missing corpus file stops the run here, before any job, with one line and no traceback.
try:
    if isinstance(config.get("corpus_root"), str):
        config["corpus_root"] = locate_corpus_root(config["corpus_root"], workflow.basedir)
    cfg.validate_config(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml")
    SOURCES = plan_sources(config)
except EmbedlabError as _exc:
    sys.exit(str(_exc))

PAIRS = cfg.corpus_languages(config)
RESOURCES = config["resources_dir"]
# Files that are not here yet and have a URL: rule download fetches each once into resources_dir.
_URL_FILES = {
    str(s.path.relative_to(RESOURCES)): s.url for s in SOURCES.values() if s.url is not None
}


wildcard_constraints:
    corpus="|".join(re.escape(c) for c in config["corpora"]),
    lang="[a-z]{2,3}",
    generator="ict|headings|llm",
    url_file="|".join(re.escape(f) for f in _URL_FILES) or "(?!)",


def source_path(wildcards):
    """The corpus file (or folder) that chunking reads, local or fetched by the download rule."""
    return str(SOURCES[(wildcards.corpus, wildcards.lang)].path)


def res(rule, **base):
    """A rule's `resources:` (use as `**res("rule", mem_mb=..., runtime=...)`): its own numbers or functions
    of wildcards, scaled by the config's `resources` section and grown per retry (src/embedlab/workflow/resources.py)."""
    from embedlab.workflow.resources import rule_resources

    return rule_resources(config, rule, base)


def threads_of(rule, default):
    """A rule's `threads:`: config resources.rules.<rule>.threads, else `default`."""
    from embedlab.workflow.resources import threads

    return threads(config, rule, default)


def split_files(corpus, lang):
    return expand(
        "results/qa/{corpus}/{lang}/{name}.json", corpus=corpus, lang=lang, name=["train", "val", "split"]
    )


def all_targets():
    from embedlab.workflow import plan as eval_plan
    from embedlab.report import summary as reporting

    return (
        [f for corpus, lang in PAIRS for f in split_files(corpus, lang)]
        + eval_plan.targets(config)
        + [f"results/models/{name}" for name in config.get("finetune") or {}]
        + reporting.targets(config)
    )
