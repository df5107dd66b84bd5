from embedlab.train.finetune import finetune
from embedlab.workflow.run_rule import run_rule

inp, p = snakemake.input, snakemake.params
run_rule(
    snakemake,
    finetune,
    snakemake.wildcards.name,
    snakemake.output[0],
    [
        dict(name=n, train=t, val=v, chunks=c)
        for n, t, v, c in zip(p.datasets, inp.train, inp.val, inp.chunks, strict=True)
    ],
    threads=snakemake.threads,
    **p.ft,
)
