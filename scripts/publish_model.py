from embedlab.logs import run_rule
from embedlab.model_card import publish_model

run_rule(snakemake, publish_model, snakemake.input.model, snakemake.input.card, snakemake.output[0])
