from embedlab.train.finetune import finetune
from embedlab.workflow.run_rule import run_rule

run_rule(
    snakemake,
    finetune,
    snakemake.wildcards.name,
    snakemake.output[0],
    snakemake.params.datasets,
    **snakemake.params.args,
    threads=snakemake.threads,
)
