from embedlab.evaluation.compression import evaluate_variants
from embedlab.workflow.run_rule import run_rule

p = snakemake.params
run_rule(
    snakemake,
    evaluate_variants,
    snakemake.input.val,
    snakemake.input.chunks,
    snakemake.output.summary,
    snakemake.output.queries,
    spec=p.spec,
    dims=p.settings.dims,
    precisions=p.settings.precisions,
    rescore_multiplier=p.settings.rescore_multiplier,
    corpus=snakemake.wildcards.corpus,
    lang=snakemake.wildcards.lang,
    options=p.options,
)
