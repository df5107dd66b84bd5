# embedlab: documents -> chunks -> synthetic queries -> fine-tuned embedding models -> evaluation -> report.
# Usage: snakemake --cores 8 --resources gpu=1   (see README.md)
from snakemake.utils import min_version

min_version("9.0")


# `--configfile other.yaml` replaces the default run instead of being merged into it.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/corpus.smk"
include: "rules/queries.smk"
include: "rules/word2vec.smk"
include: "rules/evaluate.smk"
include: "rules/finetune.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        PLAN.targets,
