from embedlab.data.queries import generate_queries
from embedlab.workflow.run_rule import run_rule

run_rule(
    snakemake,
    generate_queries,
    snakemake.input[0],
    snakemake.output[0],
    snakemake.wildcards.generator,
    snakemake.params.settings,
    snakemake.params.seed,
)
