from embedlab.report.figures import make_plots
from embedlab.workflow.run_rule import run_rule

run_rule(
    snakemake,
    make_plots,
    snakemake.input.summary,
    snakemake.params.plots,
    model_dirs=list(snakemake.input.models),
    mteb=list(snakemake.input.mteb),
    deploy_csv=snakemake.input.deploy,
    models=snakemake.params.models,
    metric=snakemake.params.metric,
    dpi=snakemake.params.dpi,
)
