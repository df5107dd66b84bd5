from embedlab.data.queries import build_dataset
from embedlab.workflow.run_rule import run_rule

run_rule(
    snakemake,
    build_dataset,
    snakemake.input.chunks,
    list(snakemake.input.queries),
    snakemake.output.dataset,
    snakemake.output.provenance,
)
