from embedlab.train.card import publish_model
from embedlab.workflow.run_rule import run_rule

run_rule(snakemake, publish_model, snakemake.input.model, snakemake.input.card, snakemake.output[0])
