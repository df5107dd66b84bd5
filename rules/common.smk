# Shared set-up: the plan (the config validated, checked and planned once, before any rule), wildcard
# constraints, the functions rules call. Every path comes from embedlab.workflow.layout; every setting,
# model spec and target from PLAN (embedlab.workflow.plan): no rule reads `config` or imports a stage.
import os
import re
import sys
from pathlib import Path

# The library is importable from a plain checkout, in rule scripts, conda envs and cluster jobs alike.
_SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, _SRC)
# (set, not required: so no `envvars:` directive)
os.environ.update(PYTHONPATH=os.pathsep.join(p for p in (_SRC, os.environ.get("PYTHONPATH")) if p))

from embedlab.errors import EmbedlabError
from embedlab.workflow import layout
from embedlab.workflow.plan import Plan
from embedlab.workflow.resources import asks_for_gpus, rule_resources, threads

# The config parsed once into the plan every rule reads it through. A bad config or a missing corpus file
# stops the run here, before any job, with one line and no traceback.
try:
    PLAN = Plan.of(config, workflow.basedir)
except EmbedlabError as _exc:
    sys.exit(str(_exc))

# What the config needs that this machine lacks (keys, network, GPU), one line each, before any job.
if workflow.is_main_process:
    for _line in PLAN.needs():
        print(f"embedlab: {_line}", file=sys.stderr)

EMB_CACHE = PLAN.settings.evaluation.cache_dir
# The options every evaluator shares, passed whole (one params line per rule).
EVAL_OPTIONS = PLAN.eval_options
RESOURCES = PLAN.settings.resources_dir


def one_of(names):
    """A wildcard constraint matching exactly these names (nothing when there are none)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


wildcard_constraints:
    corpus=one_of(PLAN.corpora),
    lang="[a-z]{2,3}",
    generator="ict|headings|llm",
    url_file=one_of(PLAN.url_files),


def gpu_jobs():
    """Whether GPU-capable rules ask for the `gpu` resource: not on a machine without GPUs (resources.gpu_jobs).
    Asked per job: only then does the workflow know its executor. A job running inside a cluster job (remote
    mode) counts as cluster execution too: its jobstep's srun asks for the GPUs its submission did."""
    return asks_for_gpus(PLAN.settings.resources.gpu_jobs, workflow.local_exec and not workflow.remote_exec)


def res(rule, **base):
    """A rule's `resources:` (use as `**res("rule", mem_mb=..., runtime=...)`): its own numbers or functions
    of wildcards, scaled by the config's `resources` section and grown per retry (workflow/resources.py)."""
    return rule_resources(PLAN.settings.resources, rule, base, gpu_jobs)


def threads_of(rule, default):
    """A rule's `threads:`: config resources.rules.<rule>.threads, else `default`."""
    return threads(PLAN.settings.resources, rule, default)


# What every model rule (rules/evaluate.smk) reads for its {model} wildcard.
def model_spec(wildcards):
    """The registry entry (a ModelSpec), as the library takes it."""
    return PLAN.registry.spec(wildcards.model)


def model_files(wildcards):
    """A fine-tuned model's folder (made by training); nothing for registry models."""
    return PLAN.model_inputs(wildcards.model)


def pipeline_files(wildcards):
    """A rerank pipeline's retriever files and its reranker's folder when it is trained here."""
    pipeline = PLAN.pipelines[wildcards.model]
    trained = pipeline.reranker in PLAN.trained_rerankers
    return {
        "model": PLAN.model_inputs(pipeline.retriever),
        "reranker": [layout.reranker_dir(pipeline.reranker)] if trained else [],
    }


def encoded_first(real=False):
    """Order-only inputs of a job that reads a model's vectors again (PLAN.encoded_first): the jobs that encode
    them run first. ancient(): the job does not read these files, so their being rewritten does not rerun it.
    """
    return lambda wc: ancient(PLAN.encoded_first(wc.model, wc.corpus, wc.lang, real=real))


def model_gpus(wildcards):
    return PLAN.gpus_for(wildcards.model)


def model_mem_mb(wildcards):
    return PLAN.mem_mb_for(wildcards.model)
