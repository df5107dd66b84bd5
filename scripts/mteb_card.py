from embedlab.logs import run_rule
from embedlab.mteb_eval import model_card

run_rule(snakemake, model_card, list(snakemake.input), snakemake.output[0], snakemake.wildcards.model)
