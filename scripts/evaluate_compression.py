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
    sweep=p.settings,
    corpus=snakemake.wildcards.corpus,
    lang=snakemake.wildcards.lang,
    options=p.options,
)
