from embedlab.data.llm.generation import generate_llm_queries
from embedlab.workflow.run_rule import run_rule

run_rule(
    snakemake,
    generate_llm_queries,
    snakemake.input[0],
    snakemake.output.queries,
    snakemake.output.report,
    snakemake.params.checkpoint,
    snakemake.params.settings,
    snakemake.params.seed,
)
