from embedlab.evaluation.diagnostics import diagnose_queries
from embedlab.workflow.run_rule import run_rule

run_rule(
    snakemake,
    diagnose_queries,
    snakemake.input.chunks,
    snakemake.input.val,
    snakemake.input.provenance,
    snakemake.output.sets,
    snakemake.output.queries,
    real_path=snakemake.input.get("real"),
    bm25=snakemake.params.bm25,
)
