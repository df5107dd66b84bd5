from embedlab.logs import run_rule
from embedlab.split import split_dataset

run_rule(
    snakemake,
    split_dataset,
    snakemake.input.chunks,
    snakemake.input.dataset,
    snakemake.input.provenance,
    snakemake.output.train,
    snakemake.output.val,
    snakemake.output.report,
    snakemake.params.val_fraction,
    snakemake.params.seed,
)
