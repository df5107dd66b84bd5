from embedlab.models.onnx import export_finetuned
from embedlab.workflow.run_rule import run_rule

p = snakemake.params
run_rule(
    snakemake,
    export_finetuned,
    snakemake.input.model,
    snakemake.output[0],
    list(snakemake.input.val),
    p.settings,
    seed=p.seed,
    batch_size=p.batch_size,
)
