from embedlab.report.summary import summarize
from embedlab.workflow.run_rule import run_rule

run_rule(
    snakemake,
    summarize,
    list(snakemake.input.evals),
    snakemake.output.csv,
    snakemake.output.md,
    provenance=list(snakemake.input.provenance),
    splits=list(snakemake.input.splits),
    model_dirs=list(snakemake.input.models),
    mteb=list(snakemake.input.mteb),
    compression=list(snakemake.input.compression),
    real=list(snakemake.input.real),
    mappings=list(snakemake.input.mappings),
    query_sets=list(snakemake.input.query_sets),
    out_deploy=snakemake.output.deploy,
    bases=snakemake.params.bases,
    models=snakemake.params.models,
    metric=snakemake.params.metric,
    paired_metric=snakemake.params.paired_metric,
    test_samples=snakemake.params.test_samples,
    max_ci_halfwidth=snakemake.params.max_ci_halfwidth,
    seed=snakemake.params.seed,
    min_real_questions=snakemake.params.min_real_questions,
    notes=snakemake.params.notes,
)
