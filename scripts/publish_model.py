from embedlab.train.card import publish_model
from embedlab.workflow.run_rule import run_rule

inp = snakemake.input
val = list(zip(inp.val_base, inp.val_model, strict=True))
real = list(zip(inp.real_base, inp.real_model, strict=True))
run_rule(
    snakemake,
    publish_model,
    inp.model,
    inp.card,
    snakemake.output[0],
    val=val,
    real=real,
    release=inp.release,
)
