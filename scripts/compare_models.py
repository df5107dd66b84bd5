from embedlab.evaluation.results import compare
from embedlab.workflow.run_rule import run_rule

p, w = snakemake.params, snakemake.wildcards
run_rule(
    snakemake,
    compare,
    snakemake.input.a,
    snakemake.input.b,
    snakemake.output[0],
    model_a=w.a,
    model_b=w.b,
    metric=p.metric,
    samples=p.samples,
    seed=p.seed,
    corpus=w.corpus,
    lang=w.lang,
)
