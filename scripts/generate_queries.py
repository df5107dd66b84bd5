from embedlab.logs import run_rule
from embedlab.queries import generate_queries

run_rule(
    snakemake,
    generate_queries,
    snakemake.input[0],
    snakemake.output[0],
    snakemake.wildcards.generator,
    snakemake.params.settings,
    snakemake.params.seed,
)
