# Shared set-up: config validation (before any rule), wildcard constraints, the functions rules call, targets.
# Every path comes from embedlab.workflow.layout, every target from embedlab.workflow.plan.
import os
import re
import sys
from pathlib import Path

# The library is importable from a plain checkout, in rule scripts, conda envs and cluster jobs alike.
_SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, _SRC)
# (set, not required: so no `envvars:` directive)
os.environ.update(PYTHONPATH=os.pathsep.join(p for p in (_SRC, os.environ.get("PYTHONPATH")) if p))

from embedlab.data.corpus import plan_sources
from embedlab.data.llm.roundtrip import llm_settings
from embedlab.errors import EmbedlabError
from embedlab.train.finetune import validate_finetune
from embedlab.word2vec.settings import run_settings as w2v_run_settings
from embedlab.word2vec.settings import runs as word2vec_runs
from embedlab.workflow import config as cfg
from embedlab.workflow import layout
from embedlab.workflow import plan
from embedlab.workflow.resources import rule_resources, threads
from embedlab.workflow.settings import Settings

# A bad config or a missing corpus file stops the run here, before any job, with one line and no traceback.
try:
    cfg.validate_config(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml")
    SOURCES = plan_sources(config)
    QUESTION_FILES = {
        (c, lang): plan.questions_file(config, c, lang, workflow.basedir)
        for c, lang in plan.real_question_sets(config)
    }
    validate_finetune(config)
    W2V_RUNS = word2vec_runs(config)
    LLM_SETTINGS = llm_settings(config)  # resolves the round-trip retriever in `models`
    TARGETS = plan.targets(config, W2V_RUNS)
    RERANKERS = plan.trained_rerankers(config)
    PIPELINES = {p.name: p for p in plan.rerank_pipelines(config)}
    REPORT_PLAN = plan.report_plan(config)
except EmbedlabError as _exc:
    sys.exit(str(_exc))

SETTINGS = Settings.of(config)
EMB_CACHE = SETTINGS.evaluation.cache_dir
RESOURCES = config["resources_dir"]
# Files that are not here yet and have a URL: rule download_source fetches each once into resources_dir.
_URL_FILES = {str(s.path.relative_to(RESOURCES)): s.url for s in SOURCES.values() if s.url is not None}
# corpus -> language -> the file (or folder) that chunking reads, local or fetched by download_source:
# the chunk_corpus rule's `lookup(dpath="{corpus}/{lang}", within=SOURCE_PATHS)`.
SOURCE_PATHS = {}
for (_corpus, _lang), _source in SOURCES.items():
    SOURCE_PATHS.setdefault(_corpus, {})[_lang] = str(_source.path)


def one_of(names):
    """A wildcard constraint matching exactly these names (nothing when there are none)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


wildcard_constraints:
    corpus=one_of(config["corpora"]),
    lang="[a-z]{2,3}",
    generator="ict|headings|llm",
    url_file=one_of(_URL_FILES),


def res(rule, **base):
    """A rule's `resources:` (use as `**res("rule", mem_mb=..., runtime=...)`): its own numbers or functions
    of wildcards, scaled by the config's `resources` section and grown per retry (workflow/resources.py)."""
    return rule_resources(config, rule, base)


def threads_of(rule, default):
    """A rule's `threads:`: config resources.rules.<rule>.threads, else `default`."""
    return threads(config, rule, default)


# What every model rule (rules/evaluate.smk) reads for its {model} wildcard.
def model_spec(wildcards):
    """The registry entry (a ModelSpec), as the library takes it."""
    return plan.spec_of(config, wildcards.model)


def model_files(wildcards):
    """A fine-tuned model's folder (made by training); nothing for registry models."""
    return plan.model_inputs(config, wildcards.model)


def model_gpus(wildcards):
    return plan.gpus_for(config, wildcards.model)


def model_mem_mb(wildcards):
    return plan.mem_mb_for(config, wildcards.model)
