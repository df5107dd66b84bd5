from embedlab.evaluation.mteb_card import model_card
from embedlab.workflow.run_rule import run_rule

run_rule(snakemake, model_card, list(snakemake.input), snakemake.output[0], snakemake.wildcards.model)
