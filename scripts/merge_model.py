from embedlab.workflow.merging import merge_model
from embedlab.workflow.run_rule import run_rule

run_rule(snakemake, merge_model, snakemake.params.job, snakemake.output[0], snakemake.params.options)
