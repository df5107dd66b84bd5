from embedlab.logs import run_rule
from embedlab.queries import build_dataset

run_rule(
    snakemake,
    build_dataset,
    snakemake.input.chunks,
    list(snakemake.input.queries),
    snakemake.output.dataset,
    snakemake.output.provenance,
)
