from embedlab.logs import run_rule
from embedlab.reporting import make_plots

run_rule(
    snakemake,
    make_plots,
    snakemake.input.summary,
    snakemake.params.plots,
    model_dirs=list(snakemake.input.models),
    mteb=list(snakemake.input.mteb),
    models=snakemake.params.models,
    metric=snakemake.params.metric,
    dpi=snakemake.params.dpi,
)
