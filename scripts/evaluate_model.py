from embedlab.evaluation.per_model import evaluate_model
from embedlab.workflow.run_rule import run_rule

p = snakemake.params
run_rule(snakemake, evaluate_model, p.spec, p.runs, p.options, p.compression)
