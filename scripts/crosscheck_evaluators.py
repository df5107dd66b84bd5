from embedlab.evaluation.crosscheck import crosscheck
from embedlab.workflow.run_rule import run_rule

p = snakemake.params
run_rule(
    snakemake,
    crosscheck,
    snakemake.input.val,
    snakemake.output.report,
    snakemake.output.st_csv,
    p.spec,
    evaluators=p.evaluators,
    options=p.options,
)
